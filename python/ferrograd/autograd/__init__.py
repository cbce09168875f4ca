"""`fg.autograd`: grad, backward, gradcheck and the grad-mode context managers."""

from __future__ import annotations

from .. import _core
from .._core import Node, Tensor
from .grad_mode import enable_grad, inference_mode, is_grad_enabled, is_inference_mode_enabled, no_grad, set_grad_enabled
from .gradcheck import GradcheckError, gradcheck

__all__ = [
    "Node", "backward", "grad", "gradcheck", "GradcheckError", "no_grad", "enable_grad",
    "set_grad_enabled", "inference_mode", "is_grad_enabled", "is_inference_mode_enabled",
]


def _seq(x):
    if isinstance(x, Tensor):
        return [x]
    return list(x)


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False) -> None:
    """Accumulates into the leaves' `.grad` the gradients of `tensors` (with `grad_tensors`)."""
    if create_graph:
        raise RuntimeError("create_graph=True is not supported: ferrograd computes first-order gradients only")
    outs = _seq(tensors)
    grads = [None] * len(outs) if grad_tensors is None else _seq(grad_tensors)
    _core._backward(outs, grads, bool(retain_graph))


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False, allow_unused=None, materialize_grads=False):
    """Gradients of `outputs` with respect to `inputs`, returned as a tuple (`.grad` untouched)."""
    if create_graph:
        raise RuntimeError("create_graph=True is not supported: ferrograd computes first-order gradients only")
    outs = _seq(outputs)
    ins = _seq(inputs)
    grads = [None] * len(outs) if grad_outputs is None else _seq(grad_outputs)
    found = _core._grad(outs, grads, ins, bool(retain_graph))
    result = []
    for i, g in enumerate(found):
        if g is None:
            if materialize_grads:
                g = _core.full(list(ins[i].shape), 0.0, ins[i].dtype)
            elif not allow_unused:
                raise RuntimeError(
                    "One of the differentiated Tensors appears to not have been used in the graph. "
                    "Set allow_unused=True if this is the desired behavior."
                )
        result.append(g)
    return tuple(result)
