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
    # A C-ordered float64 copy: .numpy() shares the tensor's memory and strides, so ravel() of a
    # strided array would be a copy the perturbations never reach.
    base = [np.array(x.detach().numpy(), dtype=np.float64, order="C") if isinstance(x, Tensor) else x for x in inputs]
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


def gradgradcheck(
    func,
    inputs,
    grad_outputs=None,
    *,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    gen_non_contig_grad_outputs: bool = False,
    raise_exception: bool = True,
    nondet_tol: float = 0.0,
    check_undefined_grad: bool = True,
    check_grad_dtypes: bool = False,
    check_batched_grad: bool = False,
    check_fwd_over_rev: bool = False,
    check_rev_over_rev: bool = True,
    fast_mode: bool = False,
    masked: bool | None = None,
) -> bool:
    """True when the second derivatives of `func(*inputs)` match finite differences of its first.

    As torch.autograd.gradgradcheck: the function checked is
    ``(inputs, grad_outputs) -> autograd.grad(func(inputs), inputs, grad_outputs, create_graph=True)``,
    so both d(grad)/d(inputs) and d(grad)/d(grad_outputs) are compared with central differences
    in float64. `grad_outputs` default to uniform values in [-1, 1) drawn from ferrograd's
    generator (seed it with `fg.manual_seed` for a repeatable draw), non-contiguous with
    `gen_non_contig_grad_outputs`.

    `nondet_tol` and `check_undefined_grad` are accepted and have no effect (ferrograd's gradcheck
    has no reentrancy or undefined-gradient pass); the batched, forward-over-reverse, fast and
    masked modes are not available.
    """
    for flag, name in ((check_batched_grad, "check_batched_grad"), (check_fwd_over_rev, "check_fwd_over_rev"),
                       (fast_mode, "fast_mode"), (masked, "masked")):
        if flag:
            raise NotImplementedError(f"gradgradcheck: {name}=True is not supported by ferrograd (vmap / forward-mode AD / fast mode)")
    if not check_rev_over_rev:
        raise ValueError("gradgradcheck: check_rev_over_rev=False leaves nothing to check (check_fwd_over_rev is not supported)")
    from . import grad as autograd_grad

    tupled_inputs = _as_tuple(inputs)
    diff_positions = [i for i, x in enumerate(tupled_inputs) if isinstance(x, Tensor) and x.requires_grad]

    if grad_outputs is None:
        from .._creation import rand

        outputs = [o for o in _as_tuple(func(*tupled_inputs)) if isinstance(o, Tensor) and o.requires_grad]
        made = []
        for o in outputs:
            shape = list(o.shape)
            if gen_non_contig_grad_outputs and o.numel() > 1:
                # A strided view of a larger buffer (every other element of the last axis).
                g = (rand(*shape, 2, dtype=o.dtype) * 2 - 1).select(-1, 0)
            else:
                g = rand(*shape, dtype=o.dtype) * 2 - 1
            made.append(g.detach().requires_grad_(True))
        tupled_grad_outputs = tuple(made)
    else:
        tupled_grad_outputs = _as_tuple(grad_outputs)
    n_in = len(tupled_inputs)
    grad_output_positions = [n_in + k for k, g in enumerate(tupled_grad_outputs) if isinstance(g, Tensor) and g.requires_grad]

    def new_func(*args):
        # gradcheck's numerical pass rebuilds its inputs without requires_grad: restore it at the
        # positions the caller marked, so the inner autograd.grad has something to differentiate.
        args = list(args)
        for i in diff_positions + grad_output_positions:
            if not args[i].requires_grad:
                args[i] = args[i].detach().requires_grad_(True)
        input_args, g_outs = args[:n_in], args[n_in:]
        outputs = [o for o in _as_tuple(func(*input_args)) if isinstance(o, Tensor) and o.requires_grad]
        diff_args = [input_args[i] for i in diff_positions]
        grads = autograd_grad(outputs, diff_args, list(g_outs), create_graph=True, allow_unused=True)
        return tuple(g for g in grads if g is not None)

    return gradcheck(new_func, tupled_inputs + tupled_grad_outputs, eps=eps, atol=atol, rtol=rtol,
                     raise_exception=raise_exception)
