"""PyTorch's deprecated per-device spellings (`torch.cuda.amp.autocast`, `torch.cpu.amp.GradScaler`
...): subclasses of `fg.amp`'s classes bound to one device that warn as PyTorch's do
(FutureWarning). `fg.cuda.amp` and `fg.cpu.amp` each make theirs here."""

from __future__ import annotations

import warnings

from .autocast_mode import autocast as _autocast
from .grad_scaler import GradScaler as _GradScaler


def device_spellings(device: str, module: str):
    """`(autocast, GradScaler)` for `fg.<device>.amp`, defined in `module`."""

    def _warn(name: str) -> None:
        warnings.warn(
            f"`fg.{device}.amp.{name}(args...)` is deprecated. Please use `fg.amp.{name}('{device}', args...)` instead.",
            FutureWarning,
            stacklevel=3,
        )

    class autocast(_autocast):  # noqa: N801 (PyTorch's name)
        def __init__(self, enabled: bool = True, dtype=None, cache_enabled: bool = True) -> None:
            _warn("autocast")
            super().__init__(device, dtype=dtype, enabled=enabled, cache_enabled=cache_enabled)

    class GradScaler(_GradScaler):
        def __init__(
            self,
            init_scale: float = 2.0**16,
            growth_factor: float = 2.0,
            backoff_factor: float = 0.5,
            growth_interval: int = 2000,
            enabled: bool = True,
        ) -> None:
            _warn("GradScaler")
            super().__init__(device, init_scale, growth_factor, backoff_factor, growth_interval, enabled)

    for cls in (autocast, GradScaler):
        cls.__module__, cls.__qualname__ = module, cls.__name__
    return autocast, GradScaler
