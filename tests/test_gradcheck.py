"""float64 gradcheck (autograd vs central finite differences) for every differentiable op.

Inputs are chosen away from non-differentiable points: no values near 0 for abs/relu, none near
the bounds for clamp, no ties for max/min/maximum/minimum, positive bases for pow, denominators
away from 0 for div.
"""

from __future__ import annotations

import ferrograd as fg
import numpy as np
import pytest
from helpers import away_from, check_grad, check_op, grads_of_sum, make_arrays, make_distinct, numpy_with_torch_rule, rng

BROADCAST_PAIRS = [((3, 4), (3, 4)), ((3, 4), (4,)), ((2, 1, 4), (3, 1)), ((), (2, 3)), ((5, 1), (1, 5)), ((4,), ())]
A = np.array


def no_ties(a, b, gap=1e-3):
    """Shifts b so that no broadcast pair (a, b) is closer than `gap`."""
    d = np.broadcast_arrays(a, b)
    assert np.all(np.abs(d[0] - d[1]) > gap), "inputs have near-ties; pick another seed"
    return a, b


def test_gradcheck_itself_detects_a_wrong_gradient():
    # x * x.detach() has autograd gradient x but true derivative 2x
    x = make_arrays([(3,)], low=0.5, high=2.0)[0]
    with pytest.raises(fg.autograd.GradcheckError):
        check_grad(lambda t: t * t.detach(), [x])
    assert not fg.autograd.gradcheck(lambda t: t * t.detach(), [fg.tensor(x, requires_grad=True)], raise_exception=False)


# ---------------------------------------------------------------- elementwise

UNARY = [
    ("exp", lambda x: x.exp(), (-2, 2)),
    ("exp_fn", fg.exp, (-2, 2)),
    ("log", lambda x: x.log(), (0.2, 3)),
    ("log_fn", fg.log, (0.2, 3)),
    ("sqrt", lambda x: x.sqrt(), (0.2, 3)),
    ("sqrt_fn", fg.sqrt, (0.2, 3)),
    ("abs", lambda x: x.abs(), (-2, 2)),
    ("abs_fn", fg.abs, (-2, 2)),
    ("neg", lambda x: -x, (-2, 2)),
    ("neg_fn", fg.neg, (-2, 2)),
    ("sin", lambda x: x.sin(), (-4, 4)),
    ("cos", fg.cos, (-4, 4)),
    ("tanh", lambda x: x.tanh(), (-3, 3)),
    ("sigmoid", fg.sigmoid, (-5, 5)),
    ("relu", lambda x: x.relu(), (-2, 2)),
    ("relu_fn", fg.relu, (-2, 2)),
]


@pytest.mark.parametrize("name, fn, domain", UNARY, ids=[u[0] for u in UNARY])
@pytest.mark.parametrize("shape", [(), (3, 4)])
def test_unary_op_gradient_matches_finite_differences(name, fn, domain, shape):
    x = away_from(make_arrays([shape], low=domain[0], high=domain[1], seed=1), margin=0.05)[0]
    check_grad(fn, [x])


BINARY = [
    ("add", lambda a, b: a + b),
    ("add_fn", fg.add),
    ("sub", lambda a, b: a - b),
    ("sub_fn", fg.sub),
    ("mul", lambda a, b: a * b),
    ("mul_fn", fg.mul),
    ("div", lambda a, b: a / b),
    ("div_fn", fg.div),
    ("pow_tensor_exponent", lambda a, b: a**b),
    ("pow_fn", fg.pow),
    ("maximum", fg.maximum),
    ("minimum", lambda a, b: a.minimum(b)),
]


@pytest.mark.parametrize("name, fn", BINARY, ids=[b[0] for b in BINARY])
@pytest.mark.parametrize("shapes", BROADCAST_PAIRS)
def test_broadcasting_binary_op_gradient_matches_finite_differences(name, fn, shapes):
    a, b = make_arrays(shapes, seed=2)
    if name.startswith("pow"):
        a = np.abs(a) + 0.3
    if name.startswith("div"):
        b = away_from([b], margin=0.4)[0]
    if name in ("maximum", "minimum"):
        a, b = no_ties(a, b)
    check_grad(fn, [a, b])


@pytest.mark.parametrize("name, fn", BINARY[:6], ids=[b[0] for b in BINARY[:6]])
def test_binary_op_with_same_tensor_on_both_sides_accumulates_gradient(name, fn):
    x = away_from(make_arrays([(3, 4)], seed=3), margin=0.3)[0]
    check_grad(lambda t: fn(t, t) * t, [x])


SCALAR = [
    ("t+s", lambda x: x + 2.5),
    ("s+t", lambda x: 2.5 + x),
    ("t-s", lambda x: x - 1.5),
    ("s-t", lambda x: 1.5 - x),
    ("t*s", lambda x: x * -3.0),
    ("s*t", lambda x: -3.0 * x),
    ("t/s", lambda x: x / 4.0),
    ("s/t", lambda x: 2.0 / x),
    ("t**2", lambda x: x**2),
    ("t**3", lambda x: x**3),
    ("t**0.5", lambda x: x**0.5),
    ("t**-1.5", lambda x: x**-1.5),
    ("t**1", lambda x: x**1),
    ("2**t", lambda x: 2.0**x),
    ("0.5**t", lambda x: 0.5**x),
    ("pow_method", lambda x: x.pow(2.5)),
    ("add_int_scalar", lambda x: x.add(2)),
    ("mul_int_scalar", lambda x: x.mul(3)),
    ("div_method", lambda x: x.div(3.0)),
    ("sub_method", lambda x: x.sub(1.0)),
]


@pytest.mark.parametrize("name, fn", SCALAR, ids=[s[0] for s in SCALAR])
def test_scalar_operand_gradient_matches_finite_differences(name, fn):
    check_grad(fn, make_arrays([(3, 4)], low=0.3, high=2.5, seed=4))


def test_pow_with_integer_exponent_on_negative_base_has_gradient():
    x = away_from(make_arrays([(3, 4)], seed=5), margin=0.2)[0]
    check_grad(lambda t: t**2, [x])
    check_grad(lambda t: t**3, [x])


@pytest.mark.parametrize(
    "fn",
    [lambda x: x.clamp(-0.5, 0.7), lambda x: x.clamp(min=0.3), lambda x: x.clamp(max=0.3), lambda x: fg.clamp(x, -1.0, 1.0)],
    ids=["both", "min", "max", "fn"],
)
def test_clamp_gradient_is_one_inside_and_zero_outside(fn):
    x = away_from(make_arrays([(4, 5)], seed=6), points=(-1.0, -0.5, 0.3, 0.7, 1.0), margin=0.05)[0]
    check_grad(fn, [x])


@pytest.mark.parametrize("cshape, xshape, yshape", [((3, 4), (3, 4), (3, 4)), ((3, 1), (4,), (3, 4)), ((4,), (2, 3, 4), ())])
def test_where_gradient_flows_to_selected_branch(cshape, xshape, yshape):
    c = fg.tensor(rng(7).random(cshape) > 0.4)
    x, y = make_arrays([xshape, yshape], seed=8)
    check_grad(lambda a, b: fg.where(c, a, b), [x, y])
    check_grad(lambda a: fg.where(c, a, 0.0), [x])
    check_grad(lambda b: fg.where(c, 1.0, b), [y])


# ---------------------------------------------------------------- reductions

DIMS = [None, 0, -1, 1, (0, 2), (-1, 0), (0, 1, 2)]
# keepdim only means something with a dim
DIM_KEEPDIM = [(d, k) for d in DIMS for k in (False, True) if d is not None or not k]


@pytest.mark.parametrize("name", ["sum", "mean", "var", "std"])
@pytest.mark.parametrize("dim, keepdim", DIM_KEEPDIM)
def test_reduction_gradient_over_dims(name, dim, keepdim):
    x = make_arrays([(2, 3, 4)], seed=9)[0]
    kw = {} if dim is None else {"dim": dim, "keepdim": keepdim}
    check_grad(lambda t: getattr(t, name)(**kw), [x])


@pytest.mark.parametrize("name", ["var", "std"])
def test_population_var_std_gradient(name):
    x = make_arrays([(3, 4)], seed=10)[0]
    check_grad(lambda t: getattr(t, name)(1, unbiased=False), [x])
    check_grad(lambda t: getattr(t, name)((0, 1), correction=0), [x])


@pytest.mark.parametrize("name", ["max", "min"])
@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("keepdim", [False, True])
def test_max_min_with_dim_gradient_goes_to_the_extreme_element(name, dim, keepdim):
    x = make_distinct((3, 4, 2), seed=11)
    check_grad(lambda t: getattr(t, name)(dim, keepdim=keepdim).values, [x])
    check_grad(lambda t: getattr(t, name)(dim, keepdim), [x])  # the (values, indices) tuple


@pytest.mark.parametrize("name", ["max", "min"])
def test_max_min_without_dim_gradient(name):
    check_grad(lambda t: getattr(t, name)(), [make_distinct((3, 4), seed=12)])


def test_max_with_dim_gradient_matches_numpy_one_hot():
    x = make_distinct((4, 5), seed=13)
    (g,) = grads_of_sum(lambda t: t.max(1).values * fg.tensor(np.arange(1.0, 5.0)), [x])
    ref = np.zeros_like(x)
    ref[np.arange(4), x.argmax(1)] = np.arange(1.0, 5.0)
    np.testing.assert_allclose(g, ref)


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_softmax_and_log_softmax_gradient(dim):
    x = make_arrays([(2, 3, 4)], seed=14)[0]
    weights = fg.tensor(rng(15).standard_normal((2, 3, 4)))  # so the gradient of the sum isn't trivially 0
    check_grad(lambda t: t.softmax(dim), [x])
    check_grad(lambda t: (t.softmax(dim) * weights).sum(), [x])
    check_grad(lambda t: t.log_softmax(dim), [x])
    check_grad(lambda t: fg.log_softmax(t, dim) * weights, [x])


@pytest.mark.parametrize("dim", [0, -1, (0, 2), (1, 0)])
@pytest.mark.parametrize("keepdim", [False, True])
def test_logsumexp_gradient(dim, keepdim):
    check_grad(lambda t: t.logsumexp(dim, keepdim), make_arrays([(2, 3, 4)], seed=16))


def test_softmax_gradient_is_stable_for_large_inputs():
    x = make_arrays([(2, 5)], seed=17)[0] * 3 + 500.0
    check_grad(lambda t: t.log_softmax(1), [x])
    check_grad(lambda t: t.logsumexp(1), [x])


# ---------------------------------------------------------------- matmul

MATMUL_SHAPES = [
    ((4,), (4,)),
    ((3, 4), (4,)),
    ((4,), (4, 5)),
    ((3, 4), (4, 5)),
    ((2, 3, 4), (2, 4, 5)),
    ((2, 3, 4), (4, 5)),
    ((3, 4), (2, 4, 5)),
    ((4,), (2, 4, 3)),
    ((2, 3, 4), (4,)),
    ((2, 1, 2, 3), (3, 3, 2)),
    ((1, 2, 3), (3, 3, 2)),
]


@pytest.mark.parametrize("sa, sb", MATMUL_SHAPES)
def test_matmul_gradient_in_all_rank_combinations(sa, sb):
    check_op([sa, sb], np.matmul, lambda a, b: a @ b, seed=18)


def test_mm_and_matmul_of_transposed_views_gradient():
    a, b = make_arrays([(4, 3), (5, 4)], seed=19)
    check_grad(lambda x, y: fg.mm(x.t(), y.t()), [a, b])
    check_grad(lambda x, y: fg.matmul(x, x.t()) + y.t() @ y, [a, b])


# ---------------------------------------------------------------- shape ops

SHAPE_OPS = [
    ("reshape", lambda x: x.reshape(6, 4)),
    ("reshape_infer", lambda x: x.reshape((2, -1))),
    ("view", lambda x: x.view(4, 3, 2)),
    ("flatten", lambda x: x.flatten()),
    ("flatten_1", lambda x: fg.flatten(x, 1)),
    ("unsqueeze", lambda x: x.unsqueeze(1)),
    ("unsqueeze_neg", lambda x: fg.unsqueeze(x, -1)),
    ("squeeze", lambda x: x.unsqueeze(0).unsqueeze(2).squeeze()),
    ("squeeze_dim", lambda x: x.unsqueeze(2).squeeze(2)),
    ("transpose", lambda x: x.transpose(0, 2)),
    ("transpose_fn", lambda x: fg.transpose(x, -1, 0)),
    ("t", lambda x: x[0].t()),
    ("permute", lambda x: x.permute(2, 0, 1)),
    ("expand", lambda x: x[:, :1].expand(2, 5, 4)),
    ("expand_new_dims", lambda x: x[0].expand(3, 3, 4)),
    ("contiguous", lambda x: x.transpose(0, 1).contiguous()),
    ("reshape_of_permute", lambda x: x.permute(2, 1, 0).reshape(4, 6)),
    ("narrow", lambda x: x.narrow(1, 1, 2)),
]


@pytest.mark.parametrize("name, fn", SHAPE_OPS, ids=[s[0] for s in SHAPE_OPS])
def test_shape_op_gradient(name, fn):
    w = fg.tensor(rng(20).standard_normal(tuple(fn(fg.zeros(2, 3, 4)).shape)))
    check_grad(lambda t: fn(t) * w, make_arrays([(2, 3, 4)], seed=21))


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_cat_and_stack_gradient(dim):
    a, b, c = make_arrays([(2, 3, 2), (2, 3, 2), (2, 3, 2)], seed=22)
    check_grad(lambda x, y, z: fg.cat([x, y, z], dim), [a, b, c])
    check_grad(lambda x, y: fg.stack([x, y], dim), [a, b])
    check_grad(lambda x: fg.cat([x, x * 2], dim), [a])


def test_cat_of_unequal_sizes_gradient():
    check_grad(lambda x, y: fg.cat((x, y), 1), make_arrays([(2, 3), (2, 1)], seed=23))


@pytest.mark.parametrize("split", [2, 3, [1, 4], [2, 2, 1]])
def test_split_gradient(split):
    check_grad(lambda x: x.split(split, 1), make_arrays([(2, 5)], seed=24))
    check_grad(lambda x: fg.split(x, split, 1)[-1], make_arrays([(2, 5)], seed=24))


@pytest.mark.parametrize("chunks", [2, 3, 5])
def test_chunk_gradient(chunks):
    check_grad(lambda x: x.chunk(chunks, 0), make_arrays([(5, 2)], seed=25))
    check_grad(lambda x: fg.chunk(x, chunks, 0)[0] * 3, make_arrays([(5, 2)], seed=25))


# ---------------------------------------------------------------- getitem

GETITEM_CASES = [
    1, -1, (1, 2), (-1, -2, -3), slice(1, 3), (slice(None), slice(1, None, 2)),
    (slice(None, None, 2), slice(-2, None), slice(None, -1)), None, (None, 1, None), Ellipsis,
    (Ellipsis, 1), (slice(None), None, Ellipsis, 2), [0, 2], A([2, 0, 1]), A([-1, -3]), A(1),
    ([0, 2], [1, 3]), (slice(None), [0, 2], [1, 3]), ([0, 2], slice(None), [1, 3]), (1, slice(None), [0, 1]),
    (A([[0], [2]]), A([1, 3, 0])), (A([[0], [2]]), slice(1, 3), A([1, 2, 0])),
    A([True, False, True]), (slice(None), A([False, True, True, False, True])), (Ellipsis, A([True, False, True, True])),
]


@pytest.mark.parametrize("key", GETITEM_CASES, ids=[repr(k).replace(" ", "") for k in GETITEM_CASES])
def test_getitem_gradient(key):
    fkey = tuple(fg.tensor(k) if isinstance(k, np.ndarray) else k for k in key) if isinstance(key, tuple) else (
        fg.tensor(key) if isinstance(key, np.ndarray) else key
    )
    x = make_arrays([(3, 5, 4)], seed=26)[0]
    check_op([x.shape], lambda a: numpy_with_torch_rule(a, key), lambda t: t[fkey], arrays=[x], f32=False)


REPEATED = [
    A([0, 0, 2, 0]),
    A([[1, 1], [1, 0]]),
    ([0, 2, 0], [1, 1, 1]),
    (slice(None), A([3, 3, 0])),
    (A([1, 1]), slice(None), A([2, 2])),
]


@pytest.mark.parametrize("key", REPEATED, ids=[repr(k).replace(" ", "") for k in REPEATED])
def test_getitem_with_repeated_indices_accumulates_gradient(key):
    fkey = tuple(fg.tensor(k) if isinstance(k, np.ndarray) else k for k in key) if isinstance(key, tuple) else fg.tensor(key)
    x = make_arrays([(3, 5, 4)], seed=27)[0]
    w = rng(28).standard_normal(x[key].shape)
    check_grad(lambda t: t[fkey] * fg.tensor(w), [x])
    (g,) = grads_of_sum(lambda t: t[fkey] * fg.tensor(w), [x])
    ref = np.zeros_like(x)
    np.add.at(ref, key, w)
    np.testing.assert_allclose(g, ref, atol=1e-12)


def test_getitem_with_bool_mask_tensor_gradient():
    x = make_arrays([(3, 4)], seed=29)[0]
    mask = fg.tensor(x > 0)
    check_grad(lambda t: t[mask] ** 2, [x])
    (g,) = grads_of_sum(lambda t: t[t > 0] * 3.0, [x])
    np.testing.assert_allclose(g, np.where(x > 0, 3.0, 0.0))


# ---------------------------------------------------------------- in-place ops on non-leaf tensors

INPLACE = [
    ("add_", lambda y, o: y.add_(o)),
    ("sub_", lambda y, o: y.sub_(o)),
    ("mul_", lambda y, o: y.mul_(o)),
    ("div_", lambda y, o: y.div_(o)),
    ("iadd", lambda y, o: y.__iadd__(o)),
    ("imul", lambda y, o: y.__imul__(o)),
    ("copy_", lambda y, o: y.copy_(o)),
]
INPLACE_SCALAR = [i for i in INPLACE if i[0] != "copy_"]


@pytest.mark.parametrize("name, fn", INPLACE_SCALAR, ids=[i[0] for i in INPLACE_SCALAR])
def test_inplace_op_with_scalar_on_non_leaf_gradient(name, fn):
    x = make_arrays([(3, 4)], low=0.5, high=2.0, seed=30)[0]
    # sin saves its input, not its output, so modifying the output in place is legal
    check_grad(lambda a: fn(a.sin(), 2.5), [x])


def test_copy_from_constant_source_cuts_gradient_to_overwritten_values():
    x, o = make_arrays([(3, 4), (4,)], seed=33)
    src = fg.tensor(o)  # does not require grad
    check_grad(lambda a: a.sin().copy_(src) + a, [x])
    (g,) = grads_of_sum(lambda a: a.sin().copy_(src) * 2.0 + a, [x])
    np.testing.assert_allclose(g, np.ones_like(x))


@pytest.mark.parametrize("name, fn", INPLACE, ids=[i[0] for i in INPLACE])
def test_inplace_op_with_grad_requiring_tensor_operand_gradient(name, fn):
    x, o = make_arrays([(3, 4), (4,)], low=0.5, high=2.0, seed=30)
    check_grad(lambda a, b: fn(a * 1.5, b), [x, o])


@pytest.mark.parametrize(
    "fn",
    [lambda y: y.clamp_(-0.5, 0.7), lambda y: y.clamp_(min=0.3), lambda y: y.zero_(), lambda y: y.fill_(2.0)],
    ids=["clamp_", "clamp_min", "zero_", "fill_"],
)
def test_inplace_unary_on_non_leaf_gradient(fn):
    x = away_from(make_arrays([(3, 4)], seed=31), points=(-0.5, 0.3, 0.7), margin=0.05)[0]
    check_grad(lambda a: fn(a * 1.0) + a, [x])


def test_inplace_op_on_view_of_non_leaf_rewrites_the_base_history():
    # PyTorch's CopySlices: the in-place op on the slice is part of y's history, so x's gradient
    # is the same as with the out-of-place spelling.
    x = fg.tensor(make_arrays([(4, 3)], seed=32)[0], requires_grad=True)
    y = x * 1.0
    y[1:].mul_(3.0)
    y.sum().backward()
    got = x.grad.numpy().copy()
    x.grad = None
    z = fg.cat([(x * 1.0)[:1], (x * 1.0)[1:] * 3.0])
    z.sum().backward()
    ref = np.ones((4, 3))
    ref[1:] = 3.0
    np.testing.assert_allclose(x.grad.numpy(), ref)
    np.testing.assert_allclose(got, ref)
