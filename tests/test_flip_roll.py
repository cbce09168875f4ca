"""flip and roll (rust/ops/reorder.rs) against numpy over the layouts their copy passes split
on: the last dim (a reversed row), inner blocks, rolls larger than the dim and negative,
non-contiguous inputs, 0-d, empty and integer tensors; gradients by float64 gradcheck."""

from __future__ import annotations

import ferrograd as fg
import numpy as np
import pytest

RNG = np.random.default_rng(7)


@pytest.mark.parametrize("shape, dims", [((5,), (0,)), ((3, 17), (1,)), ((3, 17), (0,)), ((2, 3, 4, 5), (1, 3)),
                                         ((2, 3, 4), (-1, 0)), ((4, 1, 6), (1,)), ((0, 3), (0, 1))])
def test_flip_matches_numpy(shape, dims):
    a = RNG.standard_normal(shape)
    np.testing.assert_array_equal(fg.tensor(a).flip(dims).numpy(), np.flip(a, dims))
    if a.ndim == 2:  # a transposed view of the same values
        np.testing.assert_array_equal(fg.tensor(np.ascontiguousarray(a.T)).t().flip(dims).numpy(), np.flip(a, dims))
    ai = (a * 10).astype(np.int64)
    np.testing.assert_array_equal(fg.tensor(ai).flip(dims).numpy(), np.flip(ai, dims))


@pytest.mark.parametrize("shape, shifts, dims", [((7,), 3, 0), ((7,), -9, 0), ((3, 17), 40, 1), ((3, 17), (1, -2), (0, 1)),
                                                 ((2, 3, 4, 5), (5, 7), (3, 1)), ((3, 4), 5, None), ((3, 4), 0, 1), ((0, 4), 2, 1)])
def test_roll_matches_numpy(shape, shifts, dims):
    a = RNG.standard_normal(shape)
    np.testing.assert_array_equal(fg.tensor(a).roll(shifts, dims).numpy(), np.roll(a, shifts, dims))
    if len(shape) == 2:
        t = np.ascontiguousarray(a.T)
        np.testing.assert_array_equal(fg.tensor(t).t().roll(shifts, dims).numpy(), np.roll(a, shifts, dims))
    b = RNG.random(shape) > 0.5
    np.testing.assert_array_equal(fg.tensor(b).roll(shifts, dims).numpy(), np.roll(b, shifts, dims))


def test_zero_dim_and_new_tensor():
    x = fg.tensor(3.5)
    assert x.flip(0).item() == 3.5 and x.roll(2, 0).item() == 3.5
    y = fg.tensor([1.0, 2.0])
    z = y.roll(2, 0)  # a full turn still returns a new tensor, as PyTorch's
    z.add_(1)
    np.testing.assert_array_equal(y.numpy(), [1.0, 2.0])


def test_gradients_and_names():
    x = fg.tensor(RNG.standard_normal((3, 5, 4)), requires_grad=True)
    assert fg.autograd.gradcheck(lambda t: t.flip((0, 2)), (x,))
    assert fg.autograd.gradcheck(lambda t: t.roll((2, -3), (1, 2)), (x,))
    assert fg.autograd.gradgradcheck(lambda t: (t.flip(1) * t).roll(1, 0), (x,))
    assert x.flip(0).grad_fn.name() == "FlipBackward0" and x.roll(1, 0).grad_fn.name() == "RollBackward0"
