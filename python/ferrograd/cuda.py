"""`fg.cuda`: present so `device = "cuda" if fg.cuda.is_available() else "cpu"` works."""


def is_available() -> bool:
    return False


def device_count() -> int:
    return 0


def manual_seed(seed: int) -> None:
    """No CUDA generator exists; accepted so seeding code written for GPUs runs."""


def manual_seed_all(seed: int) -> None:
    """See manual_seed."""
