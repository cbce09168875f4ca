"""``fg.amp``: automatic mixed precision, as documented pass-throughs.

ferrograd computes in float32 (or float64) on the CPU and has no float16/bfloat16 kernels, so
``autocast`` regions run exactly as the code outside them (see ``autocast``), and ``GradScaler``
is PyTorch's loss scaler: disabled (``scale()`` returns its input, ``step()`` calls
``optimizer.step()``) when made for a GPU device, scaling for real when made with ``"cpu"``.
"""

from .autocast_mode import autocast, custom_bwd, custom_fwd, is_autocast_available
from .grad_scaler import GradScaler, OptState

__all__ = ["GradScaler", "OptState", "autocast", "custom_bwd", "custom_fwd", "is_autocast_available"]
