"""``fg.backends.cudnn``: cuDNN is never used (ferrograd has no GPU backend), so ``is_available()``
is False; the flags scripts set (``benchmark``, ``deterministic``, ...) are stored and read back
with PyTorch's defaults, and have no effect."""

from __future__ import annotations

import contextlib

enabled = True
benchmark = False
benchmark_limit = 10
deterministic = False
allow_tf32 = True


def is_available() -> bool:
    return False


def version() -> int | None:
    """None: no cuDNN library is loaded (as PyTorch without CUDA)."""
    return None


def is_acceptable(tensor) -> bool:
    return False


def _set(**values) -> dict:
    g = globals()
    old = {k: g[k] for k in values}
    g.update(values)
    return old


@contextlib.contextmanager
def flags(enabled=False, benchmark=False, benchmark_limit=10, deterministic=False, allow_tf32=True):
    """Sets the flags for the ``with`` body and restores them after, as ``torch.backends.cudnn.flags``."""
    old = _set(enabled=enabled, benchmark=benchmark, benchmark_limit=benchmark_limit, deterministic=deterministic, allow_tf32=allow_tf32)
    try:
        yield
    finally:
        _set(**old)
