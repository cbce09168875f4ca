"""In-place ops whose backward needs only their result, and `+=` / `-=`, write into the tensor's
own memory on the graph, as PyTorch's do.

`relu_ exp_ sigmoid_ tanh_ sqrt_ rsqrt_ reciprocal_ tan_ expm1_ exp2_ erfinv_` save the
tensor itself for backward (PyTorch saves `result`); `+=` and `-=` save nothing, and `*=` and
`/=` by a value that does not require grad save that value alone. They used to
compute a new tensor and copy it in, after copying the old value: a ResNet's in-place ReLU kept
two copies of each activation for backward. These tests check the values and gradients against
the out-of-place ops (float64, bit for bit where the kernel is the same), that nothing new is
kept or made for a while (`fg.memory_allocated()` and its peak), that the saved tensor is the written one, and that a later
write to it makes backward refuse instead of using the changed values.
"""

from __future__ import annotations

import ferrograd as fg
import numpy as np
import pytest

# name -> (low, high) of the inputs, inside the op's domain.
OPS = {
    "relu": (-2.0, 2.0),
    "exp": (-2.0, 2.0),
    "sigmoid": (-4.0, 4.0),
    "tanh": (-3.0, 3.0),
    "sqrt": (0.5, 3.0),
    "rsqrt": (0.5, 3.0),
    "reciprocal": (0.5, 3.0),
    "tan": (-1.0, 1.0),
    "expm1": (-2.0, 2.0),
    "exp2": (-2.0, 2.0),
    "erfinv": (-0.6, 0.6),
}


def _inputs(name, shape=(4, 5), seed=0):
    lo, hi = OPS[name]
    rng = np.random.default_rng(seed)
    x = rng.uniform(lo / 1.5, hi / 1.5, shape)  # scaled by 1.5 below, on the graph
    w = rng.standard_normal(shape)
    return fg.tensor(x, dtype=fg.float64, requires_grad=True), fg.tensor(w, dtype=fg.float64)


def _saving(op):
    """Runs op() and returns the data pointers of what it saved for backward (through the
    saved-tensor hooks), and the tensor bytes it added: kept afterwards, and at its peak."""
    packed = []

    def pack(t):
        packed.append(t.data_ptr())
        return t

    before = fg.memory_allocated()
    fg.reset_peak_memory_stats()
    with fg.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        op()
    return packed, fg.memory_allocated() - before, fg.max_memory_allocated() - before


@pytest.mark.parametrize("name", sorted(OPS))
def test_values_and_gradient_match_the_out_of_place_op(name):
    x, w = _inputs(name)
    a = x * 1.5
    r = getattr(a, name + "_")()
    assert r is a
    assert a.grad_fn.name() == getattr(x * 1.5, name)().grad_fn.name()
    (a * w).sum().backward()
    got = x.grad.numpy().copy()

    x2, _ = _inputs(name)
    y = getattr(x2 * 1.5, name)()
    (y * w).sum().backward()
    np.testing.assert_array_equal(a.detach().numpy(), y.detach().numpy())
    np.testing.assert_allclose(got, x2.grad.numpy(), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name", sorted(OPS))
def test_nothing_new_is_kept_and_the_saved_tensor_is_the_written_one(name):
    x, _ = _inputs(name, shape=(64, 64))
    a = x * 1.5
    packed, kept, peak = _saving(lambda: getattr(a, name + "_")())
    assert kept == peak == 0
    assert packed == [a.data_ptr()]


@pytest.mark.parametrize("name", ["relu", "exp", "sigmoid"])
def test_a_later_write_to_the_saved_tensor_makes_backward_refuse(name):
    x, _ = _inputs(name)
    a = x * 1.5
    getattr(a, name + "_")()
    a += 1.0
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        a.sum().backward()


@pytest.mark.parametrize("name", ["exp", "tanh", "sigmoid", "reciprocal"])
def test_second_derivative_matches_the_out_of_place_op(name):
    x, w = _inputs(name)
    a = x * 1.5
    getattr(a, name + "_")()
    (g,) = fg.autograd.grad((a * w).sum(), x, create_graph=True)
    (gg,) = fg.autograd.grad(g.sum(), x)

    x2, _ = _inputs(name)
    y = getattr(x2 * 1.5, name)()
    (g2,) = fg.autograd.grad((y * w).sum(), x2, create_graph=True)
    (gg2,) = fg.autograd.grad(g2.sum(), x2)
    np.testing.assert_allclose(g.detach().numpy(), g2.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(gg.numpy(), gg2.numpy(), rtol=1e-12, atol=1e-15)


def test_a_view_on_the_graph_rewrites_its_base_history():
    # A column of a: the general path (CopySlices), checked against the derivative by hand.
    x, w = _inputs("exp")
    a = x * 1.5
    a[:, 1].exp_()
    (a * w).sum().backward()
    xs, ws = x.detach().numpy(), w.numpy()
    want = ws * 1.5
    want[:, 1] *= np.exp(1.5 * xs[:, 1])
    np.testing.assert_allclose(x.grad.numpy(), want, rtol=1e-12)


def test_off_the_graph_and_other_dtypes():
    with fg.no_grad():
        x = fg.tensor([-1.0, 2.0], requires_grad=True)
        assert x.relu_() is x
    np.testing.assert_array_equal(x.detach().numpy(), [0.0, 2.0])
    i = fg.tensor([-3, 4])
    i.relu_()
    assert i.dtype == fg.int64 and i.tolist() == [0, 4]
    h = fg.tensor([0.0, 1.0], dtype=fg.float16)
    h.exp_()
    assert h.dtype == fg.float16
    np.testing.assert_allclose(h.float().numpy(), [1.0, np.e], rtol=1e-3)
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        fg.tensor([1.0], requires_grad=True).exp_()


# op -> (value, d value / d a, d value / d b) for a op b.
BINARY = {
    "add": (lambda a, b: a + b, lambda a, b: 1.0, lambda a, b: 1.0),
    "sub": (lambda a, b: a - b, lambda a, b: 1.0, lambda a, b: -1.0),
    "mul": (lambda a, b: a * b, lambda a, b: b, lambda a, b: a),
    "div": (lambda a, b: a / b, lambda a, b: 1.0 / b, lambda a, b: -a / b**2),
}


@pytest.mark.parametrize("other_grad", [False, True])
@pytest.mark.parametrize("op", sorted(BINARY))
def test_binary_in_place_on_the_graph(op, other_grad):
    rng = np.random.default_rng(1)
    xv, wv = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    bv = rng.uniform(0.5, 2.0, 4) * rng.choice([-1.0, 1.0], 4)  # broadcast over rows, away from 0
    x = fg.tensor(xv, dtype=fg.float64, requires_grad=True)
    b = fg.tensor(bv, dtype=fg.float64, requires_grad=other_grad)
    a = x * 2.0
    before = fg.memory_allocated()
    fg.reset_peak_memory_stats()
    {"add": a.__iadd__, "sub": a.__isub__, "mul": a.__imul__, "div": a.__itruediv__}[op](b)
    if not (other_grad and op in ("mul", "div")):
        # Backward needs nothing of a's old value: no copy of it, not even for a while.
        assert fg.max_memory_allocated() == fg.memory_allocated() == before
    assert a.grad_fn.name() == op.capitalize() + "Backward0"
    (a * fg.tensor(wv)).sum().backward()
    value, da, db = BINARY[op]
    np.testing.assert_allclose(a.detach().numpy(), value(2 * xv, bv), rtol=1e-15)
    np.testing.assert_allclose(x.grad.numpy(), 2 * wv * da(2 * xv, bv), rtol=1e-14)
    if other_grad:
        np.testing.assert_allclose(b.grad.numpy(), (wv * db(2 * xv, bv)).sum(0), rtol=1e-12)


def test_a_later_write_to_a_saved_factor_makes_backward_refuse():
    x = fg.tensor([1.0, 2.0], requires_grad=True)
    c = fg.tensor([3.0, 4.0])
    a = x * 1.0
    a *= c
    c += 1.0
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        a.sum().backward()


def test_add_in_place_into_a_tensor_off_the_graph_from_one_on_it():
    w = fg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    t = fg.zeros(3)
    t += w
    assert t.grad_fn.name() == "AddBackward0"
    (t * t).sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), [2.0, 4.0, 6.0])


@pytest.mark.parametrize("slope", [0.0, 0.2, -0.3])
def test_leaky_relu_in_place(slope):
    # slope >= 0: written in place, the output saved (y > 0 exactly where x > 0). A negative
    # slope takes the general path, on a copy of the input (PyTorch refuses its backward).
    rng = np.random.default_rng(2)
    xv, wv = rng.standard_normal((64, 64)), rng.standard_normal((64, 64))
    xv[0, :4] = 0.0  # the gradient at 0 is the slope's, as out of place
    x = fg.tensor(xv, dtype=fg.float64, requires_grad=True)
    a = x * 1.0
    returned = []
    packed, kept, peak = _saving(lambda: returned.append(fg.nn.functional.leaky_relu_(a, slope)))
    assert returned[0] is a
    if slope >= 0:
        assert kept == peak == 0
        assert packed == [a.data_ptr()]
    assert a.grad_fn.name() == "LeakyReluBackward0"
    (g,) = fg.autograd.grad((a * fg.tensor(wv)).sum(), x, create_graph=True)
    (gg,) = fg.autograd.grad((g * g).sum(), x)

    x2 = fg.tensor(xv, dtype=fg.float64, requires_grad=True)
    y = fg.nn.functional.leaky_relu(x2 * 1.0, slope)
    (g2,) = fg.autograd.grad((y * fg.tensor(wv)).sum(), x2, create_graph=True)
    (gg2,) = fg.autograd.grad((g2 * g2).sum(), x2)
    np.testing.assert_array_equal(a.detach().numpy(), y.detach().numpy())
    np.testing.assert_array_equal(g.detach().numpy(), np.where(xv > 0, wv, wv * slope))
    np.testing.assert_array_equal(g.detach().numpy(), g2.detach().numpy())
    np.testing.assert_array_equal(gg.numpy(), gg2.numpy())


F = fg.nn.functional
# (name, in-place call, out-of-place call, PyTorch's node name of the in-place form)
RESULT_RULES = [
    ("relu6", lambda t: F.relu6(t, inplace=True), lambda t: F.relu6(t), "HardtanhBackward0"),
    ("hardtanh", lambda t: F.hardtanh_(t, -2.0, 3.0), lambda t: F.hardtanh(t, -2.0, 3.0), "HardtanhBackward0"),
    ("elu", lambda t: F.elu_(t), lambda t: F.elu(t), "EluBackward1"),
    ("elu-alpha", lambda t: F.elu(t, 0.5, inplace=True), lambda t: F.elu(t, 0.5), "EluBackward1"),
    ("selu", lambda t: F.selu_(t), lambda t: F.selu(t), "EluBackward1"),
    ("celu", lambda t: F.celu_(t, 0.7), lambda t: F.celu(t, 0.7), "CeluBackward1"),
]


@pytest.mark.parametrize("case", RESULT_RULES, ids=[c[0] for c in RESULT_RULES])
@pytest.mark.parametrize("dtype", [fg.float64, fg.float32])
def test_activations_whose_gradient_reads_the_result_save_the_written_tensor(case, dtype):
    # PyTorch's hardtanh_ (relu6) and elu_ family save their result; these ran on a clone of the
    # input, which their node kept. Values are the out-of-place op's bit for bit; gradients and
    # second derivatives agree to rounding (from the result rather than the input, as PyTorch).
    _, in_place, out_of_place, node = case
    rng = np.random.default_rng(3)
    xv, wv = rng.uniform(-8, 8, (64, 64)), rng.standard_normal((64, 64))
    xv[0, :5] = [0.0, 6.0, -2.0, 3.0, np.nan]  # the kinks and a NaN take out-of-place's side
    x = fg.tensor(xv, dtype=dtype, requires_grad=True)
    a = x * 1.0
    returned = []
    packed, kept, _ = _saving(lambda: returned.append(in_place(a)))
    assert returned[0] is a and a.grad_fn.name() == node
    assert packed == [a.data_ptr()] and kept == 0
    w = fg.tensor(wv, dtype=dtype)
    (g,) = fg.autograd.grad((a * w).sum(), x, create_graph=True)
    x2 = fg.tensor(xv, dtype=dtype, requires_grad=True)
    y = out_of_place(x2 * 1.0)
    (g2,) = fg.autograd.grad((y * w).sum(), x2, create_graph=True)
    np.testing.assert_array_equal(a.detach().numpy(), y.detach().numpy())
    tol = 1e-12 if dtype == fg.float64 else 1e-5
    np.testing.assert_allclose(g.detach().numpy(), g2.detach().numpy(), rtol=tol, atol=tol)
    if not g2.requires_grad:  # hardtanh's gradient is piecewise constant: no graph either way
        assert not g.requires_grad
        return
    fin = np.isfinite(xv)  # the second derivative at the NaN is NaN or 0 depending on the path
    (gg,) = fg.autograd.grad((g[fin] ** 2).sum(), x)
    (gg2,) = fg.autograd.grad((g2[fin] ** 2).sum(), x2)
    np.testing.assert_allclose(gg.numpy()[fin], gg2.numpy()[fin], rtol=tol, atol=tol)


@pytest.mark.parametrize("case", RESULT_RULES, ids=[c[0] for c in RESULT_RULES])
def test_result_saving_activations_refuse_a_later_write_and_keep_the_general_paths(case):
    _, in_place, out_of_place, _ = case
    x = fg.tensor(np.linspace(-3, 3, 12), dtype=fg.float64, requires_grad=True)
    a = x * 1.0
    in_place(a)
    a.add_(1.0)  # the saved result changed: backward must refuse, not use the new values
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        a.sum().backward()
    with pytest.raises(RuntimeError, match="leaf Variable"):
        in_place(fg.tensor([0.5, -0.5], requires_grad=True))
    # a column view on the graph takes the general path, and its base's gradient is right
    b = fg.tensor(np.linspace(-3, 3, 12).reshape(3, 4), dtype=fg.float64, requires_grad=True)
    c = b * 1.0
    in_place(c[:, 1])
    c.sum().backward()
    want = fg.tensor(np.linspace(-3, 3, 12).reshape(3, 4), dtype=fg.float64, requires_grad=True)
    d = want * 1.0
    d[:, 1] = out_of_place(d[:, 1].clone())
    d.sum().backward()
    np.testing.assert_allclose(b.grad.numpy(), want.grad.numpy())
    # off the graph, and an ELU with a negative alpha (whose result does not determine the
    # gradient), the general path
    t = fg.tensor([-1.0, 2.0])
    assert in_place(t) is t
    e = x * 1.0
    F.elu(e, -0.5, inplace=True)
    assert e.grad_fn.name() != "EluBackward1"
