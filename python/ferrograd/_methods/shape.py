"""Shape and layout ops built from reshape/expand/permute/narrow and gathers: repeat, tile,
roll, flip, rot90, tril/triu, diagonals, unfold, the split family, movedim and friends.

Unlike PyTorch, `diagonal`, `unfold` and `movedim`-style results that PyTorch returns as views
are views only where the core's permute/reshape/narrow make them views; diagonal and unfold are
copies (writing into them does not write into the input).
"""

from __future__ import annotations

import numbers

import numpy as np

from .. import _core
from .. import _memory_format as _mf
from .._core import Tensor
from ._util import (
    assign,
    check_int,
    contiguous_strides,
    from_np,
    gather_flat,
    inplace,
    no_out,
    np_of,
    place,
    register,
    scalar_tensor,
    wrap_dim,
)


def _sizes(args, op: str) -> list[int]:
    """`f(2, 3)`, `f((2, 3))` or `f([2, 3])` as a list of ints."""
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        args = args[0]
    if len(args) == 1 and isinstance(args[0], Tensor):
        args = args[0].tolist()
    out = []
    for a in args:
        if not isinstance(a, numbers.Integral) or isinstance(a, bool):
            raise TypeError(f"{op}(): argument 'sizes' must be tuple of ints, but found element of type {type(a).__name__}")
        out.append(int(a))
    return out


# ----------------------------------------------------------------------------- repeat, tile


@register("repeat", function=False)
def repeat(self: Tensor, *sizes) -> Tensor:
    """The tensor tiled `sizes[i]` times along dim i (extra leading sizes add dims)."""
    if not sizes:
        raise TypeError('repeat() missing 1 required positional arguments: "repeats"')
    reps = _sizes(sizes, "repeat")
    if len(reps) < self.ndim:
        raise RuntimeError("Number of dimensions of repeat dims can not be smaller than number of dimensions of tensor")
    if any(r < 0 for r in reps):
        raise RuntimeError(f"Trying to create tensor with negative dimension {min(reps)}: {reps}")
    shape = [1] * (len(reps) - self.ndim) + list(self.shape)
    inter, expanded, final = [], [], []
    for r, s in zip(reps, shape):
        inter += [1, s]
        expanded += [r, s]
        final.append(r * s)
    return self.reshape(*inter).expand(*expanded).reshape(*final) if final else self.clone()


@register("tile")
def tile(input: Tensor, dims) -> Tensor:
    """repeat(), with `dims` padded with leading 1s when shorter than the tensor's rank."""
    reps = _sizes((dims,), "tile")
    reps = [1] * (input.ndim - len(reps)) + reps
    return repeat(input, reps)


@register("repeat_interleave")
def repeat_interleave(input: Tensor, repeats=None, dim: int | None = None, *, output_size: int | None = None) -> Tensor:
    """Each element (or slice along `dim`) repeated `repeats` times in place; `repeats` is an int
    or a tensor with one count per element. `fg.repeat_interleave(counts)` gives the indices."""
    if repeats is None:  # repeat_interleave(repeats): 0, 0, 1, 2, 2, ... by counts
        counts = np_of(input).astype(np.int64).reshape(-1)
        if input.ndim > 1:
            raise RuntimeError("repeat_interleave only accept 1D vector as repeat")
        return from_np(np.repeat(np.arange(counts.size, dtype=np.int64), counts))
    if input.ndim == 0 and dim is not None:
        raise IndexError("Dimension out of range (expected to be in range of [-1, 0], but got 1)")
    x = input.reshape(-1) if dim is None else input
    d = 0 if dim is None else wrap_dim(dim, input.ndim)
    n = x.shape[d] if x.ndim else 1
    if isinstance(repeats, Tensor):
        if repeats.ndim > 1:
            raise RuntimeError("repeat_interleave only accept 1D vector as repeat")
        reps = np_of(repeats).astype(np.int64).reshape(-1)
        if reps.size == 1:
            reps = np.full(n, reps[0])
        elif reps.size != n:
            raise RuntimeError("repeats must have the same size as input along dim, but got repeats.size(0) = "
                               f"{reps.size} and input.size({d}) = {n}")
    else:
        reps = np.full(n, check_int(repeats, "repeats", "repeat_interleave"), dtype=np.int64)
    if (reps < 0).any():
        raise RuntimeError("repeats can not be negative")
    idx = np.repeat(np.arange(n, dtype=np.int64), reps)
    if output_size is not None and output_size != idx.size:
        raise RuntimeError(f"repeat_interleave: output_size {output_size} does not match the sum of repeats {idx.size}")
    if x.ndim == 0:
        return x.reshape(1)[from_np(idx)]
    return x[(slice(None),) * d + (from_np(idx),)]


# ----------------------------------------------------------------------------- roll, flip, rot90


@register("roll")
def roll(input: Tensor, shifts, dims=None) -> Tensor:
    """Elements shifted by `shifts` along `dims` (wrapping round); no dims rolls the flattened
    tensor and restores its shape."""
    shifts_l = [shifts] if isinstance(shifts, numbers.Integral) else list(shifts)
    if dims is None:
        if len(shifts_l) != 1:
            raise RuntimeError(f"roll: shifts and dims must align. shifts: {len(shifts_l)}, dims: 0")
        return roll(input.reshape(-1), shifts_l, 0).reshape(*input.shape)
    dims_l = [dims] if isinstance(dims, numbers.Integral) else list(dims)
    if len(shifts_l) != len(dims_l):
        raise RuntimeError(f"shifts and dimensions must align. shifts: {len(shifts_l)}, dims:{len(dims_l)}")
    # One copy pass per dim in Rust (rust/ops/reorder.rs); always a new tensor, as PyTorch's.
    return _core._roll(input, [int(s) for s in shifts_l], [wrap_dim(d, input.ndim) for d in dims_l])


@register("flip")
def flip(input: Tensor, *args, dims=None) -> Tensor:
    """Elements in reverse order along each of `dims`: `x.flip((0, 1))`, `x.flip(0, 1)` (the
    method's varargs form) or `dims=`."""
    if dims is None:
        if not args:
            raise TypeError("flip() missing required argument 'dims'")
        dims = args[0] if len(args) == 1 else args
    elif args:
        raise TypeError("flip() got multiple values for argument 'dims'")
    dims_l = [dims] if isinstance(dims, numbers.Integral) else list(dims)
    ds = [wrap_dim(d, input.ndim) for d in dims_l]
    if len(set(ds)) != len(ds):
        raise RuntimeError(f"dims has duplicates, original flip dims size={len(ds)}, but unique flip dims size={len(set(ds))}")
    return _core._flip(input, ds)  # one copy pass per dim (rust/ops/reorder.rs)


@register("fliplr")
def fliplr(input: Tensor) -> Tensor:
    if input.ndim < 2:
        raise RuntimeError("Input must be >= 2-d.")
    return flip(input, [1])


@register("flipud")
def flipud(input: Tensor) -> Tensor:
    if input.ndim < 1:
        raise RuntimeError("Input must be >= 1-d.")
    return flip(input, [0])


@register("rot90")
def rot90(input: Tensor, k: int = 1, dims=(0, 1)) -> Tensor:
    """Rotated by 90 degrees k times in the plane of `dims`, from the first towards the second."""
    dims = list(dims)
    if len(dims) != 2:
        raise RuntimeError(f"expected total rotation dims == 2, but got dims = {len(dims)}")
    if input.ndim < 2:
        raise RuntimeError(f"expected total dims >= 2, but got total dims = {input.ndim}")
    d0, d1 = wrap_dim(dims[0], input.ndim), wrap_dim(dims[1], input.ndim)
    if d0 == d1:
        raise RuntimeError(f"expected rotation dims to be different, but got dim0 = {d0} and dim1 = {d1}")
    k = check_int(k, "k", "rot90") % 4
    if k == 1:
        return flip(input, [d1]).transpose(d0, d1)
    if k == 2:
        return flip(input, [d0, d1])
    if k == 3:
        return flip(input, [d0]).transpose(d0, d1)
    return input.clone()


# ----------------------------------------------------------------------------- triangles, diagonals


def _tri(op: str, input: Tensor, diagonal: int, lower: bool) -> Tensor:
    return _core._tri(input, check_int(diagonal, "diagonal", op), lower)


@register("tril")
def tril(input: Tensor, diagonal: int = 0, *, out=None) -> Tensor:
    """The lower triangle (on and below the `diagonal`-th diagonal) of the last two dims; zeros above."""
    no_out("tril", out)
    return _tri("tril", input, diagonal, True)


@register("triu")
def triu(input: Tensor, diagonal: int = 0, *, out=None) -> Tensor:
    """The upper triangle (on and above the `diagonal`-th diagonal) of the last two dims."""
    no_out("triu", out)
    return _tri("triu", input, diagonal, False)


inplace("tril_", tril)
inplace("triu_", triu)


def _diag_positions(shape, offset: int, d1: int, d2: int) -> np.ndarray:
    """Flat positions (contiguous layout of `shape`) of diagonal `offset` of dims d1, d2, in the
    order of the result: the other dims first, then the diagonal."""
    n1, n2 = shape[d1], shape[d2]
    length = max(0, min(n1, n2 - offset) if offset >= 0 else min(n1 + offset, n2))
    i = np.arange(length) + max(-offset, 0)
    j = np.arange(length) + max(offset, 0)
    strides = contiguous_strides(shape)
    rest = [d for d in range(len(shape)) if d not in (d1, d2)]
    pos = (i * strides[d1] + j * strides[d2]).reshape([1] * len(rest) + [-1])
    for axis, d in enumerate(rest):
        ar = np.arange(shape[d]).reshape([-1 if a == axis else 1 for a in range(len(rest))] + [1])
        pos = pos + ar * strides[d]
    return np.broadcast_to(pos, [shape[d] for d in rest] + [length])


def _overlaps(shape, strides) -> bool:
    """Whether elements may share memory (`expand`, or overlapping windows of `unfold`): true
    unless each dim's stride, from the smallest up, clears the extent of those inside it. A view
    of such a tensor cannot be recorded for autograd (views.rs), so `diagonal` and `unfold` copy."""
    extent = 0
    for n, st in sorted(((n, st) for n, st in zip(shape, strides) if n > 1), key=lambda p: p[1]):
        if st <= extent:
            return True
        extent += (n - 1) * st
    return False


@register("diagonal")
def diagonal(input: Tensor, offset: int = 0, dim1: int = 0, dim2: int = 1) -> Tensor:
    """Diagonal `offset` of the (dim1, dim2) planes, appended as the last dim: a view, as in
    PyTorch, so `x.diagonal().add_(eps)` writes into x (and autograd follows the write)."""
    if input.ndim < 2:
        raise RuntimeError(f"diagonal(): input must have at least 2 dimensions, got {input.ndim}")
    d1, d2 = wrap_dim(dim1, input.ndim), wrap_dim(dim2, input.ndim)
    if d1 == d2:
        raise RuntimeError(f"diagonal dimensions cannot be identical {dim1}, {dim2}")
    offset = check_int(offset, "offset", "diagonal")
    shape, strides, start = list(input.shape), input.stride(), input.storage_offset()
    if _overlaps(shape, strides):
        # An expanded tensor: as_strided of it cannot be recorded, and writing into a view of it
        # is refused anyway (as in PyTorch), so a copy reads the same values.
        pos = _diag_positions(shape, offset, d1, d2)
        return input.reshape(-1)[:0].reshape(*pos.shape) if pos.size == 0 else gather_flat(input, pos)
    n1, n2 = shape[d1], shape[d2]
    length = max(0, min(n1, n2 - offset) if offset >= 0 else min(n1 + offset, n2))
    if length > 0:  # an empty diagonal "off the end" keeps the offset (PyTorch's care too)
        start += offset * strides[d2] if offset >= 0 else -offset * strides[d1]
    rest = [d for d in range(input.ndim) if d not in (d1, d2)]
    return input.as_strided([shape[d] for d in rest] + [length], [strides[d] for d in rest] + [strides[d1] + strides[d2]], start)


@register("diag_embed")
def diag_embed(input: Tensor, offset: int = 0, dim1: int = -2, dim2: int = -1) -> Tensor:
    """Each last-dim vector placed on diagonal `offset` of a new (dim1, dim2) plane of zeros."""
    nd = input.ndim + 1
    d1, d2 = wrap_dim(dim1, nd), wrap_dim(dim2, nd)
    if d1 == d2:
        raise RuntimeError(f"diagonal dimensions cannot be identical {dim1}, {dim2}")
    n = (input.shape[-1] if input.ndim else 1) + abs(offset)
    rest = list(input.shape[:-1])
    shape = []
    it = iter(rest)
    for d in range(nd):
        shape.append(n if d in (d1, d2) else next(it))
    # PyTorch's own form: zeros with the input copied into a diagonal view of them (the gradient
    # is the incoming one's diagonal, a view read by CopySlices). A scatter to flat positions
    # built in numpy took 7x PyTorch's time.
    out = _core.full(shape, 0.0, input.dtype)
    diagonal(out, offset, d1, d2).copy_(input)
    return out


@register("diag")
def diag(input: Tensor, diagonal: int = 0, *, out=None) -> Tensor:
    """A 1-D tensor -> a square matrix with it on diagonal `diagonal`; a matrix -> that diagonal."""
    no_out("diag", out)
    k = check_int(diagonal, "diagonal", "diag")
    if input.ndim == 1:
        return diag_embed(input, k, 0, 1)
    if input.ndim == 2:
        return diagonal_(input, k).clone(memory_format=_mf.contiguous_format)  # a copy, as PyTorch's
    raise RuntimeError(f"diag(): Supports 1D or 2D tensors. Got {input.ndim}D")


diagonal_ = diagonal  # `diag` shadows the module-level name inside itself


@register("diagflat")
def diagflat(input: Tensor, offset: int = 0) -> Tensor:
    return diag_embed(input.reshape(-1), offset, 0, 1)


@register("fill_diagonal_", function=False)
def fill_diagonal_(self: Tensor, fill_value, wrap: bool = False) -> Tensor:
    """Sets the main diagonal (all dims equal for >2-D) to fill_value, in place; `wrap` restarts
    it every n+1 rows of a tall matrix, as numpy's fill_diagonal."""
    if self.ndim < 2:
        raise RuntimeError("dimensions must larger than 1")
    shape = list(self.shape)
    if self.ndim > 2 and len(set(shape)) != 1:
        raise RuntimeError("all dimensions of input must be of equal length")
    mask = np.zeros(shape, dtype=bool)
    np.fill_diagonal(mask, True, wrap=wrap)
    return assign(self, lambda x: _core.where(from_np(mask), scalar_tensor(fill_value, x.dtype), x))


@register("diagonal_scatter")
def diagonal_scatter(input: Tensor, src: Tensor, offset: int = 0, dim1: int = 0, dim2: int = 1) -> Tensor:
    """input with its diagonal (as `diagonal(offset, dim1, dim2)` selects it) replaced by src."""
    d1, d2 = wrap_dim(dim1, input.ndim), wrap_dim(dim2, input.ndim)
    pos = _diag_positions(list(input.shape), offset, d1, d2)
    if tuple(src.shape) != pos.shape:
        raise RuntimeError(f"expected src to have a size equal to the slice of self. src size = {list(src.shape)}, "
                           f"slice size = {list(pos.shape)}")
    return place(src.reshape(-1), pos.reshape(-1), input)


def _positions(input: Tensor, key) -> np.ndarray:
    ids = from_np(np.arange(input.numel(), dtype=np.int64).reshape(input.shape))
    return np_of(ids[key])


def _scatter_into(op: str, input: Tensor, src: Tensor, key) -> Tensor:
    pos = _positions(input, key)
    if tuple(src.shape) != pos.shape:
        raise RuntimeError(f"{op}: expected src to have a size equal to the slice of self. src size = {list(src.shape)}, "
                           f"slice size = {list(pos.shape)}")
    return place(src.reshape(-1), pos.reshape(-1), input)


@register("select_scatter")
def select_scatter(input: Tensor, src: Tensor, dim: int, index: int) -> Tensor:
    d = wrap_dim(dim, input.ndim)
    return _scatter_into("select_scatter", input, src, (slice(None),) * d + (index,))


@register("slice_scatter")
def slice_scatter(input: Tensor, src: Tensor, dim: int = 0, start=None, end=None, step: int = 1) -> Tensor:
    d = wrap_dim(dim, input.ndim)
    return _scatter_into("slice_scatter", input, src, (slice(None),) * d + (slice(start, end, step),))


# ----------------------------------------------------------------------------- dims


@register("movedim", "moveaxis")
def movedim(input: Tensor, source, destination) -> Tensor:
    """Dims `source` moved to positions `destination`; the others keep their order."""
    src = [source] if isinstance(source, numbers.Integral) else list(source)
    dst = [destination] if isinstance(destination, numbers.Integral) else list(destination)
    if len(src) != len(dst):
        raise RuntimeError(f"movedim: Invalid source or destination dims: source ({src} dims) should contain the same "
                           f"number of dims as destination ({dst} dims)")
    nd = input.ndim
    src = [wrap_dim(d, nd) for d in src]
    dst = [wrap_dim(d, nd) for d in dst]
    if len(set(src)) != len(src):
        raise RuntimeError(f"movedim: repeated dim in `source` ({src})")
    if len(set(dst)) != len(dst):
        raise RuntimeError(f"movedim: repeated dim in `destination` ({dst})")
    if nd == 0:
        return input.reshape(())
    order = [None] * nd
    for s, t in zip(src, dst):
        order[t] = s
    rest = iter(d for d in range(nd) if d not in src)
    order = [o if o is not None else next(rest) for o in order]
    return input.permute(*order)


@register("swapaxes", "swapdims")
def swapaxes(input: Tensor, axis0: int, axis1: int) -> Tensor:
    return input.transpose(axis0, axis1)


@register("unflatten")
def unflatten(input: Tensor, dim: int, sizes) -> Tensor:
    """Dim `dim` split into `sizes` (one of them may be -1)."""
    d = wrap_dim(dim, input.ndim)
    sizes = _sizes((sizes,), "unflatten")
    if not sizes:
        raise RuntimeError("unflatten: sizes must be non-empty")
    n = input.shape[d] if input.ndim else 1
    known = int(np.prod([s for s in sizes if s != -1]))
    if sizes.count(-1) > 1:
        raise RuntimeError("only one dimension can be inferred")
    if (-1 in sizes and (known == 0 or n % known)) or (-1 not in sizes and known != n):
        raise RuntimeError(f"unflatten: Provided sizes {sizes} don't multiply up to the size of dim {dim} ({n}) in the "
                           f"input tensor")
    if -1 in sizes:
        sizes = [n // known if s == -1 else s for s in sizes]
    shape = list(input.shape)
    return input.reshape(*(shape[:d] + sizes + shape[d + 1:]))


@register("ravel")
def ravel(input: Tensor) -> Tensor:
    return input.reshape(-1)


@register("broadcast_to")
def broadcast_to(input: Tensor, *sizes, size=None) -> Tensor:
    """`input` expanded to `size` (one tuple, the method's varargs, or `size=`)."""
    return input.expand(*_sizes(sizes if size is None else (size,), "broadcast_to"))


@register("narrow_copy")
def narrow_copy(input: Tensor, dim: int, start: int, length: int) -> Tensor:
    return input.narrow(dim, start, length).clone()


@register("sum_to_size", function=False)
def sum_to_size(self: Tensor, *size) -> Tensor:
    """Summed down to `size`, which self must be expandable to (the gradient of expand)."""
    if not size:
        raise TypeError('sum_to_size() missing 1 required positional arguments: "size"')
    target = _sizes(size, "sum_to_size")
    shape = list(self.shape)
    lead = len(shape) - len(target)
    if lead < 0 or any(t not in (s, 1) for t, s in zip(target, shape[lead:])):
        raise RuntimeError(f"size {{{', '.join(map(str, target))}}} is not expandable to size "
                           f"{{{', '.join(map(str, shape))}}}.")
    out = self.sum(list(range(lead))) if lead else self
    dims = [i for i, (t, s) in enumerate(zip(target, shape[lead:])) if t == 1 and s != 1]
    return out.sum(dims, keepdim=True) if dims else out


@register("unfold", function=False)
def unfold(self: Tensor, dimension: int, size: int, step: int) -> Tensor:
    """Every window of `size` elements along `dimension`, `step` apart: that dim becomes the
    window count and a new last dim of `size` holds each window. A view, as in PyTorch (windows
    overlap when step < size, and their gradients add up)."""
    d = wrap_dim(dimension, self.ndim)
    n = self.shape[d] if self.ndim else 1
    if size > n:
        raise RuntimeError(f"maximum size for tensor at dimension {d} is {n} but size is {size}")
    if step <= 0:
        raise RuntimeError(f"step is {step} but must be > 0")
    if size < 0:
        raise RuntimeError(f"size is {size} but must be >= 0")
    if self.ndim == 0:
        return self.as_strided([size], [1], self.storage_offset())
    shape, strides = list(self.shape), list(self.stride())
    if _overlaps(shape, strides):  # expanded: a copy of the windows (see `diagonal`)
        idx = np.arange(0, n - size + 1, step)[:, None] + np.arange(size)[None, :]
        return self[(slice(None),) * d + (from_np(idx),)].movedim(d + 1, -1)
    along = strides[d]
    shape[d], strides[d] = (n - size) // step + 1, along * step
    return self.as_strided(shape + [size], strides + [along], self.storage_offset())


# ----------------------------------------------------------------------------- splits


@register("tensor_split")
def tensor_split(input: Tensor, indices_or_sections, dim: int = 0) -> tuple:
    """numpy's array_split: n nearly equal parts (the first n % size one longer), or the pieces
    between the given indices."""
    d = wrap_dim(dim, input.ndim)
    if input.ndim == 0:
        raise RuntimeError("tensor_split expected at least a 1-dimensional tensor, but got a tensor with 0 dims")
    n = input.shape[d]
    ios = indices_or_sections
    if isinstance(ios, Tensor):
        if ios.dtype != _core.int64:
            raise RuntimeError("tensor_split expected tensor_indices_or_sections to have dtype of long, but got "
                               f"{ios.dtype}")
        if ios.ndim > 1:
            raise RuntimeError("tensor_split expected tensor_indices_or_sections to be a zero-dimensional or "
                               f"one-dimensional tensor, but got a tensor with {ios.ndim} dims")
        ios = ios.item() if ios.ndim == 0 else ios.tolist()
    if isinstance(ios, numbers.Integral):
        if ios <= 0:
            raise RuntimeError(f"number of sections must be larger than 0, got {ios}")
        q, r = divmod(n, ios)
        bounds = np.cumsum([0] + [q + 1] * r + [q] * (ios - r))
    else:
        bounds = [0] + [min(max(int(i) if i >= 0 else int(i) + n, 0), n) for i in ios] + [n]
    out = []
    for a, b in zip(bounds[:-1], bounds[1:]):
        a = min(int(a), n)
        out.append(input.narrow(d, a, max(int(b) - a, 0)))
    return tuple(out)


def _split_by(op: str, input: Tensor, ios, dim: int, min_dims: int) -> tuple:
    if input.ndim < min_dims:
        raise RuntimeError(f"torch.{op} requires a tensor with at least {min_dims} dimension, but got a tensor with "
                           f"{input.ndim} dimensions!")
    if isinstance(ios, numbers.Integral) and (ios == 0 or input.shape[dim] % ios):
        raise RuntimeError(f"torch.{op} attempted to split along dimension {dim}, but the size of the dimension "
                           f"{input.shape[dim]} is not divisible by the split_size {ios}!")
    return tensor_split(input, ios, dim)


@register("hsplit")
def hsplit(input: Tensor, indices_or_sections) -> tuple:
    return _split_by("hsplit", input, indices_or_sections, 1 if input.ndim > 1 else 0, 1)


@register("vsplit")
def vsplit(input: Tensor, indices_or_sections) -> tuple:
    return _split_by("vsplit", input, indices_or_sections, 0, 2)


@register("dsplit")
def dsplit(input: Tensor, indices_or_sections) -> tuple:
    return _split_by("dsplit", input, indices_or_sections, 2, 3)


@register("split_with_sizes", "unsafe_split_with_sizes")
def split_with_sizes(input: Tensor, split_sizes, dim: int = 0) -> tuple:
    sizes = _sizes((split_sizes,), "split_with_sizes")
    n = input.shape[wrap_dim(dim, input.ndim)] if input.ndim else 1
    if sum(sizes) != n:
        raise RuntimeError(f"split_with_sizes expects split_sizes to sum exactly to {n} (input tensor's size at "
                           f"dimension {dim}), but got split_sizes={sizes}")
    return input.split(sizes, dim)


@register("unsafe_split")
def unsafe_split(input: Tensor, split_size: int, dim: int = 0) -> tuple:
    return input.split(split_size, dim)


@register("unsafe_chunk")
def unsafe_chunk(input: Tensor, chunks: int, dim: int = 0) -> tuple:
    return input.chunk(chunks, dim)
