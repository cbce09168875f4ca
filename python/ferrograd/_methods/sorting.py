"""Order statistics: sort, argsort, topk, kthvalue, median, mode, quantile, unique, cummax.

sort, argsort and topk run in Rust (rust/ops/sort.rs); the others compute indices with numpy.
NaN sorts above every number, as in PyTorch, and sorts are stable; values are gathered through
the indices, so gradients flow to the selected elements as PyTorch's. Among equal values
PyTorch's topk/kthvalue/median pick an index that depends on its selection algorithm; ferrograd
picks the first in stable sorted order (the value is the same).
"""

from __future__ import annotations

from collections import namedtuple

import numpy as np

from .. import _core
from .._core import Tensor
from ._util import check_int, from_np, graft, no_out, np_of, register, tie_reduce, wrap_dim

_NT = {
    name: namedtuple(name, ["values", "indices"])
    for name in ("sort", "topk", "kthvalue", "median", "nanmedian", "mode", "cummax", "cummin")
}


def _result(name, values, indices):
    return _NT[name](values, indices)


def _last(a: np.ndarray, d: int) -> np.ndarray:
    return np.moveaxis(a, d, -1)


def _back(a: np.ndarray, d: int) -> np.ndarray:
    return np.moveaxis(a, -1, d)


def _argsort_last(a: np.ndarray, descending: bool) -> np.ndarray:
    """Stable argsort along the last axis, NaN greatest (last ascending, first descending)."""
    if not descending:
        return np.argsort(a, axis=-1, kind="stable")
    n = a.shape[-1]
    p = np.argsort(a[..., ::-1], axis=-1, kind="stable")
    return (n - 1 - p)[..., ::-1]


def _gather_last(x: Tensor, d: int, idx_last: np.ndarray) -> tuple[Tensor, Tensor]:
    if x.ndim == 0:  # every selection of a 0-d tensor is the tensor itself (topk(0) included)
        return x.clone(), from_np(np.zeros((), np.int64))
    t = from_np(_back(idx_last, d).astype(np.int64))
    return x.gather(d, t), t


@register("sort")
def sort(input: Tensor, dim: int = -1, descending: bool = False, stable: bool = False, *, out=None):
    """(values, int64 indices) sorted along `dim`; equal values keep their order (always stable)."""
    no_out("sort", out)
    return _result("sort", *_core._sort(input, wrap_dim(dim, input.ndim), bool(descending)))


@register("argsort")
def argsort(input: Tensor, dim: int = -1, descending: bool = False, stable: bool = False) -> Tensor:
    return _core._sort(input.detach(), wrap_dim(dim, input.ndim), bool(descending))[1]


@register("msort")
def msort(input: Tensor, *, out=None) -> Tensor:
    no_out("msort", out)
    return sort(input, 0).values


@register("topk")
def topk(input: Tensor, k: int, dim: int = -1, largest: bool = True, sorted: bool = True, *, out=None):
    """The k largest (or smallest) values along `dim` and their indices, largest first."""
    no_out("topk", out)
    d = wrap_dim(dim, input.ndim)
    k = check_int(k, "k", "topk")
    n = input.shape[d] if input.ndim else 1
    if not 0 <= k <= n:
        raise RuntimeError("selected index k out of range")
    return _result("topk", *_core._sort(input, d, bool(largest), k, True))


def _select(name: str, input: Tensor, dim: int, keepdim: bool, pick) -> tuple:
    """values/indices of the element `pick(sorted_values_last, sorted_idx_last)` chooses per slice."""
    d = wrap_dim(dim, input.ndim)
    a = np_of(input).reshape(input.shape or (1,))
    al = _last(a, d)
    order = _argsort_last(al, False)
    pos = pick(np.take_along_axis(al, order, -1), order)  # positions into the sorted slice
    idx = np.take_along_axis(order, pos[..., None], -1)
    values, indices = _gather_last(input, d, idx)
    if not keepdim and input.ndim:
        values, indices = values.squeeze(d), indices.squeeze(d)
    return _result(name, values, indices)


@register("kthvalue")
def kthvalue(input: Tensor, k: int, dim: int = -1, keepdim: bool = False, *, out=None):
    """The k-th smallest value (1-based) along `dim` and its index."""
    no_out("kthvalue", out)
    d = wrap_dim(dim, input.ndim)
    n = input.shape[d] if input.ndim else 1
    k = check_int(k, "k", "kthvalue")
    if n == 0:
        raise IndexError(f"kthvalue(): Expected reduction dim {d} to have non-zero size.")
    if not 1 <= k <= n:
        raise RuntimeError(f"kthvalue(): selected number k out of range for dimension {d}")
    return _select("kthvalue", input, dim, keepdim, lambda s, o: np.full(s.shape[:-1], k - 1))


def _median_pos(ignore_nan: bool):
    def pick(s, _order):
        n = s.shape[-1]
        nans = np.isnan(s).sum(-1) if s.dtype.kind == "f" else np.zeros(s.shape[:-1], np.int64)
        if ignore_nan:
            valid = n - nans
            return np.where(valid > 0, (valid - 1) // 2, 0)
        return np.where(nans > 0, n - nans, (n - 1) // 2)  # the first NaN, else the lower median

    return pick


def _median(name: str, input: Tensor, dim, keepdim: bool, ignore_nan: bool):
    if dim is None:
        if input.numel() == 0:
            return graft(_core.full([], float("nan"), input.dtype), input)
        flat = input.reshape(-1)
        r = _select(name, flat, 0, False, _median_pos(ignore_nan)).values
        if not input.requires_grad or not _core.is_grad_enabled() or not input.is_floating_point():
            return r
        # All-element median: the gradient is shared by the elements equal to it (PyTorch's rule).
        rv = np_of(r).reshape(1)
        xv = np_of(flat)
        if ignore_nan and np.isnan(xv).any() and not np.isnan(rv).all():
            keep = np.flatnonzero(~np.isnan(xv))
            return tie_reduce(flat[from_np(keep)], np.zeros(keep.size, np.int64), rv, True).reshape(())
        return tie_reduce(flat, np.zeros(xv.size, np.int64), rv, True).reshape(())
    n = input.shape[wrap_dim(dim, input.ndim)] if input.ndim else 1
    if n == 0:
        raise IndexError(f"{name}(): Expected reduction dim {dim} to have non-zero size.")
    return _select(name, input, dim, keepdim, _median_pos(ignore_nan))


@register("median")
def median(input: Tensor, dim: int | None = None, keepdim: bool = False, *, out=None):
    """The lower median: of all elements (a tensor), or along `dim` (values, indices). NaN
    anywhere in a slice makes its median NaN."""
    no_out("median", out)
    return _median("median", input, dim, keepdim, False)


@register("nanmedian")
def nanmedian(input: Tensor, dim: int | None = None, keepdim: bool = False, *, out=None):
    """median() ignoring NaNs (NaN only where a slice is all NaN)."""
    no_out("nanmedian", out)
    return _median("nanmedian", input, dim, keepdim, True)


def _isnan(a: np.ndarray) -> np.ndarray:
    return np.isnan(a) if a.dtype.kind == "f" else np.zeros(a.shape, bool)


@register("mode")
def mode(input: Tensor, dim: int = -1, keepdim: bool = False, *, out=None):
    """The most frequent value along `dim` (the smallest of equally frequent ones, NaN counting
    as one value above every number) and the index of its last occurrence. PyTorch's NaN
    handling follows from std::sort with NaNs in it (unspecified): it agrees on
    [nan, nan, 1.5] (nan), [nan, 0, 0, nan] (0) and [5, nan, 1, 1, nan] (1), but gives nan for
    [nan, 1.5, 0], where this gives 0."""
    no_out("mode", out)
    d = wrap_dim(dim, input.ndim)
    a = np_of(input).reshape(input.shape or (1,))
    al = _last(a, d)
    if al.shape[-1] == 0:
        raise IndexError(f"mode(): Expected reduction dim {d} to have non-zero size.")
    flat = al.reshape(-1, al.shape[-1])
    best = np.empty(flat.shape[0], np.int64)
    for r, row in enumerate(flat):
        order = np.argsort(row, kind="stable")
        s = row[order]
        new_run = np.r_[True, (s[1:] != s[:-1]) & ~(_isnan(s[1:]) & _isnan(s[:-1]))]
        run_id = np.cumsum(new_run) - 1
        counts = np.bincount(run_id)
        top = int(np.argmax(counts))  # the first (smallest) of the most frequent
        best[r] = order[np.flatnonzero(run_id == top)].max()  # its last occurrence
    idx = best.reshape(al.shape[:-1] + (1,))
    values, indices = _gather_last(input, d, idx)
    if not keepdim and input.ndim:
        values, indices = values.squeeze(d), indices.squeeze(d)
    return _result("mode", values, indices)


# ----------------------------------------------------------------------------- quantile


_INTERP = ("linear", "lower", "higher", "midpoint", "nearest")


def _lerp(a: Tensor, b: Tensor, w: Tensor) -> Tensor:
    # PyTorch's lerp: exact at both ends (a + w (b - a) below 0.5, b - (1 - w)(b - a) above).
    return _core.where(w < 0.5, a + w * (b - a), b - (b - a) * (1 - w))


def _quantile(op: str, input: Tensor, q, dim, keepdim: bool, interpolation: str, ignore_nan: bool) -> Tensor:
    if input.dtype not in (_core.float32, _core.float64):
        raise RuntimeError("quantile() input tensor must be either float or double dtype")
    if interpolation not in _INTERP:
        raise RuntimeError(f"{op}() interpolation must be one of linear, lower, higher, midpoint or nearest. Got "
                           f"{interpolation}")
    scalar_q = not isinstance(q, Tensor)
    qs = np.asarray([q] if scalar_q else np_of(q), dtype=np.float64).reshape(-1)
    if isinstance(q, Tensor) and q.ndim > 1:
        raise RuntimeError(f"{op}() q must be a scalar or 1D tensor")
    if isinstance(q, Tensor) and q.dtype != input.dtype:
        raise RuntimeError(f"{op}() q tensor must be same dtype as the input tensor")
    if ((qs < 0) | (qs > 1)).any():
        raise RuntimeError(f"{op}() q values must be in the range [0, 1]")
    x = input.reshape(-1) if dim is None else input
    d = 0 if dim is None else wrap_dim(dim, input.ndim)
    if x.ndim == 0:
        x = x.reshape(1)
    if input.numel() == 0:
        raise RuntimeError("quantile() input tensor must be non-empty")
    if not qs.size:  # no quantiles: (0, reduced shape...), as PyTorch
        rest = [1] * input.ndim if dim is None else [1 if i == d else n for i, n in enumerate(input.shape)]
        rest = rest if keepdim else [n for i, n in enumerate(rest) if dim is not None and i != d]
        return graft(_core.full([0] + rest, 0.0, input.dtype), input)
    srt = sort(x, d)
    sv = np_of(srt.values)
    svl = _last(sv, d)
    n = svl.shape[-1]
    nan_count = np.isnan(svl).sum(-1)
    valid = (n - nan_count) if ignore_nan else np.full(svl.shape[:-1], n)
    outs = []
    ft = sv.dtype.type  # ranks are computed in the input's dtype, as PyTorch does
    for qv in qs:
        rank = (ft(qv) * (np.maximum(valid, 1) - 1).astype(ft)).astype(ft)
        if interpolation == "lower":
            rank = np.floor(rank)
        elif interpolation == "higher":
            rank = np.ceil(rank)
        elif interpolation == "nearest":
            rank = np.round(rank)
        lo = np.floor(rank).astype(np.int64)
        hi = np.minimum(np.ceil(rank).astype(np.int64), np.maximum(valid - 1, 0))
        w = rank - lo if interpolation != "midpoint" else np.full(rank.shape, 0.5)
        # A slice with NaN (quantile) or all NaN (nanquantile) gives NaN: point at its last element.
        nan_out = (nan_count > 0) if not ignore_nan else (valid == 0)
        lo, hi = np.where(nan_out, n - 1, lo), np.where(nan_out, n - 1, hi)
        a = srt.values.gather(d, from_np(_back(lo[..., None], d)))
        b = srt.values.gather(d, from_np(_back(hi[..., None], d)))
        if interpolation in ("linear", "midpoint"):
            outs.append(_lerp(a, b, from_np(_back(w[..., None], d).astype(sv.dtype), like=a)))
        else:
            outs.append(a)  # lower/higher/nearest: rank is an integer already
    out = _core.stack(outs, 0)  # (q, ..., 1 at d, ...)
    out = out.squeeze(d + 1)
    if keepdim:
        if dim is None:
            out = out.reshape(len(qs), *([1] * input.ndim))
        else:
            out = out.unsqueeze(d + 1)
    return out[0] if scalar_q or (isinstance(q, Tensor) and q.ndim == 0) else out


@register("quantile")
def quantile(input: Tensor, q, dim: int | None = None, keepdim: bool = False, *, interpolation: str = "linear", out=None):
    """The q-th quantiles along `dim` (or of all elements); q a number or a 1-D tensor (its dim
    comes first). NaN in a slice gives NaN."""
    no_out("quantile", out)
    return _quantile("quantile", input, q, dim, keepdim, interpolation, False)


@register("nanquantile")
def nanquantile(input: Tensor, q, dim: int | None = None, keepdim: bool = False, *, interpolation: str = "linear", out=None):
    no_out("nanquantile", out)
    return _quantile("nanquantile", input, q, dim, keepdim, interpolation, True)


# ----------------------------------------------------------------------------- unique


@register("unique")
def unique(input: Tensor, sorted: bool = True, return_inverse: bool = False, return_counts: bool = False, dim=None):
    """The distinct values (sorted), optionally with the inverse indices and the counts; with `dim`,
    the distinct slices along it."""
    if dim is None:
        return _unique_flat(input, return_inverse, return_counts)
    a = np_of(input)
    d = wrap_dim(dim, input.ndim)
    if any(s == 0 for k, s in enumerate(a.shape) if k != d):
        raise RuntimeError("There are 0 sized dimensions, and they aren't selected, so unique cannot be applied")
    if a.shape[d] == 0:
        vals, inv, cnt = a, np.zeros(0, np.int64), np.zeros(0, np.int64)
    else:
        vals, inv, cnt = np.unique(a, return_inverse=True, return_counts=True, axis=d)
    inv = inv.reshape(-1)
    out = graft(from_np(vals.astype(a.dtype), like=input), input)
    extra = []
    if return_inverse:
        extra.append(from_np(inv.astype(np.int64)))
    if return_counts:
        extra.append(from_np(cnt.astype(np.int64)))
    return (out, *extra) if extra else out


def _unique_flat(input: Tensor, return_inverse: bool, return_counts: bool):
    """unique over all elements: the Rust sort (stable; NaN last, -0 equal to 0), then one
    value per run of equal sorted ones. Every NaN is its own value, as in PyTorch (NaN != NaN
    starts a run). numpy's unique, with the inverse and counts always asked for, took 3.5x
    PyTorch's time on 4096 int64."""
    flat = input.detach().reshape(-1)
    values, order = _core._sort(flat, 0, False)
    sv = np_of(values)
    starts = np.empty(sv.size, bool)
    starts[:1] = True
    np.not_equal(sv[1:], sv[:-1], out=starts[1:])
    first = np.flatnonzero(starts)
    out = graft(from_np(sv[first], like=input), input)
    extra = []
    if return_inverse:
        inv = np.empty(sv.size, np.int64)
        inv[np_of(order)] = np.cumsum(starts) - 1
        extra.append(from_np(inv.reshape(tuple(input.shape))))
    if return_counts:
        extra.append(from_np(np.diff(np.append(first, sv.size)).astype(np.int64)))
    return (out, *extra) if extra else out


@register("unique_consecutive")
def unique_consecutive(input: Tensor, return_inverse: bool = False, return_counts: bool = False, dim=None):
    """One value (or slice along `dim`) per run of equal consecutive ones."""
    a = np_of(input)
    if dim is None:
        flat = a.reshape(-1)
        new = np.r_[True, flat[1:] != flat[:-1]] if flat.size else np.zeros(0, bool)
        vals = flat[new]
    else:
        d = wrap_dim(dim, input.ndim)
        if a.shape[d] and not a.size:
            raise RuntimeError("There are 0 sized dimensions, and they aren't selected, so unique cannot be applied")
        # the rest's size spelled out: -1 cannot be inferred beside a size 0
        m = np.moveaxis(a, d, 0).reshape(a.shape[d], a.size // a.shape[d] if a.shape[d] else 0)
        new = np.r_[True, (m[1:] != m[:-1]).any(1)] if m.shape[0] else np.zeros(0, bool)
        vals = np.take(a, np.flatnonzero(new), axis=d)
    run = np.cumsum(new) - 1
    out = graft(from_np(vals, like=input), input)
    extra = []
    if return_inverse:
        extra.append(from_np(run.reshape(a.shape if dim is None else (-1,)).astype(np.int64)))
    if return_counts:
        extra.append(from_np(np.bincount(run, minlength=int(new.sum())).astype(np.int64)))
    return (out, *extra) if extra else out


# ----------------------------------------------------------------------------- cummax / cummin


def _cum_extreme(name: str, input: Tensor, dim: int):
    d = wrap_dim(dim, input.ndim)
    a = _last(np_of(input).reshape(input.shape or (1,)), d)
    n = a.shape[-1]
    idx = np.zeros(a.shape, np.int64)
    if n:
        cur = a[..., 0].copy()
        best = np.zeros(a.shape[:-1], np.int64)
        isf = a.dtype.kind == "f"
        for i in range(n):
            v = a[..., i]
            # Ties move the index to the latest; a NaN takes over and stays (PyTorch's CPU rule).
            take = (v >= cur) if name == "cummax" else (v <= cur)
            if isf:
                take = (take & ~np.isnan(cur)) | np.isnan(v)
            cur = np.where(take, v, cur)
            best = np.where(take, i, best)
            idx[..., i] = best
    return _result(name, *_gather_last(input, d, idx))


@register("cummax")
def cummax(input: Tensor, dim: int):
    """Running maximum along `dim` and the index where each was reached."""
    return _cum_extreme("cummax", input, dim)


@register("cummin")
def cummin(input: Tensor, dim: int):
    return _cum_extreme("cummin", input, dim)
