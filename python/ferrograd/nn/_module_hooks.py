"""Module hooks: the global hook tables, their register_module_* functions, and the slow path
of `Module.__call__` that runs hooks.

`Module.__call__` checks the per-module and global tables and calls `forward` directly when all
are empty, so layers without hooks pay a few dict truth tests. Everything else follows PyTorch's
torch/nn/modules/module.py: global hooks fire before the module's own, forward pre-hooks may
replace the args (or args and kwargs), forward hooks may replace the output, `always_call`
hooks also run when forward raises, and full backward hooks hang identity nodes on the
module's tensor inputs and outputs (`ferrograd.utils.hooks.BackwardHook`).

The tables are mutated in place and never rebound: module.py imports them by name.
"""

from __future__ import annotations

import warnings
from collections import OrderedDict
from typing import Callable

from .._core import Tensor
from ..utils.hooks import BackwardHook, RemovableHandle

_global_buffer_registration_hooks: dict[int, Callable] = OrderedDict()
_global_module_registration_hooks: dict[int, Callable] = OrderedDict()
_global_parameter_registration_hooks: dict[int, Callable] = OrderedDict()

_global_backward_pre_hooks: dict[int, Callable] = OrderedDict()
_global_backward_hooks: dict[int, Callable] = OrderedDict()
_global_forward_pre_hooks: dict[int, Callable] = OrderedDict()
_global_forward_hooks: dict[int, Callable] = OrderedDict()
_global_forward_hooks_always_called: dict[int, bool] = OrderedDict()
_global_forward_hooks_with_kwargs: dict[int, bool] = OrderedDict()
# The ids of every global forward / backward hook, so Module.__call__ tests one dict for all four
# tables (each handle removes its id from here too).
_global_call_hook_ids: dict[int, bool] = OrderedDict()
# Whether the global backward hooks are full ones (True), old-style ones (False) or none yet.
_global_is_full_backward_hook: list[bool | None] = [None]


def register_module_buffer_registration_hook(hook: Callable) -> RemovableHandle:
    """hook(module, name, buffer) -> None or a new buffer, on every `register_buffer` of any module."""
    handle = RemovableHandle(_global_buffer_registration_hooks)
    _global_buffer_registration_hooks[handle.id] = hook
    return handle


def register_module_module_registration_hook(hook: Callable) -> RemovableHandle:
    """hook(module, name, submodule) -> None or a new submodule, on every submodule registration."""
    handle = RemovableHandle(_global_module_registration_hooks)
    _global_module_registration_hooks[handle.id] = hook
    return handle


def register_module_parameter_registration_hook(hook: Callable) -> RemovableHandle:
    """hook(module, name, param) -> None or a new parameter, on every `register_parameter`."""
    handle = RemovableHandle(_global_parameter_registration_hooks)
    _global_parameter_registration_hooks[handle.id] = hook
    return handle


def register_module_forward_pre_hook(hook: Callable) -> RemovableHandle:
    """hook(module, args) -> None or new args, before every module's forward (before the module's
    own pre-hooks). For debugging and profiling: it is global state."""
    handle = RemovableHandle(_global_forward_pre_hooks, extra_dict=_global_call_hook_ids)
    _global_forward_pre_hooks[handle.id] = hook
    _global_call_hook_ids[handle.id] = True
    return handle


def register_module_forward_hook(hook: Callable, *, with_kwargs: bool = False, always_call: bool = False) -> RemovableHandle:
    """hook(module, args, output) -> None or a new output (hook(module, args, kwargs, output) with
    `with_kwargs`), after every module's forward (before the module's own forward hooks).
    `always_call`: also run when forward raises."""
    handle = RemovableHandle(
        _global_forward_hooks,
        extra_dict=[_global_forward_hooks_always_called, _global_forward_hooks_with_kwargs, _global_call_hook_ids],
    )
    _global_forward_hooks[handle.id] = hook
    _global_call_hook_ids[handle.id] = True
    if with_kwargs:
        _global_forward_hooks_with_kwargs[handle.id] = True
    if always_call:
        _global_forward_hooks_always_called[handle.id] = True
    return handle


def _register_global_backward_hook(hook: Callable, full: bool) -> RemovableHandle:
    """The old and the full global backward hooks share one table; PyTorch refuses to mix them."""
    if _global_is_full_backward_hook[0] is (not full):
        raise RuntimeError(
            "Cannot use both regular backward hooks and full backward hooks as a global Module hook. "
            "Please use only one of them."
        )
    _global_is_full_backward_hook[0] = full
    handle = RemovableHandle(_global_backward_hooks, extra_dict=_global_call_hook_ids)
    _global_backward_hooks[handle.id] = hook
    _global_call_hook_ids[handle.id] = True
    return handle


def register_module_backward_hook(hook: Callable) -> RemovableHandle:
    """Deprecated in PyTorch in favour of `register_module_full_backward_hook`; ferrograd runs
    these hooks with the full hook's semantics (see `Module.register_backward_hook`)."""
    return _register_global_backward_hook(hook, full=False)


def register_module_full_backward_pre_hook(hook: Callable) -> RemovableHandle:
    """hook(module, grad_output) -> None or a new grad_output, for every module (before the
    module's own backward pre-hooks)."""
    handle = RemovableHandle(_global_backward_pre_hooks, extra_dict=_global_call_hook_ids)
    _global_backward_pre_hooks[handle.id] = hook
    _global_call_hook_ids[handle.id] = True
    return handle


def register_module_full_backward_hook(hook: Callable) -> RemovableHandle:
    """hook(module, grad_input, grad_output) -> None or a new grad_input, for every module (before
    the module's own backward hooks)."""
    return _register_global_backward_hook(hook, full=True)


def run_registration_hooks(table: dict, module, name: str, value):
    """Runs the global registration hooks of `table` on (module, name, value); returns the value
    the last hook that returned one gave."""
    for hook in table.values():
        out = hook(module, name, value)
        if out is not None:
            value = out
    return value


_NON_FULL_WARNING = (
    "ferrograd runs hooks registered with register_backward_hook (deprecated in PyTorch) as full backward "
    "hooks: grad_input is the gradient w.r.t. the module's positional tensor inputs, which is what "
    "PyTorch's documentation promises and its old hooks only give for single-node modules. Use "
    "register_full_backward_hook to silence this warning."
)


def _backward_hooks_of(module) -> list:
    hooks: list = []
    if _global_backward_hooks:
        if _global_is_full_backward_hook[0] is False:
            warnings.warn(_NON_FULL_WARNING, FutureWarning, stacklevel=4)
        hooks += _global_backward_hooks.values()
    if module._backward_hooks:
        if module._is_full_backward_hook is False:
            warnings.warn(_NON_FULL_WARNING, FutureWarning, stacklevel=4)
        hooks += module._backward_hooks.values()
    return hooks


def _run_forward_hooks(module, args, kwargs, result, called: set, only_always: bool):
    for table, with_kwargs, always in (
        (_global_forward_hooks, _global_forward_hooks_with_kwargs, _global_forward_hooks_always_called),
        (module._forward_hooks, module._forward_hooks_with_kwargs, module._forward_hooks_always_called),
    ):
        for hook_id, hook in list(table.items()):
            if only_always:
                if hook_id not in always or hook_id in called:
                    continue
                try:
                    out = hook(module, args, kwargs, result) if hook_id in with_kwargs else hook(module, args, result)
                except Exception as e:  # the forward's own error is the one to raise
                    warnings.warn(
                        "module forward hook with ``always_call=True`` raised an exception that was silenced as "
                        f"another error was raised in forward: {e}",
                        stacklevel=4,
                    )
                    continue
            else:
                if hook_id in always:
                    called.add(hook_id)
                out = hook(module, args, kwargs, result) if hook_id in with_kwargs else hook(module, args, result)
            if out is not None:
                result = out
    return result


def call_with_hooks(module, args: tuple, kwargs: dict):
    """`module(*args, **kwargs)` with every registered hook (the slow path of Module.__call__)."""
    result = None
    called: set = set()
    try:
        backward_pre_hooks = [*_global_backward_pre_hooks.values(), *module._backward_pre_hooks.values()]
        full_backward_hooks = _backward_hooks_of(module)

        if _global_forward_pre_hooks or module._forward_pre_hooks:
            with_kwargs = module._forward_pre_hooks_with_kwargs
            for hook_id, hook in (*_global_forward_pre_hooks.items(), *module._forward_pre_hooks.items()):
                if hook_id in with_kwargs:
                    res = hook(module, args, kwargs)
                    if res is not None:
                        if isinstance(res, tuple) and len(res) == 2:
                            args, kwargs = res
                        else:
                            raise RuntimeError(
                                f"forward pre-hook must return None or a tuple of (new_args, new_kwargs), but got {res}."
                            )
                else:
                    res = hook(module, args)
                    if res is not None:
                        args = res if isinstance(res, tuple) else (res,)

        bw_hook = None
        if full_backward_hooks or backward_pre_hooks:
            bw_hook = BackwardHook(module, full_backward_hooks, backward_pre_hooks)
            args = bw_hook.setup_input_hook(args)

        result = module.forward(*args, **kwargs)
        if _global_forward_hooks or module._forward_hooks:
            result = _run_forward_hooks(module, args, kwargs, result, called, only_always=False)

        if bw_hook is not None:
            if not isinstance(result, (Tensor, tuple)):
                warnings.warn(
                    "For backward hooks to be called, module output should be a Tensor or a tuple of Tensors "
                    f"but received {type(result)}",
                    stacklevel=3,
                )
            result = bw_hook.setup_output_hook(result)
        return result
    except Exception:
        if _global_forward_hooks_always_called or module._forward_hooks_always_called:
            _run_forward_hooks(module, args, kwargs, result, called, only_always=True)
        raise
