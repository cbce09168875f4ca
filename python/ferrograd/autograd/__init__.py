"""`fg.autograd`: grad, backward, custom Functions, gradcheck and the grad-mode context managers."""

from __future__ import annotations

from .. import _core
from .._core import Node, Tensor
from . import function, functional, graph
from .anomaly_mode import detect_anomaly, set_detect_anomaly
from .function import Function
from .grad_mode import enable_grad, inference_mode, is_grad_enabled, is_inference_mode_enabled, no_grad, set_grad_enabled
from .gradcheck import GradcheckError, gradcheck, gradgradcheck

__all__ = [
    "Node", "Function", "function", "functional", "graph", "gradgradcheck", "backward", "grad", "gradcheck", "GradcheckError", "no_grad", "enable_grad",
    "set_grad_enabled", "inference_mode", "is_grad_enabled", "is_inference_mode_enabled", "detect_anomaly", "set_detect_anomaly",
    "Variable",
]


class _VariableMeta(type):
    def __instancecheck__(cls, other) -> bool:
        return isinstance(other, Tensor)


class Variable(metaclass=_VariableMeta):
    """PyTorch's pre-0.4 wrapper, for old scripts: ``Variable(t, requires_grad=False)`` is a leaf
    sharing t's memory (``t.detach()``, with requires_grad as asked), and every tensor is an
    instance of it. ``volatile`` is gone from PyTorch too: use ``fg.no_grad()``."""

    def __new__(cls, data, requires_grad: bool = False, volatile: bool = False):
        if volatile:
            import warnings

            warnings.warn("volatile was removed and now has no effect. Use `with fg.no_grad():` instead.", UserWarning,
                          stacklevel=2)
        if not isinstance(data, Tensor):
            raise TypeError(f"Variable data has to be a tensor, but got {type(data).__name__}")
        out = data.detach()
        if requires_grad:
            out.requires_grad_(True)
        return out


def _seq(x):
    if isinstance(x, Tensor):
        return [x]
    return list(x)


def _retain(retain_graph, create_graph) -> bool:
    # PyTorch's default: a graph that create_graph just extended is kept for the next pass.
    return bool(create_graph if retain_graph is None else retain_graph)


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False, grad_variables=None, inputs=None) -> None:
    """Accumulates into the leaves' `.grad` the gradients of `tensors` (with `grad_tensors`).

    With ``create_graph=True`` the gradients are recorded too, so they (and anything computed
    from them, e.g. a gradient penalty) can be differentiated again. With ``inputs``, only those
    tensors' ``.grad`` is accumulated (leaves or not); the other leaves are left alone.
    """
    if grad_variables is not None:
        grad_tensors = grad_variables
    outs = _seq(tensors)
    grads = [None] * len(outs) if grad_tensors is None else _seq(grad_tensors)
    ins = None if inputs is None else _seq(inputs)
    _core._backward(outs, grads, _retain(retain_graph, create_graph), bool(create_graph), ins)


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False, only_inputs=True, allow_unused=None,
         is_grads_batched=False, materialize_grads=False):
    """Gradients of `outputs` with respect to `inputs`, returned as a tuple (`.grad` untouched).

    With ``create_graph=True`` the returned gradients have a history of their own (higher-order
    gradients: gradient penalties, Hessian-vector products, meta-learning).
    """
    if is_grads_batched:
        raise NotImplementedError("autograd.grad(is_grads_batched=True) needs vmap, which ferrograd does not implement")
    if materialize_grads and allow_unused is False:
        raise ValueError("Expected allow_unused to be True or not passed when materialize_grads=True, but got: allow_unused=False.")
    outs = _seq(outputs)
    ins = _seq(inputs)
    grads = [None] * len(outs) if grad_outputs is None else _seq(grad_outputs)
    found = _core._grad(outs, grads, ins, _retain(retain_graph, create_graph), bool(create_graph))
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
