"""Gradient hooks on tensors: `register_hook` and `register_post_accumulate_grad_hook`.

The hooks live in the Rust graph (a leaf's on the tensor, a non-leaf's on the node that made it);
the engine calls them, taking the GIL only for the call, when that gradient is computed.
"""

from __future__ import annotations

import weakref

from .._core import Tensor
from ._util import METHODS


class _TensorHookHandle:
    """Removes one hook from its tensor: `handle.remove()`, or use it as a context manager."""

    def __init__(self, tensor: Tensor, hook_id: int):
        self._tensor = weakref.ref(tensor)
        self.id = hook_id

    def remove(self) -> None:
        t = self._tensor()
        if t is not None:
            t._remove_hook(self.id)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()


def register_hook(self: Tensor, hook) -> _TensorHookHandle:
    """Registers ``hook(grad) -> Tensor or None``, called each time the gradient of this tensor
    is computed; a returned tensor replaces the gradient (for what is accumulated into `.grad`
    and for everything upstream). Returns a handle with ``remove()``."""
    if not self.requires_grad:
        raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
    return _TensorHookHandle(self, self._register_hook(hook))


def register_post_accumulate_grad_hook(self: Tensor, hook) -> _TensorHookHandle:
    """Registers ``hook(tensor)`` on a leaf, called after its `.grad` has been updated by a
    backward pass (the moment a distributed or fused optimizer can use that gradient)."""
    if not self.requires_grad:
        raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
    if not self.is_leaf:
        raise RuntimeError("post accumulate grad hooks cannot be registered on non-leaf tensors")
    ref = weakref.ref(self)

    def call(_t):
        t = ref()
        hook(t if t is not None else _t)

    return _TensorHookHandle(self, self._register_post_accumulate_grad_hook(call))


METHODS["register_hook"] = register_hook
METHODS["register_post_accumulate_grad_hook"] = register_post_accumulate_grad_hook
