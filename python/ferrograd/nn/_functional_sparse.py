"""embedding_bag of nn.functional (embedding itself is in functional.py)."""

from __future__ import annotations

import numpy as np

from .. import _core
from .._core import Tensor

__all__ = ["embedding_bag"]


def _index_array(name: str, t: Tensor) -> np.ndarray:
    if t.dtype not in (_core.int64, _core.int32):
        raise RuntimeError(f"Expected tensor for argument #1 '{name}' to have one of the following scalar types: "
                           f"Long, Int; but got {t.type()} instead (while checking arguments for embedding_bag)")
    return t.numpy().astype(np.int64)


def embedding_bag(input: Tensor, weight: Tensor, offsets: Tensor | None = None, max_norm: float | None = None,
                  norm_type: float = 2, scale_grad_by_freq: bool = False, mode: str = "mean", sparse: bool = False,
                  per_sample_weights: Tensor | None = None, include_last_offset: bool = False,
                  padding_idx: int | None = None) -> Tensor:
    """Sums, averages or takes the max of bags of embedding rows without materialising the
    per-index rows as a separate output.

    input (B, L) is B bags of L indices (offsets must be None); a 1-D input is split into bags at
    `offsets` (the start of each bag; with include_last_offset the last entry is the end).
    Entries equal to `padding_idx` are left out (of the count too, for "mean"); an empty bag
    gives zeros. per_sample_weights (input's shape) scales each row, "sum" mode only.

    # Shapes
    weight (num_embeddings, D); output (B, D).
    """
    if sparse:
        raise NotImplementedError("embedding_bag: sparse gradients are not implemented in ferrograd (use sparse=False)")
    if weight.ndim != 2:
        raise ValueError(f"weight has to be a 2D Tensor, but got Tensor of dimension {weight.ndim}")
    if input.ndim == 2:
        if offsets is not None:
            raise ValueError("if input is 2D, then offsets has to be None, as input is treated is a mini-batch of fixed "
                             f"length sequences. However, found offsets of type {type(offsets).__name__}")
        b, length = input.shape
        starts = np.arange(b, dtype=np.int64) * length
        idx_shape = (b * length,)
        flat = input.reshape(-1)
        if per_sample_weights is not None and tuple(per_sample_weights.shape) == tuple(input.shape):
            per_sample_weights = per_sample_weights.reshape(-1)
            idx_shape = tuple(input.shape)
        ends = starts + length
    elif input.ndim == 1:
        if offsets is None:
            raise ValueError("offsets has to be a 1D Tensor but got None")
        if offsets.ndim != 1:
            raise ValueError("offsets has to be a 1D Tensor")
        flat = input
        idx_shape = tuple(input.shape)
        offs = _index_array("offsets", offsets)
        if offs.size and offs[0] != 0:
            raise RuntimeError("offsets[0] has to be 0, i.e., the first sequence in the mini-batch has to start from "
                               f"position 0. However, got {offs[0]}")
        n = input.shape[0]
        if include_last_offset:
            starts, ends = offs[:-1], offs[1:]
        else:
            starts, ends = offs, np.append(offs[1:], n)
        if offs.size and (offs[-1] > n or np.any(np.diff(offs) < 0)):
            raise RuntimeError(f"embedding_bag: offsets must be non-decreasing and at most the input's length {n}, "
                               f"got {offs.tolist()}")
    else:
        raise ValueError(f"input has to be 1D or 2D Tensor, but got Tensor of dimension {input.ndim}")
    if mode not in ("sum", "mean", "max"):
        raise ValueError("mode has to be one of sum, mean or max")
    if scale_grad_by_freq and mode == "max":
        raise RuntimeError("max mode does not support scaling the gradient by the frequency")
    if per_sample_weights is not None:
        if mode != "sum":
            raise NotImplementedError(f"embedding_bag: per_sample_weights was not None. per_sample_weights is only "
                                      f"supported for mode='sum' (got mode='{mode}'). Please open a feature request "
                                      "on GitHub.")
        if tuple(per_sample_weights.shape) != idx_shape and tuple(per_sample_weights.shape) != tuple(flat.shape):
            raise ValueError(f"embedding_bag: If per_sample_weights ({_size(per_sample_weights.shape)}) is not None, "
                             f"then it must have the same shape as the input ({_size(input.shape)})")
    idx = _index_array("indices", flat)
    num = weight.shape[0]
    bad = np.nonzero((idx < 0) | (idx >= num))[0]
    if bad.size:
        raise RuntimeError(f"Index {bad[0]} of input takes value {idx[bad[0]]} which is not in the valid range [0, {num})")
    if padding_idx is not None:
        if not -num <= padding_idx < num:
            raise ValueError(f"padding_idx must be within the number of embeddings ({num}), got {padding_idx}")
        padding_idx %= num
    keep = np.ones(idx.shape, dtype=bool) if padding_idx is None else idx != padding_idx
    if max_norm is not None:
        _renorm_rows_(weight, np.unique(idx), float(max_norm), float(norm_type))
    nbags, d = len(starts), weight.shape[1]
    if mode == "max":
        # An empty bag is the sum of no rows: zeros that are still part of weight's graph.
        empty_bag = weight[0:0].sum(0)
        rows = []
        for s, e in zip(starts, ends):
            sel = np.arange(s, e)[keep[s:e]]
            # max(0), not amax: the gradient goes to the first of tied rows, as PyTorch's
            # (amax would split it between them)
            rows.append(weight[_core.from_numpy(idx[sel])].max(0).values if sel.size else empty_bag)
        if not rows:
            return weight[0:0]
        return _core.stack(rows, 0)
    if not scale_grad_by_freq and weight.dtype in (_core.float32, _core.float64) and (
            per_sample_weights is None or per_sample_weights.dtype == weight.dtype):
        return _fused_bags(weight, idx, keep, starts, ends, mode == "mean", per_sample_weights)
    # sum / mean: each kept entry's row, scaled (1/count for mean, its per-sample weight), is
    # added into its bag's output row; index_add's backward routes the gradient back to the rows.
    lengths = ends - starts
    bag_of = np.repeat(np.arange(nbags), lengths)
    # Every layout's bags tile one stretch of the indices (each ends where the next starts).
    pos = np.arange(starts[0], ends[-1], dtype=np.int64) if nbags else np.zeros(0, np.int64)
    kept = keep[pos]
    bag_of, pos = bag_of[kept], pos[kept]
    rows = weight[_core.from_numpy(idx[pos])]
    if scale_grad_by_freq:
        # The same forward values; the gradient of each row divided by how often its index occurs
        # in the whole input (PyTorch's rule). (rows - rows.detach()) is 0 but carries the gradient.
        freq = np.bincount(idx, minlength=num).astype(np.float64)[idx[pos]]
        scale = _core.from_numpy((1.0 / freq).reshape(-1, 1)).to(weight.dtype)
        rows = rows.detach() + (rows - rows.detach()) * scale
    if per_sample_weights is not None:
        rows = rows * per_sample_weights.reshape(-1)[_core.from_numpy(pos)].reshape(-1, 1)
    out = _core.full([nbags, d], 0.0, weight.dtype).index_add(0, _core.from_numpy(bag_of), rows)
    if mode == "mean":
        # Each bag's sum divided by its count afterwards, as PyTorch's kernel does (a bag row,
        # not each looked-up row, is scaled); an empty bag stays 0.
        counts = np.bincount(bag_of, minlength=nbags).astype(np.float64)
        out = out / _core.from_numpy(np.maximum(counts, 1.0).reshape(-1, 1)).to(weight.dtype)
    return out


def _fused_bags(weight: Tensor, idx: np.ndarray, keep: np.ndarray, starts: np.ndarray, ends: np.ndarray, mean: bool,
                per_sample_weights: Tensor | None) -> Tensor:
    """sum / mean in one Rust op (rust/ops/embedding_bag.rs), over the kept entries: bag b
    holds those between its start and end."""
    if not len(starts):
        return _core.full([0, weight.shape[1]], 0.0, weight.dtype) + weight[0:0].sum(0)
    # The bags tile one stretch of the indices; a bag's bounds among the kept entries are the
    # kept counts before its start and end.
    first, last = int(starts[0]), int(ends[-1])
    kept_before = np.concatenate([[0], np.cumsum(keep[first:last], dtype=np.int64)])
    bounds = kept_before[np.append(starts, last) - first]
    everything = bool(keep[first:last].all())
    pos = np.arange(first, last, dtype=np.int64) if everything else first + np.flatnonzero(keep[first:last])
    scale = None
    if per_sample_weights is not None:
        flat = per_sample_weights.reshape(-1)
        scale = flat if everything and first == 0 and last == flat.shape[0] else flat[_core.from_numpy(pos)]
    return _core._embedding_bag(weight, _core.from_numpy(np.ascontiguousarray(idx[pos])), _core.from_numpy(bounds), mean, scale)


def _renorm_rows_(weight: Tensor, rows: np.ndarray, max_norm: float, norm_type: float) -> None:
    """PyTorch's embedding_renorm_: rows (of those looked up) whose norm exceeds max_norm are
    scaled in place to max_norm / (norm + 1e-7) of themselves, off the graph."""
    from .._methods.linalg_api import vector_norm
    from ..autograd.grad_mode import no_grad

    if not rows.size:
        return
    index = _core.from_numpy(rows)
    with no_grad():
        selected = weight.detach()[index]
        # The vector norm (for inf the largest magnitude, for 0 the count of non-zeros), and the
        # scale in float64, rounded to the weight's dtype, as PyTorch's (1 / (4 + 1e-7) is
        # 0.24999999 in float32, where float32's 4 + 1e-7 is 4).
        norms = vector_norm(selected, norm_type, 1).double()
        factor = _core.where(norms > max_norm, max_norm / (norms + 1e-7), _core.full([rows.size], 1.0, _core.float64))
        weight.detach()[index] = selected * factor.to(weight.dtype).unsqueeze(1)


def _size(shape) -> str:
    return f"ferrograd.Size({list(shape)})"
