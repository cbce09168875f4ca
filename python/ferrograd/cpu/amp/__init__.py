"""`fg.cpu.amp`: PyTorch's deprecated spellings of `fg.amp.autocast("cpu")` and
`fg.amp.GradScaler("cpu")`, with PyTorch's FutureWarning."""

from __future__ import annotations

import warnings

from ...amp import autocast as _autocast
from ...amp.grad_scaler import GradScaler as _GradScaler


class autocast(_autocast):  # noqa: N801 (PyTorch's name)
    def __init__(self, enabled: bool = True, dtype=None, cache_enabled: bool = True) -> None:
        warnings.warn(
            "`fg.cpu.amp.autocast(args...)` is deprecated. Please use `fg.amp.autocast('cpu', args...)` instead.",
            FutureWarning,
            stacklevel=2,
        )
        super().__init__("cpu", dtype=dtype, enabled=enabled, cache_enabled=cache_enabled)


class GradScaler(_GradScaler):
    def __init__(
        self,
        init_scale: float = 2.0**16,
        growth_factor: float = 2.0,
        backoff_factor: float = 0.5,
        growth_interval: int = 2000,
        enabled: bool = True,
    ) -> None:
        warnings.warn(
            "`fg.cpu.amp.GradScaler(args...)` is deprecated. Please use `fg.amp.GradScaler('cpu', args...)` instead.",
            FutureWarning,
            stacklevel=2,
        )
        super().__init__("cpu", init_scale, growth_factor, backoff_factor, growth_interval, enabled)


__all__ = ["GradScaler", "autocast"]
