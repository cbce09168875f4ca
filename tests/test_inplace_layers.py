"""`inplace=True` layers and their functional forms (ReLU, LeakyReLU, ReLU6, Hardtanh, ELU, SELU,
CELU, SiLU, Mish, Hardsigmoid, Hardswish, Threshold, RReLU, the Dropout family) on tensors that
are not views, with PyTorch's semantics:

* the result is the input object itself (`F.relu(x, inplace=True) is x`) and x holds the values;
* x's grad_fn becomes the in-place op's node, and the gradient reaching the leaf upstream is the
  out-of-place form's (which test_activations.py / test_dropout.py check against PyTorch);
* an in-place op on a leaf that requires grad raises PyTorch's RuntimeError (allowed under no_grad);
* a backward that needs a value the in-place op overwrote raises PyTorch's "modified by an
  inplace operation" RuntimeError instead of returning a wrong gradient.

Random layers (RReLU in training, the Dropouts) are compared with their out-of-place form under
the same seed. With PyTorch installed the deterministic cases are also compared with torch's
in-place layers directly. In-place ops on views are tests/test_inplace_views.py.
"""

from __future__ import annotations

import ferrograd as fg
import numpy as np
import pytest
from ferrograd import nn
from ferrograd.nn import functional as F

# (name, shape, in-place call, out-of-place call, random?) for the functional forms.
FUNCTIONAL = [
    ("relu", (2, 3, 4), lambda x: F.relu(x, inplace=True), F.relu, False),
    ("relu_", (2, 3, 4), F.relu_, F.relu, False),
    ("Tensor.relu_", (2, 3, 4), lambda x: x.relu_(), F.relu, False),
    ("leaky_relu", (2, 3, 4), lambda x: F.leaky_relu(x, 0.2, inplace=True), lambda x: F.leaky_relu(x, 0.2), False),
    ("leaky_relu_", (2, 3, 4), lambda x: F.leaky_relu_(x, 0.2), lambda x: F.leaky_relu(x, 0.2), False),
    ("relu6", (2, 3, 4), lambda x: F.relu6(x, inplace=True), F.relu6, False),
    ("hardtanh", (2, 3, 4), lambda x: F.hardtanh(x, -0.5, 0.5, inplace=True), lambda x: F.hardtanh(x, -0.5, 0.5), False),
    ("hardtanh_", (2, 3, 4), lambda x: F.hardtanh_(x, -0.5, 0.5), lambda x: F.hardtanh(x, -0.5, 0.5), False),
    ("elu", (2, 3, 4), lambda x: F.elu(x, 1.5, inplace=True), lambda x: F.elu(x, 1.5), False),
    ("elu_", (2, 3, 4), lambda x: F.elu_(x, 1.5), lambda x: F.elu(x, 1.5), False),
    ("selu", (2, 3, 4), lambda x: F.selu(x, inplace=True), F.selu, False),
    ("selu_", (2, 3, 4), F.selu_, F.selu, False),
    ("celu", (2, 3, 4), lambda x: F.celu(x, 0.7, inplace=True), lambda x: F.celu(x, 0.7), False),
    ("celu_", (2, 3, 4), lambda x: F.celu_(x, 0.7), lambda x: F.celu(x, 0.7), False),
    ("silu", (2, 3, 4), lambda x: F.silu(x, inplace=True), F.silu, False),
    ("mish", (2, 3, 4), lambda x: F.mish(x, inplace=True), F.mish, False),
    ("hardsigmoid", (2, 3, 4), lambda x: F.hardsigmoid(x, inplace=True), F.hardsigmoid, False),
    ("hardswish", (2, 3, 4), lambda x: F.hardswish(x, inplace=True), F.hardswish, False),
    ("threshold", (2, 3, 4), lambda x: F.threshold(x, 0.1, -2.0, inplace=True), lambda x: F.threshold(x, 0.1, -2.0), False),
    ("threshold_", (2, 3, 4), lambda x: F.threshold_(x, 0.1, -2.0), lambda x: F.threshold(x, 0.1, -2.0), False),
    ("rrelu(eval)", (2, 3, 4), lambda x: F.rrelu(x, 0.1, 0.3, training=False, inplace=True),
     lambda x: F.rrelu(x, 0.1, 0.3, training=False), False),
    ("rrelu(train)", (2, 3, 4), lambda x: F.rrelu(x, 0.1, 0.3, training=True, inplace=True),
     lambda x: F.rrelu(x, 0.1, 0.3, training=True), True),
    ("rrelu_", (2, 3, 4), lambda x: F.rrelu_(x, 0.1, 0.3, training=True), lambda x: F.rrelu(x, 0.1, 0.3, training=True), True),
    ("dropout", (2, 3, 4), lambda x: F.dropout(x, 0.4, training=True, inplace=True),
     lambda x: F.dropout(x, 0.4, training=True), True),
    ("dropout1d", (2, 3, 4), lambda x: F.dropout1d(x, 0.4, training=True, inplace=True),
     lambda x: F.dropout1d(x, 0.4, training=True), True),
    ("dropout2d", (2, 3, 2, 2), lambda x: F.dropout2d(x, 0.4, training=True, inplace=True),
     lambda x: F.dropout2d(x, 0.4, training=True), True),
    ("dropout3d", (2, 3, 2, 1, 2), lambda x: F.dropout3d(x, 0.4, training=True, inplace=True),
     lambda x: F.dropout3d(x, 0.4, training=True), True),
    ("alpha_dropout", (2, 3, 4), lambda x: F.alpha_dropout(x, 0.4, training=True, inplace=True),
     lambda x: F.alpha_dropout(x, 0.4, training=True), True),
    ("feature_alpha_dropout", (2, 3, 4), lambda x: F.feature_alpha_dropout(x, 0.4, training=True, inplace=True),
     lambda x: F.feature_alpha_dropout(x, 0.4, training=True), True),
]

# (name, shape, layer class, constructor kwargs, training?, random?) for the layers; each is built
# once with inplace=True and once with inplace=False.
LAYERS = [
    ("ReLU", (2, 3, 4), nn.ReLU, {}, True, False),
    ("LeakyReLU", (2, 3, 4), nn.LeakyReLU, {"negative_slope": 0.2}, True, False),
    ("ReLU6", (2, 3, 4), nn.ReLU6, {}, True, False),
    ("Hardtanh", (2, 3, 4), nn.Hardtanh, {"min_val": -0.5, "max_val": 0.5}, True, False),
    ("ELU", (2, 3, 4), nn.ELU, {"alpha": 1.5}, True, False),
    ("SELU", (2, 3, 4), nn.SELU, {}, True, False),
    ("CELU", (2, 3, 4), nn.CELU, {"alpha": 0.7}, True, False),
    ("SiLU", (2, 3, 4), nn.SiLU, {}, True, False),
    ("Mish", (2, 3, 4), nn.Mish, {}, True, False),
    ("Hardsigmoid", (2, 3, 4), nn.Hardsigmoid, {}, True, False),
    ("Hardswish", (2, 3, 4), nn.Hardswish, {}, True, False),
    ("Threshold", (2, 3, 4), nn.Threshold, {"threshold": 0.1, "value": -2.0}, True, False),
    ("RReLU(eval)", (2, 3, 4), nn.RReLU, {"lower": 0.1, "upper": 0.3}, False, False),
    ("RReLU(train)", (2, 3, 4), nn.RReLU, {"lower": 0.1, "upper": 0.3}, True, True),
    ("Dropout", (2, 3, 4), nn.Dropout, {"p": 0.4}, True, True),
    ("Dropout1d", (2, 3, 4), nn.Dropout1d, {"p": 0.4}, True, True),
    ("Dropout2d", (2, 3, 2, 2), nn.Dropout2d, {"p": 0.4}, True, True),
    ("Dropout3d", (2, 3, 2, 1, 2), nn.Dropout3d, {"p": 0.4}, True, True),
    ("AlphaDropout", (2, 3, 4), nn.AlphaDropout, {"p": 0.4}, True, True),
    ("FeatureAlphaDropout", (2, 3, 4), nn.FeatureAlphaDropout, {"p": 0.4}, True, True),
]


def _layer_calls(cls, kwargs, training):
    inplace = cls(**kwargs, inplace=True).train(training)
    out_of_place = cls(**kwargs, inplace=False).train(training)
    return inplace, out_of_place


CASES = [pytest.param(shape, fn, ref, rand, id=name) for name, shape, fn, ref, rand in FUNCTIONAL]
CASES += [pytest.param(shape, *_layer_calls(cls, kw, tr), rand, id=name) for name, shape, cls, kw, tr, rand in LAYERS]


def _data(shape, seed=0):
    """Values away from every kink of the cases (0, +-0.5, 0.1, +-3, 6) by at least 0.05."""
    rs = np.random.RandomState(seed)
    a = rs.uniform(-4.0, 4.0, shape)
    for kink in (0.0, 0.1, 0.5, -0.5, 3.0, -3.0):  # in this order a shift never lands on a later kink
        a[np.abs(a - kink) < 0.05] += 0.1
    return a


def _run(fn, x, rand, seed=7):
    if rand:
        fg.manual_seed(seed)  # the same mask / slopes for the in-place and out-of-place calls
    return fn(x)


@pytest.mark.parametrize("shape,fn,ref,rand", CASES)
def test_inplace_returns_its_input_holding_the_out_of_place_values(shape, fn, ref, rand):
    data = _data(shape)
    x = fg.tensor(data)
    out = _run(fn, x, rand)
    assert out is x
    want = _run(ref, fg.tensor(data), rand).numpy()
    np.testing.assert_allclose(x.numpy(), want, rtol=1e-6, atol=1e-7)
    if rand:  # a random case that drew nothing would prove nothing
        assert not np.allclose(x.numpy(), data)


def _reaches(node, target) -> bool:
    seen, stack = [], [node]
    while stack:
        n = stack.pop()
        if n == target:
            return True
        if n is None or any(n == s for s in seen):
            continue
        seen.append(n)
        stack.extend(nxt for nxt, _ in n.next_functions)
    return False


@pytest.mark.parametrize("shape,fn,ref,rand", CASES)
def test_inplace_gives_its_input_the_ops_node_and_the_out_of_place_gradient(shape, fn, ref, rand):
    data = _data(shape)
    w = fg.tensor(np.random.RandomState(1).standard_normal(shape))

    a = fg.tensor(data, requires_grad=True)
    x = a * 1.5  # not a leaf: its history is MulBackward0
    before = x.grad_fn
    out = _run(fn, x, rand)
    assert out is x
    assert x.grad_fn is not None and x.requires_grad
    assert x.grad_fn != before and _reaches(x.grad_fn, before)  # a new node on top of x's history
    (x * w).sum().backward()

    a_ref = fg.tensor(data, requires_grad=True)
    y = _run(ref, a_ref * 1.5, rand)
    (y * w).sum().backward()
    np.testing.assert_allclose(x.detach().numpy(), y.detach().numpy(), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(a.grad.numpy(), a_ref.grad.numpy(), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("shape,fn,ref,rand", CASES)
def test_inplace_on_a_leaf_that_requires_grad_is_pytorchs_error(shape, fn, ref, rand):
    leaf = fg.tensor(_data(shape), requires_grad=True)
    with pytest.raises(RuntimeError, match="a leaf Variable that requires grad is being used in an in-place operation"):
        _run(fn, leaf, rand)
    with fg.no_grad():  # allowed where nothing is recorded, as PyTorch's
        assert _run(fn, leaf, rand) is leaf
    assert leaf.grad_fn is None and leaf.is_leaf


@pytest.mark.parametrize("shape,fn,ref,rand", CASES)
def test_backward_needing_the_overwritten_value_is_pytorchs_error(shape, fn, ref, rand):
    a = fg.tensor(_data(shape), requires_grad=True)
    b = a.exp()  # exp saves its output b for backward
    _run(fn, b, rand)
    with pytest.raises(RuntimeError, match="one of the variables needed for gradient computation has been modified by an inplace operation"):
        b.sum().backward()


def test_relu_inplace_node_is_named_as_pytorchs():
    x = fg.tensor([-1.0, 2.0], requires_grad=True) * 1
    F.relu(x, inplace=True)
    assert x.grad_fn.name() == "ReluBackward0"


@pytest.mark.parametrize("fn", [
    lambda x: F.dropout(x, 0.5, training=False, inplace=True),
    lambda x: F.dropout(x, 0.0, training=True, inplace=True),
    lambda x: F.alpha_dropout(x, 0.5, training=False, inplace=True),
    lambda x: nn.Dropout(0.5, inplace=True).eval()(x),
])
def test_inactive_inplace_dropout_returns_its_input_untouched(fn):
    """Eval mode or p=0: the input object, no write, no version bump (a saved input stays valid)."""
    a = fg.tensor([0.5, -1.0, 2.0], requires_grad=True)
    b = a.exp()
    assert fn(b) is b
    b.sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), np.exp([0.5, -1.0, 2.0]), rtol=1e-6)


def test_inplace_dropout_gradient_is_the_mask_times_the_scale():
    """The oracle for the random cases: the gradient is 0 where dropped, 1/(1-p) elsewhere."""
    fg.manual_seed(3)
    a = fg.ones(1000, dtype=fg.float64, requires_grad=True)
    x = a * 1
    F.dropout(x, 0.25, training=True, inplace=True)
    x.sum().backward()
    kept = x.detach().numpy() != 0
    np.testing.assert_allclose(a.grad.numpy(), np.where(kept, 1 / 0.75, 0.0), rtol=1e-15)
    assert 0.65 < kept.mean() < 0.85


# ---- PyTorch, when installed: the deterministic cases against torch's in-place layers ------------

TORCH_CASES = [
    ("relu", lambda F_, x: F_.relu(x, inplace=True)),
    ("leaky_relu", lambda F_, x: F_.leaky_relu(x, 0.2, inplace=True)),
    ("relu6", lambda F_, x: F_.relu6(x, inplace=True)),
    ("hardtanh", lambda F_, x: F_.hardtanh(x, -0.5, 0.5, inplace=True)),
    ("elu", lambda F_, x: F_.elu(x, 1.5, inplace=True)),
    ("selu", lambda F_, x: F_.selu(x, inplace=True)),
    # alpha exact in float32: PyTorch's celu backward uses 1.0 / alpha.toFloat(), so with alpha
    # 0.7 its float64 gradient is off by 2e-9 (out of place) and 2e-8 (in place) relative.
    ("celu", lambda F_, x: F_.celu(x, 0.5, inplace=True)),
    ("silu", lambda F_, x: F_.silu(x, inplace=True)),
    ("mish", lambda F_, x: F_.mish(x, inplace=True)),
    ("hardsigmoid", lambda F_, x: F_.hardsigmoid(x, inplace=True)),
    ("hardswish", lambda F_, x: F_.hardswish(x, inplace=True)),
    ("threshold", lambda F_, x: F_.threshold(x, 0.1, -2.0, inplace=True)),
    ("rrelu(eval)", lambda F_, x: F_.rrelu(x, 0.1, 0.3, training=False, inplace=True)),
]


@pytest.mark.parametrize("fn", [c[1] for c in TORCH_CASES], ids=[c[0] for c in TORCH_CASES])
def test_inplace_matches_pytorch(fn):
    torch = pytest.importorskip("torch")
    data = _data((2, 3, 4))
    w = np.random.RandomState(1).standard_normal((2, 3, 4))
    results = []
    for lib in (torch, fg):
        a = lib.tensor(data, requires_grad=True)
        x = a * 1.5
        assert fn(lib.nn.functional, x) is x
        (x * lib.tensor(w)).sum().backward()
        results.append((x.detach().numpy(), a.grad.numpy()))
    (tx, tg), (fx, fgr) = results
    np.testing.assert_allclose(fx, tx, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(fgr, tg, rtol=1e-12, atol=1e-15)
