"""The pooling layers, thin wrappers over nn.functional. Each keeps its arguments as PyTorch's
does (some as given, some normalised to tuples), since their reprs print them that way."""

from __future__ import annotations

from .. import functional as F
from ..module import Module

__all__ = [
    "MaxPool1d", "MaxPool2d", "MaxPool3d",
    "AvgPool1d", "AvgPool2d", "AvgPool3d",
    "AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "AdaptiveAvgPool3d",
    "AdaptiveMaxPool1d", "AdaptiveMaxPool2d", "AdaptiveMaxPool3d",
    "MaxUnpool1d", "MaxUnpool2d", "MaxUnpool3d",
    "LPPool1d", "LPPool2d", "LPPool3d",
]


def _ntuple(value, n: int) -> tuple:
    """PyTorch's `_single`/`_pair`/`_triple` (nn.modules.utils): an iterable as a tuple, anything
    else repeated `n` times."""
    if isinstance(value, (tuple, list)):
        return tuple(value)
    return (value,) * n


# ---- max pool -------------------------------------------------------------------------------

class _MaxPoolNd(Module):
    _fn = ""  # the functional form's name, looked up at call time as PyTorch's forward does

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices: bool = False,
                 ceil_mode: bool = False) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.dilation = dilation
        self.return_indices = return_indices
        self.ceil_mode = ceil_mode

    def forward(self, input):
        return getattr(F, self._fn)(
            input, self.kernel_size, self.stride, self.padding, self.dilation,
            ceil_mode=self.ceil_mode, return_indices=self.return_indices,
        )

    def extra_repr(self) -> str:
        return (
            f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
            f"dilation={self.dilation}, ceil_mode={self.ceil_mode}"
        )


class MaxPool1d(_MaxPoolNd):
    """Max over windows of kernel_size along L of (N, C, L) or (C, L); stride defaults to
    kernel_size. return_indices=True makes forward return (output, indices)."""

    _fn = "max_pool1d"


class MaxPool2d(_MaxPoolNd):
    """Max over (kH, kW) windows; stride defaults to kernel_size. return_indices=True makes
    forward return (output, indices) with flat h * W + w indices into each input plane."""

    _fn = "max_pool2d"


class MaxPool3d(_MaxPoolNd):
    """Max over (kT, kH, kW) windows of (N, C, D, H, W) or (C, D, H, W); indices are flat
    (d * H + h) * W + w positions in each input volume."""

    _fn = "max_pool3d"


# ---- average pool ---------------------------------------------------------------------------

class _AvgPoolNd(Module):
    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AvgPool1d(_AvgPoolNd):
    """Mean over windows of kernel_size along L (see F.avg_pool2d for the divisor rules). Keeps
    its window arguments as 1-tuples, as PyTorch's does."""

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode: bool = False, count_include_pad: bool = True) -> None:
        super().__init__()
        self.kernel_size = _ntuple(kernel_size, 1)
        self.stride = _ntuple(stride if stride is not None else kernel_size, 1)
        self.padding = _ntuple(padding, 1)
        self.ceil_mode = ceil_mode
        self.count_include_pad = count_include_pad

    def forward(self, input):
        return F.avg_pool1d(input, self.kernel_size, self.stride, self.padding, self.ceil_mode, self.count_include_pad)


class _AvgPool23d(_AvgPoolNd):
    _fn = ""

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode: bool = False, count_include_pad: bool = True,
                 divisor_override: int | None = None) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.ceil_mode = ceil_mode
        self.count_include_pad = count_include_pad
        self.divisor_override = divisor_override

    def forward(self, input):
        return getattr(F, self._fn)(
            input, self.kernel_size, self.stride, self.padding, self.ceil_mode, self.count_include_pad, self.divisor_override
        )


class AvgPool2d(_AvgPool23d):
    """Mean over (kH, kW) windows; stride defaults to kernel_size (see F.avg_pool2d for the
    divisor rules)."""

    _fn = "avg_pool2d"


class AvgPool3d(_AvgPool23d):
    """Mean over (kT, kH, kW) windows; stride defaults to kernel_size (see F.avg_pool3d)."""

    _fn = "avg_pool3d"


# ---- adaptive pools -------------------------------------------------------------------------

class _AdaptiveAvgPoolNd(Module):
    _fn = ""

    def __init__(self, output_size) -> None:
        super().__init__()
        self.output_size = output_size

    def forward(self, input):
        return getattr(F, self._fn)(input, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class AdaptiveAvgPool1d(_AdaptiveAvgPoolNd):
    """Averages each (C, L) row into output_size bins."""

    _fn = "adaptive_avg_pool1d"


class AdaptiveAvgPool2d(_AdaptiveAvgPoolNd):
    """Averages each plane into an output_size grid (an int, or a pair with None for 'keep')."""

    _fn = "adaptive_avg_pool2d"


class AdaptiveAvgPool3d(_AdaptiveAvgPoolNd):
    """Averages each volume into an output_size grid (an int, or a triple with None for 'keep')."""

    _fn = "adaptive_avg_pool3d"


class _AdaptiveMaxPoolNd(Module):
    _fn = ""

    def __init__(self, output_size, return_indices: bool = False) -> None:
        super().__init__()
        self.output_size = output_size
        self.return_indices = return_indices

    def forward(self, input):
        return getattr(F, self._fn)(input, self.output_size, self.return_indices)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class AdaptiveMaxPool1d(_AdaptiveMaxPoolNd):
    """Max over output_size adaptive bins along L; return_indices=True also returns the argmax."""

    _fn = "adaptive_max_pool1d"


class AdaptiveMaxPool2d(_AdaptiveMaxPoolNd):
    """Max over an output_size grid of adaptive bins (an int, or a pair with None for 'keep')."""

    _fn = "adaptive_max_pool2d"


class AdaptiveMaxPool3d(_AdaptiveMaxPoolNd):
    """Max over an output_size grid of adaptive bins of each volume."""

    _fn = "adaptive_max_pool3d"


# ---- max unpool -----------------------------------------------------------------------------

class _MaxUnpoolNd(Module):
    _fn = ""
    _n = 0

    def __init__(self, kernel_size, stride=None, padding=0) -> None:
        super().__init__()
        n = self._n
        self.kernel_size = _ntuple(kernel_size, n)
        self.stride = _ntuple(stride if stride is not None else kernel_size, n)
        self.padding = _ntuple(padding, n)

    def forward(self, input, indices, output_size=None):
        return getattr(F, self._fn)(input, indices, self.kernel_size, self.stride, self.padding, output_size)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxUnpool1d(_MaxUnpoolNd):
    """The partial inverse of MaxPool1d: forward(input, indices, output_size=None)."""

    _fn, _n = "max_unpool1d", 1


class MaxUnpool2d(_MaxUnpoolNd):
    """The partial inverse of MaxPool2d: forward(input, indices, output_size=None) writes each
    value at its index in a zero plane (see F.max_unpool2d)."""

    _fn, _n = "max_unpool2d", 2


class MaxUnpool3d(_MaxUnpoolNd):
    """The partial inverse of MaxPool3d: forward(input, indices, output_size=None)."""

    _fn, _n = "max_unpool3d", 3


# ---- power-average pool ---------------------------------------------------------------------

class _LPPoolNd(Module):
    _fn = ""

    def __init__(self, norm_type: float, kernel_size, stride=None, ceil_mode: bool = False) -> None:
        super().__init__()
        if norm_type == 0:
            raise ValueError(f"norm_type must be a non-zero value, but got {norm_type}")
        self.norm_type = norm_type
        self.kernel_size = kernel_size
        self.stride = stride
        self.ceil_mode = ceil_mode

    def forward(self, input):
        return getattr(F, self._fn)(input, float(self.norm_type), self.kernel_size, self.stride, self.ceil_mode)

    def extra_repr(self) -> str:
        return f"norm_type={self.norm_type}, kernel_size={self.kernel_size}, stride={self.stride}, ceil_mode={self.ceil_mode}"


class LPPool1d(_LPPoolNd):
    """Power-average pooling along L: (sum of x^p over each window)^(1/p)."""

    _fn = "lp_pool1d"


class LPPool2d(_LPPoolNd):
    """Power-average pooling over (kH, kW) windows: (sum of x^p)^(1/p)."""

    _fn = "lp_pool2d"


class LPPool3d(_LPPoolNd):
    """Power-average pooling over (kT, kH, kW) windows: (sum of x^p)^(1/p)."""

    _fn = "lp_pool3d"
