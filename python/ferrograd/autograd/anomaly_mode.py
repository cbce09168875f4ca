"""Anomaly detection: `detect_anomaly()` and `set_detect_anomaly(mode)`, as PyTorch's. While it
is on, backward checks every gradient a node returns and raises at the first NaN, naming the node
that made it ("Function 'DivBackward0' returned nan values in its 0th output."). PyTorch also
prints the forward traceback of that node; ferrograd does not record it."""

from __future__ import annotations

import warnings

from .. import _core
from .grad_mode import _DecoratorContextManager

__all__ = ["detect_anomaly", "set_detect_anomaly"]


# (enabled, check_nan) as PyTorch reports them; the core holds whether to check, which is
# what ferrograd's anomaly mode does.
_state = [False, True]


def _set(enabled: bool, check_nan: bool) -> None:
    _state[0], _state[1] = bool(enabled), bool(check_nan)
    _core._set_anomaly_enabled(_state[0] and _state[1])


def is_anomaly_enabled() -> bool:
    return _state[0]


class detect_anomaly(_DecoratorContextManager):
    """A context manager (or decorator) that turns anomaly detection on inside it.
    ``check_nan=False`` leaves the NaN check, the only check ferrograd makes, off."""

    def __init__(self, check_nan: bool = True) -> None:
        self.check_nan = check_nan
        self.prev = tuple(_state)
        warnings.warn("Anomaly Detection has been enabled. This mode will increase the runtime and should only be enabled "
                      "for debugging.", stacklevel=2)

    def __enter__(self) -> None:
        self.prev = tuple(_state)
        _set(True, self.check_nan)

    def __exit__(self, *exc) -> None:
        _set(*self.prev)

    def clone(self):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return type(self)(self.check_nan)


class set_detect_anomaly:
    """``set_detect_anomaly(mode)`` takes effect when called; as a context manager it restores
    the previous mode on exit."""

    def __init__(self, mode: bool, check_nan: bool = True) -> None:
        self.prev = tuple(_state)
        _set(mode, check_nan)

    def __enter__(self) -> None:
        pass

    def __exit__(self, *exc) -> None:
        _set(*self.prev)


def set_anomaly_enabled(enabled: bool, check_nan: bool = True) -> None:
    """``torch.set_anomaly_enabled``: anomaly detection on or off."""
    _set(enabled, check_nan)


def is_anomaly_check_nan_enabled() -> bool:
    return _state[1]
