"""nn.functional resampling: interpolate/upsample, grid_sample and affine_grid."""

from __future__ import annotations

__all__: list[str] = []
