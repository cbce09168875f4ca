"""``fg.accelerator``: as ``torch.accelerator`` on a machine without one. ferrograd runs on the
CPU only, and PyTorch does not count the CPU as an accelerator, so scripts that write
``device = fg.accelerator.current_accelerator() or "cpu"`` pick the CPU."""

from __future__ import annotations


def is_available() -> bool:
    return False


def current_accelerator(check_available: bool = False):
    """None: there is no accelerator (PyTorch returns None for a CPU-only build)."""
    return None


def device_count() -> int:
    return 0


__all__ = ["current_accelerator", "device_count", "is_available"]
