"""The gradient of a slice, select or narrow written in one pass (rust/ops/slice_grad.rs):
against numpy for steps, starts and every dim (rows of 1, of fewer than 16 and of more
values), dtypes, incoming gradients of any layout (the expanded one value of a sum among
them), and under create_graph."""

from __future__ import annotations

import ferrograd as fg
import numpy as np
import pytest

SHAPES = [(5, 7, 3), (4, 9, 20), (300, 130), (2, 3, 40000)]


def _slices(n: int):
    return [slice(None), slice(1, None, 2), slice(0, n, 3), slice(n - 1, None), slice(2, max(3, n - 1)), slice(1, None, 5)]


@pytest.mark.parametrize("shape", SHAPES)
def test_slice_gradients_land_in_zeros(shape):
    rng = np.random.default_rng(sum(shape))
    a = rng.standard_normal(shape)
    for dim in range(len(shape)):
        for s in _slices(shape[dim]):
            idx = (slice(None),) * dim + (s,)
            x = fg.tensor(a, requires_grad=True)
            part = x[idx]
            g = rng.standard_normal(part.shape)
            part.backward(fg.tensor(g))
            want = np.zeros_like(a)
            want[idx] = g
            np.testing.assert_array_equal(x.grad.numpy(), want, err_msg=f"dim {dim} {s}")


@pytest.mark.parametrize("shape", SHAPES)
def test_select_and_sum_gradients(shape):
    a = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    for dim in range(len(shape)):
        for i in (0, shape[dim] - 1):
            x = fg.tensor(a, requires_grad=True)
            x.select(dim, i).sum().backward()  # the incoming gradient: one value expanded
            want = np.zeros_like(a)
            want[(slice(None),) * dim + (i,)] = 1
            np.testing.assert_array_equal(x.grad.numpy(), want)
        x = fg.tensor(a, requires_grad=True)
        (x.narrow(dim, 1, shape[dim] - 1) * 3).sum().backward()
        want = np.zeros_like(a)
        want[(slice(None),) * dim + (slice(1, None),)] = 3
        np.testing.assert_array_equal(x.grad.numpy(), want)


@pytest.mark.parametrize("dtype", [fg.float16, fg.bfloat16, fg.float32, fg.float64])
def test_dtypes_and_strided_incoming_gradients(dtype):
    a = np.arange(60.0).reshape(6, 10)
    x = fg.tensor(a, dtype=dtype, requires_grad=True)
    gt = np.arange(30.0).reshape(5, 6).T + 1  # a transposed incoming gradient
    x[:, ::2].backward(fg.tensor(gt.T.copy(), dtype=dtype).t())
    want = np.zeros((6, 10))
    want[:, ::2] = gt
    assert x.grad.dtype == dtype
    np.testing.assert_array_equal(x.grad.to(fg.float64).numpy(), want)


def test_create_graph_records_the_embedding():
    a = np.random.default_rng(2).standard_normal((4, 6))
    x = fg.tensor(a, requires_grad=True)
    y = x[:, 1::2] ** 2
    (gx,) = fg.autograd.grad(y.sum(), x, create_graph=True)
    want = np.zeros_like(a)
    want[:, 1::2] = 2 * a[:, 1::2]
    np.testing.assert_allclose(gx.detach().numpy(), want, rtol=1e-15)
    (ggx,) = fg.autograd.grad(gx.sum(), x)
    want2 = np.zeros_like(a)
    want2[:, 1::2] = 2
    np.testing.assert_allclose(ggx.numpy(), want2)
    assert fg.autograd.gradgradcheck(lambda t: t[1:, ::3] * t[1:, ::3], (fg.tensor(a, requires_grad=True),))


@pytest.mark.parametrize("shape", SHAPES)
def test_slices_of_a_sum_and_empty_slices(shape):
    """The incoming gradient one value (a sum's) for every slice, and slices of no elements."""
    a = np.random.default_rng(2).standard_normal(shape).astype(np.float32)
    for dim in range(len(shape)):
        n = shape[dim]
        for s in _slices(n) + [slice(n, None), slice(2, 2), slice(0, n, 2), slice(n - 2, n, 2)]:
            idx = (slice(None),) * dim + (s,)
            x = fg.tensor(a, requires_grad=True)
            (x[idx].sum() * 2).backward()
            want = np.zeros_like(a)
            want[idx] = 2
            np.testing.assert_array_equal(x.grad.numpy(), want, err_msg=f"dim {dim} {s}")
