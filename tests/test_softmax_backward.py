"""softmax and log_softmax backward as one kernel (rust/ops/softmax.rs `gradient`): against
numpy's y (g - sum(g y)) and g - exp(y) sum(g) along every dim, with incoming gradients that
are not contiguous, in float32 and float64; the recorded rule under create_graph agrees."""

from __future__ import annotations

import ferrograd as fg
import numpy as np
import pytest


def _ref(x: np.ndarray, g: np.ndarray, dim: int, log: bool) -> np.ndarray:
    x = x.astype(np.float64)
    g = g.astype(np.float64)
    e = np.exp(x - x.max(dim, keepdims=True))
    y = e / e.sum(dim, keepdims=True)
    if log:
        return g - y * g.sum(dim, keepdims=True)
    return y * (g - (g * y).sum(dim, keepdims=True))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(3, 5, 7), (4, 300, 130), (2, 1, 1), (70000, 1, 2)])
@pytest.mark.parametrize("log", [False, True])
def test_matches_numpy_along_every_dim(dtype, shape, log):
    rng = np.random.default_rng(sum(shape))
    a = (rng.standard_normal(shape) * 3).astype(dtype)
    gn = rng.standard_normal(shape).astype(dtype)
    fn = fg.log_softmax if log else fg.softmax
    tol = 2e-5 if dtype == np.float32 else 1e-12
    for dim in range(len(shape)):
        x = fg.tensor(a, requires_grad=True)
        fn(x, dim).backward(fg.tensor(gn))
        np.testing.assert_allclose(x.grad.numpy(), _ref(a, gn, dim, log), rtol=tol, atol=tol, err_msg=f"dim {dim}")


@pytest.mark.parametrize("log", [False, True])
def test_incoming_gradients_of_any_layout(log):
    rng = np.random.default_rng(3)
    a = rng.standard_normal((6, 40)).astype(np.float32)
    fn = fg.log_softmax if log else fg.softmax
    gt = rng.standard_normal((40, 6)).astype(np.float32)
    for g in (fg.tensor(gt).t(), fg.tensor(gt[:1]).t().expand(6, 40), fg.full((6, 40), 2.5)[:, :]):
        x = fg.tensor(a, requires_grad=True)
        fn(x, 1).backward(g)
        np.testing.assert_allclose(x.grad.numpy(), _ref(a, g.numpy(), 1, log), rtol=2e-5, atol=2e-6)
    # the gradient of a sum: an expanded single value
    x = fg.tensor(a, requires_grad=True)
    fn(x, 1).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), _ref(a, np.ones_like(a), 1, log), rtol=2e-5, atol=2e-6)


@pytest.mark.parametrize("log", [False, True])
def test_create_graph_takes_the_recorded_rule(log):
    rng = np.random.default_rng(4)
    a = rng.standard_normal((3, 8))
    gn = rng.standard_normal((3, 8))
    fn = fg.log_softmax if log else fg.softmax
    x = fg.tensor(a, requires_grad=True)
    (gx,) = fg.autograd.grad(fn(x, 1), x, fg.tensor(gn), create_graph=True)
    np.testing.assert_allclose(gx.detach().numpy(), _ref(a, gn, 1, log), rtol=1e-12, atol=1e-12)
    assert gx.requires_grad
    assert fg.autograd.gradcheck(lambda t: fn(t, 0), (fg.tensor(a, requires_grad=True),))
    assert fg.autograd.gradgradcheck(lambda t: fn(t, 1), (fg.tensor(a, requires_grad=True),))


def test_non_finite_rows_spread_nan_as_the_composed_rule():
    """A row holding inf is NaN in the forward; its gradient is NaN too, other rows exact."""
    a = np.array([[0.0, 1.0, np.inf], [0.5, -1.0, 2.0]], np.float32)
    for fn in (fg.softmax, fg.log_softmax):
        x = fg.tensor(a, requires_grad=True)
        fn(x, 1).backward(fg.ones(2, 3))
        got = x.grad.numpy()
        assert np.isnan(got[0]).all()
        np.testing.assert_allclose(got[1], _ref(a[1:], np.ones((1, 3), np.float32), 1, fn is fg.log_softmax)[0], rtol=1e-5, atol=1e-6)
