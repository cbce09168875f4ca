"""nn.functional padding, pixel/channel shuffles, fold/unfold, one_hot and normalize."""

from __future__ import annotations

__all__: list[str] = []
