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
param groups, any list of parameters, module globals. A local variable bound to the placeholder
keeps it; using it then raises an error that says where the parameter went. `materialize()` tries
the in-place path first, so identity is kept with no change here once the setter accepts new
shapes.

Materialisation runs under no_grad and outside inference mode, so a first forward inside
`fg.inference(model)` still yields ordinary trainable parameters.
"""

from __future__ import annotations

import inspect

from ..._creation import tensor
from ...autograd.grad_mode import inference_mode, no_grad
from ..module import Module
from ..parameter import UninitializedBuffer, UninitializedParameter, UninitializedTensorMixin, rebind_batch
from . import conv as _conv
from .batchnorm import BatchNorm1d, BatchNorm2d, BatchNorm3d
from .instancenorm import InstanceNorm1d, InstanceNorm2d, InstanceNorm3d
from .linear import Linear

__all__ = [
    "LazyModuleMixin", "LazyLinear", "LazyConv2d",
    "LazyBatchNorm1d", "LazyBatchNorm2d", "LazyBatchNorm3d",
    "LazyInstanceNorm1d", "LazyInstanceNorm2d", "LazyInstanceNorm3d",
]


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
        # The hook's id, not its handle (a weakref), so an uninitialised module pickles.
        object.__setattr__(self, "_initialize_hook_id", self.register_forward_pre_hook(_infer_parameters).id)

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
        with rebind_batch(self._parameters, self._buffers):
            for store in (self._parameters, self._buffers):
                for name, t in list(store.items()):
                    key = prefix + name
                    value = state_dict.get(key) if hasattr(state_dict, "get") else None
                    if _is_uninitialized(t) and value is not None and not _is_uninitialized(value) \
                            and hasattr(value, "shape"):
                        t.materialize(tuple(value.shape))
                        changed = True
        if changed and not self.has_uninitialized_params():
            self._infer_sizes()

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        _materialize_for_load(self, state_dict)
        return super().load_state_dict(state_dict, strict=strict, assign=assign)

    def _replicate_for_data_parallel(self):  # PyTorch's message, for API parity
        raise RuntimeError("Modules with uninitialized parameters can't be used with `DataParallel`. "
                           "Run a dummy forward pass to correctly initialize the modules")


def _materialize_for_load(root: Module, state_dict) -> None:
    """Runs every lazy submodule's _before_load_state_dict with its prefix (Module.load_state_dict
    does not call it for lazy children yet: see notes/requests.md)."""
    with rebind_batch():
        for path, m in list(root.named_modules()):
            hook = getattr(m, "_before_load_state_dict", None)
            if hook is not None:
                hook(state_dict, f"{path}." if path else "")


def _infer_parameters(module, args):
    """The forward pre-hook of a lazy module: materialise from the first input, then become the
    ordinary class (which removes this hook's reason to exist)."""
    with inference_mode(False), no_grad(), rebind_batch(module._parameters, module._buffers):
        module.initialize_parameters(*args)  # each checks for placeholders itself
    if module.has_uninitialized_params():
        raise RuntimeError(f"module {module._get_name()} has not been fully initialized")
    module._forward_pre_hooks.pop(module.__dict__.pop("_initialize_hook_id"), None)
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


LazyConv2d = _lazy_conv(_conv.Conv2d)
# Conv1d/3d and the transposed convolutions come from the conv family's own branch: each lazy
# form appears here (and in __all__) as soon as conv.py has the class.
for _name in ("Conv1d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d"):
    if hasattr(_conv, _name):
        globals()["Lazy" + _name] = _lazy_conv(getattr(_conv, _name))
        __all__.append("Lazy" + _name)


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
        if self.num_features == 0:
            # Also without placeholders (affine=False, track_running_stats=False): the layer it
            # becomes checks the channel count against num_features.
            self._check_input_dim(input)
            self.num_features = input.shape[self._channel_dim(input)]
        if not self.has_uninitialized_params():
            return
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
