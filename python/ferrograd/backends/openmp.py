"""``fg.backends.openmp``: ferrograd parallelises with a Rust thread pool (rayon), not OpenMP."""


def is_available() -> bool:
    return False
