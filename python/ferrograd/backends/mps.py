"""``fg.backends.mps``: Apple's Metal backend is not part of ferrograd."""


def is_available() -> bool:
    return False


def is_built() -> bool:
    return False


def is_macos_or_newer(major: int, minor: int) -> bool:
    return False
