"""Lazy modules: parameters whose shape is inferred from the first input."""

from __future__ import annotations

__all__: list[str] = []
