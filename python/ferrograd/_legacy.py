"""PyTorch's legacy tensor API that old scripts still use: ``fg.FloatTensor([1, 2])``,
``fg.LongTensor(2, 3)``, ``isinstance(t, fg.FloatTensor)``, ``t.type()`` / ``t.type(dtype)``,
and ``f"{loss:.4f}"`` on a 0-d tensor (``Tensor.__format__``).

``fg.Tensor(data)`` / ``fg.Tensor(2, 3)`` follow the same rules with the default dtype
(``tensor_new``); ``Tensor`` is the Rust class, whose constructor calls ``tensor_new`` for these forms.
"""

from __future__ import annotations

import numbers

import numpy as np

from . import _core, _creation
from ._core import Tensor
from ._device import check_device
from ._size import Size

# PyTorch's legacy type names, by dtype. Only the dtypes the core has get a class.
_TYPE_NAMES = {
    "float32": "FloatTensor", "float64": "DoubleTensor", "float16": "HalfTensor", "bfloat16": "BFloat16Tensor",
    "int64": "LongTensor", "int32": "IntTensor", "int16": "ShortTensor", "int8": "CharTensor",
    "uint8": "ByteTensor", "bool": "BoolTensor",
}
_DTYPE_BY_TYPE_NAME = {v: k for k, v in _TYPE_NAMES.items()}

_SIGNATURES = (
    " * (*, device device = None)\n * (Tensor other)\n * (tuple of ints size, *, device device = None)\n"
    " * (object data, *, device device = None)"
)


def _qualified(t: type) -> str:
    return t.__name__ if t.__module__ == "builtins" else f"{t.__module__}.{t.__name__}"


def _type_name(x) -> str:
    return _qualified(type(x))


def _is_int(x) -> bool:
    return isinstance(x, numbers.Integral) and not isinstance(x, (bool, np.bool_))


def _invalid_combination(args, kwargs):
    got = ", ".join([_type_name(a) for a in args] + [f"{k}={_type_name(v)}" for k, v in kwargs.items()])
    return TypeError(f"new() received an invalid combination of arguments - got ({got}), but expected one of:\n{_SIGNATURES}")


def _legacy_new(dtype, args, kwargs, keep_tensor_dtype: bool) -> Tensor:
    """The constructor rules of ``torch.Tensor`` and ``torch.FloatTensor`` & co:

    - no argument: an empty 1-d tensor;
    - a Tensor: that tensor (same storage); a typed constructor refuses another dtype;
    - a ``Size`` or int arguments: a tensor of that shape (zero-filled, where PyTorch leaves the
      memory uninitialised, as ``fg.empty``);
    - anything else is data (nested sequences, numpy arrays) converted to the dtype.
    """
    if set(kwargs) - {"device"}:
        raise _invalid_combination(args, kwargs)
    check_device(kwargs.get("device"))
    if not args:
        return _creation.zeros(0, dtype=dtype)
    if len(args) > 1:
        if not all(_is_int(a) for a in args):
            raise _invalid_combination(args, kwargs)
        return _creation.zeros(*(int(a) for a in args), dtype=dtype)
    (a,) = args
    if isinstance(a, Tensor):
        if not keep_tensor_dtype and a.dtype != dtype:
            raise TypeError(f"expected {dtype} (got {a.dtype})")
        return a
    if isinstance(a, Size):
        return _creation.zeros(a, dtype=dtype)
    if _is_int(a):
        return _creation.zeros(int(a), dtype=dtype)
    if isinstance(a, (str, bytes)):
        raise TypeError(f"new(): invalid data type '{_type_name(a)}'")
    if isinstance(a, (numbers.Number, np.generic)):
        raise TypeError(f"new(): data must be a sequence (got {_type_name(a)})")
    return _creation.tensor(a, dtype=dtype)


def tensor_new(*args, **kwargs) -> Tensor:
    """``fg.Tensor(...)`` with legacy arguments: as ``fg.FloatTensor`` but in the default dtype
    (``fg.get_default_dtype()``), and a Tensor argument keeps its own dtype (as PyTorch)."""
    return _legacy_new(_creation.get_default_dtype(), args, kwargs, keep_tensor_dtype=True)


class _LegacyTensorType(type):
    """The metaclass of ``FloatTensor`` & co: calling the class builds a plain ``Tensor`` of its
    dtype, and ``isinstance(t, FloatTensor)`` asks whether ``t`` is a float32 Tensor. As in
    PyTorch these are not subclasses of ``Tensor``."""

    dtype: _core.dtype

    def __call__(cls, *args, **kwargs) -> Tensor:
        return _legacy_new(cls.dtype, args, kwargs, keep_tensor_dtype=False)

    def __instancecheck__(cls, obj) -> bool:
        return isinstance(obj, Tensor) and obj.dtype == cls.dtype

    def __repr__(cls) -> str:
        return f"<class 'ferrograd.{cls.__name__}'>"


def _legacy_class(dtype_name: str, type_name: str):
    doc = f"``{type_name}(data)`` or ``{type_name}(*sizes)``: a {dtype_name} tensor (legacy constructor)."
    attrs = {"dtype": getattr(_core, dtype_name), "is_cuda": False, "is_sparse": False, "__module__": "ferrograd", "__doc__": doc}
    return _LegacyTensorType(type_name, (), attrs)


_CLASSES = {tn: _legacy_class(dn, tn) for dn, tn in _TYPE_NAMES.items() if isinstance(getattr(_core, dn, None), _core.dtype)}
globals().update(_CLASSES)
__all__ = sorted(_CLASSES)


# ---- Tensor.type and Tensor.__format__ ------------------------------------------------------------


def _dtype_from_type_string(s: str):
    name = s
    for prefix in ("torch.", "ferrograd."):
        if name.startswith(prefix):
            name = name[len(prefix):]
            break
    else:
        raise ValueError(f"invalid type: '{s}'")
    if name.startswith("cuda."):
        raise RuntimeError(f"Tensor.type({s!r}): ferrograd runs on the CPU only (fg.cuda.is_available() is False)")
    if name == "Tensor":
        return _creation.get_default_dtype()
    dtype = getattr(_core, _DTYPE_BY_TYPE_NAME.get(name, ""), None)
    if isinstance(dtype, _core.dtype):
        return dtype
    if name in _DTYPE_BY_TYPE_NAME:
        raise TypeError(f"Tensor.type({s!r}): ferrograd has no {_DTYPE_BY_TYPE_NAME[name]} dtype")
    raise ValueError(f"invalid type: '{s}'")


def _tensor_type(self, dtype=None, non_blocking=False):
    """With no argument, the legacy type name as PyTorch spells it (``'torch.FloatTensor'``:
    scripts compare this string, so it is PyTorch's exactly). With a dtype, a type string such
    as ``'torch.DoubleTensor'`` or a legacy class such as ``fg.LongTensor``, the tensor cast to
    it (``self`` when it already has that dtype). ``non_blocking`` is accepted and ignored."""
    if dtype is None:
        return "torch." + _TYPE_NAMES.get(self.dtype.numpy_name, "Tensor")
    if isinstance(dtype, str):
        target = _dtype_from_type_string(dtype)
    elif isinstance(dtype, _LegacyTensorType):
        target = dtype.dtype
    elif dtype is Tensor:
        target = _creation.get_default_dtype()
    elif isinstance(dtype, _core.dtype):
        target = dtype
    else:
        raise ValueError(f"invalid type: '{_qualified(dtype)}'" if isinstance(dtype, type) else f"invalid type: {dtype!r}")
    return self if self.dtype == target else self.to(target)


def _tensor_format(self, format_spec: str) -> str:
    """A 0-d tensor formats as its Python number (``f"{loss:.4f}"``); any other tensor accepts
    only the empty spec, as PyTorch (which also leaves subclasses such as Parameter to
    ``object.__format__``)."""
    if self.dim() == 0 and type(self) is Tensor:
        return self.detach().item().__format__(format_spec)
    return object.__format__(self, format_spec)


Tensor.type = _tensor_type
Tensor.__format__ = _tensor_format
