"""Linear, Flatten, Identity, activations and nn.init, each checked against a numpy reference
(forward, backward, float64 gradcheck) plus a bad-input table. Behaviour follows PyTorch."""

import math

import ferrograd as fg
import numpy as np
import pytest
from ferrograd import nn
from ferrograd.nn import functional as F
from ferrograd.nn import init

gradcheck = fg.autograd.gradcheck


def npa(t):
    return t.detach().numpy().copy()


def arr(shape, seed=0, low=-2.0, high=2.0, margin=0.0):
    a = np.random.default_rng(seed).uniform(low, high, size=shape)
    if margin:  # keep finite differences off the kink at 0
        a = np.where(np.abs(a) < margin, np.where(a >= 0, margin, -margin), a)
    return a


def t64(a, requires_grad=False):
    return fg.tensor(np.asarray(a, dtype=np.float64), requires_grad=requires_grad)


# ---- Linear -------------------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(5, 4), (2, 3, 4), (4,)])
def test_linear_forward_vs_numpy(shape):
    lin = nn.Linear(4, 3, dtype=fg.float64)
    x = arr(shape, seed=1)
    out = lin(t64(x))
    W, b = npa(lin.weight), npa(lin.bias)
    assert W.shape == (3, 4) and b.shape == (3,)
    assert tuple(out.shape) == shape[:-1] + (3,) and out.dtype == fg.float64
    np.testing.assert_allclose(npa(out), x @ W.T + b, rtol=1e-12, atol=1e-12)


def test_linear_float32_default_dtype():
    lin = nn.Linear(4, 3)
    assert lin.weight.dtype == fg.float32 and lin.bias.dtype == fg.float32
    x = arr((6, 4), seed=2).astype(np.float32)
    out = lin(fg.tensor(x))
    assert out.dtype == fg.float32
    np.testing.assert_allclose(npa(out), x @ npa(lin.weight).T + npa(lin.bias), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("shape", [(5, 4), (2, 3, 4)])
def test_linear_backward_vs_numpy(shape):
    lin = nn.Linear(4, 3).double()
    x_np, g_np = arr(shape, seed=3), arr(shape[:-1] + (3,), seed=4)
    x = t64(x_np, requires_grad=True)
    lin(x).backward(t64(g_np))
    W = npa(lin.weight)
    x2, g2 = x_np.reshape(-1, 4), g_np.reshape(-1, 3)
    np.testing.assert_allclose(npa(lin.weight.grad), g2.T @ x2, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(npa(lin.bias.grad), g2.sum(0), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(npa(x.grad), g_np @ W, rtol=1e-10, atol=1e-12)


def test_linear_gradcheck_float64():
    lin = nn.Linear(3, 2, dtype=fg.float64)
    x = t64(arr((4, 3), seed=5), requires_grad=True)
    assert gradcheck(lambda t: lin(t), (x,))
    assert gradcheck(lambda t, w, b: F.linear(t, w, b), (x, lin.weight, lin.bias))
    x3 = t64(arr((2, 2, 3), seed=6), requires_grad=True)
    assert gradcheck(lambda t, w: F.linear(t, w), (x3, lin.weight))


@pytest.mark.parametrize("rows,inf,outf", [(300, 400, 290), (1000, 64, 40), (3, 900, 700)])
def test_linear_large_products_split_across_threads_match_numpy(rows, inf, outf):
    # Above a million multiply-adds the product is cut into one slab per thread (along the
    # longer of rows / out_features); forward and every gradient against numpy.
    x_np, w_np, b_np, g_np = arr((rows, inf), 11), arr((outf, inf), 12), arr((outf,), 13), arr((rows, outf), 14)
    x, w, b = t64(x_np, True), t64(w_np, True), t64(b_np, True)
    out = F.linear(x, w, b)
    np.testing.assert_allclose(npa(out), x_np @ w_np.T + b_np, rtol=1e-12, atol=1e-10)
    out.backward(t64(g_np))
    np.testing.assert_allclose(npa(x.grad), g_np @ w_np, rtol=1e-12, atol=1e-10)
    np.testing.assert_allclose(npa(w.grad), g_np.T @ x_np, rtol=1e-12, atol=1e-10)
    np.testing.assert_allclose(npa(b.grad), g_np.sum(0), rtol=1e-12, atol=1e-10)


def test_linear_reads_strided_views_and_broadcast_bias_falls_back():
    x_np, w_np = arr((7, 5), 15), arr((5, 3), 16)
    x = t64(x_np.T.copy(), True).t()                      # (7, 5) view with strides (1, 7)
    w = t64(w_np, True).t()                               # (3, 5) transposed view
    out = F.linear(x, w)
    np.testing.assert_allclose(npa(out), x_np @ w_np, rtol=1e-12)
    assert gradcheck(lambda a, b: F.linear(a, b), (x, w))
    # a 1-D input, and a (1, out) bias that only broadcasting accepts (the composed path)
    v = t64(arr((5,), 17), True)
    np.testing.assert_allclose(npa(F.linear(v, t64(w_np.T))), w_np.T @ npa(v), rtol=1e-12)
    b2 = t64(arr((1, 3), 18), True)
    np.testing.assert_allclose(npa(F.linear(t64(x_np), t64(w_np.T), b2)), x_np @ w_np + npa(b2), rtol=1e-12)
    assert gradcheck(lambda a, c: F.linear(a, t64(w_np.T), c), (t64(x_np, True), b2))


def test_linear_no_bias():
    lin = nn.Linear(4, 2, bias=False, dtype=fg.float64)
    assert lin.bias is None
    assert [n for n, _ in lin.named_parameters()] == ["weight"]
    x = arr((3, 4), seed=7)
    np.testing.assert_allclose(npa(lin(t64(x))), x @ npa(lin.weight).T, rtol=1e-12)


def test_linear_default_init_bounds_and_uniformity():
    fg.manual_seed(0)
    lin = nn.Linear(400, 300)
    bound = 1 / math.sqrt(400)
    w, b = npa(lin.weight).ravel(), npa(lin.bias)
    assert w.shape == (120000,)
    assert np.all(np.abs(w) <= bound) and np.all(np.abs(b) <= bound)
    assert abs(w.std() - bound / math.sqrt(3)) < 0.02 * bound / math.sqrt(3)
    assert abs(w.mean()) < 0.01 * bound
    assert w.max() > 0.99 * bound and w.min() < -0.99 * bound
    counts, _ = np.histogram(w, bins=10, range=(-bound, bound))
    assert np.all(np.abs(counts - w.size / 10) < 0.05 * w.size / 10), counts
    assert len(np.unique(b)) > 250 and b.max() > 0.5 * bound and b.min() < -0.5 * bound
    assert lin.weight.requires_grad and lin.weight.is_leaf


def test_linear_init_is_reproducible_with_manual_seed():
    fg.manual_seed(123)
    a = nn.Linear(8, 5)
    fg.manual_seed(123)
    b = nn.Linear(8, 5)
    c = nn.Linear(8, 5)
    np.testing.assert_array_equal(npa(a.weight), npa(b.weight))
    np.testing.assert_array_equal(npa(a.bias), npa(b.bias))
    assert not np.array_equal(npa(b.weight), npa(c.weight))


# ---- Flatten, Identity --------------------------------------------------------------------

@pytest.mark.parametrize("start,end", [(1, -1), (0, -1), (0, 2), (1, 2), (-3, -2), (2, 2)])
def test_flatten_vs_numpy(start, end):
    x = arr((2, 3, 4, 5), seed=8)
    m = nn.Flatten() if (start, end) == (1, -1) else nn.Flatten(start, end)
    s, e = start % 4, end % 4
    want = x.reshape(x.shape[:s] + (-1,) + x.shape[e + 1:])
    out = m(t64(x))
    assert tuple(out.shape) == want.shape
    np.testing.assert_array_equal(npa(out), want)


def test_flatten_backward():
    x = t64(arr((2, 3, 4), seed=9), requires_grad=True)
    assert gradcheck(lambda t: nn.Flatten()(t) * t64(np.arange(12.0)), (x,))


def test_identity_returns_input_and_ignores_args():
    m = nn.Identity(54, unused_argument1=0.1)
    x = t64(arr((3, 2)), requires_grad=True)
    assert m(x) is x
    assert list(m.parameters()) == []


# ---- activations --------------------------------------------------------------------------

_erf = np.vectorize(math.erf)


def np_sigmoid(x):
    return 1 / (1 + np.exp(-x))


def np_softmax(x, dim):
    e = np.exp(x - x.max(axis=dim, keepdims=True))
    return e / e.sum(axis=dim, keepdims=True)


def np_log_softmax(x, dim):
    s = x - x.max(axis=dim, keepdims=True)
    return s - np.log(np.exp(s).sum(axis=dim, keepdims=True))


GELU_C = math.sqrt(2 / math.pi)

ACTS = {
    "relu": (lambda: nn.ReLU(), lambda x: np.maximum(x, 0)),
    "leaky_default": (lambda: nn.LeakyReLU(), lambda x: np.where(x > 0, x, 0.01 * x)),
    "leaky_0.2": (lambda: nn.LeakyReLU(negative_slope=0.2), lambda x: np.where(x > 0, x, 0.2 * x)),
    "leaky_neg": (lambda: nn.LeakyReLU(-0.5), lambda x: np.where(x > 0, x, -0.5 * x)),
    "gelu": (lambda: nn.GELU(), lambda x: 0.5 * x * (1 + _erf(x / math.sqrt(2)))),
    "gelu_tanh": (lambda: nn.GELU(approximate="tanh"),
                  lambda x: 0.5 * x * (1 + np.tanh(GELU_C * (x + 0.044715 * x**3)))),
    "silu": (lambda: nn.SiLU(), lambda x: x * np_sigmoid(x)),
    "sigmoid": (lambda: nn.Sigmoid(), np_sigmoid),
    "tanh": (lambda: nn.Tanh(), np.tanh),
    "softmax0": (lambda: nn.Softmax(dim=0), lambda x: np_softmax(x, 0)),
    "softmax1": (lambda: nn.Softmax(dim=1), lambda x: np_softmax(x, 1)),
    "softmax-1": (lambda: nn.Softmax(dim=-1), lambda x: np_softmax(x, -1)),
    "logsoftmax1": (lambda: nn.LogSoftmax(dim=1), lambda x: np_log_softmax(x, 1)),
    "logsoftmax-1": (lambda: nn.LogSoftmax(dim=-1), lambda x: np_log_softmax(x, -1)),
}


@pytest.mark.parametrize("name", list(ACTS))
def test_activation_forward_float64(name):
    make, ref = ACTS[name]
    x = arr((3, 4, 5), seed=10, low=-4, high=4)
    out = make()(t64(x))
    assert out.dtype == fg.float64 and tuple(out.shape) == x.shape
    np.testing.assert_allclose(npa(out), ref(x), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", list(ACTS))
def test_activation_forward_float32(name):
    make, ref = ACTS[name]
    x = arr((4, 6), seed=11, low=-4, high=4).astype(np.float32)
    out = make()(fg.tensor(x))
    assert out.dtype == fg.float32
    np.testing.assert_allclose(npa(out), ref(x.astype(np.float64)), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", list(ACTS))
def test_activation_gradcheck(name):
    make, _ = ACTS[name]
    x = t64(arr((2, 3, 4), seed=12, low=-3, high=3, margin=0.05), requires_grad=True)
    assert gradcheck(make(), (x,))


@pytest.mark.parametrize("name", ["gelu", "gelu_tanh", "silu", "leaky_0.2"])
def test_activation_backward_vs_numpy_derivative(name):
    x_np = arr((50,), seed=13, low=-3, high=3, margin=0.05)
    x = t64(x_np, requires_grad=True)
    ACTS[name][0]()(x).sum().backward()
    pdf = np.exp(-x_np**2 / 2) / math.sqrt(2 * math.pi)
    if name == "gelu":
        want = 0.5 * (1 + _erf(x_np / math.sqrt(2))) + x_np * pdf
    elif name == "gelu_tanh":
        u = GELU_C * (x_np + 0.044715 * x_np**3)
        want = 0.5 * (1 + np.tanh(u)) + 0.5 * x_np * (1 - np.tanh(u) ** 2) * GELU_C * (1 + 3 * 0.044715 * x_np**2)
    elif name == "silu":
        s = np_sigmoid(x_np)
        want = s * (1 + x_np * (1 - s))
    else:
        want = np.where(x_np > 0, 1.0, 0.2)
    np.testing.assert_allclose(npa(x.grad), want, rtol=1e-9, atol=1e-12)


def test_gelu_exact_differs_from_tanh_form():
    x = np.array([-2.5, -1.0, 0.7, 2.0])
    exact, approx = npa(nn.GELU()(t64(x))), npa(nn.GELU("tanh")(t64(x)))
    np.testing.assert_allclose(exact, 0.5 * x * (1 + _erf(x / math.sqrt(2))), rtol=1e-12)
    assert np.max(np.abs(exact - approx)) > 1e-5


def test_softmax_is_stable_for_large_inputs():
    x = np.array([[1000.0, 1001.0, 1002.0], [-1000.0, -1001.0, -1003.0]])
    s, ls = npa(nn.Softmax(dim=1)(t64(x))), npa(nn.LogSoftmax(dim=1)(t64(x)))
    assert np.all(np.isfinite(s)) and np.all(np.isfinite(ls))
    np.testing.assert_allclose(s, np_softmax(x, 1), rtol=1e-12)
    np.testing.assert_allclose(ls, np_log_softmax(x, 1), rtol=1e-12)


def test_softmax_dim_none_legacy_rule():
    x2, x3 = arr((3, 4), seed=14), arr((2, 3, 4), seed=15)
    np.testing.assert_allclose(npa(nn.Softmax()(t64(x2))), np_softmax(x2, 1), rtol=1e-12)
    np.testing.assert_allclose(npa(nn.Softmax()(t64(x3))), np_softmax(x3, 0), rtol=1e-12)


# ---- nn.init ------------------------------------------------------------------------------

def big(*shape):
    return fg.empty(*shape)


def test_uniform_and_normal_statistics():
    fg.manual_seed(0)
    t = big(500, 400)
    assert init.uniform_(t, -3.0, 5.0) is t
    v = npa(t)
    assert v.min() >= -3.0 and v.max() <= 5.0 and v.min() < -2.95 and v.max() > 4.95
    assert abs(v.mean() - 1.0) < 0.03 and abs(v.std() - 8 / math.sqrt(12)) < 0.02
    v = npa(init.uniform_(big(300, 300)))  # default U(0, 1)
    assert v.min() >= 0 and v.max() <= 1 and abs(v.mean() - 0.5) < 0.01
    v = npa(init.normal_(t, mean=2.0, std=0.5))
    assert abs(v.mean() - 2.0) < 0.01 and abs(v.std() - 0.5) < 0.01
    assert abs(np.mean(np.abs(v - 2.0) < 0.5) - 0.6827) < 0.01  # Gaussian, not uniform
    v = npa(init.normal_(big(300, 300)))
    assert abs(v.mean()) < 0.02 and abs(v.std() - 1.0) < 0.02


def test_constant_zeros_ones_on_parameter():
    p = nn.Parameter(fg.empty(3, 4))
    assert init.constant_(p, 2.5) is p
    np.testing.assert_array_equal(npa(p), np.full((3, 4), 2.5))
    assert p.requires_grad and p.is_leaf and p.grad_fn is None
    np.testing.assert_array_equal(npa(init.zeros_(p)), np.zeros((3, 4)))
    np.testing.assert_array_equal(npa(init.ones_(p)), np.ones((3, 4)))
    d = fg.empty(5, dtype=fg.float64)
    init.constant_(d, 0.1)
    assert d.dtype == fg.float64 and np.all(npa(d) == 0.1)


@pytest.mark.parametrize("shape", [(300, 500), (64, 32, 3, 3)])
@pytest.mark.parametrize("gain", [1.0, 2.0])
def test_xavier(shape, gain):
    rf = int(np.prod(shape[2:])) if len(shape) > 2 else 1
    fan_in, fan_out = shape[1] * rf, shape[0] * rf
    fg.manual_seed(1)
    v = npa(init.xavier_uniform_(big(*shape), gain=gain))
    a = gain * math.sqrt(6.0 / (fan_in + fan_out))
    assert np.all(np.abs(v) <= a) and v.max() > 0.99 * a
    assert abs(v.std() - a / math.sqrt(3)) < 0.02 * a / math.sqrt(3)
    v = npa(init.xavier_normal_(big(*shape), gain=gain))
    std = gain * math.sqrt(2.0 / (fan_in + fan_out))
    assert abs(v.std() - std) < 0.02 * std and abs(v.mean()) < 0.02 * std


@pytest.mark.parametrize("mode", ["fan_in", "fan_out"])
@pytest.mark.parametrize("nonlin,a", [("relu", 0.0), ("leaky_relu", 0.0), ("leaky_relu", 0.2), ("linear", 0.0)])
def test_kaiming(mode, nonlin, a):
    shape = (200, 600)
    fan = 600 if mode == "fan_in" else 200
    gain = {"relu": math.sqrt(2), "linear": 1.0}.get(nonlin, math.sqrt(2 / (1 + a * a)))
    std = gain / math.sqrt(fan)
    fg.manual_seed(2)
    v = npa(init.kaiming_uniform_(big(*shape), a=a, mode=mode, nonlinearity=nonlin))
    bound = math.sqrt(3) * std
    assert np.all(np.abs(v) <= bound) and v.max() > 0.99 * bound
    assert abs(v.std() - std) < 0.02 * std
    v = npa(init.kaiming_normal_(big(*shape), a=a, mode=mode, nonlinearity=nonlin))
    assert abs(v.std() - std) < 0.02 * std and abs(v.mean()) < 0.02 * std


def test_kaiming_conv_shaped_fan():
    fg.manual_seed(3)
    v = npa(init.kaiming_normal_(big(64, 16, 5, 5), nonlinearity="relu"))  # fan_in = 16 * 25
    std = math.sqrt(2) / math.sqrt(400)
    assert abs(v.std() - std) < 0.02 * std


def test_calculate_gain_values():
    for name in ["linear", "conv1d", "conv2d", "conv3d", "conv_transpose2d", "sigmoid"]:
        assert init.calculate_gain(name) == 1.0
    assert init.calculate_gain("tanh") == pytest.approx(5 / 3)
    assert init.calculate_gain("relu") == pytest.approx(math.sqrt(2))
    assert init.calculate_gain("leaky_relu") == pytest.approx(math.sqrt(2 / (1 + 0.01**2)))
    assert init.calculate_gain("leaky_relu", 0.2) == pytest.approx(math.sqrt(2 / 1.04))
    assert init.calculate_gain("selu") == pytest.approx(0.75)


@pytest.mark.parametrize("fn", [
    lambda t: init.uniform_(t, -1, 1), lambda t: init.normal_(t), lambda t: init.xavier_uniform_(t),
    lambda t: init.xavier_normal_(t), lambda t: init.kaiming_uniform_(t), lambda t: init.kaiming_normal_(t),
])
def test_init_reproducible_with_manual_seed(fn):
    fg.manual_seed(42)
    a = npa(fn(big(20, 30)))
    fg.manual_seed(42)
    b = npa(fn(big(20, 30)))
    c = npa(fn(big(20, 30)))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(b, c)


def test_init_keeps_dtype_float64():
    t = fg.empty(50, 40, dtype=fg.float64)
    init.kaiming_uniform_(t, a=math.sqrt(5))
    assert t.dtype == fg.float64
    assert np.all(np.abs(npa(t)) <= 1 / math.sqrt(40))


# ---- bad inputs ---------------------------------------------------------------------------

def _lin_wrong_last_dim():
    nn.Linear(4, 3)(fg.ones(2, 5))


BAD = [
    ("linear wrong in_features", _lin_wrong_last_dim, RuntimeError, r"(2, 5|2x5)"),
    ("linear wrong in_features 3d", lambda: nn.Linear(4, 3)(fg.ones(2, 6, 7)), RuntimeError, r"7"),
    ("linear float64 into float32", lambda: nn.Linear(3, 2)(fg.ones(2, 3, dtype=fg.float64)), RuntimeError, r"dtype"),
    ("linear negative size", lambda: nn.Linear(-1, 3), RuntimeError, r"negative dimension"),
    ("gelu bad approximate", lambda: nn.GELU(approximate="bad")(fg.ones(3)), ValueError, r"approximate"),
    ("F.gelu bad approximate", lambda: F.gelu(fg.ones(3), approximate="erf"), ValueError, r"approximate"),
    ("softmax dim out of range", lambda: nn.Softmax(dim=2)(fg.ones(2, 3)), IndexError, r"[Dd]imension out of range"),
    ("logsoftmax dim out of range", lambda: nn.LogSoftmax(dim=-3)(fg.ones(2, 3)), IndexError, r"[Dd]imension out of range"),
    ("flatten start after end", lambda: nn.Flatten(2, 1)(fg.ones(2, 3, 4)), RuntimeError, r"start_dim.*end_dim"),
    ("flatten dim out of range", lambda: nn.Flatten(0, 5)(fg.ones(2, 3)), IndexError, r"[Dd]imension out of range"),
    ("xavier on 1-D", lambda: init.xavier_uniform_(fg.empty(5)), ValueError, r"fewer than 2 dimensions"),
    ("kaiming on 1-D", lambda: init.kaiming_normal_(fg.empty(5)), ValueError, r"fewer than 2 dimensions"),
    ("kaiming bad mode", lambda: init.kaiming_uniform_(fg.empty(3, 3), mode="fan_avg"), ValueError, r"fan_avg"),
    ("gain unknown", lambda: init.calculate_gain("swish"), ValueError, r"[Uu]nsupported nonlinearity swish"),
    ("gain bad slope", lambda: init.calculate_gain("leaky_relu", "x"), ValueError, r"negative_slope"),
]


@pytest.mark.parametrize("case", BAD, ids=[c[0] for c in BAD])
def test_bad_input(case):
    _, fn, exc, pattern = case
    with pytest.raises(exc, match=pattern):
        fn()


def test_linear_wrong_last_dim_message_names_both_sizes():
    with pytest.raises(RuntimeError) as ei:
        _lin_wrong_last_dim()
    msg = str(ei.value)
    assert "5" in msg and "4" in msg and "mat1 and mat2 shapes cannot be multiplied" in msg
