"""nn.functional pooling (Rust kernels in rust/nn/pool.rs)."""

from __future__ import annotations

import operator

from .. import _core
from .._core import Tensor
from ._functional_utils import _batched, _pair

__all__ = ["max_pool2d", "avg_pool2d", "adaptive_avg_pool2d"]


def _pool_stride(fn: str, stride, kernel: tuple[int, int]) -> tuple[int, int]:
    if stride is None or (isinstance(stride, (tuple, list)) and len(stride) == 0):
        return kernel
    return _pair("stride", stride, fn)


def max_pool2d(input: Tensor, kernel_size, stride=None, padding=0, dilation=1, ceil_mode: bool = False, return_indices: bool = False):
    """Max over (kH, kW) windows of (N, C, H, W) or (C, H, W) inputs; stride defaults to the
    kernel size, padding (at most half the kernel) counts as -inf. With return_indices=True also
    returns int64 indices of the maxima as flat positions h * W + w in each input plane."""
    k = _pair("kernel_size", kernel_size, "max_pool2d")
    s = _pool_stride("max_pool2d", stride, k)
    p = _pair("padding", padding, "max_pool2d")
    d = _pair("dilation", dilation, "max_pool2d")
    batched = _batched("max_pool2d", input)
    x = input if batched else input.unsqueeze(0)
    out, indices = _core._max_pool2d(x, k, s, p, d, bool(ceil_mode))
    if not batched:
        out, indices = out.squeeze(0), indices.squeeze(0)
    return (out, indices) if return_indices else out


def avg_pool2d(
    input: Tensor,
    kernel_size,
    stride=None,
    padding=0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override: int | None = None,
) -> Tensor:
    """Mean over (kH, kW) windows. The divisor is `divisor_override` when given, else the window
    size including padding (count_include_pad=True) or only the input positions it covers."""
    k = _pair("kernel_size", kernel_size, "avg_pool2d")
    s = _pool_stride("avg_pool2d", stride, k)
    p = _pair("padding", padding, "avg_pool2d")
    div = None if divisor_override is None else operator.index(divisor_override)
    batched = _batched("avg_pool2d", input)
    x = input if batched else input.unsqueeze(0)
    out = _core._avg_pool2d(x, k, s, p, bool(ceil_mode), bool(count_include_pad), div)
    return out if batched else out.squeeze(0)


def adaptive_avg_pool2d(input: Tensor, output_size) -> Tensor:
    """Averages into an (oH, oW) grid: output row i covers input rows floor(i * H / oH) to
    ceil((i + 1) * H / oH), and the same for columns. `output_size` is an int or a pair whose
    entries may be None (keep the input's size)."""
    batched = _batched("adaptive_avg_pool2d", input)
    items = tuple(output_size) if isinstance(output_size, (tuple, list)) else (output_size, output_size)
    if len(items) != 2:
        raise RuntimeError(f"adaptive_avg_pool2d: output_size must be 2, got {len(items)} values ({output_size!r})")
    size = tuple(input.shape[-2 + i] if v is None else operator.index(v) for i, v in enumerate(items))
    if size == (1, 1) and all(d > 0 for d in input.shape[-3:]):
        # PyTorch's global-average shortcut: a mean over H and W (grad_fn MeanBackward1).
        return input.mean((-2, -1), keepdim=True)
    x = input if batched else input.unsqueeze(0)
    out = _core._adaptive_avg_pool2d(x, size)
    return out if batched else out.squeeze(0)
