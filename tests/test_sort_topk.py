"""sort, argsort and topk (rust/ops/sort.rs) against numpy's stable argsort: NaN above every
number, -0 equal to 0, equal values in index order, every dtype, every dim, strided inputs."""

from __future__ import annotations

import ferrograd as fg
import numpy as np
import pytest
from ferrograd.autograd import gradcheck

DTYPES = ["float32", "float64", "float16", "int64", "int32", "int16", "int8", "uint8", "bool"]


def _data(shape, dtype, seed=0):
    rng = np.random.default_rng(seed)
    if dtype == "bool":
        return rng.random(shape) < 0.5
    if dtype.startswith("float"):
        x = rng.integers(-4, 4, size=shape).astype(dtype)  # many ties
        x.flat[::7] = np.nan
        x.flat[::11] = -0.0
        x.flat[::13] = -np.inf
        return x
    info = np.iinfo(dtype)
    return rng.integers(max(info.min, -100), min(info.max, 100), size=shape, endpoint=True).astype(dtype)


def _order(x: np.ndarray, axis: int, descending: bool) -> np.ndarray:
    """Stable order as PyTorch's: NaN greatest (last ascending, first descending), -0 == 0."""
    if x.size == 0:
        return np.zeros(x.shape, np.int64)
    nan = np.isnan(x) if x.dtype.kind == "f" else np.zeros(x.shape, bool)
    key = np.where(nan, 0.0, x.astype(np.float64)) + 0.0  # + 0.0 folds -0 into 0
    if descending:
        key, nan = -key, ~nan  # NaN first
    # By (NaN rank, key, index): numpy's lexsort sorts by its last key first.
    idx = np.broadcast_to(np.arange(x.shape[axis]).reshape([-1 if d == axis % x.ndim else 1 for d in range(x.ndim)]), x.shape)
    moved = [np.moveaxis(a, axis, -1) for a in (idx, key, nan)]
    flat = [a.reshape(-1, a.shape[-1]) for a in moved]
    out = np.stack([np.lexsort((i, k, r)) for i, k, r in zip(*flat)])
    return np.moveaxis(out.reshape(moved[0].shape), -1, axis)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,dim", [((40,), 0), ((6, 33), 1), ((33, 6), 0), ((3, 5, 7), 1), ((2, 0, 3), 1)])
@pytest.mark.parametrize("descending", [False, True])
def test_sort_is_stable_with_pytorchs_order(dtype, shape, dim, descending):
    x = _data(shape, dtype)
    want = _order(x, dim, descending)
    t = fg.from_numpy(x)
    values, indices = fg.sort(t, dim, descending=descending)
    assert indices.dtype == fg.int64 and values.dtype == t.dtype and values.shape == t.shape
    np.testing.assert_array_equal(indices.numpy(), want)
    np.testing.assert_array_equal(values.numpy(), np.take_along_axis(x, want, dim))
    np.testing.assert_array_equal(fg.argsort(t, dim, descending=descending).numpy(), want)


@pytest.mark.parametrize("dtype", ["float32", "float64", "int64", "uint8"])
@pytest.mark.parametrize("k", [0, 1, 3, 40])
@pytest.mark.parametrize("largest", [True, False])
def test_topk_is_the_sorted_prefix(dtype, k, largest):
    # Short and long lines: the streaming selection (k * 16 <= n) and the select-then-sort path.
    for shape, dim in (((5, 40), 1), ((700, 3), 0), ((2, 3, 900), -1)):
        x = _data(shape, dtype, seed=k)
        if k > x.shape[dim]:
            continue
        want = np.take(_order(x, dim, largest), np.arange(k), axis=dim)
        values, indices = fg.from_numpy(x).topk(k, dim, largest=largest)
        np.testing.assert_array_equal(indices.numpy(), want)
        np.testing.assert_array_equal(values.numpy(), np.take_along_axis(x, want, dim))


@pytest.mark.parametrize("dtype", ["float32", "float16", "int32", "int8", "float64"])
@pytest.mark.parametrize("largest", [True, False])
def test_topk_on_long_lines_every_order(dtype, largest):
    # Lines of 2048 (and 2050: a tail shorter than the 16 compared at once) that are random,
    # rising, falling, constant (every key ties the k-th: none may enter after the first k)
    # or hold the best values at the very end, through the blocks that skip whole runs.
    rng = np.random.default_rng(3)
    for n in (2048, 2050):
        if dtype.startswith("float"):
            rand = rng.standard_normal(n)
        else:
            info = np.iinfo(dtype)
            rand = rng.integers(info.min, info.max, n, endpoint=True)
        rising = np.linspace(-100, 100, n) if dtype.startswith("float") else np.arange(n) % 120 - 60
        late = np.zeros(n)
        late[-5:] = [9, -9, 7, -7, 8]
        lines = np.stack([rand, rising, rising[::-1], np.full(n, 3), late]).astype(dtype)
        if dtype.startswith("float"):
            lines[0, 100] = np.nan
            lines[0, 200] = -0.0
        want = _order(lines, 1, largest)[:, :10]
        values, indices = fg.from_numpy(lines).topk(10, 1, largest=largest)
        np.testing.assert_array_equal(indices.numpy(), want)
        np.testing.assert_array_equal(values.numpy(), np.take_along_axis(lines, want, 1))
        # Along dim 0 of the transpose: the same lines read with a stride.
        np.testing.assert_array_equal(fg.from_numpy(np.ascontiguousarray(lines.T)).topk(10, 0, largest=largest)[1].numpy(), want.T)


def test_strided_input_and_zero_dim():
    x = _data((30, 8), "float32")
    t = fg.from_numpy(np.ascontiguousarray(x.T)).t()  # a transposed view
    np.testing.assert_array_equal(fg.sort(t, 0)[1].numpy(), _order(x, 0, False))
    v, i = fg.sort(fg.tensor(2.5))
    assert v.item() == 2.5 and i.item() == 0 and i.shape == ()
    with pytest.raises(RuntimeError, match="out of range"):
        fg.ones(3, 4).topk(5, 1)


def test_gradients_reach_the_selected_elements():
    rng = np.random.default_rng(0)
    t = fg.tensor(rng.standard_normal((4, 9)), requires_grad=True)
    assert gradcheck(lambda a: a.topk(3, 1).values, (t,))
    assert gradcheck(lambda a: a.sort(0, descending=True).values, (t,))
    assert t.topk(2).values.grad_fn.name() == "TopkBackward0"
    assert t.sort().values.grad_fn.name() == "SortBackward0"
    assert not t.argsort().requires_grad


@pytest.mark.parametrize("dtype", ["float32", "float64", "int64", "int32", "uint8", "bool"])
@pytest.mark.parametrize("shape", [(4096,), (16, 33), (0,), (1,)])
def test_unique_matches_numpy(dtype, shape):
    rng = np.random.default_rng(3)
    a = rng.integers(0, 40, shape)
    a = (a > 20) if dtype == "bool" else a.astype(dtype)
    u, inv, cnt = fg.tensor(a).unique(return_inverse=True, return_counts=True)
    want_u, want_inv, want_cnt = np.unique(a.reshape(-1), return_inverse=True, return_counts=True)
    np.testing.assert_array_equal(u.numpy(), want_u)
    np.testing.assert_array_equal(inv.numpy(), want_inv.reshape(shape))
    np.testing.assert_array_equal(cnt.numpy(), want_cnt)
    assert u.dtype == getattr(fg, dtype) and inv.dtype == fg.int64 and cnt.dtype == fg.int64
    np.testing.assert_array_equal(fg.tensor(a).unique().numpy(), want_u)


def test_unique_keeps_every_nan_and_merges_signed_zeros():
    # PyTorch's result (numpy merges NaNs unless told equal_nan=False).
    nan = float("nan")
    u, inv, cnt = fg.tensor([3.0, nan, -0.0, 0.0, 1.0, nan, 3.0, -1.0]).unique(return_inverse=True, return_counts=True)
    np.testing.assert_array_equal(u.numpy(), [-1.0, 0.0, 1.0, 3.0, nan, nan])
    assert np.signbit(u.numpy()[1])  # the first of the tied zeros in input order
    assert inv.tolist() == [3, 4, 1, 1, 2, 5, 3, 0] and cnt.tolist() == [1, 2, 1, 2, 1, 1]
    t = fg.tensor(3).unique(return_inverse=True)
    assert t[0].tolist() == [3] and tuple(t[1].shape) == ()
