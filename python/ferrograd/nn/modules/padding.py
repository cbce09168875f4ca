"""Padding layers: ZeroPad/ConstantPad/ReflectionPad/ReplicationPad/CircularPad 1d/2d/3d.

Each is F.pad with a fixed mode; `padding` is an int (the same amount on every side) or a tuple
ordered as F.pad's, last dim first: (left, right), (left, right, top, bottom),
(left, right, top, bottom, front, back).
"""

from __future__ import annotations

from collections.abc import Iterable

from .. import functional as F
from ..module import Module

__all__ = [
    "CircularPad1d", "CircularPad2d", "CircularPad3d",
    "ConstantPad1d", "ConstantPad2d", "ConstantPad3d",
    "ReflectionPad1d", "ReflectionPad2d", "ReflectionPad3d",
    "ReplicationPad1d", "ReplicationPad2d", "ReplicationPad3d",
    "ZeroPad1d", "ZeroPad2d", "ZeroPad3d",
]


def _ntuple(padding, n: int) -> tuple:
    """PyTorch's nn.modules.utils._ntuple: an iterable is kept as given, a scalar repeated n times."""
    if isinstance(padding, Iterable):
        return tuple(padding)
    return (padding,) * n


class _PadNd(Module):
    _mode = "constant"
    _dims = 1  # spatial dims padded: 1, 2 or 3

    def __init__(self, padding) -> None:
        super().__init__()
        self.padding = _ntuple(padding, 2 * self._dims)

    def forward(self, input):
        return F.pad(input, self.padding, self._mode)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class _CircularPadNd(_PadNd):
    _mode = "circular"

    def forward(self, input):
        # The layer's own check (PyTorch's _check_input_dim) comes before F.pad's and is a ValueError.
        if input.dim() not in (self._dims + 1, self._dims + 2):
            raise ValueError(
                f"expected {self._dims + 1}D or {self._dims + 2}D input (got {input.dim()}D input)"
            )
        return F.pad(input, self.padding, "circular")


class CircularPad1d(_CircularPadNd):
    """Pads the last dim of (C, W) or (N, C, W) by wrapping around."""
    _dims = 1


class CircularPad2d(_CircularPadNd):
    """Pads the last two dims of (C, H, W) or (N, C, H, W) by wrapping around."""
    _dims = 2


class CircularPad3d(_CircularPadNd):
    """Pads the last three dims of (C, D, H, W) or (N, C, D, H, W) by wrapping around."""
    _dims = 3


class _ReflectionPadNd(_PadNd):
    _mode = "reflect"


class ReflectionPad1d(_ReflectionPadNd):
    """Mirrors the last dim of (C, W) or (N, C, W) without repeating the edge (padding < W)."""
    _dims = 1


class ReflectionPad2d(_ReflectionPadNd):
    """Mirrors the last two dims of (C, H, W) or (N, C, H, W) without repeating the edge."""
    _dims = 2


class ReflectionPad3d(_ReflectionPadNd):
    """Mirrors the last three dims of (C, D, H, W) or (N, C, D, H, W) without repeating the edge."""
    _dims = 3


class _ReplicationPadNd(_PadNd):
    _mode = "replicate"


class ReplicationPad1d(_ReplicationPadNd):
    """Repeats the edge values of the last dim of (C, W) or (N, C, W)."""
    _dims = 1


class ReplicationPad2d(_ReplicationPadNd):
    """Repeats the edge values of the last two dims of (C, H, W) or (N, C, H, W)."""
    _dims = 2


class ReplicationPad3d(_ReplicationPadNd):
    """Repeats the edge values of the last three dims of (C, D, H, W) or (N, C, D, H, W)."""
    _dims = 3


class _ConstantPadNd(_PadNd):
    def __init__(self, padding, value: float) -> None:
        super().__init__(padding)
        self.value = value

    def forward(self, input):
        return F.pad(input, self.padding, "constant", self.value)

    def extra_repr(self) -> str:
        return f"padding={self.padding}, value={self.value}"


class ConstantPad1d(_ConstantPadNd):
    """Pads the last dim with `value` (any rank >= 1; negative padding crops)."""
    _dims = 1


class ConstantPad2d(_ConstantPadNd):
    """Pads the last two dims with `value` (any rank >= 2; negative padding crops)."""
    _dims = 2


class ConstantPad3d(_ConstantPadNd):
    """Pads the last three dims with `value` (any rank >= 3; negative padding crops)."""
    _dims = 3


class ZeroPad1d(ConstantPad1d):
    """Pads the last dim with zeros."""

    def __init__(self, padding) -> None:
        super().__init__(padding, 0.0)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class ZeroPad2d(ConstantPad2d):
    """Pads the last two dims with zeros."""

    def __init__(self, padding) -> None:
        super().__init__(padding, 0.0)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class ZeroPad3d(ConstantPad3d):
    """Pads the last three dims with zeros."""

    def __init__(self, padding) -> None:
        super().__init__(padding, 0.0)

    def extra_repr(self) -> str:
        return f"{self.padding}"
