"""dtype semantics as PyTorch's (issue 11, class 5), and gradients at NaN and at zero (class 6).

VALUES and GRADS hold PyTorch 2.15's answers, recorded by tests/golden/make_dtype_golden.py (it
reads the expressions from this file, runs them under torch and writes the answers back with
`--write`). Each VALUES expression is evaluated with `T = ferrograd`; a tensor result must have
PyTorch's dtype and values, an exception PyTorch's type (see `_raises_as_torch`) and message.
The numpy tests at the end check the integer kernels on random data, where numpy is exact.
"""

from __future__ import annotations

import math
import re

import ferrograd as fg
import numpy as np
import pytest

nan, inf = math.nan, math.inf


def ip(t, name, *args, **kwargs):
    """Runs an in-place method and gives back the tensor (`ip(t, "__iadd__", 1)` is `t += 1`)."""
    getattr(t, name)(*args, **kwargs)
    return t


# fmt: off
# BEGIN VALUES
VALUES = [
    # bitwise & | ^ ~ on integers, logical on bool, refused on floats; reflected and in-place forms
    ('T.tensor([5, 3]) & T.tensor([6, 1])', ('int64', [4, 1])),
    ('T.tensor([5, 3]) | T.tensor([6, 1])', ('int64', [7, 3])),
    ('T.tensor([5, 3]) ^ T.tensor([6, 1])', ('int64', [3, 2])),
    ('T.tensor([5, 3]) & 6', ('int64', [4, 2])),
    ('6 & T.tensor([5, 3])', ('int64', [4, 2])),
    ('6 | T.tensor([5, 3])', ('int64', [7, 7])),
    ('6 ^ T.tensor([5, 3])', ('int64', [3, 5])),
    ('T.tensor([-8, 7]) & -2', ('int64', [-8, 6])),
    ('T.tensor([5, 3]) & True', ('int64', [1, 1])),
    ('True & T.tensor([True, False])', ('bool', [True, False])),
    ('T.tensor([True, False]) & T.tensor([True, True])', ('bool', [True, False])),
    ('T.tensor([True, False]) | T.tensor([False, False])', ('bool', [True, False])),
    ('T.tensor([True, False]) ^ T.tensor([True, True])', ('bool', [False, True])),
    ('T.tensor([True, False]) & 3', ('int64', [1, 0])),
    ('T.tensor([5, 3]) & T.tensor([True, False])', ('int64', [1, 0])),
    ('T.tensor(5) & T.tensor([True, False])', ('int64', [1, 0])),
    ('T.tensor([1.0]) & T.tensor([1.0])', ("raises", 'NotImplementedError', '"bitwise_and_cpu" not implemented for \'Float\'')),
    ('T.tensor([1.0]) | 1', ("raises", 'NotImplementedError', '"bitwise_or_cpu" not implemented for \'Float\'')),
    ('T.tensor([5, 3]) & 1.0', ("raises", 'NotImplementedError', '"bitwise_and_cpu" not implemented for \'Float\'')),
    ('T.tensor([True, False]) & 1.0', ("raises", 'NotImplementedError', '"bitwise_and_cpu" not implemented for \'Float\'')),
    ('~T.tensor([5, -3, 0])', ('int64', [-6, 2, -1])),
    ('~T.tensor([True, False])', ('bool', [False, True])),
    ('~T.tensor([1.0])', ("raises", 'TypeError', '~ (operator.invert) is only implemented on integer and Boolean-type tensors')),
    ('T.bitwise_and(T.tensor([5, 3]), T.tensor([6, 1]))', ('int64', [4, 1])),
    ('T.bitwise_or(T.tensor([5, 3]), 2)', ('int64', [7, 3])),
    ('T.bitwise_xor(T.tensor([True, False]), T.tensor([True, True]))', ('bool', [False, True])),
    ('T.bitwise_and(T.tensor([5, 3]), True)', ('int64', [1, 1])),
    ('T.bitwise_and(5, T.tensor([5, 3]))', ('int64', [5, 1])),
    ('T.bitwise_not(T.tensor([5, 0]))', ('int64', [-6, -1])),
    ('T.bitwise_not(T.tensor([True, False]))', ('bool', [False, True])),
    ('T.bitwise_not(T.tensor([1.0]))', ("raises", 'NotImplementedError', '"bitwise_not_cpu" not implemented for \'Float\'')),
    ('T.bitwise_and(T.tensor([1.0]), T.tensor([1.0]))', ("raises", 'NotImplementedError', '"bitwise_and_cpu" not implemented for \'Float\'')),
    ('T.tensor([5, 3]).bitwise_and(T.tensor([6, 1]))', ('int64', [4, 1])),
    ('T.tensor([5, 3]).bitwise_or(8)', ('int64', [13, 11])),
    ('T.tensor([5, 3]).bitwise_xor(1)', ('int64', [4, 2])),
    ('T.tensor([5, 3]).bitwise_not()', ('int64', [-6, -4])),
    ("ip(T.tensor([5, 3]), '__iand__', T.tensor([6, 1]))", ('int64', [4, 1])),
    ("ip(T.tensor([5, 3]), '__ior__', 2)", ('int64', [7, 3])),
    ("ip(T.tensor([5, 3]), '__ixor__', 1)", ('int64', [4, 2])),
    ("ip(T.tensor([True, False]), '__ixor__', True)", ('bool', [False, True])),
    ("ip(T.tensor([True, False]), '__iand__', T.tensor([True, True]))", ('bool', [True, False])),
    ("ip(T.tensor([5, 3]), '__iand__', 1.0)", ("raises", 'RuntimeError', "result type Float can't be cast to the desired output type Long")),
    ("ip(T.tensor([True, False]), '__iand__', 3)", ("raises", 'RuntimeError', "result type Long can't be cast to the desired output type Bool")),
    # shifts (int64; bool promoted by an int)
    ('T.tensor([5, 3]) << 2', ('int64', [20, 12])),
    ('T.tensor([5, -3]) >> 1', ('int64', [2, -2])),
    ('T.tensor([5, 3]) << T.tensor([1, 2])', ('int64', [10, 12])),
    ('2 << T.tensor([1, 2])', ('int64', [4, 8])),
    ('64 >> T.tensor([1, 2])', ('int64', [32, 16])),
    ('T.tensor([1, -8]) << 63', ('int64', [-9223372036854775808, 0])),
    ('T.tensor([1, -8]) << 64', ('int64', [0, 0])),
    ('T.tensor([1, -8]) << 65', ('int64', [0, 0])),
    ('T.tensor([1, -8]) >> 63', ('int64', [0, -1])),
    ('T.tensor([1, -8]) >> 64', ('int64', [0, -1])),
    ('T.tensor([1, -8]) >> 100', ('int64', [0, -1])),
    ('T.tensor([1, -8]) << -1', ('int64', [0, 0])),
    ('T.tensor([1, -8]) >> -1', ('int64', [0, -1])),
    ('T.tensor([1, -8]) << T.tensor([-1, 2])', ('int64', [0, -32])),
    ('T.tensor([True, False]) >> 1', ('int64', [0, 0])),
    ('T.tensor([True, False]) << 1', ('int64', [2, 0])),
    ('T.tensor([True, False]) << T.tensor([True, True])', ("raises", 'NotImplementedError', '"lshift_cpu" not implemented for \'Bool\'')),
    ('T.tensor([True, False]) << True', ("raises", 'NotImplementedError', '"lshift_cpu" not implemented for \'Bool\'')),
    ('T.tensor([5]) << 1.0', ("raises", 'NotImplementedError', '"lshift_cpu" not implemented for \'Float\'')),
    ('T.tensor([5]) >> 1.5', ("raises", 'NotImplementedError', '"rshift_cpu" not implemented for \'Float\'')),
    ('1.5 << T.tensor([5])', ("raises", 'NotImplementedError', '"lshift_cpu" not implemented for \'Float\'')),
    ('T.tensor([1.5]) << 1', ("raises", 'NotImplementedError', '"lshift_cpu" not implemented for \'Float\'')),
    ('T.bitwise_left_shift(T.tensor([1, 2]), 2)', ('int64', [4, 8])),
    ('T.bitwise_right_shift(T.tensor([8, -8]), T.tensor([1, 2]))', ('int64', [4, -2])),
    ("ip(T.tensor([5, 3]), '__ilshift__', 1)", ('int64', [10, 6])),
    ("ip(T.tensor([5, 3]), '__irshift__', 1)", ('int64', [2, 1])),
    # logical ops
    ('T.logical_and(T.tensor([5, 0]), T.tensor([1.0, 1.0]))', ('bool', [True, False])),
    ('T.logical_or(T.tensor([0, 0]), T.tensor([0.0, 1.0]))', ('bool', [False, True])),
    ('T.logical_xor(T.tensor([5, 0]), T.tensor([3, 0]))', ('bool', [False, False])),
    ('T.logical_xor(T.tensor([nan, 0.0]), T.tensor([0.0, 0.0]))', ('bool', [True, False])),
    ('T.tensor([5, 0]).logical_xor(T.tensor([1, 1]))', ('bool', [False, True])),
    ('T.logical_not(T.tensor([5.0, 0.0, nan]))', ('bool', [False, True, False])),
    # alpha applied in the result's dtype (float64 here), not the float32 operand's
    ('T.tensor([0.0], dtype=T.float64).sub(T.tensor([inf]), alpha=2e-200)', ('float64', [-inf])),
    # each side tested for nonzero in the common dtype: 1e-300 is 0 as float32
    ('T.logical_and(T.tensor([1.0]), T.tensor(1e-300, dtype=T.float64))', ('bool', [False])),
    ('T.logical_or(T.tensor([0.0]), T.tensor(1e-300, dtype=T.float64))', ('bool', [False])),
    ('T.logical_and(T.tensor([1.0], dtype=T.float64), T.tensor(1e-300, dtype=T.float64))', ('bool', [True])),
    # an index into a dim of size 0 is out of bounds for assignment too, though nothing is written
    ('T.zeros(0, 0).__setitem__((slice(None), T.tensor(0)), 0.0)', ("raises", 'IndexError', 'index 0 is out of bounds for dimension 1 with size 0')),
    # ... but index tensors that broadcast to no position (an empty mask beside [0]) index nothing
    ('T.zeros(0, 0)[T.tensor([], dtype=T.bool), T.tensor([0])]', ('float32', [])),
    # a 0-d index is an integer (a select, a view): bounds-checked though another dim is empty
    # (a 1-d one is not), applied before advanced indices, and a copy into it casts
    ('T.zeros(3, 4, 5)[T.tensor(0), :, T.tensor([1, 2])]', ('float32', [[0.0, 0.0], [0.0, 0.0], [0.0, 0.0], [0.0, 0.0]])),
    ('(lambda x: (x[T.tensor(0)].fill_(1), x)[1])(T.zeros(2, 3))', ('float32', [[1.0, 1.0, 1.0], [0.0, 0.0, 0.0]])),
    ('ip(T.zeros(3), "__setitem__", T.tensor(1), T.tensor(7))', ('float32', [0.0, 7.0, 0.0])),
    ('ip(T.zeros(2, 3), "__setitem__", (T.tensor(0), T.tensor([True, False, True])), T.tensor(5))', ('float32', [[5.0, 0.0, 5.0], [0.0, 0.0, 0.0]])),
    ('ip(T.zeros(1, 1).expand(1, 2), "__setitem__", T.tensor(0), 2.0)', ('float32', [[2.0, 2.0]])),
    ('T.zeros((1, 0), dtype=T.int64)[T.tensor(1)]', ("raises", 'IndexError', 'index 1 is out of bounds for dimension 0 with size 1')),
    ('T.zeros((1, 0), dtype=T.int64)[T.tensor([1])]', ('int64', [[]])),
    # a tensor value, even 0-d, is a copy: refused into a self-overlapping view (a number fills)
    ('T.tensor([[nan]]).expand(1, 2).__setitem__(0, T.tensor(0.0))', ("raises", 'RuntimeError', 'unsupported operation: more than one element of the written-to tensor refers to a single memory location. Please clone() the tensor before performing the operation.')),
    # one bool mask beside basic indices fills with a one-element value of any dtype
    ('ip(T.zeros(3), "__setitem__", (None, T.tensor([True, False, True])), T.tensor(5))', ('float32', [5.0, 0.0, 5.0])),
    ('ip(T.zeros(2, 3), "__setitem__", (Ellipsis, T.tensor([True, False, True])), T.tensor([5]))', ('float32', [[5.0, 0.0, 5.0], [5.0, 0.0, 5.0]])),
    ('ip(T.zeros(2, 3), "__setitem__", (T.tensor([0]), T.tensor([True, False, True])), T.tensor(5))', ("raises", 'RuntimeError', 'Index put requires the source and destination dtypes match, got Float for the destination and Long for the source.')),
    # a 0-d bool (a Python bool too) is an advanced index on a new dim: [0] for True, [] for
    # False. It broadcasts with the other advanced indices, gives a copy, and as an index
    # tensor wants the destination's dtype; a bare Python bool in an assignment is a copy
    ('T.arange(6.0).reshape(2, 3)[T.tensor(True), [0, 1]]', ('float32', [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]])),
    ('T.arange(6.0).reshape(2, 3)[[0, 1], True]', ('float32', [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]])),
    ('T.arange(6.0).reshape(2, 3)[True, :, [0, 2]]', ('float32', [[0.0, 3.0], [2.0, 5.0]])),
    ('T.arange(6.0).reshape(2, 3)[T.tensor(True), T.tensor(True)]', ('float32', [[[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]])),
    ('T.tensor(list(T.arange(6.0).reshape(2, 3)[False, T.tensor(True)].shape))', ('int64', [0, 2, 3])),
    ('T.arange(6.0).reshape(2, 3)[True, ..., [0, 1]]', ('float32', [[0.0, 3.0], [1.0, 4.0]])),
    ('(lambda x: (x[T.tensor(True)].fill_(1), x)[1])(T.zeros(2))', ('float32', [0.0, 0.0])),
    ('ip(T.zeros(2, 3), "__setitem__", T.tensor(True), T.tensor(5))', ("raises", 'RuntimeError', 'Index put requires the source and destination dtypes match, got Float for the destination and Long for the source.')),
    ('ip(T.zeros(2, 3), "__setitem__", True, T.tensor(5))', ('float32', [[5.0, 5.0, 5.0], [5.0, 5.0, 5.0]])),
    ('ip(T.zeros(2, 3), "__setitem__", False, T.tensor(5))', ('float32', [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]])),
    ('ip(T.zeros(2, 3), "__setitem__", T.tensor(False), 5.0)', ('float32', [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]])),
    ('ip(T.zeros(2, 3), "__setitem__", (T.tensor(True), [0]), T.tensor([1.0, 2.0, 3.0]))', ('float32', [[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])),
    # a value's leading size-1 dims are dropped before it is broadcast (basic, mask and advanced)
    ('ip(T.zeros(2, 3), "__setitem__", 0, T.tensor([[[1.0, 2.0, 3.0]]]))', ('float32', [[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])),
    ('ip(T.zeros(3), "__setitem__", T.tensor([True, False, True]), T.tensor([[5.0]]))', ('float32', [5.0, 0.0, 5.0])),
    ('ip(T.zeros(3), "__setitem__", T.tensor([0, 2]), T.tensor([[[1.0, 2.0]]]))', ('float32', [1.0, 0.0, 2.0])),
    # take_along_dim without a dim gathers from the flattened input: no negative indices
    ('T.take_along_dim(T.tensor([[[0, 0]]]), T.tensor([[[-2]]]))', ("raises", 'RuntimeError', 'index -2 is out of bounds for dimension 0 with size 2')),
    # all / any, over everything or over dims
    ('T.tensor([1.0, 2.0]).all(dim=0)', ('bool', True)),
    ('T.tensor([[1.0, 0.0], [nan, 2.0]]).all(1)', ('bool', [False, True])),
    ('T.tensor([[1, 0], [3, 2]]).any(0, keepdim=True)', ('bool', [[True, True]])),
    ('T.tensor([[True, False], [False, False]]).any(dim=1)', ('bool', [True, False])),
    ('T.all(T.tensor([[1, 0], [3, 2]]), 0)', ('bool', [True, False])),
    ('T.any(T.tensor([0.0, nan]))', ('bool', True)),
    ('T.zeros(2, 0).all(1)', ('bool', [True, True])),
    ('T.zeros(2, 0).any(1)', ('bool', [False, False])),
    ('T.tensor([True, True]).all()', ('bool', True)),
    # bool arithmetic
    ('T.tensor([True, False]) + T.tensor([True, True])', ('bool', [True, True])),
    ('T.tensor([True, False]) + True', ('bool', [True, True])),
    ('True + T.tensor([True, False])', ('bool', [True, True])),
    ('T.tensor([True, False]) + 1', ('int64', [2, 1])),
    ('T.tensor([True, False]) + T.tensor([True, False], dtype=T.int64)', ('int64', [2, 0])),
    ('T.tensor([True, False]) * T.tensor([True, True])', ('bool', [True, False])),
    ('T.tensor([True, False]) * True', ('bool', [True, False])),
    ('T.tensor([True, False]) * 3', ('int64', [3, 0])),
    ('T.tensor([True, False]) * 2.5', ('float32', [2.5, 0.0])),
    ('T.tensor([True, False]) / T.tensor([True, True])', ('float32', [1.0, 0.0])),
    ('T.tensor([True, False]) / 2', ('float32', [0.5, 0.0])),
    ('T.tensor([4, 3]) / T.tensor([True, False])', ('float32', [4.0, inf])),
    ('T.tensor([True, False]) - T.tensor([True, True])', ("raises", 'NotImplementedError', 'Subtraction, the `-` operator, with two bool tensors is not supported. Use the `^` or `logical_xor()` operator instead.')),
    ('T.tensor([True, False]) - True', ("raises", 'NotImplementedError', 'Subtraction, the `-` operator, with two bool tensors is not supported. Use the `^` or `logical_xor()` operator instead.')),
    ('True - T.tensor([True, False])', ("raises", 'NotImplementedError', 'Subtraction, the `-` operator, with two bool tensors is not supported. Use the `^` or `logical_xor()` operator instead.')),
    ('T.tensor([True, False]) - 1', ("raises", 'NotImplementedError', 'Subtraction, the `-` operator, with a bool tensor is not supported. If you are trying to invert a mask, use the `~` or `logical_not()` operator instead.')),
    ('1 - T.tensor([True, False])', ("raises", 'NotImplementedError', 'Subtraction, the `-` operator, with a bool tensor is not supported. If you are trying to invert a mask, use the `~` or `logical_not()` operator instead.')),
    ('1.5 - T.tensor([True, False])', ("raises", 'NotImplementedError', 'Subtraction, the `-` operator, with a bool tensor is not supported. If you are trying to invert a mask, use the `~` or `logical_not()` operator instead.')),
    ('T.tensor([True, False]) - T.tensor([1, 1])', ("raises", 'NotImplementedError', 'Subtraction, the `-` operator, with a bool tensor is not supported. If you are trying to invert a mask, use the `~` or `logical_not()` operator instead.')),
    ('T.tensor([1, 1]) - T.tensor([True, False])', ("raises", 'NotImplementedError', 'Subtraction, the `-` operator, with a bool tensor is not supported. If you are trying to invert a mask, use the `~` or `logical_not()` operator instead.')),
    ('T.tensor([1.0]) - T.tensor([True])', ("raises", 'NotImplementedError', 'Subtraction, the `-` operator, with a bool tensor is not supported. If you are trying to invert a mask, use the `~` or `logical_not()` operator instead.')),
    ('T.tensor([1.0, 2.0]) - True', ("raises", 'NotImplementedError', 'Subtraction, the `-` operator, with a bool tensor is not supported. If you are trying to invert a mask, use the `~` or `logical_not()` operator instead.')),
    ('T.tensor([1, 2]) - True', ("raises", 'NotImplementedError', 'Subtraction, the `-` operator, with a bool tensor is not supported. If you are trying to invert a mask, use the `~` or `logical_not()` operator instead.')),
    ('T.tensor([True, False]).sub(1)', ("raises", 'NotImplementedError', 'Subtraction, the `-` operator, with a bool tensor is not supported. If you are trying to invert a mask, use the `~` or `logical_not()` operator instead.')),
    ('T.sub(T.tensor([True]), T.tensor([True]))', ("raises", 'NotImplementedError', 'Subtraction, the `-` operator, with two bool tensors is not supported. Use the `^` or `logical_xor()` operator instead.')),
    ('+T.tensor(False)', ("raises", 'NotImplementedError', 'The `+` operator, on a bool tensor is not supported.')),
    ('-T.tensor([True, False])', ("raises", 'NotImplementedError', 'Negation, the `-` operator, on a bool tensor is not supported. If you are trying to invert a mask, use the `~` or `logical_not()` operator instead.')),
    ('T.tensor([True, False]).neg()', ("raises", 'NotImplementedError', 'Negation, the `-` operator, on a bool tensor is not supported. If you are trying to invert a mask, use the `~` or `logical_not()` operator instead.')),
    ('T.tensor([True, False]).abs()', ("raises", 'NotImplementedError', '"abs_cpu" not implemented for \'Bool\'')),
    ('T.relu(T.tensor([True, False]))', ("raises", 'NotImplementedError', 'Boolean inputs not supported for relu')),
    ('T.relu(T.tensor([-1, 2]))', ('int64', [0, 2])),
    ('T.maximum(T.tensor([True, False]), T.tensor([False, False]))', ('bool', [True, False])),
    ('T.minimum(T.tensor([True, False]), T.tensor([True, True]))', ('bool', [True, False])),
    ('T.maximum(T.tensor([1, 5]), T.tensor([3.0, 2.0]))', ('float32', [3.0, 5.0])),
    ('T.maximum(T.tensor([1, 5]), T.tensor(2.5))', ('float32', [2.5, 5.0])),
    ('T.tensor([True, False]).add(T.tensor([True, True]), alpha=2)', ('bool', [True, True])),
    ('T.tensor([True, False]).add(T.tensor([False, False]), alpha=True)', ('bool', [True, False])),
    ('T.tensor([1, 2]).add(T.tensor([1, 1]), alpha=True)', ("raises", 'RuntimeError', 'Boolean alpha only supported for Boolean results.')),
    ('T.tensor([1, 2]).add(1, alpha=0.5)', ("raises", 'RuntimeError', 'For integral input tensors, argument alpha must not be a floating point number.')),
    ('T.tensor([1, 2]).sub(1, alpha=0.5)', ("raises", 'RuntimeError', 'For integral input tensors, argument alpha must not be a floating point number.')),
    ('T.tensor([1, 2]).add(1, alpha=3)', ('int64', [4, 5])),
    ('T.tensor([1, 2]).add(1.0, alpha=0.5)', ('float32', [1.5, 2.5])),
    ('T.tensor([1.0, 2.0]).add(1, alpha=0.5)', ('float32', [1.5, 2.5])),
    ('T.tensor([True, False]).sum()', ('int64', 1)),
    ('T.tensor([True, False]).sum(dtype=T.float32)', ('float32', 1.0)),
    ('T.tensor([1, 2]).sum()', ('int64', 3)),
    ('T.tensor([True, False]).exp()', ('float32', [2.7182817459106445, 1.0])),
    ('T.tensor([True, False]).sigmoid()', ('float32', [0.7310585975646973, 0.5])),
    # clamp: float bounds promote integer and bool tensors; NaN bounds give NaN
    ('T.tensor([1, 2, 3]).clamp(1.5, 2.5)', ('float32', [1.5, 2.0, 2.5])),
    ('T.tensor([1, 2, 3]).clamp(min=1.5)', ('float32', [1.5, 2.0, 3.0])),
    ('T.tensor([1, 2, 3]).clamp(max=2.5)', ('float32', [1.0, 2.0, 2.5])),
    ('T.tensor([1, 2, 3]).clamp(1, 2)', ('int64', [1, 2, 2])),
    ('T.tensor([1, 2, 3]).clamp(2, 1)', ('int64', [1, 1, 1])),
    ('T.clamp(T.tensor([1, 2, 3]), 1.5)', ('float32', [1.5, 2.0, 3.0])),
    ('T.tensor([1, 2, 3]).clip(0.5, 2.5)', ('float32', [1.0, 2.0, 2.5])),
    ('T.tensor([True, False]).clamp(0, 1)', ('int64', [1, 0])),
    ('T.tensor([True, False]).clamp(0.5)', ('float32', [1.0, 0.5])),
    ('T.tensor([True, False]).clamp(False, True)', ("raises", 'NotImplementedError', '"clamp_scalar_cpu" not implemented for \'Bool\'')),
    ('T.tensor([1.0, nan, 5.0]).clamp(0, 2)', ('float32', [1.0, nan, 2.0])),
    ('T.tensor([1.0, 5.0]).clamp(min=nan)', ('float32', [nan, nan])),
    ('T.tensor([1.0, 5.0]).clamp(max=nan)', ('float32', [nan, nan])),
    ('T.tensor([1.0, 3.0]).clamp(2, 1)', ('float32', [1.0, 1.0])),
    ('T.tensor([1.0, 3.0], dtype=T.float64).clamp(1, 2)', ('float64', [1.0, 2.0])),
    ("ip(T.tensor([1, 2]), 'clamp_', 0, 1)", ('int64', [1, 1])),
    ("ip(T.tensor([1, 2]), 'clamp_', 0.5, 1.5)", ("raises", 'RuntimeError', "result type Float can't be cast to the desired output type long int")),
    # integer powers
    ('T.tensor([1, 2]) ** -1', ("raises", 'RuntimeError', 'Integers to negative integer powers are not allowed.')),
    ('T.tensor(2) ** -1', ("raises", 'RuntimeError', 'Integers to negative integer powers are not allowed.')),
    ('T.tensor([1, 2]).pow(-2)', ("raises", 'RuntimeError', 'Integers to negative integer powers are not allowed.')),
    ('T.pow(T.tensor([1, 2]), -1)', ("raises", 'RuntimeError', 'Integers to negative integer powers are not allowed.')),
    ('T.tensor([True, False]) ** -1', ("raises", 'RuntimeError', 'Integers to negative integer powers are not allowed.')),
    ('T.tensor([1, 2]) ** -1.0', ('float32', [1.0, 0.5])),
    ('T.tensor([1, 2]) ** 0.5', ('float32', [1.0, 1.4142135381698608])),
    ('T.tensor([1, 2]) ** T.tensor([-1, 2])', ('int64', [1, 4])),
    ('T.tensor([2]) ** T.tensor(-1)', ('int64', [0])),
    ('T.tensor([-1, 2, 1, 0, -2]) ** T.tensor([-1, -1, -3, -1, -2])', ('int64', [-1, 0, 1, 0, 0])),
    ('T.tensor([-1, -1]) ** T.tensor([-2, -3])', ('int64', [1, -1])),
    ('T.tensor([2, 3]) ** 62', ('int64', [4611686018427387904, 5069619362125685561])),
    ('T.tensor([2, 3]) ** 64', ('int64', [0, 8733086111712066817])),
    ('T.tensor([3, -1, 1]) ** T.tensor([2**40, 2**40 + 1, 2**62])', ('int64', [-7860764868738023423, -1, 1])),
    ('T.tensor([0, 1]) ** 0', ('int64', [1, 1])),
    ('T.tensor([1, 2]) ** False', ('int64', [1, 1])),
    ('T.tensor([2, 3]) ** True', ('int64', [2, 3])),
    ('2 ** T.tensor([1, 2])', ('int64', [2, 4])),
    ('2 ** T.tensor([-1, 2])', ('int64', [0, 4])),
    ('(-2) ** T.tensor([-1, 3])', ('int64', [0, -8])),
    ('2.0 ** T.tensor([1, 2])', ('float32', [2.0, 4.0])),
    ('2 ** T.tensor([True, False])', ('int64', [2, 1])),
    ('T.pow(2, T.tensor([2, 3]))', ('int64', [4, 8])),
    ('T.pow(T.tensor([2, 3]), 2)', ('int64', [4, 9])),
    ('T.tensor([True, False]) ** 2', ('int64', [1, 0])),
    ('T.tensor([True, False]) ** 0', ('int64', [1, 1])),
    ('T.tensor([True, False]) ** 1.5', ('float32', [1.0, 0.0])),
    ('T.tensor([True, False]) ** T.tensor([True, True])', ("raises", 'NotImplementedError', '"pow" not implemented for \'Bool\'')),
    ('T.tensor([True]) ** T.tensor([2])', ('int64', [1])),
    # floor division and remainder (Python's signs: the divisor's)
    ('T.tensor([7, -7, 7, -7]) // T.tensor([2, 2, -2, -2])', ('int64', [3, -4, -4, 3])),
    ('T.tensor([7, -7, 7, -7]) % T.tensor([2, 2, -2, -2])', ('int64', [1, 1, -1, -1])),
    ('T.tensor([1]) // 0', ("raises", 'RuntimeError', 'ZeroDivisionError')),
    ('T.tensor([1]) % 0', ("raises", 'RuntimeError', 'ZeroDivisionError')),
    # an empty result divides nothing: no error
    ('T.tensor([], dtype=T.int64) // 0', ('int64', [])),
    ('T.tensor([], dtype=T.int64) % 0', ('int64', [])),
    ('T.fmod(T.tensor([], dtype=T.int64), 0)', ('int64', [])),
    ('T.tensor([1.0, -1.0, 0.0]) // 0', ('float32', [inf, -inf, nan])),
    ('T.tensor([1.0, -1.0, 0.0]) % 0', ('float32', [nan, nan, nan])),
    ('T.tensor([5.5, -5.5]) // 2', ('float32', [2.0, -3.0])),
    ('T.tensor([5.5, -5.5]) % 2', ('float32', [1.5, 0.5])),
    ('T.tensor([5.5, -5.5]) % -2', ('float32', [-0.5, -1.5])),
    ('T.tensor([-0.5]) // 1', ('float32', [-1.0])),
    ('T.tensor([0.5]) // -1', ('float32', [-1.0])),
    ('T.tensor([inf, -inf, nan]) // 2', ('float32', [nan, nan, nan])),
    ('T.tensor([inf, 1.0]) % 2', ('float32', [nan, 1.0])),
    ('T.tensor([1.0, -1.0]) % inf', ('float32', [1.0, inf])),
    ('T.tensor([0.3, -0.3], dtype=T.float64) // 0.1', ('float64', [2.0, -3.0])),
    ('T.tensor([1e300], dtype=T.float64) // 1e-300', ('float64', [inf])),
    ('T.tensor([-2**63]) // -1', ('int64', [-9223372036854775808])),
    ('T.tensor([-2**63]) % -1', ('int64', [0])),
    ('T.tensor([True, False]) // T.tensor([True, True])', ("raises", 'NotImplementedError', '"div_floor_cpu" not implemented for \'Bool\'')),
    ('T.tensor([True, False]) % T.tensor([True, True])', ("raises", 'NotImplementedError', '"remainder_cpu" not implemented for \'Bool\'')),
    ('T.tensor([True]) // 1', ('int64', [1])),
    ('7 // T.tensor([2, -2])', ('int64', [3, -4])),
    ('7 % T.tensor([2, -2])', ('int64', [1, -1])),
    ('7.5 // T.tensor([2])', ('float32', [3.0])),
    ('T.tensor([7]) // 2.0', ('float32', [3.0])),
    ('T.floor_divide(T.tensor([7, -7]), 2)', ('int64', [3, -4])),
    ('T.remainder(T.tensor([7, -7]), 3)', ('int64', [1, 2])),
    ('T.remainder(7, T.tensor([2, -2]))', ('int64', [1, -1])),
    ('T.tensor([7, -7]).floor_divide(T.tensor([2]))', ('int64', [3, -4])),
    ('T.tensor([7.0, -7.0]).remainder(3)', ('float32', [1.0, 2.0])),
    ("ip(T.tensor([7, -7]), '__ifloordiv__', 2)", ('int64', [3, -4])),
    ("ip(T.tensor([7, -7]), '__imod__', 3)", ('int64', [1, 2])),
    ("ip(T.tensor([7, -7]), '__ifloordiv__', 2.0)", ("raises", 'RuntimeError', "result type Float can't be cast to the desired output type Long")),
    ("ip(T.tensor([7.5, -7.5]), '__imod__', 2)", ('float32', [1.5, 0.5])),
    # matmul of integers works (exactly), of bool is refused, mixed dtypes are refused
    ('T.tensor([1, 2]) @ T.tensor([3, 4])', ('int64', 11)),
    ('T.tensor([[1, 2]]) @ T.tensor([[3], [4]])', ('int64', [[11]])),
    ('T.matmul(T.tensor([[1, 2], [3, 4]]), T.tensor([[5, 6], [7, 8]]))', ('int64', [[19, 22], [43, 50]])),
    ('T.tensor([[1, 2]]).mm(T.tensor([[3], [4]]))', ('int64', [[11]])),
    ('T.tensor([[[1, 2]]]) @ T.tensor([[[3], [4]]])', ('int64', [[[11]]])),
    ('T.tensor([1, 2]) @ T.tensor([[3, 1], [4, 1]])', ('int64', [11, 3])),
    ('T.tensor([[3, 1], [4, 1]]) @ T.tensor([1, 2])', ('int64', [5, 6])),
    ('T.tensor([[2**62, 1]]) @ T.tensor([[4], [1]])', ('int64', [[1]])),
    ('T.ones(2, 0, dtype=T.int64) @ T.ones(0, 3, dtype=T.int64)', ('int64', [[0, 0, 0], [0, 0, 0]])),
    ('T.tensor([True, False]) @ T.tensor([True, True])', ("raises", 'NotImplementedError', '"dot" not implemented for \'Bool\'')),
    ('T.tensor([[True, False]]) @ T.tensor([[True], [True]])', ("raises", 'NotImplementedError', '"addmm_impl_cpu_" not implemented for \'Bool\'')),
    ('T.tensor([1, 2]) @ T.tensor([3.0, 4.0])', ("raises", 'RuntimeError', 'dot : expected both vectors to have same dtype, but found Long and Float')),
    # in-place ops whose result dtype the tensor cannot hold
    ("ip(T.tensor([1, 2]), '__iadd__', 1.5)", ("raises", 'RuntimeError', "result type Float can't be cast to the desired output type Long")),
    ("ip(T.tensor([1, 2]), '__imul__', 0.5)", ("raises", 'RuntimeError', "result type Float can't be cast to the desired output type Long")),
    ("ip(T.tensor([1, 2]), '__itruediv__', 2)", ("raises", 'RuntimeError', "result type Float can't be cast to the desired output type Long")),
    ("ip(T.tensor([1, 2]), '__isub__', 0.5)", ("raises", 'RuntimeError', "result type Float can't be cast to the desired output type Long")),
    ("ip(T.tensor([1, 2]), '__iadd__', T.tensor([1.5, 1.5]))", ("raises", 'RuntimeError', "result type Float can't be cast to the desired output type Long")),
    ("ip(T.tensor([1, 2]), '__iadd__', T.tensor(1.5))", ("raises", 'RuntimeError', "result type Float can't be cast to the desired output type Long")),
    ("ip(T.tensor([1, 2]), 'add_', 1.5)", ("raises", 'RuntimeError', "result type Float can't be cast to the desired output type Long")),
    ("ip(T.tensor([1, 2]), 'sub_', 1.5)", ("raises", 'RuntimeError', "result type Float can't be cast to the desired output type Long")),
    ("ip(T.tensor([1, 2]), 'mul_', 1.5)", ("raises", 'RuntimeError', "result type Float can't be cast to the desired output type Long")),
    ("ip(T.tensor([1, 2]), 'div_', 2)", ("raises", 'RuntimeError', "result type Float can't be cast to the desired output type Long")),
    ("ip(T.tensor([1, 2]), 'add_', 1, alpha=0.5)", ("raises", 'RuntimeError', 'For integral input tensors, argument alpha must not be a floating point number.')),
    ("ip(T.tensor([1, 2]), 'add_', 1, alpha=2)", ('int64', [3, 4])),
    ("ip(T.tensor([True, False]), '__iadd__', 1)", ("raises", 'RuntimeError', "result type Long can't be cast to the desired output type Bool")),
    ("ip(T.tensor([True, False]), '__imul__', 2)", ("raises", 'RuntimeError', "result type Long can't be cast to the desired output type Bool")),
    ("ip(T.tensor([True, False]), '__iadd__', True)", ('bool', [True, True])),
    ("ip(T.tensor([True, False]), '__imul__', True)", ('bool', [True, False])),
    ("ip(T.tensor([True, False]), '__isub__', True)", ("raises", 'NotImplementedError', 'Subtraction, the `-` operator, with two bool tensors is not supported. Use the `^` or `logical_xor()` operator instead.')),
    ("ip(T.tensor([True, False]), '__iadd__', 0.5)", ("raises", 'RuntimeError', "result type Float can't be cast to the desired output type Bool")),
    ("ip(T.tensor([1.0]), 'sub_', False)", ("raises", 'NotImplementedError', 'Subtraction, the `-` operator, with a bool tensor is not supported. If you are trying to invert a mask, use the `~` or `logical_not()` operator instead.')),
    ("ip(T.tensor([1.0]), '__isub__', False)", ("raises", 'NotImplementedError', 'Subtraction, the `-` operator, with a bool tensor is not supported. If you are trying to invert a mask, use the `~` or `logical_not()` operator instead.')),
    ("ip(T.tensor([1, 2]), '__iadd__', T.tensor([True, True]))", ('int64', [2, 3])),
    ("ip(T.tensor([1, 2]), '__iadd__', True)", ('int64', [2, 3])),
    ("ip(T.tensor([1.5, 2.5]), '__iadd__', T.tensor([1, 1]))", ('float32', [2.5, 3.5])),
    ("ip(T.tensor([1.5, 2.5]), '__iadd__', T.tensor([1.0, 1.0], dtype=T.float64))", ('float32', [2.5, 3.5])),
    ("ip(T.tensor([1.5, 2.5]), '__itruediv__', 2)", ('float32', [0.75, 1.25])),
    ("ip(T.tensor([1, 2]), 'fill_', 1.5)", ('int64', [1, 1])),
    ("ip(T.tensor([1, 2]), 'copy_', T.tensor([1.5, 2.7]))", ('int64', [1, 2])),
    # in-place writes into an expanded tensor (one memory location, several elements)
    ("ip(T.ones(1).expand(3), '__iadd__', 1)", ("raises", 'RuntimeError', 'unsupported operation: more than one element of the written-to tensor refers to a single memory location. Please clone() the tensor before performing the operation.')),
    ("ip(T.ones(2).expand(2, 2), 'mul_', 2)", ("raises", 'RuntimeError', 'unsupported operation: more than one element of the written-to tensor refers to a single memory location. Please clone() the tensor before performing the operation.')),
    ("ip(T.zeros(2).expand(2, 2), 'copy_', T.ones(2, 2))", ("raises", 'RuntimeError', 'unsupported operation: more than one element of the written-to tensor refers to a single memory location. Please clone() the tensor before performing the operation.')),
    ("ip(T.zeros(2).expand(2, 2), 'clamp_', 0, 1)", ("raises", 'RuntimeError', 'unsupported operation: more than one element of the written-to tensor refers to a single memory location. Please clone() the tensor before performing the operation.')),
    ("ip(T.tensor([5]).expand(2), '__iand__', 1)", ("raises", 'RuntimeError', 'unsupported operation: more than one element of the written-to tensor refers to a single memory location. Please clone() the tensor before performing the operation.')),
    ("ip(T.zeros(2).expand(2, 2), 'fill_', 1)", ('float32', [[1.0, 1.0], [1.0, 1.0]])),
    ("ip(T.ones(2).expand(2, 2), 'zero_')", ('float32', [[0.0, 0.0], [0.0, 0.0]])),
    ("ip(T.zeros(1, 0).expand(2, 0), 'copy_', T.tensor(0.0))", ('float32', [[], []])),
    ("ip(T.ones(2, 1).expand(2, 1), '__iadd__', 1)", ('float32', [[2.0], [2.0]])),
    # int() / float() / bool() of one-element tensors
    ('int(T.tensor(nan))', ("raises", 'ValueError', 'cannot convert float NaN to integer')),
    ('int(T.tensor(inf))', ("raises", 'OverflowError', 'cannot convert float infinity to integer')),
    ('int(T.tensor(-inf))', ("raises", 'OverflowError', 'cannot convert float infinity to integer')),
    ('int(T.tensor(2.7))', ("py", 2)),
    ('int(T.tensor(-2.7))', ("py", -2)),
    ('int(T.tensor(1e30))', ("py", 1000000015047466219876688855040)),
    ('int(T.tensor([3]))', ("py", 3)),
    ('int(T.tensor(True))', ("py", 1)),
    ('int(T.tensor(2**62 + 1))', ("py", 4611686018427387905)),
    ('T.tensor(9007199254740993).item()', ("py", 9007199254740993)),
    ('int(T.tensor([1, 2]))', ("raises", 'ValueError', 'only one element tensors can be converted to Python scalars')),
    ('float(T.tensor([]))', ("raises", 'ValueError', 'only one element tensors can be converted to Python scalars')),
    ('float(T.tensor(True))', ("py", 1.0)),
    ('bool(T.tensor(nan))', ("py", True)),
    ('bool(T.tensor(-0.0))', ("py", False)),
    ('[1, 2, 3, 4][T.tensor(2)]', ("py", 3)),
]
# END VALUES

# BEGIN GRADS
GRADS = [
    # powers at zero: d/dx x**p (PowBackward0) and d/dy of a**y (PowBackward1)
    ('lambda T, x: x ** 0', [[0.0, 1.0, -1.0]], [1.0, 1.0, 1.0], [[0.0, 0.0, 0.0]]),
    ('lambda T, x: x ** 0.5', [[0.0, 1.0, 4.0]], [0.0, 1.0, 2.0], [[inf, 0.5, 0.25]]),
    ('lambda T, x: x ** 1', [[0.0, 1.0, -1.0]], [0.0, 1.0, -1.0], [[1.0, 1.0, 1.0]]),
    ('lambda T, x: x ** 2', [[0.0, 1.0, -1.0]], [0.0, 1.0, 1.0], [[0.0, 2.0, -2.0]]),
    ('lambda T, x: x ** 3', [[0.0, -2.0]], [0.0, -8.0], [[0.0, 12.0]]),
    ('lambda T, x: x ** -1', [[0.0, 1.0, -1.0]], [inf, 1.0, -1.0], [[-inf, -1.0, -1.0]]),
    ('lambda T, x: x ** -0.5', [[0.0, 4.0]], [inf, 0.5], [[-inf, -0.0625]]),
    ('lambda T, x: x ** 1.5', [[0.0, 1.0, -1.0]], [0.0, 1.0, nan], [[0.0, 1.5, nan]]),
    ('lambda T, x: x ** nan', [[0.0, 4.0]], [nan, nan], [[nan, nan]]),
    ('lambda T, y: 0.0 ** y', [[0.0, 0.5, 1.0, 2.0, -1.0]], [1.0, 0.0, 0.0, 0.0, inf], [[0.0, 0.0, 0.0, 0.0, -inf]]),
    ('lambda T, y: 2.0 ** y', [[0.0, 1.0]], [1.0, 2.0], [[0.6931471805599453, 1.3862943611198906]]),
    ('lambda T, y: (-2.0) ** y', [[0.0, 1.0, 0.5]], [1.0, -2.0, nan], [[nan, nan, nan]]),
    ('lambda T, x, y: T.pow(x, y)', [[0.0, 0.0, 0.0, 0.0, 0.0, 2.0, -2.0, -2.0], [0.0, 0.5, 1.0, 2.0, -1.0, 0.0, 2.0, 0.5]], [1.0, 0.0, 0.0, 0.0, inf, 1.0, 4.0, nan], [[0.0, inf, 1.0, 0.0, -inf, 0.0, -4.0, nan], [0.0, 0.0, 0.0, 0.0, -inf, 0.6931471805599453, nan, nan]]),
    ('lambda T, x: x ** x', [[0.0, 1.0, 2.0]], [1.0, 1.0, 4.0], [[0.0, 1.0, 6.772588722239782]]),
    ('lambda T, x, y: x ** y', [[0.0, 3.0], [[0.0], [2.0]]], [[1.0, 1.0], [0.0, 9.0]], [[0.0, 6.0], [[1.0986122886681098], [9.887510598012987]]]),
    ('lambda T, x, y: x % y', [[5.5, -3.0, 4.0], [2.0, 2.0, -3.0]], [1.5, 1.0, -2.0], [[1.0, 1.0, 1.0], [-2.0, 2.0, 2.0]]),
    ('lambda T, x: x % 2.0', [[5.5, -3.0]], [1.5, 1.0], [[1.0, 1.0]]),
    # division's gradient where b * b underflows: -g * (out / b), as PyTorch's for two tensors
    ('lambda T, a, b: a / b', [[1.0, 0.0, 3.0], [2e-201, 2e-201, -2.0]], [5e+200, 0.0, -1.5], [[5e+200, 5e+200, -0.5], [-inf, -0.0, -0.75]]),
    # NaN through maximum / minimum / relu / clamp
    ('lambda T, a, b: T.maximum(a, b)', [[1.0, nan, nan, 2.0, 1.0, 3.0], [nan, 0.0, nan, 2.0, 3.0, 1.0]], [nan, nan, nan, 2.0, 3.0, 3.0], [[1.0, 1.0, 1.0, 0.5, 0.0, 1.0], [1.0, 1.0, 1.0, 0.5, 1.0, 0.0]]),
    ('lambda T, a, b: T.minimum(a, b)', [[1.0, nan, nan, 2.0, 1.0, 3.0], [nan, 0.0, nan, 2.0, 3.0, 1.0]], [nan, nan, nan, 2.0, 1.0, 1.0], [[1.0, 1.0, 1.0, 0.5, 1.0, 0.0], [1.0, 1.0, 1.0, 0.5, 0.0, 1.0]]),
    ('lambda T, a, b: a.max(b)', [[1.0, nan, 2.0], [nan, 0.0, 2.0]], [nan, nan, 2.0], [[1.0, 1.0, 0.5], [1.0, 1.0, 0.5]]),
    ('lambda T, a, b: T.maximum(a, b)', [[[1.0, nan], [2.0, 0.0]], [2.0, nan]], [[2.0, nan], [2.0, nan]], [[[0.0, 1.0], [0.5, 1.0]], [1.5, 2.0]]),
    ('lambda T, x: T.relu(x)', [[nan, -1.0, 0.0, 1.0, inf, -inf]], [nan, 0.0, 0.0, 1.0, inf, 0.0], [[1.0, 0.0, 0.0, 1.0, 1.0, 0.0]]),
    ('lambda T, x: x.clamp(0, 2)', [[nan, -1.0, 0.0, 1.0, 2.0, 3.0]], [nan, 0.0, 0.0, 1.0, 2.0, 2.0], [[0.0, 0.0, 0.0, 1.0, 0.0, 0.0]]),
    ('lambda T, x: x.clamp(min=0.5)', [[nan, -1.0, 0.5, 1.0, inf, -inf]], [nan, 0.5, 0.5, 1.0, inf, 0.5], [[0.0, 0.0, 0.0, 1.0, 1.0, 0.0]]),
    ('lambda T, x: x.clamp(max=0)', [[nan, -1.0, 0.0, 1.0, inf, -inf]], [nan, -1.0, 0.0, 0.0, 0.0, -inf], [[0.0, 1.0, 0.0, 0.0, 0.0, 1.0]]),
    ('lambda T, x: x.clamp(min=-inf)', [[1.0, inf, -inf]], [1.0, inf, -inf], [[1.0, 1.0, 0.0]]),
    ('lambda T, x: x.clamp(min=nan)', [[-1.0, 1.0]], [nan, nan], [[0.0, 0.0]]),
    ('lambda T, x: x.clamp(2, 1)', [[0.0, 1.5, 3.0]], [1.0, 1.0, 1.0], [[0.0, 0.0, 0.0]]),
    ('lambda T, x: x.clamp(0, 0)', [[0.0, 1.0]], [0.0, 0.0], [[0.0, 0.0]]),
    ('lambda T, x: x.max()', [[1.0, nan, 3.0]], nan, [[0.0, 1.0, 0.0]]),
    ('lambda T, x: x.min()', [[nan, 1.0, nan]], nan, [[0.5, 0.0, 0.5]]),
]
# END GRADS
# fmt: on

# Where ferrograd's message words the same refusal differently from PyTorch's (the type still
# matches): the expression and why.
WORDING_DIFFERS = {
    "T.tensor([1, 2]) @ T.tensor([3.0, 4.0])": "PyTorch's 'dot : expected both vectors to have same dtype' names its kernel",
    "ip(T.tensor([1, 2]), 'clamp_', 0.5, 1.5)": "PyTorch names the output type 'long int' here and 'Long' elsewhere",
}

# Rows that need a change in a file this area does not own (see /work/notes/requests.md).
PENDING = {
}


def _param(row, key, name=None):
    marks = [pytest.mark.xfail(reason=PENDING[key], strict=True)] if key in PENDING else []
    return pytest.param(*row, id=name or key, marks=marks)


def _raises_as_torch(torch_name: str) -> type[BaseException]:
    """The exception class named `torch_name` (ferrograd raises PyTorch's classes)."""
    return {
        "RuntimeError": RuntimeError,
        "NotImplementedError": NotImplementedError,
        "TypeError": TypeError,
        "ValueError": ValueError,
        "OverflowError": OverflowError,
        "IndexError": IndexError,
    }[torch_name]


def _torch_words(message: str) -> str:
    """PyTorch's message without the kernel name it quotes ('"bitwise_and_cpu" not implemented for
    'Float'' -> "not implemented for 'Float'"): ferrograd names its op instead."""
    return re.sub(r'^"\w+" ', "", message)


def _same(got, want) -> bool:
    g, w = np.asarray(got, dtype=float), np.asarray(want, dtype=float)
    return g.shape == w.shape and np.allclose(g, w, rtol=1e-6, atol=0, equal_nan=True) and np.array_equal(np.isnan(g), np.isnan(w))


@pytest.mark.parametrize("expr, expected", [_param(r, r[0]) for r in VALUES])
def test_value_as_torch(expr, expected):
    env = {"T": fg, "nan": nan, "inf": inf, "ip": ip}
    if expected[0] == "raises":
        _, name, message = expected
        with pytest.raises(_raises_as_torch(name)) as info:
            eval(expr, env)
        if expr not in WORDING_DIFFERS:
            assert _torch_words(message) in str(info.value), f"{expr}: {info.value!s} (PyTorch: {message})"
        return
    got = eval(expr, env)
    if expected[0] == "py":
        assert type(got) is type(expected[1]) and (got == expected[1] or (got != got and expected[1] != expected[1])), f"{expr}: {got!r}"
        return
    dtype, values = expected
    assert isinstance(got, fg.Tensor), f"{expr}: {got!r}"
    assert str(got.dtype) == f"ferrograd.{dtype}", f"{expr}: dtype {got.dtype}, PyTorch {dtype}"
    if dtype in ("int64", "bool"):
        assert got.tolist() == values, f"{expr}: {got.tolist()} (PyTorch {values})"
    else:
        assert _same(got.tolist(), values), f"{expr}: {got.tolist()} (PyTorch {values})"


@pytest.mark.parametrize("src, inputs, out, grads", [_param(r, r[0], f"{r[0]} at {r[1]}") for r in GRADS])
def test_grad_as_torch(src, inputs, out, grads):
    f = eval(src, {"nan": nan, "inf": inf})
    leaves = [fg.tensor(x, dtype=fg.float64, requires_grad=True) if isinstance(x, list) else x for x in inputs]
    y = f(fg, *leaves)
    y.sum().backward()
    assert _same(y.tolist(), out), f"{src}: output {y.tolist()} (PyTorch {out})"
    got = [t.grad.tolist() for t in leaves if isinstance(t, fg.Tensor)]
    for g, w in zip(got, grads):
        assert _same(g, w), f"{src} at {inputs}: grad {got} (PyTorch {grads})"


# ---- numpy references: the integer kernels on random data ---------------------------------------

R = np.random.default_rng(20261203)


def _ints(shape, lo=-(2**62), hi=2**62):
    return R.integers(lo, hi, size=shape, dtype=np.int64)


@pytest.mark.parametrize("op, ref", [
    (lambda a, b: a & b, np.bitwise_and),
    (lambda a, b: a | b, np.bitwise_or),
    (lambda a, b: a ^ b, np.bitwise_xor),
])
def test_bitwise_matches_numpy_with_broadcasting_and_views(op, ref):
    a, b = _ints((4, 5)), _ints((5,))
    assert np.array_equal(op(fg.tensor(a), fg.tensor(b)).numpy(), ref(a, b))
    assert np.array_equal(op(fg.tensor(a).t(), fg.tensor(a.T.copy())).numpy(), ref(a.T, a.T))
    m, n = R.random((3, 4)) < 0.5, R.random((3, 4)) < 0.5
    out = op(fg.tensor(m), fg.tensor(n))
    assert out.dtype == fg.bool and np.array_equal(out.numpy(), ref(m, n))


def test_invert_and_shifts_match_numpy():
    a = _ints((6, 7))
    assert np.array_equal((~fg.tensor(a)).numpy(), np.invert(a))
    s = R.integers(0, 64, size=(6, 7), dtype=np.int64)
    assert np.array_equal((fg.tensor(a) << fg.tensor(s)).numpy(), np.left_shift(a, s))
    assert np.array_equal((fg.tensor(a) >> fg.tensor(s)).numpy(), np.right_shift(a, s))


def test_int64_matmul_is_exact_like_numpy_for_batches_and_transposed_views():
    a, b = _ints((3, 4, 5), -1000, 1000), _ints((5, 6), -1000, 1000)
    assert np.array_equal((fg.tensor(a) @ fg.tensor(b)).numpy(), a @ b)
    bt = fg.tensor(b.T.copy()).t()  # a strided view
    assert np.array_equal((fg.tensor(a) @ bt).numpy(), a @ b)
    big = _ints((2, 3))  # products wrap modulo 2**64, as numpy's (and PyTorch's) int64 do
    with np.errstate(over="ignore"):
        assert np.array_equal((fg.tensor(big) @ fg.tensor(big.T.copy())).numpy(), big @ big.T)


def test_int_pow_wraps_like_python_ints_modulo_2_64():
    base, exp = _ints((50,), -50, 50), R.integers(0, 100, size=(50,), dtype=np.int64)
    got = (fg.tensor(base) ** fg.tensor(exp)).tolist()
    want = [((int(b) ** int(e) + 2**63) % 2**64) - 2**63 for b, e in zip(base, exp)]
    assert got == want


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_special_float_exponents_are_pytorchs_kernels(dtype):
    # PyTorch computes these exponents as sqrt, reciprocals and products, not pow: -inf ** 0.5
    # is NaN (pow says inf) and -0 ** 0.5 is -0; the rest agree with pow to the last bit.
    x = np.array([-np.inf, -0.0, 0.0, -4.0, 4.0, np.inf, np.nan, 1e-45, 3e38, 0.3, 7.1e-3], dtype)
    with np.errstate(all="ignore"):
        want = {0.5: np.sqrt(x), -0.5: 1 / np.sqrt(x), 3: x * x * x, -1: 1 / x, -2: 1 / (x * x), 2: x * x}
    for e, w in want.items():
        got = (fg.tensor(x) ** e).numpy()
        assert got.dtype == dtype
        np.testing.assert_array_equal(got, w.astype(dtype), err_msg=f"x ** {e}")
    assert np.signbit((fg.tensor(x) ** 0.5).numpy()[1])


def test_failed_inplace_leaves_the_tensor_unchanged():
    t = fg.tensor([1, 2])
    for f in (lambda: t.__iadd__(1.5), lambda: t.div_(2), lambda: t.clamp_(0.5, 1.5), lambda: t.__iand__(1.0)):
        with pytest.raises(RuntimeError):
            f()
    assert t.tolist() == [1, 2] and t.dtype == fg.int64


def test_bool_arithmetic_matches_numpy_logic():
    m, n = R.random(20) < 0.5, R.random(20) < 0.5
    assert np.array_equal((fg.tensor(m) + fg.tensor(n)).numpy(), m | n)
    assert np.array_equal((fg.tensor(m) * fg.tensor(n)).numpy(), m & n)
    assert np.array_equal(fg.maximum(fg.tensor(m), fg.tensor(n)).numpy(), np.maximum(m, n))


def test_clamp_of_int_with_float_bounds_matches_numpy_clip():
    a = R.integers(-5, 5, size=(4, 6))
    out = fg.tensor(a).clamp(-1.5, 2.5)
    assert out.dtype == fg.float32
    assert np.array_equal(out.numpy(), np.clip(a.astype(np.float32), -1.5, 2.5))


# ---- in-place ops on the graph (values recorded from PyTorch 2.15, script in the comment) -------
# for op in ("zero_", "fill_", "copy_"):
#     x = torch.tensor([nan, inf, 1.0], requires_grad=True); y = x.clone()
#     y.zero_() / y.fill_(2.0) / y.copy_(torch.tensor(1.0)); (y * torch.tensor([1., 2., 3.])).sum().backward()
#     -> y [0, 0, 0] / [2, 2, 2] / [1, 1, 1], x.grad [0, 0, 0]
# a = torch.tensor([1., 3.]); w = torch.tensor([2., 5.], requires_grad=True); a.mul_(w); a.sum().backward()
#     -> a [2, 15], w.grad [1, 3]; with div_ and w = [2, 4]: a [0.5, 0.75], w.grad [-0.25, -0.1875];
#     a *= w; a /= w: a [1, 3], w.grad [0, 0]


@pytest.mark.parametrize("fill, value", [
    (lambda y: y.zero_(), 0.0),
    (lambda y: y.fill_(2.0), 2.0),
    (lambda y: y.copy_(fg.tensor(1.0)), 1.0),
])
def test_fill_on_the_graph_overwrites_nan_and_inf_exactly(fill, value):
    x = fg.tensor([nan, inf, 1.0], requires_grad=True)
    y = x.clone()
    fill(y)
    assert y.tolist() == [value] * 3
    (y * fg.tensor([1.0, 2.0, 3.0])).sum().backward()
    assert x.grad.tolist() == [0.0, 0.0, 0.0]


def test_inplace_op_with_a_graph_operand_on_a_plain_tensor_keeps_its_old_value_for_backward():
    a, w = fg.tensor([1.0, 3.0]), fg.tensor([2.0, 5.0], requires_grad=True)
    a.mul_(w)
    a.sum().backward()
    assert a.tolist() == [2.0, 15.0] and w.grad.tolist() == [1.0, 3.0]
    a, w = fg.tensor([1.0, 3.0]), fg.tensor([2.0, 4.0], requires_grad=True)
    a.div_(w)
    a.sum().backward()
    assert a.tolist() == [0.5, 0.75] and w.grad.tolist() == [-0.25, -0.1875]
    a, w = fg.tensor([1.0, 3.0]), fg.tensor([2.0, 4.0], requires_grad=True)
    a *= w
    a /= w
    a.sum().backward()
    assert a.tolist() == [1.0, 3.0] and w.grad.tolist() == [0.0, 0.0]


def test_floor_divide_has_no_derivative_as_in_pytorch():
    # torch: (x // y).sum().backward() -> RuntimeError "derivative for aten::floor_divide is not implemented"
    x = fg.tensor([5.5, -3.0], requires_grad=True)
    y = (x // 2.0).sum()
    with pytest.raises(RuntimeError, match="derivative for aten::floor_divide is not implemented"):
        y.backward()


def test_floor_divide_and_remainder_match_numpy():
    a, b = R.integers(-50, 50, size=(5, 6)), R.integers(1, 9, size=(6,)) * R.choice([-1, 1], size=(6,))
    assert np.array_equal((fg.tensor(a) // fg.tensor(b)).numpy(), np.floor_divide(a, b))
    assert np.array_equal((fg.tensor(a) % fg.tensor(b)).numpy(), np.remainder(a, b))
    x, y = R.uniform(-10, 10, size=(5, 6)), R.uniform(0.5, 3, size=(6,)) * R.choice([-1, 1], size=(6,))
    assert np.array_equal((fg.tensor(x) // fg.tensor(y)).numpy(), np.floor_divide(x, y))
    assert np.allclose((fg.tensor(x) % fg.tensor(y)).numpy(), np.remainder(x, y), rtol=0, atol=1e-12)


def test_copy_from_a_graph_tensor_gives_the_overwritten_history_a_zero_gradient():
    # torch: a = tensor([1.], requires_grad=True); b = tensor([2.], requires_grad=True)
    #        c = a.clone(); c.copy_(b); c.sum().backward() -> a.grad [0.], b.grad [1.]
    a, b = fg.tensor([1.0], requires_grad=True), fg.tensor([2.0], requires_grad=True)
    c = a.clone()
    c.copy_(b)
    c.sum().backward()
    assert a.grad.tolist() == [0.0] and b.grad.tolist() == [1.0]


def test_inplace_on_a_detached_tensor_with_a_graph_operand_works():
    # torch: x = tensor(1.); y = tensor(2., requires_grad=True); z = x.detach(); z.add_(y)
    #        -> z 3.0 with AddBackward0, z.backward() -> y.grad 1.0
    x, y = fg.tensor(1.0), fg.tensor(2.0, requires_grad=True)
    z = x.detach()
    z.add_(y)
    z.backward()
    assert z.item() == 3.0 and y.grad.item() == 1.0


DTYPE_NAMES = ["bool", "uint8", "int8", "int16", "int32", "int64", "float16", "bfloat16", "float32", "float64"]


@pytest.mark.parametrize("name", DTYPE_NAMES)
def test_dtypes_are_singletons_as_in_pytorch(name):
    # Ported code tests dtypes with `is` (`if x.dtype is torch.float16`); every way a dtype
    # reaches Python gives the one object.
    import copy
    import pickle

    d = getattr(fg, name)
    x = fg.zeros(2, dtype=d)
    assert x.dtype is d and x.clone().dtype is d and fg.zeros(1).to(d).dtype is d
    assert fg.tensor([1, 0]).to(name).dtype is d  # a dtype named by a string
    assert copy.copy(d) is d and copy.deepcopy(d) is d and pickle.loads(pickle.dumps(d)) is d
    assert {d: 1}[x.dtype] == 1 and x.dtype == d


def test_dtype_aliases_are_the_same_objects():
    assert fg.zeros(1).float().dtype is fg.float32 and fg.zeros(1).double().dtype is fg.float64
    assert fg.zeros(1).long().dtype is fg.int64 and fg.zeros(1).half().dtype is fg.float16
    assert fg.get_default_dtype() is fg.float32
