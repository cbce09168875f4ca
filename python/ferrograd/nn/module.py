"""nn.Module: parameter/buffer/submodule registration, train/eval, state_dict, hooks, repr.

Train/eval is a per-module flag (`training`) that layers pass to the Rust kernels as an
explicit argument; there is no global training switch. It changes what Dropout and BatchNorm
do and nothing else: it does not turn off autograd (that is `fg.no_grad()`).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any, Callable, Iterator

from .. import _core
from .. import _memory_format as _mf
from .._core import Tensor
from ..autograd.grad_mode import no_grad
from ..utils.hooks import RemovableHandle
from . import _module_hooks as _hooks
from ._module_hooks import (
    _global_buffer_registration_hooks,
    _global_call_hook_ids,
    _global_module_registration_hooks,
    _global_parameter_registration_hooks,
)
from ._module_state import ModuleState, _IncompatibleKeys  # noqa: F401 (_IncompatibleKeys: PyTorch's import path)
from .parameter import Buffer, Parameter

# The modules being called on this thread, outermost first, so a layer's error message can name
# its path in the model ("features.3") the way the user wrote it.
_calls = threading.local()


def module_path(module: "Module") -> str | None:
    """The dotted name of `module` inside the outermost module being called, if any."""
    stack = getattr(_calls, "stack", None)
    if not stack or stack[0] is module:
        return None
    for name, m in stack[0].named_modules():
        if m is module:
            return name
    return None


# Per-module hook tables (PyTorch's attribute names; `summary`, `weight_norm` and the lazy
# layers read _forward_pre_hooks / _forward_hooks directly).
_HOOK_TABLES = (
    "_forward_hooks", "_forward_hooks_with_kwargs", "_forward_hooks_always_called",
    "_forward_pre_hooks", "_forward_pre_hooks_with_kwargs", "_backward_hooks", "_backward_pre_hooks",
)


class Module(ModuleState):
    training: bool

    def __init__(self) -> None:
        # object.__setattr__: our __setattr__ needs these dicts to exist.
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent_buffers_set", set())
        object.__setattr__(self, "_modules", OrderedDict())
        for name in _HOOK_TABLES:
            object.__setattr__(self, name, OrderedDict())
        object.__setattr__(self, "_is_full_backward_hook", None)

    # ---- registration ---------------------------------------------------------------------

    def __setattr__(self, name: str, value: Any) -> None:
        if "_parameters" not in self.__dict__:
            raise AttributeError("cannot assign before Module.__init__() call (call super().__init__() first)")
        params, buffers, modules = self._parameters, self._buffers, self._modules
        if isinstance(value, Parameter):
            self._forget(name, keep=params)
            self.register_parameter(name, value)
        elif name in params:
            if value is not None:
                raise TypeError(f"cannot assign '{type(value).__name__}' as parameter '{name}' (nn.Parameter or None expected)")
            params[name] = None
        elif isinstance(value, Module):
            if _global_module_registration_hooks:
                value = _hooks.run_registration_hooks(_global_module_registration_hooks, self, name, value)
            self._forget(name, keep=modules)
            modules[name] = value
        elif isinstance(value, Buffer):  # PyTorch 2.5+: nn.Buffer(t, persistent=...) registers a buffer
            self._forget(name, keep=buffers)
            self.register_buffer(name, value, persistent=value.persistent)
        elif name in modules:
            if value is not None:
                raise TypeError(f"cannot assign '{type(value).__name__}' as child module '{name}' (nn.Module or None expected)")
            modules[name] = None
        elif name in buffers:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"cannot assign '{type(value).__name__}' as buffer '{name}' (Tensor or None expected)")
            buffers[name] = value
        else:
            object.__setattr__(self, name, value)

    def _refuse_taken(self, name: str, store: dict) -> None:
        """PyTorch's check in register_parameter/register_buffer/add_module: a name that is already
        another kind of member, or any attribute, is refused (registering a buffer over a weight
        silently turned the weight into a buffer: it left named_parameters and the optimizer)."""
        if name not in store and hasattr(self, name):
            raise KeyError(f"attribute '{name}' already exists")

    def _forget(self, name: str, keep: dict | None = None) -> None:
        """Removes `name` from every store but `keep`, where a reassignment keeps its position
        (state_dict order, Sequential order)."""
        self.__dict__.pop(name, None)
        for d in (self._parameters, self._buffers, self._modules):
            if d is not keep:
                d.pop(name, None)
        self._non_persistent_buffers_set.discard(name)

    def __getattr__(self, name: str) -> Any:
        d = self.__dict__
        for store in ("_parameters", "_buffers", "_modules"):
            if store in d and name in d[store]:
                return d[store][name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name: str) -> None:
        for store in (self._parameters, self._buffers, self._modules):
            if name in store:
                del store[name]
                self._non_persistent_buffers_set.discard(name)
                return
        object.__delattr__(self, name)

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        if "." in name or name == "":
            raise KeyError(f'parameter name can\'t contain "." or be empty, got {name!r}')
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"cannot assign '{type(param).__name__}' object to parameter '{name}' (nn.Parameter or None required)")
        self._refuse_taken(name, self._parameters)
        if _global_parameter_registration_hooks:
            param = _hooks.run_registration_hooks(_global_parameter_registration_hooks, self, name, param)
        self._forget(name, keep=self._parameters)
        self._parameters[name] = param

    def register_buffer(self, name: str, tensor: Tensor | None, persistent: bool = True) -> None:
        if "." in name or name == "":
            raise KeyError(f'buffer name can\'t contain "." or be empty, got {name!r}')
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"cannot assign '{type(tensor).__name__}' object to buffer '{name}' (Tensor or None required)")
        self._refuse_taken(name, self._buffers)
        if _global_buffer_registration_hooks:
            tensor = _hooks.run_registration_hooks(_global_buffer_registration_hooks, self, name, tensor)
        self._forget(name, keep=self._buffers)
        self._buffers[name] = tensor
        if not persistent:
            self._non_persistent_buffers_set.add(name)

    def register_module(self, name: str, module: Module | None) -> None:
        self.add_module(name, module)

    def add_module(self, name: str, module: Module | None) -> None:
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{type(module).__name__} is not a Module subclass")
        if "." in name or name == "":
            raise KeyError(f'module name can\'t contain "." or be empty, got {name!r}')
        self._refuse_taken(name, self._modules)
        if _global_module_registration_hooks:
            module = _hooks.run_registration_hooks(_global_module_registration_hooks, self, name, module)
        self._forget(name, keep=self._modules)
        self._modules[name] = module

    def get_submodule(self, target: str) -> Module:
        mod = self
        for part in target.split(".") if target else []:
            if part not in mod._modules:
                raise AttributeError(f"{type(mod).__name__} has no attribute `{part}` (looking up {target!r})")
            mod = mod._modules[part]
        return mod

    def _member_at(self, target: str) -> tuple[Module, str]:
        """The module holding the attribute at a dotted path, and the attribute's name."""
        path, _, name = target.rpartition(".")
        mod = self.get_submodule(path)
        if not hasattr(mod, name):
            raise AttributeError(f"{type(mod).__name__} has no attribute `{name}`")
        return mod, name

    def get_parameter(self, target: str) -> Parameter:
        """The parameter at a dotted path (`"0.weight"`), as PyTorch's."""
        mod, name = self._member_at(target)
        if not isinstance(getattr(mod, name), Parameter):
            raise AttributeError(f"`{name}` is not an nn.Parameter")
        return getattr(mod, name)

    def get_buffer(self, target: str) -> Tensor:
        """The buffer at a dotted path (`"bn.running_mean"`), as PyTorch's."""
        mod, name = self._member_at(target)
        if name not in mod._buffers:
            raise AttributeError(f"`{name}` is not a buffer")
        return getattr(mod, name)

    def set_submodule(self, target: str, module: Module, strict: bool = False) -> None:
        """Puts `module` at a dotted path (`"layer1.0.conv1"`); with `strict`, only where a
        submodule already is (PyTorch's)."""
        if target == "":
            raise ValueError("Cannot set the submodule without a target name!")
        path, _, name = target.rpartition(".")
        parent = self.get_submodule(path)
        if strict and not hasattr(parent, name):
            raise AttributeError(f"{type(parent).__name__} has no attribute `{name}`")
        if hasattr(parent, name) and not isinstance(getattr(parent, name), Module):
            raise AttributeError(f"`{name}` is not an nn.Module")
        setattr(parent, name, module)

    # ---- traversal ------------------------------------------------------------------------

    def named_modules(self, memo: set | None = None, prefix: str = "", remove_duplicate: bool = True) -> Iterator[tuple[str, Module]]:
        memo = set() if memo is None else memo
        if self in memo and remove_duplicate:
            return
        if remove_duplicate:
            memo.add(self)
        yield prefix, self
        for name, m in self._modules.items():
            if m is not None:
                yield from m.named_modules(memo, f"{prefix}.{name}" if prefix else name, remove_duplicate)

    def modules(self) -> Iterator[Module]:
        for _, m in self.named_modules():
            yield m

    def named_children(self) -> Iterator[tuple[str, Module]]:
        seen = set()
        for name, m in self._modules.items():
            if m is not None and m not in seen:
                seen.add(m)
                yield name, m

    def children(self) -> Iterator[Module]:
        for _, m in self.named_children():
            yield m

    def _named_members(self, get, prefix: str, recurse: bool, remove_duplicate: bool = True):
        seen = set()
        mods = self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate) if recurse else [(prefix, self)]
        for mod_prefix, mod in mods:
            for k, v in get(mod):
                if v is None or (remove_duplicate and id(v) in seen):
                    continue
                seen.add(id(v))
                yield (f"{mod_prefix}.{k}" if mod_prefix else k), v

    def named_parameters(self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True) -> Iterator[tuple[str, Parameter]]:
        yield from self._named_members(lambda m: m._parameters.items(), prefix, recurse, remove_duplicate)

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True) -> Iterator[tuple[str, Tensor]]:
        yield from self._named_members(lambda m: m._buffers.items(), prefix, recurse, remove_duplicate)

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def apply(self, fn: Callable[[Module], None]) -> Module:
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    # ---- modes ----------------------------------------------------------------------------

    def train(self, mode: bool = True) -> Module:
        """Sets `training` on this module and every descendant; returns self.

        Only Dropout and BatchNorm layers behave differently in eval mode. Autograd is not
        affected: use `fg.no_grad()` or `fg.inference_mode()` for that. A module pinned with
        `pin_mode` keeps its pinned mode (and passes it to its own children).
        """
        if not isinstance(mode, bool):
            raise ValueError("training mode is expected to be boolean")
        pinned = self.__dict__.get("_pinned_mode")
        if pinned is not None:
            mode = pinned == "train"
        self.training = mode
        for m in self.children():
            m.train(mode)
        return self

    def eval(self) -> Module:
        return self.train(False)

    def compile(self, *args, **kwargs) -> None:
        """``model.compile()``, accepted as ``fg.compile``: there is no graph compiler, and the
        module computes the same numbers without one, so nothing changes."""

    def mode(self, mode: str):
        """A context manager: `with model.mode("eval"): ...` sets the mode and, on exit (also on
        an exception), gives every submodule back its own previous flag. Nestable."""
        from .utils.modes import ModeContext

        return ModeContext(self, mode)

    def pin_mode(self, mode: str) -> Module:
        """Keeps this module (and its children) in `mode` ("train" or "eval") through any
        parent's train()/eval() until `unpin_mode()`. Applies the mode now."""
        if mode not in ("train", "eval"):
            raise ValueError(f"pin_mode: mode must be 'train' or 'eval', got {mode!r}")
        object.__setattr__(self, "_pinned_mode", None)
        self.train(mode == "train")
        object.__setattr__(self, "_pinned_mode", mode)
        return self

    def unpin_mode(self) -> Module:
        """Removes the pin; the module keeps its current mode until the next train()/eval()."""
        object.__setattr__(self, "_pinned_mode", None)
        return self

    @property
    def pinned_mode(self) -> str | None:
        return self.__dict__.get("_pinned_mode")

    def _mode_meaning(self) -> str | None:
        """What the current mode means for this module, for `modes()` and `summary()`; None for a
        module whose behaviour does not depend on train/eval (the default). Layers that behave
        differently in training (Dropout, BatchNorm, InstanceNorm with running stats, RReLU, ...)
        override it, so the mode report needs no list of layer classes."""
        return None

    def modes(self):
        """Every module whose behaviour depends on the mode: path, class, mode, pin and what the
        mode means for it. Printable; `.entries` has the data. Changes nothing."""
        from .utils.modes import mode_report

        return mode_report(self)

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.parameters():
            if p.grad is None:
                continue
            if set_to_none:
                p.grad = None
            else:
                with no_grad():
                    p.grad.zero_()

    # ---- dtype ----------------------------------------------------------------------------

    def _apply_to_tensors(self, fn: Callable[[Tensor], Tensor], floats_only: bool = True) -> Module:
        """Replaces parameters and buffers by fn(tensor). Parameters keep their class and
        requires_grad; call this before building an optimizer (it holds the old objects)."""
        for m in self.modules():
            for name, p in list(m._parameters.items()):
                if p is None or (floats_only and not p.is_floating_point()):
                    continue
                # Unchanged (`model.float()` of a float32 model) keeps the Parameter, and with it
                # an optimizer built before the call.
                data = p.detach()
                new = fn(data)
                if new is not data:
                    grad = p.grad
                    m._parameters[name] = Parameter(new, p.requires_grad)
                    if grad is not None:  # converted along, as PyTorch's
                        m._parameters[name].grad = fn(grad)
            for name, b in list(m._buffers.items()):
                if b is None or (floats_only and not b.is_floating_point()):
                    continue
                m._buffers[name] = fn(b)
        return self

    def to(self, *args, memory_format=None, **kwargs) -> Module:
        """`to(dtype)`, `to("cpu")`, `to(device, dtype)`: converts floating point parameters and
        buffers (integer buffers such as num_batches_tracked are kept).

        `memory_format=` is checked against every 4-d and 5-d parameter and buffer as PyTorch
        checks it (`channels_last` on a Conv3d raises), but their layout is kept: PyTorch changes
        it in place, under the same Parameter objects, which ferrograd cannot; new Parameters
        would strand an optimizer built before the call, and the layout buys no speed here
        (ferrograd._memory_format)."""
        dtype = kwargs.get("dtype")
        for a in args:
            if isinstance(a, _core.dtype):
                dtype = a
            elif isinstance(a, Tensor):
                dtype = a.dtype
        probe = _core.full([], 0.0, _core.float32)
        probe.to(*args, **kwargs)  # validates device arguments with the tensor's rules
        if memory_format is not None:
            _mf._check(memory_format, "to")
            if memory_format in (_mf.channels_last, _mf.channels_last_3d):
                for t in [*self.parameters(), *self.buffers()]:
                    if t.dim() in (4, 5):
                        _mf.format_strides(t.shape, memory_format)  # PyTorch's rank error
        if dtype is None:
            return self
        return self._apply_to_tensors(lambda t: t.to(dtype) if t.dtype != dtype else t)

    def float(self) -> Module:
        return self.to(_core.float32)

    def half(self) -> Module:
        """float16 parameters and buffers: for storing (the nn layers compute in float32 and
        refuse half inputs; see the README's Limitations)."""
        return self.to(_core.float16)

    def bfloat16(self) -> Module:
        return self.to(_core.bfloat16)

    def double(self) -> Module:
        return self.to(_core.float64)

    def cpu(self) -> Module:
        return self

    def cuda(self, device=None) -> Module:
        raise RuntimeError("ferrograd runs on the CPU only: there is no CUDA device (fg.cuda.is_available() is False)")

    # ---- calling --------------------------------------------------------------------------

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f'Module [{type(self).__name__}] is missing the required "forward" function')

    def __call__(self, *args, **kwargs):
        stack = getattr(_calls, "stack", None)
        if stack is None:
            stack = _calls.stack = []
        stack.append(self)
        try:
            return self._call_impl(args, kwargs)
        finally:
            stack.pop()

    def _call_impl(self, args, kwargs):
        # The hot path: a layer without hooks pays these truth tests and nothing else.
        if (self._forward_hooks or self._forward_pre_hooks or self._backward_hooks or self._backward_pre_hooks
                or _global_call_hook_ids):
            return _hooks.call_with_hooks(self, args, kwargs)
        return self.forward(*args, **kwargs)

    # ---- hooks (PyTorch's semantics; the calling side is in _module_hooks.py) -------------

    def register_forward_pre_hook(self, hook: Callable, *, prepend: bool = False, with_kwargs: bool = False) -> RemovableHandle:
        """hook(module, args) -> None or new args, run before forward (a single non-tuple value is
        wrapped in a tuple). With `with_kwargs`, hook(module, args, kwargs) -> None or
        (new_args, new_kwargs). `prepend` runs it before this module's other pre-hooks (global
        ones still run first)."""
        handle = RemovableHandle(self._forward_pre_hooks, extra_dict=self._forward_pre_hooks_with_kwargs)
        self._forward_pre_hooks[handle.id] = hook
        if with_kwargs:
            self._forward_pre_hooks_with_kwargs[handle.id] = True
        if prepend:
            self._forward_pre_hooks.move_to_end(handle.id, last=False)
        return handle

    def register_forward_hook(self, hook: Callable, *, prepend: bool = False, with_kwargs: bool = False,
                              always_call: bool = False) -> RemovableHandle:
        """hook(module, args, output) -> None or a new output, run after forward; with
        `with_kwargs`, hook(module, args, kwargs, output). `always_call` runs it also when forward
        (or an earlier hook) raises; the original error is re-raised."""
        handle = RemovableHandle(self._forward_hooks, extra_dict=[self._forward_hooks_with_kwargs, self._forward_hooks_always_called])
        self._forward_hooks[handle.id] = hook
        if with_kwargs:
            self._forward_hooks_with_kwargs[handle.id] = True
        if always_call:
            self._forward_hooks_always_called[handle.id] = True
        if prepend:
            self._forward_hooks.move_to_end(handle.id, last=False)
        return handle

    def register_full_backward_pre_hook(self, hook: Callable, prepend: bool = False) -> RemovableHandle:
        """hook(module, grad_output) -> None or a new grad_output, run when the gradients w.r.t. the
        module's outputs are ready (grad_output is a tuple, None for non-tensor outputs).

        As in PyTorch, forward then receives an alias of each input tensor and the caller an
        alias of each output tensor; do not modify them in place (PyTorch raises; ferrograd
        does not detect it yet, see tests/test_module_hooks.py)."""
        handle = RemovableHandle(self._backward_pre_hooks)
        self._backward_pre_hooks[handle.id] = hook
        if prepend:
            self._backward_pre_hooks.move_to_end(handle.id, last=False)
        return handle

    def register_full_backward_hook(self, hook: Callable, prepend: bool = False) -> RemovableHandle:
        """hook(module, grad_input, grad_output) -> None or a new grad_input, run when the gradients
        w.r.t. the module's positional inputs are ready (None for non-tensor inputs and inputs that
        do not require grad). When no input requires grad, it fires with the output gradients
        and grad_input all None (with PyTorch's warning); when no output requires grad, not at all."""
        return self._add_backward_hook(hook, full=True, prepend=prepend)

    def register_backward_hook(self, hook: Callable) -> RemovableHandle:
        """Deprecated in PyTorch in favour of `register_full_backward_hook`. PyTorch hangs these
        hooks on the last autograd node of forward, whose inputs are only the module's inputs for
        single-op modules; ferrograd runs them as full backward hooks and says so with a
        FutureWarning at each call."""
        return self._add_backward_hook(hook, full=False, prepend=False)

    def _add_backward_hook(self, hook: Callable, *, full: bool, prepend: bool) -> RemovableHandle:
        # Both kinds share one table; `_is_full_backward_hook` remembers which kind the module
        # took first, and the other kind is refused (PyTorch's rule and message).
        if self._is_full_backward_hook is (not full):
            raise RuntimeError(
                "Cannot use both regular backward hooks and full backward hooks on a single Module. "
                "Please use only one of them."
            )
        object.__setattr__(self, "_is_full_backward_hook", full)
        handle = RemovableHandle(self._backward_hooks)
        self._backward_hooks[handle.id] = hook
        if prepend:
            self._backward_hooks.move_to_end(handle.id, last=False)
        return handle

    # ---- repr -----------------------------------------------------------------------------

    def extra_repr(self) -> str:
        return ""

    def _get_name(self) -> str:
        return type(self).__name__

    def __repr__(self) -> str:
        lines = []
        extra = self.extra_repr()
        pinned = self.__dict__.get("_pinned_mode")
        if pinned is not None:
            extra = f"{extra}, pinned={pinned!r}" if extra else f"pinned={pinned!r}"
        if extra:
            lines = extra.split("\n")
        for name, m in self._modules.items():
            mod = repr(m).replace("\n", "\n  ")
            lines.append(f"({name}): {mod}")
        main = self._get_name() + "("
        if lines:
            if len(lines) == 1 and not self._modules:
                main += lines[0]
            else:
                main += "\n  " + "\n  ".join(lines) + "\n"
        return main + ")"

    def __dir__(self):
        return sorted(set(object.__dir__(self)) | set(self._parameters) | set(self._buffers) | set(self._modules))

    def __getstate__(self):
        return self.__dict__.copy()

    def __setstate__(self, state):
        self.__dict__.update(state)
        for name in _HOOK_TABLES:  # pickles from before the hook tables existed
            if name not in self.__dict__:
                object.__setattr__(self, name, OrderedDict())
        if "_is_full_backward_hook" not in self.__dict__:
            object.__setattr__(self, "_is_full_backward_hook", None)
