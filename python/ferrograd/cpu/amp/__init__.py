"""`fg.cpu.amp`: PyTorch's deprecated spellings of `fg.amp.autocast("cpu")` and
`fg.amp.GradScaler("cpu")`, with PyTorch's FutureWarning."""

from __future__ import annotations

from ...amp._deprecated import device_spellings

autocast, GradScaler = device_spellings("cpu", __name__)

__all__ = ["GradScaler", "autocast"]
