"""`fg.cuda.amp`: PyTorch's deprecated spellings of `fg.amp.autocast("cuda")` and
`fg.amp.GradScaler("cuda")`. They warn as PyTorch's do (FutureWarning), and behave as PyTorch's on a
machine without CUDA: the scaler disables itself, autocast computes in full precision."""

from __future__ import annotations

from ...amp import custom_bwd, custom_fwd
from ...amp._deprecated import device_spellings

autocast, GradScaler = device_spellings("cuda", __name__)

__all__ = ["GradScaler", "autocast", "custom_bwd", "custom_fwd"]
