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

Tensor = _core.Tensor

# The casts named after a dtype, and that dtype.
_CASTS = {"float": "float32", "double": "float64", "half": "float16", "bfloat16": "bfloat16", "long": "int64",
          "int": "int32", "short": "int16", "char": "int8", "byte": "uint8", "bool": "bool"}  # fmt: skip


def _replace_native(name: str, make_wrapper) -> None:
    native = Tensor.__dict__[name]
    wrapper = make_wrapper(native)
    functools.update_wrapper(wrapper, native)  # name and doc; inspect.signature follows __wrapped__
    # Tools that tell operator slots from methods by this attribute (tests/test_stubs.py) keep
    # checking the native's signature against the stub.
    wrapper.__text_signature__ = native.__text_signature__
    setattr(Tensor, name, wrapper)


def _to(native):
    def to(self, *args, **kwargs):
        out = native(self, *args, **kwargs)  # checks the devices and dtypes named
        # Same dtype on the only device: the core returned this tensor unless asked to copy.
        return self if out.dtype == self.dtype and not kwargs.get("copy", False) else out

    return to


def _type_as(native):
    def type_as(self, other):
        out = native(self, other)
        return self if out.dtype == self.dtype else out

    return type_as


def _contiguous(native):
    def contiguous(self):
        return self if self.is_contiguous() else native(self)

    return contiguous


def _cast_to(dtype):
    def make_wrapper(native):
        def cast(self):
            return self if self.dtype == dtype else native(self)

        return cast

    return make_wrapper


_replace_native("to", _to)
_replace_native("type_as", _type_as)
_replace_native("contiguous", _contiguous)
for _name, _dtype in _CASTS.items():
    _replace_native(_name, _cast_to(getattr(_core, _dtype)))
