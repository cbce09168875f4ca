"""fg.autograd.functional (vjp, jvp, jacobian, hessian, hvp, vhp) against closed-form numpy
references, with PyTorch's argument checks and tuple structure; with PyTorch installed, every
case is also run through torch.autograd.functional and compared value by value.
"""

from __future__ import annotations

import ferrograd as fg
import numpy as np
import pytest
from ferrograd.autograd import functional as AF

A = np.linspace(-1.0, 1.0, 12).reshape(3, 4) * 0.7
V_ROW = np.array([0.5, -1.0, 2.0])
V_IN = np.cos(np.arange(12.0)).reshape(3, 4)


def t(a, requires_grad=False):
    return fg.tensor(np.asarray(a, dtype=np.float64), requires_grad=requires_grad)


def npa(x):
    return x.detach().numpy()


def exp_reducer(x):
    return x.exp().sum(dim=1)


def cubic(x):  # f(x) = sum(x^3) + x00 * x01: H = diag(6x) + the x00/x01 cross terms
    return (x * x * x).sum() + x[0, 0] * x[0, 1]


def cubic_hessian(a):
    n = a.size
    h = np.diag(6 * a.ravel())
    h[0, 1] += 1.0
    h[1, 0] += 1.0
    return h.reshape(a.shape + a.shape) if n else h


# ---- vjp ------------------------------------------------------------------------------------------


def test_vjp_of_exp_reducer_matches_closed_form_and_is_detached():
    x = t(A, requires_grad=True)
    out, g = AF.vjp(exp_reducer, x, t(V_ROW))
    np.testing.assert_allclose(npa(out), np.exp(A).sum(1), rtol=1e-14)
    np.testing.assert_allclose(npa(g), V_ROW[:, None] * np.exp(A), rtol=1e-14)
    assert not out.requires_grad and not g.requires_grad
    assert x.grad is None  # functional never touches .grad


def test_vjp_of_a_tuple_function_returns_tuples():
    out, (gx, gy) = AF.vjp(lambda x, y: 2 * x + 3 * y, (t([1.0, 2.0]), t([3.0, 4.0])), t([1.0, 1.0]))
    np.testing.assert_allclose(npa(out), [11.0, 16.0])
    np.testing.assert_allclose(npa(gx), [2.0, 2.0])
    np.testing.assert_allclose(npa(gy), [3.0, 3.0])


def test_vjp_without_v_needs_a_single_element_output():
    out, g = AF.vjp(lambda x: (x * x).sum(), t([1.0, -2.0]))
    np.testing.assert_allclose(npa(g), [2.0, -4.0])
    with pytest.raises(RuntimeError, match="The vector v can only be None if the user-provided function returns a single Tensor"):
        AF.vjp(exp_reducer, t(A))


def test_vjp_checks_v_and_inputs_like_pytorch():
    with pytest.raises(RuntimeError, match=r"v has invalid size: should be ferrograd.Size\(\[3\]\) but got ferrograd.Size\(\[2\]\)"):
        AF.vjp(exp_reducer, t(A), t([1.0, 2.0]))
    with pytest.raises(RuntimeError, match="v is a tuple of invalid length: should be 2 but got 1"):
        AF.vjp(lambda x: (x, x), t([1.0]), (t([1.0]),))
    with pytest.raises(TypeError, match="The inputs given to vjp must be either a Tensor or a tuple of Tensors"):
        AF.vjp(exp_reducer, A)
    with pytest.raises(TypeError, match="the value at index 1 has type"):
        AF.vjp(lambda x, y: x, (t([1.0]), 2.0), t([1.0]))


def test_vjp_gives_zeros_for_unused_inputs_and_raises_in_strict_mode():
    _, (gx, gy) = AF.vjp(lambda x, y: x * 2, (t([1.0, 2.0]), t([5.0])), t([1.0, 1.0]))
    np.testing.assert_allclose(npa(gy), [0.0])
    with pytest.raises(RuntimeError, match="The output of the user-provided function is independent of input 1"):
        AF.vjp(lambda x, y: x * 2, (t([1.0, 2.0]), t([5.0])), t([1.0, 1.0]), strict=True)
    with pytest.raises(RuntimeError, match="Output 0 of the user-provided function does not require gradients"):
        AF.vjp(lambda x: t([1.0]), t([1.0]), strict=True)


# ---- jacobian -------------------------------------------------------------------------------------


def test_jacobian_of_exp_reducer_has_output_then_input_shape():
    jac = AF.jacobian(exp_reducer, t(A))
    assert tuple(jac.shape) == (3, 3, 4)
    want = np.zeros((3, 3, 4))
    for i in range(3):
        want[i, i] = np.exp(A[i])
    np.testing.assert_allclose(npa(jac), want, rtol=1e-14)
    assert not jac.requires_grad


def test_jacobian_tuple_structure_follows_pytorch():
    x, y = t([1.0, 2.0]), t([3.0, 4.0, 5.0])
    jac = AF.jacobian(lambda a, b: (a * 2, b.sum() * a), (x, y))
    assert [[tuple(j.shape) for j in row] for row in jac] == [[(2, 2), (2, 3)], [(2, 2), (2, 3)]]
    np.testing.assert_allclose(npa(jac[0][1]), np.zeros((2, 3)))
    np.testing.assert_allclose(npa(jac[1][0]), 12.0 * np.eye(2))
    np.testing.assert_allclose(npa(jac[1][1]), np.array([[1.0] * 3, [2.0] * 3]))
    one_in = AF.jacobian(lambda a: (a * 2, a.sum()), x)  # a single input drops the inner tuple
    assert isinstance(one_in, tuple) and [tuple(j.shape) for j in one_in] == [(2, 2), (2,)]
    one_out = AF.jacobian(lambda a, b: a * b.sum(), (x, y))  # a single output drops the outer one
    assert isinstance(one_out, tuple) and [tuple(j.shape) for j in one_out] == [(2, 2), (2, 3)]


def test_jacobian_matches_finite_differences_of_a_small_mlp():
    rng = np.random.RandomState(0)
    w1, w2 = rng.randn(5, 3), rng.randn(2, 5)
    x0 = rng.randn(3)

    def f_np(x):
        return w2 @ np.tanh(w1 @ x)

    jac = AF.jacobian(lambda x: t(w2) @ (t(w1) @ x).tanh(), t(x0))
    eps, num = 1e-6, np.zeros((2, 3))
    for k in range(3):
        d = np.zeros(3)
        d[k] = eps
        num[:, k] = (f_np(x0 + d) - f_np(x0 - d)) / (2 * eps)
    np.testing.assert_allclose(npa(jac), num, rtol=1e-7, atol=1e-9)


def test_jacobian_strict_and_unsupported_options():
    with pytest.raises(RuntimeError, match="Output 0 of the user-provided function is independent of input 1"):
        AF.jacobian(lambda a, b: a * 2, (t([1.0]), t([2.0])), strict=True)
    with pytest.raises(NotImplementedError, match="vectorize=True"):
        AF.jacobian(exp_reducer, t(A), vectorize=True)
    with pytest.raises(NotImplementedError, match="forward-mode AD"):
        AF.jacobian(exp_reducer, t(A), strategy="forward-mode")
    with pytest.raises(AssertionError, match='Expected strategy to be either "forward-mode" or "reverse-mode"'):
        AF.jacobian(exp_reducer, t(A), strategy="sideways")
    with pytest.raises(NotImplementedError, match="vectorize=True"):
        AF.hessian(cubic, t(A), vectorize=True)


# ---- second order (need create_graph) -------------------------------------------------------------


def test_jvp_by_the_double_vjp_trick():
    out, jv = AF.jvp(exp_reducer, t(A), t(V_IN))
    np.testing.assert_allclose(npa(out), np.exp(A).sum(1), rtol=1e-14)
    np.testing.assert_allclose(npa(jv), (np.exp(A) * V_IN).sum(1), rtol=1e-13)
    assert not jv.requires_grad


def test_hessian_of_a_cubic():
    h = AF.hessian(cubic, t(A))
    assert tuple(h.shape) == (3, 4, 3, 4)
    np.testing.assert_allclose(npa(h), cubic_hessian(A), rtol=1e-13, atol=1e-15)


def test_hessian_of_two_inputs_is_a_nested_tuple():
    x, y = t([1.0, 2.0]), t([3.0])
    h = AF.hessian(lambda a, b: (a * a).sum() * b.sum(), (x, y))
    assert [[tuple(e.shape) for e in row] for row in h] == [[(2, 2), (2, 1)], [(1, 2), (1, 1)]]
    np.testing.assert_allclose(npa(h[0][0]), 6.0 * np.eye(2))
    np.testing.assert_allclose(npa(h[0][1]), [[2.0], [4.0]])
    np.testing.assert_allclose(npa(h[1][1]), [[0.0]])


@pytest.mark.parametrize("fn", [AF.hvp, AF.vhp], ids=["hvp", "vhp"])
def test_hvp_and_vhp_of_a_cubic(fn):
    out, hv = fn(cubic, t(A), t(V_IN))
    np.testing.assert_allclose(float(npa(out)), (A**3).sum() + A[0, 0] * A[0, 1], rtol=1e-14)
    np.testing.assert_allclose(npa(hv), (cubic_hessian(A).reshape(12, 12) @ V_IN.ravel()).reshape(3, 4), rtol=1e-13)


def test_hvp_needs_a_scalar_function_and_create_graph_keeps_the_graph():
    with pytest.raises(RuntimeError, match="The Tensor returned by the function given to hvp should contain a single element"):
        AF.hvp(exp_reducer, t(A), t(V_IN))
    with pytest.raises(RuntimeError, match="The function given to vhp should return a single Tensor"):
        AF.vhp(lambda x: (x.sum(), x.sum()), t(A), t(V_IN))
    x = t(A, requires_grad=True)
    _, hv = AF.hvp(cubic, x, t(V_IN), create_graph=True)
    assert hv.requires_grad
    (g,) = fg.autograd.grad(hv.sum(), x)  # d/dx of sum(6 x v) (+ constants) = 6 v
    np.testing.assert_allclose(npa(g), 6 * V_IN, rtol=1e-13)


def test_hessian_strict_mode_refuses_a_linear_function():
    with pytest.raises(RuntimeError, match="jacobian of the user-provided function with respect to input 0 is independent"):
        AF.hessian(lambda x: (x * 2).sum(), t([1.0, 2.0]), strict=True)


# ---- against PyTorch ------------------------------------------------------------------------------

CASES = [  # name, api, function (written for both libraries), inputs, v
    ("vjp-exp_reducer", "vjp", lambda x: x.exp().sum(dim=1), [A], [V_ROW]),
    ("vjp-two-outputs", "vjp", lambda x, y: (x * y, (x - y).sin()), [A, V_IN], [A, V_IN]),
    ("jacobian-tanh-matmul", "jacobian", lambda x, w: (x @ w).tanh(), [A, V_IN.T], None),
    ("jacobian-softmax", "jacobian", lambda x: x.softmax(dim=-1), [A[0]], None),
    ("jvp-exp_reducer", "jvp", lambda x: x.exp().sum(dim=1), [A], [V_IN]),
    ("hessian-cubic", "hessian", cubic, [A], None),
    ("hessian-two-inputs", "hessian", lambda x, y: ((x @ y).tanh() ** 2).sum(), [A, V_IN.T], None),
    ("hvp-logsumexp", "hvp", lambda x: x.logsumexp(dim=1).sum(), [A], [V_IN]),
    ("vhp-logsumexp", "vhp", lambda x: x.logsumexp(dim=1).sum(), [A], [V_IN]),
]


def _flatten(res):
    if isinstance(res, (tuple, list)):
        return [x for r in res for x in _flatten(r)]
    return [res]


def _structure(res):
    if isinstance(res, (tuple, list)):
        return [_structure(r) for r in res]
    return tuple(res.shape)


def _run(lib, api, fn, inputs, v):
    F = lib.autograd.functional
    ins = tuple(lib.tensor(np.asarray(a, dtype=np.float64)) for a in inputs)
    ins = ins[0] if len(ins) == 1 else ins
    if v is None:
        return getattr(F, api)(fn, ins)
    vs = tuple(lib.tensor(np.asarray(a, dtype=np.float64)) for a in v)
    return getattr(F, api)(fn, ins, vs[0] if len(vs) == 1 else vs)


@pytest.mark.parametrize("name,api,fn,inputs,v", CASES, ids=[c[0] for c in CASES])
def test_functional_matches_pytorch(name, api, fn, inputs, v):
    torch = pytest.importorskip("torch")
    want = _run(torch, api, fn, inputs, v)
    got = _run(fg, api, fn, inputs, v)
    assert _structure(got) == _structure(want)
    for g, w in zip(_flatten(got), _flatten(want)):
        np.testing.assert_allclose(npa(g), w.detach().numpy(), rtol=1e-12, atol=1e-14)
