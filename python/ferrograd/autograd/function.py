"""`fg.autograd.Function`: user-defined ops with their own backward, as `torch.autograd.Function`.

`Function.apply` runs `forward` without recording, then attaches one node to the outputs in the
Rust graph (`_core._function_node`). When backward reaches that node the engine takes the GIL,
calls the class's `backward` with one gradient per output, checks what it returns (count,
shapes, gradients for non-tensor inputs) and goes on in Rust. Tensors saved with
`ctx.save_for_backward` are version-checked like a built-in op's, and under `create_graph=True`
they come back with their history, so a `backward` written with differentiable ops can itself be
differentiated (the tutorial's `LegendrePolynomial3`, a gradient penalty through a custom op).
"""

from __future__ import annotations

import functools
from typing import Any

from .. import _core
from .._core import SavedTensor, Tensor
from .grad_mode import enable_grad, is_grad_enabled, no_grad

__all__ = ["Function", "FunctionCtx", "once_differentiable", "InplaceFunction", "NestedIOFunction"]


class FunctionCtx:
    """The `ctx` a Function's `forward`/`setup_context` and `backward` share. Any attribute may
    be set on it; the methods below tell autograd what to keep and how outputs behave."""

    def save_for_backward(self, *tensors: Tensor | None) -> None:
        """Keeps tensors (inputs, outputs, or intermediates) for `backward`: read them back with
        `ctx.saved_tensors`. An in-place change made to one after saving is an error in backward
        rather than a wrong gradient."""
        for t in tensors:
            if t is not None and not isinstance(t, Tensor):
                raise TypeError(f"save_for_backward can only save variables, but argument {tensors.index(t)} is of type {type(t).__name__}")
        self.to_save = tensors

    def save_for_forward(self, *tensors: Tensor | None) -> None:
        """Accepted for compatibility (forward-mode AD is not implemented)."""
        self.saved_for_forward = tensors

    def mark_dirty(self, *tensors: Tensor) -> None:
        """Declares inputs that `forward` modified in place (they must be returned as outputs)."""
        self.dirty_tensors = tensors

    def mark_non_differentiable(self, *tensors: Tensor) -> None:
        """Declares outputs that have no gradient (indices, masks): they do not require grad and
        their gradient reaching `backward` is zeros (or None without materialized grads)."""
        self.non_differentiable = tensors

    def set_materialize_grads(self, value: bool) -> None:
        """With True (the default), an output that got no gradient reaches `backward` as zeros;
        with False, as None."""
        self.materialize_grads = bool(value)

    @property
    def saved_tensors(self) -> tuple:
        saved = self.__dict__.get("_saved")
        if saved is None:
            if "to_save" in self.__dict__:
                return tuple(self.to_save)  # forward is still running, or nothing was recorded
            return ()
        if saved is _FREED:
            raise RuntimeError(
                "Trying to backward through the graph a second time (or directly access saved tensors after they have "
                "already been freed). Specify retain_graph=True if you need to backward through the graph a second time.")
        return tuple(None if s is None else s.unpack() for s in saved)

    saved_variables = saved_tensors


_FREED = object()


class _FunctionMeta(type):
    """Gives every Function subclass its grad_fn name and `_backward_cls`-like identity."""

    def __init__(cls, name, bases, attrs):
        cls._backward_name = f"{name}Backward"
        super().__init__(name, bases, attrs)


class Function(FunctionCtx, metaclass=_FunctionMeta):
    """Base class of custom autograd ops. Subclass it with static methods:

    - ``forward(ctx, *args, **kwargs)`` computes the outputs (grad is off inside), or, in the newer
      style, ``forward(*args, **kwargs)`` plus ``setup_context(ctx, inputs, output)``;
    - ``backward(ctx, *grad_outputs)`` returns one gradient per ``forward`` argument (None for
      non-tensors and inputs that need none);

    and call it through ``MyFunction.apply(*args)``. Its node is named ``MyFunctionBackward``.
    """

    def __init__(self, *args, **kwargs):
        # PyTorch's legacy instance-style Functions are gone there too.
        raise RuntimeError(
            "Legacy autograd function with non-static forward method is deprecated. Please use new-style autograd "
            "function with static forward method. (Example: https://pytorch.org/docs/stable/autograd.html#torch.autograd.Function)")

    @staticmethod
    def forward(ctx: Any, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("You must implement the forward function for custom autograd.Function.")

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple, output: Any) -> Any:
        raise NotImplementedError("setup_context is not implemented.")

    @staticmethod
    def backward(ctx: Any, *grad_outputs: Any) -> Any:
        raise NotImplementedError("You must implement either the backward or vjp method for your custom autograd.Function to use it with backward mode AD.")

    @staticmethod
    def jvp(ctx: Any, *grad_inputs: Any) -> Any:
        raise NotImplementedError("You must implement the jvp function for custom autograd.Function to use it with forward mode AD.")

    vjp = backward

    @classmethod
    def apply(cls, *args, **kwargs):
        ctx = _BackwardCtx()
        ctx.needs_input_grad = tuple(isinstance(a, Tensor) and a.requires_grad and is_grad_enabled() for a in args)
        record = any(ctx.needs_input_grad)
        new_style = cls.setup_context is not Function.setup_context
        with no_grad():
            if new_style:
                output = cls.forward(*args, **kwargs)
                cls.setup_context(ctx, args, output)
            else:
                output = cls.forward(ctx, *args, **kwargs)
        if not record:
            _check_dirty_returned(ctx, output)
            return output
        return _attach(cls, ctx, args, output)


def _check_dirty_returned(ctx, output) -> None:
    outs = output if isinstance(output, tuple) else (output,)
    for t in getattr(ctx, "dirty_tensors", ()):
        if not any(o is t for o in outs):
            raise RuntimeError("Some elements marked as dirty during the forward method were not returned as output. "
                               "The inputs that are modified inplace must all be outputs of the Function.")


class _BackwardCtx(FunctionCtx):
    """The ctx object: what `forward` sets on it is there in `backward`."""

    materialize_grads = True


def _attach(cls, ctx, args, output):
    """Records the Function's node on its outputs (see the module docs)."""
    is_tuple = isinstance(output, tuple)
    outs = list(output) if is_tuple else [output]
    _check_dirty_returned(ctx, output)
    dirty = {id(t) for t in getattr(ctx, "dirty_tensors", ())}
    non_diff = {id(t) for t in getattr(ctx, "non_differentiable", ())}
    input_ids = {id(a) for a in args if isinstance(a, Tensor)}
    for t in getattr(ctx, "dirty_tensors", ()):
        if t.is_leaf and t.requires_grad:
            raise RuntimeError("a leaf Variable that requires grad has been used in an in-place operation.")
    node_outputs: list = []
    meta: list = []
    for i, o in enumerate(outs):
        if not isinstance(o, Tensor):
            node_outputs.append(None)
            meta.append(None)
            continue
        if id(o) in non_diff or not o.dtype.is_floating_point:
            if id(o) in input_ids and id(o) not in dirty:
                with no_grad():
                    outs[i] = o = o.view_as(o)
            node_outputs.append(None)
            meta.append((o.shape, o.dtype))
            continue
        if id(o) not in dirty and (id(o) in input_ids or o.requires_grad):
            # An input returned unchanged (or any tensor that already has a history) is returned
            # as a new view, which takes the Function's node; the original keeps its own.
            with no_grad():
                outs[i] = o = o.view_as(o)
        node_outputs.append(o)
        meta.append((o.shape, o.dtype))
    saved = getattr(ctx, "to_save", None)
    if saved is not None:
        packed = []
        for t in saved:
            if t is None:
                packed.append(None)
                continue
            nr = next((j for j, o in enumerate(node_outputs) if o is t), None)
            packed.append(SavedTensor(t, nr))
        ctx._saved = packed
    materialize = lambda: ctx.materialize_grads  # noqa: E731 (read at backward time: set_materialize_grads may come late)

    def backward(grads):
        if materialize():
            grads = tuple(_core.full(list(m[0]), 0.0, m[1]) if g is None and m is not None else g for g, m in zip(grads, meta))
        return cls.backward(ctx, *grads)

    inputs = [a if isinstance(a, Tensor) else None for a in args]
    _core._function_node(cls._backward_name, inputs, node_outputs, backward)
    return tuple(outs) if is_tuple else outs[0]


def once_differentiable(fn):
    """Decorates a Function's `backward` that is not itself differentiable (it uses numpy, or
    in-place tricks): it runs without recording, and a later attempt to differentiate its
    result (`create_graph=True`, then backward again) raises instead of silently giving zero."""

    @functools.wraps(fn)
    def wrapper(ctx, *args):
        with no_grad():
            outputs = fn(ctx, *args)
        if not is_grad_enabled():
            return outputs
        sources = [a for a in args if isinstance(a, Tensor) and a.requires_grad]
        with enable_grad():
            sources += [t for t in (ctx.saved_tensors if getattr(ctx, "_saved", None) is not _FREED else ()) if isinstance(t, Tensor) and t.requires_grad]
        if not sources:
            return outputs
        is_tuple = isinstance(outputs, tuple)
        outs = list(outputs) if is_tuple else [outputs]
        for i, o in enumerate(outs):
            if isinstance(o, Tensor) and o.dtype.is_floating_point:
                with no_grad():
                    o = o.view_as(o)
                _core._function_node("DelayedErrorBackward", sources, [o], _delayed_error)
                outs[i] = o
        return tuple(outs) if is_tuple else outs[0]

    return wrapper


def _delayed_error(grads):
    raise RuntimeError("trying to differentiate twice a function that was marked with @once_differentiable")


class InplaceFunction(Function):
    """A Function with an `inplace` flag (PyTorch's legacy helper base)."""

    def __init__(self, inplace=False):
        self.inplace = inplace


class NestedIOFunction(Function):
    """Not supported: PyTorch's legacy nested-structure Function."""

    @classmethod
    def apply(cls, *args, **kwargs):
        raise NotImplementedError("NestedIOFunction is a legacy PyTorch API that ferrograd does not implement; use Function")
