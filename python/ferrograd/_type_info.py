"""What PyTorch code asks about dtypes: ``finfo`` and ``iinfo`` (the limits attention masks and
numerical guards are written with, ``finfo(dtype).min``, ``finfo(dtype).eps``), the promotion
queries ``promote_types``, ``result_type`` and ``can_cast`` (the core's own rules, which every
op uses), and ``layout`` with its one value, ``strided``."""

from __future__ import annotations

import numpy as np

from . import _core


def _dtype_arg(fn: str, d):
    if not isinstance(d, _core.dtype):
        raise TypeError(f"{fn}(): argument 'type' (position 1) must be ferrograd.dtype, not {type(d).__name__}")
    return d


# bfloat16 is not numpy's: its limits written out (8 exponent bits as float32, 8 of mantissa).
_BFLOAT16 = {"bits": 16, "eps": 0.0078125, "max": 3.3895313892515355e38, "tiny": 1.1754943508222875e-38, "resolution": 0.01}


class finfo:
    """Limits of a floating-point dtype (the default dtype when none is given), as PyTorch's
    ``torch.finfo``: ``bits eps max min tiny smallest_normal resolution`` and ``dtype`` (its name)."""

    __slots__ = ("bits", "eps", "max", "min", "tiny", "smallest_normal", "resolution", "dtype")

    def __init__(self, type=None):
        from ._creation import get_default_dtype

        d = get_default_dtype() if type is None else _dtype_arg("finfo", type)
        if not d.is_floating_point:
            raise TypeError("ferrograd.finfo() requires a floating point input type. Use ferrograd.iinfo to handle 'ferrograd.finfo'")
        if d == _core.bfloat16:
            v = _BFLOAT16
        else:
            f = np.finfo(d.numpy_name)
            v = {"bits": f.bits, "eps": float(f.eps), "max": float(f.max), "tiny": float(f.tiny), "resolution": 10.0 ** -f.precision}
        self.bits, self.eps, self.max, self.min = int(v["bits"]), v["eps"], v["max"], -v["max"]
        self.tiny = self.smallest_normal = v["tiny"]
        self.resolution, self.dtype = v["resolution"], d.numpy_name

    def __eq__(self, other) -> bool:
        return isinstance(other, finfo) and other.dtype == self.dtype

    def __hash__(self) -> int:
        return hash(("finfo", self.dtype))

    def __repr__(self) -> str:
        return (f"finfo(resolution={self.resolution:g}, min={self.min:g}, max={self.max:g}, eps={self.eps:g}, "
                f"smallest_normal={self.smallest_normal:g}, tiny={self.tiny:g}, dtype={self.dtype})")


class iinfo:
    """Limits of an integer dtype, as PyTorch's ``torch.iinfo``: ``bits max min`` and ``dtype``."""

    __slots__ = ("bits", "max", "min", "dtype")

    def __init__(self, type):
        d = _dtype_arg("iinfo", type)
        if d == _core.bool:
            raise TypeError("ferrograd.bool is not supported by ferrograd.iinfo")
        if d.is_floating_point:
            raise TypeError("ferrograd.iinfo() requires an integer input type. Use ferrograd.finfo to handle 'ferrograd.iinfo'")
        i = np.iinfo(d.numpy_name)
        self.bits, self.max, self.min, self.dtype = i.bits, int(i.max), int(i.min), d.numpy_name

    def __eq__(self, other) -> bool:
        return isinstance(other, iinfo) and other.dtype == self.dtype

    def __hash__(self) -> int:
        return hash(("iinfo", self.dtype))

    def __repr__(self) -> str:
        return f"iinfo(min={self.min:g}, max={self.max:g}, dtype={self.dtype})"


def promote_types(type1, type2):
    """The dtype two dtypes promote to (``promote_types(uint8, int8)`` is int16)."""
    return _core._promote_types(_dtype_arg("promote_types", type1), _dtype_arg("promote_types", type2))


def result_type(tensor1, tensor2):
    """The dtype of ``tensor1 op tensor2`` (tensors or Python numbers), by the rules ops use: a
    number, or a 0-d tensor, widens only to a higher category (uint8 tensor with 300: uint8)."""
    return _core._result_type(tensor1, tensor2)


def can_cast(from_, to) -> bool:
    """Whether a result of dtype ``from_`` may be written into a ``to`` tensor (no float into an
    integer, no number into a bool)."""
    return _core._can_cast(_dtype_arg("can_cast", from_), _dtype_arg("can_cast", to))


class _Named:
    """A named constant of ferrograd's namespace (``ferrograd.strided``), printed as such and
    pickled by name, so it loads as the same object."""

    __slots__ = ("_name",)

    def __init__(self, name: str):
        self._name = name

    def __repr__(self) -> str:
        return f"ferrograd.{self._name}"

    def __reduce__(self):
        return self._name  # the global of that name in the subclass's module


class layout(_Named):
    """A tensor's memory layout. ferrograd tensors are dense and strided: ``strided`` is the one."""

    __slots__ = ()


strided = layout("strided")
