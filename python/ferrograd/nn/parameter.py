"""nn.Parameter (a Tensor that a Module registers as a learnable parameter), nn.Buffer, and the
placeholders of lazy modules, UninitializedParameter and UninitializedBuffer."""

from __future__ import annotations

import gc
import threading

from .. import _core
from .._core import Tensor

__all__ = ["Parameter", "Buffer", "UninitializedTensorMixin", "UninitializedParameter", "UninitializedBuffer"]


class Parameter(Tensor):
    """A leaf tensor with requires_grad=True by default, registered by Module.__setattr__.

    It shares storage with the tensor it wraps (`Parameter(t)` does not copy `t`).
    """

    def __new__(cls, data: Tensor | None = None, requires_grad: bool = True):
        if data is not None and not isinstance(data, Tensor):
            raise TypeError(f"Parameter(): data must be a Tensor, got {type(data).__name__}")
        return super().__new__(cls, data, requires_grad)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()

    def __reduce__(self):
        return (_rebuild_parameter, (self.detach().numpy(), self.requires_grad))


def _rebuild_parameter(arr, requires_grad):
    from .._creation import tensor

    return Parameter(tensor(arr), requires_grad)


class Buffer(Tensor):
    """`self.stats = nn.Buffer(t, persistent=True)` in a Module registers `t` as a buffer (PyTorch
    2.5+), like `self.register_buffer("stats", t, persistent)`. Shares `t`'s storage and keeps its
    requires_grad flag."""

    def __new__(cls, data: Tensor | None = None, *, persistent: bool = True):
        if data is None:
            from .._creation import empty

            data = empty(0)
        if not isinstance(data, Tensor):
            raise TypeError(f"Buffer(): data must be a Tensor, got {type(data).__name__}")
        t = super().__new__(cls, data.detach(), data.requires_grad)
        t.persistent = persistent
        return t

    def __reduce_ex__(self, protocol):
        return (_rebuild_buffer, (self.detach().numpy(), self.requires_grad, self.persistent))


def _rebuild_buffer(arr, requires_grad, persistent):
    from .._creation import tensor

    return Buffer(tensor(arr).requires_grad_(requires_grad), persistent=persistent)


# ---- lazy modules' placeholders (see nn/modules/lazy.py) ------------------------------------

_Tensor = _core.Tensor

_UNINIT_MSG = (
    "Attempted to use an uninitialized parameter in {}. This error happens when you are using a `LazyModule` or "
    "explicitly manipulating `ferrograd.nn.parameter.UninitializedParameter` objects. When using LazyModules Call "
    "`forward` with a dummy batch to initialize the parameters before calling ferrograd functions"
)
_SHAPE_MSG = (
    "Can't access the shape of an uninitialized parameter or buffer. This error usually happens in `load_state_dict` "
    "when trying to load an uninitialized parameter into an initialized one. Call `forward` to initialize the "
    "parameters before accessing their attributes."
)
_REPLACED_MSG = (
    "This {} was materialised as a new {} object when its lazy module first ran (ferrograd cannot change a "
    "tensor's shape in place yet). Lists and dicts holding it, optimizers included, were updated; a variable "
    "bound to it was not: read the parameter again from the module (e.g. model.weight)."
)

# What a placeholder may still answer: identity, dtype/device/grad flags, the `.data` setter that
# materialises it, and what repr and pickling need.
_ALLOWED = {
    "__class__", "__new__", "__init__", "__init_subclass__", "__subclasshook__", "__getattribute__", "__setattr__",
    "__delattr__", "__dict__", "__hash__", "__eq__", "__ne__", "__repr__", "__str__", "__reduce__", "__reduce_ex__",
    "__sizeof__", "__dir__", "__format__", "__class_getitem__", "__array_priority__", "__weakref__", "__bool__",
    "dtype", "device", "requires_grad", "requires_grad_", "grad", "grad_fn", "is_leaf", "data", "detach",
    "is_floating_point", "retains_grad",
}


def _refuse(name: str):
    def refuse(self, *args, **kwargs):
        raise ValueError(_UNINIT_MSG.format(f"<method '{name}' of 'ferrograd.Tensor' objects>"))

    refuse.__name__ = name
    return refuse


class UninitializedTensorMixin:
    """What UninitializedParameter and UninitializedBuffer share: nothing but dtype, device and
    the grad flags can be read until `materialize(shape)` gives them a shape and storage."""

    cls_to_become: type

    def materialize(self, shape, device=None, dtype=None):
        """Gives the placeholder the shape `shape` (uninitialised values: the module's
        reset_parameters fills them) and the class `cls_to_become`; returns the materialised
        tensor (this object once shapes can change in place; see the module docstring)."""
        self._check_not_replaced()
        shape = (shape,) if isinstance(shape, int) else tuple(int(s) for s in shape)
        dtype = self.dtype if dtype is None else dtype
        from .._creation import empty
        from ..autograd.grad_mode import inference_mode, no_grad

        with inference_mode(False), no_grad():
            data = empty(*shape, dtype=dtype)
        requires_grad = self.requires_grad
        try:
            self.data = data
            self.__class__ = self.cls_to_become
            return self
        except (ValueError, TypeError):
            # The `.data` setter keeps the shape (or the plain Tensor class cannot take this
            # object's layout): make a new tensor and rebind it.
            pass
        new = Parameter(data, requires_grad) if self.cls_to_become is Parameter else data
        object.__setattr__(self, "_materialized_as", new)
        pending = getattr(_batch, "pending", None)
        if pending is None:
            _rebind({self: new})
        else:  # one heap scan for the whole batch on exit; the owner's stores now (see rebind_batch)
            pending[0][self] = new
            for store in pending[1]:
                for key, item in list(store.items()):
                    if item is self:
                        store[key] = new
        return new

    @property
    def dtype(self):
        return self.__dict__.get("_dtype") or Tensor.dtype.__get__(self)

    def to(self, *args, **kwargs):
        """A dtype conversion before the first forward (`model.double()`): the placeholder will
        materialise in that dtype. Returns the placeholder itself; devices other than the CPU are
        refused as for any tensor."""
        self._check_not_replaced()
        dtype = kwargs.get("dtype")
        for a in args:
            if isinstance(a, _core.dtype):
                dtype = a
            elif isinstance(a, Tensor):
                dtype = a.dtype
        _core.full([], 0.0, _core.float32).to(*args, **kwargs)  # validates device arguments
        if dtype is not None:
            self.__dict__["_dtype"] = dtype
        return self

    def float(self):
        return self.to(_core.float32)

    def double(self):
        return self.to(_core.float64)

    def half(self):
        return self.to(_core.float16)

    def cpu(self):
        return self

    def _check_not_replaced(self) -> None:
        if "_materialized_as" in self.__dict__:
            raise RuntimeError(_REPLACED_MSG.format(type(self).__name__, self.cls_to_become.__name__))

    @property
    def shape(self):
        self._check_not_replaced()
        raise RuntimeError(_SHAPE_MSG)

    @property
    def ndim(self):
        self._check_not_replaced()
        raise RuntimeError(_SHAPE_MSG)

    def detach(self):
        # state_dict() stores `p.detach()`: an uninitialized module's state_dict holds the
        # placeholders themselves, as PyTorch's does.
        self._check_not_replaced()
        return self

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"

    def __reduce_ex__(self, protocol):
        return (type(self), (self.requires_grad, None, self.dtype.numpy_name))  # dtypes do not pickle

    def __deepcopy__(self, memo):
        return type(self)(self.requires_grad, None, self.dtype)


def _install_refusals(cls: type) -> None:
    """Every Tensor method but the _ALLOWED ones raises PyTorch's "uninitialized parameter" error
    (PyTorch does this with __torch_function__; ferrograd has none, so the methods are shadowed).
    Run at the first instantiation, once the Python-side Tensor methods have been attached."""
    if cls.__dict__.get("_refusals_installed"):
        return
    cls._refusals_installed = True
    for name, attr in list(vars(_Tensor).items()):
        if name in _ALLOWED or name in vars(UninitializedTensorMixin) or not callable(attr):
            continue
        if name.startswith("_") and not (name.startswith("__") and name.endswith("__")):
            continue
        setattr(cls, name, _refuse(name))


def _rebind(replacements: dict) -> None:
    """Puts each new tensor in place of its placeholder in every list and dict that holds it
    (values only). gc.get_referrers walks the whole heap, so it runs once for all of them."""
    # By id: the placeholders are alive (keys of `replacements`), so an id names one of them.
    by_id = {id(old): new for old, new in replacements.items()}
    for holder in gc.get_referrers(*replacements):
        if isinstance(holder, list):
            for i, item in enumerate(holder):
                if id(item) in by_id:
                    holder[i] = by_id[id(item)]
        elif isinstance(holder, dict) and holder is not replacements:
            for key, item in list(holder.items()):
                if id(item) in by_id:
                    holder[key] = by_id[id(item)]


# _batch.pending: (replacements, stores updated at once) while a rebind_batch is open on this
# thread; None otherwise.
_batch = threading.local()


class rebind_batch:
    """Inside the block, placeholders that materialise into new objects are put into `stores`
    (the materialising module's _parameters and _buffers) at once, and into every other holder
    on exit, with one heap scan for all of them (gc.get_referrers walks the whole heap)."""

    def __init__(self, *stores: dict) -> None:
        self.stores = stores

    def __enter__(self):
        self._outer = getattr(_batch, "pending", None)
        _batch.pending = ({} if self._outer is None else self._outer[0], self.stores)
        return self

    def __exit__(self, *exc):
        replacements = _batch.pending[0]
        _batch.pending = self._outer
        if self._outer is None and replacements:
            _rebind(replacements)


class UninitializedParameter(UninitializedTensorMixin, Parameter):
    """A Parameter without shape or values yet; a lazy module materialises it on its first forward."""

    cls_to_become = Parameter

    def __new__(cls, requires_grad: bool = True, device=None, dtype=None):
        from .._creation import _dtype_or_default, empty

        _install_refusals(cls)
        return super().__new__(cls, empty(0, dtype=_dtype_or_default(dtype)), requires_grad)


class UninitializedBuffer(UninitializedTensorMixin, _Tensor):
    """A buffer without shape or values yet; a lazy module materialises it on its first forward."""

    cls_to_become = _Tensor

    def __new__(cls, requires_grad: bool = False, device=None, dtype=None):
        from .._creation import _dtype_or_default, empty

        _install_refusals(cls)
        return super().__new__(cls, empty(0, dtype=_dtype_or_default(dtype)), requires_grad)


