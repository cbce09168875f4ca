"""Function-only forms (no Tensor method in PyTorch): atleast_*d, broadcast_tensors/shapes,
meshgrid, cartesian_prod, block_diag, tril/triu_indices, searchsorted/bucketize, cdist/pdist,
the *stack family, isin, unravel_index, combinations, trapezoid, vander, rsub and friends."""

from __future__ import annotations

import math
import numbers

import numpy as np

from .. import _core
from .._core import Tensor
from ._util import broadcast_shape, from_np, no_out, np_of, register, result_type, tie_reduce, type_name, wrap_dim


@register("atleast_1d", method=False)
def atleast_1d(*tensors):
    ts = tensors[0] if len(tensors) == 1 and isinstance(tensors[0], (tuple, list)) else tensors
    out = tuple(t.reshape(1) if t.ndim == 0 else t for t in ts)
    return out[0] if len(tensors) == 1 and not isinstance(tensors[0], (tuple, list)) else out


@register("atleast_2d", method=False)
def atleast_2d(*tensors):
    ts = tensors[0] if len(tensors) == 1 and isinstance(tensors[0], (tuple, list)) else tensors
    out = tuple(t.reshape(1, -1) if t.ndim < 2 else t for t in ts)
    return out[0] if len(tensors) == 1 and not isinstance(tensors[0], (tuple, list)) else out


@register("atleast_3d", method=False)
def atleast_3d(*tensors):
    def up(t):
        if t.ndim == 0:
            return t.reshape(1, 1, 1)
        if t.ndim == 1:
            return t.reshape(1, -1, 1)
        if t.ndim == 2:
            return t.unsqueeze(-1)
        return t

    ts = tensors[0] if len(tensors) == 1 and isinstance(tensors[0], (tuple, list)) else tensors
    out = tuple(up(t) for t in ts)
    return out[0] if len(tensors) == 1 and not isinstance(tensors[0], (tuple, list)) else out


@register("broadcast_tensors", method=False)
def broadcast_tensors(*tensors) -> tuple:
    shape = broadcast_shape(*[t.shape for t in tensors])
    return tuple(t.expand(*shape) if tuple(t.shape) != shape else t for t in tensors)


@register("broadcast_shapes", method=False)
def broadcast_shapes(*shapes) -> tuple:
    try:
        return tuple(np.broadcast_shapes(*[(s,) if isinstance(s, numbers.Integral) else tuple(s) for s in shapes]))
    except ValueError:
        raise RuntimeError(f"Shape mismatch: objects cannot be broadcast to a single shape: {shapes}") from None


@register("meshgrid", method=False)
def meshgrid(*tensors, indexing: str | None = None) -> tuple:
    """Coordinate grids of 1-D tensors; indexing 'ij' (the default, as PyTorch's) or 'xy'."""
    ts = list(tensors[0]) if len(tensors) == 1 and isinstance(tensors[0], (tuple, list)) else list(tensors)
    indexing = indexing or "ij"
    if len({t.dtype for t in ts}) > 1:
        raise RuntimeError("meshgrid expects all tensors to have the same dtype")
    if any(t.ndim > 1 for t in ts):
        raise RuntimeError("torch.meshgrid: Expected 0D or 1D tensor in the tensor list")
    if indexing not in ("ij", "xy"):
        raise ValueError(f"torch.meshgrid: indexing must be one of \"xy\" or \"ij\", but received: {indexing}")
    swap = indexing == "xy" and len(ts) >= 2
    if swap:
        ts[0], ts[1] = ts[1], ts[0]
    shape = [t.numel() for t in ts]
    out = []
    for i, t in enumerate(ts):
        view = [1] * len(ts)
        view[i] = -1
        out.append(t.reshape(*view).expand(*shape))
    if swap:
        out[0], out[1] = out[1], out[0]
    return tuple(out)


@register("cartesian_prod", method=False)
def cartesian_prod(*tensors) -> Tensor:
    """Every combination of the 1-D inputs' elements, one per row (a single input is returned)."""
    if len(tensors) == 1:
        return tensors[0]
    grids = meshgrid(*tensors, indexing="ij")
    return _core.stack([g.reshape(-1) for g in grids], 1)


@register("block_diag", method=False)
def block_diag(*tensors) -> Tensor:
    """The inputs (0-d, 1-D as one row, or 2-D) along the diagonal of a zero matrix."""
    mats = []
    for t in tensors:
        if t.ndim > 2:
            raise RuntimeError(f"torch.block_diag: Input tensors must have 2 or fewer dimensions. Input {len(mats)} has {t.ndim} dimensions")
        mats.append(t.reshape(1, -1) if t.ndim < 2 else t)
    if not mats:
        return _core.full([1, 0], 0.0, _core.float32)  # PyTorch's shape for no inputs
    dtype = result_type(*tensors)
    width = sum(m.shape[1] for m in mats)
    rows, left = [], 0
    for m in mats:
        r, c = m.shape
        parts = [_core.full([r, left], 0.0, dtype), m.to(dtype), _core.full([r, width - left - c], 0.0, dtype)]
        rows.append(_core.cat(parts, 1))
        left += c
    return _core.cat(rows, 0)


def _indices(op: str, row: int, col: int, offset: int, dtype, lower: bool) -> Tensor:
    if row < 0 or col < 0:
        raise RuntimeError(f"{op}: row and col must be non-negative, got {row} and {col}")
    r, c = (np.tril_indices if lower else np.triu_indices)(row, offset, col)
    out = from_np(np.stack([r, c]).astype(np.int64).reshape(2, -1))
    return out if dtype is None else out.to(dtype)


@register("tril_indices", method=False)
def tril_indices(row: int, col: int, offset: int = 0, *, dtype=None, device=None, layout=None) -> Tensor:
    """(2, N) int64 coordinates of the lower triangle of a row x col matrix, row by row."""
    return _indices("tril_indices", row, col, offset, dtype, True)


@register("triu_indices", method=False)
def triu_indices(row: int, col: int, offset: int = 0, *, dtype=None, device=None, layout=None) -> Tensor:
    return _indices("triu_indices", row, col, offset, dtype, False)


def _as_array(x) -> np.ndarray:
    return np_of(x) if isinstance(x, Tensor) else np.asarray(x)


@register("searchsorted", method=False)
def searchsorted(sorted_sequence: Tensor, input, *, out_int32: bool = False, right: bool = False, side: str | None = None,
                 sorter: Tensor | None = None, out=None) -> Tensor:
    """Insertion positions of `input` in each innermost row of `sorted_sequence` (int64, or int32)."""
    no_out("searchsorted", out)
    if side is not None:
        if side not in ("left", "right"):
            raise RuntimeError(f"torch.searchsorted(): side can only be 'left' or 'right' but got {side}")
        if right and side == "left":
            raise RuntimeError("torch.searchsorted(): side and right can't be set to opposites, got side of left while "
                               "right was True")
        right = side == "right"
    seq = np_of(sorted_sequence)
    if sorter is not None:
        seq = np.take_along_axis(seq, np_of(sorter), -1)
    vals = _as_array(input)
    if seq.ndim == 0 or (vals.ndim == 0 and seq.ndim != 1):
        raise RuntimeError(f"torch.searchsorted(): input value can be a scalar only when boundaries tensor dimension is "
                           f"1, but we got boundaries tensor dim({seq.ndim}) and input value's dim({vals.ndim}) "
                           f"numel({vals.size})")
    if seq.ndim == 1:
        res = _bisect(seq.reshape(1, -1), vals.reshape(1, -1), right).reshape(vals.shape)
    else:
        if vals.shape[:-1] != seq.shape[:-1]:
            raise RuntimeError("torch.searchsorted(): boundaries tensor should be 1 dimension or the first N-1 dimensions "
                               f"of boundaries tensor and input value tensor must match, but we got boundaries tensor "
                               f"{list(seq.shape)} and input value tensor {list(vals.shape)}")
        rows = int(np.prod(seq.shape[:-1]))  # spelled out: -1 cannot be inferred beside a size 0
        res = _bisect(seq.reshape(rows, seq.shape[-1]), vals.reshape(rows, vals.shape[-1]), right).reshape(vals.shape)
    out_t = from_np(res)
    return out_t.to(_core.int32) if out_int32 and hasattr(_core, "int32") else out_t


def _bisect(seq: np.ndarray, vals: np.ndarray, right: bool) -> np.ndarray:
    """PyTorch's binary search, row by row (seq (rows, n), vals (rows, m)), with its comparisons
    `!(s >= v)` / `!(s > v)`: NaN in either goes where PyTorch's loop sends it (numpy's
    searchsorted orders NaN differently)."""
    rows, n = seq.shape
    start = np.zeros(vals.shape, np.int64)
    end = np.full(vals.shape, n, np.int64)
    r = np.arange(rows)[:, None]
    with np.errstate(invalid="ignore"):
        while (start < end).any():
            active = start < end
            mid = start + (end - start) // 2
            s = seq[r, np.minimum(mid, max(n - 1, 0))] if n else np.zeros(vals.shape)
            go_right = ~(s > vals) if right else ~(s >= vals)
            start = np.where(active & go_right, mid + 1, start)
            end = np.where(active & ~go_right, mid, end)
    return start.astype(np.int64)


@register("bucketize", method=False)
def bucketize(input, boundaries: Tensor, *, out_int32: bool = False, right: bool = False, out=None) -> Tensor:
    """The bucket of each element: i with boundaries[i-1] < x <= boundaries[i] (right=False) or
    boundaries[i-1] <= x < boundaries[i] (right=True)."""
    no_out("bucketize", out)
    if boundaries.ndim != 1:
        raise RuntimeError(f"boundaries tensor must be 1 dimension, but got dim({boundaries.ndim})")
    vals = _as_array(input)
    res = _bisect(np_of(boundaries).reshape(1, -1), vals.reshape(1, -1), right).reshape(vals.shape)
    out_t = from_np(res)
    return out_t.to(_core.int32) if out_int32 and hasattr(_core, "int32") else out_t


@register("cdist", method=False)
def cdist(x1: Tensor, x2: Tensor, p: float = 2.0, compute_mode: str | None = None) -> Tensor:
    """p-norm distances between the rows of x1 (..., P, M) and x2 (..., R, M): (..., P, R). The
    gradient at a zero distance is 0, as PyTorch's."""
    from .reductions import _vector_norm

    if x1.ndim < 2 or x2.ndim < 2:
        raise RuntimeError(f"cdist only supports at least 2D tensors, X1 got: {x1.ndim}D")
    for name, t in (("X1", x1), ("X2", x2)):
        if not t.is_floating_point():
            raise RuntimeError(f"cdist only supports floating-point dtypes, {name} got: {type_name(t.dtype)}")
        if t.dtype not in (_core.float32, _core.float64):
            raise NotImplementedError(f'"cdist" not implemented for \'{type_name(t.dtype)}\'')
    if x1.shape[-1] != x2.shape[-1]:
        raise RuntimeError(f"X1 and X2 must have the same number of columns. X1: {x1.shape[-1]} X2: {x2.shape[-1]}")
    if p < 0:
        raise RuntimeError("cdist only supports non-negative p values")
    if p == 2 and x1.dtype == x2.dtype:
        # One op from the differences (ops/cdist.rs), never PyTorch's matrix-product form, whose
        # cancellation puts near rows at distance 0 or 3e-3 in float32 (compute_mode is accepted
        # and changes nothing).
        batch = list(np.broadcast_shapes(tuple(x1.shape[:-2]), tuple(x2.shape[:-2])))
        a = x1 if list(x1.shape[:-2]) == batch else x1.expand(*batch, *x1.shape[-2:])
        b = x2 if list(x2.shape[:-2]) == batch else x2.expand(*batch, *x2.shape[-2:])
        return _core._cdist(a, b)
    diff = x1.unsqueeze(-2) - x2.unsqueeze(-3)  # (..., P, R, M)
    if p == math.inf:
        if diff.numel() == 0:
            return diff.sum(-1)
        # The largest |difference|; unlike norm(inf), every tied coordinate gets the whole
        # gradient (PyTorch's cdist backward).
        a = diff.abs()
        m = a.shape[-1]
        r = np.max(np_of(a), axis=-1)
        out = tie_reduce(a.reshape(-1), np.repeat(np.arange(r.size), m), r.reshape(-1), shared=False)
        return out.reshape(*a.shape[:-1])
    return _vector_norm(diff, p, [diff.ndim - 1], False)


# ----------------------------------------------------------------------------- stacking


def _seq(tensors) -> list:
    return list(tensors[0]) if len(tensors) == 1 and isinstance(tensors[0], (tuple, list)) else list(tensors)


@register("hstack", method=False)
def hstack(tensors, *, out=None) -> Tensor:
    """cat along dim 1 (dim 0 for 1-D inputs), after atleast_1d."""
    no_out("hstack", out)
    ts = [t.reshape(1) if t.ndim == 0 else t for t in tensors]
    return _core.cat(ts, 0 if ts and ts[0].ndim == 1 else 1)


@register("vstack", "row_stack", method=False)
def vstack(tensors, *, out=None) -> Tensor:
    """cat along dim 0 after atleast_2d."""
    no_out("vstack", out)
    return _core.cat([t.reshape(1, -1) if t.ndim < 2 else t for t in tensors], 0)


@register("dstack", method=False)
def dstack(tensors, *, out=None) -> Tensor:
    """cat along dim 2 after atleast_3d."""
    no_out("dstack", out)
    return _core.cat(list(atleast_3d(list(tensors))), 2)


@register("column_stack", method=False)
def column_stack(tensors, *, out=None) -> Tensor:
    """1-D (and 0-d) inputs as columns, 2-D ones as they are, concatenated along dim 1."""
    no_out("column_stack", out)
    return _core.cat([t.reshape(-1, 1) if t.ndim < 2 else t for t in tensors], 1)


@register("concatenate", method=False)
def concatenate(tensors, axis: int = 0, *, dim: int | None = None, out=None) -> Tensor:
    no_out("concatenate", out)
    return _core.cat(list(tensors), axis if dim is None else dim)


# ----------------------------------------------------------------------------- sets, combinatorics


@register("isin", method=False)
def isin(elements, test_elements, *, assume_unique: bool = False, invert: bool = False) -> Tensor:
    """True where an element of `elements` is among `test_elements` (either may be a number)."""
    a, b = _as_array(elements), _as_array(test_elements)
    return from_np(np.isin(a, b, invert=invert))


@register("unravel_index", method=False)
def unravel_index(indices, shape) -> tuple:
    """The coordinates of flat indices in a tensor of `shape` (negative ones count from the end)."""
    idx = _as_array(indices)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"expected 'indices' to be integer dtype, but got {idx.dtype}")
    shape = (shape,) if isinstance(shape, numbers.Integral) else tuple(shape)
    n = int(np.prod(shape))
    if ((idx < -n) | (idx >= n)).any():
        raise RuntimeError(f"'indices' must be in range [-{n}, {n - 1}] for shape {list(shape)}")
    coords = np.unravel_index(np.where(idx < 0, idx + n, idx), shape) if shape else ()
    return tuple(from_np(np.asarray(c, dtype=np.int64)) for c in coords)


@register("combinations", method=False)
def combinations(input: Tensor, r: int = 2, with_replacement: bool = False) -> Tensor:
    """Every r-combination of a 1-D tensor's elements, one per row (itertools' order)."""
    import itertools

    if input.ndim != 1:
        raise RuntimeError(f"Expect a 1D vector, but got shape {list(input.shape)}")
    if r < 0:
        raise RuntimeError(f"Expect a non-negative number, but got {r}")
    make = itertools.combinations_with_replacement if with_replacement else itertools.combinations
    rows = list(make(range(input.shape[0]), r))
    if r == 0:
        return input.reshape(-1)[:0]
    idx = np.asarray(rows, dtype=np.int64).reshape(len(rows), r)
    return input[from_np(idx)]


# ----------------------------------------------------------------------------- numerical calculus


def _spacing(y: Tensor, x, dx, d: int):
    if x is not None and dx is not None:
        raise RuntimeError("torch.trapezoid: only one of x and dx may be given")
    if x is None:
        return None, 1.0 if dx is None else dx
    if not isinstance(x, Tensor):
        raise TypeError("trapezoid(): argument 'x' must be Tensor")
    if x.ndim == 1:  # sample points along dim d, broadcast over the other dims
        return x.diff().reshape(*([-1] + [1] * (y.ndim - 1 - d))), None
    return x.diff(dim=d), None


@register("trapezoid", "trapz", method=False)
def trapezoid(y: Tensor, x: Tensor | None = None, *, dx: float | None = None, dim: int = -1) -> Tensor:
    """The trapezoidal rule along `dim`: spacing x (sample points) or dx (default 1)."""
    d = wrap_dim(dim, y.ndim)
    yf = y if y.is_floating_point() else y.to(_core.float32)
    n = yf.shape[d]
    if n == 0:
        return yf.sum(d)
    pairs = yf.narrow(d, 1, n - 1) + yf.narrow(d, 0, n - 1)
    diffs, step = _spacing(yf, x, dx, d)
    return (pairs * diffs).sum(d) / 2 if diffs is not None else pairs.sum(d) * (step / 2)


@register("cumulative_trapezoid", method=False)
def cumulative_trapezoid(y: Tensor, x: Tensor | None = None, *, dx: float | None = None, dim: int = -1) -> Tensor:
    """The running trapezoidal integral along `dim` (one element shorter than y there)."""
    d = wrap_dim(dim, y.ndim)
    yf = y if y.is_floating_point() else y.to(_core.float32)
    n = yf.shape[d]
    if n == 0:
        return yf.clone()
    pairs = yf.narrow(d, 1, n - 1) + yf.narrow(d, 0, n - 1)
    diffs, step = _spacing(yf, x, dx, d)
    areas = pairs * diffs / 2 if diffs is not None else pairs * (step / 2)
    return areas.cumsum(d)


@register("vander", method=False)
def vander(x: Tensor, N: int | None = None, increasing: bool = False) -> Tensor:
    """Columns x**(N-1), ..., x, 1 (or the reverse with increasing=True) of a 1-D x."""
    if x.ndim != 1:
        raise RuntimeError("x must be a one-dimensional tensor.")
    n = x.shape[0] if N is None else N
    if n < 0:
        raise RuntimeError("N must be non-negative.")
    xp = x if x.is_floating_point() or x.dtype == _core.int64 else x.to(_core.int64)
    cols = [_core.full([x.shape[0]], 1.0, xp.dtype)]
    for _ in range(1, n):
        cols.append(cols[-1] * xp)
    cols = cols[:n]
    if not increasing:
        cols = cols[::-1]
    return _core.stack(cols, 1) if cols else xp.reshape(-1, 1)[:, :0]


@register("chain_matmul", method=False)
def chain_matmul(*matrices, out=None) -> Tensor:
    """The product of 2-D matrices (deprecated in PyTorch for linalg.multi_dot)."""
    no_out("chain_matmul", out)
    ms = _seq(matrices)
    result = ms[0]
    for m in ms[1:]:
        result = result.matmul(m)
    return result if len(ms) > 1 else result.clone()


@register("pdist", method=False)
def pdist(input: Tensor, p: float = 2) -> Tensor:
    """The p-norm distance of every pair of rows i < j of a 2-D input, in row-major order."""
    if input.ndim != 2:
        raise RuntimeError(f"pdist only supports 2D tensors, got: {input.ndim}D")
    n = input.shape[0]
    i, j = np.triu_indices(n, 1)
    from .reductions import _vector_norm

    diff = input[from_np(i.astype(np.int64))] - input[from_np(j.astype(np.int64))]
    return _vector_norm(diff, p, [1], False)


@register("rsub", method=False)
def rsub(input: Tensor, other, *, alpha=1) -> Tensor:
    """other - alpha * input."""
    return (input if alpha == 1 else input * alpha).__rsub__(other)


@register("select", method=False)
def select(input: Tensor, dim: int, index: int) -> Tensor:
    return input.select(dim, index)


@register("real", method=False)
def real(input: Tensor) -> Tensor:
    return input


@register("is_signed", method=False)
def is_signed(input: Tensor) -> bool:
    return input.is_signed()


@register("get_device", method=False)
def get_device(input: Tensor) -> int:
    return -1


@register("fill_", method=False)
def fill_(input: Tensor, value) -> Tensor:
    return input.fill_(value)


@register("zero_", method=False)
def zero_(input: Tensor) -> Tensor:
    return input.zero_()
