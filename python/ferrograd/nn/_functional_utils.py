"""Helpers shared by the nn.functional modules: argument parsing and the explicit `training` flag."""

from __future__ import annotations

import operator

from .._core import Tensor
from .._traced import traced  # noqa: F401 (the nn.functional modules import it from here)


class _Required:
    def __repr__(self) -> str:
        return "<required>"


_REQUIRED = _Required()


def _training(fn: str, training) -> bool:
    if training is _REQUIRED:
        raise TypeError(
            f"F.{fn}() needs `training` given explicitly, e.g. F.{fn}(x, p, training=self.training). "
            "PyTorch defaults it to True, which keeps dropout active after model.eval() (PyTorch issue #26338); "
            "ferrograd makes you choose."
        )
    if not isinstance(training, bool):
        raise TypeError(f"F.{fn}(): training must be a bool, got {type(training).__name__}")
    return training


def _prod(xs) -> int:
    n = 1
    for x in xs:
        n *= x
    return n



def _pair(name: str, value, fn: str) -> tuple[int, int]:
    """An int, or a tuple/list of one or two ints, as (h, w)."""
    if isinstance(value, (tuple, list)):
        items = tuple(value)
        if len(items) == 1:
            items = items * 2
        if len(items) != 2:
            raise RuntimeError(f"{fn}: {name} must be a single int or a tuple of two ints, but got {name}={value!r}")
    else:
        items = (value, value)
    try:
        return tuple(operator.index(v) for v in items)  # type: ignore[return-value]
    except TypeError:
        raise TypeError(f"{fn}: {name} must be an int or a tuple of ints, got {value!r}") from None


def _batched(fn: str, input: Tensor) -> bool:
    """True for (N, C, H, W), False for an unbatched (C, H, W) input; other ranks are errors."""
    if input.ndim == 4:
        return True
    if input.ndim == 3:
        return False
    raise RuntimeError(
        f"{fn}: expected a 3-D (unbatched C, H, W) or 4-D (batched N, C, H, W) input, "
        f"but got input of size: {list(input.shape)}"
    )

