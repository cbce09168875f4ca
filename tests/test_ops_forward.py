"""Forward values, shapes and dtypes of every ferrograd op, checked against numpy."""

from __future__ import annotations

import math
import operator

import ferrograd as fg
import numpy as np
import pytest
from helpers import assert_matches_numpy, away_from, check_op, make_arrays, make_distinct, rng, to_np

BROADCAST_PAIRS = [((3, 4), (3, 4)), ((3, 4), (4,)), ((2, 1, 4), (3, 1)), ((), (2, 3)), ((5, 1), (1, 5)), ((4,), ())]


def sigmoid_np(x):
    with np.errstate(over="ignore"):  # exp(800) = inf gives the right limit, 0
        return 1.0 / (1.0 + np.exp(-x))


def logsumexp_np(x, axis, keepdims=False):
    m = np.max(x, axis=axis, keepdims=True)
    out = np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)) + m
    return out if keepdims else np.squeeze(out, axis=axis)


def softmax_np(x, axis):
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


# ---------------------------------------------------------------- creation


@pytest.mark.parametrize(
    "fg_fn, np_fn",
    [
        (lambda: fg.zeros(2, 3), lambda: np.zeros((2, 3), np.float32)),
        (lambda: fg.zeros((2, 3), dtype=fg.float64), lambda: np.zeros((2, 3))),
        (lambda: fg.ones(4), lambda: np.ones(4, np.float32)),
        (lambda: fg.ones(2, 2, dtype=fg.int64), lambda: np.ones((2, 2), np.int64)),
        (lambda: fg.eye(3), lambda: np.eye(3, dtype=np.float32)),
        (lambda: fg.eye(2, 4), lambda: np.eye(2, 4, dtype=np.float32)),
        (lambda: fg.eye(4, 2, dtype=fg.float64), lambda: np.eye(4, 2)),
        (lambda: fg.full((2, 3), 1.5), lambda: np.full((2, 3), 1.5, np.float32)),
        (lambda: fg.full((2,), 7), lambda: np.full((2,), 7, np.int64)),
        (lambda: fg.full((3,), True), lambda: np.full((3,), True)),
        (lambda: fg.arange(5), lambda: np.arange(5, dtype=np.int64)),
        (lambda: fg.arange(1, 8, 2), lambda: np.arange(1, 8, 2, dtype=np.int64)),
        (lambda: fg.arange(0, 1, 0.25), lambda: np.arange(0, 1, 0.25, dtype=np.float32)),
        (lambda: fg.arange(5, 0, -1), lambda: np.arange(5, 0, -1, dtype=np.int64)),
        (lambda: fg.arange(0.0, 3.0, dtype=fg.float64), lambda: np.arange(0.0, 3.0)),
        (lambda: fg.linspace(0, 1, 5), lambda: np.linspace(0, 1, 5, dtype=np.float32)),
        (lambda: fg.linspace(-3, 2, 7, dtype=fg.float64), lambda: np.linspace(-3, 2, 7)),
        (lambda: fg.linspace(-1, 1, 1), lambda: np.linspace(-1, 1, 1, dtype=np.float32)),
    ],
)
def test_factory_matches_numpy(fg_fn, np_fn):
    assert_matches_numpy(fg_fn(), np_fn())


@pytest.mark.parametrize("factory, dtype", [(fg.randn, fg.float32), (fg.rand, fg.float32), (fg.randn, fg.float64)])
def test_random_factories_have_requested_shape_dtype_and_distribution(factory, dtype):
    fg.manual_seed(123)
    t = factory(200, 100, dtype=dtype)
    assert tuple(t.shape) == (200, 100) and t.dtype == dtype
    a = to_np(t).astype(np.float64)
    if factory is fg.randn:
        assert abs(a.mean()) < 0.03 and abs(a.std() - 1.0) < 0.03
    else:
        assert a.min() >= 0.0 and a.max() < 1.0
        assert abs(a.mean() - 0.5) < 0.02 and abs(a.var() - 1 / 12) < 0.005


def test_manual_seed_makes_random_tensors_reproducible():
    fg.manual_seed(7)
    a, b = to_np(fg.randn(5)), to_np(fg.rand(3))
    fg.manual_seed(7)
    np.testing.assert_array_equal(to_np(fg.randn(5)), a)
    np.testing.assert_array_equal(to_np(fg.rand(3)), b)
    assert not np.array_equal(to_np(fg.randn(5)), a)


# ---------------------------------------------------------------- dtype inference and promotion

I64 = np.array([1, 2, 3], dtype=np.int64)
F32 = np.array([0.5, -1.25, 2.0], dtype=np.float32)
F64 = np.array([1.5, 2.5, -0.75], dtype=np.float64)
B = np.array([True, False, True])

PROMOTION_CASES = [
    ("python float literal", lambda: fg.tensor(1.5), np.float32, lambda: np.float64(1.5)),
    ("python int list", lambda: fg.tensor([1, 2]), np.int64, lambda: I64[:2]),
    ("numpy float64 kept", lambda: fg.tensor(F64), np.float64, lambda: F64),
    ("int * 0.5", lambda: fg.tensor(I64) * 0.5, np.float32, lambda: I64 * 0.5),
    ("0.5 * int", lambda: 0.5 * fg.tensor(I64), np.float32, lambda: I64 * 0.5),
    ("int + python int", lambda: fg.tensor(I64) + 3, np.int64, lambda: I64 + 3),
    ("int ** 2", lambda: fg.tensor(I64) ** 2, np.int64, lambda: I64**2),
    ("int ** 0.5", lambda: fg.tensor(I64) ** 0.5, np.float32, lambda: I64**0.5),
    ("2 ** int", lambda: 2 ** fg.tensor(I64), np.int64, lambda: 2**I64),
    ("2.0 ** int", lambda: 2.0 ** fg.tensor(I64), np.float32, lambda: 2.0**I64),
    ("f32 + python float", lambda: fg.tensor(F32) + 0.1, np.float32, lambda: F32.astype(np.float64) + 0.1),
    ("python float - f32", lambda: 0.1 - fg.tensor(F32), np.float32, lambda: 0.1 - F32.astype(np.float64)),
    ("f64 * python float", lambda: fg.tensor(F64) * 0.1, np.float64, lambda: F64 * 0.1),
    ("f32 + f64 tensor", lambda: fg.tensor(F32) + fg.tensor(F64), np.float64, lambda: F32.astype(np.float64) + F64),
    ("f64 * f32 tensor", lambda: fg.tensor(F64) * fg.tensor(F32), np.float64, lambda: F32.astype(np.float64) * F64),
    ("int + f32 tensor", lambda: fg.tensor(I64) + fg.tensor(F32), np.float32, lambda: I64 + F32.astype(np.float64)),
    ("f32 + 0-d f64 tensor", lambda: fg.tensor(F32) + fg.tensor(np.float64(0.25)), np.float32, lambda: F32 + 0.25),
    ("int + 0-d f64 tensor", lambda: fg.tensor(I64) + fg.tensor(np.float64(0.25)), np.float64, lambda: I64 + 0.25),
    ("int / int tensor", lambda: fg.tensor(I64) / fg.tensor([2, 4, 4]), np.float32, lambda: I64 / np.array([2, 4, 4])),
    ("int / python int", lambda: fg.tensor(I64) / 2, np.float32, lambda: I64 / 2),
    ("python int / int", lambda: 3 / fg.tensor(I64), np.float32, lambda: 3 / I64),
    ("bool + python int", lambda: fg.tensor(B) + 1, np.int64, lambda: B.astype(np.int64) + 1),
    ("bool * python float", lambda: fg.tensor(B) * 1.5, np.float32, lambda: B * 1.5),
    ("bool + int tensor", lambda: fg.tensor(B) + fg.tensor(I64), np.int64, lambda: B + I64),
    ("int < python float", lambda: fg.tensor(I64) < 1.5, np.bool_, lambda: I64 < 1.5),
    ("f32 == f64 tensor", lambda: fg.tensor(F32) == fg.tensor(F32.astype(np.float64)), np.bool_, lambda: np.ones(3, bool)),
    ("sum of bool", lambda: fg.tensor(B).sum(), np.int64, lambda: B.sum()),
    ("sum of int", lambda: fg.tensor(I64).sum(), np.int64, lambda: I64.sum()),
    ("sum of bool over dim", lambda: fg.tensor(np.stack([B, B])).sum(0), np.int64, lambda: np.stack([B, B]).sum(0)),
    ("sum of f32", lambda: fg.tensor(F32).sum(), np.float32, lambda: F32.astype(np.float64).sum()),
    ("mean of f32", lambda: fg.tensor(F32).mean(), np.float32, lambda: F32.astype(np.float64).mean()),
    ("argmax", lambda: fg.tensor(F32).argmax(), np.int64, lambda: np.argmax(F32)),
    ("exp of int", lambda: fg.tensor(I64).exp(), np.float32, lambda: np.exp(I64)),
    ("sqrt of int", lambda: fg.tensor(I64).sqrt(), np.float32, lambda: np.sqrt(I64)),
    ("sigmoid of int", lambda: fg.tensor(I64).sigmoid(), np.float32, lambda: sigmoid_np(I64)),
    ("maximum int f32", lambda: fg.maximum(fg.tensor(I64), fg.tensor(F32)), np.float32, lambda: np.maximum(I64, F32)),
    ("where f32 vs scalar", lambda: fg.where(fg.tensor(B), fg.tensor(F32), 0.0), np.float32, lambda: np.where(B, F32, 0)),
    ("where int vs f32", lambda: fg.where(fg.tensor(B), fg.tensor(I64), fg.tensor(F32)), np.float32, lambda: np.where(B, I64, F32)),
    ("where f64 vs int scalar", lambda: fg.where(fg.tensor(B), fg.tensor(F64), 1), np.float64, lambda: np.where(B, F64, 1)),
    ("cat f32 f64", lambda: fg.cat([fg.tensor(F32), fg.tensor(F64)]), np.float64, lambda: np.concatenate([F32, F64])),
    ("relu of int", lambda: fg.tensor(-I64).relu(), np.int64, lambda: np.maximum(-I64, 0)),
    ("clamp of int", lambda: fg.tensor(I64).clamp(2, 2), np.int64, lambda: np.clip(I64, 2, 2)),
]


@pytest.mark.parametrize("name, fg_fn, dtype, np_fn", PROMOTION_CASES, ids=[c[0] for c in PROMOTION_CASES])
def test_dtype_promotion_follows_pytorch_rules(name, fg_fn, dtype, np_fn):
    out = fg_fn()
    ref = np.asarray(np_fn()).astype(dtype)
    assert_matches_numpy(out, ref, atol=1e-6, rtol=1e-6)


X64 = np.array([1.0, 2.0, 3.0])
C = np.array([True, False, True])
PRECISION_CASES = [
    ("tensor(list, dtype=float64)", lambda: fg.tensor([0.1, 0.2, 1 / 3], dtype=fg.float64), lambda: np.array([0.1, 0.2, 1 / 3])),
    ("tensor(float, dtype=float64)", lambda: fg.tensor(0.1, dtype=fg.float64), lambda: np.float64(0.1)),
    ("f64 + 0.1", lambda: fg.tensor(X64) + 0.1, lambda: X64 + 0.1),
    ("0.1 / f64", lambda: 0.1 / fg.tensor(X64), lambda: 0.1 / X64),
    ("f64 ** 0.1", lambda: fg.tensor(X64) ** 0.1, lambda: X64**0.1),
    ("where(c, f64, 0.1)", lambda: fg.where(fg.tensor(C), fg.tensor(X64), 0.1), lambda: np.where(C, X64, 0.1)),
    ("where(c, 0.1, f64)", lambda: fg.where(fg.tensor(C), 0.1, fg.tensor(X64)), lambda: np.where(C, 0.1, X64)),
    ("clamp(0.1, 0.3)", lambda: fg.tensor(X64 / 7).clamp(0.1, 0.3), lambda: np.clip(X64 / 7, 0.1, 0.3)),
    ("full(0.1, float64)", lambda: fg.full((2,), 0.1, dtype=fg.float64), lambda: np.full((2,), 0.1)),
]


@pytest.mark.parametrize("name, fg_fn, np_fn", PRECISION_CASES, ids=[c[0] for c in PRECISION_CASES])
def test_python_floats_keep_full_precision_in_float64_results(name, fg_fn, np_fn):
    assert_matches_numpy(fg_fn(), np_fn(), atol=0.0, rtol=1e-15)


# ---------------------------------------------------------------- elementwise

UNARY = [
    ("exp", np.exp, lambda x: x.exp(), fg.exp, (-2, 2)),
    ("log", np.log, lambda x: x.log(), fg.log, (0.1, 3)),
    ("sqrt", np.sqrt, lambda x: x.sqrt(), fg.sqrt, (0.1, 3)),
    ("abs", np.abs, lambda x: x.abs(), fg.abs, (-2, 2)),
    ("abs_op", np.abs, abs, fg.abs, (-2, 2)),
    ("neg", np.negative, lambda x: -x, fg.neg, (-2, 2)),
    ("sin", np.sin, lambda x: x.sin(), fg.sin, (-4, 4)),
    ("cos", np.cos, lambda x: x.cos(), fg.cos, (-4, 4)),
    ("tanh", np.tanh, lambda x: x.tanh(), fg.tanh, (-3, 3)),
    ("sigmoid", sigmoid_np, lambda x: x.sigmoid(), fg.sigmoid, (-6, 6)),
    ("relu", lambda x: np.maximum(x, 0), lambda x: x.relu(), fg.relu, (-2, 2)),
]


@pytest.mark.parametrize("name, np_fn, method, func, domain", UNARY, ids=[u[0] for u in UNARY])
@pytest.mark.parametrize("shape", [(), (7,), (3, 4, 2)])
def test_unary_op_matches_numpy(name, np_fn, method, func, domain, shape):
    check_op([shape], np_fn, method, low=domain[0], high=domain[1], grad=False)
    check_op([shape], np_fn, func, low=domain[0], high=domain[1], grad=False, seed=1)


def test_sigmoid_and_tanh_saturate_without_nan():
    x = np.array([-800.0, -50.0, 0.0, 50.0, 800.0])
    assert_matches_numpy(fg.tensor(x).sigmoid(), sigmoid_np(x))
    assert_matches_numpy(fg.tensor(x).tanh(), np.tanh(x))


BINARY = [
    ("add", np.add, lambda a, b: a + b, fg.add),
    ("sub", np.subtract, lambda a, b: a - b, fg.sub),
    ("mul", np.multiply, lambda a, b: a * b, fg.mul),
    ("div", np.divide, lambda a, b: a / b, fg.div),
    ("pow", np.power, lambda a, b: a**b, fg.pow),
    ("maximum", np.maximum, fg.maximum, lambda a, b: a.maximum(b)),
    ("minimum", np.minimum, fg.minimum, lambda a, b: a.minimum(b)),
]


@pytest.mark.parametrize("name, np_fn, op, func", BINARY, ids=[b[0] for b in BINARY])
@pytest.mark.parametrize("shapes", BROADCAST_PAIRS)
def test_binary_op_broadcasts_like_numpy(name, np_fn, op, func, shapes):
    a, b = make_arrays(shapes, seed=3)
    if name == "pow":
        a = np.abs(a) + 0.2
    if name == "div":
        b = away_from([b], margin=0.3)[0]
    check_op(shapes, np_fn, op, arrays=[a, b], grad=False)
    check_op(shapes, np_fn, func, arrays=[a, b], grad=False)


SCALAR_OPS = [
    ("t+s", lambda x: x + 2.5, lambda x: x + 2.5),
    ("s+t", lambda x: 2.5 + x, lambda x: 2.5 + x),
    ("t-s", lambda x: x - 1.5, lambda x: x - 1.5),
    ("s-t", lambda x: 1.5 - x, lambda x: 1.5 - x),
    ("t*s", lambda x: x * -3.0, lambda x: x * -3.0),
    ("s*t", lambda x: -3.0 * x, lambda x: -3.0 * x),
    ("t/s", lambda x: x / 4.0, lambda x: x / 4.0),
    ("s/t", lambda x: 2.0 / x, lambda x: 2.0 / x),
    ("t**2", lambda x: x**2, lambda x: x**2),
    ("t**3", lambda x: x**3, lambda x: x**3),
    ("t**0.5", lambda x: x**0.5, lambda x: x**0.5),
    ("t**-1.5", lambda x: x**-1.5, lambda x: x**-1.5),
    ("2**t", lambda x: 2.0**x, lambda x: 2.0**x),
    ("t.add(s)", lambda x: x + 2, lambda x: x.add(2)),
    ("t.mul(s)", lambda x: x * 2, lambda x: x.mul(2)),
    ("t.pow(s)", lambda x: x**2.5, lambda x: x.pow(2.5)),
]


@pytest.mark.parametrize("name, np_fn, fg_fn", SCALAR_OPS, ids=[s[0] for s in SCALAR_OPS])
def test_scalar_operand_on_either_side_matches_numpy(name, np_fn, fg_fn):
    check_op([(3, 4)], np_fn, fg_fn, low=0.2, high=3.0, grad=False)


@pytest.mark.parametrize("op", [operator.add, operator.sub, operator.mul], ids=["add", "sub", "mul"])
def test_integer_arithmetic_stays_int64(op):
    a, b = rng(1).integers(-20, 20, (3, 4)), rng(2).integers(-20, 20, (4,))
    assert_matches_numpy(op(fg.tensor(a), fg.tensor(b)), op(a, b))


@pytest.mark.parametrize(
    "np_fn, fg_fn",
    [
        (lambda x: np.clip(x, -0.5, 0.7), lambda x: x.clamp(-0.5, 0.7)),
        (lambda x: np.clip(x, -0.5, 0.7), lambda x: fg.clamp(x, min=-0.5, max=0.7)),
        (lambda x: np.maximum(x, 0.3), lambda x: x.clamp(min=0.3)),
        (lambda x: np.minimum(x, 0.3), lambda x: x.clamp(max=0.3)),
    ],
)
def test_clamp_matches_numpy_clip(np_fn, fg_fn):
    check_op([(4, 5)], np_fn, fg_fn, grad=False)


@pytest.mark.parametrize("cshape, xshape, yshape", [((3, 4), (3, 4), (3, 4)), ((3, 1), (4,), (3, 4)), ((4,), (2, 3, 4), ())])
def test_where_broadcasts_condition_and_branches_like_numpy(cshape, xshape, yshape):
    c = rng(4).random(cshape) > 0.5
    x, y = make_arrays([xshape, yshape], seed=5)
    assert_matches_numpy(fg.where(fg.tensor(c), fg.tensor(x), fg.tensor(y)), np.where(c, x, y))


def test_where_accepts_python_scalars_as_branches():
    c = rng(4).random((3, 4)) > 0.5
    x = make_arrays([(3, 4)])[0]
    assert_matches_numpy(fg.where(fg.tensor(c), fg.tensor(x), -1.0), np.where(c, x, -1.0))
    assert_matches_numpy(fg.where(fg.tensor(c), 2.0, fg.tensor(x)), np.where(c, 2.0, x))


CMPS = [
    ("eq", np.equal, lambda a, b: a == b, fg.eq),
    ("ne", np.not_equal, lambda a, b: a != b, fg.ne),
    ("lt", np.less, lambda a, b: a < b, fg.lt),
    ("le", np.less_equal, lambda a, b: a <= b, fg.le),
    ("gt", np.greater, lambda a, b: a > b, fg.gt),
    ("ge", np.greater_equal, lambda a, b: a >= b, fg.ge),
]


@pytest.mark.parametrize("name, np_fn, op, func", CMPS, ids=[c[0] for c in CMPS])
def test_comparison_gives_bool_tensor_like_numpy(name, np_fn, op, func):
    # small integers stored as floats: plenty of ties, so == and <= are exercised
    a = rng(6).integers(-2, 3, (3, 4)).astype(np.float32)
    b = rng(7).integers(-2, 3, (4,)).astype(np.float32)
    assert_matches_numpy(op(fg.tensor(a), fg.tensor(b)), np_fn(a, b))
    assert_matches_numpy(func(fg.tensor(a), fg.tensor(b)), np_fn(a, b))
    assert_matches_numpy(getattr(fg.tensor(a), name)(fg.tensor(b)), np_fn(a, b))
    assert_matches_numpy(op(fg.tensor(a), 1.0), np_fn(a, 1.0))
    assert_matches_numpy(op(1.0, fg.tensor(a)), np_fn(1.0, a))
    ai = a.astype(np.int64)
    assert_matches_numpy(op(fg.tensor(ai), fg.tensor(b)), np_fn(ai, b))


# ---------------------------------------------------------------- reductions

DIMS = [None, 0, -1, 1, (0, 2), (-1, 0), (0, 1, 2)]
# keepdim only means something with a dim
DIM_KEEPDIM = [(d, k) for d in DIMS for k in (False, True) if d is not None or not k]


def _np_kw(dim):
    return {} if dim is None else {"axis": dim}


def _fg_args(dim, keepdim):
    if dim is None:
        return (), {}
    return (dim,), {"keepdim": keepdim}


@pytest.mark.parametrize("dim, keepdim", DIM_KEEPDIM)
@pytest.mark.parametrize(
    "name, np_fn",
    [
        ("sum", np.sum),
        ("mean", np.mean),
        ("var", lambda x, **kw: np.var(x, ddof=1, **kw)),
        ("std", lambda x, **kw: np.std(x, ddof=1, **kw)),
    ],
)
def test_reduction_over_dims_matches_numpy(name, np_fn, dim, keepdim):
    args, kw = _fg_args(dim, keepdim)
    check_op(
        [(3, 4, 5)],
        lambda x: np_fn(x, keepdims=keepdim, **_np_kw(dim)),
        lambda x: getattr(x, name)(*args, **kw),
        grad=False,
    )


@pytest.mark.parametrize("name", ["var", "std"])
@pytest.mark.parametrize("dim", [None, 1, (0, 2)])
def test_var_std_population_variants_match_numpy_ddof0(name, dim):
    x = make_arrays([(3, 4, 5)])[0]
    ref = getattr(np, name)(x, ddof=0, **_np_kw(dim))
    args = () if dim is None else (dim,)
    assert_matches_numpy(getattr(fg.tensor(x), name)(*args, unbiased=False), ref)
    assert_matches_numpy(getattr(fg.tensor(x), name)(*args, correction=0), ref)


def test_sum_and_mean_function_forms_match_numpy():
    x = make_arrays([(3, 4)])[0]
    assert_matches_numpy(fg.sum(fg.tensor(x), 1), x.sum(1))
    assert_matches_numpy(fg.mean(fg.tensor(x), (0, 1), keepdim=True), x.mean((0, 1), keepdims=True))


@pytest.mark.parametrize("name", ["max", "min"])
@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("keepdim", [False, True])
def test_max_min_with_dim_return_values_and_indices_like_numpy(name, dim, keepdim):
    x = make_distinct((3, 4, 5))
    t = fg.tensor(x)
    res = getattr(t, name)(dim, keepdim=keepdim)
    values, indices = res
    np_arg = np.argmax if name == "max" else np.argmin
    idx = np_arg(x, axis=dim)
    vals = getattr(np, name)(x, axis=dim)
    if keepdim:
        idx, vals = np.expand_dims(idx, dim), np.expand_dims(vals, dim)
    assert_matches_numpy(values, vals)
    assert_matches_numpy(indices, idx.astype(np.int64))
    assert_matches_numpy(res.values, vals)
    assert_matches_numpy(res.indices, idx.astype(np.int64))
    assert_matches_numpy(getattr(fg, name)(t, dim, keepdim).values, vals)


@pytest.mark.parametrize("name", ["max", "min"])
def test_max_min_without_dim_give_0d_global_extreme(name):
    x = make_distinct((3, 4))
    assert_matches_numpy(getattr(fg.tensor(x), name)(), getattr(np, name)(x))
    xi = rng(0).integers(-50, 50, (6,))
    assert_matches_numpy(getattr(fg.tensor(xi), name)(), getattr(np, name)(xi))


@pytest.mark.parametrize("name", ["argmax", "argmin"])
@pytest.mark.parametrize("dim, keepdim", [(None, False), (0, False), (1, True), (-1, False)])
def test_argmax_argmin_match_numpy(name, dim, keepdim):
    x = make_distinct((3, 4, 5))
    ref = getattr(np, name)(x, axis=dim, keepdims=keepdim if dim is not None else False)
    kw = {} if dim is None else {"dim": dim, "keepdim": keepdim}
    assert_matches_numpy(getattr(fg.tensor(x), name)(**kw), np.asarray(ref, np.int64))
    assert_matches_numpy(getattr(fg, name)(fg.tensor(x), **kw), np.asarray(ref, np.int64))


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_softmax_and_log_softmax_match_numpy(dim):
    check_op([(3, 4, 5)], lambda x: softmax_np(x, dim), lambda x: x.softmax(dim), grad=False)
    check_op([(3, 4, 5)], lambda x: np.log(softmax_np(x, dim)), lambda x: x.log_softmax(dim), grad=False)
    check_op([(3, 4, 5)], lambda x: softmax_np(x, dim), lambda x: fg.softmax(x, dim), grad=False)


@pytest.mark.parametrize("dim", [0, -1, (0, 2)])
@pytest.mark.parametrize("keepdim", [False, True])
def test_logsumexp_matches_numpy(dim, keepdim):
    check_op([(3, 4, 5)], lambda x: logsumexp_np(x, dim, keepdim), lambda x: x.logsumexp(dim, keepdim), grad=False)


def test_softmax_family_is_stable_for_large_inputs():
    x = make_arrays([(2, 5)])[0] * 10 + 1000.0
    assert_matches_numpy(fg.tensor(x).softmax(-1), softmax_np(x, -1))
    assert_matches_numpy(fg.tensor(x).log_softmax(-1), x - logsumexp_np(x, -1, True), atol=1e-9)
    assert_matches_numpy(fg.tensor(-x).logsumexp(1), logsumexp_np(-x, 1))


# ---------------------------------------------------------------- matmul

MATMUL_SHAPES = [
    ((4,), (4,)),
    ((3, 4), (4,)),
    ((4,), (4, 5)),
    ((3, 4), (4, 5)),
    ((2, 3, 4), (2, 4, 5)),
    ((2, 3, 4), (4, 5)),
    ((3, 4), (2, 4, 5)),
    ((4,), (2, 4, 5)),
    ((2, 3, 4), (4,)),
    ((2, 1, 3, 4), (5, 4, 2)),
    ((1, 3, 4), (6, 4, 2)),
]


@pytest.mark.parametrize("sa, sb", MATMUL_SHAPES)
def test_matmul_batched_broadcasts_like_numpy(sa, sb):
    check_op([sa, sb], np.matmul, lambda a, b: a @ b, grad=False)
    check_op([sa, sb], np.matmul, fg.matmul, grad=False, seed=1)


def test_mm_and_rmatmul_match_numpy():
    a, b = make_arrays([(3, 4), (4, 2)])
    assert_matches_numpy(fg.mm(fg.tensor(a), fg.tensor(b)), a @ b)
    assert_matches_numpy(fg.tensor(a).matmul(fg.tensor(b)), a @ b)


def test_matmul_of_non_contiguous_operands_matches_numpy():
    a, b = make_arrays([(4, 3), (5, 4)])
    assert_matches_numpy(fg.tensor(a).t() @ fg.tensor(b).t(), a.T @ b.T)
    c = make_arrays([(2, 4, 3)])[0]
    assert_matches_numpy(fg.tensor(c).transpose(1, 2) @ fg.tensor(a), c.transpose(0, 2, 1) @ a)


# ---------------------------------------------------------------- shape ops

SHAPE_OPS = [
    ("reshape", lambda x: x.reshape(6, 4), lambda x: x.reshape(6, 4)),
    ("reshape_tuple_infer", lambda x: x.reshape(2, -1), lambda x: x.reshape((2, -1))),
    ("view", lambda x: x.reshape(4, 3, 2), lambda x: x.view(4, 3, 2)),
    ("view_infer", lambda x: x.reshape(-1), lambda x: x.view(-1)),
    ("flatten", lambda x: x.reshape(-1), lambda x: x.flatten()),
    ("flatten_1", lambda x: x.reshape(2, 12), lambda x: x.flatten(1)),
    ("flatten_0_1", lambda x: x.reshape(6, 4), lambda x: fg.flatten(x, 0, 1)),
    ("unsqueeze_0", lambda x: x[None], lambda x: x.unsqueeze(0)),
    ("unsqueeze_-1", lambda x: x[..., None], lambda x: x.unsqueeze(-1)),
    ("unsqueeze_2", lambda x: np.expand_dims(x, 2), lambda x: fg.unsqueeze(x, 2)),
    ("transpose", lambda x: np.swapaxes(x, 0, 2), lambda x: x.transpose(0, 2)),
    ("transpose_neg", lambda x: np.swapaxes(x, -1, -2), lambda x: fg.transpose(x, -1, -2)),
    ("permute", lambda x: np.transpose(x, (2, 0, 1)), lambda x: x.permute(2, 0, 1)),
    ("permute_tuple", lambda x: np.transpose(x, (1, 2, 0)), lambda x: x.permute((1, 2, 0))),
    ("contiguous_of_transpose", lambda x: np.swapaxes(x, 0, 1).copy(), lambda x: x.transpose(0, 1).contiguous()),
    ("reshape_of_transpose", lambda x: np.swapaxes(x, 0, 2).reshape(8, 3), lambda x: x.transpose(0, 2).reshape(8, 3)),
]


@pytest.mark.parametrize("name, np_fn, fg_fn", SHAPE_OPS, ids=[s[0] for s in SHAPE_OPS])
def test_shape_op_matches_numpy(name, np_fn, fg_fn):
    check_op([(2, 3, 4)], np_fn, fg_fn, grad=False)


@pytest.mark.parametrize(
    "shape, np_fn, fg_fn",
    [
        ((1, 3, 1, 2), lambda x: np.squeeze(x), lambda x: x.squeeze()),
        ((1, 3, 1, 2), lambda x: np.squeeze(x, 2), lambda x: x.squeeze(2)),
        ((1, 3, 1, 2), lambda x: x, lambda x: x.squeeze(1)),
        ((1, 3, 1, 2), lambda x: np.squeeze(x, 0), lambda x: fg.squeeze(x, -4)),
        ((3, 4), lambda x: x.T, lambda x: x.t()),
        ((3,), lambda x: x, lambda x: x.t()),
        ((3, 1), lambda x: np.broadcast_to(x, (3, 4)), lambda x: x.expand(3, 4)),
        ((3, 1), lambda x: np.broadcast_to(x, (2, 3, 5)), lambda x: x.expand(2, -1, 5)),
        ((1, 4), lambda x: np.broadcast_to(x, (3, 4)) * 2, lambda x: x.expand(3, 4) * 2),
    ],
    ids=["squeeze_all", "squeeze_dim", "squeeze_non1_noop", "squeeze_neg", "t_2d", "t_1d", "expand", "expand_keep_-1", "expand_then_mul"],
)
def test_squeeze_t_expand_match_numpy(shape, np_fn, fg_fn):
    check_op([shape], np_fn, fg_fn, grad=False)


def test_contiguous_makes_transposed_tensor_contiguous():
    x = fg.tensor(make_arrays([(3, 4)])[0])
    y = x.t()
    assert not y.is_contiguous() and y.contiguous().is_contiguous()
    assert_matches_numpy(y.contiguous(), to_np(x).T)


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_cat_and_stack_match_numpy(dim):
    a, b, c = make_arrays([(2, 3, 4)] * 3, seed=dim + 10)
    assert_matches_numpy(fg.cat([fg.tensor(a), fg.tensor(b), fg.tensor(c)], dim), np.concatenate([a, b, c], dim))
    assert_matches_numpy(fg.stack([fg.tensor(a), fg.tensor(b)], dim), np.stack([a, b], dim))


def test_cat_of_unequal_sizes_matches_numpy():
    a, b = make_arrays([(2, 3), (2, 5)])
    assert_matches_numpy(fg.cat((fg.tensor(a), fg.tensor(b)), dim=1), np.concatenate([a, b], 1))


def _split_points(n, size):
    return list(range(size, n, size))


@pytest.mark.parametrize("n, size, dim", [(6, 2, 0), (5, 2, 0), (7, 3, 1), (4, 4, 1), (3, 5, 0)])
def test_split_by_size_matches_numpy_split(n, size, dim):
    shape = (n, 3) if dim == 0 else (3, n)
    x = make_arrays([shape])[0]
    assert_matches_numpy(tuple(fg.tensor(x).split(size, dim)), tuple(np.split(x, _split_points(n, size), dim)))


def test_split_by_sections_matches_numpy_split():
    x = make_arrays([(3, 9)])[0]
    assert_matches_numpy(tuple(fg.tensor(x).split([2, 3, 4], 1)), tuple(np.split(x, [2, 5], 1)))
    assert_matches_numpy(tuple(fg.split(fg.tensor(x), [1, 2], 0)), tuple(np.split(x, [1], 0)))


@pytest.mark.parametrize("n, chunks", [(6, 3), (7, 3), (6, 4), (5, 5), (2, 4)])
def test_chunk_uses_ceil_size_like_pytorch(n, chunks):
    x = make_arrays([(n, 2)])[0]
    size = math.ceil(n / chunks)
    ref = tuple(np.split(x, _split_points(n, size), 0))
    assert_matches_numpy(tuple(fg.tensor(x).chunk(chunks)), ref)
    assert_matches_numpy(tuple(fg.chunk(fg.tensor(x).t(), chunks, 1)), tuple(r.T for r in ref))
