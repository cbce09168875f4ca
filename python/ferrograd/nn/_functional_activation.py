"""nn.functional activations beyond the fused ones in functional.py."""

from __future__ import annotations

__all__: list[str] = []
