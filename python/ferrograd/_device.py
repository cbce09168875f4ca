"""The device API of CPU-only ferrograd, so PyTorch scripts that pick a device run unchanged."""

from __future__ import annotations


class device:
    """`fg.device("cpu")`. Any other device type is an error that says why."""

    __slots__ = ("type", "index")

    def __init__(self, type: str | "device" = "cpu", index: int | None = None):
        if isinstance(type, device):
            type, index = type.type, type.index
        if not isinstance(type, str):
            raise TypeError(f"device(): expected a string such as 'cpu', got {type!r}")
        kind, _, idx = type.partition(":")
        if kind != "cpu":
            raise RuntimeError(
                f"ferrograd runs on the CPU only; device {type!r} is not available (fg.cuda.is_available() is False)"
            )
        self.type = "cpu"
        self.index = int(idx) if idx else index

    def __repr__(self) -> str:
        return "device(type='cpu')" if self.index is None else f"device(type='cpu', index={self.index})"

    def __str__(self) -> str:
        return "cpu" if self.index is None else f"cpu:{self.index}"

    def __eq__(self, other) -> bool:
        if isinstance(other, str):
            try:
                other = device(other)
            except RuntimeError:
                return False
        return isinstance(other, device) and other.type == self.type

    def __hash__(self) -> int:
        return hash(self.type)


CPU = device("cpu")


def check_device(d) -> None:
    if d is not None:
        device(d)
