"""The oracle table: one row per op, read by tests/test_op_table.py and tests/golden/make_op_golden.py.

A row says how to call the op once, in the API ferrograd and PyTorch share, and what to check it
against. test_op_table.py then runs, from the same row:

* forward vs `ref`, a numpy reference (float64 inputs, and float32 ones at a looser tolerance);
* float64 gradcheck (autograd vs central differences) w.r.t. every input with grad=True;
* forward, output dtypes and the gradient of sum(out * W) vs PyTorch's, stored in
  tests/golden/op_table_golden.json (inputs included) by tests/golden/make_op_golden.py.

Adding an op is one row (and a golden regeneration):

    Op("log1p", lambda L, x: L.log1p(x), [In((3, 4), "pos")], ref=np.log1p),

`fn(L, *inputs)` gets L = ferrograd or torch and the inputs as tensors (float kinds are float64
and require grad unless `grad=False`). Input kinds are listed in `KINDS`; pick one that keeps
finite differences away from kinks and ties ("distinct" for max-like ops, "nz" for abs, "pos"
for log). Set `grad=False` for ops PyTorch does not differentiate (their outputs are compared
forward only), `golden=False` for ops torch lacks. Then, with PyTorch installed:

    PYTHONPATH=python /tmp/torchvenv/bin/python tests/golden/make_op_golden.py

The golden test fails for a row missing from the JSON, so a new row cannot silently skip it.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

# ----------------------------------------------------------------------------- rows

FLOAT_KINDS = {"u", "pos", "nz", "distinct", "ties", "unit", "withnan", "wellcond", "big", "grid"}


@dataclass(frozen=True)
class In:
    """One input: a shape and a kind (see KINDS); `high` bounds index kinds."""

    shape: tuple
    kind: str = "u"
    high: int = 0
    grad: bool | None = None  # None: True for float kinds

    @property
    def requires_grad(self) -> bool:
        return self.kind in FLOAT_KINDS if self.grad is None else self.grad


@dataclass(frozen=True)
class Op:
    id: str
    fn: Callable  # fn(L, *tensors)
    inputs: list
    ref: Callable | None = None  # numpy: ref(*arrays) -> array, number or tuple of them
    grad: bool = True  # float64 gradcheck of the inputs with requires_grad
    golden: bool = True  # compared with PyTorch through the golden file
    f32: bool = True  # also compare the forward on float32 inputs with ref
    atol: float = 1e-10
    note: str = field(default="", compare=False)


def _rng(op_id: str) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32(op_id.encode()))


def _distinct(r, shape, low=-2.0, high=2.0):
    n = int(np.prod(shape))
    return r.permutation(np.linspace(low, high, n) if n > 1 else np.array([0.37] * n)).reshape(shape)


KINDS: dict[str, Callable] = {
    "u": lambda r, s, h: r.uniform(-2, 2, s),  # uniform [-2, 2)
    "pos": lambda r, s, h: r.uniform(0.5, 2, s),  # positive, away from 0
    "nz": lambda r, s, h: r.uniform(0.2, 2, s) * r.choice([-1.0, 1.0], s),  # |x| >= 0.2
    "distinct": lambda r, s, h: _distinct(r, s),  # no two equal, >= 4 / n apart: no ties
    "ties": lambda r, s, h: r.choice([-1.0, 0.0, 0.5, 1.0], s),  # many ties (golden only)
    "grid": lambda r, s, h: r.integers(-4, 5, s) / 4.0,  # multiples of 1/4 in [-1, 1]: on bin edges
    "unit": lambda r, s, h: r.uniform(-0.9, 0.9, s),
    "big": lambda r, s, h: r.uniform(-50, 50, s),
    "withnan": lambda r, s, h: np.where(r.uniform(0, 1, s) < 0.3, np.nan, r.uniform(-2, 2, s)),
    "wellcond": lambda r, s, h: r.uniform(-1, 1, s) + np.eye(s[-1]) * s[-1],  # invertible
    "idx": lambda r, s, h: r.integers(0, h, s),  # int64 indices in [0, high)
    "negidx": lambda r, s, h: r.integers(-h, h, s),  # int64 in [-high, high)
    "perm": lambda r, s, h: np.stack([r.permutation(h)[: s[-1]] for _ in range(int(np.prod(s[:-1])))]).reshape(s),
    "int": lambda r, s, h: r.integers(-6, 7, s),
    "count": lambda r, s, h: r.integers(0, max(h, 1), s),
    "mask": lambda r, s, h: r.uniform(0, 1, s) < 0.5,
}


def make_inputs(op: Op) -> list[np.ndarray]:
    """The row's inputs: float64, int64 or bool numpy arrays, the same on every run."""
    r = _rng(op.id)
    out = []
    for i in op.inputs:
        a = np.asarray(KINDS[i.kind](r, tuple(i.shape), i.high))
        if i.kind in FLOAT_KINDS:
            a = np.round(a.astype(np.float64), 6) if i.kind not in ("distinct", "wellcond") else a.astype(np.float64)
        elif a.dtype != bool:
            a = a.astype(np.int64)
        out.append(a)
    return out


# ----------------------------------------------------------------------------- numpy references


def _scatter_ref(x, dim, idx, src, ufunc=None, include_self=True, mean=False):
    out = x.copy()
    coords = list(np.indices(idx.shape))
    coords[dim] = idx
    src = src[tuple(slice(0, s) for s in idx.shape)]
    if ufunc is None:
        out[tuple(coords)] = src
        return out
    touched = np.zeros(x.shape, bool)
    touched[tuple(coords)] = True
    acc = out.copy()
    if not include_self:
        acc[touched] = {np.add: 0.0, np.multiply: 1.0, np.maximum: -np.inf, np.minimum: np.inf}[ufunc]
    ufunc.at(acc, tuple(coords), src)
    if mean:
        cnt = np.zeros(x.shape)
        np.add.at(cnt, tuple(coords), 1.0)
        acc = np.where(touched, acc / (cnt + (1 if include_self else 0)), acc)
    return acc


def _index_add_ref(x, dim, idx, src, alpha=1.0):
    out = np.moveaxis(x.copy(), dim, 0)
    np.add.at(out, idx, alpha * np.moveaxis(src, dim, 0))
    return np.moveaxis(out, 0, dim)


def _index_copy_ref(x, i, s):
    out = x.copy()
    out[i] = s
    return out


def _index_put_ref(x, i, j, v):
    out = x.copy()
    out[i, j] = v
    return out


def _median_ref(a, axis):
    s = np.sort(a, axis=axis)
    return np.take(s, (a.shape[axis] - 1) // 2, axis=axis)


def _mode_ref(a):
    vals, counts = np.unique(a, return_counts=True)
    v = vals[np.argmax(counts)]
    return v, np.flatnonzero(a == v).max()


def _cummax_ref(a, axis):
    return np.maximum.accumulate(a, axis=axis)


def _logcumsumexp_ref(a, axis):
    return np.logaddexp.accumulate(a, axis=axis)


def _norm_ref(a, p, axis=None):
    a = np.abs(a)
    if p == math.inf:
        return a.max(axis=axis)
    return (a**p).sum(axis=axis) ** (1 / p)


def _renorm_ref(a, p, dim, maxnorm):
    red = tuple(d for d in range(a.ndim) if d != dim)
    n = (np.abs(a) ** p).sum(axis=red, keepdims=True) ** (1 / p)
    return a * np.where(n > maxnorm, maxnorm / (n + 1e-7), 1.0)


def _unfold_ref(a, dim, size, step):
    n = (a.shape[dim] - size) // step + 1
    win = np.stack([np.take(a, range(i * step, i * step + size), axis=dim) for i in range(n)], dim)
    return np.moveaxis(win, dim + 1, -1)


def _lerp_ref(a, b, w):
    return a + w * (b - a)


def _cov_ref(x, correction=1):
    return np.cov(x, ddof=correction)


# ----------------------------------------------------------------------------- the table

D = "distinct"

INDEXING = [
    Op("gather", lambda L, x, i: x.gather(1, i), [In((3, 4)), In((3, 5), "idx", 4)], lambda x, i: np.take_along_axis(x, i, 1)),
    Op("gather_dim0", lambda L, x, i: L.gather(x, 0, i), [In((3, 4)), In((2, 4), "idx", 3)],
       lambda x, i: np.take_along_axis(x, i, 0)),
    Op("take_along_dim", lambda L, x, i: L.take_along_dim(x, i, 1), [In((2, 5)), In((2, 3), "idx", 5)],
       lambda x, i: np.take_along_axis(x, i, 1)),
    Op("take", lambda L, x, i: x.take(i), [In((3, 4)), In((2, 3), "idx", 12)], lambda x, i: np.take(x, i)),
    Op("scatter", lambda L, x, i, s: x.scatter(1, i, s), [In((3, 5)), In((3, 2), "perm", 5), In((3, 2))],
       lambda x, i, s: _scatter_ref(x, 1, i, s)),
    Op("scatter_value", lambda L, x, i: x.scatter(0, i, 2.5), [In((4, 3)), In((2, 3), "perm", 4)],
       lambda x, i: _scatter_ref(x, 0, i, np.full(i.shape, 2.5))),
    Op("scatter_add", lambda L, x, i, s: x.scatter_add(1, i, s), [In((3, 4)), In((3, 6), "idx", 4), In((3, 6))],
       lambda x, i, s: _scatter_ref(x, 1, i, s, np.add)),
    Op("scatter_add_fn", lambda L, x, i, s: L.scatter_add(x, 0, i, s), [In((2, 3)), In((5, 3), "idx", 2), In((5, 3))],
       lambda x, i, s: _scatter_ref(x, 0, i, s, np.add)),
    Op("scatter_reduce_sum", lambda L, x, i, s: x.scatter_reduce(0, i, s, "sum"), [In((4,)), In((7,), "idx", 4), In((7,))],
       lambda x, i, s: _scatter_ref(x, 0, i, s, np.add)),
    Op("scatter_reduce_sum_noself", lambda L, x, i, s: x.scatter_reduce(0, i, s, "sum", include_self=False),
       [In((4,)), In((7,), "idx", 4), In((7,))], lambda x, i, s: _scatter_ref(x, 0, i, s, np.add, False)),
    Op("scatter_reduce_prod", lambda L, x, i, s: x.scatter_reduce(0, i, s, "prod"), [In((4,), "nz"), In((7,), "idx", 4), In((7,), "nz")],
       lambda x, i, s: _scatter_ref(x, 0, i, s, np.multiply)),
    Op("scatter_reduce_mean", lambda L, x, i, s: x.scatter_reduce(1, i, s, "mean"), [In((2, 4)), In((2, 6), "idx", 4), In((2, 6))],
       lambda x, i, s: _scatter_ref(x, 1, i, s, np.add, mean=True)),
    Op("scatter_reduce_mean_noself", lambda L, x, i, s: x.scatter_reduce(1, i, s, "mean", include_self=False),
       [In((2, 4)), In((2, 6), "idx", 4), In((2, 6))], lambda x, i, s: _scatter_ref(x, 1, i, s, np.add, False, True)),
    Op("scatter_reduce_amax", lambda L, x, i, s: x.scatter_reduce(0, i, s, "amax"), [In((4,), D), In((9,), "idx", 4), In((9,), D)],
       lambda x, i, s: _scatter_ref(x, 0, i, s, np.maximum)),
    Op("scatter_reduce_amin_noself", lambda L, x, i, s: x.scatter_reduce(0, i, s, "amin", include_self=False),
       [In((4,), D), In((9,), "idx", 4), In((9,), D)], lambda x, i, s: _scatter_ref(x, 0, i, s, np.minimum, False)),
    Op("scatter_reduce_amax_ties", lambda L, x, i, s: x.scatter_reduce(0, i, s, "amax"),
       [In((3,), "ties"), In((8,), "idx", 3), In((8,), "ties")], lambda x, i, s: _scatter_ref(x, 0, i, s, np.maximum), grad=False),
    Op("scatter_reduce_amin_ties_noself", lambda L, x, i, s: x.scatter_reduce(0, i, s, "amin", include_self=False),
       [In((3,), "ties"), In((8,), "idx", 3), In((8,), "ties")], lambda x, i, s: _scatter_ref(x, 0, i, s, np.minimum, False),
       grad=False, note="PyTorch counts self among the ties even when it is not included"),
    Op("index_select", lambda L, x, i: x.index_select(1, i), [In((3, 4)), In((6,), "idx", 4)], lambda x, i: np.take(x, i, 1)),
    Op("index_select_fn", lambda L, x, i: L.index_select(x, 0, i), [In((3, 2)), In((4,), "idx", 3)], lambda x, i: np.take(x, i, 0)),
    Op("index_add", lambda L, x, i, s: x.index_add(0, i, s), [In((3, 4)), In((5,), "idx", 3), In((5, 4))],
       lambda x, i, s: _index_add_ref(x, 0, i, s)),
    Op("index_add_alpha", lambda L, x, i, s: x.index_add(1, i, s, alpha=-1.5), [In((2, 3)), In((4,), "idx", 3), In((2, 4))],
       lambda x, i, s: _index_add_ref(x, 1, i, s, -1.5)),
    Op("index_copy", lambda L, x, i, s: x.index_copy(0, i, s), [In((5, 2)), In((3,), "perm", 5), In((3, 2))], _index_copy_ref),
    Op("index_fill", lambda L, x, i: x.index_fill(1, i, -3.0), [In((2, 4)), In((3,), "idx", 4)],
       lambda x, i: np.where(np.isin(np.arange(4), i)[None, :], -3.0, x)),
    Op("index_put", lambda L, x, i, j, v: x.index_put((i, j), v), [In((3, 4)), In((2,), "perm", 3), In((2,), "perm", 4), In((2,))],
       _index_put_ref),
    Op("index_put_accumulate", lambda L, x, i, v: x.index_put((i,), v, accumulate=True), [In((4, 2)), In((6,), "idx", 4), In((6, 2))],
       lambda x, i, v: _index_add_ref(x, 0, i, v)),
    Op("put_accumulate", lambda L, x, i, s: x.put(i, s, accumulate=True), [In((2, 3)), In((8,), "idx", 6), In((8,))],
       lambda x, i, s: _index_add_ref(x.reshape(-1), 0, i, s).reshape(2, 3)),
    Op("masked_fill", lambda L, x, m: x.masked_fill(m, 0.5), [In((3, 4)), In((4,), "mask")], lambda x, m: np.where(m, 0.5, x)),
    Op("masked_fill_tensor_value", lambda L, x, m, v: x.masked_fill(m, v), [In((3, 4)), In((3, 4), "mask"), In(())],
       lambda x, m, v: np.where(m, v, x)),
    Op("masked_select", lambda L, x, m: x.masked_select(m), [In((3, 4)), In((3, 1), "mask")],
       lambda x, m: x[np.broadcast_to(m, x.shape)]),
    Op("masked_scatter", lambda L, x, m, s: x.masked_scatter(m, s), [In((3, 4)), In((3, 4), "mask"), In((12,))], None),
    Op("nonzero", lambda L, x: x.nonzero(), [In((3, 4), "mask")], lambda x: np.argwhere(x), grad=False),
    Op("argwhere", lambda L, x: L.argwhere(x), [In((2, 3), "int")], lambda x: np.argwhere(x), grad=False),
]

SORTING = [
    Op("sort", lambda L, x: tuple(x.sort(1)), [In((3, 5), D)], lambda x: (np.sort(x, 1), np.argsort(x, 1))),
    Op("sort_descending_dim0", lambda L, x: tuple(L.sort(x, 0, descending=True)), [In((4, 3), D)],
       lambda x: (-np.sort(-x, 0), np.argsort(-x, 0))),
    Op("sort_stable_ties", lambda L, x: tuple(x.sort(stable=True)), [In((2, 7), "ties")],
       lambda x: (np.sort(x, -1), np.argsort(x, -1, kind="stable")), grad=False),
    Op("argsort", lambda L, x: x.argsort(descending=True), [In((3, 4), D)], lambda x: np.argsort(-x, -1)),
    Op("msort", lambda L, x: L.msort(x), [In((4, 2), D)], lambda x: np.sort(x, 0)),
    Op("topk", lambda L, x: tuple(x.topk(3)), [In((2, 6), D)],
       lambda x: (-np.sort(-x, 1)[:, :3], np.argsort(-x, 1)[:, :3])),
    Op("topk_smallest_dim0", lambda L, x: tuple(x.topk(2, dim=0, largest=False)), [In((5, 3), D)],
       lambda x: (np.sort(x, 0)[:2], np.argsort(x, 0)[:2])),
    Op("kthvalue", lambda L, x: tuple(x.kthvalue(2, 1)), [In((3, 5), D)],
       lambda x: (np.sort(x, 1)[:, 1], np.argsort(x, 1)[:, 1])),
    Op("median_dim", lambda L, x: tuple(x.median(1, keepdim=True)), [In((3, 4), D)], None),
    Op("median_all", lambda L, x: x.median(), [In((3, 5), D)], lambda x: _median_ref(x.reshape(-1), 0)),
    Op("median_all_ties", lambda L, x: x.median(), [In((9,), "ties")], lambda x: _median_ref(x, 0)),
    Op("nanmedian_all", lambda L, x: x.nanmedian(), [In((10,), "withnan")], lambda x: _median_ref(x[~np.isnan(x)], 0)),
    Op("nanmedian_dim", lambda L, x: L.nanmedian(x, 0).values, [In((5, 3), "withnan")], None, golden=True),
    Op("mode", lambda L, x: tuple(x.mode()), [In((12,), "count", 4)], _mode_ref, grad=False),
    Op("quantile", lambda L, x: x.quantile(0.3), [In((7,), D)], lambda x: np.quantile(x, 0.3)),
    Op("quantile_dim_q_tensor", lambda L, x: x.quantile(L.tensor([0.1, 0.5, 0.9], dtype=x.dtype), dim=1, keepdim=True),
       [In((3, 6), D)], lambda x: np.quantile(x, [0.1, 0.5, 0.9], axis=1, keepdims=True)),
    Op("quantile_lower", lambda L, x: L.quantile(x, 0.6, dim=0, interpolation="lower"), [In((6, 2), D)],
       lambda x: np.quantile(x, 0.6, axis=0, method="lower")),
    Op("quantile_midpoint", lambda L, x: x.quantile(0.45, interpolation="midpoint"), [In((8,), D)],
       lambda x: np.quantile(x, 0.45, method="midpoint")),
    Op("quantile_nearest", lambda L, x: x.quantile(0.5, interpolation="nearest"), [In((6,), D)],
       lambda x: np.quantile(x, 0.5, method="nearest")),
    Op("nanquantile", lambda L, x: x.nanquantile(0.75, dim=0), [In((6, 3), "withnan")], lambda x: np.nanquantile(x, 0.75, axis=0)),
    Op("unique", lambda L, x: L.unique(x, return_inverse=True, return_counts=True), [In((10,), "count", 5)],
       lambda x: np.unique(x, return_inverse=True, return_counts=True), grad=False),
    Op("unique_dim", lambda L, x: x.unique(dim=0), [In((6, 2), "count", 2)], lambda x: np.unique(x, axis=0), grad=False),
    Op("unique_consecutive", lambda L, x: tuple(L.unique_consecutive(x, return_counts=True)), [In((10,), "count", 2)],
       None, grad=False),
    Op("cummax", lambda L, x: tuple(x.cummax(1)), [In((2, 6), D)], None),
    Op("cummax_values", lambda L, x: x.cummax(0).values, [In((6, 2), D)], lambda x: _cummax_ref(x, 0)),
    Op("cummin_ties", lambda L, x: tuple(x.cummin(0)), [In((7,), "ties")], None, grad=False),
]

REDUCTIONS = [
    Op("amax", lambda L, x: x.amax(1), [In((3, 4), D)], lambda x: x.max(1)),
    Op("amax_dims_keepdim", lambda L, x: x.amax((0, 2), keepdim=True), [In((2, 3, 2), D)], lambda x: x.max((0, 2), keepdims=True)),
    Op("amax_all_ties", lambda L, x: x.amax(), [In((3, 4), "ties")], lambda x: x.max(), grad=False),
    Op("amin_ties_dim", lambda L, x: L.amin(x, 0), [In((5, 3), "ties")], lambda x: x.min(0), grad=False),
    Op("aminmax", lambda L, x: tuple(x.aminmax(dim=1)), [In((3, 4), D)], lambda x: (x.min(1), x.max(1))),
    Op("count_nonzero", lambda L, x: L.count_nonzero(x, 1), [In((3, 5), "int")], lambda x: np.count_nonzero(x, 1), grad=False),
    Op("nansum", lambda L, x: x.nansum(0), [In((4, 3), "withnan")], lambda x: np.nansum(x, 0)),
    Op("nanmean", lambda L, x: x.nanmean(1, keepdim=True), [In((3, 5), "withnan")], lambda x: np.nanmean(x, 1, keepdims=True)),
    Op("var_mean", lambda L, x: L.var_mean(x, 1), [In((3, 5))], lambda x: (x.var(1, ddof=1), x.mean(1))),
    Op("std_mean_correction0", lambda L, x: L.std_mean(x, dim=0, correction=0), [In((4, 3))], lambda x: (x.std(0), x.mean(0))),
    Op("logcumsumexp", lambda L, x: x.logcumsumexp(1), [In((2, 5), "big")], lambda x: _logcumsumexp_ref(x, 1)),
    Op("diff", lambda L, x: x.diff(), [In((3, 5))], lambda x: np.diff(x)),
    Op("diff_n2_prepend", lambda L, x, p: L.diff(x, n=2, dim=0, prepend=p), [In((4, 2)), In((1, 2))],
       lambda x, p: np.diff(x, n=2, axis=0, prepend=p)),
    Op("norm", lambda L, x: x.norm(), [In((3, 4))], lambda x: np.linalg.norm(x)),
    Op("norm_p1_dim", lambda L, x: x.norm(1, dim=1), [In((3, 4), "nz")], lambda x: np.abs(x).sum(1)),
    Op("norm_p3_keepdim", lambda L, x: x.norm(3, dim=0, keepdim=True), [In((3, 4), "nz")],
       lambda x: _norm_ref(x, 3, 0)[None]),
    Op("norm_inf", lambda L, x: x.norm(float("inf")), [In((3, 4), D)], lambda x: np.abs(x).max()),
    Op("norm_fro_dims", lambda L, x: L.norm(x, "fro", dim=(1, 2)), [In((2, 3, 2))], lambda x: np.sqrt((x * x).sum((1, 2)))),
    Op("norm_zero_vector_grad", lambda L, x: (x * 0).norm(), [In((3,))], lambda x: 0.0, golden=True,
       note="the gradient at a zero norm is 0, not NaN"),
    Op("dist", lambda L, a, b: L.dist(a, b, 3), [In((3, 2)), In((2,))], lambda a, b: _norm_ref(a - b, 3)),
    Op("renorm", lambda L, x: x.renorm(2, 0, 1.0), [In((3, 4))], lambda x: _renorm_ref(x, 2, 0, 1.0)),
]

SHAPES = [
    Op("repeat", lambda L, x: x.repeat(2, 1, 3), [In((2, 3))], lambda x: np.tile(x, (2, 1, 3))),
    Op("tile", lambda L, x: L.tile(x, (2,)), [In((2, 3))], lambda x: np.tile(x, (1, 2))),
    Op("repeat_interleave", lambda L, x: x.repeat_interleave(2, dim=1), [In((2, 3))], lambda x: np.repeat(x, 2, 1)),
    Op("repeat_interleave_tensor", lambda L, x, r: x.repeat_interleave(r, dim=0), [In((3, 2)), In((3,), "count", 3)],
       lambda x, r: np.repeat(x, r, 0)),
    Op("repeat_interleave_flat", lambda L, x: L.repeat_interleave(x, 3), [In((2, 2))], lambda x: np.repeat(x, 3)),
    Op("roll", lambda L, x: x.roll(1, 1), [In((3, 4))], lambda x: np.roll(x, 1, 1)),
    Op("roll_dims", lambda L, x: L.roll(x, (2, -1), (0, 1)), [In((3, 4))], lambda x: np.roll(x, (2, -1), (0, 1))),
    Op("roll_flat", lambda L, x: x.roll(-5), [In((3, 4))], lambda x: np.roll(x, -5)),
    Op("flip", lambda L, x: x.flip((0, 2)), [In((2, 3, 2))], lambda x: np.flip(x, (0, 2))),
    Op("fliplr", lambda L, x: L.fliplr(x), [In((2, 3))], np.fliplr),
    Op("flipud", lambda L, x: L.flipud(x), [In((3, 2))], np.flipud),
    Op("rot90", lambda L, x: x.rot90(), [In((2, 3))], np.rot90),
    Op("rot90_k3_dims", lambda L, x: x.rot90(3, (1, 2)), [In((2, 3, 4))], lambda x: np.rot90(x, 3, (1, 2))),
    Op("tril", lambda L, x: x.tril(), [In((4, 3))], np.tril),
    Op("tril_batched_k", lambda L, x: L.tril(x, -1), [In((2, 3, 3))], lambda x: np.tril(x, -1)),
    Op("triu_k1", lambda L, x: x.triu(1), [In((3, 4))], lambda x: np.triu(x, 1)),
    Op("diagonal", lambda L, x: x.diagonal(), [In((3, 4))], np.diagonal),
    Op("diagonal_offset_dims", lambda L, x: x.diagonal(1, 0, 2), [In((3, 2, 4))], lambda x: np.diagonal(x, 1, 0, 2)),
    Op("diag_vector", lambda L, x: L.diag(x, -1), [In((3,))], lambda x: np.diag(x, -1)),
    Op("diag_matrix", lambda L, x: x.diag(1), [In((3, 4))], lambda x: np.diag(x, 1)),
    Op("diag_embed", lambda L, x: L.diag_embed(x), [In((2, 3))], lambda x: np.stack([np.diag(r) for r in x])),
    Op("diagflat", lambda L, x: L.diagflat(x), [In((2, 2))], np.diagflat),
    Op("diagonal_scatter", lambda L, x, s: L.diagonal_scatter(x, s, 1), [In((3, 4)), In((3,))], None),
    Op("select_scatter", lambda L, x, s: L.select_scatter(x, s, 1, 2), [In((3, 4)), In((3,))], None),
    Op("slice_scatter", lambda L, x, s: L.slice_scatter(x, s, 1, 0, 4, 2), [In((3, 4)), In((3, 2))], None),
    Op("movedim", lambda L, x: x.movedim(0, -1), [In((2, 3, 4))], lambda x: np.moveaxis(x, 0, -1)),
    Op("moveaxis_two", lambda L, x: L.moveaxis(x, (0, 1), (2, 0)), [In((2, 3, 4))], lambda x: np.moveaxis(x, (0, 1), (2, 0))),
    Op("swapaxes", lambda L, x: x.swapaxes(0, 2), [In((2, 3, 4))], lambda x: np.swapaxes(x, 0, 2)),
    Op("unflatten", lambda L, x: x.unflatten(1, (2, -1)), [In((3, 6))], lambda x: x.reshape(3, 2, 3)),
    Op("ravel", lambda L, x: x.t().ravel(), [In((3, 4))], lambda x: x.T.ravel()),
    Op("broadcast_to", lambda L, x: x.broadcast_to((2, 3, 4)), [In((3, 1))], lambda x: np.broadcast_to(x, (2, 3, 4))),
    Op("unfold", lambda L, x: x.unfold(1, 3, 2), [In((2, 7))], lambda x: _unfold_ref(x, 1, 3, 2)),
    Op("tensor_split_sections", lambda L, x: x.tensor_split(3, 1), [In((2, 7))], lambda x: tuple(np.array_split(x, 3, 1))),
    Op("tensor_split_indices", lambda L, x: L.tensor_split(x, (1, 4), 0), [In((6, 2))], lambda x: tuple(np.split(x, (1, 4), 0))),
    Op("hsplit", lambda L, x: L.hsplit(x, 2), [In((3, 4))], lambda x: tuple(np.hsplit(x, 2))),
    Op("vsplit", lambda L, x: L.vsplit(x, [1]), [In((3, 4))], lambda x: tuple(np.vsplit(x, [1]))),
    Op("split_with_sizes", lambda L, x: x.split_with_sizes([1, 3], 1), [In((2, 4))], lambda x: tuple(np.split(x, [1], 1))),
    Op("sum_to_size", lambda L, x: x.sum_to_size(3, 1), [In((2, 3, 4))], lambda x: x.sum((0, 2))[:, None]),
    Op("narrow_copy", lambda L, x: x.narrow_copy(1, 1, 2), [In((3, 4))], lambda x: x[:, 1:3]),
    Op("meshgrid_xy", lambda L, a, b: L.meshgrid(a, b, indexing="xy"), [In((3,)), In((2,))],
       lambda a, b: tuple(np.meshgrid(a, b, indexing="xy"))),
    Op("atleast_3d", lambda L, x: L.atleast_3d(x), [In((4,))], np.atleast_3d),
    Op("broadcast_tensors", lambda L, a, b: L.broadcast_tensors(a, b), [In((3, 1)), In((4,))],
       lambda a, b: tuple(np.broadcast_arrays(a, b))),
]

PRODUCTS = [
    Op("dot", lambda L, a, b: a.dot(b), [In((5,)), In((5,))], np.dot),
    Op("vdot", lambda L, a, b: L.vdot(a, b), [In((4,)), In((4,))], np.vdot),
    Op("inner", lambda L, a, b: L.inner(a, b), [In((2, 3)), In((4, 3))], np.inner),
    Op("outer", lambda L, a, b: L.outer(a, b), [In((3,)), In((4,))], np.outer),
    Op("ger", lambda L, a, b: a.ger(b), [In((2,)), In((3,))], np.outer),
    Op("kron", lambda L, a, b: L.kron(a, b), [In((2, 3)), In((2, 2))], np.kron),
    Op("kron_mixed_rank", lambda L, a, b: L.kron(a, b), [In((3,)), In((2, 2))], np.kron),
    Op("cross", lambda L, a, b: L.cross(a, b, dim=1), [In((4, 3)), In((4, 3))], lambda a, b: np.cross(a, b, axis=1)),
    Op("mv", lambda L, m, v: m.mv(v), [In((3, 4)), In((4,))], np.dot),
    Op("bmm", lambda L, a, b: a.bmm(b), [In((2, 3, 4)), In((2, 4, 2))], np.matmul),
    Op("addmm", lambda L, c, a, b: c.addmm(a, b, beta=0.5, alpha=2.0), [In((3,)), In((2, 4)), In((4, 3))],
       lambda c, a, b: 0.5 * c + 2.0 * a @ b),
    Op("addmm_beta0", lambda L, c, a, b: L.addmm(c, a, b, beta=0), [In((2, 3)), In((2, 4)), In((4, 3))], lambda c, a, b: a @ b),
    Op("addmv", lambda L, c, m, v: c.addmv(m, v, alpha=-1), [In((3,)), In((3, 2)), In((2,))], lambda c, m, v: c - m @ v),
    Op("addr", lambda L, c, a, b: c.addr(a, b), [In((3, 2)), In((3,)), In((2,))], lambda c, a, b: c + np.outer(a, b)),
    Op("baddbmm", lambda L, c, a, b: c.baddbmm(a, b, beta=2), [In((2, 3, 2)), In((2, 3, 4)), In((2, 4, 2))],
       lambda c, a, b: 2 * c + a @ b),
    Op("addbmm", lambda L, c, a, b: L.addbmm(c, a, b), [In((3, 2)), In((4, 3, 2)), In((4, 2, 2))],
       lambda c, a, b: c + (a @ b).sum(0)),
    Op("trace", lambda L, x: x.trace(), [In((3, 4))], np.trace),
    Op("matrix_power", lambda L, x: x.matrix_power(3), [In((3, 3), "unit")], lambda x: np.linalg.matrix_power(x, 3)),
    Op("matrix_power_negative", lambda L, x: x.matrix_power(-2), [In((3, 3), "wellcond")],
       lambda x: np.linalg.matrix_power(x, -2)),
    Op("einsum_matmul", lambda L, a, b: L.einsum("ij,jk->ik", a, b), [In((2, 3)), In((3, 4))], lambda a, b: a @ b),
    Op("einsum_batched_attention", lambda L, q, k: L.einsum("bhqd,bhkd->bhqk", q, k), [In((2, 2, 3, 4)), In((2, 2, 5, 4))],
       lambda q, k: np.einsum("bhqd,bhkd->bhqk", q, k)),
    Op("einsum_trace", lambda L, x: L.einsum("ii", x), [In((3, 3))], np.trace),
    Op("einsum_diagonal", lambda L, x: L.einsum("ii->i", x), [In((3, 3))], np.diagonal),
    Op("einsum_ellipsis", lambda L, a, b: L.einsum("...ij,...jk", a, b), [In((2, 2, 3)), In((3, 2))],
       lambda a, b: np.einsum("...ij,...jk", a, b)),
    Op("einsum_three_operands", lambda L, a, b, c: L.einsum("ij,jk,kl->il", a, b, c), [In((2, 3)), In((3, 4)), In((4, 2))],
       lambda a, b, c: a @ b @ c),
    Op("einsum_outer_sum", lambda L, a, b: L.einsum("i,j->", a, b), [In((3,)), In((4,))], lambda a, b: a.sum() * b.sum()),
    Op("einsum_bilinear", lambda L, a, w, b: L.einsum("bn,anm,bm->ba", a, w, b), [In((2, 3)), In((4, 3, 2)), In((2, 2))],
       lambda a, w, b: np.einsum("bn,anm,bm->ba", a, w, b)),
    Op("tensordot", lambda L, a, b: L.tensordot(a, b, dims=([1, 2], [0, 1])), [In((2, 3, 4)), In((3, 4, 2))],
       lambda a, b: np.tensordot(a, b, ([1, 2], [0, 1]))),
    Op("det", lambda L, x: x.det(), [In((3, 3))], np.linalg.det),
    Op("det_batched", lambda L, x: L.det(x), [In((2, 4, 4))], np.linalg.det),
    Op("slogdet", lambda L, x: tuple(L.slogdet(x)), [In((3, 3))], lambda x: tuple(np.linalg.slogdet(x))),
    Op("logdet", lambda L, x: x.logdet(), [In((3, 3), "wellcond")], lambda x: np.linalg.slogdet(x)[1]),
    Op("inverse", lambda L, x: x.inverse(), [In((3, 3), "wellcond")], np.linalg.inv),
    Op("inverse_batched", lambda L, x: L.inverse(x), [In((2, 2, 2), "wellcond")], np.linalg.inv),
    Op("cov", lambda L, x: x.cov(), [In((3, 5))], np.cov),
    Op("cov_correction0", lambda L, x: L.cov(x, correction=0), [In((2, 6))], lambda x: np.cov(x, ddof=0)),
    Op("cov_weights", lambda L, x, f, a: L.cov(x, fweights=f, aweights=a), [In((2, 4)), In((4,), "count", 3), In((4,), "pos", grad=False)],
       lambda x, f, a: np.cov(x, fweights=f, aweights=a)),
    Op("corrcoef", lambda L, x: x.corrcoef(), [In((3, 6))], np.corrcoef),
]

ELEMENTWISE = [
    Op("isnan", lambda L, x: x.isnan(), [In((3, 4), "withnan")], np.isnan, grad=False),
    Op("isfinite", lambda L, x: L.isfinite(x / (x > 0).to(x.dtype)), [In((3, 4), grad=False)],
       lambda x: np.isfinite(x / (x > 0)), grad=False),
    Op("isposinf", lambda L, x: (x / (x > 0).to(x.dtype)).isposinf(), [In((3, 4), grad=False)],
       lambda x: np.isposinf(x / (x > 0)), grad=False),
    Op("isinf_int", lambda L, x: x.isinf(), [In((3,), "int")], np.isinf, grad=False),
    Op("signbit", lambda L, x: x.signbit(), [In((3, 4))], np.signbit, grad=False),
    Op("nan_to_num", lambda L, x: x.nan_to_num(0.5), [In((6,), "withnan")], lambda x: np.nan_to_num(x, nan=0.5)),
    Op("nan_to_num_inf", lambda L, x: (x / (x > 0).to(x.dtype)).nan_to_num(0.0, 100.0, -100.0), [In((3, 4), grad=False)],
       lambda x: np.nan_to_num(x / (x > 0), nan=0.0, posinf=100.0, neginf=-100.0), grad=False),
    Op("nan_to_num_default_limits", lambda L, x: (x / (x > 0).to(x.dtype)).nan_to_num(), [In((3, 4), grad=False)],
       lambda x: np.nan_to_num(x / (x > 0)), grad=False, f32=False),
    Op("isclose", lambda L, a, b: L.isclose(a, b, rtol=0.1, atol=0.05), [In((3, 4)), In((3, 4))],
       lambda a, b: np.isclose(a, b, rtol=0.1, atol=0.05), grad=False),
    Op("allclose", lambda L, a, b: a.allclose(a + b * 1e-9), [In((3,)), In((3,))], lambda a, b: True, grad=False),
    Op("equal", lambda L, a: a.equal(a.clone()), [In((3,))], lambda a: True, grad=False),
    Op("lerp", lambda L, a, b: a.lerp(b, 0.3), [In((3, 4)), In((4,))], lambda a, b: _lerp_ref(a, b, 0.3)),
    Op("lerp_high_weight", lambda L, a, b: L.lerp(a, b, 0.8), [In((3,)), In((3,))], lambda a, b: _lerp_ref(a, b, 0.8)),
    Op("lerp_tensor_weight", lambda L, a, b, w: a.lerp(b, w), [In((2, 3)), In((2, 3)), In((3,), "unit")], _lerp_ref),
    Op("addcmul", lambda L, x, a, b: x.addcmul(a, b, value=0.5), [In((3, 4)), In((4,)), In((3, 1))],
       lambda x, a, b: x + 0.5 * a * b),
    Op("addcdiv", lambda L, x, a, b: L.addcdiv(x, a, b, value=-2), [In((3, 4)), In((3, 4)), In((4,), "nz")],
       lambda x, a, b: x - 2 * a / b),
    Op("square", lambda L, x: x.square(), [In((3, 4))], np.square),
    Op("square_int", lambda L, x: L.square(x), [In((5,), "int")], np.square, grad=False),
    Op("float_power", lambda L, x: x.float_power(2.5), [In((3,), "pos")], lambda x: x**2.5),
    Op("deg2rad", lambda L, x: x.deg2rad(), [In((4,), "big")], np.deg2rad),
    Op("rad2deg", lambda L, x: L.rad2deg(x), [In((4,))], np.rad2deg),
    Op("ldexp", lambda L, x, e: x.ldexp(e), [In((4,)), In((4,), "int")], lambda x, e: np.ldexp(x, e)),
    Op("heaviside", lambda L, x, v: L.heaviside(x, v), [In((5,), "int"), In((5,), "int")], np.heaviside, grad=False),
    Op("gcd", lambda L, a, b: L.gcd(a, b), [In((5,), "int"), In((5,), "int")], np.gcd, grad=False),
    Op("lcm", lambda L, a, b: a.lcm(b), [In((5,), "int"), In((5,), "int")], np.lcm, grad=False),
    Op("clamp_min", lambda L, x: x.clamp_min(0.3), [In((3, 4), D)], lambda x: np.maximum(x, 0.3)),
    Op("clamp_max", lambda L, x: L.clamp_max(x, -0.1), [In((3, 4), D)], lambda x: np.minimum(x, -0.1)),
    # tensor bounds broadcast and take gradients (where min > max, the max wins)
    Op("clamp_tensor_bounds", lambda L, x, lo, hi: x.clamp(lo, hi), [In((3, 4), D), In((4,)), In((3, 1))],
       lambda x, lo, hi: np.minimum(np.maximum(x, lo), hi)),
    Op("clamp_tensor_min", lambda L, x, lo: L.clamp(x, min=lo), [In((3, 4), D), In((3, 1))], np.maximum),
    Op("clip_tensor_max", lambda L, x, hi: x.clip(max=hi), [In((2, 3, 4), D), In((4,))], np.minimum),
    Op("hardshrink", lambda L, x: x.hardshrink(0.7), [In((3, 4), D)], lambda x: np.where(np.abs(x) > 0.7, x, 0.0)),
    Op("bincount", lambda L, x: L.bincount(x, minlength=6), [In((10,), "count", 4)], lambda x: np.bincount(x, minlength=6),
       grad=False),
    Op("bincount_weights", lambda L, x, w: x.bincount(w), [In((10,), "count", 4), In((10,), grad=False)], lambda x, w: np.bincount(x, w),
       grad=False),
    Op("histc", lambda L, x: x.histc(4, -2, 2), [In((20,))], lambda x: np.histogram(x, 4, (-2, 2))[0].astype(np.float64),
       grad=False),
    Op("divide_floor", lambda L, a, b: a.divide(b, rounding_mode="floor"), [In((5,)), In((5,), "nz")], lambda a, b: np.floor(a / b),
       grad=False),
    Op("true_divide", lambda L, a, b: L.true_divide(a, b), [In((5,)), In((5,), "nz")], np.true_divide),
    Op("multiply", lambda L, a, b: a.multiply(b), [In((2, 3)), In((3,))], np.multiply),
    Op("subtract", lambda L, a, b: L.subtract(a, b, alpha=2), [In((2, 3)), In((3,))], lambda a, b: a - 2 * b),
    Op("negative", lambda L, a: a.negative(), [In((4,))], np.negative),
    Op("greater_equal", lambda L, a, b: a.greater_equal(b), [In((3, 4), D), In((4,), D)], np.greater_equal, grad=False),
    Op("frexp", lambda L, x: x.frexp().mantissa, [In((5,), "big")], lambda x: np.frexp(x)[0]),
]

def _spd(r, s, h):
    a = r.uniform(-1, 1, s)
    return a @ np.swapaxes(a, -1, -2) + np.eye(s[-1]) * s[-1]


KINDS["spd"] = _spd  # symmetric positive-definite matrices
FLOAT_KINDS.add("spd")


def _matrix_exp_ref(a, terms=60):
    out, term = np.eye(a.shape[-1]), np.eye(a.shape[-1])
    for k in range(1, terms):
        term = term @ a / k
        out = out + term
    return out


MORE = [
    Op("prelu", lambda L, x, w: x.prelu(w), [In((2, 3, 4), "nz"), In((3,), "pos")],
       lambda x, w: np.where(x > 0, x, w[:, None] * x)),
    Op("prelu_scalar_weight", lambda L, x, w: L.prelu(x, w), [In((5,), "nz"), In((1,), "pos")],
       lambda x, w: np.where(x > 0, x, w * x)),
    Op("histogram", lambda L, x: tuple(L.histogram(x, 5)), [In((20,), grad=False)], lambda x: tuple(a.astype(np.float64) for a in np.histogram(x, 5)),
       grad=False),
    Op("histogram_values_on_edges", lambda L, x: tuple(L.histogram(x, 8)), [In((30,), "grid", grad=False)], None, grad=False),
    Op("histc_values_on_edges", lambda L, x: L.histc(x, 8, -1, 1), [In((30,), "grid", grad=False)], None, grad=False),
    Op("histogram_float32_edges", lambda L, x: tuple(L.histogram(x.float(), 7, range=(-1.0, 1.0))), [In((30,), "grid", grad=False)],
       None, grad=False),
    Op("mvlgamma", lambda L, x: (x + 1).mvlgamma(3), [In((5,), "pos")], None),
    Op("index_reduce_prod", lambda L, x, i, s: x.index_reduce(0, i, s, "prod"), [In((4, 2), "nz"), In((5,), "idx", 4), In((5, 2), "nz")],
       None),
    Op("index_reduce_mean_noself", lambda L, x, i, s: x.index_reduce(1, i, s, "mean", include_self=False),
       [In((2, 4)), In((5,), "idx", 4), In((2, 5))], None),
    Op("index_reduce_amax", lambda L, x, i, s: x.index_reduce(0, i, s, "amax"), [In((3, 2), D), In((4,), "idx", 3), In((4, 2), D)],
       None),
    Op("nonzero_static", lambda L, x: x.nonzero_static(size=4), [In((2, 3), "mask")], None, grad=False),
    Op("cdist", lambda L, a, b: L.cdist(a, b), [In((4, 3)), In((5, 3))],
       lambda a, b: np.sqrt(((a[:, None] - b[None]) ** 2).sum(-1))),
    Op("cdist_p1_batched", lambda L, a, b: L.cdist(a, b, p=1.0), [In((2, 3, 2), "nz"), In((2, 4, 2), "nz")],
       lambda a, b: np.abs(a[:, :, None] - b[:, None]).sum(-1)),
    Op("cdist_zero_distance_grad", lambda L, a: L.cdist(a, a), [In((3, 2))], None, grad=False),
    Op("block_diag", lambda L, a, b, c: L.block_diag(a, b, c), [In((2, 3)), In((2,)), In(())], None),
    Op("cartesian_prod", lambda L, a, b: L.cartesian_prod(a, b), [In((2,)), In((3,))],
       lambda a, b: np.stack(np.meshgrid(a, b, indexing="ij"), -1).reshape(-1, 2)),
    Op("tril_indices", lambda L, x: L.tril_indices(4, 3, -1), [In((1,), grad=False)],
       lambda x: np.stack(np.tril_indices(4, -1, 3)), grad=False),
    Op("triu_indices", lambda L, x: L.triu_indices(3, 5, 1), [In((1,), grad=False)],
       lambda x: np.stack(np.triu_indices(3, 1, 5)), grad=False),
    Op("searchsorted", lambda L, s, v: L.searchsorted(s.sort().values, v, right=True), [In((6,), D, grad=False), In((2, 3), grad=False)],
       lambda s, v: np.searchsorted(np.sort(s), v, side="right"), grad=False),
    Op("bucketize", lambda L, v, b: L.bucketize(v, b.sort().values), [In((2, 4), grad=False), In((3,), "unit", grad=False)],
       lambda v, b: np.searchsorted(np.sort(b), v), grad=False),
    Op("matrix_exp", lambda L, x: x.matrix_exp(), [In((3, 3))], _matrix_exp_ref),
    Op("matrix_exp_batched", lambda L, x: L.matrix_exp(x), [In((2, 2, 2), "unit")], lambda x: np.stack([_matrix_exp_ref(m) for m in x])),
    # PyTorch's cholesky gradient is the symmetric one (for a perturbation that keeps A symmetric),
    # which one-sided finite differences cannot see: compared with PyTorch's values, and
    # gradchecked through an explicitly symmetrised input.
    Op("linalg_cholesky", lambda L, a: L.linalg.cholesky(a), [In((3, 3), "spd")], np.linalg.cholesky, grad=False),
    Op("linalg_cholesky_upper_batched", lambda L, a: L.linalg.cholesky(a, upper=True), [In((2, 3, 3), "spd")],
       lambda a: np.swapaxes(np.linalg.cholesky(a), -1, -2), grad=False),
    Op("linalg_cholesky_symmetrised", lambda L, a: L.linalg.cholesky((a + a.mT) * 0.5), [In((3, 3), "spd")],
       np.linalg.cholesky),
    Op("linalg_solve", lambda L, a, b: L.linalg.solve(a, b), [In((3, 3), "wellcond"), In((3, 2))], np.linalg.solve),
    Op("linalg_solve_vector", lambda L, a, b: L.linalg.solve(a, b), [In((2, 3, 3), "wellcond"), In((3,))],
       lambda a, b: np.linalg.solve(a, np.broadcast_to(b[:, None], (2, 3, 1)))[..., 0]),
    Op("linalg_solve_triangular", lambda L, a, b: L.linalg.solve_triangular(a, b, upper=True), [In((3, 3), "wellcond"), In((3, 2))],
       lambda a, b: np.linalg.solve(np.triu(a), b)),
    Op("linalg_solve_triangular_right_unit", lambda L, a, b: L.linalg.solve_triangular(a, b, upper=False, left=False,
                                                                                       unitriangular=True),
       [In((3, 3), "wellcond"), In((2, 3))], lambda a, b: b @ np.linalg.inv(np.tril(a, -1) + np.eye(3))),
    Op("linalg_inv", lambda L, a: L.linalg.inv(a), [In((3, 3), "wellcond")], np.linalg.inv),
    Op("linalg_vector_norm", lambda L, x: L.linalg.vector_norm(x, 3, dim=1), [In((3, 4), "nz")], lambda x: _norm_ref(x, 3, 1)),
    Op("linalg_matrix_norm_1", lambda L, x: L.linalg.matrix_norm(x, 1), [In((3, 4), D)], lambda x: np.linalg.norm(x, 1)),
    Op("linalg_matrix_norm_inf_batched", lambda L, x: L.linalg.matrix_norm(x, float("inf"), keepdim=True), [In((2, 3, 4), D)],
       lambda x: np.abs(x).sum(-1).max(-1)[:, None, None]),
    Op("linalg_norm", lambda L, x: L.linalg.norm(x), [In((3, 4))], lambda x: np.linalg.norm(x)),
    Op("linalg_norm_matrix_fro_dims", lambda L, x: L.linalg.norm(x, dim=(0, 2)), [In((2, 3, 2))],
       lambda x: np.sqrt((x * x).sum((0, 2)))),
    Op("linalg_multi_dot", lambda L, a, b, c: L.linalg.multi_dot([a, b, c]), [In((3,)), In((3, 4)), In((4, 2))],
       lambda a, b, c: a @ b @ c),
    Op("linalg_vecdot", lambda L, a, b: L.linalg.vecdot(a, b), [In((2, 3)), In((3,))], lambda a, b: (a * b).sum(-1)),
    Op("linalg_det", lambda L, a: L.linalg.det(a), [In((3, 3))], np.linalg.det),
    Op("hstack", lambda L, a, b: L.hstack([a, b]), [In((2, 3)), In((2, 1))], lambda a, b: np.hstack([a, b])),
    Op("vstack_1d", lambda L, a, b: L.vstack([a, b]), [In((3,)), In((2, 3))], lambda a, b: np.vstack([a, b])),
    Op("dstack", lambda L, a, b: L.dstack((a, b)), [In((3,)), In((3,))], lambda a, b: np.dstack([a, b])),
    Op("column_stack", lambda L, a, b: L.column_stack([a, b]), [In((3,)), In((3, 2))], lambda a, b: np.column_stack([a, b])),
    Op("isin", lambda L, a, b: L.isin(a, b), [In((2, 4), "count", 6), In((3,), "count", 6)], np.isin, grad=False),
    Op("unravel_index", lambda L, i: L.unravel_index(i, (3, 4)), [In((5,), "idx", 12)], lambda i: np.unravel_index(i, (3, 4)),
       grad=False),
    Op("combinations", lambda L, x: L.combinations(x, 2), [In((4,))],
       lambda x: np.array([[x[i], x[j]] for i in range(4) for j in range(i + 1, 4)])),
    Op("combinations_with_replacement", lambda L, x: L.combinations(x, 2, with_replacement=True), [In((3,))],
       lambda x: np.array([[x[i], x[j]] for i in range(3) for j in range(i, 3)])),
    Op("trapezoid", lambda L, y: L.trapezoid(y), [In((2, 5))], lambda y: np.trapezoid(y) if hasattr(np, "trapezoid") else np.trapz(y)),
    Op("trapezoid_x_dim0", lambda L, y, x: L.trapezoid(y, x, dim=0), [In((4, 3)), In((4,), D)],
       lambda y, x: (np.trapezoid if hasattr(np, "trapezoid") else np.trapz)(y, x, axis=0)),
    Op("cumulative_trapezoid_dx", lambda L, y: L.cumulative_trapezoid(y, dx=0.5), [In((2, 5))],
       lambda y: np.cumsum((y[:, 1:] + y[:, :-1]) * 0.25, axis=1)),
    Op("vander", lambda L, x: L.vander(x, 4), [In((3,))], lambda x: np.vander(x, 4), golden=False,
       note="PyTorch's vander backward fails (an in-place cumprod); the forward is compared with numpy"),
    Op("pdist", lambda L, x: L.pdist(x), [In((4, 3))],
       lambda x: np.array([np.linalg.norm(x[i] - x[j]) for i in range(4) for j in range(i + 1, 4)])),
    Op("rsub", lambda L, a, b: L.rsub(a, b, alpha=2), [In((3,)), In((3,))], lambda a, b: b - 2 * a),
    Op("chain_matmul", lambda L, a, b, c: L.chain_matmul(a, b, c), [In((2, 3)), In((3, 4)), In((4, 2))], lambda a, b, c: a @ b @ c),
    Op("square_in_place_on_graph", lambda L, x: L.square_(x * 1), [In((4,))], np.square),
    Op("addcmul_in_place_on_graph", lambda L, x, a, b: (x * 1).addcmul_(a, b), [In((4,)), In((4,)), In((4,))],
       lambda x, a, b: x + a * b),
]

FACTORIES = [
    Op("new_zeros", lambda L, x: x.new_zeros(2, 3), [In((1,))], lambda x: np.zeros((2, 3)), grad=False),
    Op("new_full_dtype", lambda L, x: x.new_full((2,), 7, dtype=L.int64), [In((1,))], lambda x: np.full(2, 7), grad=False),
    Op("new_tensor", lambda L, x: x.new_tensor([[1, 2], [3, 4]]), [In((1,))], lambda x: np.array([[1.0, 2.0], [3.0, 4.0]]),
       grad=False),
]

# ----------------------------------------------------------------------------- the Rust math family
# (rust/ops/math.rs, binary_math.rs, scan.rs; bound through rust/python/op_tables.rs)
_vec = np.vectorize
MATH = [
    Op("log1p", lambda L, x: L.log1p(x), [In((3, 4), "pos")], ref=np.log1p),
    Op("expm1", lambda L, x: L.expm1(x), [In((3, 4))], ref=np.expm1),
    Op("log2", lambda L, x: L.log2(x), [In((3, 4), "pos")], ref=np.log2),
    Op("log10", lambda L, x: L.log10(x), [In((3, 4), "pos")], ref=np.log10),
    Op("exp2", lambda L, x: L.exp2(x), [In((3, 4))], ref=np.exp2),
    Op("rsqrt", lambda L, x: L.rsqrt(x), [In((3, 4), "pos")], ref=lambda x: 1 / np.sqrt(x)),
    Op("reciprocal", lambda L, x: L.reciprocal(x), [In((3, 4), "nz")], ref=np.reciprocal),
    Op("tan", lambda L, x: L.tan(x), [In((3, 4), "unit")], ref=np.tan),
    Op("asin", lambda L, x: L.asin(x), [In((3, 4), "unit")], ref=np.arcsin),
    Op("acos", lambda L, x: L.acos(x), [In((3, 4), "unit")], ref=np.arccos),
    Op("atan", lambda L, x: L.atan(x), [In((3, 4))], ref=np.arctan),
    Op("sinh", lambda L, x: L.sinh(x), [In((3, 4))], ref=np.sinh),
    Op("cosh", lambda L, x: L.cosh(x), [In((3, 4))], ref=np.cosh),
    Op("asinh", lambda L, x: L.asinh(x), [In((3, 4))], ref=np.arcsinh),
    Op("acosh", lambda L, x: L.acosh(x + 1.5), [In((3, 4), "pos")], ref=lambda x: np.arccosh(x + 1.5)),
    Op("atanh", lambda L, x: L.atanh(x), [In((3, 4), "unit")], ref=np.arctanh),
    Op("erf", lambda L, x: L.erf(x), [In((3, 4))], ref=_vec(math.erf)),
    Op("erfc", lambda L, x: L.erfc(x), [In((3, 4))], ref=_vec(math.erfc)),
    Op("erfinv", lambda L, x: L.erfinv(x), [In((3, 4), "unit")], ref=None),
    Op("lgamma", lambda L, x: L.lgamma(x), [In((3, 4), "pos")], ref=_vec(math.lgamma)),
    Op("digamma", lambda L, x: L.digamma(x), [In((3, 4), "pos")], ref=None),
    Op("polygamma1", lambda L, x: L.polygamma(1, x), [In((3, 4), "pos")], ref=None),
    Op("polygamma2", lambda L, x: L.polygamma(2, x), [In((3, 4), "pos")], ref=None),
    Op("polygamma3_method", lambda L, x: x.polygamma(3), [In((3, 4), "u")], ref=None, note="negative x: the reflection-free zeta"),
    Op("special_polygamma", lambda L, x: L.special.polygamma(4, x), [In((3, 4), "pos")], ref=None),
    Op("sinc", lambda L, x: L.sinc(x), [In((3, 4), "nz")], ref=np.sinc),
    Op("logit", lambda L, x: L.logit(x * 0.4 + 0.5), [In((3, 4), "unit")], ref=lambda x: np.log((x * 0.4 + 0.5) / (0.5 - x * 0.4))),
    Op("logit_eps", lambda L, x: L.logit(x, 0.2), [In((3, 4), "unit")], grad=False,
       ref=lambda x: np.log(np.clip(x, 0.2, 0.8) / (1 - np.clip(x, 0.2, 0.8)))),
    Op("floor", lambda L, x: L.floor(x), [In((3, 4), "u")], ref=np.floor),
    Op("ceil", lambda L, x: L.ceil(x), [In((3, 4), "u")], ref=np.ceil),
    Op("trunc", lambda L, x: L.trunc(x), [In((3, 4), "u")], ref=np.trunc),
    Op("round", lambda L, x: L.round(x * 3), [In((3, 4), "u")], ref=lambda x: np.round(x * 3)),
    Op("round_decimals", lambda L, x: L.round(x, decimals=2), [In((3, 4), "u")], ref=lambda x: np.round(x, 2)),
    Op("frac", lambda L, x: L.frac(x), [In((3, 4), "u")], ref=lambda x: x - np.trunc(x)),
    Op("sign", lambda L, x: L.sign(x), [In((3, 4), "nz")], ref=np.sign),
    Op("atan2", lambda L, a, b: L.atan2(a, b), [In((3, 4), "nz"), In((4,), "nz")], ref=np.arctan2),
    Op("hypot", lambda L, a, b: L.hypot(a, b), [In((3, 4), "nz"), In((3, 1), "nz")], ref=np.hypot),
    Op("fmod", lambda L, a, b: L.fmod(a, b), [In((3, 4), "big"), In((4,), "pos")], ref=np.fmod),
    Op("copysign", lambda L, a, b: L.copysign(a, b), [In((3, 4), "nz"), In((3, 4), "nz", grad=False)], ref=np.copysign),
    Op("logaddexp", lambda L, a, b: L.logaddexp(a, b), [In((3, 4)), In((4,))], ref=np.logaddexp),
    Op("logaddexp2", lambda L, a, b: L.logaddexp2(a, b), [In((3, 4)), In((4,))], ref=np.logaddexp2),
    Op("xlogy", lambda L, a, b: L.xlogy(a, b), [In((3, 4)), In((3, 4), "pos")], ref=lambda a, b: a * np.log(b)),
    Op("fmax", lambda L, a, b: L.fmax(a, b), [In((3, 4), "distinct"), In((3, 4), "distinct")], ref=np.fmax),
    Op("fmin", lambda L, a, b: L.fmin(a, b), [In((3, 4), "distinct"), In((3, 4), "distinct")], ref=np.fmin),
    Op("div_floor", lambda L, a, b: L.div(a, b, rounding_mode="floor"), [In((3, 4), "big"), In((4,), "pos")], grad=False,
       ref=lambda a, b: np.floor_divide(a, b)),
    Op("div_trunc", lambda L, a, b: L.div(a, b, rounding_mode="trunc"), [In((3, 4), "big"), In((4,), "pos")], grad=False,
       ref=lambda a, b: np.trunc(a / b)),
    Op("cumsum", lambda L, x: L.cumsum(x, 1), [In((3, 4))], ref=lambda x: np.cumsum(x, 1)),
    Op("cumprod", lambda L, x: L.cumprod(x, 0), [In((3, 4), "nz")], ref=lambda x: np.cumprod(x, 0)),
    Op("cumprod_zero", lambda L, x: L.cumprod(x * L.tensor([1.0, 0.0, 1.0, 1.0], dtype=x.dtype), 1), [In((3, 4), "nz")],
       ref=lambda x: np.cumprod(x * np.array([1.0, 0.0, 1.0, 1.0]), 1)),
    Op("prod", lambda L, x: L.prod(x), [In((2, 3), "nz")], ref=np.prod),
    Op("prod_dim", lambda L, x: L.prod(x, 1, keepdim=True), [In((3, 4), "nz")], ref=lambda x: np.prod(x, 1, keepdims=True)),
]


def _family_rows() -> list[Op]:
    """Rows kept in their own files, one per family (tests/op_rows_*.py, each with a ROWS list),
    so adding a family of layers does not touch this file. They import Op and In from here."""
    import glob
    import importlib
    import os

    rows: list[Op] = []
    for path in sorted(glob.glob(os.path.join(os.path.dirname(os.path.abspath(__file__)), "op_rows_*.py"))):
        rows += importlib.import_module(os.path.basename(path)[:-3]).ROWS
    return rows


ROWS: list[Op] = MATH + INDEXING + SORTING + REDUCTIONS + SHAPES + PRODUCTS + ELEMENTWISE + MORE + FACTORIES + _family_rows()
BY_ID = {op.id: op for op in ROWS}
assert len(BY_ID) == len(ROWS), "duplicate op ids"
