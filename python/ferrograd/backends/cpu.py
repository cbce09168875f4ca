"""``fg.backends.cpu``."""


def get_cpu_capability() -> str:
    """PyTorch names the SIMD level its kernels were dispatched to; ferrograd's kernels are
    compiled for the build machine's baseline and dispatch nothing at run time."""
    return "DEFAULT"
