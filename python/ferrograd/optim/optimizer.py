"""The Optimizer base class: parameter groups, per-parameter state, zero_grad and state dicts.

Subclasses implement `step`, which calls one fused Rust kernel per parameter (`_core._*_step`)
under `no_grad`; the kernel updates the parameter and its state tensors in place.

The state dict has PyTorch's layout: ``{"state": {0: {...}, 1: {...}}, "param_groups": [{...,
"params": [0, 1]}]}``, parameters numbered in group order.
"""

from __future__ import annotations

import copy
import warnings
from collections import defaultdict
from itertools import chain
from typing import Any, Callable, Iterable

from .. import _creation
from .._core import Tensor
from ..autograd.grad_mode import enable_grad

__all__ = ["Optimizer", "required"]


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

    def __init__(self, params: Iterable[Tensor] | Iterable[dict], defaults: dict[str, Any]) -> None:
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

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Performs one optimization step. `closure` re-evaluates the model and returns the loss."""
        raise NotImplementedError

    @staticmethod
    def _evaluate(closure: Callable[[], Any] | None) -> Any:
        if closure is None:
            return None
        with enable_grad():
            return closure()

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


def _check_shapes(key: Any, param: Tensor, value: Any, name: str | None = None) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _check_shapes(key, param, v, k)
    elif isinstance(value, Tensor) and name != "step" and value.shape != param.shape:
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
        return value.detach().clone()
    if isinstance(value, dict):
        return {k: _cast(param, v, k) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_cast(param, v, name) for v in value)
    return value


# ---- helpers shared by the optimizers ---------------------------------------------------------


def _zeros(p: Tensor) -> Tensor:
    return _creation.zeros_like(p)


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
