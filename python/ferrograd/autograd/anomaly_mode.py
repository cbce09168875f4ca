"""Anomaly detection: `detect_anomaly()` and `set_detect_anomaly(mode)`, as PyTorch's. While it
is on, backward checks every gradient a node returns and raises at the first NaN, naming the node
that made it ("Function 'DivBackward0' returned nan values in its 0th output."). PyTorch also
prints the forward traceback of that node; ferrograd does not record it."""

from __future__ import annotations

import warnings

from .. import _core
from .grad_mode import _DecoratorContextManager

__all__ = ["detect_anomaly", "set_detect_anomaly"]


class detect_anomaly(_DecoratorContextManager):
    """A context manager (or decorator) that turns anomaly detection on inside it.
    ``check_nan=False`` leaves the NaN check, the only check ferrograd makes, off."""

    def __init__(self, check_nan: bool = True) -> None:
        self.check_nan = check_nan
        self.prev = _core.is_anomaly_enabled()
        warnings.warn("Anomaly Detection has been enabled. This mode will increase the runtime and should only be enabled "
                      "for debugging.", stacklevel=2)

    def __enter__(self) -> None:
        self.prev = _core.is_anomaly_enabled()
        _core._set_anomaly_enabled(self.check_nan)

    def __exit__(self, *exc) -> None:
        _core._set_anomaly_enabled(self.prev)

    def clone(self):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return type(self)(self.check_nan)


class set_detect_anomaly:
    """``set_detect_anomaly(mode)`` takes effect when called; as a context manager it restores
    the previous mode on exit."""

    def __init__(self, mode: bool, check_nan: bool = True) -> None:
        self.prev = _core.is_anomaly_enabled()
        _core._set_anomaly_enabled(bool(mode) and check_nan)

    def __enter__(self) -> None:
        pass

    def __exit__(self, *exc) -> None:
        _core._set_anomaly_enabled(self.prev)


def set_anomaly_enabled(enabled: bool, check_nan: bool = True) -> None:
    """``torch.set_anomaly_enabled``: anomaly detection on or off."""
    _core._set_anomaly_enabled(bool(enabled) and check_nan)


def is_anomaly_check_nan_enabled() -> bool:
    return _core.is_anomaly_enabled()
