"""``fg.utils.checkpoint``: activation checkpointing, as PyTorch's. A checkpointed function runs
without recording its intermediate values; backward runs it again, with the random state it
first saw (so dropout drops the same units), and differentiates that second run. Memory falls by
the function's activations, time grows by one more forward.

Where ferrograd differs: ``use_reentrant`` is accepted either way and changes nothing. PyTorch's
reentrant mode gives the function's parameters no gradient when no input requires grad (it warns
"None of the inputs have requires_grad=True"); here parameters always get theirs, as in
PyTorch's non-reentrant mode."""

from __future__ import annotations

from .. import _core
from .._core import Tensor
from ..autograd import Function
from ..autograd import backward as _backward
from ..autograd.grad_mode import enable_grad, no_grad

__all__ = ["checkpoint", "checkpoint_sequential"]


class _Checkpoint(Function):
    @staticmethod
    def forward(ctx, run, preserve_rng_state, _anchor, *args):
        ctx.run, ctx.args = run, args
        ctx.rng = _core.get_rng_state() if preserve_rng_state else None
        ctx.save_for_backward(*[a for a in args if isinstance(a, Tensor)])
        with no_grad():
            out = run(*args)
        ctx.single = not isinstance(out, tuple)
        return out

    @staticmethod
    def backward(ctx, *grads):
        saved = iter(ctx.saved_tensors)
        needs = ctx.needs_input_grad[3:]
        args = []
        for a, need in zip(ctx.args, needs):
            if isinstance(a, Tensor):
                a = next(saved).detach()
                if need:
                    a.requires_grad_(True)
            args.append(a)
        outer_rng = _core.get_rng_state()
        try:
            if ctx.rng is not None:
                _core.set_rng_state(ctx.rng)
            with enable_grad():
                out = ctx.run(*args)
        finally:
            _core.set_rng_state(outer_rng)
        outs = (out,) if ctx.single else out
        pairs = [(o, g) for o, g in zip(outs, grads) if isinstance(o, Tensor) and o.requires_grad and g is not None]
        if pairs:
            _backward([o for o, _ in pairs], [g for _, g in pairs])
        return (None, None, None, *[a.grad if isinstance(a, Tensor) and need else None for a, need in zip(args, needs)])


def checkpoint(function, *args, use_reentrant=None, context_fn=None, determinism_check="default", debug=False,
               preserve_rng_state: bool = True, **kwargs):
    """``function(*args, **kwargs)``, its activations recomputed in backward instead of kept."""
    run = (lambda *a: function(*a, **kwargs)) if kwargs else function
    if not _core.is_grad_enabled():
        return run(*args)
    # The anchor requires grad so the function's own parameters get gradients even when no
    # input does (see the module's docs).
    anchor = _core.full([], 0, _core.float32).requires_grad_(True)
    return _Checkpoint.apply(run, preserve_rng_state, anchor, *args)


def checkpoint_sequential(functions, segments: int, input, use_reentrant=None, **kwargs):
    """A Sequential (or a list of modules) in ``segments`` checkpointed chunks; the last chunk
    runs normally, as PyTorch's."""
    fns = list(functions.children()) if hasattr(functions, "children") else list(functions)
    size = len(fns) // segments

    def chunk(start, end):
        def run(x):
            for f in fns[start:end + 1]:
                x = f(x)
            return x

        return run

    end = -1
    for start in range(0, size * (segments - 1), size):
        end = start + size - 1
        input = checkpoint(chunk(start, end), input, use_reentrant=use_reentrant, **kwargs)
    return chunk(end + 1, len(fns) - 1)(input)
