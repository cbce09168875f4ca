"""nn.functional convolutions, transposed convolutions, fold and unfold (Rust kernels in
rust/nn/conv.rs, conv_transpose.rs, conv_fold.rs).

Here the argument forms are resolved (an int or a tuple per spatial dim, padding='same'/'valid',
unbatched inputs); the kernels take explicit per-axis values on batched inputs.
"""

from __future__ import annotations

import operator

from .. import _core
from .._core import Tensor

__all__ = [
    "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d", "unfold", "fold",
]


_COUNT = {1: "one", 2: "two", 3: "three"}


def _ntuple(name: str, value, n: int, fn: str) -> tuple[int, ...]:
    """An int, or a tuple/list of 1 or n ints, as n ints (PyTorch's expand_param_if_needed)."""
    if isinstance(value, (tuple, list)):
        items = tuple(value)
        if len(items) == 1:
            items = items * n
        if len(items) != n:
            raise RuntimeError(
                f"{fn}: {name} must be a single int or a tuple of {_COUNT[n]} ints (expected {name} to be a single "
                f"integer value or a list of {n} values to match the convolution dimensions, but got {name}={list(value)})"
            )
    else:
        items = (value,) * n
    try:
        return tuple(operator.index(v) for v in items)
    except TypeError:
        raise TypeError(f"{fn}: {name} must be an int or a tuple of ints, got {value!r}") from None


def _check_ranks(fn: str, input, weight, dims: int, layout: str = "out_channels, in_channels / groups") -> bool:
    """True for a batched (N, C, *spatial) input, False for an unbatched (C, *spatial) one; the
    weight must have the layer's rank."""
    for name, t in (("input", input), ("weight", weight)):
        if not isinstance(t, Tensor):
            raise TypeError(f"{fn}(): argument '{name}' must be Tensor, not {type(t).__name__}")
    if weight.ndim != dims + 2:
        raise RuntimeError(
            f"{fn}: expected a {dims + 2}-D weight ({layout}, *kernel_size), "
            f"but got weight of size {list(weight.shape)}"
        )
    if input.ndim == dims + 2:
        return True
    if input.ndim == dims + 1:
        return False
    raise RuntimeError(
        f"{fn}: Expected {dims + 1}-D (unbatched) or {dims + 2}-D (batched) input to {fn}, but got input of size: "
        f"{list(input.shape)}"
    )


def _same_padding(fn: str, weight: Tensor, stride, dilation, dims: int) -> list[int]:
    """PyTorch's padding='same': total dilation * (k - 1) per axis, an odd one extra after."""
    if any(s != 1 for s in stride):
        raise RuntimeError(f"{fn}: padding='same' is not supported for strided convolutions")
    kernel = tuple(weight.shape[2:]) if weight.ndim == dims + 2 else (1,) * dims
    pads: list[int] = []
    for d, k in zip(dilation, kernel):
        total = d * max(k - 1, 0)
        pads += [total // 2, total - total // 2]
    return pads


def _conv(fn: str, dims: int, input, weight, bias, stride, padding, dilation, groups) -> Tensor:
    batched = _check_ranks(fn, input, weight, dims)
    stride = _ntuple("stride", stride, dims, fn)
    dilation = _ntuple("dilation", dilation, dims, fn)
    if isinstance(padding, str):
        if padding == "valid":
            pads = [0] * (2 * dims)
        elif padding == "same":
            pads = _same_padding(fn, weight, stride, dilation, dims)
        else:
            raise RuntimeError(f"{fn}: Invalid padding string: {padding!r} (use 'valid', 'same' or ints)")
    else:
        pads = [p for v in _ntuple("padding", padding, dims, fn) for p in (v, v)]
    x = input if batched else input.unsqueeze(0)
    out = _core._conv(x, weight, bias, stride, pads, dilation, operator.index(groups))
    return out if batched else out.squeeze(0)


def conv1d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0, dilation=1, groups: int = 1) -> Tensor:
    """1-D cross-correlation, as PyTorch's F.conv1d.

    Args:
        input: (N, C, L), or unbatched (C, L).
        weight: (out_channels, C / groups, kL).
        bias: (out_channels) or None.
        stride, dilation: an int or a one-element tuple.
        padding: an int, a one-element tuple, 'valid' (no padding) or 'same' (output length =
            input length; stride 1 only; an odd total padding puts the extra element after).
        groups: input and output channels split into this many independent groups.

    Shape: output (N, out_channels, oL) with oL = (L + 2 * p - d * (kL - 1) - 1) // s + 1.
    """
    return _conv("conv1d", 1, input, weight, bias, stride, padding, dilation, groups)


def conv2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0, dilation=1, groups: int = 1) -> Tensor:
    """2-D cross-correlation, as PyTorch's F.conv2d.

    Args:
        input: (N, C, H, W), or unbatched (C, H, W).
        weight: (out_channels, C / groups, kH, kW).
        bias: (out_channels) or None.
        stride, dilation: an int or (sH, sW).
        padding: an int, (pH, pW), 'valid' (no padding) or 'same' (output size = input size;
            stride 1 only; an odd total padding puts the extra row/column after, as PyTorch).
        groups: input and output channels split into this many independent groups.

    Shape: output (N, out_channels, oH, oW) with
        oH = (H + 2 * pH - dH * (kH - 1) - 1) // sH + 1, and the same for W.
    """
    return _conv("conv2d", 2, input, weight, bias, stride, padding, dilation, groups)


def conv3d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0, dilation=1, groups: int = 1) -> Tensor:
    """3-D cross-correlation, as PyTorch's F.conv3d.

    Args:
        input: (N, C, D, H, W), or unbatched (C, D, H, W).
        weight: (out_channels, C / groups, kD, kH, kW).
        bias: (out_channels) or None.
        stride, dilation: an int or (sD, sH, sW).
        padding: an int, (pD, pH, pW), 'valid' or 'same' (stride 1 only).
        groups: input and output channels split into this many independent groups.

    Shape: output (N, out_channels, oD, oH, oW), each as conv1d's oL.
    """
    return _conv("conv3d", 3, input, weight, bias, stride, padding, dilation, groups)


def _conv_transpose(fn: str, dims: int, input, weight, bias, stride, padding, output_padding, groups, dilation) -> Tensor:
    batched = _check_ranks(fn, input, weight, dims, "in_channels, out_channels / groups")
    if isinstance(padding, str):
        raise TypeError(f"{fn}(): argument 'padding' must be a tuple of ints, not str ({padding!r})")
    args = [_ntuple(name, v, dims, fn) for name, v in
            (("stride", stride), ("padding", padding), ("output_padding", output_padding), ("dilation", dilation))]
    x = input if batched else input.unsqueeze(0)
    out = _core._conv_transpose(x, weight, bias, args[0], args[1], args[2], args[3], operator.index(groups))
    return out if batched else out.squeeze(0)


def conv_transpose1d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0, output_padding=0,
                     groups: int = 1, dilation=1) -> Tensor:
    """1-D transposed convolution ("deconvolution"), as PyTorch's F.conv_transpose1d.

    Args:
        input: (N, C_in, L), or unbatched (C_in, L).
        weight: (C_in, C_out / groups, kL).
        bias: (C_out) or None.
        stride, dilation: an int or a one-element tuple.
        padding: removed from both ends of the full output (dilation * (k - 1) - padding zeros
            are added to both sides of the input, in the view as a convolution).
        output_padding: added to one end of the output; smaller than stride or dilation.
        groups: independent channel groups.

    Shape: output (N, C_out, oL) with oL = (L - 1) * s - 2 * p + d * (kL - 1) + output_padding + 1.
    """
    return _conv_transpose("conv_transpose1d", 1, input, weight, bias, stride, padding, output_padding, groups, dilation)


def conv_transpose2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0, output_padding=0,
                     groups: int = 1, dilation=1) -> Tensor:
    """2-D transposed convolution, as PyTorch's F.conv_transpose2d: input (N, C_in, H, W) or
    (C_in, H, W), weight (C_in, C_out / groups, kH, kW); each argument an int or (h, w); output
    sizes as conv_transpose1d's per axis."""
    return _conv_transpose("conv_transpose2d", 2, input, weight, bias, stride, padding, output_padding, groups, dilation)


def conv_transpose3d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0, output_padding=0,
                     groups: int = 1, dilation=1) -> Tensor:
    """3-D transposed convolution, as PyTorch's F.conv_transpose3d: input (N, C_in, D, H, W) or
    (C_in, D, H, W), weight (C_in, C_out / groups, kD, kH, kW); each argument an int or (d, h, w);
    output sizes as conv_transpose1d's per axis."""
    return _conv_transpose("conv_transpose3d", 3, input, weight, bias, stride, padding, output_padding, groups, dilation)


def _pairs(fn: str, **kw) -> list[tuple[int, ...]]:
    return [_ntuple(name, v, 2, fn) for name, v in kw.items()]


def unfold(input: Tensor, kernel_size, dilation=1, padding=0, stride=1) -> Tensor:
    """Extracts sliding local blocks (im2col), as PyTorch's F.unfold.

    input (N, C, H, W), or unbatched (C, H, W) -> (N, C * kH * kW, L), L the number of blocks:
    prod over (H, W) of (size + 2 * padding - dilation * (kernel_size - 1) - 1) // stride + 1.
    Row (c * kH + i) * kW + j holds, for each block, the value under kernel tap (i, j) of channel c
    (zero in the padding).
    """
    if not isinstance(input, Tensor):
        raise TypeError(f"unfold(): argument 'input' must be Tensor, not {type(input).__name__}")
    if input.ndim not in (3, 4):
        raise NotImplementedError(f"Input Error: Only 3D or 4D input Tensors are supported (got {input.ndim}D)")
    k, d, p, s = _pairs("unfold", kernel_size=kernel_size, dilation=dilation, padding=padding, stride=stride)
    batched = input.ndim == 4
    out = _core._unfold(input if batched else input.unsqueeze(0), k, d, p, s)
    return out if batched else out.squeeze(0)


def fold(input: Tensor, output_size, kernel_size, dilation=1, padding=0, stride=1) -> Tensor:
    """Combines sliding local blocks into a tensor (col2im), as PyTorch's F.fold: the adjoint of
    F.unfold, summing where blocks overlap.

    input (N, C * kH * kW, L), or unbatched (C * kH * kW, L) -> (N, C, *output_size).
    """
    if not isinstance(input, Tensor):
        raise TypeError(f"fold(): argument 'input' must be Tensor, not {type(input).__name__}")
    if input.ndim not in (2, 3):
        raise NotImplementedError(f"Input Error: Only unbatched (2D) or batched (3D) input Tensors are supported (got {input.ndim}D)")
    o, k, d, p, s = _pairs("fold", output_size=output_size, kernel_size=kernel_size, dilation=dilation, padding=padding,
                           stride=stride)
    batched = input.ndim == 3
    out = _core._fold(input if batched else input.unsqueeze(0), o, k, d, p, s)
    return out if batched else out.squeeze(0)
