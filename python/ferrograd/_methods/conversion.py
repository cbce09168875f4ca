"""Conversions that change nothing return the tensor itself, as PyTorch's do: `t.to(t.dtype) is t`,
`t.float() is t` for a float32 `t`, `t.contiguous() is t` when `t` is contiguous.

Code relies on that identity: `p.float()` on a float32 Parameter is still that Parameter (so an
optimizer or a dict keyed by it still finds it), and `x = x.to(dtype)` keeps `x`'s Python
attributes and `is` checks. The core's methods return a new Python object around the same tensor,
so these wrappers hand back `self` instead and leave every real conversion, `copy=True` and the
checking of arguments to the core's method.
"""

from __future__ import annotations

import functools

from .. import _core
from .._memory_format import (
    contiguous_format,
    in_format,
    is_contiguous_as,
    keep_layout,
    like_strides,
    preserve_format,
    restrided,
)

Tensor = _core.Tensor

# The casts named after a dtype, and that dtype.
_CASTS = {"float": "float32", "double": "float64", "half": "float16", "bfloat16": "bfloat16", "long": "int64",
          "int": "int32", "short": "int16", "char": "int8", "byte": "uint8", "bool": "bool"}  # fmt: skip


def _replace_native(name: str, make_wrapper, keeps_signature: bool = True) -> None:
    """`keeps_signature`: the wrapper takes the native's parameters, and tools that tell operator
    slots from methods by `__text_signature__` (tests/test_stubs.py) keep checking the native's
    against the stub. Wrappers that add parameters (`memory_format=`) show their own."""
    native = Tensor.__dict__[name]
    wrapper = make_wrapper(native)
    if keeps_signature:
        functools.update_wrapper(wrapper, native)  # name and doc; inspect.signature follows __wrapped__
        wrapper.__text_signature__ = native.__text_signature__
    else:
        functools.update_wrapper(wrapper, native, assigned=("__name__", "__qualname__", "__doc__"), updated=())
    setattr(Tensor, name, wrapper)


def _preserved(self: Tensor, out: Tensor) -> Tensor:
    """A converted copy `out` (contiguous, from the core) laid out as `self` is, as PyTorch's
    conversions keep a dense tensor's strides (`preserve_format`)."""
    return out if out.stride() == self.stride() else keep_layout(self, out)


def _to(native):
    def to(self, *args, memory_format=preserve_format, **kwargs):
        out = native(self, *args, **kwargs)  # checks the devices and dtypes named
        if out.dtype == self.dtype and not kwargs.get("copy", False):
            # Same dtype on the only device: the core returned this tensor unless asked to copy.
            return self if memory_format is preserve_format else in_format(self, memory_format, "to")
        if memory_format is preserve_format:
            return _preserved(self, out)
        return in_format(out, memory_format, "to")

    return to


def _clone(native):
    def clone(self, *, memory_format=preserve_format):
        if memory_format is contiguous_format:
            return native(self)
        if memory_format is preserve_format:
            out = native(self)
            return out if out.stride() == self.stride() else keep_layout(self, out)
        return restrided(self, like_strides(self, memory_format, "clone"))

    return clone


def _is_contiguous(native):
    def is_contiguous(self, memory_format=contiguous_format):
        return native(self) if memory_format is contiguous_format else is_contiguous_as(self, memory_format)

    return is_contiguous


def _type_as(native):
    def type_as(self, other):
        out = native(self, other)
        return self if out.dtype == self.dtype else out

    return type_as


def _contiguous(native, is_contiguous=Tensor.is_contiguous):
    def contiguous(self, memory_format=contiguous_format):
        if memory_format is contiguous_format:
            return self if is_contiguous(self) else native(self)
        if memory_format is preserve_format:
            # PyTorch's order: a tensor contiguous already is returned before the format is refused.
            if is_contiguous(self):
                return self
            raise RuntimeError("preserve memory format is unsupported by the contiguous operator")
        return in_format(self, memory_format, "contiguous")

    return contiguous


def _cast_to(dtype):
    def make_wrapper(native):
        def cast(self, memory_format=preserve_format):
            if self.dtype == dtype:
                return self if memory_format is preserve_format else in_format(self, memory_format, native.__name__)
            out = native(self)
            return _preserved(self, out) if memory_format is preserve_format else in_format(out, memory_format, native.__name__)

        return cast

    return make_wrapper


_replace_native("to", _to, keeps_signature=False)
_replace_native("type_as", _type_as)
_replace_native("contiguous", _contiguous, keeps_signature=False)
_replace_native("clone", _clone, keeps_signature=False)
_replace_native("is_contiguous", _is_contiguous, keeps_signature=False)
for _name, _dtype in _CASTS.items():
    _replace_native(_name, _cast_to(getattr(_core, _dtype)), keeps_signature=False)
