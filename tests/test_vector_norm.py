"""The fused 2-norm (`norm()`, `norm(2, dim)`, `linalg.vector_norm`): values against numpy's
float64 over dims, layouts and sizes that take each of its paths (one row cut into parallel
pieces, rows shared between threads, one row per thread), gradients by float64 finite
differences, and the zero norm's gradient of 0."""

from __future__ import annotations

import ferrograd as fg
import numpy as np
import pytest
from ferrograd.autograd.gradcheck import gradcheck, gradgradcheck

CASES = [  # shape, dim (None: all), keepdim
    ((7,), None, False),
    ((3, 5), None, True),
    ((300_001,), None, False),  # one row, parallel pieces
    ((512, 2048), 1, False),
    ((512, 2048), 0, True),
    ((4, 5, 6), (0, 2), False),
    ((4, 5, 6), (-1, -2), True),
    ((2, 3, 4, 5), (1, 2), False),
    ((64, 70_000), (1,), False),  # rows longer than a thread's grain
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape,dim,keepdim", CASES)
def test_values_match_numpy(shape, dim, keepdim, dtype):
    x = np.random.default_rng(len(shape)).standard_normal(shape).astype(dtype)
    want = np.sqrt((x.astype(np.float64) ** 2).sum(axis=dim, keepdims=keepdim))
    got = fg.from_numpy(x).norm(2, dim, keepdim).numpy()
    assert got.dtype == dtype and got.shape == np.shape(want)
    np.testing.assert_allclose(got, want, rtol=2e-7 if dtype == np.float32 else 1e-14)
    via_linalg = fg.linalg.vector_norm(fg.from_numpy(x), 2, dim, keepdim).numpy()
    np.testing.assert_array_equal(via_linalg, got)


def test_non_contiguous_input_and_fro_default():
    x = np.random.default_rng(1).standard_normal((40, 30))
    t = fg.from_numpy(x).t()[::2]
    np.testing.assert_allclose(t.norm(dim=1).numpy(), np.linalg.norm(x.T[::2], axis=1), rtol=1e-14)
    np.testing.assert_allclose(t.norm().item(), np.linalg.norm(x.T[::2]), rtol=1e-14)


def test_float32_sum_of_many_squares_does_not_stall():
    # 2^24 + 1 ones: one float32 running sum would stop at 2^24; the lanes and the float64
    # sum of their blocks do not.
    x = fg.ones(2**24 + 1)
    assert x.norm().item() == pytest.approx(np.sqrt(2**24 + 1), rel=1e-7)


def test_half_types_and_empty_inputs():
    x = np.random.default_rng(2).standard_normal((8, 16)).astype(np.float32)
    for dt in (fg.float16, fg.bfloat16):
        got = fg.from_numpy(x).to(dt).norm(dim=1)
        assert got.dtype == dt
        np.testing.assert_allclose(got.float().numpy(), np.linalg.norm(x, axis=1), rtol=1e-2)
    e = fg.zeros(0, 3, requires_grad=True)
    n = e.norm(dim=0)
    assert n.tolist() == [0.0, 0.0, 0.0]
    n.sum().backward()
    assert e.grad.shape == (0, 3)
    with pytest.raises(RuntimeError, match="floating point or complex tensor as input. Got Long"):
        fg.tensor([1, 2]).norm()


@pytest.mark.parametrize("dim,keepdim", [(None, False), (1, False), (0, True), ((0, 2), False)])
def test_gradients_by_finite_differences(dim, keepdim):
    x = fg.tensor(np.random.default_rng(3).standard_normal((3, 4, 5)), requires_grad=True)
    assert gradcheck(lambda t: t.norm(2, dim, keepdim), [x])
    assert gradgradcheck(lambda t: t.norm(2, dim, keepdim), [x], eps=1e-6, atol=1e-5, rtol=1e-3)


def test_zero_norm_has_zero_gradient():
    x = fg.tensor([[0.0, 0.0], [3.0, 4.0]], dtype=fg.float64, requires_grad=True)
    x.norm(dim=1).sum().backward()
    # PyTorch's formula, x * (g / norm): 3 * (1 / 5) rounds to 0.6000000000000001 in both.
    assert x.grad.tolist() == [[0.0, 0.0], [3 * (1 / 5), 4 * (1 / 5)]]
    # Differentiated twice: still finite at the zero row.
    y = fg.tensor([[0.0, 0.0], [3.0, 4.0]], dtype=fg.float64, requires_grad=True)
    (g,) = fg.autograd.grad(y.norm(dim=1).sum(), [y], create_graph=True)
    (gg,) = fg.autograd.grad(g.square().sum(), [y])
    assert np.isfinite(gg.numpy()).all()
    assert y.norm(dim=1).grad_fn.name() == "LinalgVectorNormBackward0"


def test_zero_dim_nan_and_inf():
    assert fg.tensor(-3.0).norm().item() == 3.0
    assert np.isnan(fg.tensor([1.0, float("nan")]).norm().item())
    assert fg.tensor([1.0, float("inf"), -float("inf")]).norm().item() == float("inf")
    # float32 squares past the largest float32 overflow to inf, as PyTorch's float sum does.
    assert fg.tensor([3e38, 3e38]).norm().item() == float("inf")


def test_float32_gradient_matches_numpy_on_a_non_contiguous_input_with_keepdim():
    x = np.random.default_rng(4).standard_normal((6, 9)).astype(np.float32)
    t = fg.from_numpy(x.copy()).requires_grad_()
    view = t.t()[1::2]  # (4, 6), strided both ways
    g = np.random.default_rng(5).standard_normal((4, 1)).astype(np.float32)
    view.norm(dim=1, keepdim=True).backward(fg.from_numpy(g))
    v = x.T[1::2].astype(np.float64)
    want = np.zeros((9, 6))
    want[1::2] = v * (g / np.linalg.norm(v, axis=1, keepdims=True))
    np.testing.assert_allclose(t.grad.numpy(), want.T, rtol=1e-6, atol=1e-7)
