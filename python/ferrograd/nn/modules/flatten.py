"""Unflatten (Flatten lives in linear.py with the other shape-only layers)."""

from __future__ import annotations

__all__: list[str] = []
