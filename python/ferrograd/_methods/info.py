"""What a tensor is: device and layout predicates (ferrograd tensors are dense, real, on the CPU),
sizes in bytes, the identity conjugations of real tensors, and small CPU-only utilities
(apply_/map_, module_load)."""

from __future__ import annotations

import numpy as np

from .. import _core, _type_info
from .. import _memory_format as _mf
from .._core import Tensor
from .._memory_format import sorted_inner_first
from ._util import METHODS, from_np, np_of, register


def _prop(name: str, fn, doc: str):
    p = property(fn, doc=doc)
    METHODS[name] = p


for _name in ("is_sparse", "is_sparse_csr", "is_quantized", "is_meta", "is_mkldnn", "is_nested", "is_mps", "is_xpu",
              "is_xla", "is_ipu", "is_vulkan", "is_mtia", "is_maia"):
    _prop(_name, lambda self: False, "False: ferrograd tensors are dense CPU tensors.")
_prop("is_cpu", lambda self: True, "True: ferrograd tensors live on the CPU.")
_prop("itemsize", lambda self: self.element_size(), "Bytes per element.")
_prop("nbytes", lambda self: self.element_size() * self.numel(), "Bytes of the elements this tensor views.")
_prop("real", lambda self: self, "The tensor itself (ferrograd tensors are real).")
_prop("layout", lambda self: _type_info.strided, "ferrograd.strided: ferrograd tensors are dense.")
_prop("_version", lambda self: _core._version_of(self), "The version counter: in-place writes (here or through a view) bump it.")


def _imag(self):
    raise TypeError("imag is not implemented for tensors with non-complex dtypes.")


_prop("imag", _imag, "Refused: ferrograd tensors are real.")


def _H(self):
    if self.ndim not in (0, 2):
        raise RuntimeError(f"tensor.H is only supported on matrices (2-D tensors). Got {self.ndim}-D tensor.")
    return self.t() if self.ndim == 2 else self


_prop("H", _H, "The conjugate transpose of a matrix (its transpose, for real tensors).")
_prop("mH", lambda self: self.mT, "The conjugate transpose of the last two dims (mT, for real tensors).")


@register("adjoint")
def adjoint(input: Tensor) -> Tensor:
    return input.mT


@register("is_complex")
def is_complex(input: Tensor) -> bool:
    return False


@register("is_conj")
def is_conj(input: Tensor) -> bool:
    return False


@register("is_neg")
def is_neg(input: Tensor) -> bool:
    return False


@register("is_signed", function=False)
def is_signed(self: Tensor) -> bool:
    return self.dtype != _core.bool and "uint" not in str(self.dtype)


@register("is_nonzero")
def is_nonzero(input: Tensor) -> bool:
    """bool() of a one-element tensor (more elements raise, as in PyTorch)."""
    if input.numel() == 0:
        raise RuntimeError("Boolean value of Tensor with no values is ambiguous")
    if input.numel() > 1:
        raise RuntimeError("Boolean value of Tensor with more than one value is ambiguous")
    return bool(input.item())


@register("is_same_size")
def is_same_size(input: Tensor, other: Tensor) -> bool:
    return tuple(input.shape) == tuple(other.shape)


@register("is_set_to", function=False)
def is_set_to(self: Tensor, tensor: Tensor) -> bool:
    """Same storage, offset, shape and strides."""
    return (self.data_ptr() == tensor.data_ptr() and tuple(self.shape) == tuple(tensor.shape)
            and tuple(self.stride()) == tuple(tensor.stride()) and self.dtype == tensor.dtype)


@register("ndimension", function=False)
def ndimension(self: Tensor) -> int:
    return self.ndim


@register("nelement", function=False)
def nelement(self: Tensor) -> int:
    return self.numel()


@register("get_device", function=False)
def get_device(self: Tensor) -> int:
    """-1: the CPU."""
    return -1


@register("dim_order", function=False)
def dim_order(self: Tensor, *, ambiguity_check=False) -> tuple:
    """Dims from outermost to innermost in memory: PyTorch's insertion sort by stride, where
    zero strides and equal strides of longer dims leave the order as it is."""
    nd, shape, strides = self.ndim, list(self.shape), list(self.stride())
    if nd <= 1:
        return tuple(range(nd))
    # PyTorch's short cuts: contiguous or channels-last, unless it is both (size-1 dims), which
    # the sort below decides.
    contiguous, channels_last = self.is_contiguous(), self.is_contiguous(memory_format=_mf.channels_last)
    if contiguous and not channels_last:
        return tuple(range(nd))
    if channels_last and not contiguous:
        return (0, *range(2, nd), 1)

    def should_swap(a, b):
        def ge(x, y):
            return y == 0 or (x != 0 and (x >= y or x % y == 0))

        sa, sb = strides[a], strides[b]
        if sa == 0 or sb == 0:
            return 0
        if sa == sb:
            return 0 if ge(shape[b], shape[a]) else 1
        if ge(sb, sa):
            return -1
        return 1 if ge(sa, sb) else 0

    return tuple(reversed(sorted_inner_first(nd, should_swap)))


@register("const_data_ptr", function=False)
def const_data_ptr(self: Tensor) -> int:
    return self.data_ptr()


@register("is_pinned", function=False)
def is_pinned(self: Tensor, device=None) -> bool:
    return False


@register("pin_memory", function=False)
def pin_memory(self: Tensor, device=None) -> Tensor:
    """The tensor itself: pinned memory speeds copies to a GPU, and ferrograd has none."""
    return self


@register("is_shared", function=False)
def is_shared(self: Tensor) -> bool:
    return False


@register("share_memory_", function=False)
def share_memory_(self: Tensor) -> Tensor:
    """A no-op: ferrograd has no multiprocessing shared memory (the tensor is returned)."""
    return self


@register("conj", "resolve_conj", "resolve_neg", "conj_physical")
def conj(input: Tensor) -> Tensor:
    """The tensor itself: conjugation is the identity on real tensors."""
    return input


@register("to_dense", function=False)
def to_dense(self: Tensor, dtype=None, *, masked_grad=None) -> Tensor:
    return self if dtype is None else self.to(dtype)


def _no_device(name):
    def fn(self, *args, **kwargs):
        raise RuntimeError(f"Tensor.{name}(): ferrograd runs on the CPU only (no {name.upper()} device)")

    fn.__name__ = name
    return fn


for _name in ("xpu", "ipu", "mtia"):
    register(_name, function=False)(_no_device(_name))


@register("apply_", function=False)
def apply_(self: Tensor, callable) -> Tensor:
    """Calls `callable` on every element (a Python number) and stores the result, in place.
    CPU only and slow, as in PyTorch."""
    a = np_of(self)
    out = [callable(v) for v in a.reshape(-1).tolist()]
    return self.copy_(from_np(np.asarray(out, dtype=a.dtype).reshape(a.shape)))


@register("map_", function=False)
def map_(self: Tensor, tensor: Tensor, callable) -> Tensor:
    """self[i] = callable(self[i], tensor[i]) for every element (tensor broadcast to self)."""
    a = np_of(self)
    b = np.broadcast_to(np_of(tensor), a.shape)
    out = [callable(x, y) for x, y in zip(a.reshape(-1).tolist(), b.reshape(-1).tolist())]
    return self.copy_(from_np(np.asarray(out, dtype=a.dtype).reshape(a.shape)))


@register("map2_", function=False)
def map2_(self: Tensor, x: Tensor, y: Tensor, callable) -> Tensor:
    a = np_of(self)
    b, c = np.broadcast_to(np_of(x), a.shape), np.broadcast_to(np_of(y), a.shape)
    flat = zip(a.reshape(-1).tolist(), b.reshape(-1).tolist(), c.reshape(-1).tolist())
    out = [callable(p, q, r) for p, q, r in flat]
    return self.copy_(from_np(np.asarray(out, dtype=a.dtype).reshape(a.shape)))


@register("module_load", function=False)
def module_load(self: Tensor, other: Tensor, assign: bool = False) -> Tensor:
    """What `load_state_dict` loads into this parameter/buffer: `other` (detached when not
    assigning, as PyTorch's default)."""
    if not isinstance(other, Tensor):
        raise TypeError(f"module_load(): expected a Tensor, got {type(other).__name__}")
    return other if assign else other.detach()
