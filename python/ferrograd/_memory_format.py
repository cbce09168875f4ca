"""Memory formats: ``contiguous_format``, ``channels_last``, ``channels_last_3d`` and
``preserve_format``, and the ``memory_format=`` arguments of ``contiguous``, ``is_contiguous``,
``clone``, ``to``, the ``*_like`` factories, ``empty`` and ``Module.to``.

A memory format names an order of a tensor's elements in memory: ``channels_last`` keeps a 4-d
(N, C, H, W) tensor's channels innermost, its strides those of an (N, H, W, C) array. Tensors get
PyTorch's strides to the element (``stride()``, ``is_contiguous(memory_format=...)``), and the
``preserve_format`` default of ``clone``, ``to`` and the ``*_like`` factories keeps a dense
tensor's strides as they are, as PyTorch's do. The rules below are PyTorch's (c10's
``compute_channels_last_contiguous_2d``, ``compute_non_overlapping_and_dense``,
``infer_dense_strides`` and ``empty_like``; the core's ``shape::preserved_strides`` is the same
rule for the ``*_like`` factories), size-0 and size-1 dimensions included.

What differs: ferrograd's kernels compute in the (N, C, ...) order, and an op's output is laid out
contiguously whatever its inputs' format (PyTorch's elementwise ops and convolutions hand a
channels_last input's format on). The values are the same; ``model.to(memory_format=
fg.channels_last)`` makes no model faster here, as it can in PyTorch, and costs a reordering copy
of each channels_last input a convolution reads. docs/tensors-and-autograd.md says so.
"""

from __future__ import annotations

from . import _core
from ._type_info import _Named

Tensor = _core.Tensor


class memory_format(_Named):
    """The order of a tensor's elements in memory (PyTorch's ``torch.memory_format``)."""

    __slots__ = ()


contiguous_format = memory_format("contiguous_format")
channels_last = memory_format("channels_last")
channels_last_3d = memory_format("channels_last_3d")
preserve_format = memory_format("preserve_format")

# Dimensions from innermost to outermost, and the rank each format needs.
_INNER_FIRST = {channels_last: (4, (1, 3, 2, 0)), channels_last_3d: (5, (1, 4, 3, 2, 0))}


def _check(fmt, fn: str) -> None:
    if not isinstance(fmt, memory_format):
        raise TypeError(f"{fn}(): argument 'memory_format' must be ferrograd.memory_format, not {type(fmt).__name__}")


def _rank_error(fmt: memory_format) -> RuntimeError:
    rank = _INNER_FIRST[fmt][0]
    return RuntimeError(f"required rank {rank} tensor to use {fmt._name} format")


def format_strides(shape, fmt: memory_format) -> tuple[int, ...]:
    """The strides of a fresh tensor of ``shape`` in ``fmt`` (contiguous or a channels-last one)."""
    shape = tuple(shape)
    if fmt is contiguous_format:
        strides, step = [0] * len(shape), 1
        for d in reversed(range(len(shape))):
            strides[d] = step
            step *= max(shape[d], 1)
        return tuple(strides)
    if fmt not in _INNER_FIRST:
        raise RuntimeError(f"unsupported memory format {fmt!r}")
    rank, order = _INNER_FIRST[fmt]
    if len(shape) != rank:
        raise _rank_error(fmt)
    # PyTorch multiplies by the sizes as they are: a size-0 dim gives zero strides outside it.
    strides, step = [0] * rank, 1
    for d in order:
        strides[d] = step
        step *= shape[d]
    return tuple(strides)


def is_contiguous_as(t: Tensor, fmt: memory_format) -> bool:
    """``t.is_contiguous(memory_format=fmt)``: size-1 dimensions may have any stride."""
    _check(fmt, "is_contiguous")
    if fmt is contiguous_format or fmt is preserve_format:
        return _is_contiguous(t)
    rank, order = _INNER_FIRST[fmt]
    if t.dim() != rank:
        return False
    shape, strides, expected = t.shape, t.stride(), 1
    for d in order:
        if shape[d] != 1:
            if strides[d] != expected:
                return False
            expected *= shape[d]
    return True


def sorted_inner_first(n: int, swap) -> list[int]:
    """Dims 0..n-1 from innermost to outermost by PyTorch's stable insertion sort, starting
    from the contiguous order: `swap(a, b)` > 0 moves a outward past b, < 0 stops, 0 passes
    (`Tensor.dim_order`; the preserving layout's sort is the core's, `shape::preserved_strides`)."""
    perm = list(range(n - 1, -1, -1))
    for i in range(1, n):
        j = i
        for k in range(i - 1, -1, -1):
            c = swap(perm[k], perm[j])
            if c > 0:
                perm[k], perm[j] = perm[j], perm[k]
                j = k
            elif c < 0:
                break
    return perm


_is_contiguous = Tensor.is_contiguous  # the core's (the Tensor method takes memory_format)


def like_strides(t: Tensor, fmt: memory_format, fn: str = "empty_like") -> tuple[int, ...]:
    """The strides of a new tensor made like ``t`` in ``fmt`` (PyTorch's ``empty_like`` rule):
    ``preserve_format`` keeps a dense tensor's own strides, and gives any other tensor dense
    strides in the order of its own (the core's ``shape::preserved_strides``)."""
    _check(fmt, fn)
    if fmt is preserve_format:
        return tuple(_core._preserved_strides(t.shape, t.stride()))
    return format_strides(t.shape, fmt)


def preserving(t: Tensor, make) -> Tensor:
    """``make(t)`` laid out as PyTorch's ``preserve_format`` lays out a copy of ``t``, for a
    ``make`` that copies (clone, a cast) into a contiguous result: made from ``t`` permuted into
    the target's memory order and permuted back, so the one pass that copies also lays out."""
    target = like_strides(t, preserve_format)
    order = sorted(range(len(target)), key=lambda d: -target[d])  # outermost first (stable)
    back = [0] * len(order)
    for i, d in enumerate(order):
        back[d] = i
    out = make(t.permute(order)).permute(back)
    # Size-0 and size-1 dims may come back with other strides: one more copy for those.
    return out if out.stride() == target else restrided(out, target)


def filled(shape, strides, value, dtype) -> Tensor:
    """A tensor of ``value`` everywhere, laid out with ``strides``: a constant reads the same in
    any order, so the fill is the only pass."""
    shape = tuple(shape)
    n = 0 if 0 in shape else 1 + sum((d - 1) * s for d, s in zip(shape, strides))
    return _core.full([n], value, dtype).as_strided(shape, strides, 0).detach()


def restrided(t: Tensor, strides) -> Tensor:
    """A copy of ``t`` laid out with ``strides`` (autograd sees a clone)."""
    from ._creation_windows import empty_strided

    return empty_strided(tuple(t.shape), strides, dtype=t.dtype).copy_(t)


def in_format(t: Tensor, fmt: memory_format, fn: str) -> Tensor:
    """``t`` itself when it is already laid out as ``fmt`` (not preserve_format) asks, else a
    copy laid out so."""
    _check(fmt, fn)
    if is_contiguous_as(t, fmt):
        return t
    if fmt is contiguous_format:
        return t.contiguous()
    return restrided(t, format_strides(t.shape, fmt))
