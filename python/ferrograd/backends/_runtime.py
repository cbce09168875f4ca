"""Process-wide switches PyTorch exposes at the top level: ``fg.use_deterministic_algorithms``
and ``fg.get_num_threads`` / ``fg.set_num_threads`` (re-exported by ``ferrograd``)."""

from __future__ import annotations

import os
import warnings

from .. import _core

_deterministic = False
_warn_only = False


def use_deterministic_algorithms(mode: bool, *, warn_only: bool = False) -> None:
    """Recorded and read back by ``are_deterministic_algorithms_enabled()``. ferrograd's kernels
    have no nondeterministic variants to switch off: reductions add their partial sums in a fixed
    order and random ops do not depend on the thread count, so a seeded run repeats bit for bit
    either way."""
    global _deterministic, _warn_only
    if not isinstance(mode, bool) or not isinstance(warn_only, bool):
        raise TypeError(f"use_deterministic_algorithms(): expected bools, got mode={mode!r}, warn_only={warn_only!r}")
    _deterministic, _warn_only = mode, warn_only


def are_deterministic_algorithms_enabled() -> bool:
    return _deterministic


def is_deterministic_algorithms_warn_only_enabled() -> bool:
    return _warn_only


def get_num_threads() -> int:
    """The number of threads ferrograd's kernels run on (the Rust pool's size)."""
    if hasattr(_core, "get_num_threads"):
        return _core.get_num_threads()
    env = os.environ.get("RAYON_NUM_THREADS", "")
    if env.isdigit() and int(env) > 0:
        return int(env)
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


_warned_fixed_pool = False


def set_num_threads(num: int) -> None:
    """Sets the kernels' thread count where the core allows it. When the pool is fixed at start-up
    (size from the ``RAYON_NUM_THREADS`` environment variable), a different count warns once and
    changes nothing: set ``RAYON_NUM_THREADS`` before starting Python instead."""
    global _warned_fixed_pool
    if not isinstance(num, int) or isinstance(num, bool) or num <= 0:
        raise RuntimeError("set_num_threads expects a positive integer")
    if hasattr(_core, "set_num_threads"):
        _core.set_num_threads(num)
    elif num != get_num_threads() and not _warned_fixed_pool:
        _warned_fixed_pool = True
        warnings.warn(
            f"set_num_threads({num}): ferrograd's thread pool size is fixed when it starts "
            f"({get_num_threads()} threads); set RAYON_NUM_THREADS={num} in the environment before starting Python",
            UserWarning,
            stacklevel=2,
        )


# ---- settings PyTorch scripts set for GPUs or its own runtime, kept so they run here ------------

_matmul_precision = "highest"


def set_float32_matmul_precision(precision: str) -> None:
    """Accepted as in PyTorch ("highest", "high" or "medium"). On a GPU it lets float32 products
    run in TF32 or bfloat16; ferrograd's CPU products are float32 whatever it says."""
    global _matmul_precision
    if precision not in ("highest", "high", "medium"):
        raise RuntimeError(f"Invalid precision {precision!r}: expected one of 'highest', 'high', 'medium'")
    _matmul_precision = precision


def get_float32_matmul_precision() -> str:
    return _matmul_precision


_interop_threads = 1


def set_num_interop_threads(num: int) -> None:
    """Accepted as in PyTorch: ferrograd runs ops one at a time, so there is no inter-op pool."""
    global _interop_threads
    if not isinstance(num, int) or isinstance(num, bool) or num <= 0:
        raise RuntimeError("Expected positive number of threads")
    _interop_threads = num


def get_num_interop_threads() -> int:
    return _interop_threads
