"""Hook plumbing shared by nn.Module, optimizers and tensors (PyTorch's torch.utils.hooks).

`RemovableHandle` is what every register_*_hook returns. `BackwardHook` implements
nn.Module's full backward hooks the way PyTorch does: an identity autograd node over the
module's tensor inputs and another over its tensor outputs. The output node runs first in the
backward pass and captures grad_output (after the backward pre-hooks may replace it); the input
node runs once every gradient w.r.t. the inputs has arrived and calls the user hooks with
(module, grad_input, grad_output), whose return may replace grad_input.
"""

from __future__ import annotations

import warnings
import weakref
from collections import OrderedDict
from typing import Any

from .. import _core
from .._core import Tensor

__all__ = ["RemovableHandle", "unserializable_hook", "BackwardHook"]

# The name PyTorch gives the identity node's grad_fn (a Function called BackwardHookFunction).
_NODE_NAME = "BackwardHookFunctionBackward"


class RemovableHandle:
    """A handle that removes a hook: `handle.remove()`, or use it as a context manager.

    Args:
        hooks_dict (dict): the hooks, keyed by hook ``id``.
        extra_dict (dict or list of dicts): dicts whose entry for the same ``id`` is removed too
            (for flags such as with_kwargs or always_call).
    """

    id: int
    next_id: int = 0

    def __init__(self, hooks_dict: Any, *, extra_dict: Any = None) -> None:
        self.hooks_dict_ref = weakref.ref(hooks_dict)
        self.id = RemovableHandle.next_id
        RemovableHandle.next_id += 1
        self.extra_dict_ref: tuple = ()
        if isinstance(extra_dict, dict):
            self.extra_dict_ref = (weakref.ref(extra_dict),)
        elif isinstance(extra_dict, list):
            self.extra_dict_ref = tuple(weakref.ref(d) for d in extra_dict)

    def remove(self) -> None:
        hooks_dict = self.hooks_dict_ref()
        if hooks_dict is not None and self.id in hooks_dict:
            del hooks_dict[self.id]
        for ref in self.extra_dict_ref:
            extra = ref()
            if extra is not None and self.id in extra:
                del extra[self.id]

    def __getstate__(self):
        return (self.hooks_dict_ref(), self.id, tuple(ref() for ref in self.extra_dict_ref))

    def __setstate__(self, state) -> None:
        self.hooks_dict_ref = weakref.ref(OrderedDict() if state[0] is None else state[0])
        self.id = state[1]
        RemovableHandle.next_id = max(RemovableHandle.next_id, self.id + 1)
        self.extra_dict_ref = () if len(state) < 3 or state[2] is None else tuple(weakref.ref(d) for d in state[2])

    def __enter__(self) -> "RemovableHandle":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.remove()


def unserializable_hook(f):
    """Marks a hook as not meant to be serialized (PyTorch's decorator; kept for API parity)."""
    f.__torch_unserializable__ = True
    return f


def _identity_node(tensors: list, backward) -> list:
    """Aliases of `tensors` joined by one identity node whose backward is `backward(grads)`.

    Tensors that do not require grad pass through unchanged (PyTorch marks them
    non-differentiable); the aliases share storage with the originals, so nothing is copied.
    """
    outs = [t.detach() if t.requires_grad else None for t in tensors]
    _core._function_node(_NODE_NAME, list(tensors), outs, backward)
    return [o if o is not None else t for o, t in zip(outs, tensors)]


class BackwardHook:
    """Wraps one call of a module with full backward hooks (built by Module.__call__).

    `setup_input_hook(args)` and `setup_output_hook(result)` return the args / result with their
    tensors replaced by aliases that carry the identity nodes. Non-tensor positions show as None
    in grad_input and grad_output.
    """

    def __init__(self, module, user_hooks: list, user_pre_hooks: list) -> None:
        self.user_hooks = user_hooks
        self.user_pre_hooks = user_pre_hooks
        self.module = module
        self.grad_outputs: tuple | None = None
        self.n_outputs = -1
        self.output_tensors_index: list | None = None
        self.n_inputs = -1
        self.input_tensors_index: list | None = None
        self._input_meta: list = []
        self._output_meta: list = []

    @staticmethod
    def _pack_with_none(indices, values, size) -> tuple:
        res = [None] * size
        for idx, val in zip(indices, values):
            res[idx] = val
        return tuple(res)

    @staticmethod
    def _unpack_none(indices, values) -> tuple:
        return tuple(values[idx] for idx in indices)

    def _apply_on_tensors(self, backward, args):
        """Puts an identity node over the tensors in `args`; returns (new args, tensor indices),
        or (args, None) when no tensor requires grad or grad mode is off."""
        tensors_idx = [i for i, a in enumerate(args) if isinstance(a, Tensor)]
        tensors = [args[i] for i in tensors_idx]
        if not (any(t.requires_grad for t in tensors) and _core.is_grad_enabled()):
            return args, None
        new_tensors = _identity_node(tensors, backward)
        arg_list = list(args)
        for idx, val in zip(tensors_idx, new_tensors):
            arg_list[idx] = val
        out = tuple(arg_list) if type(args) is tuple else type(args)(*arg_list)
        return out, tensors_idx

    # ---- inputs: the user hooks run here, once grad_input is complete ------------------------

    def _input_backward(self, grads):
        # PyTorch's identity Function materialises missing gradients, so a tensor input that does
        # not require grad (or got no gradient) shows as zeros in grad_input, not None.
        grads = tuple(
            _core.full(shape, 0.0, dtype) if g is None else g for g, (shape, dtype) in zip(grads, self._input_meta)
        )
        if self.grad_outputs is None:
            # The gradient reached the module's inputs without passing through its outputs
            # (double backward, for instance): nothing to report.
            return grads
        res = self._pack_with_none(self.input_tensors_index, grads, self.n_inputs)
        for hook in self.user_hooks:
            out = hook(self.module, res, self.grad_outputs)
            if out is None:
                continue
            if not isinstance(out, (tuple, list)):
                out = (out,)
            if len(out) != len(res):
                raise RuntimeError(
                    f"Backward hook returned an invalid number of grad_input, got {len(out)}, but expected {len(res)}"
                )
            res = tuple(out)
        self.grad_outputs = None
        return self._unpack_none(self.input_tensors_index, res)

    def setup_input_hook(self, args):
        res, input_idx = self._apply_on_tensors(self._input_backward, args)
        if input_idx is not None:
            self._input_meta = [(list(args[i].shape), args[i].dtype) for i in input_idx]
        self.n_inputs = len(args)
        self.input_tensors_index = input_idx
        return res

    # ---- outputs: the pre-hooks run here and grad_output is kept for the input node ------------

    def _output_backward(self, grads):
        self.grad_outputs = self._pack_with_none(self.output_tensors_index, tuple(grads), self.n_outputs)
        if self.user_pre_hooks:
            expected_len = len(self.grad_outputs)
            for pre_hook in self.user_pre_hooks:
                new = pre_hook(self.module, self.grad_outputs)
                if new is None:
                    continue
                if isinstance(new, Tensor):
                    new = (new,)
                if len(new) != expected_len:
                    raise RuntimeError(
                        f"Backward pre hook returned an invalid number of grad_output, got {len(new)}, but expected {expected_len}"
                    )
                self.grad_outputs = tuple(new)
        local_grad_outputs = self.grad_outputs
        if self.input_tensors_index is None:
            # No input requires grad: the input node does not exist, so the full backward hooks
            # fire here, with grad_input all None (PyTorch warns and does the same).
            if self.user_hooks:
                warnings.warn(
                    "Full backward hook is firing when gradients are computed with respect to module outputs "
                    "since no inputs require gradients. See "
                    "https://docs.pytorch.org/docs/main/generated/torch.nn.Module.html#torch.nn.Module.register_full_backward_hook "
                    "for more details.",
                    stacklevel=2,
                )
                grad_inputs = (None,) * self.n_inputs
                for hook in self.user_hooks:
                    res = hook(self.module, grad_inputs, self.grad_outputs)
                    if res is not None and not (isinstance(res, tuple) and all(el is None for el in res)):
                        raise RuntimeError(
                            "Backward hook for Modules where no input requires gradient should always return None "
                            "or None for all gradients."
                        )
            self.grad_outputs = None
        # As PyTorch's identity Function, missing gradients go on as zeros (the hooks above saw None).
        return tuple(
            _core.full(shape, 0.0, dtype) if local_grad_outputs[i] is None else local_grad_outputs[i]
            for i, (shape, dtype) in zip(self.output_tensors_index, self._output_meta)
        )

    def setup_output_hook(self, args):
        is_tuple = isinstance(args, tuple)
        if not is_tuple:
            args = (args,)
        res, output_idx = self._apply_on_tensors(self._output_backward, args)
        if output_idx is not None:
            self._output_meta = [(list(args[i].shape), args[i].dtype) for i in output_idx]
        self.n_outputs = len(args)
        self.output_tensors_index = output_idx
        return res if is_tuple else res[0]
