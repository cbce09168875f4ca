"""prod's gradient: g prod / x when the input has no zero (PyTorch's rule), the exclusive
products otherwise; both against numpy's products of the other elements, and twice."""

import ferrograd as fg
import numpy as np
import pytest
from ferrograd.autograd import gradcheck, gradgradcheck

rng = np.random.default_rng(6)


def others(a, axis):
    """For each element, the product of the others along `axis`."""
    out = np.empty_like(a)
    for i in range(a.shape[axis]):
        rest = np.delete(a, i, axis=axis)
        np.put_along_axis(out, np.full(a.shape[:axis] + (1,) + a.shape[axis + 1:], i), np.prod(rest, axis=axis, keepdims=True), axis)
    return out


@pytest.mark.parametrize("zeros", [0, 1, 2])
@pytest.mark.parametrize("dim", [0, 1, None])
def test_gradient_is_the_product_of_the_others(zeros, dim):
    a = rng.uniform(0.5, 1.5, (6, 7)) * rng.choice([-1, 1], (6, 7))
    a[1, :zeros] = 0.0  # none, one or two zeros in a row (and in their columns)
    x = fg.tensor(a, requires_grad=True)
    x.prod(dim).sum().backward() if dim is not None else x.prod().backward()
    want = others(a, dim) if dim is not None else others(a.reshape(1, -1), 1).reshape(a.shape)
    np.testing.assert_allclose(x.grad.numpy(), want, rtol=1e-12, atol=1e-15)


def test_twice_differentiable_without_zeros():
    x = fg.tensor(rng.uniform(0.5, 1.5, (3, 4)), requires_grad=True)
    assert gradcheck(lambda t: t.prod(1), (x,))
    assert gradgradcheck(lambda t: t.prod(1), (x,))
