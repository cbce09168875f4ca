"""nn.functional convolutions (Rust kernels in rust/nn/conv.rs)."""

from __future__ import annotations

import operator

from .. import _core
from .._core import Tensor
from ._functional_utils import _batched, _pair

__all__ = ["conv2d"]


def _same_padding(weight: Tensor, stride, dilation) -> tuple[int, int, int, int]:
    """PyTorch's padding='same': total dilation * (k - 1) per axis, an odd one extra after."""
    if stride != (1, 1):
        raise RuntimeError("conv2d: padding='same' is not supported for strided convolutions")
    pads: list[int] = []
    kernel = weight.shape[2:] if weight.ndim == 4 else (1, 1)
    for d, k in zip(dilation, kernel):
        total = d * max(k - 1, 0)
        pads += [total // 2, total - total // 2]
    return tuple(pads)  # type: ignore[return-value]


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
    batched = _batched("conv2d", input)
    stride = _pair("stride", stride, "conv2d")
    dilation = _pair("dilation", dilation, "conv2d")
    if isinstance(padding, str):
        if padding == "valid":
            pads = (0, 0, 0, 0)
        elif padding == "same":
            pads = _same_padding(weight, stride, dilation)
        else:
            raise RuntimeError(f"conv2d: Invalid padding string: {padding!r} (use 'valid', 'same' or ints)")
    else:
        ph, pw = _pair("padding", padding, "conv2d")
        pads = (ph, ph, pw, pw)
    x = input if batched else input.unsqueeze(0)
    out = _core._conv2d(x, weight, bias, stride, pads, dilation, operator.index(groups))
    return out if batched else out.squeeze(0)
