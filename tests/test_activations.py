"""The activation family (nn/_functional_activation.py, nn/modules/activation.py): values at the
special points, gradients at kinks, NaN and inf as PyTorch's kernels give them, in-place
semantics, errors, reprs, PReLU's parameter, RReLU's two modes and its slope distribution,
gumbel_softmax. Forward against numpy, float64 gradcheck and PyTorch goldens of each op are rows
of the op table (tests/op_rows_activation.py); tests/differential compares against PyTorch."""

from __future__ import annotations

import math
import warnings

import ferrograd as fg
import numpy as np
import pytest
from ferrograd import nn
from ferrograd.nn import functional as F
from ferrograd.nn.utils import summary

INF, NAN = math.inf, math.nan


def t64(values, grad=True):
    return fg.tensor(np.asarray(values, dtype=np.float64), requires_grad=grad)


def value_and_grad(fn, values):
    x = t64(values)
    y = fn(x)
    y.sum().backward()
    return y.detach().numpy(), x.grad.numpy()


def same(got, exp):
    np.testing.assert_allclose(got, np.asarray(exp, dtype=np.float64), rtol=1e-12, atol=1e-15, equal_nan=True)


# ----------------------------------------------------------------------------- kinks

SELU = 1.6732632423543772848170429916717 * 1.0507009873554804934193349852946

# (op, points, PyTorch's gradient there): the side each backward kernel picks at its kinks.
# Recorded from torch 2.15 with: x = torch.tensor(points, dtype=torch.float64, requires_grad=True);
# op(x).sum().backward(); x.grad
KINKS = [
    ("relu6", lambda x: F.relu6(x), [0.0, 6.0, 3.0], [0.0, 0.0, 1.0]),
    ("hardtanh", lambda x: F.hardtanh(x), [-1.0, 1.0, 0.0], [0.0, 0.0, 1.0]),
    ("hardtanh(-0.5, 2)", lambda x: F.hardtanh(x, -0.5, 2.0), [-0.5, 2.0, 1.0], [0.0, 0.0, 1.0]),
    ("hardsigmoid", lambda x: F.hardsigmoid(x), [-3.0, 3.0, 0.0], [0.0, 0.0, 0.1666666716337204]),
    ("hardswish", lambda x: F.hardswish(x), [-3.0, 3.0, 0.0], [0.0, 1.0, 0.5]),
    ("softshrink", lambda x: F.softshrink(x), [-0.5, 0.5, 0.0, 1.0], [0.0, 0.0, 0.0, 1.0]),
    ("hardshrink", lambda x: F.hardshrink(x), [-0.5, 0.5, 0.0, 1.0], [0.0, 0.0, 0.0, 1.0]),
    ("threshold", lambda x: F.threshold(x, 0.5, 9.0), [0.5, 0.75], [0.0, 1.0]),
    ("elu", lambda x: F.elu(x, 0.7), [0.0], [0.7]),
    ("selu", lambda x: F.selu(x), [0.0], [SELU]),
    ("celu", lambda x: F.celu(x, 0.5), [0.0], [1.0]),
    ("leaky_relu_", lambda x: F.leaky_relu_(x * 1, 0.2), [0.0], [0.2]),
    ("relu_", lambda x: F.relu_(x * 1), [0.0], [0.0]),
    ("rrelu eval", lambda x: F.rrelu(x, 0.1, 0.3, training=False), [0.0], [0.2]),
    ("prelu", lambda x: F.prelu(x, fg.tensor([0.3], dtype=fg.float64)), [0.0], [0.3]),
]


@pytest.mark.parametrize("name,fn,points,grad", KINKS, ids=[k[0] for k in KINKS])
def test_gradient_at_kinks_is_pytorchs_choice(name, fn, points, grad):
    _, g = value_and_grad(fn, points)
    same(g, grad)


# ----------------------------------------------------------------------------- NaN and inf

P = [-INF, -1e4, 0.0, 1e4, INF, NAN]
# PyTorch's values and gradients at P (same recording as KINKS). The NaN gradients are PyTorch's
# too: mish's at +-inf and softsign's at +-inf come from its own formulas. At a NaN input, PyTorch's
# elu family, hardtanh, relu6, hardswish, softshrink and hardshrink give a gradient that depends on
# the length (its scalar kernel passes it, the vectorised one, from 8 or 16 elements on, gives NaN
# or 0); ferrograd gives the scalar kernel's at every length (P's NaN is in torch's scalar tail).
SPECIAL = [
    ("elu", F.elu, [-1, -1, 0, 1e4, INF, NAN], [0, 0, 1, 1, 1, 1]),
    ("selu", F.selu, [-SELU, -SELU, 0, 1e4 * 1.0507009873554805, INF, NAN],
     [0, 0, SELU, 1.0507009873554805, 1.0507009873554805, 1.0507009873554805]),
    ("hardtanh", F.hardtanh, [-1, -1, 0, 1, 1, NAN], [0, 0, 1, 0, 0, 1]),
    ("hardsigmoid", F.hardsigmoid, [0, 0, 0.5, 1, 1, NAN], [0, 0, 0.1666666716337204, 0, 0, 0]),
    ("hardswish", F.hardswish, [NAN, -0.0, 0, 1e4, INF, NAN], [0, 0, 0.5, 1, 1, 1]),
    ("mish", F.mish, [NAN, -0.0, 0, 1e4, INF, NAN], [NAN, 0, 0.6, 1, NAN, NAN]),
    ("softsign", F.softsign, [NAN, -1e4 / 10001, 0, 1e4 / 10001, NAN, NAN], [NAN, 1 / 10001**2, 1, 1 / 10001**2, NAN, NAN]),
    ("softshrink", F.softshrink, [-INF, -1e4 + 0.5, 0, 1e4 - 0.5, INF, NAN], [1, 1, 0, 1, 1, 1]),
    ("threshold", lambda x: F.threshold(x, 0.0, -5.0), [-5, -5, -5, 1e4, INF, NAN], [0, 0, 0, 1, 1, 1]),
    ("logsigmoid", F.logsigmoid, [-INF, -1e4, -math.log(2), 0, 0, NAN], [1, 1, 0.5, 0, 0, NAN]),
    ("tanhshrink", F.tanhshrink, [-INF, -1e4 + 1, 0, 1e4 - 1, INF, NAN], [1, 1, 0, 1, 1, NAN]),
]


@pytest.mark.parametrize("name,fn,out,grad", SPECIAL, ids=[s[0] for s in SPECIAL])
def test_infinities_and_nan_as_pytorch(name, fn, out, grad):
    y, g = value_and_grad(fn, P)
    same(y, out)
    same(g, grad)


@pytest.mark.parametrize("fn", [F.elu, F.selu, lambda x: F.celu(x, 0.5), F.hardswish, F.hardsigmoid, F.softshrink,
                                F.logsigmoid, F.hardtanh, F.relu6, lambda x: F.threshold(x, 1.0, 0.0)])
@pytest.mark.parametrize("dtype", [fg.float32, fg.float64])
def test_the_branch_where_does_not_take_sends_back_no_nan(fn, dtype):
    # exp(x) overflows for x = 100 in float32 (and 1e4 in float64): the exp branch is not the one
    # selected there, and its backward must not turn 0 * inf into NaN.
    x = fg.tensor([-1e4, -100.0, -3.0, 3.0, 100.0, 1e4], dtype=dtype, requires_grad=True)
    fn(x).sum().backward()
    assert np.isfinite(x.grad.numpy()).all(), x.grad


def test_gradient_at_nan_does_not_depend_on_the_length():
    for fn in (F.elu, F.hardtanh, F.relu6, F.hardswish, F.softshrink, F.hardshrink, lambda t: F.selu_(t * 1)):
        for n in (1, 7, 40):
            x = fg.full((n,), NAN, dtype=fg.float64, requires_grad=True)
            fn(x).sum().backward()
            assert np.isfinite(x.grad.numpy()).all() and len(set(x.grad.tolist())) == 1


def test_gradcheck_float64_on_smooth_points():
    rng = np.random.default_rng(0)
    x = fg.tensor(rng.uniform(-4, 4, (3, 5)), requires_grad=True)
    w = fg.tensor(rng.uniform(0.1, 0.5, (3,)), requires_grad=True)
    for fn in (F.elu, F.selu, lambda t: F.celu(t, 1.3), F.mish, F.softsign, F.logsigmoid, F.tanhshrink,
               lambda t: F.hardswish(t), lambda t: F.softmin(t, 1), lambda t: F.glu(t, 0) if t.shape[0] % 2 == 0 else
               F.glu(t.repeat(2, 1), 0), lambda t: F.rrelu(t, 0.1, 0.4, training=False)):
        assert fg.autograd.gradcheck(fn, [x], atol=1e-6, rtol=1e-4)
    assert fg.autograd.gradcheck(lambda a, b: F.prelu(a, b), [x.t().contiguous().detach().requires_grad_(), w],
                                 atol=1e-6, rtol=1e-4)


def test_integer_inputs_follow_pytorch():
    i = fg.arange(-2, 3)
    assert F.hardtanh(i).dtype == fg.int64 and F.hardtanh(i).tolist() == [-1, -1, 0, 1, 1]
    assert F.relu6(fg.arange(-2, 9)).tolist() == [0, 0, 0, 1, 2, 3, 4, 5, 6, 6, 6]
    assert F.threshold(i, 0.5, 7.5).tolist() == [7, 7, 7, 1, 2]  # value cast to int64 as PyTorch
    assert F.softsign(i).dtype == fg.float32
    for name, fn in [("elu_cpu", F.elu), ("elu_cpu", F.selu), ("hardsigmoid_cpu", F.hardsigmoid),
                     ("hardswish_cpu", F.hardswish), ("mish_cpu", F.mish), ("log_sigmoid_cpu", F.logsigmoid),
                     ("softshrink_check", F.softshrink), ("hardshrink_cpu", F.hardshrink)]:
        with pytest.raises(NotImplementedError, match=f'"{name}" not implemented for \'Long\''):
            fn(i)
    with pytest.raises(NotImplementedError, match="Bool inputs not supported for hardtanh"):
        F.relu6(fg.tensor([True, False]))


# ----------------------------------------------------------------------------- in place

INPLACE = [
    ("elu_", lambda x: F.elu_(x, 0.5), lambda x: F.elu(x, 0.5)),
    ("elu(inplace)", lambda x: F.elu(x, inplace=True), F.elu),
    ("selu_", F.selu_, F.selu),
    ("celu_", lambda x: F.celu_(x, 2.0), lambda x: F.celu(x, 2.0)),
    ("hardtanh_", lambda x: F.hardtanh_(x, -0.5, 0.5), lambda x: F.hardtanh(x, -0.5, 0.5)),
    ("relu6(inplace)", lambda x: F.relu6(x, True), F.relu6),
    ("relu_", F.relu_, F.relu),
    ("leaky_relu_", lambda x: F.leaky_relu_(x, 0.3), lambda x: F.leaky_relu(x, 0.3)),
    ("hardsigmoid(inplace)", lambda x: F.hardsigmoid(x, True), F.hardsigmoid),
    ("hardswish(inplace)", lambda x: F.hardswish(x, True), F.hardswish),
    ("mish(inplace)", lambda x: F.mish(x, True), F.mish),
    ("threshold_", lambda x: F.threshold_(x, 0.1, 4.0), lambda x: F.threshold(x, 0.1, 4.0)),
    ("rrelu_(eval)", lambda x: F.rrelu_(x, training=False), lambda x: F.rrelu(x, training=False)),
    ("ELU(inplace)", nn.ELU(inplace=True), F.elu),
    ("ReLU(inplace)", nn.ReLU(inplace=True), F.relu),
    ("LeakyReLU(inplace)", nn.LeakyReLU(0.2, inplace=True), lambda x: F.leaky_relu(x, 0.2)),
    ("SiLU(inplace)", nn.SiLU(inplace=True), F.silu),
    ("Hardtanh(inplace)", nn.Hardtanh(inplace=True), F.hardtanh),
    ("Threshold(inplace)", nn.Threshold(0.0, -1.0, inplace=True), lambda x: F.threshold(x, 0.0, -1.0)),
    ("RReLU(inplace, eval)", nn.RReLU(inplace=True).eval(), lambda x: F.rrelu(x, training=False)),
]
_X = [-2.5, -1.0, -0.25, 0.0, 0.3, 1.0, 4.0]


@pytest.mark.parametrize("name,inplace,reference", INPLACE, ids=[c[0] for c in INPLACE])
def test_inplace_form_writes_into_its_input_and_returns_it(name, inplace, reference):
    x = t64(_X, grad=False)
    out = inplace(x)
    assert out is x
    same(x.numpy(), reference(t64(_X, grad=False)).numpy())
    # on the graph: the gradient through the in-place op on a non-leaf is the out-of-place one's
    a, b = t64(_X), t64(_X)
    h = a * 1
    inplace(h).sum().backward()
    reference(b).sum().backward()
    same(a.grad.numpy(), b.grad.numpy())


@pytest.mark.parametrize("fn", [F.elu_, F.selu_, F.relu_, lambda x: F.hardtanh(x, inplace=True),
                                lambda x: F.threshold_(x, 0.0, 1.0), lambda x: F.mish(x, inplace=True)])
def test_inplace_on_a_leaf_that_requires_grad_is_pytorchs_error(fn):
    x = t64(_X)
    with pytest.raises(RuntimeError, match="a leaf Variable that requires grad is being used in an in-place"):
        fn(x)
    with fg.no_grad():  # allowed without recording, as in PyTorch
        assert fn(x) is x


def test_inplace_after_its_input_was_saved_fails_at_backward():
    a = t64(_X)
    s = a.exp()  # exp saves its output for backward
    F.elu_(s)
    with pytest.raises(RuntimeError):
        s.sum().backward()


def test_out_of_place_leaves_the_input_alone():
    x = t64(_X, grad=False)
    for fn in (F.elu, F.hardtanh, F.hardswish, F.mish, lambda t: F.threshold(t, 0.0, 3.0), nn.ReLU(), nn.ELU()):
        fn(x)
    same(x.numpy(), _X)


# ----------------------------------------------------------------------------- errors


def test_errors_in_pytorchs_types_and_words():
    with pytest.raises(RuntimeError, match="Halving dimension must be even, but dimension 1 is size 3"):
        F.glu(fg.zeros(2, 3))
    with pytest.raises(RuntimeError, match="glu does not support scalars"):
        F.glu(fg.tensor(1.0))
    with pytest.raises(IndexError):
        F.glu(fg.zeros(2, 4), 2)
    with pytest.raises(RuntimeError, match=r"lambda must be in range \[0, 3.40282e\+38\] for input dtype Float, but "
                                           "found -1"):
        F.softshrink(fg.zeros(3), -1.0)
    with pytest.raises(ValueError, match="min_val cannot be greater than max_val"):
        F.hardtanh(fg.zeros(3), 2.0, 1.0)
    with pytest.raises(AssertionError, match=r"max_val \(1\) must be greater than min_val \(2\)"):
        nn.Hardtanh(2, 1)
    with pytest.raises(RuntimeError, match="ZeroDivisionError: alpha cannot be 0 for CELU"):
        F.celu(fg.zeros(3), 0.0)
    for training in (True, False):
        with pytest.raises(RuntimeError, match="Lower bound should be less than or equal to the upper bound"):
            F.rrelu(fg.zeros(3), 0.5, 0.1, training=training)
    with pytest.raises(RuntimeError, match="Mismatch of parameter numbers and input channel size"):
        F.prelu(fg.zeros(2, 3), fg.zeros(2))
    with pytest.raises(RuntimeError, match="Mismatch of parameter numbers and input channel size"):
        nn.PReLU(4)(fg.zeros(2, 3))
    with pytest.raises(ValueError, match="Softmax2d: expected input to be 3D or 4D, got 2D instead"):
        nn.Softmax2d()(fg.zeros(2, 3))


def test_rrelu_needs_training_given_and_says_why():
    with pytest.raises(TypeError, match=r"F.rrelu\(\) needs `training` given explicitly.*defaults it to False"):
        F.rrelu(fg.zeros(3))
    with pytest.raises(TypeError, match=r"F.rrelu_\(\) needs `training`"):
        F.rrelu_(fg.zeros(3))
    with pytest.raises(TypeError, match="training must be a bool"):
        F.rrelu(fg.zeros(3), training=1)


def test_reprs_are_pytorchs():
    # torch 2.15's repr of each, recorded with the same constructor calls
    expected = {
        nn.ELU(): "ELU(alpha=1.0)", nn.ELU(0.5, True): "ELU(alpha=0.5, inplace=True)", nn.SELU(): "SELU()",
        nn.SELU(True): "SELU(inplace=True)", nn.CELU(): "CELU(alpha=1.0)", nn.GLU(): "GLU(dim=-1)",
        nn.Hardtanh(): "Hardtanh(min_val=-1.0, max_val=1.0)",
        nn.Hardtanh(-2, 2, True): "Hardtanh(min_val=-2, max_val=2, inplace=True)", nn.ReLU6(): "ReLU6()",
        nn.ReLU6(True): "ReLU6(inplace=True)", nn.Hardsigmoid(True): "Hardsigmoid()",
        nn.Hardswish(True): "Hardswish()", nn.Mish(True): "Mish(inplace=True)", nn.Mish(): "Mish()",
        nn.Softplus(): "Softplus(beta=1.0, threshold=20.0)", nn.Softsign(): "Softsign()",
        nn.Softshrink(): "Softshrink(0.5)", nn.Hardshrink(0.3): "Hardshrink(0.3)", nn.Tanhshrink(): "Tanhshrink()",
        nn.Threshold(0.1, 20.0): "Threshold(threshold=0.1, value=20.0)",
        nn.Threshold(0.1, 20, True): "Threshold(threshold=0.1, value=20, inplace=True)",
        nn.LogSigmoid(): "LogSigmoid()", nn.PReLU(): "PReLU(num_parameters=1)", nn.PReLU(3): "PReLU(num_parameters=3)",
        nn.RReLU(): "RReLU(lower=0.125, upper=0.3333333333333333)",
        nn.RReLU(0.1, 0.3, True): "RReLU(lower=0.1, upper=0.3, inplace=True)", nn.Softmin(): "Softmin(dim=None)",
        nn.Softmin(1): "Softmin(dim=1)", nn.Softmax2d(): "Softmax2d()", nn.ReLU(True): "ReLU(inplace=True)",
        nn.SiLU(True): "SiLU(inplace=True)",
    }
    for m, r in expected.items():
        assert repr(m) == r


def test_hardtanh_deprecated_keywords_still_work():
    with pytest.warns(FutureWarning, match="min_value"):
        m = nn.Hardtanh(min_value=-2.0)
    assert m.min_val == -2.0 and m.max_val == 1.0


# ----------------------------------------------------------------------------- layers


def test_layers_match_their_functional_forms():
    x = fg.tensor(np.linspace(-4, 4, 24).reshape(2, 3, 4))
    pairs = [
        (nn.ELU(0.3), lambda t: F.elu(t, 0.3)), (nn.SELU(), F.selu), (nn.CELU(2.0), lambda t: F.celu(t, 2.0)),
        (nn.GLU(1), lambda t: F.glu(t.repeat(1, 2, 1), 1)), (nn.Hardtanh(-2, 3), lambda t: F.hardtanh(t, -2, 3)),
        (nn.ReLU6(), F.relu6), (nn.Hardsigmoid(), F.hardsigmoid), (nn.Hardswish(), F.hardswish), (nn.Mish(), F.mish),
        (nn.Softplus(2.0, 3.0), lambda t: F.softplus(t, 2.0, 3.0)), (nn.Softsign(), F.softsign),
        (nn.Softshrink(1.0), lambda t: F.softshrink(t, 1.0)), (nn.Hardshrink(1.0), lambda t: F.hardshrink(t, 1.0)),
        (nn.Tanhshrink(), F.tanhshrink), (nn.Threshold(0.5, -1.0), lambda t: F.threshold(t, 0.5, -1.0)),
        (nn.LogSigmoid(), F.logsigmoid), (nn.Softmin(1), lambda t: F.softmin(t, 1)),
        (nn.Softmax2d(), lambda t: t.softmax(-3)),
    ]
    for m, fn in pairs:
        inp = x.repeat(1, 2, 1) if isinstance(m, nn.GLU) else x
        same(m(inp).numpy(), fn(x).numpy())
    assert nn.GLU(1)(fg.zeros(2, 6, 4)).shape == (2, 3, 4)
    s = fg.tensor(np.arange(12.0).reshape(3, 2, 2))
    np.testing.assert_allclose(nn.Softmax2d()(s).sum(0).numpy(), np.ones((2, 2)))


def test_prelu_parameter_is_pytorchs():
    m = nn.PReLU(3, init=0.1)
    assert list(m.state_dict()) == ["weight"] and m.weight.shape == (3,)
    np.testing.assert_allclose(m.weight.detach().numpy(), [0.1] * 3, rtol=1e-6)
    assert m.weight.dtype == fg.float32 and nn.PReLU(dtype=fg.float64).weight.dtype == fg.float64
    x = fg.tensor(np.array([[[-1.0, 2.0], [-3.0, -4.0], [5.0, -6.0]]], dtype=np.float32))
    m(x).sum().backward()
    np.testing.assert_allclose(m.weight.grad.numpy(), [-1.0, -7.0, -6.0])  # sum of x where x <= 0, per channel
    m2 = nn.PReLU(3)
    m2.load_state_dict(m.state_dict())
    same(m2(x).detach().numpy(), m(x).detach().numpy())
    m.weight.data.fill_(0.5)
    m.reset_parameters()
    np.testing.assert_allclose(m.weight.detach().numpy(), [0.1] * 3, rtol=1e-6)


def test_softmin_and_its_implicit_dim():
    x = fg.tensor(np.arange(6.0).reshape(2, 3))
    same(F.softmin(x, 1).numpy(), (-x).softmax(1).numpy())
    with pytest.warns(UserWarning, match="Implicit dimension choice for softmin"):
        y = F.softmin(x)
    same(y.numpy(), (-x).softmax(1).numpy())  # 2-D: dim 1
    assert F.softmin(x.float(), 0, dtype=fg.float64).dtype == fg.float64


# ----------------------------------------------------------------------------- RReLU


def test_rrelu_eval_is_leaky_relu_with_the_mean_slope():
    x = t64(_X)
    m = nn.RReLU(0.1, 0.3).eval()
    y = m(x)
    same(y.detach().numpy(), F.leaky_relu(x, 0.2).detach().numpy())
    same(m(x).detach().numpy(), y.detach().numpy())  # deterministic


def test_rrelu_training_draws_a_slope_per_element_and_its_gradient_uses_it():
    fg.manual_seed(0)
    x = fg.tensor(np.r_[np.full(200, -2.0), np.full(5, 3.0)], requires_grad=True)
    y = F.rrelu(x, 0.1, 0.3, training=True)
    slopes = y.detach().numpy()[:200] / -2.0
    assert (slopes >= 0.1).all() and (slopes <= 0.3).all() and len(np.unique(slopes)) > 150
    same(y.detach().numpy()[200:], [3.0] * 5)
    y.sum().backward()
    same(x.grad.numpy()[:200], slopes)
    same(x.grad.numpy()[200:], [1.0] * 5)
    fg.manual_seed(0)  # the same seed gives the same slopes; another call, new ones
    same(F.rrelu(x.detach(), 0.1, 0.3, training=True).numpy(), y.detach().numpy())
    assert not np.array_equal(F.rrelu(x.detach(), 0.1, 0.3, training=True).numpy(), y.detach().numpy())


def test_rrelu_training_slopes_are_uniform_on_lower_upper():
    fg.manual_seed(1234)
    lower, upper, n = 0.125, 1 / 3, 40000
    s = F.rrelu(fg.full((n,), -1.0, dtype=fg.float64), lower, upper, training=True).numpy() * -1
    width = upper - lower
    # mean and variance of U(lower, upper) within 5 standard errors
    assert abs(s.mean() - (lower + upper) / 2) < 5 * width / math.sqrt(12 * n)
    assert abs(s.var() - width**2 / 12) < 5 * width**2 * math.sqrt(1 / 180 / n) * 2
    # each of 10 equal bins holds n/10 within 5 binomial standard deviations (no edge pile-up)
    counts, _ = np.histogram(s, bins=10, range=(lower, upper))
    assert counts.sum() == n
    assert np.all(np.abs(counts - n / 10) < 5 * math.sqrt(n * 0.1 * 0.9))
    # Kolmogorov-Smirnov distance to the uniform CDF (critical value at alpha = 0.001: 1.95/sqrt(n))
    u = np.sort((s - lower) / width)
    d = max(np.max(np.arange(1, n + 1) / n - u), np.max(u - np.arange(n) / n))
    assert d < 1.95 / math.sqrt(n)


def test_rrelu_inplace_in_training():
    fg.manual_seed(3)
    x = fg.tensor([-1.0, -2.0, 5.0], dtype=fg.float64)
    out = nn.RReLU(0.2, 0.25, inplace=True)(x)
    assert out is x and x[2].item() == 5.0
    assert 0.2 <= -x[0].item() <= 0.25 and 0.4 <= -x[1].item() <= 0.5


class _Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.act = nn.RReLU(0.1, 0.3)

    def forward(self, x):
        return self.act(self.fc(x) - 10)  # all negative: every output goes through a slope


def _random(model, x) -> bool:
    """Two calls differ: the RReLU is sampling (training behaviour)."""
    with fg.no_grad():
        return not np.array_equal(model(x).numpy(), model(x).numpy())


def test_rrelu_obeys_train_eval_mode_contexts_pins_and_inference():
    model, x = _Net(), fg.randn(8, 4)
    assert _random(model.train(), x)
    assert not _random(model.eval(), x)
    model.train()
    with model.mode("eval"):
        assert not _random(model, x)
    assert model.act.training and _random(model, x)
    model.act.pin_mode("eval")
    model.train()
    assert not model.act.training and not _random(model, x)
    model.act.unpin_mode()
    model.act.pin_mode("train")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the mode report warns about a module training inside fg.inference
        model.eval()
        assert model.act.training and _random(model, x)
        model.act.unpin_mode()
        model.train()
        with fg.inference(model):
            assert not model.act.training and not _random(model, x)
    assert model.act.training


def test_rrelu_in_modes_report_and_summary():
    model = _Net().train()
    report = model.modes()
    (entry,) = report.entries
    assert (entry.path, entry.cls, entry.mode) == ("act", "RReLU", "train")
    assert "random negative slope" in entry.meaning and "[0.1, 0.3]" in entry.meaning
    model.eval()
    (entry,) = model.modes().entries
    assert entry.mode == "eval" and entry.meaning == "fixed negative slope 0.2"
    assert "RReLU" in str(model.modes())
    model.act.pin_mode("train")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert model.modes().entries[0].pinned == "train"
    model.act.unpin_mode()
    assert nn.Sequential(nn.ELU(), nn.PReLU(), nn.Mish()).modes().entries == []  # the others are not mode-dependent
    fg.manual_seed(5)
    expected = fg.rand(3)
    fg.manual_seed(5)
    rows = {r.path: r for r in summary(model.train(), (2, 4))}
    assert rows["act"].mode_dependent and rows["act"].mode == "train"
    same(fg.rand(3).numpy(), expected.numpy())  # summary's forward leaves the generator as it was


def test_rrelu_left_training_inside_fg_inference_is_reported():
    from ferrograd.nn.utils import MixedModesWarning

    model = _Net()
    model.act.pin_mode("train")
    with pytest.warns(MixedModesWarning, match=r"(?s)still in training mode inside fg.inference.*RReLU.*random"):
        with fg.inference(model):
            assert model.act.training and not model.fc.training


# ----------------------------------------------------------------------------- gumbel_softmax


def test_gumbel_softmax_soft_and_hard():
    fg.manual_seed(0)
    logits = fg.tensor(np.log([[0.1, 0.2, 0.7]] * 5), requires_grad=True)
    y = F.gumbel_softmax(logits, tau=0.5)
    np.testing.assert_allclose(y.sum(-1).detach().numpy(), np.ones(5), rtol=1e-12)
    assert (y.detach().numpy() > 0).all()
    fg.manual_seed(1)
    h = F.gumbel_softmax(logits, tau=0.5, hard=True, dim=1)
    hv = h.detach().numpy()
    assert set(np.unique(hv)) <= {0.0, 1.0} and (hv.sum(1) == 1).all()
    # straight-through: the gradient of the hard sample is the soft sample's (same noise)
    w = fg.tensor(np.random.default_rng(0).uniform(-1, 1, (5, 3)))
    (h * w).sum().backward()
    g_hard = logits.grad.numpy().copy()
    logits.grad = None
    fg.manual_seed(1)
    soft = F.gumbel_softmax(logits, tau=0.5, dim=1)
    np.testing.assert_array_equal(hv.argmax(1), soft.detach().numpy().argmax(1))
    (soft * w).sum().backward()
    np.testing.assert_allclose(g_hard, logits.grad.numpy(), rtol=1e-12, atol=1e-15)


def test_gumbel_softmax_hard_samples_follow_the_softmax():
    # Gumbel-max: argmax(logits + g) ~ Categorical(softmax(logits))
    fg.manual_seed(7)
    p = np.array([0.1, 0.2, 0.7])
    n = 20000
    h = F.gumbel_softmax(fg.tensor(np.log(np.tile(p, (n, 1)))), hard=True).numpy()
    freq = h.mean(0)
    assert np.all(np.abs(freq - p) < 5 * np.sqrt(p * (1 - p) / n))


def test_gumbel_softmax_eps_is_deprecated():
    with pytest.warns(UserWarning, match="`eps` parameter is deprecated"):
        F.gumbel_softmax(fg.zeros(3), eps=1e-5)


def test_every_pytorch_activation_name_exists():
    for name in ["elu", "elu_", "selu", "selu_", "celu", "celu_", "glu", "hardtanh", "hardtanh_", "relu6", "relu_",
                 "leaky_relu_", "hardsigmoid", "hardswish", "mish", "softsign", "softshrink", "hardshrink",
                 "tanhshrink", "threshold", "threshold_", "logsigmoid", "prelu", "rrelu", "rrelu_", "softmin",
                 "gumbel_softmax"]:
        assert name in F.__all__ and callable(getattr(F, name))
    for name in ["ELU", "SELU", "CELU", "GLU", "Hardtanh", "ReLU6", "Hardsigmoid", "Hardswish", "Mish", "Softplus",
                 "Softsign", "Softshrink", "Hardshrink", "Tanhshrink", "Threshold", "LogSigmoid", "PReLU", "RReLU",
                 "Softmin", "Softmax2d"]:
        assert name in nn.__all__ and issubclass(getattr(nn, name), nn.Module)
