"""cumsum, cumprod and prod along every dim of several layouts, against numpy.

Running sums and products of float32 accumulate in float64, as PyTorch's CPU kernels: the
reference is numpy's float64 scan rounded to float32 once per element.
"""

from __future__ import annotations

import ferrograd as fg
import numpy as np
import pytest
from ferrograd.autograd import gradcheck, gradgradcheck

SHAPES = [(7,), (5, 33), (33, 5), (3, 4, 70), (2, 0, 3), (4, 1)]


def _cases():
    for shape in SHAPES:
        for dim in range(-len(shape), len(shape)):
            yield shape, dim


@pytest.mark.parametrize("shape,dim", list(_cases()))
@pytest.mark.parametrize("op", ["cumsum", "cumprod"])
def test_scans_accumulate_in_float64(shape, dim, op):
    rng = np.random.default_rng(len(shape) * 10 + dim)
    x = (rng.random(shape) + 0.5).astype(np.float32)
    want = getattr(np, op)(x.astype(np.float64), axis=dim).astype(np.float32)
    got = getattr(fg, op)(fg.tensor(x), dim).numpy()
    np.testing.assert_array_equal(got, want)
    # A transposed (non-contiguous) view gives the same lines.
    if x.ndim >= 2:
        t = fg.tensor(np.ascontiguousarray(np.swapaxes(x, 0, 1))).transpose(0, 1)
        np.testing.assert_array_equal(getattr(fg, op)(t, dim).numpy(), want)


def test_float32_running_sum_keeps_small_terms():
    # A float32 accumulator stays at 1e8 and drops every 1; PyTorch's (float64) does not.
    x = np.ones(10, np.float32)
    x[0] = 1e8
    got = fg.cumsum(fg.tensor(x), 0).numpy()
    np.testing.assert_array_equal(got, np.cumsum(x.astype(np.float64)).astype(np.float32))
    assert got[-1] == np.float32(1e8 + 9)


def test_int_and_bool_scans_give_int64():
    x = np.arange(-5, 7, dtype=np.int32).reshape(3, 4)
    got = fg.cumsum(fg.tensor(x), 1)
    assert got.dtype == fg.int64
    np.testing.assert_array_equal(got.numpy(), np.cumsum(x, 1))
    np.testing.assert_array_equal(fg.cumprod(fg.tensor(x), 0).numpy(), np.cumprod(x.astype(np.int64), 0))
    assert fg.tensor([True, False, True]).cumsum(0).tolist() == [1, 1, 2]
    assert fg.tensor(x).prod(1).dtype == fg.int64


@pytest.mark.parametrize("shape,dim", list(_cases()))
@pytest.mark.parametrize("keepdim", [False, True])
def test_prod_matches_numpy(shape, dim, keepdim):
    x = (np.random.default_rng(3).random(shape) + 0.5).astype(np.float64)
    got = fg.tensor(x).prod(dim, keepdim=keepdim).numpy()
    want = np.prod(x, axis=dim, keepdims=keepdim)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-13)


def test_prod_of_everything_and_of_zero_dim():
    x = np.linspace(0.5, 1.5, 300)
    np.testing.assert_allclose(fg.tensor(x).prod().item(), np.prod(x), rtol=1e-13)
    assert fg.tensor(2.5).prod(0).item() == 2.5
    assert fg.tensor(2.5).prod(0, keepdim=True).shape == ()
    assert fg.ones(2, 0).prod(1).tolist() == [1.0, 1.0]


@pytest.mark.parametrize("zeros", [0, 1, 2])
def test_prod_and_cumprod_gradients_with_zeros(zeros):
    x = np.random.default_rng(zeros).random((3, 6)) + 0.5
    x[:, [1, 4][:zeros]] = 0.0
    t = fg.tensor(x, requires_grad=True)
    assert gradcheck(lambda a: a.prod(1), (t,))
    assert gradcheck(lambda a: a.prod(0, keepdim=True), (t,))
    assert gradcheck(lambda a: a.prod(), (t,))
    assert gradcheck(lambda a: a.cumprod(1), (t,))
    assert gradcheck(lambda a: a.cumsum(0), (t,))
    assert gradgradcheck(lambda a: a.prod(1), (t,))
    assert t.prod(1).grad_fn.name() == "ProdBackward0"


def test_prod_gradient_is_product_of_the_others():
    x = np.array([[2.0, 3.0, 0.0, 5.0], [1.5, -2.0, 4.0, 0.5]], np.float32)
    t = fg.tensor(x, requires_grad=True)
    t.prod(1).sum().backward()
    want = np.array([[0.0, 0.0, 30.0, 0.0], [-4.0, 3.0, -1.5, -12.0]], np.float32)
    np.testing.assert_array_equal(t.grad.numpy(), want)


@pytest.mark.parametrize("at", [None, 0, 15, 16, 17, 40, 99])
def test_cumprod_gradient_of_long_lines_with_a_zero(at):
    """Lines of 100 (the first zero is searched 16 at a time): against the O(n^2) float64 sum
    d_i = sum_{j >= i} g_j prod_{k <= j, k != i} x_k, with the zero before, on and after block
    edges, and two zeros."""
    rng = np.random.default_rng(at or 1)
    x = rng.uniform(0.8, 1.25, (3, 100))
    if at is not None:
        x[1, at] = 0.0
        x[2, [at, min(at + 3, 99)]] = 0.0
    g = rng.standard_normal(x.shape)
    t = fg.tensor(x, requires_grad=True)
    t.cumprod(1).backward(fg.tensor(g))
    want = np.zeros_like(x)
    for r in range(3):
        for i in range(100):
            p = np.cumprod(np.where(np.arange(100) == i, 1.0, x[r]))
            want[r, i] = (g[r, i:] * p[i:]).sum()
    np.testing.assert_allclose(t.grad.numpy(), want, rtol=1e-10, atol=1e-12)
