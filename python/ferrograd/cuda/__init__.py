"""`fg.cuda`: present so `device = "cuda" if fg.cuda.is_available() else "cpu"` works, and so
`fg.cuda.amp.GradScaler()` / `fg.cuda.amp.autocast()` lines run (see `fg.amp`)."""

from . import amp


def is_available() -> bool:
    return False


def device_count() -> int:
    return 0


def manual_seed(seed: int) -> None:
    """No CUDA generator exists; accepted so seeding code written for GPUs runs."""


def manual_seed_all(seed: int) -> None:
    """See manual_seed."""


def empty_cache() -> None:
    """Nothing is cached on a GPU; as PyTorch's when CUDA was never initialised."""


__all__ = ["amp", "device_count", "empty_cache", "is_available", "manual_seed", "manual_seed_all"]
