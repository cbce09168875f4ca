"""Euclidean cdist as one op (rust/ops/cdist.rs): distances and both gradients against float64
numpy sums of differences, at sizes that take the register blocks, their edges and the parallel
path; batch dims broadcast; near rows kept apart where PyTorch's matrix-product form cancels;
gradcheck and gradgradcheck (the recorded rule)."""

import ferrograd as fg
import numpy as np
import pytest
from ferrograd.autograd import gradcheck, gradgradcheck

rng = np.random.default_rng(5)


def reference(a, b, g):
    """Distances and the gradients of sum(g * d) in float64, from the differences."""
    diff = a[..., :, None, :] - b[..., None, :, :]
    d = np.sqrt((diff ** 2).sum(-1))
    w = np.divide(g, d, out=np.zeros_like(d), where=d > 0)
    return d, (w[..., None] * diff).sum(-2), -(w[..., None] * diff).sum(-3)


@pytest.mark.parametrize("shapes", [((4, 3), (16, 3)), ((7, 5), (37, 5)), ((130, 33), (70, 33)),
                                    ((2, 9, 64), (2, 50, 64)), ((1, 1), (1, 1)), ((3, 0), (4, 0)),
                                    ((0, 3), (5, 3)), ((512, 64), (512, 64))])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_distances_and_gradients_match_numpy(shapes, dtype):
    a, b = (rng.standard_normal(s).astype(dtype) for s in shapes)
    x1, x2 = fg.tensor(a, requires_grad=True), fg.tensor(b, requires_grad=True)
    out = fg.cdist(x1, x2)
    assert out.grad_fn.name() == "CdistBackward0"
    assert out.dtype == x1.dtype
    d, g1, g2 = reference(a.astype(np.float64), b.astype(np.float64), g := rng.standard_normal(out.shape))
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(out.detach().numpy(), d, rtol=tol, atol=tol)
    out.backward(fg.tensor(g.astype(dtype)))
    np.testing.assert_allclose(x1.grad.numpy(), g1, rtol=50 * tol, atol=50 * tol)
    np.testing.assert_allclose(x2.grad.numpy(), g2, rtol=50 * tol, atol=50 * tol)


def test_batch_dims_broadcast():
    a, b = rng.standard_normal((3, 1, 6, 4)), rng.standard_normal((5, 7, 4))
    x1, x2 = fg.tensor(a, requires_grad=True), fg.tensor(b, requires_grad=True)
    out = fg.cdist(x1, x2)
    assert tuple(out.shape) == (3, 5, 6, 7)
    g = rng.standard_normal(out.shape)
    d, g1, g2 = reference(np.broadcast_to(a, (3, 5, 6, 4)), np.broadcast_to(b, (3, 5, 7, 4)), g)
    np.testing.assert_allclose(out.detach().numpy(), d, rtol=1e-12)
    out.backward(fg.tensor(g))
    np.testing.assert_allclose(x1.grad.numpy(), g1.sum(1, keepdims=True), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(x2.grad.numpy(), g2.sum(0), rtol=1e-10, atol=1e-12)


def test_near_rows_keep_their_distance_in_float32():
    """Rows 1e-4 apart at norm about 8: |a|^2 + |b|^2 - 2 a.b (PyTorch's form past 25 rows)
    cancels to 0 or to 3e-3 in float32; the differences give 1e-4 to float32's precision."""
    base = rng.standard_normal((40, 64)).astype(np.float32)
    near = base + np.float32(1e-4) * np.eye(40, 64, dtype=np.float32)
    out = fg.cdist(fg.tensor(base), fg.tensor(near)).numpy()
    want = reference(base.astype(np.float64), near.astype(np.float64), np.zeros((40, 40)))[0]
    np.testing.assert_allclose(np.diag(out), np.diag(want), rtol=1e-3)
    np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-6)


def test_zero_distance_has_zero_gradient():
    """cdist(x, x): the diagonal, at distance 0, adds nothing to the gradient (not NaN)."""
    a = rng.standard_normal((5, 3))
    x = fg.tensor(a, requires_grad=True)
    fg.cdist(x, x).sum().backward()
    _, g1, g2 = reference(a, a, np.ones((5, 5)))
    assert np.isfinite(x.grad.numpy()).all()
    np.testing.assert_allclose(x.grad.numpy(), g1 + g2, rtol=1e-10, atol=1e-12)


def test_gradcheck_and_gradgradcheck():
    a = fg.tensor(rng.standard_normal((2, 5, 3)), requires_grad=True)
    b = fg.tensor(rng.standard_normal((2, 4, 3)), requires_grad=True)
    assert gradcheck(lambda a, b: fg.cdist(a, b), (a, b))
    assert gradgradcheck(lambda a, b: fg.cdist(a, b), (a, b))


def test_no_grad_and_errors():
    with fg.no_grad():
        out = fg.cdist(fg.randn(3, 2, requires_grad=True), fg.randn(4, 2))
    assert out.grad_fn is None and not out.requires_grad
    with pytest.raises(RuntimeError, match="same number of columns"):
        fg.cdist(fg.randn(3, 2), fg.randn(4, 3))
