"""The activation family against PyTorch (see cases_nn_activation.py), and the random ones held to
the facts that do not depend on the noise, checked on both libraries (PyTorch keeps the checks
honest):

* RReLU / F.rrelu in training: x where x > 0 (and at NaN), x * r with lower <= r <= upper where
  x <= 0, and the gradient of sum(w * out) is w * r, the same r as the forward;
* gumbel_softmax: rows on the simplex; with hard=True one-hot rows at the soft sample's argmax
  and the soft sample's gradient (straight-through).
"""

from __future__ import annotations

import pytest

pytest.importorskip("torch")

import ferrograd as fg
import numpy as np
import torch
from cases_nn_activation import ALL
from harness import check
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from known_divergences import covered

LIBS = (("torch", torch), ("fg", fg))


@pytest.mark.parametrize("case", ALL, ids=[c.id for c in ALL])
@given(data=st.data())
def test_nn_activation_matches_torch(case, data):
    args = data.draw(case.args, label="args")
    covered(case, args, check)


@pytest.mark.parametrize("lib", ["torch", "fg"])
@given(data=st.data())
def test_rrelu_training_slopes_in_range_and_used_by_the_gradient(lib, data):
    L = dict(LIBS)[lib]
    dtype = data.draw(st.sampled_from(["float32", "float64"]))
    x = data.draw(hnp.arrays(dtype, hnp.array_shapes(min_dims=0, max_dims=3, max_side=5),
                             elements=st.floats(-4, 4, width=32) | st.sampled_from([0.0, -0.0, np.nan])))
    lower = data.draw(st.sampled_from([0.0, 0.125, 0.5]))
    upper = lower + data.draw(st.sampled_from([0.0, 0.2, 1 / 3]))
    module = data.draw(st.booleans())
    xt = L.tensor(x.copy(), requires_grad=True)
    if module:
        out = L.nn.RReLU(lower, upper).train()(xt)
    else:
        out = L.nn.functional.rrelu(xt, lower, upper, training=True)
    y = out.detach().numpy().astype(np.float64)
    xs = x.astype(np.float64)
    w = np.random.default_rng(0).uniform(0.5, 1.5, x.shape)
    (out * L.tensor(w.astype(dtype))).sum().backward()
    g = xt.grad.numpy().astype(np.float64) / w
    tol = 1e-6 if dtype == "float32" else 1e-12
    pos = ~(xs <= 0)  # x > 0 and NaN: identity, gradient 1
    np.testing.assert_array_equal(np.isnan(y), np.isnan(xs))
    np.testing.assert_allclose(y[pos & ~np.isnan(xs)], xs[pos & ~np.isnan(xs)])
    np.testing.assert_allclose(g[pos], 1.0, rtol=tol)
    # The slope read back as y / x only where y is a normal number: a subnormal product
    # (-8.7e-44 * 0.125) rounds to a few bits, and the ratio with it.
    neg = (xs < 0) & (np.abs(y) >= np.finfo(dtype).tiny)
    r = y[neg] / xs[neg]
    assert np.all(r >= lower - tol) and np.all(r <= upper + tol), (lower, upper, r)
    np.testing.assert_allclose(g[neg], r, rtol=1e-5 if dtype == "float32" else 1e-12)
    tiny = (xs < 0) & ~neg
    assert np.all((g[tiny] >= lower - tol) & (g[tiny] <= upper + tol)), (lower, upper, g[tiny])
    zero = xs == 0
    assert np.all(y[zero] == 0) and np.all((g[zero] >= lower - tol) & (g[zero] <= upper + tol))


@pytest.mark.parametrize("lib", ["torch", "fg"])
@given(data=st.data())
def test_gumbel_softmax_samples_on_the_simplex_hard_is_straight_through(lib, data):
    L = dict(LIBS)[lib]
    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4))
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    logits = data.draw(hnp.arrays("float64", shape, elements=st.floats(-3, 3)))
    tau = data.draw(st.sampled_from([0.5, 1.0, 3.0]))
    seed = data.draw(st.integers(0, 2**31 - 1))
    w = np.random.default_rng(seed).uniform(-1, 1, shape)

    def sample(hard):
        L.manual_seed(seed)
        x = L.tensor(logits, requires_grad=True)
        out = L.nn.functional.gumbel_softmax(x, tau=tau, hard=hard, dim=dim)
        (out * L.tensor(w)).sum().backward()
        return out.detach().numpy(), x.grad.numpy()

    soft, g_soft = sample(False)
    hard, g_hard = sample(True)
    np.testing.assert_allclose(soft.sum(dim), 1.0, rtol=1e-12)
    assert np.all(soft >= 0)
    assert set(np.unique(hard)) <= {0.0, 1.0}
    np.testing.assert_array_equal(hard.sum(dim), 1.0)
    np.testing.assert_array_equal(np.argmax(hard, dim), np.argmax(soft, dim))
    np.testing.assert_allclose(g_hard, g_soft, rtol=1e-10, atol=1e-12)
