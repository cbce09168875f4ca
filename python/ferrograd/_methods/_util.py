"""Shared pieces of the composite Tensor methods: the registry, argument checks in PyTorch's words,
and the three differentiable building blocks every index op reduces to.

The building blocks only move values through ferrograd ops (so gradients come from the core):

* `gather_flat(x, pos)`: `x.reshape(-1)[pos]`, an advanced index whose backward scatter-adds;
* `segment_reduce(v, seg, n)`: per-segment sums or products of a 1-D tensor, as a tree of
  pairwise adds/multiplies over gathers (log2(largest segment) rounds, each one op on every
  element), so repeated destinations accumulate exactly as PyTorch's scatter_add/index_add do;
* `place(v, dest, base)`: `base` with v's elements written at flat positions `dest`, as a gather
  from [v, pad] inside a `where` (the positions not written keep base's value and gradient);
  with no gradient to keep, a numpy assignment on a copy of base.

Which positions to gather or write is computed with numpy on the index tensors, which never carry
gradients.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable

import numpy as np

from .. import _core
from .. import _memory_format as _mf
from .._core import Tensor

METHODS: dict[str, Callable] = {}
FUNCTIONS: dict[str, Callable] = {}


def register(*names: str, method: bool = True, function: bool = True):
    """Registers `fn` as the Tensor method and/or the `fg.` function under each name (the first
    name is the op's own; the others are PyTorch's aliases)."""

    def deco(fn):
        for n in names:
            if method:
                METHODS[n] = fn
            if function:
                FUNCTIONS[n] = fn
        return fn

    return deco


def assign(self: Tensor, out_of_place: Callable, *args, **kwargs) -> Tensor:
    """Writes `out_of_place(self, ...)` into self, which takes the result's history (so
    `F.elu_(x).grad_fn` is the op's node, as in PyTorch), with an in-place op's checks: a leaf
    that requires grad, a result of another shape or of a dtype self cannot hold; on a view the
    base's history is rewritten. On the graph the op reads a clone of self, so what it saves for
    backward is not the tensor the write then overwrites."""
    src = self.clone(memory_format=_mf.contiguous_format) if needs_grad(self) else self
    self._assign_(out_of_place(src, *args, **kwargs))
    return self


def inplace(name: str, out_of_place: Callable):
    """Registers `x.<name>_(...)`: the out-of-place op's result written into x."""

    def fn(self, *args, **kwargs):
        return assign(self, out_of_place, *args, **kwargs)

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"In-place form of `{out_of_place.__name__}`."
    METHODS[name] = fn
    return fn


# ----------------------------------------------------------------------------- arguments


def no_out(op: str, out) -> None:
    if out is not None:
        raise TypeError(f"{op}(): out= is not supported by ferrograd; use the returned tensor instead")


def wrap_dim(dim, ndim: int, op: str | None = None) -> int:
    """PyTorch's dim wrapping: a 0-d tensor accepts dims -1 and 0."""
    if not isinstance(dim, numbers.Integral) or isinstance(dim, bool):
        where = f"{op}(): " if op else ""
        raise TypeError(f"{where}argument 'dim' must be int, not {type(dim).__name__}")
    n = max(ndim, 1)
    if not -n <= dim < n:
        raise IndexError(f"Dimension out of range (expected to be in range of [{-n}, {n - 1}], but got {dim})")
    return int(dim) % n


def wrap_dims(dim, ndim: int, op: str | None = None) -> list[int]:
    """None -> every dim; an int or a sequence of ints -> sorted distinct wrapped dims."""
    if dim is None:
        return list(range(ndim))
    dims = [dim] if isinstance(dim, numbers.Integral) else list(dim)
    out = [wrap_dim(d, ndim, op) for d in dims]
    if len(set(out)) != len(out):
        raise RuntimeError(f"dim {out[0]} appears multiple times in the list of dims")
    return sorted(out) if ndim else []


_TORCH_TYPE_NAMES = {"float32": "Float", "float64": "Double", "int64": "Long", "bool": "Bool", "int32": "Int",
                     "int16": "Short", "int8": "Char", "uint8": "Byte", "float16": "Half", "bfloat16": "BFloat16"}


def type_name(dtype) -> str:
    """PyTorch's scalar type name of a dtype, as its error messages spell it (Float, Long ...)."""
    name = str(dtype).split(".")[-1]
    return _TORCH_TYPE_NAMES.get(name, name)


def check_int(value, name: str, op: str) -> int:
    if not isinstance(value, numbers.Integral) or isinstance(value, bool):
        raise TypeError(f"{op}(): argument '{name}' must be int, not {type(value).__name__}")
    return int(value)


def index_array(index, op: str, *, allow_int32: bool = True) -> np.ndarray:
    """An integer index tensor as an int64 numpy array (PyTorch refuses float and bool indices)."""
    if not isinstance(index, Tensor):
        raise TypeError(f"{op}(): argument 'index' must be Tensor, not {type(index).__name__}")
    arr = index.detach().numpy()
    if arr.dtype.kind not in "iu" or (not allow_int32 and arr.dtype != np.int64):
        kinds = "int32/int64" if allow_int32 else "int64"
        raise RuntimeError(f"{op}(): Expected dtype {kinds} for index")
    return arr.astype(np.int64, copy=False)


def np_of(x: Tensor) -> np.ndarray:
    """x's values as a numpy array (bfloat16, which numpy lacks, as a float32 copy: exact); other
    dtypes may share x's memory, so copy before writing."""
    x = x.detach()
    if x.dtype == getattr(_core, "bfloat16", None):
        x = x.to(_core.float32)
    return x.numpy()


def from_np(arr, like: Tensor | None = None) -> Tensor:
    """A tensor from a numpy array, keeping its dtype, or in `like`'s dtype (the way back from
    np_of, for bfloat16 too)."""
    t = _core.from_numpy(_c_order(arr))
    return t if like is None or t.dtype == like.dtype else t.to(like.dtype)


def _c_order(arr) -> np.ndarray:
    """A C-contiguous array; unlike np.ascontiguousarray, a 0-d array stays 0-d."""
    arr = np.asarray(arr)
    return arr if arr.flags.c_contiguous else arr.copy(order="C")


def needs_grad(*ts) -> bool:
    return _core.is_grad_enabled() and any(isinstance(t, Tensor) and t.requires_grad for t in ts)


def scalar_tensor(value, dtype) -> Tensor:
    return _core.full([], value, dtype)  # an int exactly (float() rounds past 2**53)


def graft(result: Tensor, *sources: Tensor) -> Tensor:
    """`result`, made part of the graph of `sources` without any gradient reaching them: PyTorch's
    outputs of ops it cannot differentiate (heaviside, unique ...) still say requires_grad=True."""
    live = [s for s in sources if isinstance(s, Tensor) and s.requires_grad]
    if not live or not _core.is_grad_enabled() or not result.is_floating_point():
        return result
    anchor = live[0].reshape(-1)[:0].sum().to(result.dtype)  # 0.0 with a grad_fn, never NaN
    for s in live[1:]:
        anchor = anchor + s.reshape(-1)[:0].sum().to(result.dtype)
    return _core.where(scalar_tensor(True, _core.bool), result, anchor)


def result_type(*tensors: Tensor):
    """PyTorch's promoted dtype of tensors, with its rule that a 0-d tensor does not widen a
    dimensioned one of the same category (where() in the core applies it)."""
    true = scalar_tensor(True, _core.bool)

    def promoted(probes):
        # dtypes alike in dimension promote plainly; where() gives the promoted dtype
        out = None
        for p in probes:
            out = p if out is None else _core.where(true, out, p)
        return out

    dimensioned = promoted(_core.full([1], 0.0, t.dtype) for t in tensors if t.ndim)
    zero_dim = promoted(_core.full([], 0.0, t.dtype) for t in tensors if not t.ndim)
    # the two groups once, by the core's rule (a 0-d group widens only a lower category)
    if dimensioned is None or zero_dim is None:
        return (dimensioned if zero_dim is None else zero_dim).dtype
    return _core.where(true, dimensioned, zero_dim).dtype


def broadcast_shape(*shapes) -> tuple:
    """The broadcast of shapes, or PyTorch's RuntimeError naming the first dims that clash."""
    shapes = [tuple(int(d) for d in s) for s in shapes]
    try:
        return tuple(np.broadcast_shapes(*shapes))
    except ValueError:
        pass
    out = list(shapes[0])
    for s in shapes[1:]:
        n = max(len(out), len(s))
        a, b = [1] * (n - len(out)) + out, [1] * (n - len(s)) + list(s)
        for i in range(n - 1, -1, -1):
            if a[i] != b[i] and 1 not in (a[i], b[i]):
                raise RuntimeError(f"The size of tensor a ({a[i]}) must match the size of tensor b ({b[i]}) at "
                                   f"non-singleton dimension {i}")
        out = [max(x, y) if 1 in (x, y) else x for x, y in zip(a, b)]
    return tuple(out)


def contiguous_strides(shape) -> list[int]:
    strides, acc = [], 1
    for s in reversed(list(shape)):
        strides.append(acc)
        acc *= max(int(s), 1)
    return strides[::-1]


def positions_along(shape, dim: int, index: np.ndarray) -> np.ndarray:
    """Flat positions in a contiguous tensor of `shape` of the elements `gather(dim, index)`
    reads: index's own coordinates in every dim but `dim`, where the index value is used."""
    strides = contiguous_strides(shape)
    nd = index.ndim
    pos = index * strides[dim] if nd else index * 0
    for d in range(nd):
        if d == dim:
            continue
        ar = np.arange(index.shape[d], dtype=np.int64).reshape([-1 if k == d else 1 for k in range(nd)])
        pos = pos + ar * strides[d]
    return np.broadcast_to(pos, index.shape).astype(np.int64)


# ----------------------------------------------------------------------------- building blocks


def gather_flat(x: Tensor, pos: np.ndarray) -> Tensor:
    """Elements of x at flat (row-major) positions `pos`, in pos's shape; differentiable in x."""
    flat = x.reshape(-1)
    return flat[_core.from_numpy(_c_order(np.asarray(pos, dtype=np.int64)))]


def _padded(v: Tensor, value) -> Tensor:
    return _core.cat([v, _core.full([1], value, v.dtype)], 0)


def segment_reduce(v: Tensor, seg: np.ndarray, n_out: int, kind: str = "sum") -> Tensor:
    """out[k] = sum (or product) of v[i] over i with seg[i] == k; empty segments get 0 (or 1).

    A tree of pairwise combines: each round, every element at an even rank within its segment
    absorbs its successor, halving every segment. Gradients are those of the adds/multiplies.
    """
    identity = 0.0 if kind == "sum" else 1.0
    combine = (lambda a, b: a + b) if kind == "sum" else (lambda a, b: a * b)
    seg = np.asarray(seg, dtype=np.int64).reshape(-1)
    if seg.size == 0:
        return _core.full([n_out], identity, v.dtype) + v.reshape(-1)[:0].sum()
    if kind == "sum" and seg.size % max(n_out, 1) == 0 and n_out:
        k = seg.size // n_out  # rows of equal length in order (a reduction over trailing dims)
        if np.array_equal(seg, np.repeat(np.arange(n_out), k)):
            return v.reshape(n_out, k).sum(1)
    order = np.argsort(seg, kind="stable")
    s = seg[order]
    if not np.array_equal(order, np.arange(order.size)):
        v = gather_flat(v, order)
    else:
        v = v.reshape(-1)
    while s.size > 1:
        same_next = np.r_[s[1:] == s[:-1], False]
        starts = np.r_[True, s[1:] != s[:-1]]
        if not same_next.any():
            break
        seg_id = np.cumsum(starts) - 1
        first = np.flatnonzero(starts)
        rank = np.arange(s.size) - first[seg_id]
        keep = np.flatnonzero(rank % 2 == 0)
        partner = np.where(same_next[keep], keep + 1, s.size)
        v = combine(gather_flat(v, keep), gather_flat(_padded(v, identity), partner))
        s = s[keep]
    where_seg = np.full(n_out, s.size, dtype=np.int64)
    where_seg[s] = np.arange(s.size)
    return gather_flat(_padded(v, identity), where_seg)


def place(v: Tensor, dest: np.ndarray, base: Tensor) -> Tensor:
    """`base` (any shape) with v's elements written at flat positions `dest` (distinct, or the
    last write wins, as PyTorch's CPU loops); the rest keeps base's values and gradient."""
    dest = np.asarray(dest, dtype=np.int64).reshape(-1)
    if not needs_grad(v, base):
        # No graph to keep: numpy's assignment (the last duplicate wins) on a copy of base. The
        # differentiable form below gathers every element of base: 3 ms for `scatter_` of 4096
        # ones into a 4096 x 100 tensor, 40x `one_hot`'s time.
        out = np_of(base).copy()
        out.reshape(-1)[dest] = np_of(v.reshape(-1).to(base.dtype))
        return from_np(out, like=base)
    n = base.numel()
    src_of = np.full(n, dest.size, dtype=np.int64)
    src_of[dest] = np.arange(dest.size)  # numpy assignment: the last duplicate wins
    written = src_of < dest.size
    flat_v = v.reshape(-1).to(base.dtype)
    picked = gather_flat(_padded(flat_v, 0), src_of).reshape(base.shape)
    mask = _core.from_numpy(written.reshape(base.shape))
    return _core.where(mask, picked, base)


def tie_reduce(c: Tensor, seg: np.ndarray, r: np.ndarray, nan_shared: bool = False, shared: bool = True) -> Tensor:
    """Per-segment values `r` (each the max or min of the candidates `c` with that segment id,
    computed by the caller) as a differentiable function of c: the gradient is shared evenly by
    the candidates equal to r, and every candidate of a NaN result gets NaN, PyTorch's rule for
    amax/amin and scatter_reduce's amax/amin. With `nan_shared` (the rule of max()/median() of all
    elements) a NaN result's gradient is shared by the NaN candidates instead; with shared=False
    every tie gets the whole gradient (cdist's p=inf rule).

    Forward is exact: r + sum((c - r) / k over ties) adds zeros; +-inf results are sum(c / k) over
    their ties and NaN results a sum of NaNs.
    """
    c = c.reshape(-1)
    seg = np.asarray(seg, dtype=np.int64).reshape(-1)
    r = np.asarray(r)
    n_out = r.size
    cv = np_of(c)
    r_e = r.reshape(-1)[seg]
    fin_e, nan_e = np.isfinite(r_e), np.isnan(r_e)
    with np.errstate(invalid="ignore"):
        tie = cv == r_e
    if nan_shared:
        tie |= nan_e & np.isnan(cv)
        nan_e = np.zeros_like(nan_e)
    k = np.bincount(seg[tie], minlength=n_out).astype(cv.dtype)
    k_e = from_np(np.maximum(k[seg], 1) if shared else np.ones(seg.size, cv.dtype), like=c)
    zero = scalar_tensor(0, c.dtype)
    fin_ties = from_np(tie & fin_e)
    finite_part = _core.where(fin_ties, c - from_np(np.where(fin_e, r_e, 0).astype(cv.dtype), like=c), zero) / k_e
    inf_part = _core.where(from_np(tie & ~fin_e), c, zero) / k_e
    nan_mask = from_np(nan_e)
    nan_part = _core.where(nan_mask, c, zero) * from_np(np.where(nan_e, np.nan, 0).astype(cv.dtype), like=c)
    total = segment_reduce(finite_part + inf_part + nan_part, seg, n_out)
    base = from_np(np.where(np.isfinite(r), r, 0).astype(cv.dtype).reshape(-1), like=c)
    return (base + total).reshape(r.shape)
