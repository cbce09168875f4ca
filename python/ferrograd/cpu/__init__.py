"""`fg.cpu`: the CPU device module, as `torch.cpu` (ferrograd's only device)."""

from . import amp


def is_available() -> bool:
    return True


def device_count() -> int:
    return 1


def current_device() -> str:
    return "cpu"


def synchronize(device=None) -> None:
    """Nothing to wait for: every ferrograd op has finished when it returns."""


__all__ = ["amp", "current_device", "device_count", "is_available", "synchronize"]
