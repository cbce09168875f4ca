"""Lazy modules: parameters whose shape is inferred from the first input.

A lazy module starts with `UninitializedParameter`/`UninitializedBuffer` placeholders, so
`model.parameters()` can be handed to an optimizer before any data has been seen. The first
forward (or a load_state_dict) materialises each placeholder with its real shape, initialises it
with the layer's own `reset_parameters()`, and turns the module into its ordinary class
(`LazyLinear` becomes `Linear`), as in PyTorch.

Materialising in place. PyTorch changes the placeholder's shape in place (`param.data = ...`),
so every holder of it, the optimizer included, sees the real parameter. ferrograd tensors cannot
change their shape in place yet (the `.data` setter refuses a new shape; requested in
notes/requests.md). Until then `materialize()` makes a new Parameter and puts it in place of the
placeholder in every list and dict that holds it: the module's own parameters, the optimizer's
param groups, any list of parameters, module globals. A local variable bound to the placeholder keeps it;
using it then raises an error that says where the parameter went. `materialize()` tries the
in-place path first, so identity is kept with no change here once the setter accepts new shapes.

Materialisation runs under no_grad and outside inference mode, so a first forward inside
`fg.inference(model)` still yields ordinary trainable parameters.
"""

from __future__ import annotations

import gc
import inspect

from ... import _core
from ..._creation import _dtype_or_default, empty, tensor
from ...autograd.grad_mode import inference_mode, no_grad
from ..module import Module
from ..parameter import Parameter
from .batchnorm import BatchNorm1d, BatchNorm2d, BatchNorm3d
from .conv import Conv2d
from .instancenorm import InstanceNorm1d, InstanceNorm2d, InstanceNorm3d
from .linear import Linear

__all__ = [
    "UninitializedParameter", "UninitializedBuffer", "LazyModuleMixin", "LazyLinear", "LazyConv2d",
    "LazyBatchNorm1d", "LazyBatchNorm2d", "LazyBatchNorm3d",
    "LazyInstanceNorm1d", "LazyInstanceNorm2d", "LazyInstanceNorm3d",
]

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
        with inference_mode(False), no_grad():
            data = empty(*shape, dtype=dtype)
        requires_grad = self.requires_grad
        try:
            self.data = data
        except ValueError:
            pass  # the `.data` setter keeps the shape: make a new tensor and rebind it (below)
        else:
            self.__class__ = self.cls_to_become
            return self
        new = Parameter(data, requires_grad) if self.cls_to_become is Parameter else data
        _rebind(self, new)
        object.__setattr__(self, "_materialized_as", new)
        return new

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
        return (type(self), (self.requires_grad, None, self.dtype))

    def __deepcopy__(self, memo):
        return type(self)(self.requires_grad, None, self.dtype)


def _install_refusals(cls: type) -> None:
    """Every Tensor method but the _ALLOWED ones raises PyTorch's "uninitialized parameter" error
    (PyTorch does this with __torch_function__; ferrograd has none, so the methods are shadowed)."""
    for name, attr in list(vars(_Tensor).items()):
        if name in _ALLOWED or name in vars(UninitializedTensorMixin) or not callable(attr):
            continue
        if name.startswith("_") and not (name.startswith("__") and name.endswith("__")):
            continue
        setattr(cls, name, _refuse(name))


def _rebind(old, new) -> None:
    """Puts `new` in place of `old` in every list and dict that holds it (values only)."""
    for holder in gc.get_referrers(old):
        if isinstance(holder, list):
            for i, item in enumerate(holder):
                if item is old:
                    holder[i] = new
        elif isinstance(holder, dict):
            for key, item in list(holder.items()):
                if item is old:
                    holder[key] = new


class UninitializedParameter(UninitializedTensorMixin, Parameter):
    """A Parameter without shape or values yet; a lazy module materialises it on its first forward."""

    cls_to_become = Parameter

    def __new__(cls, requires_grad: bool = True, device=None, dtype=None):
        return super().__new__(cls, empty(0, dtype=_dtype_or_default(dtype)), requires_grad)


class UninitializedBuffer(UninitializedTensorMixin, _Tensor):
    """A buffer without shape or values yet; a lazy module materialises it on its first forward."""

    cls_to_become = _Tensor

    def __new__(cls, requires_grad: bool = False, device=None, dtype=None):
        return super().__new__(cls, empty(0, dtype=_dtype_or_default(dtype)), requires_grad)


_install_refusals(UninitializedParameter)
_install_refusals(UninitializedBuffer)


def _is_uninitialized(t) -> bool:
    return isinstance(t, UninitializedTensorMixin)


class LazyModuleMixin:
    """Mixed in before a layer class: the layer infers its sizes from the first input.

    A subclass sets `cls_to_become` (the class it turns into once materialised) and defines
    `initialize_parameters(*args)` (materialise the placeholders from the input, then call
    reset_parameters) and `_infer_sizes()` (set the size attributes, e.g. in_features, from the
    materialised parameters, for a load_state_dict that materialises them).
    """

    cls_to_become: type | None = None

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        object.__setattr__(self, "_initialize_hook", self.register_forward_pre_hook(_infer_parameters))

    def has_uninitialized_params(self) -> bool:
        """Whether a parameter or buffer of this module (not its children) is still a placeholder."""
        return any(_is_uninitialized(t) for t in (*self._parameters.values(), *self._buffers.values()))

    def initialize_parameters(self, *args, **kwargs) -> None:
        raise NotImplementedError(f"initialize_parameters is not implemented for {type(self).__name__}")

    def _infer_sizes(self) -> None:
        """Sets the size attributes from the materialised parameters (after a load)."""

    def _before_load_state_dict(self, state_dict, prefix: str) -> None:
        """Materialises the placeholders that `state_dict` has values for, with those shapes (so the
        load then copies into them), and fixes the size attributes."""
        changed = False
        for store in (self._parameters, self._buffers):
            for name, t in list(store.items()):
                key = prefix + name
                if _is_uninitialized(t) and key in state_dict and hasattr(state_dict[key], "shape"):
                    t.materialize(tuple(state_dict[key].shape))
                    changed = True
        if changed and not self.has_uninitialized_params():
            self._infer_sizes()

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        _materialize_for_load(self, state_dict)
        return super().load_state_dict(state_dict, strict=strict, assign=assign)

    def _replicate_for_data_parallel(self):  # pragma: no cover - PyTorch API parity
        raise RuntimeError("Modules with uninitialized parameters can't be used with `DataParallel`. "
                           "Run a dummy forward pass to correctly initialize the modules")


def _materialize_for_load(root: Module, state_dict) -> None:
    """Runs every lazy submodule's _before_load_state_dict with its prefix (Module.load_state_dict
    does not call it for lazy children yet: see notes/requests.md)."""
    for path, m in root.named_modules():
        hook = getattr(m, "_before_load_state_dict", None)
        if hook is not None:
            hook(state_dict, f"{path}." if path else "")


def _infer_parameters(module, args):
    """The forward pre-hook of a lazy module: materialise from the first input, then become the
    ordinary class (which removes this hook's reason to exist)."""
    if module.has_uninitialized_params():
        with inference_mode(False), no_grad():
            module.initialize_parameters(*args)
        if module.has_uninitialized_params():
            raise RuntimeError(f"module {module._get_name()} has not been fully initialized")
    module._initialize_hook.remove()
    del module.__dict__["_initialize_hook"]
    if module.cls_to_become is not None:
        module.__class__ = module.cls_to_become
    return None


# ---- LazyLinear ---------------------------------------------------------------------------------

class LazyLinear(LazyModuleMixin, Linear):
    """Linear whose in_features is the last dim of the first input."""

    cls_to_become = Linear

    def __init__(self, out_features: int, bias: bool = True, device=None, dtype=None) -> None:
        super().__init__(0, 0, False)
        self.weight = UninitializedParameter(dtype=dtype)
        self.out_features = out_features
        if bias:
            self.bias = UninitializedParameter(dtype=dtype)

    def reset_parameters(self) -> None:
        if not self.has_uninitialized_params() and self.in_features != 0:
            super().reset_parameters()

    def initialize_parameters(self, input, *args) -> None:
        if self.has_uninitialized_params():
            self.in_features = input.shape[-1]
            self.weight.materialize((self.out_features, self.in_features))
            if self.bias is not None:
                self.bias.materialize((self.out_features,))
            self.reset_parameters()

    def _infer_sizes(self) -> None:
        self.out_features, self.in_features = self.weight.shape


# ---- Lazy convolutions ---------------------------------------------------------------------------

class _LazyConvMixin(LazyModuleMixin):
    """in_channels from the first input. Works for any conv class with PyTorch's attributes
    (in/out_channels, kernel_size, groups, transposed), so each lazy conv is one
    `_lazy_conv(ConvXd)` line."""

    def reset_parameters(self) -> None:
        if not self.has_uninitialized_params() and self.in_channels != 0:
            super().reset_parameters()

    def initialize_parameters(self, input, *args) -> None:
        if not self.has_uninitialized_params():
            return
        batched = input.ndim == len(self.kernel_size) + 2
        self.in_channels = input.shape[1] if batched else input.shape[0]
        if self.in_channels % self.groups:
            raise ValueError("in_channels must be divisible by groups")
        if self.out_channels % self.groups:
            raise ValueError("out_channels must be divisible by groups")
        if self.transposed:
            shape = (self.in_channels, self.out_channels // self.groups, *self.kernel_size)
        else:
            shape = (self.out_channels, self.in_channels // self.groups, *self.kernel_size)
        self.weight.materialize(shape)
        if self.bias is not None:
            self.bias.materialize((self.out_channels,))
        self.reset_parameters()

    def _infer_sizes(self) -> None:
        w = self.weight.shape
        if self.transposed:
            self.in_channels, self.out_channels = w[0], w[1] * self.groups
        else:
            self.out_channels, self.in_channels = w[0], w[1] * self.groups


def _lazy_conv(conv_cls: type, doc: str | None = None) -> type:
    """LazyConvXd for the conv class `conv_cls`: its constructor without in_channels."""
    params = list(inspect.signature(conv_cls.__init__).parameters.values())
    sig = inspect.Signature([p for p in params if p.name != "in_channels"])

    def __init__(self, *args, **kwargs):
        bound = sig.bind(self, *args, **kwargs)
        bound.apply_defaults()
        given = dict(bound.arguments)
        given.pop("self")
        out_channels, bias, dtype = given["out_channels"], given["bias"], given.get("dtype")
        # Sizes 0 and no bias until the first input; groups are checked at materialisation.
        super(cls, self).__init__(**{**given, "in_channels": 0, "out_channels": 0, "bias": False})
        self.out_channels = out_channels
        self.weight = UninitializedParameter(dtype=dtype)
        if bias:
            self.bias = UninitializedParameter(dtype=dtype)

    __init__.__signature__ = sig  # type: ignore[attr-defined]
    name = "Lazy" + conv_cls.__name__
    cls = type(name, (_LazyConvMixin, conv_cls), {
        "__init__": __init__, "cls_to_become": conv_cls, "__module__": __name__, "__qualname__": name,
        "__doc__": doc or f"{conv_cls.__name__} whose in_channels is inferred from the first input.",
    })
    return cls


LazyConv2d = _lazy_conv(Conv2d)


# ---- Lazy norms ----------------------------------------------------------------------------------

class _LazyNormMixin(LazyModuleMixin):
    """num_features from the first input's channel dim; weight, bias and running statistics are
    all placeholders until then (num_batches_tracked is a real 0)."""

    def __init__(self, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
                 track_running_stats: bool = True, device=None, dtype=None, *, bias: bool = True) -> None:
        super().__init__(0, eps, momentum, False, False, device, dtype)
        self.affine = affine
        self.track_running_stats = track_running_stats
        if affine:
            self.weight = UninitializedParameter(dtype=dtype)
            if bias:
                self.bias = UninitializedParameter(dtype=dtype)
        if track_running_stats:
            self.running_mean = UninitializedBuffer(dtype=dtype)
            self.running_var = UninitializedBuffer(dtype=dtype)
            self.num_batches_tracked = tensor(0)

    def reset_parameters(self) -> None:
        if not self.has_uninitialized_params() and self.num_features != 0:
            super().reset_parameters()

    def _channel_dim(self, input) -> int:
        no_batch = getattr(self, "_no_batch_dim", None)  # InstanceNorm: unbatched inputs have no N
        return 0 if no_batch is not None and input.ndim == no_batch else 1

    def initialize_parameters(self, input, *args) -> None:
        if not self.has_uninitialized_params():
            return
        self._check_input_dim(input)
        self.num_features = input.shape[self._channel_dim(input)]
        for t in (self.weight, self.bias, self.running_mean, self.running_var):
            if _is_uninitialized(t):
                t.materialize((self.num_features,))
        self.reset_parameters()

    def _infer_sizes(self) -> None:
        t = self.weight if self.weight is not None else self.running_mean
        if t is not None:
            self.num_features = t.shape[0]


class LazyBatchNorm1d(_LazyNormMixin, BatchNorm1d):
    """BatchNorm1d whose num_features is the first input's channel count."""

    cls_to_become = BatchNorm1d


class LazyBatchNorm2d(_LazyNormMixin, BatchNorm2d):
    """BatchNorm2d whose num_features is the first input's channel count."""

    cls_to_become = BatchNorm2d


class LazyBatchNorm3d(_LazyNormMixin, BatchNorm3d):
    """BatchNorm3d whose num_features is the first input's channel count."""

    cls_to_become = BatchNorm3d


class LazyInstanceNorm1d(_LazyNormMixin, InstanceNorm1d):
    """InstanceNorm1d whose num_features is the first input's channel count (PyTorch's defaults
    for the lazy form: affine=True, track_running_stats=True)."""

    cls_to_become = InstanceNorm1d


class LazyInstanceNorm2d(_LazyNormMixin, InstanceNorm2d):
    """InstanceNorm2d whose num_features is the first input's channel count (affine=True,
    track_running_stats=True by default, as PyTorch's lazy form)."""

    cls_to_become = InstanceNorm2d


class LazyInstanceNorm3d(_LazyNormMixin, InstanceNorm3d):
    """InstanceNorm3d whose num_features is the first input's channel count (affine=True,
    track_running_stats=True by default, as PyTorch's lazy form)."""

    cls_to_become = InstanceNorm3d
