"""``fg.backends.mkldnn``: ferrograd's CPU kernels are its own (Rust), not oneDNN, so
``is_available()`` is False; ``enabled`` is accepted and stored."""

enabled = True


def is_available() -> bool:
    return False
