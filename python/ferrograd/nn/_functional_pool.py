"""nn.functional pooling over 1, 2 and 3 spatial axes: max (with indices), average, adaptive
average and max, max_unpool and power-average (lp) pooling. The kernels are in rust/nn/pool*.rs
and take (N, C, *S) or unbatched (C, *S) inputs with one window value per spatial axis; here the
int-or-tuple arguments are resolved as PyTorch resolves them."""

from __future__ import annotations

import operator

from .. import _core
from .._core import Tensor

__all__ = [
    "max_pool1d", "max_pool2d", "max_pool3d",
    "max_pool1d_with_indices", "max_pool2d_with_indices", "max_pool3d_with_indices",
    "avg_pool1d", "avg_pool2d", "avg_pool3d",
    "adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_avg_pool3d",
    "adaptive_max_pool1d", "adaptive_max_pool2d", "adaptive_max_pool3d",
    "adaptive_max_pool1d_with_indices", "adaptive_max_pool2d_with_indices", "adaptive_max_pool3d_with_indices",
    "max_unpool1d", "max_unpool2d", "max_unpool3d",
    "lp_pool1d", "lp_pool2d", "lp_pool3d",
]

_COUNT = {1: "one", 2: "two", 3: "three"}


def _ntuple(name: str, value, n: int, fn: str) -> tuple[int, ...]:
    """An int, or a tuple/list of one or `n` ints, as `n` ints."""
    if isinstance(value, (tuple, list)):
        items = tuple(value)
        if len(items) == 1:
            items = items * n
        if len(items) != n:
            raise RuntimeError(f"{fn}: {name} must be a single int or a tuple of {_COUNT[n]} ints, but got {name}={value!r}")
    else:
        items = (value,) * n
    try:
        return tuple(operator.index(v) for v in items)
    except TypeError:
        raise TypeError(f"{fn}: {name} must be an int or a tuple of ints, got {value!r}") from None


def _window(fn: str, n: int, kernel_size, stride, padding, dilation=1):
    """kernel, stride (None or empty: the kernel), padding and dilation, `n` ints each."""
    k = _ntuple("kernel_size", kernel_size, n, fn)
    if stride is None or (isinstance(stride, (tuple, list)) and len(stride) == 0):
        s = k
    else:
        s = _ntuple("stride", stride, n, fn)
    return k, s, _ntuple("padding", padding, n, fn), _ntuple("dilation", dilation, n, fn)


# ---- max pool -------------------------------------------------------------------------------

def _max_pool(n, input, kernel_size, stride, padding, dilation, ceil_mode):
    k, s, p, d = _window(f"max_pool{n}d", n, kernel_size, stride, padding, dilation)
    return _core._max_pool(input, k, s, p, d, bool(ceil_mode))


def max_pool1d_with_indices(input: Tensor, kernel_size, stride=None, padding=0, dilation=1, ceil_mode: bool = False,
                            return_indices: bool = False):
    """`max_pool1d` returning (output, indices) whatever `return_indices` says."""
    return _max_pool(1, input, kernel_size, stride, padding, dilation, ceil_mode)


def max_pool2d_with_indices(input: Tensor, kernel_size, stride=None, padding=0, dilation=1, ceil_mode: bool = False,
                            return_indices: bool = False):
    """`max_pool2d` returning (output, indices) whatever `return_indices` says."""
    return _max_pool(2, input, kernel_size, stride, padding, dilation, ceil_mode)


def max_pool3d_with_indices(input: Tensor, kernel_size, stride=None, padding=0, dilation=1, ceil_mode: bool = False,
                            return_indices: bool = False):
    """`max_pool3d` returning (output, indices) whatever `return_indices` says."""
    return _max_pool(3, input, kernel_size, stride, padding, dilation, ceil_mode)


def max_pool1d(input: Tensor, kernel_size, stride=None, padding=0, dilation=1, ceil_mode: bool = False,
               return_indices: bool = False):
    """Max over windows of kW taps along L of (N, C, L) or (C, L). See `max_pool2d`; the
    indices are positions along L."""
    out = _max_pool(1, input, kernel_size, stride, padding, dilation, ceil_mode)
    return out if return_indices else out[0]


def max_pool2d(input: Tensor, kernel_size, stride=None, padding=0, dilation=1, ceil_mode: bool = False,
               return_indices: bool = False):
    """Max over (kH, kW) windows of (N, C, H, W) or (C, H, W) inputs; stride defaults to the
    kernel size, padding (at most half the kernel) counts as -inf, dilation spaces the taps, and
    ceil_mode rounds the output size up (a last window must still start inside the input or its
    left padding). A NaN in a window is its maximum; of equal maxima the first in row-major order
    wins. With return_indices=True also returns int64 indices of the maxima as flat positions
    h * W + w in each input plane (what `max_unpool2d` takes)."""
    out = _max_pool(2, input, kernel_size, stride, padding, dilation, ceil_mode)
    return out if return_indices else out[0]


def max_pool3d(input: Tensor, kernel_size, stride=None, padding=0, dilation=1, ceil_mode: bool = False,
               return_indices: bool = False):
    """Max over (kT, kH, kW) windows of (N, C, D, H, W) or (C, D, H, W). See `max_pool2d`; the
    indices are flat positions (d * H + h) * W + w in each input volume."""
    out = _max_pool(3, input, kernel_size, stride, padding, dilation, ceil_mode)
    return out if return_indices else out[0]


# ---- average pool ---------------------------------------------------------------------------

def _avg_pool(n, input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override):
    k, s, p, _ = _window(f"avg_pool{n}d", n, kernel_size, stride, padding)
    div = None if divisor_override is None else operator.index(divisor_override)
    return _core._avg_pool(input, k, s, p, bool(ceil_mode), bool(count_include_pad), div)


def avg_pool1d(input: Tensor, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True) -> Tensor:
    """Mean over windows of kW along L of (N, C, L) or (C, L). See `avg_pool2d`."""
    return _avg_pool(1, input, kernel_size, stride, padding, ceil_mode, count_include_pad, None)


def avg_pool2d(input: Tensor, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True, divisor_override: int | None = None) -> Tensor:
    """Mean over (kH, kW) windows. The divisor is `divisor_override` when given, else the window
    size including padding (count_include_pad=True) or only the input positions it covers; a
    ceil-mode window running past the padding counts only up to its end."""
    return _avg_pool(2, input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override)


def avg_pool3d(input: Tensor, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True, divisor_override: int | None = None) -> Tensor:
    """Mean over (kT, kH, kW) windows of (N, C, D, H, W) or (C, D, H, W). See `avg_pool2d`;
    as in PyTorch the input must be at least the kernel along each axis, padding or not."""
    return _avg_pool(3, input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override)


# ---- adaptive pools -------------------------------------------------------------------------

def _output_size(fn: str, input: Tensor, output_size, n: int) -> tuple[int, ...]:
    """PyTorch's `_list_with_default`: an int for every axis, or a tuple whose None entries keep
    the input's size; a 1-D pool takes one int only."""
    if n == 1:
        if output_size is None:
            raise TypeError(f"{fn}(): argument 'output_size' must be tuple of ints, not NoneType")
        items = tuple(output_size) if isinstance(output_size, (tuple, list)) else (output_size,)
        if len(items) != 1:
            raise RuntimeError(f"{fn}() argument 'output_size' should contain one int (got {len(items)})")
        return (operator.index(items[0]),)
    if not isinstance(output_size, (tuple, list)):
        return (operator.index(output_size),) * n
    items = tuple(output_size)
    if input.ndim <= len(items):
        raise ValueError(f"Input dimension should be at least {len(items) + 1}")
    if len(items) != n:
        raise RuntimeError(f"{fn}: output_size must be {n}, got {len(items)} values ({output_size!r})")
    shape = tuple(input.shape)[-n:]
    return tuple(shape[i] if v is None else operator.index(v) for i, v in enumerate(items))


def _adaptive_avg(n, input, output_size):
    fn = f"adaptive_avg_pool{n}d"
    size = _output_size(fn, input, output_size, n)
    if n == 1 and input.ndim not in (2, 3):
        raise RuntimeError(f"{fn}: expected a 2-D (unbatched C, L) or 3-D (batched N, C, L) input, "
                           f"but got input of size: {list(input.shape)}")
    if all(v == 1 for v in size):
        # PyTorch's global-average shortcut: a mean over the spatial axes (grad_fn
        # MeanBackward1), which on an empty input is NaN rather than an error.
        return input.mean(tuple(range(-n, 0)), keepdim=True)
    return _core._adaptive_avg_pool(input, size)


def adaptive_avg_pool1d(input: Tensor, output_size) -> Tensor:
    """Averages (N, C, L) or (C, L) into output_size bins along L (see `adaptive_avg_pool2d`)."""
    return _adaptive_avg(1, input, output_size)


def adaptive_avg_pool2d(input: Tensor, output_size) -> Tensor:
    """Averages into an (oH, oW) grid: output row i covers input rows floor(i * H / oH) to
    ceil((i + 1) * H / oH), and the same for columns. `output_size` is an int or a pair whose
    entries may be None (keep the input's size)."""
    return _adaptive_avg(2, input, output_size)


def adaptive_avg_pool3d(input: Tensor, output_size) -> Tensor:
    """Averages (N, C, D, H, W) or (C, D, H, W) into an (oD, oH, oW) grid (see
    `adaptive_avg_pool2d`)."""
    return _adaptive_avg(3, input, output_size)


def adaptive_max_pool1d_with_indices(input: Tensor, output_size, return_indices: bool = False):
    """`adaptive_max_pool1d` returning (output, indices)."""
    if input.ndim not in (2, 3):
        raise RuntimeError(f"adaptive_max_pool1d: expected a 2-D (unbatched C, L) or 3-D (batched N, C, L) input, "
                           f"but got input of size: {list(input.shape)}")
    return _core._adaptive_max_pool(input, _output_size("adaptive_max_pool1d", input, output_size, 1))


def adaptive_max_pool2d_with_indices(input: Tensor, output_size, return_indices: bool = False):
    """`adaptive_max_pool2d` returning (output, indices)."""
    return _core._adaptive_max_pool(input, _output_size("adaptive_max_pool2d", input, output_size, 2))


def adaptive_max_pool3d_with_indices(input: Tensor, output_size, return_indices: bool = False):
    """`adaptive_max_pool3d` returning (output, indices)."""
    return _core._adaptive_max_pool(input, _output_size("adaptive_max_pool3d", input, output_size, 3))


def adaptive_max_pool1d(input: Tensor, output_size, return_indices: bool = False):
    """Max over output_size adaptive bins along L (see `adaptive_max_pool2d`)."""
    out = adaptive_max_pool1d_with_indices(input, output_size)
    return out if return_indices else out[0]


def adaptive_max_pool2d(input: Tensor, output_size, return_indices: bool = False):
    """Max over the bins of `adaptive_avg_pool2d` (an int, or a pair with None for 'keep'); the
    NaN and tie rules and the indices are those of `max_pool2d`."""
    out = adaptive_max_pool2d_with_indices(input, output_size)
    return out if return_indices else out[0]


def adaptive_max_pool3d(input: Tensor, output_size, return_indices: bool = False):
    """Max over (oD, oH, oW) adaptive bins of each volume (see `adaptive_max_pool2d`)."""
    out = adaptive_max_pool3d_with_indices(input, output_size)
    return out if return_indices else out[0]


# ---- max unpool -----------------------------------------------------------------------------

def _unpool_output_size(input: Tensor, kernel, stride, padding, output_size) -> list[int]:
    """PyTorch's rule: by default (L - 1) * stride + kernel - 2 * padding per axis; a given
    output_size (spatial sizes, optionally with N and C in front) must lie strictly within one
    stride of that."""
    n = len(kernel)
    shape = tuple(input.shape)
    default = [(shape[-n + d] - 1) * stride[d] + kernel[d] - 2 * padding[d] for d in range(n)]
    if output_size is None:
        ret = default
    else:
        output_size = list(output_size)
        if len(output_size) == n + 2:
            output_size = output_size[2:]
        if len(output_size) != n:
            raise ValueError(
                f"output_size should be a sequence containing {n} or {n + 2} elements, "
                f"but it has a length of '{len(output_size)}'"
            )
        for d in range(n):
            lo, hi = default[d] - stride[d], default[d] + stride[d]
            if not (lo < output_size[d] < hi):
                raise ValueError(f'invalid output_size "{output_size}" (dim {d} must be between {lo} and {hi})')
        ret = [operator.index(v) for v in output_size]
    for d in range(n):
        if ret[d] < 0:
            raise ValueError(
                f"max_unpooling: output_size must contain non-negative spatial dimensions, but got output_size[{d}]={ret[d]}"
            )
    return ret


def _max_unpool(n, input, indices, kernel_size, stride, padding, output_size):
    fn = f"max_unpool{n}d"
    k = _ntuple("kernel_size", kernel_size, n, fn)
    s = k if stride is None else _ntuple("stride", stride, n, fn)
    p = _ntuple("padding", padding, n, fn)
    if n == 3 and any(v <= 0 for v in s):
        raise RuntimeError(f"{fn}: strides should be greater than zero, but got stride: {list(s)}")
    size = _unpool_output_size(input, k, s, p, output_size)
    return _core._max_unpool(input, indices, size)


def max_unpool1d(input: Tensor, indices: Tensor, kernel_size, stride=None, padding=0, output_size=None) -> Tensor:
    """The partial inverse of `max_pool1d`: each value written at its index along L, zeros
    elsewhere (see `max_unpool2d`)."""
    return _max_unpool(1, input, indices, kernel_size, stride, padding, output_size)


def max_unpool2d(input: Tensor, indices: Tensor, kernel_size, stride=None, padding=0, output_size=None) -> Tensor:
    """The partial inverse of `max_pool2d`: an output plane of zeros with each input value
    written at the flat position its index names (the indices `max_pool2d(..., return_indices=
    True)` gave). The output size is (H - 1) * stride + kernel - 2 * padding per axis, or
    `output_size` within one stride of that. The gradient gathers from the same positions."""
    return _max_unpool(2, input, indices, kernel_size, stride, padding, output_size)


def max_unpool3d(input: Tensor, indices: Tensor, kernel_size, stride=None, padding=0, output_size=None) -> Tensor:
    """The partial inverse of `max_pool3d` (see `max_unpool2d`)."""
    return _max_unpool(3, input, indices, kernel_size, stride, padding, output_size)


# ---- power-average pool ---------------------------------------------------------------------

def _lp_pool(n, input, norm_type, kernel_size, stride, ceil_mode):
    """PyTorch's formula: (sum over the window of x^p)^(1/p), computed as avg_pool of x^p times
    the kernel size; sign(s) * relu(|s|) zeroes the gradient where the sum is 0 (|.|'s
    subgradient) while keeping negative sums (odd p) negative."""
    fn = f"lp_pool{n}d"
    if isinstance(norm_type, (int, float)):
        if norm_type == 0:
            raise ValueError(f"norm_type must be a non-zero value, but got {norm_type}")
        pool = (max_pool1d, max_pool2d, max_pool3d)[n - 1]
        if norm_type == float("inf"):
            return pool(input.abs(), kernel_size, stride, 0, 1, ceil_mode)
        if norm_type == -float("inf"):
            return -pool(-input.abs(), kernel_size, stride, 0, 1, ceil_mode)
    k = _ntuple("kernel_size", kernel_size, n, fn)
    out = _avg_pool(n, input.pow(norm_type), k, stride, 0, ceil_mode, True, None)
    numel = 1
    for v in k:
        numel *= v
    return (out.sign() * out.abs().relu()).mul(numel).pow(1.0 / norm_type)


def lp_pool1d(input: Tensor, norm_type: float, kernel_size, stride=None, ceil_mode: bool = False) -> Tensor:
    """Power-average pooling along L: (sum of x^p over each window)^(1/p) (see `lp_pool2d`)."""
    return _lp_pool(1, input, norm_type, kernel_size, stride, ceil_mode)


def lp_pool2d(input: Tensor, norm_type: float, kernel_size, stride=None, ceil_mode: bool = False) -> Tensor:
    """Power-average pooling over (kH, kW) windows: (sum of x^p)^(1/p), no padding; p = inf is
    max pooling of |x|. As in PyTorch, x^p of a negative x with a fractional p is NaN, and a
    window whose sum is zero gets a zero gradient."""
    return _lp_pool(2, input, norm_type, kernel_size, stride, ceil_mode)


def lp_pool3d(input: Tensor, norm_type: float, kernel_size, stride=None, ceil_mode: bool = False) -> Tensor:
    """Power-average pooling over (kT, kH, kW) windows (see `lp_pool2d`)."""
    return _lp_pool(3, input, norm_type, kernel_size, stride, ceil_mode)
