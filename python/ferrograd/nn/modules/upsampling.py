"""Upsample, UpsamplingNearest2d and UpsamplingBilinear2d: F.interpolate as layers."""

from __future__ import annotations

from .._functional_sample import interpolate
from ..module import Module

__all__ = ["Upsample", "UpsamplingNearest2d", "UpsamplingBilinear2d"]


class Upsample(Module):
    """Resamples (N, C, W), (N, C, H, W) or (N, C, D, H, W) inputs to `size` or by `scale_factor`
    with F.interpolate's `mode` ('nearest', 'linear', 'bilinear', 'bicubic', 'trilinear', ...).

    Args:
        size: output spatial size (int or tuple).
        scale_factor: multiplier of the spatial size (float or tuple of floats).
        mode: interpolation mode, default 'nearest'.
        align_corners: for the interpolating modes only (default False there).
        recompute_scale_factor: True places the samples by in / out instead of the given factor.

    Shape: (N, C, *in) -> (N, C, *out) with out = size or floor(in * scale_factor).
    """

    def __init__(self, size=None, scale_factor=None, mode: str = "nearest", align_corners: bool | None = None,
                 recompute_scale_factor: bool | None = None) -> None:
        super().__init__()
        self.name = type(self).__name__
        self.size = size
        if isinstance(scale_factor, tuple):
            self.scale_factor = tuple(float(factor) for factor in scale_factor)
        else:
            self.scale_factor = float(scale_factor) if scale_factor else None
        self.mode = mode
        self.align_corners = align_corners
        self.recompute_scale_factor = recompute_scale_factor

    def forward(self, input):
        return interpolate(input, self.size, self.scale_factor, self.mode, self.align_corners,
                           recompute_scale_factor=self.recompute_scale_factor)

    def extra_repr(self) -> str:
        if self.scale_factor is not None:
            info = "scale_factor=" + repr(self.scale_factor)
        else:
            info = "size=" + repr(self.size)
        return info + ", mode=" + repr(self.mode)


class UpsamplingNearest2d(Upsample):
    """Upsample(size, scale_factor, mode='nearest') for (N, C, H, W) inputs."""

    def __init__(self, size=None, scale_factor=None) -> None:
        super().__init__(size, scale_factor, mode="nearest")


class UpsamplingBilinear2d(Upsample):
    """Upsample(size, scale_factor, mode='bilinear', align_corners=True) for (N, C, H, W) inputs."""

    def __init__(self, size=None, scale_factor=None) -> None:
        super().__init__(size, scale_factor, mode="bilinear", align_corners=True)
