"""Gradients that are one value expanded to every element (the gradient of a sum) take short
paths: accumulated into an existing .grad as that value, multiplied by a scalar as one result
filled, passed unchanged through flip and roll. Each against the materialised computation."""

import ferrograd as fg
import numpy as np
import pytest

rng = np.random.default_rng(4)


def test_accumulating_a_sum_gradient_into_grad():
    x = fg.tensor(rng.standard_normal((64, 300)).astype(np.float32), requires_grad=True)
    x.sum().backward()
    (x * 3).sum().backward()
    x.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.full((64, 300), 5.0, np.float32))


@pytest.mark.parametrize("dtype", [fg.float32, fg.float64, fg.int64, fg.int32])
def test_two_single_values_give_the_materialised_result(dtype):
    a = fg.tensor(7).to(dtype).expand(50, 700)
    b = fg.tensor(3).to(dtype)
    for op in (lambda p, q: p * q, lambda p, q: p - q, lambda p, q: p + q.expand(50, 700)):
        got, want = op(a, b), op(a.contiguous(), b)
        assert got.dtype == want.dtype and got.is_contiguous()
        np.testing.assert_array_equal(got.numpy(), want.numpy())


def test_transcendental_binary_ops_match_bit_for_bit():
    a, b = fg.tensor(np.float32(0.3)).expand(40, 900), fg.tensor(np.float32(-1.7)).expand(40, 900)
    for op in (fg.atan2, fg.hypot, fg.logaddexp, lambda p, q: p ** q.abs()):
        np.testing.assert_array_equal(op(a, b).numpy(), op(a.contiguous(), b.contiguous()).numpy())


@pytest.mark.parametrize("op", [lambda t: t.flip(1), lambda t: t.roll(5, 1), lambda t: t.roll((2, -3), (0, 1))])
def test_flip_and_roll_of_a_sum_gradient(op):
    x = fg.tensor(rng.standard_normal((8, 40)), requires_grad=True)
    w = rng.standard_normal((8, 40))
    op(x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.ones((8, 40)))
    x.grad = None
    (op(x) * fg.tensor(w)).sum().backward()  # a gradient that is not one value
    np.testing.assert_array_equal(op(fg.tensor(x.grad.numpy())).numpy(), w)
    # create_graph keeps the rule itself: the second derivative through w's product.
    x.grad = None
    v = fg.tensor(3.0, requires_grad=True)
    (g,) = fg.autograd.grad(op(x).sum() * v, x, create_graph=True)
    (g * fg.tensor(w)).sum().backward()
    np.testing.assert_allclose(v.grad.numpy(), w.sum())
