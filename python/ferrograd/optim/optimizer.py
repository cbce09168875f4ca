"""The Optimizer base class: parameter groups, per-parameter state, the one `step()` loop, step
hooks, zero_grad and state dicts.

`Optimizer.step` is the loop every optimizer shares: it evaluates the closure under
`enable_grad`, then, under `no_grad`, visits each parameter that has a gradient and calls two
hooks the subclass defines:

- ``_init_state(p, state, group)``: create the missing entries of ``state`` (PyTorch's keys:
  ``"step"``, ``"exp_avg"``, ``"momentum_buffer"``, ...). Called before every update, so options
  switched on at runtime (``amsgrad``, ``centered``) get their entries lazily.
- ``_update(p, grad, state, group)``: apply one update in place, usually one fused Rust kernel
  (``_core._adam_step`` etc.), reading the hyperparameters from ``group`` at that moment, so a
  scheduler's edits of ``group["lr"]`` take effect on the next step.

A parameter gets an entry in ``self.state`` only once it has state (SGD without momentum keeps
none, as in PyTorch). An optimizer is then its hyperparameters plus these two methods:

.. code-block:: python

    class HeavyBall(Optimizer):  # p = p - lr * buf, with buf = momentum * buf + grad

        def __init__(self, params, lr=1e-2, momentum=0.9):
            if not 0.0 <= lr:
                raise ValueError(f"Invalid learning rate: {lr}")
            super().__init__(params, dict(lr=lr, momentum=momentum))

        def _init_state(self, p, state, group):
            if "momentum_buffer" not in state:
                state["momentum_buffer"] = fg.zeros_like(p)

        def _update(self, p, grad, state, group):
            buf = state["momentum_buffer"].mul_(group["momentum"]).add_(grad)
            p.add_(buf, alpha=-group["lr"])

Optimizers written PyTorch's way, overriding `step` themselves, work too; their `step` gets the
step hooks (`register_step_pre_hook`, `register_step_post_hook`) wrapped around it.

The state dict has PyTorch's layout: ``{"state": {0: {...}, 1: {...}}, "param_groups": [{...,
"params": [0, 1]}]}``, parameters numbered in group order.
"""

from __future__ import annotations

import copy
import functools
import warnings
from collections import OrderedDict, defaultdict
from itertools import chain
from typing import Any, Callable, Iterable

from .. import _creation
from .. import _memory_format as _mf
from .._core import Tensor
from ..autograd.grad_mode import enable_grad, no_grad
from ..nn.module import RemovableHandle

__all__ = ["Optimizer", "required", "register_optimizer_step_pre_hook", "register_optimizer_step_post_hook"]

_global_step_pre_hooks: OrderedDict[int, Callable] = OrderedDict()
_global_step_post_hooks: OrderedDict[int, Callable] = OrderedDict()


def register_optimizer_step_pre_hook(hook: Callable) -> RemovableHandle:
    """Registers ``hook(optimizer, args, kwargs)`` to run before every optimizer's step (before the
    optimizer's own pre hooks); it may return ``(new_args, new_kwargs)``."""
    handle = RemovableHandle(_global_step_pre_hooks)
    _global_step_pre_hooks[handle.id] = hook
    return handle


def register_optimizer_step_post_hook(hook: Callable) -> RemovableHandle:
    """Registers ``hook(optimizer, args, kwargs)`` to run after every optimizer's step (after the
    optimizer's own post hooks)."""
    handle = RemovableHandle(_global_step_post_hooks)
    _global_step_post_hooks[handle.id] = hook
    return handle


def _with_step_hooks(step: Callable) -> Callable:
    """Wraps a `step` method with the global and per-optimizer step hooks, as PyTorch does.
    A `step` that calls ``super().step()`` runs the hooks once, around the outer call."""

    @functools.wraps(step)
    def hooked_step(*args: Any, **kwargs: Any) -> Any:
        self = args[0]
        if self._stepping:
            return step(*args, **kwargs)
        self._stepping = True
        try:
            for hook in chain(_global_step_pre_hooks.values(), self._optimizer_step_pre_hooks.values()):
                result = hook(self, args, kwargs)
                if result is None:
                    continue
                if not (isinstance(result, tuple) and len(result) == 2):
                    raise RuntimeError(f"{step} must return None or a tuple of (new_args, new_kwargs), but got {result}.")
                args, kwargs = result
            out = step(*args, **kwargs)
            for hook in chain(self._optimizer_step_post_hooks.values(), _global_step_post_hooks.values()):
                hook(self, args, kwargs)
            return out
        finally:
            self._stepping = False

    hooked_step._step_hooks = True  # type: ignore[attr-defined]
    return hooked_step


class _RequiredParameter:
    """Marks a default that every parameter group must set itself."""

    def __repr__(self) -> str:
        return "<required parameter>"


required = _RequiredParameter()


def _typename(obj: Any) -> str:
    if isinstance(obj, Tensor):
        return f"ferrograd.Tensor (dtype {obj.dtype})"
    cls = type(obj)
    return cls.__name__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"


class Optimizer:
    """Base class of all optimizers.

    Args:
        params: an iterable of Tensors, or of dicts (parameter groups) each with a ``"params"``
            entry and per-group overrides of the defaults.
        defaults: the hyperparameters a group gets when it does not set them.
    """

    _stepping = False  # set while a hooked step runs, so a nested super().step() skips the hooks
    # Whether each state tensor has its parameter's shape (checked on load); LBFGS keeps flat
    # vectors spanning all parameters instead.
    _state_matches_param_shapes = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        step = cls.__dict__.get("step")
        if step is not None and not getattr(step, "_step_hooks", False):
            cls.step = _with_step_hooks(step)  # type: ignore[method-assign]

    def __init__(self, params: Iterable[Tensor] | Iterable[dict], defaults: dict[str, Any]) -> None:
        self._optimizer_step_pre_hooks: OrderedDict[int, Callable] = OrderedDict()
        self._optimizer_step_post_hooks: OrderedDict[int, Callable] = OrderedDict()
        self.defaults = defaults
        self.state: defaultdict[Any, dict[str, Any]] = defaultdict(dict)
        self.param_groups: list[dict[str, Any]] = []
        if isinstance(params, Tensor):
            raise TypeError(
                "params argument given to the optimizer should be an iterable of Tensors or dicts, but got " + _typename(params)
            )
        param_groups = list(params)
        if len(param_groups) == 0:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(param_groups[0], dict):
            param_groups = [{"params": param_groups}]
        for group in param_groups:
            self.add_param_group(group)

    def __getstate__(self) -> dict[str, Any]:
        return {"defaults": self.defaults, "state": self.state, "param_groups": self.param_groups}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        # Hooks are not pickled (as in PyTorch): an unpickled optimizer starts without them.
        self.__dict__.setdefault("_optimizer_step_pre_hooks", OrderedDict())
        self.__dict__.setdefault("_optimizer_step_post_hooks", OrderedDict())

    def __repr__(self) -> str:
        out = self.__class__.__name__ + " ("
        for i, group in enumerate(self.param_groups):
            out += f"\nParameter Group {i}\n"
            for key in sorted(group):
                if key != "params":
                    out += f"    {key}: {group[key]}\n"
        return out + ")"

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Adds a group of parameters (a dict with ``"params"``), filling in the defaults."""
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {_typename(param_group)}")
        params = param_group["params"]
        if isinstance(params, Tensor):
            param_group["params"] = [params]
        elif isinstance(params, set):
            raise TypeError(
                "optimizer parameters need to be organized in ordered collections, but the ordering of "
                "tensors in sets will change between runs. Please use a list instead."
            )
        else:
            param_group["params"] = list(params)
        # `named_parameters()` (PyTorch 2.6+): (name, tensor) pairs; the names are kept in the
        # group as "param_names", all of a group's parameters named or none.
        named = [p for p in param_group["params"] if isinstance(p, tuple)]
        if named:
            if len(named) != len(param_group["params"]):
                raise ValueError("all optimizer params should be with/without names. Some param names are missing")
            param_group["param_names"] = [name for name, _ in named]
            param_group["params"] = [p for _, p in named]
        if any(("param_names" in g) != ("param_names" in param_group) for g in self.param_groups):
            raise ValueError("all optimizer param groups should be with/without names. "
                             f"cannot add param group {'with' if named else 'without'} names to the optimizer")
        for param in param_group["params"]:
            if not isinstance(param, Tensor):
                raise TypeError("optimizer can only optimize Tensors, but one of the params is " + _typename(param))
            if not (param.is_leaf or param.retains_grad):
                raise ValueError("can't optimize a non-leaf Tensor")
        for name, default in self.defaults.items():
            if default is required and name not in param_group:
                raise ValueError(f"parameter group didn't specify a value of required optimization parameter {name}")
            param_group.setdefault(name, default)
        params = param_group["params"]
        if len(params) != len(set(params)):
            warnings.warn(
                "optimizer contains a parameter group with duplicate parameters; in future, this will cause an error",
                stacklevel=3,
            )
        seen: set[Tensor] = set()
        for group in self.param_groups:
            seen.update(group["params"])
        if not seen.isdisjoint(params):
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(param_group)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clears the gradients: sets them to None (default), or zeroes them in place."""
        for group in self.param_groups:
            for p in group["params"]:
                grad = p.grad
                if grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                    continue
                if grad.grad_fn is not None:
                    grad = grad.detach()
                    p.grad = grad
                else:
                    grad.requires_grad_(False)
                grad.zero_()

    @_with_step_hooks
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Performs one optimization step and returns the closure's loss (None without one).

        Args:
            closure: re-evaluates the model and returns the loss; it runs with grad enabled,
                before any parameter changes.
        """
        loss = self._evaluate(closure)
        with no_grad():
            for group in self.param_groups:
                for p in group["params"]:
                    grad = p.grad
                    if grad is None:
                        continue
                    state = self.state.get(p)
                    fresh = state is None
                    if fresh:
                        state = {}
                    self._init_state(p, state, group)
                    self._update(p, grad, state, group)
                    if fresh and state:
                        self.state[p] = state
        return loss

    def _init_state(self, p: Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        """Creates the missing entries of `p`'s `state` before an update. Default: none."""

    def _update(self, p: Tensor, grad: Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        """Updates `p` (and `state`) in place from `grad` with `group`'s hyperparameters."""
        raise NotImplementedError(f"{type(self).__name__} must define _update() (or override step())")

    @staticmethod
    def _evaluate(closure: Callable[[], Any] | None) -> Any:
        if closure is None:
            return None
        with enable_grad():
            return closure()

    def register_step_pre_hook(self, hook: Callable) -> RemovableHandle:
        """Registers ``hook(optimizer, args, kwargs)`` to run before each `step`; it may return
        ``(new_args, new_kwargs)`` to replace the step's arguments. Returns a handle whose
        ``remove()`` unregisters it."""
        handle = RemovableHandle(self._optimizer_step_pre_hooks)
        self._optimizer_step_pre_hooks[handle.id] = hook
        return handle

    def register_step_post_hook(self, hook: Callable) -> RemovableHandle:
        """Registers ``hook(optimizer, args, kwargs)`` to run after each `step`. Returns a handle
        whose ``remove()`` unregisters it."""
        handle = RemovableHandle(self._optimizer_step_post_hooks)
        self._optimizer_step_post_hooks[handle.id] = hook
        return handle

    # ---- state ------------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """The state as ``{"state": ..., "param_groups": ...}`` with parameters as integer ids.

        As in PyTorch, the state tensors are the optimizer's own (not copies): save or deepcopy
        the dict before stepping again if you need a snapshot.
        """
        ids: dict[int, int] = {}
        start = 0

        def pack(group: dict[str, Any]) -> dict[str, Any]:
            nonlocal start
            packed = {k: v for k, v in group.items() if k != "params"}
            for i, p in enumerate(group["params"], start):
                ids.setdefault(id(p), i)
            packed["params"] = [ids[id(p)] for p in group["params"]]
            start += len(packed["params"])
            return packed

        param_groups = [pack(g) for g in self.param_groups]
        state = {(ids[id(k)] if isinstance(k, Tensor) else k): v for k, v in self.state.items()}
        return {"state": state, "param_groups": param_groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Loads a dict from `state_dict()`. Everything is checked (group and parameter counts,
        state shapes) before anything changes; state tensors are copied, cast to each
        parameter's dtype (the step count keeps its own)."""
        groups = self.param_groups
        saved_groups = copy.deepcopy(state_dict["param_groups"])
        if len(groups) != len(saved_groups):
            raise ValueError("loaded state dict has a different number of parameter groups")
        if any(len(g["params"]) != len(s["params"]) for g, s in zip(groups, saved_groups)):
            raise ValueError("loaded state dict contains a parameter group that doesn't match the size of optimizer's group")
        id_map = dict(zip(chain.from_iterable(g["params"] for g in saved_groups), chain.from_iterable(g["params"] for g in groups)))
        if self._state_matches_param_shapes:
            for key, value in state_dict["state"].items():
                if key in id_map:
                    _check_shapes(key, id_map[key], value)

        state: defaultdict[Any, dict[str, Any]] = defaultdict(dict)
        for key, value in state_dict["state"].items():
            if key in id_map:
                param = id_map[key]
                state[param] = _cast(param, value)
            else:
                state[key] = value
        for group, saved in zip(groups, saved_groups):
            saved["params"] = group["params"]
            for key, default in self.defaults.items():  # dicts from versions with fewer options
                saved.setdefault(key, default)
        self.__setstate__({"state": state, "param_groups": saved_groups})


# State entries that are one number per parameter (0-dim tensors), not parameter-shaped.
_SCALAR_STATE = frozenset({"step", "mu_product", "eta", "mu"})


def _check_shapes(key: Any, param: Tensor, value: Any, name: str | None = None) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _check_shapes(key, param, v, k)
    elif isinstance(value, Tensor) and name not in _SCALAR_STATE and value.shape != param.shape:
        raise ValueError(
            f"loaded state dict has '{name}' of shape {tuple(value.shape)} for parameter {key}, "
            f"but that parameter has shape {tuple(param.shape)}"
        )


def _cast(param: Tensor, value: Any, name: str | None = None) -> Any:
    """A copy of a loaded state value: tensors cast to the parameter's dtype (except the step
    count), contiguous and owned by the optimizer."""
    if isinstance(value, Tensor):
        if name != "step" and param.is_floating_point():
            value = value.to(dtype=param.dtype)
        return value.detach().clone(memory_format=_mf.contiguous_format)
    if isinstance(value, dict):
        return {k: _cast(param, v, k) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_cast(param, v, name) for v in value)
    return value


# ---- helpers shared by the optimizers ---------------------------------------------------------


def _zeros(p: Tensor) -> Tensor:
    # Contiguous whatever the parameter's strides: the update kernels walk state in order (PyTorch
    # keeps a transposed parameter's strides; the values are the same).
    return _creation.zeros_like(p, memory_format=_mf.contiguous_format)


def _step_count() -> Tensor:
    """A fresh step counter: a float32 scalar tensor, as PyTorch keeps it."""
    return _creation.tensor(0.0)


def _next_step(state: dict[str, Any]) -> float:
    """Increments ``state["step"]`` (a tensor or a number) and returns the new count."""
    step = state["step"]
    if isinstance(step, Tensor):
        step += 1
        return float(step.item())
    state["step"] = step + 1
    return float(step + 1)


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


def _refuse_unsupported(capturable: bool = False, differentiable: bool = False) -> None:
    """The options ferrograd accepts only at their defaults (with PyTorch's names)."""
    _check(not capturable, "capturable=True is not supported: it is for CUDA graphs")
    _check(not differentiable, "differentiable=True is not supported: ferrograd's optimizer steps run off the autograd graph")


def _scalar_state(value: float) -> Tensor:
    """A float32 scalar state entry (``mu_product``, ``eta``, ``mu``), as PyTorch keeps them: the
    updates read them back rounded to float32, so keeping them in float64 would drift."""
    return _creation.tensor(float(value))


def _check_adam_family(lr: float, betas: tuple[float, float], eps: float, weight_decay: float) -> None:
    """The hyperparameter checks Adam, AdamW, Adamax, NAdam and RAdam share, with PyTorch's messages."""
    _check(0.0 <= lr, f"Invalid learning rate: {lr}")
    _check(0.0 <= eps, f"Invalid epsilon value: {eps}")
    _check(0.0 <= betas[0] < 1.0, f"Invalid beta parameter at index 0: {betas[0]}")
    _check(0.0 <= betas[1] < 1.0, f"Invalid beta parameter at index 1: {betas[1]}")
    _check(0.0 <= weight_decay, f"Invalid weight_decay value: {weight_decay}")
