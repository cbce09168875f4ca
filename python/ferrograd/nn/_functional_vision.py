"""nn.functional padding, pixel/channel shuffles, one_hot and normalize.

Everything here is composed from differentiable tensor ops (cat, index_select, narrow, reshape,
permute), so backward comes from theirs: a padded element's gradient flows back to the input
element it was copied from (summed where reflect/replicate/circular copy one element many times).
"""

from __future__ import annotations

import operator

from .. import _core
from .._core import Tensor
from .._creation import arange, tensor, zeros
from ._functional_utils import traced

__all__ = [
    "pad", "pixel_shuffle", "pixel_unshuffle", "channel_shuffle", "native_channel_shuffle",
    "one_hot", "normalize", "assert_int_or_pair",
]


# ---- pad ------------------------------------------------------------------------------------

_PAD_MODES = ("constant", "reflect", "replicate", "circular")


def _int_tuple(fn: str, arg: str, position: int, value) -> tuple[int, ...]:
    """PyTorch's "tuple of ints" argument parsing: a tuple/list (or Size) of ints, bools refused."""
    if not isinstance(value, (tuple, list)):
        raise TypeError(f"{fn}(): argument '{arg}' (position {position}) must be tuple of ints, not {type(value).__name__}")
    out = []
    for i, v in enumerate(value):
        if isinstance(v, bool):
            raise TypeError(
                f"{fn}(): argument '{arg}' (position {position}) must be tuple of ints, "
                f"but found element of type bool at pos {i}"
            )
        try:
            out.append(operator.index(v))
        except TypeError:
            raise TypeError(
                f"{fn}(): argument '{arg}' (position {position}) must be tuple of ints, "
                f"but found element of type {type(v).__name__} at pos {i}"
            ) from None
    return tuple(out)


def _int_arg(fn: str, arg: str, position: int | None, value) -> int:
    if isinstance(value, bool) or not hasattr(value, "__index__"):
        where = f" (position {position})" if position is not None else ""
        raise TypeError(f"{fn}(): argument '{arg}'{where} must be int, not {type(value).__name__}")
    return operator.index(value)


def _pad_index(mode: str, size: int, left: int, right: int) -> list[int]:
    """For each output position along one dim, the input position it copies (negative pads crop)."""
    out = []
    for j in range(size + left + right):
        i = j - left
        if mode == "reflect":
            i = -i if i < 0 else i
            i = 2 * (size - 1) - i if i >= size else i
        elif mode == "replicate":
            i = min(max(i, 0), size - 1)
        out.append(i)
    return out


def _circular_index(size: int, left: int, right: int) -> list[int]:
    """Circular padding crops first (negative amounts), then wraps the cropped range, as PyTorch's
    _pad_circular does: (-1, 2) on [0, 1, 2, 3, 4] gives [1, 2, 3, 4, 1, 2]."""
    lo = max(-left, 0)
    kept = size - lo - max(-right, 0)
    grow = max(left, 0)
    return [lo + (j - grow) % kept for j in range(size + left + right)]


def _pad_constant(input: Tensor, pads: list[tuple[int, int]], value) -> Tensor:
    out = input
    for k, (left, right) in enumerate(pads):
        dim = input.ndim - 1 - k
        size = out.shape[dim]
        # PyTorch crops (narrows) before it grows, so the crops alone must fit in the dim.
        if max(-left, 0) + max(-right, 0) > size:
            raise RuntimeError(
                f"pad: negative padding ({left}, {right}) crops more than the size {size} of dimension {dim} "
                f"of the input of size {list(input.shape)} (narrow(): length must be non-negative)"
            )
        # Crop first (negative pads, narrowing views); the growth is one Rust pass below.
        start, stop = max(-left, 0), size - max(-right, 0)
        if start or stop != size:
            out = out.narrow(dim, start, max(stop - start, 0))
    grow = [(max(left, 0), max(right, 0)) for left, right in pads]
    if any(left or right for left, right in grow):
        return _core._pad(out, grow, float(value))
    return input.clone() if out is input else out  # a new tensor even for zero padding, as PyTorch


def _check_pad_sizes(mode: str, input: Tensor, pads: list[tuple[int, int]]) -> None:
    """PyTorch's per-mode checks, in its order and wording (last dim first)."""
    nd = len(pads)
    shape = list(input.shape)
    spatial = shape[input.ndim - nd:]
    if mode in ("reflect", "replicate"):
        # every dim but the batch dim (the first of a batched input) must be non-empty
        checked = shape[1:] if input.ndim == nd + 2 else shape
        if 0 in checked:
            raise RuntimeError(
                f"pad: Expected {nd + 1}D or {nd + 2}D (batch mode) tensor with possibly 0 batch size and other "
                f"non-zero dimensions for input, but got: {shape}"
            )
    if mode == "reflect":
        for k, (left, right) in enumerate(pads):
            dim = input.ndim - 1 - k
            if left >= shape[dim] or right >= shape[dim]:
                raise RuntimeError(
                    f"pad: Argument #{4 + 2 * k}: Padding size should be less than the corresponding input dimension, "
                    f"but got: padding ({left}, {right}) at dimension {dim} of input {shape}"
                )
    if mode in ("reflect", "replicate"):
        names = "DHW"[3 - nd:]
        outs = [spatial[i] + pads[nd - 1 - i][0] + pads[nd - 1 - i][1] for i in range(nd)]
        if any(o < 1 for o in outs):
            inp = ", ".join(f"{n}: {s}" for n, s in zip(names, spatial))
            got = " ".join(f"{n}: {o}" for n, o in zip(names, outs))
            raise RuntimeError(f"pad: input ({inp}) is too small. Calculated output {got} (mode {mode!r} needs >= 1)")
    if mode in ("reflect", "replicate") and input.dtype == _core.bool:  # after the size checks, as PyTorch
        kernel = "reflection" if mode == "reflect" else "replication"
        raise NotImplementedError(f"pad: \"{kernel}_pad{nd}d\" not implemented for 'Bool'")
    if mode == "circular":
        for k, (left, right) in enumerate(pads):
            size = shape[input.ndim - 1 - k]
            if left > size or right > size:
                raise RuntimeError("pad: Padding value causes wrapping around more than once.")
            if size + left + right < 0:
                raise RuntimeError("pad: Negative padding value is resulting in an empty dimension")
            kept = size - max(-left, 0) - max(-right, 0)
            # An output of size 0 along the dim takes nothing from what is left, so nothing wraps
            # (PyTorch: padding (-4, 1) of a dim of 3 gives an empty dim).
            if size + left + right > 0 and (max(left, 0) > kept or max(right, 0) > kept):
                # PyTorch checks the uncropped size only, then copies from the output into itself:
                # uninitialised values or an overlapping-memory error. The rule it means is this one.
                raise RuntimeError(
                    f"pad: Padding value causes wrapping around more than once: padding ({left}, {right}) at "
                    f"dimension {input.ndim - 1 - k} of input {shape} wraps the {kept} elements left after the crop"
                )


def pad(input: Tensor, pad, mode: str = "constant", value: float | None = None) -> Tensor:
    """Pads `input`; `pad` lists (left, right) amounts starting from the LAST dim:
    (wl, wr), (wl, wr, ht, hb), (wl, wr, ht, hb, df, db). Negative amounts crop.

    - 'constant' fills with `value` (default 0) and pads any number of trailing dims of any input.
    - 'reflect' mirrors without repeating the edge (each amount must be < that dim's size),
      'replicate' repeats the edge, 'circular' wraps around (amount <= size; a negative amount crops
      first and the rest wraps what is left, as in PyTorch). These three pad the
      last 1, 2 or 3 dims of an unbatched (C, *) or batched (N, C, *) input only: a pad of length 2
      needs a 2-D or 3-D input, 4 a 3-D or 4-D one, 6 a 4-D or 5-D one (PyTorch's rule).

    Shape: output size along each padded dim = size + left + right.
    """
    if not isinstance(mode, str):
        raise TypeError(f"pad(): argument 'mode' (position 3) must be str, not {type(mode).__name__}")
    amounts = _int_tuple("pad", "pad", 2, pad)
    if len(amounts) % 2:
        raise RuntimeError("pad: Padding length must be divisible by 2")
    if len(amounts) > 2 * input.ndim:
        raise RuntimeError(
            "pad: Padding length should be less than or equal to two times the input dimension but got padding "
            f"length {len(amounts)} and input of dimension {input.ndim}"
        )
    if mode not in _PAD_MODES:
        raise NotImplementedError(f"pad: Unrecognised padding mode {mode}")
    pads = [(amounts[i], amounts[i + 1]) for i in range(0, len(amounts), 2)]  # pads[k] is dim -1-k
    flat = [a for lr in pads for a in lr]
    if mode == "constant":
        value = 0 if value is None else value
        return traced("pad", [input], _pad_constant(input, pads, value), pad=flat, mode=mode, value=float(value))
    if value is not None and value != 0:
        raise RuntimeError(f'pad: Padding mode "{mode}" doesn\'t take in value argument')
    nd = len(pads)
    if nd not in (1, 2, 3) or input.ndim not in (nd + 1, nd + 2):
        raise NotImplementedError(
            f"pad: Padding size {len(amounts)} is not supported for {input.ndim}D input tensor.\n"
            "Supported combinations for non-constant padding:\n"
            "  - 2D or 3D input: padding size = 2 (pads last dimension)\n"
            "  - 3D or 4D input: padding size = 4 (pads last 2 dimensions)\n"
            "  - 4D or 5D input: padding size = 6 (pads last 3 dimensions)"
        )
    _check_pad_sizes(mode, input, pads)
    if mode != "circular":
        # One op over every padded dim, from a position table per dim (ops/pad_edges.rs).
        tables = [_pad_index(mode, input.shape[input.ndim - 1 - k], *pads[k]) for k in reversed(range(nd))]
        return traced("pad", [input], _core._pad_edges(input, tables, mode), pad=flat, mode=mode, value=0.0)
    out = input
    for k, (left, right) in enumerate(pads):
        dim = input.ndim - 1 - k
        size = input.shape[dim]
        if left == 0 and right == 0:
            continue
        positions = _circular_index(size, left, right)
        index = tensor(positions, dtype=_core.int64, device=input.device)
        out = out.index_select(dim, index)
    return traced("pad", [input], input.clone() if out is input else out, pad=flat, mode=mode, value=0.0)


# ---- pixel and channel shuffles ---------------------------------------------------------------

def pixel_shuffle(input: Tensor, upscale_factor: int) -> Tensor:
    """(*, C * r * r, H, W) -> (*, C, H * r, W * r): each group of r * r channels becomes an r x r
    block of pixels (sub-pixel convolution, Shi et al. 2016). r = upscale_factor."""
    r = _int_arg("pixel_shuffle", "upscale_factor", 2, upscale_factor)
    if input.ndim < 3:
        raise RuntimeError(
            f"pixel_shuffle expects input to have at least 3 dimensions, but got input with {input.ndim} dimension(s)"
        )
    if r <= 0:
        raise RuntimeError(f"pixel_shuffle expects a positive upscale_factor, but got {r}")
    *batch, c, h, w = input.shape
    if c % (r * r):
        raise RuntimeError(
            "pixel_shuffle expects its input's 'channel' dimension to be divisible by the square of upscale_factor, "
            f"but input.size(-3)={c} is not divisible by {r * r}"
        )
    n = len(batch)
    x = input.reshape(*batch, c // (r * r), r, r, h, w)
    x = x.permute(*range(n), n, n + 3, n + 1, n + 4, n + 2)  # (*, C, H, r, W, r)
    return x.reshape(*batch, c // (r * r), h * r, w * r)


def pixel_unshuffle(input: Tensor, downscale_factor: int) -> Tensor:
    """(*, C, H * r, W * r) -> (*, C * r * r, H, W), the inverse of pixel_shuffle. r = downscale_factor."""
    r = _int_arg("pixel_unshuffle", "downscale_factor", 2, downscale_factor)
    if input.ndim < 3:
        raise RuntimeError(
            f"pixel_unshuffle expects input to have at least 3 dimensions, but got input with {input.ndim} dimension(s)"
        )
    if r <= 0:
        raise RuntimeError(f"pixel_unshuffle expects a positive downscale_factor, but got {r}")
    *batch, c, h, w = input.shape
    if h % r:
        raise RuntimeError(
            f"pixel_unshuffle expects height to be divisible by downscale_factor, but input.size(-2)={h} "
            f"is not divisible by {r}"
        )
    if w % r:
        raise RuntimeError(
            f"pixel_unshuffle expects width to be divisible by downscale_factor, but input.size(-1)={w} "
            f"is not divisible by {r}"
        )
    n = len(batch)
    x = input.reshape(*batch, c, h // r, r, w // r, r)
    x = x.permute(*range(n), n, n + 2, n + 4, n + 1, n + 3)  # (*, C, r, r, H / r, W / r)
    return x.reshape(*batch, c * r * r, h // r, w // r)


def channel_shuffle(input: Tensor, groups: int) -> Tensor:
    """(N, C, *) with C = g * k: channel i * k + j moves to j * g + i (ShuffleNet's shuffle of g groups)."""
    g = _int_arg("channel_shuffle", "groups", 2, groups)
    if input.ndim <= 2:
        raise RuntimeError(f"channel_shuffle expects input with > 2 dims, but got input with sizes {list(input.shape)}")
    if g <= 0:
        raise RuntimeError(f"Number of groups to divide channels in must be positive. Value of groups:{g}")
    n, c, *spatial = input.shape
    if c % g:
        raise RuntimeError(f"Number of channels must be divisible by groups. Got {c} channels and {g} groups.")
    return input.reshape(n, g, c // g, *spatial).transpose(1, 2).reshape(n, c, *spatial)


def native_channel_shuffle(input: Tensor, groups: int) -> Tensor:
    """PyTorch's native kernel for channel_shuffle; the same result here."""
    return channel_shuffle(input, groups)


# ---- one_hot, normalize -----------------------------------------------------------------------

def one_hot(tensor: Tensor, num_classes: int = -1) -> Tensor:
    """int64 indices of shape (*) -> int64 (*, num_classes) with a 1 at each index.
    num_classes=-1 takes max(tensor) + 1 (an empty tensor then needs num_classes given)."""
    k = _int_arg("one_hot", "num_classes", None, num_classes)
    if tensor.dtype != _core.int64:
        raise RuntimeError("one_hot is only applicable to index tensor of type LongTensor.")
    if tensor.numel() == 0:
        if k <= 0:
            raise RuntimeError("Can not infer total number of classes from empty tensor.")
        return zeros(*tensor.shape, k, dtype=_core.int64, device=tensor.device)
    if tensor.min().item() < 0:
        raise RuntimeError("Class values must be non-negative.")
    top = tensor.max().item()
    if k == -1:
        if _core._is_tracing():
            # The class count would come from these values: an exported graph would keep it.
            raise RuntimeError("one_hot: num_classes=-1 takes the class count from the values, which an exported graph cannot "
                               "follow; give num_classes")
        k = top + 1
    elif k <= top:
        raise RuntimeError(
            f"Class values must be smaller than num_classes. (one_hot: max class {top}, num_classes={k})"
        )
    classes = arange(k, dtype=_core.int64, device=tensor.device)
    return (tensor.unsqueeze(-1) == classes).to(_core.int64)


def normalize(input: Tensor, p: float = 2.0, dim: int = 1, eps: float = 1e-12, out: Tensor | None = None) -> Tensor:
    """input / max(||input||_p over `dim`, eps): unit p-norm vectors along `dim`."""
    if not input.dtype.is_floating_point:
        raise NotImplementedError(
            f"normalize: linalg.vector_norm: Expected a floating point or complex tensor as input. Got {input.dtype}"
        )
    denom = input.norm(p, dim, keepdim=True).clamp_min(eps).expand_as(input)
    if out is None:
        return input / denom
    if _core.is_grad_enabled() and input.requires_grad:
        raise RuntimeError(
            "normalize(): functions with out=... arguments don't support automatic differentiation, "
            "but one of the arguments requires grad."
        )
    result = input / denom
    if tuple(out.shape) != tuple(result.shape):
        raise RuntimeError(
            f"normalize(): out= has shape {list(out.shape)}, but the result has shape {list(result.shape)}"
        )
    out.copy_(result)
    return out


def assert_int_or_pair(arg, arg_name: str, message: str) -> None:
    """PyTorch's helper: an int, or a sequence of two."""
    assert isinstance(arg, int) or len(arg) == 2, message.format(arg_name)
