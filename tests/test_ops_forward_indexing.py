"""Indexing (get and set), views sharing storage and in-place ops, checked against numpy."""

from __future__ import annotations

import ferrograd as fg
import numpy as np
import pytest
from helpers import assert_matches_numpy, away_from, make_arrays, make_distinct, numpy_with_torch_rule, rng


def softmax_np(x, axis):
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


# ---------------------------------------------------------------- indexing

A = np.array
GETITEM_CASES = [
    1, -1, (1, 2), (-1, -2, -3), slice(1, 3), (slice(None), slice(1, None, 2)),
    (slice(None, None, 2), slice(-3, None), slice(None, -1)), slice(-100, 100), slice(3, 1),
    (slice(1, None, 3), 0, slice(None, None, 4)),
    None, (None, 1, None), Ellipsis, (Ellipsis, 1), (1, Ellipsis, None), (slice(None), None, Ellipsis, 2),
    [0, 2, 3], [[0, 1], [2, 3]], A([3, 0, 0, 1]), A([-1, -4]), A(2), A([[1], [0]]),
    ([0, 2], [1, 3]), (slice(None), [0, 2], [1, 3]), ([0, 2], slice(None), [1, 3]),
    ([0, 2], 1, [1, 3]), (1, slice(None), [0, 1]), (slice(None), [0, 1], 2), (Ellipsis, [0, 5]),
    (A([[0], [2]]), A([1, 3, 4])), (A([[0], [2]]), slice(1, 3), A([1, 3, 4])), (None, [1, 2], [0, 4]),
    (slice(1, 3), A([[0, 1], [1, 0]]), None, A([5, 4])), (A([-1, 1]), slice(None, None, 2), -2),
    A([True, False, True, True]), (slice(None), A([False, True, True, False, True])),
    (A([True, False, True, False]), slice(None), [1, 3]), (Ellipsis, A([True, False] * 3)),
]


def _fg_key(key):
    if isinstance(key, tuple):
        return tuple(_fg_key(k) for k in key)
    if isinstance(key, np.ndarray):
        return fg.tensor(key)
    return key


@pytest.mark.parametrize("key", GETITEM_CASES, ids=[repr(k).replace(" ", "") for k in GETITEM_CASES])
def test_getitem_matches_numpy_indexing(key):
    x = rng(8).standard_normal((4, 5, 6))
    assert_matches_numpy(fg.tensor(x)[_fg_key(key)], numpy_with_torch_rule(x, key))
    x32 = x.astype(np.float32)
    assert_matches_numpy(fg.tensor(x32)[_fg_key(key)], numpy_with_torch_rule(x32, key))


def test_numpy_with_torch_rule_matches_torch():
    torch = pytest.importorskip("torch")
    x = rng(8).standard_normal((4, 5, 6))

    def tk(k):
        if isinstance(k, tuple):
            return tuple(tk(i) for i in k)
        return torch.from_numpy(k) if isinstance(k, np.ndarray) else k

    for key in GETITEM_CASES:
        np.testing.assert_array_equal(torch.from_numpy(x)[tk(key)].numpy(), numpy_with_torch_rule(x, key))


@pytest.mark.parametrize("mask_fn", [lambda x: x > 0, lambda x: x[..., 0] > 0, lambda x: x[:, :, 0] < 0.5])
def test_getitem_bool_mask_tensor_matches_numpy(mask_fn):
    x = rng(9).standard_normal((4, 5, 6))
    t = fg.tensor(x)
    assert_matches_numpy(t[mask_fn(t)], x[mask_fn(x)])


def test_getitem_keeps_int_and_bool_dtypes():
    xi = rng(0).integers(0, 9, (4, 5))
    assert_matches_numpy(fg.tensor(xi)[1:, [0, 3]], xi[1:, [0, 3]])
    xb = xi > 4
    assert_matches_numpy(fg.tensor(xb)[[2, 0]], xb[[2, 0]])


SETITEM_CASES = [
    (1, lambda s: 5.0),
    ((1, 2, 3), lambda s: -9.0),
    ((slice(None), slice(1, 3)), lambda s: rng(1).standard_normal(s)),
    ((Ellipsis, 0), lambda s: rng(2).standard_normal(s[-1:])),
    ((slice(None, None, 2), slice(None, None, 3)), lambda s: 7.0),
    ([0, 2], lambda s: 0.0),
    (A([3, 1]), lambda s: rng(3).standard_normal((5, 6))),
    (([0, 2], slice(None), [1, 3]), lambda s: rng(4).standard_normal(s)),
    ((slice(None), [4, 0]), lambda s: rng(5).standard_normal((6,))),
    (A([True, False, True, False]), lambda s: rng(6).standard_normal(s)),
    ((None, 2), lambda s: rng(7).standard_normal(s)),
]


@pytest.mark.parametrize("key, value_fn", SETITEM_CASES, ids=[repr(c[0]).replace(" ", "") for c in SETITEM_CASES])
@pytest.mark.parametrize("value_kind", ["scalar_or_array", "tensor"])
def test_setitem_matches_numpy_assignment(key, value_fn, value_kind):
    x = rng(10).standard_normal((4, 5, 6))
    value = value_fn(x[key].shape)
    if value_kind == "tensor" and isinstance(value, float):
        value = np.array(value)
    ref = x.copy()
    ref[key] = value
    t = fg.tensor(x)
    with fg.no_grad():
        t[_fg_key(key)] = fg.tensor(value) if value_kind == "tensor" else value
    assert_matches_numpy(t, ref)


def test_setitem_with_bool_mask_tensor_matches_numpy():
    x = rng(11).standard_normal((4, 5))
    ref = x.copy()
    ref[ref > 0] = -1.0
    t = fg.tensor(x)
    with fg.no_grad():
        t[t > 0] = -1.0
    assert_matches_numpy(t, ref)
    vals = rng(12).standard_normal(int((ref < -0.5).sum()))
    ref[ref < -0.5] = vals
    with fg.no_grad():
        t[t < -0.5] = fg.tensor(vals)
    assert_matches_numpy(t, ref)


# ---------------------------------------------------------------- views and in-place


VIEWS = [
    ("view", lambda x: x.view(2, -1), lambda a: a.reshape(2, -1)),
    ("select", lambda x: x[1], lambda a: a[1]),
    ("slice", lambda x: x[:, 1:3], lambda a: a[:, 1:3]),
    ("step_slice", lambda x: x[::2, ::2], lambda a: a[::2, ::2]),
    ("t", lambda x: x.t(), lambda a: a.T),
    ("transpose_select", lambda x: x.transpose(0, 1)[1], lambda a: a.T[1]),
    ("unsqueeze", lambda x: x.unsqueeze(0), lambda a: a[None]),
    ("permute", lambda x: x.permute(1, 0), lambda a: a.transpose(1, 0)),
    ("narrow", lambda x: x.narrow(1, 1, 2), lambda a: a[:, 1:3]),
    ("none_squeeze", lambda x: x[..., None].squeeze(-1), lambda a: a[..., None].squeeze(-1)),
    ("reshape_contiguous", lambda x: x.reshape(3, 8), lambda a: a.reshape(3, 8)),
]


@pytest.mark.parametrize("name, fg_view, np_view", VIEWS, ids=[v[0] for v in VIEWS])
def test_inplace_on_view_changes_base_and_vice_versa(name, fg_view, np_view):
    x = rng(13).standard_normal((4, 6))
    t, ref = fg.tensor(x), x.copy()
    v, ref_v = fg_view(t), np_view(ref)
    assert np.shares_memory(ref_v, ref)
    v.mul_(2.0).add_(1.0)
    ref_v *= 2.0
    ref_v += 1.0
    assert_matches_numpy(t, ref)
    t.sub_(3.0)
    ref -= 3.0
    assert_matches_numpy(v, ref_v)


def test_setitem_on_view_writes_through_to_base():
    x = rng(14).standard_normal((4, 5))
    t, ref = fg.tensor(x), x.copy()
    v = t[1:]
    with fg.no_grad():
        v[0] = 3.0
        v[:, 2] = fg.tensor([1.0, 2.0, 3.0], dtype=fg.float64)
    ref[1:][0] = 3.0
    ref[1:][:, 2] = [1.0, 2.0, 3.0]
    assert_matches_numpy(t, ref)


def test_advanced_indexing_returns_a_copy_not_a_view():
    x = rng(15).standard_normal((4, 5))
    t = fg.tensor(x)
    c = t[[0, 1]]
    c.zero_()
    m = t[t > 0]
    m.fill_(100.0)
    assert_matches_numpy(t, x)


INPLACE = [
    ("add_t", lambda t, o: t.add_(o), lambda a, o: a + o),
    ("sub_t", lambda t, o: t.sub_(o), lambda a, o: a - o),
    ("mul_t", lambda t, o: t.mul_(o), lambda a, o: a * o),
    ("div_t", lambda t, o: t.div_(o), lambda a, o: a / o),
    ("iadd", lambda t, o: t.__iadd__(o), lambda a, o: a + o),
    ("isub", lambda t, o: t.__isub__(o), lambda a, o: a - o),
    ("imul", lambda t, o: t.__imul__(o), lambda a, o: a * o),
    ("idiv", lambda t, o: t.__itruediv__(o), lambda a, o: a / o),
    ("copy_", lambda t, o: t.copy_(o), lambda a, o: np.broadcast_to(o, a.shape)),
]


INPLACE_CASES = [(*op, other) for op in INPLACE for other in ("tensor_same", "tensor_broadcast", "scalar") if not (op[0] == "copy_" and other == "scalar")]


@pytest.mark.parametrize("name, fg_fn, np_fn, other", INPLACE_CASES, ids=[f"{c[0]}-{c[3]}" for c in INPLACE_CASES])
@pytest.mark.parametrize("layout", ["contiguous", "transposed_view"])
def test_inplace_binary_op_matches_numpy(name, fg_fn, np_fn, other, layout):
    x = rng(16).standard_normal((4, 5))
    o = {"tensor_same": rng(17).uniform(0.5, 2, (5, 4)), "tensor_broadcast": rng(18).uniform(0.5, 2, (4,)), "scalar": 1.75}[other]
    base = fg.tensor(x)
    t = base.t() if layout == "transposed_view" else base.view(5, 4)
    ref_base = x.copy()
    ref = ref_base.T if layout == "transposed_view" else ref_base.reshape(5, 4)
    out = fg_fn(t, fg.tensor(o) if isinstance(o, np.ndarray) else o)
    ref[...] = np_fn(ref.copy(), o)
    assert out is t
    assert_matches_numpy(t, ref)
    assert_matches_numpy(base, ref_base)


@pytest.mark.parametrize(
    "fg_fn, np_fn",
    [
        (lambda t: t.zero_(), lambda a: np.zeros_like(a)),
        (lambda t: t.fill_(-2.5), lambda a: np.full_like(a, -2.5)),
        (lambda t: t.clamp_(-0.3, 0.4), lambda a: np.clip(a, -0.3, 0.4)),
        (lambda t: t.clamp_(min=0.1), lambda a: np.maximum(a, 0.1)),
        (lambda t: t.clamp_(max=-0.1), lambda a: np.minimum(a, -0.1)),
    ],
)
def test_inplace_unary_op_on_strided_view_matches_numpy(fg_fn, np_fn):
    x = rng(19).standard_normal((4, 6))
    base, ref = fg.tensor(x), x.copy()
    t = base[1:, ::2]
    assert fg_fn(t) is t
    ref[1:, ::2] = np_fn(ref[1:, ::2])
    assert_matches_numpy(base, ref)


def test_inplace_on_int_tensor_keeps_int64():
    xi = rng(20).integers(-9, 9, (3, 4))
    t = fg.tensor(xi)
    t.add_(3).mul_(2).sub_(fg.tensor(xi))
    assert_matches_numpy(t, (xi + 3) * 2 - xi)
    t.clamp_(-4, 4)
    assert_matches_numpy(t, np.clip((xi + 3) * 2 - xi, -4, 4))


def test_clamp_and_relu_leave_input_unchanged():
    x = make_arrays([(3, 3)])[0]
    t = fg.tensor(x)
    t.clamp(0, 1), t.relu(), t.abs(), -t
    assert_matches_numpy(t, x)


def test_reductions_of_strided_views_match_numpy():
    x = make_arrays([(6, 8)])[0]
    t = fg.tensor(x)[::2, 1::3].t()
    ref = x[::2, 1::3].T
    assert_matches_numpy(t.sum(0), ref.sum(0))
    assert_matches_numpy(t.mean(1, keepdim=True), ref.mean(1, keepdims=True))
    assert_matches_numpy(t.softmax(0), softmax_np(ref, 0))
    assert_matches_numpy(t.max(1).values, ref.max(1))


def test_helper_inputs_have_no_ties_and_avoid_kinks():
    d = make_distinct((5, 5))
    assert len(np.unique(d)) == 25
    assert np.all(np.abs(away_from([make_arrays([(50,)])[0]])[0]) >= 0.1)


# PyTorch 2.15's answers, from this script:
#   x = torch.zeros(4); y = torch.zeros(4, dtype=torch.int64)
#   for each case below: try: x[idx] = value -> "ok" / except RuntimeError -> "refused"
_PUT_DTYPE_CASES = [
    ("mask, full tensor of float64", lambda x: (x == 0, fg.ones(4, dtype=fg.float64)), "refused"),
    ("mask, 0-d float64 (a fill)", lambda x: (x == 0, fg.tensor(1.0, dtype=fg.float64)), "ok"),
    ("mask, one-element float64 (a fill)", lambda x: (x == 0, fg.ones(1, dtype=fg.float64)), "ok"),
    ("int index, float64 values", lambda x: (fg.tensor([0, 1]), fg.ones(2, dtype=fg.float64)), "refused"),
    ("int index, 0-d float64", lambda x: (fg.tensor([0, 1]), fg.tensor(2.0, dtype=fg.float64)), "refused"),
    ("int index, int64 values", lambda x: (fg.tensor([0, 1]), fg.ones(2, dtype=fg.int64)), "refused"),
    ("basic slice, float64 values (a copy)", lambda x: (slice(0, 2), fg.ones(2, dtype=fg.float64)), "ok"),
    ("int index, a Python number", lambda x: (fg.tensor([0, 1]), 2.5), "ok"),
]


@pytest.mark.parametrize("name,case,expected", _PUT_DTYPE_CASES, ids=[c[0] for c in _PUT_DTYPE_CASES])
def test_index_put_requires_matching_dtypes_as_pytorch(name, case, expected):
    x = fg.zeros(4)
    idx, value = case(x)
    if expected == "ok":
        x[idx] = value
        assert float(x.sum()) > 0
    else:
        with pytest.raises(RuntimeError, match="Index put requires the source and destination dtypes match, got Float"):
            x[idx] = value
        assert float(x.sum()) == 0  # refused before writing
    with pytest.raises(RuntimeError, match="got Float for the destination and Double"):
        fg.zeros(4).index_put((fg.tensor([0]),), fg.ones(1, dtype=fg.float64))
