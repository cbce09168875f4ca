"""gradcheck: compares autograd's Jacobian with central finite differences in float64."""

from __future__ import annotations

import numpy as np

from .. import _core
from .._core import Tensor


class GradcheckError(RuntimeError):
    """Raised by gradcheck when analytical and numerical gradients disagree."""


def _as_tuple(x):
    return tuple(x) if isinstance(x, (tuple, list)) else (x,)


def _flat_outputs(out) -> np.ndarray:
    return np.concatenate([o.detach().numpy().astype(np.float64).ravel() for o in _as_tuple(out) if isinstance(o, Tensor)])


def gradcheck(fn, inputs, *, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3, raise_exception: bool = True) -> bool:
    """True when the Jacobian autograd computes for `fn(*inputs)` matches finite differences.

    Inputs that require grad must be float64 (float32 differences are too coarse to tell a
    wrong gradient from rounding). Each output element is backpropagated one at a time.
    """
    from . import grad as autograd_grad

    inputs = _as_tuple(inputs)
    diff = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]
    if not diff:
        raise ValueError("gradcheck expects at least one input tensor to require gradient")
    for i in diff:
        if inputs[i].dtype != _core.float64:
            raise ValueError(f"gradcheck: input {i} requires grad but is {inputs[i].dtype}; use float64 inputs")

    out = fn(*inputs)
    outs = [o for o in _as_tuple(out) if isinstance(o, Tensor)]
    n_out = sum(o.numel() for o in outs)
    sizes = [inputs[i].numel() for i in diff]

    # Analytical: one backward per output element.
    analytical = [np.zeros((n_out, s)) for s in sizes]
    row = 0
    for o in outs:
        for k in range(o.numel()):
            if o.requires_grad:
                seed = np.zeros(o.numel(), dtype=np.float64)
                seed[k] = 1.0
                g_out = _core.from_numpy(seed.reshape(o.shape).astype(o.detach().numpy().dtype))
                grads = autograd_grad([o], [inputs[i] for i in diff], [g_out], retain_graph=True, allow_unused=True)
                for j, g in enumerate(grads):
                    if g is not None:
                        analytical[j][row] = g.detach().numpy().astype(np.float64).ravel()
            row += 1

    # Numerical: perturb one input element at a time on copies of the inputs.
    base = [x.detach().numpy().astype(np.float64) if isinstance(x, Tensor) else x for x in inputs]
    numerical = [np.zeros((n_out, s)) for s in sizes]

    def run(arrays):
        args = [
            _core.from_numpy(np.array(a)).to(inputs[i].dtype) if isinstance(inputs[i], Tensor) else a
            for i, a in enumerate(arrays)
        ]
        return _flat_outputs(fn(*args))

    for j, i in enumerate(diff):
        flat = base[i].ravel()
        for k in range(flat.size):
            orig = flat[k]
            flat[k] = orig + eps
            plus = run(base)
            flat[k] = orig - eps
            minus = run(base)
            flat[k] = orig
            numerical[j][:, k] = (plus - minus) / (2 * eps)

    for j, i in enumerate(diff):
        a, n = analytical[j], numerical[j]
        if not np.allclose(a, n, atol=atol, rtol=rtol):
            bad = np.unravel_index(np.argmax(np.abs(a - n) - rtol * np.abs(n)), a.shape)
            msg = (
                f"Jacobian mismatch for output element {bad[0]} with respect to input {i}, element {bad[1]}:\n"
                f"numerical: {n[bad]:.8g}\nanalytical: {a[bad]:.8g}\n"
                f"max abs difference {np.max(np.abs(a - n)):.3g} (atol={atol}, rtol={rtol})"
            )
            if raise_exception:
                raise GradcheckError(msg)
            return False
    return True
