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
    _check,
    contiguous_format,
    in_format,
    is_contiguous_as,
    like_strides,
    preserve_format,
    preserving,
    restrided,
)

Tensor = _core.Tensor
_native_is_contiguous = Tensor.is_contiguous  # before it is replaced below (it takes memory_format)

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


def _converted(self: Tensor, convert, memory_format, fn: str, copy: bool = False) -> Tensor:
    """`convert(view)` (the core's cast, which returns a contiguous result, or the same tensor
    when the dtype is already the one asked for and `copy` is false) of `self`, laid out as
    `memory_format` asks. `preserve_format` (PyTorch's default for these; `None` means it too)
    keeps a dense tensor's strides."""
    if memory_format is None or memory_format is preserve_format:
        if _native_is_contiguous(self):
            out = convert(self)
            if out.dtype == self.dtype and not copy:
                return self  # nothing converted: the tensor itself, as PyTorch's
            # Only size-0 and size-1 dims can differ, with strides PyTorch keeps.
            return out if out.stride() == self.stride() else restrided(out, self.stride())
        # The dtype asked for, from a 0-d stand-in (converting `self` here would be the whole pass).
        if not copy and convert(_core.full([], 0, self.dtype)).dtype == self.dtype:
            return self
        return preserving(self, convert)
    _check(memory_format, fn)
    out = convert(self)
    return in_format(self if out.dtype == self.dtype and not copy else out, memory_format, fn)


def _to(native):
    def to(self, *args, memory_format=preserve_format, **kwargs):
        preserve = memory_format is preserve_format or memory_format is None
        if preserve and _native_is_contiguous(self):  # the usual call, inline
            out = native(self, *args, **kwargs)  # checks the devices and dtypes named
            if out.dtype == self.dtype and not kwargs.get("copy", False):
                return self  # nothing converted: the tensor itself, as PyTorch's
            return out if out.stride() == self.stride() else restrided(out, self.stride())
        convert = lambda v: native(v, *args, **kwargs)  # noqa: E731
        return _converted(self, convert, memory_format, "to", bool(kwargs.get("copy", False)))

    return to


def _clone(native):
    def clone(self, *, memory_format=preserve_format):
        if memory_format is contiguous_format:
            return native(self)
        if memory_format is None or memory_format is preserve_format:
            if _native_is_contiguous(self):
                out = native(self)
                return out if out.stride() == self.stride() else restrided(out, self.stride())
            return preserving(self, native)
        return restrided(self, like_strides(self, memory_format, "clone"))

    return clone


def _is_contiguous(native):
    def is_contiguous(self, memory_format=contiguous_format):
        return native(self) if memory_format is contiguous_format else is_contiguous_as(self, memory_format)

    return is_contiguous


def _type_as(native):
    def type_as(self, other):
        return _converted(self, lambda v: native(v, other), preserve_format, "type_as")

    return type_as


def _contiguous(native):
    def contiguous(self, memory_format=contiguous_format):
        if memory_format is contiguous_format:
            return self if _native_is_contiguous(self) else native(self)
        if memory_format is preserve_format:
            # PyTorch's order: a tensor contiguous already is returned before the format is refused.
            if _native_is_contiguous(self):
                return self
            raise RuntimeError("preserve memory format is unsupported by the contiguous operator")
        return in_format(self, memory_format, "contiguous")

    return contiguous


def _cast_to(dtype):
    def make_wrapper(native):
        def cast(self, memory_format=preserve_format):
            if memory_format is preserve_format or memory_format is None:
                if self.dtype == dtype:
                    return self
                if _native_is_contiguous(self):  # the usual call, inline
                    out = native(self)
                    return out if out.stride() == self.stride() else restrided(out, self.stride())
            return _converted(self, native, memory_format, native.__name__)

        return cast

    return make_wrapper


_replace_native("to", _to, keeps_signature=False)
_replace_native("type_as", _type_as)
_replace_native("contiguous", _contiguous, keeps_signature=False)
_replace_native("clone", _clone, keeps_signature=False)
_replace_native("is_contiguous", _is_contiguous, keeps_signature=False)
for _name, _dtype in _CASTS.items():
    _replace_native(_name, _cast_to(getattr(_core, _dtype)), keeps_signature=False)
