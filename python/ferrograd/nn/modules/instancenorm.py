"""InstanceNorm1d/2d/3d: per-sample, per-channel normalisation, optionally with running stats."""

from __future__ import annotations

__all__: list[str] = []
