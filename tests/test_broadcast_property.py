"""Property test: broadcasting add/sub/mul/div agree with numpy, forward and backward.

For random broadcast-compatible shape pairs the forward must equal numpy's, and the gradients of
sum(a op b) must equal the elementwise derivative (computed with numpy on the broadcast shape)
summed back down to each input's shape.
"""

from __future__ import annotations

import operator

import ferrograd as fg
import numpy as np
import pytest
from helpers import assert_matches_numpy, grads_of_sum, unbroadcast
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import mutually_broadcastable_shapes

# op, forward, d(a op b)/da, d(a op b)/db (numpy, on broadcast arrays)
OPS = {
    "add": (operator.add, lambda a, b: np.ones_like(a), lambda a, b: np.ones_like(b)),
    "sub": (operator.sub, lambda a, b: np.ones_like(a), lambda a, b: -np.ones_like(b)),
    "mul": (operator.mul, lambda a, b: b, lambda a, b: a),
    "div": (operator.truediv, lambda a, b: 1.0 / b, lambda a, b: -a / (b * b)),
}

shape_pairs = mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=4, min_side=1, max_side=4)


def _arrays(shapes, seed, op_name):
    r = np.random.default_rng(seed)
    a = r.uniform(-2.0, 2.0, shapes[0])
    b = r.uniform(-2.0, 2.0, shapes[1])
    if op_name == "div":  # keep denominators away from 0
        b = np.where(b >= 0, b + 0.5, b - 0.5)
    return np.asarray(a, np.float64), np.asarray(b, np.float64)


@pytest.mark.parametrize("op_name", sorted(OPS))
@settings(max_examples=50, deadline=None)
@given(shapes=shape_pairs, seed=st.integers(0, 2**32 - 1))
def test_broadcast_binary_op_forward_matches_numpy(op_name, shapes, seed):
    op = OPS[op_name][0]
    a, b = _arrays(shapes.input_shapes, seed, op_name)
    assert_matches_numpy(op(fg.tensor(a), fg.tensor(b)), op(a, b), atol=1e-12, rtol=1e-12)
    a32, b32 = a.astype(np.float32), b.astype(np.float32)
    assert_matches_numpy(op(fg.tensor(a32), fg.tensor(b32)), op(a32, b32), atol=1e-6, rtol=1e-6)
    assert tuple(op(fg.tensor(a), fg.tensor(b)).shape) == shapes.result_shape


@pytest.mark.parametrize("op_name", sorted(OPS))
@settings(max_examples=50, deadline=None)
@given(shapes=shape_pairs, seed=st.integers(0, 2**32 - 1))
def test_broadcast_binary_op_gradient_is_reduced_to_each_input_shape(op_name, shapes, seed):
    op, da, db = OPS[op_name]
    a, b = _arrays(shapes.input_shapes, seed, op_name)
    ga, gb = grads_of_sum(op, [a, b])
    ab, bb = np.broadcast_arrays(a, b)
    ref_a = unbroadcast(da(ab, bb), a.shape)
    ref_b = unbroadcast(db(ab, bb), b.shape)
    assert ga is not None and gb is not None
    assert ga.shape == a.shape and gb.shape == b.shape
    np.testing.assert_allclose(ga, ref_a, atol=1e-10, rtol=1e-10)
    np.testing.assert_allclose(gb, ref_b, atol=1e-10, rtol=1e-10)


@pytest.mark.parametrize("op_name", sorted(OPS))
@settings(max_examples=30, deadline=None)
@given(shapes=shape_pairs, seed=st.integers(0, 2**32 - 1), scalar=st.floats(0.5, 3.0))
def test_python_scalar_on_either_side_matches_numpy(op_name, shapes, seed, scalar):
    op, da, db = OPS[op_name]
    a, b = _arrays(shapes.input_shapes, seed, op_name)
    assert_matches_numpy(op(fg.tensor(a), scalar), op(a, scalar), atol=1e-12, rtol=1e-12)
    assert_matches_numpy(op(scalar, fg.tensor(b)), op(scalar, b), atol=1e-12, rtol=1e-12)
    (ga,) = grads_of_sum(lambda t: op(t, scalar), [a])
    (gb,) = grads_of_sum(lambda t: op(scalar, t), [b])
    np.testing.assert_allclose(ga, da(a, np.full_like(a, scalar)), atol=1e-10, rtol=1e-10)
    np.testing.assert_allclose(gb, db(np.full_like(b, scalar), b), atol=1e-10, rtol=1e-10)
