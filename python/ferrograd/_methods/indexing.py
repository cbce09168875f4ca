"""Gather and scatter along a dim, index_* ops, masks, take/put and nonzero (PyTorch's rules:
which indices wrap, which are bounds-checked, last write wins among duplicate destinations)."""

from __future__ import annotations

import numbers

import numpy as np

from .. import _core
from .._core import Tensor
from ._util import (
    assign,
    broadcast_shape,
    from_np,
    gather_flat,
    index_array,
    inplace,
    needs_grad,
    no_out,
    np_of,
    place,
    positions_along,
    register,
    scalar_tensor,
    segment_reduce,
    tie_reduce,
    type_name,
    wrap_dim,
)


def _shape(x: Tensor) -> tuple:
    """A 0-d tensor acts as shape (1,) for dim ops, as in PyTorch."""
    return tuple(x.shape) or (1,)


def _check_bounds(idx: np.ndarray, size: int, dim: int, *, wrap=False, err=RuntimeError, prefix=""):
    lo = -size if wrap else 0
    bad = (idx < lo) | (idx >= size)
    if bad.any():
        k = int(idx[bad].reshape(-1)[0])
        raise err(f"{prefix}index {k} is out of bounds for dimension {dim} with size {size}")
    return np.where(idx < 0, idx + size, idx) if wrap else idx


def _check_gather_shapes(op: str, x: Tensor, dim: int, index: np.ndarray, src: Tensor | None = None):
    xs = _shape(x)
    if index.ndim != len(x.shape) and not (index.ndim <= 1 and len(x.shape) <= 1):
        # PyTorch's words: gather's input is "input", scatter's "self".
        raise RuntimeError(f"Index tensor must have the same number of dimensions as {'input' if op == 'gather' else 'self'} tensor")
    ishape = index.shape or (1,)
    for d in range(len(ishape)):
        if d != dim and ishape[d] > xs[d] and src is None:
            raise RuntimeError(
                f"Size does not match at dimension {d} expected index {list(index.shape)} to be no larger than "
                f"self {list(x.shape)} apart from dimension {dim}"
            )
        # A scatter from src words both limits in one message, as PyTorch's.
        if src is not None and (ishape[d] > _shape(src)[d] or (d != dim and ishape[d] > xs[d])):
            raise RuntimeError(
                f"Expected index {list(index.shape)} to be no larger than self {list(x.shape)} apart from dimension "
                f"{dim} and to be no larger size than src {list(src.shape)}"
            )


# ----------------------------------------------------------------------------- gather


@register("gather")
def gather(input: Tensor, dim: int, index: Tensor, *, sparse_grad: bool = False, out=None) -> Tensor:
    """out[i][j] = input[index[i][j]][j] (dim=0): values at `index` along `dim`, index's shape."""
    no_out("gather", out)
    d = wrap_dim(dim, input.ndim)
    if isinstance(index, Tensor) and index.dtype in (_core.int64, _core.int32) and index.ndim == input.ndim >= 1 and index.numel():
        return _core._gather(input, d, index)
    idx = index_array(index, "gather")
    _check_gather_shapes("gather", input, d, idx)
    if idx.size == 0:
        return input.reshape(-1)[:0].reshape(idx.shape)
    _check_bounds(idx, _shape(input)[d], d)
    pos = positions_along(_shape(input), d, idx.reshape(idx.shape or (1,))).reshape(idx.shape)
    return gather_flat(input, pos)


@register("take_along_dim")
def take_along_dim(input: Tensor, indices: Tensor, dim: int | None = None, *, out=None) -> Tensor:
    """numpy's take_along_axis: input and indices broadcast in every dim but `dim`; negative
    indices count from the end. dim=None indexes the flattened input as PyTorch does, through
    gather: there a negative index is out of bounds (a RuntimeError, as PyTorch's)."""
    no_out("take_along_dim", out)
    idx = index_array(indices, "take_along_dim")
    if dim is None:
        n = input.numel()
        return gather_flat(input, _check_bounds(idx.reshape(-1), n, 0))
    d = wrap_dim(dim, input.ndim)
    if idx.ndim != input.ndim:
        raise RuntimeError(
            f"torch.take_along_dim(): input and indices should have the same number of dimensions, but got "
            f"{input.ndim} dimensions for input, and {idx.ndim} dimensions for indices"
        )
    xs, ishape = list(input.shape), list(idx.shape)
    try:
        bx = list(np.broadcast_shapes(tuple(xs[:d] + xs[d + 1:]), tuple(ishape[:d] + ishape[d + 1:])))
    except ValueError:
        raise RuntimeError(f"take_along_dim: input {xs} and indices {ishape} are not broadcastable apart from dim {d}") from None
    x_b = input.expand(*(bx[:d] + [xs[d]] + bx[d:])) if input.ndim else input
    idx_b = np.broadcast_to(idx, tuple(bx[:d] + [ishape[d]] + bx[d:]))
    idx_b = _check_bounds(idx_b, xs[d] if xs else 1, d, wrap=True, err=IndexError)
    return gather(x_b, d, from_np(idx_b))


@register("take")
def take(input: Tensor, index: Tensor) -> Tensor:
    """Elements of the flattened input at `index` (negative counts from the end), index's shape."""
    idx = index_array(index, "take", allow_int32=False)
    n = input.numel()
    bad = (idx < -n) | (idx >= n)
    if bad.any():
        raise IndexError(f"out of range: tried to access index {int(idx[bad].reshape(-1)[0])} on a tensor of {n} elements.")
    return gather_flat(input, np.where(idx < 0, idx + n, idx))


# ----------------------------------------------------------------------------- scatter


def _scatter_plan(op: str, input: Tensor, dim: int, index: Tensor, src):
    """(dim, destination flat positions, source values as a 1-D tensor) of a scatter."""
    d = wrap_dim(dim, input.ndim)
    idx = index_array(index, op, allow_int32=False)
    if isinstance(src, Tensor):
        if src.dtype != input.dtype:
            raise RuntimeError(f"{op}(): Expected self.dtype to be equal to src.dtype")
        if src.ndim != input.ndim and not (src.ndim <= 1 and input.ndim <= 1):
            raise RuntimeError("Index tensor must have the same number of dimensions as src tensor")
    _check_gather_shapes(op, input, d, idx, src if isinstance(src, Tensor) else None)
    idx1 = idx.reshape(idx.shape or (1,))
    _check_bounds(idx1, _shape(input)[d], d)
    dest = positions_along(_shape(input), d, idx1).reshape(-1)
    if isinstance(src, Tensor):
        # The index-shaped leading block of src, element for element.
        ar = np.indices(idx1.shape).reshape(idx1.ndim, -1) if idx1.size else np.zeros((idx1.ndim, 0), np.int64)
        from ._util import contiguous_strides

        spos = (ar * np.array(contiguous_strides(_shape(src)), dtype=np.int64)[:, None]).sum(0)
        vals = gather_flat(src, spos)
    else:
        if not isinstance(src, numbers.Number):
            raise TypeError(f"{op}(): expected a Tensor or a number as src/value, got {type(src).__name__}")
        vals = _core.full([dest.size], src, input.dtype)
    return d, dest, vals


def _scatter_sum(input: Tensor, dest: np.ndarray, vals: Tensor) -> Tensor:
    if not input.is_floating_point() and not needs_grad(vals):
        out = np_of(input).copy()
        np.add.at(out.reshape(-1), dest, np_of(vals).astype(out.dtype))
        return from_np(out)
    if input.dtype in (_core.float32, _core.float64):
        return _core._add_at(input, from_np(np.ascontiguousarray(dest, dtype=np.int64)), vals)
    return input + segment_reduce(vals, dest, input.numel()).reshape(input.shape)


@register("scatter")
def scatter(input: Tensor, dim: int, index: Tensor, src=None, value=None, *, reduce: str | None = None, out=None) -> Tensor:
    """Writes src (a tensor, or a number given as src or value) at `index` along `dim`; with several
    writes to one place the last one wins. reduce='add'/'multiply' accumulate instead."""
    no_out("scatter", out)
    if src is None:
        src = value
    if src is None:
        raise TypeError("scatter() missing required argument 'src' (or 'value')")
    _, dest, vals = _scatter_plan("scatter", input, dim, index, src)
    if reduce is None:
        return place(vals, dest, input)
    if reduce == "add":
        return _scatter_sum(input, dest, vals)
    if reduce == "multiply":
        return _scatter_reduce_core(input, dest, vals, "prod", True)
    raise RuntimeError(f"reduce argument must be either add or multiply. (got {reduce!r})")


@register("scatter_add")
def scatter_add(input: Tensor, dim: int, index: Tensor, src: Tensor) -> Tensor:
    """input plus src's values added at `index` along `dim` (repeated indices accumulate)."""
    if not isinstance(src, Tensor):
        raise TypeError(f"scatter_add(): argument 'src' must be Tensor, not {type(src).__name__}")
    if (isinstance(index, Tensor) and index.dtype in (_core.int64, _core.int32) and input.dtype in (_core.float32, _core.float64)
            and index.ndim == input.ndim == src.ndim >= 1 and index.numel()):
        return _core._scatter_add(input, wrap_dim(dim, input.ndim), index, src)
    _, dest, vals = _scatter_plan("scatter", input, dim, index, src)
    return _scatter_sum(input, dest, vals)


_REDUCES = ("sum", "prod", "mean", "amax", "amin")


def _scatter_reduce_core(input: Tensor, dest: np.ndarray, vals: Tensor, reduce: str, include_self: bool) -> Tensor:
    n = input.numel()
    touched = np.zeros(n, dtype=bool)
    touched[dest] = True
    tmask = from_np(touched.reshape(input.shape))
    grad = needs_grad(input, vals)
    if reduce in ("sum", "prod", "mean") and (grad or input.is_floating_point()):
        kind = "prod" if reduce == "prod" else "sum"
        acc = segment_reduce(vals, dest, n, kind).reshape(input.shape)
        if include_self:
            acc = acc * input if kind == "prod" else acc + input
        if reduce == "mean":
            cnt = np.bincount(dest, minlength=n).reshape(input.shape) + (1 if include_self else 0)
            acc = acc / from_np(np.maximum(cnt, 1).astype(np_of(input).dtype), like=input)
        return _core.where(tmask, acc, input)
    if reduce in ("amax", "amin") and grad:
        tpos = np.flatnonzero(touched)
        src_c, self_c = vals.reshape(-1), gather_flat(input, tpos)
        r = np.full(n, _extreme(np_of(src_c).dtype, reduce), dtype=np_of(src_c).dtype)
        ufunc = np.maximum if reduce == "amax" else np.minimum
        ufunc.at(r, dest, np_of(src_c))
        if include_self:
            ufunc.at(r, tpos, np_of(self_c))
        # PyTorch counts self among the ties even when include_self=False (its share is then
        # dropped): self stays a candidate, detached.
        c = _core.cat([src_c, self_c if include_self else self_c.detach()], 0)
        seg = np.concatenate([dest, tpos])
        out = _core.where(tmask, tie_reduce(c, seg, r).reshape(input.shape), input)
        # PyTorch shares each gradient among the elements equal to the result, so a NaN that
        # nothing was scattered onto (never equal to itself) gets g / 0 * 0 = NaN.
        lone_nan = ~touched.reshape(input.shape) & np.isnan(np_of(input))
        if lone_nan.any():
            m = from_np(lone_nan)
            nan_w = _core.where(m, scalar_tensor(np.nan, input.dtype), scalar_tensor(0, input.dtype))
            out = out + _core.where(m, input, scalar_tensor(0, input.dtype)) * nan_w
        return out
    return from_np(_np_scatter(np_of(input), dest, np_of(vals), reduce, include_self, touched), like=input)


def _np_scatter(base: np.ndarray, dest, vals, reduce, include_self, touched) -> np.ndarray:
    """scatter_reduce in numpy (the values of ops that need no gradient, and amax/amin results)."""
    out = base.copy().reshape(-1)
    vals = vals.astype(out.dtype, copy=False)
    if reduce in ("sum", "mean"):
        acc = np.zeros_like(out)
        np.add.at(acc, dest, vals)
    elif reduce == "prod":
        acc = np.ones_like(out)
        np.multiply.at(acc, dest, vals)
    else:
        ufunc = np.maximum if reduce == "amax" else np.minimum
        if out.dtype.kind == "b":
            ufunc = np.logical_or if reduce == "amax" else np.logical_and
        acc = out.copy() if include_self else np.full_like(out, _extreme(out.dtype, reduce))
        ufunc.at(acc, dest, vals)
        return np.where(touched, acc, out).reshape(base.shape)
    if include_self:
        acc = acc * out if reduce == "prod" else acc + out
    if reduce == "mean":
        cnt = np.bincount(dest, minlength=out.size) + (1 if include_self else 0)
        cnt = np.maximum(cnt, 1)
        acc = acc // cnt if out.dtype.kind in "iu" else (acc / cnt).astype(out.dtype)
    return np.where(touched, acc, out).astype(out.dtype).reshape(base.shape)


def _extreme(dtype, reduce):
    if dtype.kind == "f":
        return -np.inf if reduce == "amax" else np.inf
    if dtype.kind == "b":
        return reduce != "amax"
    info = np.iinfo(dtype)
    return info.min if reduce == "amax" else info.max


@register("scatter_reduce")
def scatter_reduce(input: Tensor, dim: int, index: Tensor, src: Tensor, reduce: str, *, include_self: bool = True, out=None) -> Tensor:
    """Reduces src's values into input at `index` along `dim` with sum/prod/mean/amax/amin;
    include_self=False leaves input's own value out wherever something is scattered."""
    no_out("scatter_reduce", out)
    if reduce not in _REDUCES:
        raise RuntimeError(f"reduce argument must be either sum, prod, mean, amax or amin, got {reduce}")
    if not isinstance(src, Tensor):
        raise TypeError(f"scatter_reduce(): argument 'src' must be Tensor, not {type(src).__name__}")
    _, dest, vals = _scatter_plan("scatter_reduce", input, dim, index, src)
    return _scatter_reduce_core(input, dest, vals, reduce, include_self)


inplace("scatter_", scatter)
inplace("scatter_add_", scatter_add)
inplace("scatter_reduce_", scatter_reduce)


# ----------------------------------------------------------------------------- index_*


def _index_vector(op: str, index: Tensor) -> np.ndarray:
    idx = index_array(index, op)
    if idx.ndim > 1:
        raise IndexError(f"{op}(): Index is supposed to be a vector")
    return idx.reshape(-1)


@register("index_select")
def index_select(input: Tensor, dim: int, index: Tensor, *, out=None) -> Tensor:
    """The slices of input at `index` (a vector) along `dim`."""
    no_out("index_select", out)
    d = wrap_dim(dim, input.ndim)
    idx = _index_vector("index_select", index)
    size = _shape(input)[d]
    if size == 0 and idx.size:
        raise RuntimeError("index_select(): self indexing axis dim should be positive")
    if ((idx < 0) | (idx >= size)).any():
        raise IndexError("index out of range in self")
    if input.ndim == 0:
        if idx.size != 1:
            raise RuntimeError(f"index_select(): Index to scalar can have only 1 value, got {idx.size} value(s)")
        return input.clone()
    return input[(slice(None),) * d + (from_np(idx),)]


def _index_dest(op: str, input: Tensor, dim: int, index: Tensor, source: Tensor | None, wrap=False, positions=True):
    """(dim, checked index vector, destination flat positions of source's elements); with
    positions=False, a function that computes those positions, for callers that may not need them."""
    d = wrap_dim(dim, input.ndim)
    idx = _index_vector(op, index)
    size = _shape(input)[d]
    if source is not None:
        ss, xs = list(_shape(source)), list(_shape(input))
        if source.ndim != input.ndim and not (source.ndim <= 1 and input.ndim <= 1):
            raise IndexError(f"{op}(): Index is supposed to be a vector")
        if idx.size != ss[d]:
            raise RuntimeError(
                f"{op}(): Number of indices ({idx.size}) should be equal to source.size(dim): ({ss[d]}), for dim: {d}"
            )
        if any(ss[k] != xs[k] for k in range(len(xs)) if k != d):
            raise RuntimeError(f"{op}(): Source/destination tensor must have same slice shapes. Destination slice "
                               f"shape: {xs[:d] + xs[d + 1:]} at dimension {d} and source slice shape: "
                               f"{ss[:d] + ss[d + 1:]} at dimension 0.")
    bad = ((idx < -size) if wrap else (idx < 0)) | (idx >= size)
    slice_elems = int(np.prod([s for k, s in enumerate(_shape(input)) if k != d]))
    # PyTorch checks no index when nothing is written: index_add when self is empty, the others
    # when each slice is.
    unchecked = (input.numel() == 0 and input.ndim > 1) if op == "index_add_" else slice_elems == 0
    if bad.any() and not unchecked:
        k = int(idx[bad][0])
        if op == "index_copy_":
            raise IndexError(f"index_copy_(): index {k} is out of bounds for dimension {d} with size {size}")
        if op == "index_fill_":
            raise IndexError(f"index {k} is out of bounds for dimension {d} with size {size}")
        if input.ndim > 1 and op == "index_add_":
            raise RuntimeError(f"index {k} is out of bounds for dimension {d} with size {size}")
        raise IndexError("index out of range in self")
    idx = np.where(idx < 0, idx + size, idx)
    if unchecked:
        idx = np.clip(idx, 0, max(size - 1, 0))
    shape = list(_shape(source) if source is not None else _shape(input))
    shape[d] = idx.size

    def dest() -> np.ndarray:
        along = np.broadcast_to(idx.reshape([-1 if k == d else 1 for k in range(len(shape))]), shape)
        return positions_along(_shape(input), d, along).reshape(-1)

    return d, idx, dest() if positions else dest


@register("index_add")
def index_add(input: Tensor, dim: int, index: Tensor, source: Tensor, *, alpha=1, out=None) -> Tensor:
    """input plus alpha * source's slices added at `index` along `dim` (repeats accumulate)."""
    no_out("index_add", out)
    if source.dtype != input.dtype:
        raise RuntimeError(f"index_add_(): self ({type_name(input.dtype)}) and source ({type_name(source.dtype)}) must "
                           f"have the same scalar type")
    d, idx, dest = _index_dest("index_add_", input, dim, index, source, positions=False)
    if input.numel() == 0:
        return input + source.reshape(-1)[:0].sum().to(input.dtype)  # nothing written; source stays in the graph
    # A float alpha on integers is cast to the integer (toward zero), as PyTorch's kernel does.
    alpha = int(alpha) if not input.is_floating_point() and isinstance(alpha, float) else alpha
    vals = source if alpha == 1 else source * alpha
    if input.dtype in (_core.float32, _core.float64) and input.ndim >= 1 and vals.ndim == input.ndim:
        # One op on slices (IndexAddBackward0), no flat position per element.
        return _core._index_add(input, d, from_np(np.ascontiguousarray(idx, dtype=np.int64)), vals)
    return _scatter_sum(input, dest(), vals.reshape(-1))


@register("index_copy")
def index_copy(input: Tensor, dim: int, index: Tensor, source: Tensor, *, out=None) -> Tensor:
    """input with its slices at `index` along `dim` replaced by source's."""
    no_out("index_copy", out)
    if source.dtype != input.dtype:
        raise RuntimeError(f"index_copy_(): self and source expected to have the same dtype, but got (self) "
                           f"{input.dtype} and (source) {source.dtype}")
    _, _, dest = _index_dest("index_copy_", input, dim, index, source)
    return place(source.reshape(-1), dest, input)


@register("index_fill")
def index_fill(input: Tensor, dim: int, index: Tensor, value) -> Tensor:
    """input with its slices at `index` along `dim` set to `value` (a number or a 0-d tensor)."""
    d, idx, _ = _index_dest("index_fill_", input, dim, index, None, wrap=True)
    mask = np.zeros(_shape(input)[d], dtype=bool)
    mask[idx[idx < mask.size]] = True
    mask = mask.reshape([-1 if k == d else 1 for k in range(input.ndim)])
    return _core.where(from_np(mask), _value(value, input, "index_fill_"), input)


def _value(value, input: Tensor, op: str) -> Tensor:
    """A fill value as a 0-d tensor of input's dtype (a non-finite float cannot fill an integer
    tensor, as in PyTorch)."""
    if isinstance(value, Tensor):
        if value.ndim != 0:
            raise RuntimeError(f"{op} only supports a 0-dimensional value tensor, but got tensor with {value.ndim} dimension(s).")
        v = value.item()
    elif isinstance(value, numbers.Number):
        v = value
    else:
        raise TypeError(f"{op}(): argument 'value' must be a number or a 0-d Tensor, not {type(value).__name__}")
    if not input.is_floating_point() and input.dtype != _core.bool and isinstance(v, float) and not np.isfinite(v):
        raise RuntimeError(f"value cannot be converted to type {np_of(input.reshape(-1)[:0]).dtype}_t without overflow")
    return value.to(input.dtype) if isinstance(value, Tensor) else scalar_tensor(value, input.dtype)


inplace("index_add_", index_add)
inplace("index_copy_", index_copy)
inplace("index_fill_", index_fill)


def _put_positions(input: Tensor, indices) -> np.ndarray:
    """Flat positions that `input[indices]` selects (every rule is getitem's own)."""
    if not isinstance(indices, (tuple, list)):
        raise TypeError(f"index_put(): argument 'indices' must be tuple of Tensors, not {type(indices).__name__}")
    ids = from_np(np.arange(input.numel(), dtype=np.int64).reshape(input.shape))
    key = tuple(i if isinstance(i, Tensor) or i is None else from_np(np.asarray(i)) for i in indices)
    return np_of(ids[key])


@register("index_put")
def index_put(input: Tensor, indices, values: Tensor, accumulate: bool = False) -> Tensor:
    """`input[indices] = values` out of place; accumulate=True adds (repeats accumulate). A values
    tensor must have input's dtype, as PyTorch's index_put requires."""
    if isinstance(values, Tensor) and values.dtype != input.dtype:
        raise RuntimeError(f"Index put requires the source and destination dtypes match, got {input.dtype._torch_name} for the "
                           f"destination and {values.dtype._torch_name} for the source")
    pos = _put_positions(input, indices)
    vals = values.to(input.dtype) if isinstance(values, Tensor) else scalar_tensor(values, input.dtype)
    try:
        vals = vals.expand(*pos.shape) if tuple(vals.shape) != pos.shape else vals
    except Exception:
        raise RuntimeError(f"shape mismatch: value tensor of shape {list(vals.shape)} cannot be broadcast to indexing "
                           f"result of shape {list(pos.shape)}") from None
    if accumulate:
        return _scatter_sum(input, pos.reshape(-1), vals.reshape(-1))
    return place(vals.reshape(-1), pos.reshape(-1), input)


def index_put_(self: Tensor, indices, values, accumulate: bool = False) -> Tensor:
    if not accumulate:
        key = tuple(indices) if isinstance(indices, (tuple, list)) else indices
        self[key] = values
        return self
    return assign(self, index_put, indices, values, True)


register("index_put_", function=False)(index_put_)


@register("put")
def put(input: Tensor, index: Tensor, source: Tensor, accumulate: bool = False) -> Tensor:
    """input (flattened) with source's elements written (or added) at `index`; negative indices
    count from the end."""
    idx = index_array(index, "put", allow_int32=False).reshape(-1)
    n = input.numel()
    if source.numel() != idx.size:
        raise RuntimeError(f"put_(): Expected source and index to have the same number of elements, but got source "
                           f"with {source.numel()} elements and index with {idx.size} elements")
    if source.dtype != input.dtype:
        raise RuntimeError(f"put_(): self and source expected to have the same dtype, but got self.dtype = "
                           f"{input.dtype} and source.dtype = {source.dtype}")
    bad = (idx < -n) | (idx >= n)
    if bad.any():
        raise IndexError(f"out of range: tried to access index {int(idx[bad][0])} on a tensor of {n} elements.")
    idx = np.where(idx < 0, idx + n, idx)
    if accumulate:
        return _scatter_sum(input, idx, source.reshape(-1))
    return place(source.reshape(-1), idx, input)


inplace("put_", put)


# ----------------------------------------------------------------------------- masks


def _bool_mask(op: str, mask) -> Tensor:
    if not isinstance(mask, Tensor):
        raise TypeError(f"{op}(): argument 'mask' must be Tensor, not {type(mask).__name__}")
    if mask.dtype != _core.bool:
        raise RuntimeError(f"{op} only supports boolean masks, but got mask with dtype {str(mask.dtype).split('.')[-1]}")
    return mask


@register("masked_fill")
def masked_fill(input: Tensor, mask: Tensor, value) -> Tensor:
    """input with `value` (a number or a 0-d tensor) where the boolean mask is true."""
    _bool_mask("masked_fill_", mask)
    return _core.where(mask, _value(value, input, "masked_fill_"), input)


def masked_fill_(self: Tensor, mask: Tensor, value) -> Tensor:
    _bool_mask("masked_fill_", mask)
    try:
        np.broadcast_to(np.empty(mask.shape, bool), tuple(self.shape))
    except ValueError:
        raise RuntimeError(f"The size of tensor a ({list(self.shape)}) must match the size of tensor b "
                           f"({list(mask.shape)}): masked_fill_ cannot broadcast the mask to self") from None
    return assign(self, masked_fill, mask, value)


register("masked_fill_", function=False)(masked_fill_)


@register("masked_select")
def masked_select(input: Tensor, mask: Tensor, *, out=None) -> Tensor:
    """The elements of input where mask is true (both broadcast), as a 1-D tensor."""
    no_out("masked_select", out)
    _bool_mask("masked_select", mask)
    shape = broadcast_shape(input.shape, mask.shape)
    x = input.expand(*shape) if tuple(input.shape) != shape else input
    m = mask.expand(*shape) if tuple(mask.shape) != shape else mask
    if not shape:
        return x.reshape(1)[m.reshape(1)]
    return x[m]


@register("masked_scatter")
def masked_scatter(input: Tensor, mask: Tensor, source: Tensor) -> Tensor:
    """input with source's elements, in order, written where mask (broadcast) is true."""
    _bool_mask("masked_scatter_", mask)
    if source.dtype != input.dtype:
        raise RuntimeError(f"masked_scatter_: expected self and source to have same dtypes but got {input.dtype} "
                           f"and {source.dtype}")
    shape = broadcast_shape(input.shape, mask.shape)
    x = input.expand(*shape) if tuple(input.shape) != shape else input
    m = np.broadcast_to(np_of(mask), shape).reshape(-1)
    dest = np.flatnonzero(m)
    if dest.size > source.numel():
        raise RuntimeError("masked_scatter: expected source to have at least as many elements as ones in mask")
    return place(gather_flat(source, np.arange(dest.size)), dest, x)


inplace("masked_scatter_", masked_scatter)


# ----------------------------------------------------------------------------- nonzero


@register("nonzero")
def nonzero(input: Tensor, *, as_tuple: bool = False, out=None):
    """Coordinates of the nonzero elements: an int64 (n, ndim) tensor, or one vector per dim."""
    no_out("nonzero", out)
    mask = input.detach() if input.dtype == _core.bool else input.detach() != 0
    if as_tuple and input.ndim == 0:
        return (from_np(np.zeros(int(mask.item()), dtype=np.int64)),)
    coords = _core._nonzero(mask)
    return tuple(coords.unbind(1)) if as_tuple else coords


@register("argwhere")
def argwhere(input: Tensor) -> Tensor:
    return nonzero(input)


@register("index_reduce")
def index_reduce(input: Tensor, dim: int, index: Tensor, source: Tensor, reduce: str, *, include_self: bool = True,
                 out=None) -> Tensor:
    """Reduces source's slices into input's slices at `index` along `dim` with prod, mean, amax
    or amin (scatter_reduce's rules, slice by slice)."""
    no_out("index_reduce", out)
    if reduce not in ("prod", "mean", "amax", "amin"):
        raise RuntimeError(f"index_reduce(): Expected reduce to be one of prod, mean, amax or amin but got {reduce}.")
    if source.dtype != input.dtype:
        raise RuntimeError(f"index_reduce_(): self ({type_name(input.dtype)}) and source ({type_name(source.dtype)}) "
                           f"must have the same scalar type")
    _, _, dest = _index_dest("index_reduce_", input, dim, index, source)
    if input.numel() == 0:
        return input + source.reshape(-1)[:0].sum().to(input.dtype)
    return _scatter_reduce_core(input, dest, source.reshape(-1), reduce, include_self)


inplace("index_reduce_", index_reduce)


@register("nonzero_static")
def nonzero_static(input: Tensor, *, size: int, fill_value: int = -1) -> Tensor:
    """nonzero(), cut or padded with fill_value to exactly `size` rows."""
    coords = np.argwhere(np_of(input)).astype(np.int64)
    out = np.full((size, input.ndim), fill_value, dtype=np.int64)
    k = min(size, coords.shape[0])
    out[:k] = coords[:k]
    return from_np(out)
