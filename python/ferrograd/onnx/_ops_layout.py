"""The op table's shared helpers and its layout ops (reshape, expand, permute, slices, flip,
roll, the triangles, select, index, cat): each appends the ONNX nodes of one traced op. Split
from `_ops.py`, which builds the table from both."""

from __future__ import annotations

import numpy as np

from ._graph import Graph, TracedOp, np_dtype

_BIG = np.iinfo(np.int64).max


def _in(g: Graph, op: TracedOp, i: int = 0) -> str:
    return g.value(op.inputs[i], op)


def _out_dtype(op: TracedOp):
    return np_dtype(op.outputs[0])


def _operands(g: Graph, op: TracedOp, n: int) -> list[str]:
    """The first n inputs, cast to the output's dtype (PyTorch promotes; ONNX does not)."""
    if len(op.inputs) < n or any(t is None for t in op.inputs[:n]):
        raise op.unsupported(f"{n} tensor inputs expected, the trace has {sum(t is not None for t in op.inputs)} (a fused op's step)")
    dtype = _out_dtype(op)
    return [g.cast(_in(g, op, i), dtype) for i in range(n)]


def _reshape(g, op, training):
    return [_reshape_to(g, op, _in(g, op), op.inputs[0], op.outputs[0], _out_sizes(g, op))]


def _out_sizes(g, op) -> list[tuple]:
    """The op's first output's shape in each trace (the first, then those with dynamic axes longer)."""
    return g.shapes_in_traces(op.outputs[0])


def _reshape_to(g, op, x: str, src_t, dst_t, sizes: list[tuple] | None = None) -> str:
    """`x` (shaped as tensor src_t) reshaped as tensor dst_t. A dim whose size follows a dynamic
    axis is copied from the input (0) when it is the input's dim at that place, else read from
    the graph input axis it equals in every trace (`sizes`: dst's shape in each), else inferred
    (-1; one at most); the others are constants."""
    src, dst = tuple(src_t.shape), tuple(dst_t.shape)
    src_dyn, dst_dyn = set(g.dynamic_dims(src_t)), set(g.dynamic_dims(dst_t))
    if src == dst and src_dyn == dst_dyn:
        return x
    target = list(dst)
    inferred = [i for i in dst_dyn if not (i in src_dyn and i < len(src) and src[i] == dst[i])]
    for i in dst_dyn:
        if i not in inferred:
            target[i] = 0
    if len(inferred) > 1 and sizes and len(sizes) > 1:
        for i in list(inferred):
            if (src := g.size_from_input([s[i] for s in sizes])) is not None:
                target[i] = src
                inferred.remove(i)
    if len(inferred) > 1:
        raise op.unsupported(f"a reshape from {src} to {dst} in which {len(inferred)} dims follow dynamic axes")
    if inferred:
        target[inferred[0]] = -1
    return g.add1("Reshape", [x, g.shape_value(target)])


def _expand(g, op, training):
    """Dims that do not grow are 1 (Expand broadcasts), so a dynamic one passes through."""
    src, dst = list(op.inputs[0].shape), list(op.outputs[0].shape)
    lead = len(dst) - len(src)
    src = [1] * lead + src
    shape = [1 if s == d else d for s, d in zip(src, dst)]
    sizes = _out_sizes(g, op)
    for i in g.dynamic_dims(op.outputs[0]):
        if i < lead or src[i] != dst[i]:
            # Grown to a size that follows a dynamic axis (a parameter expanded to the batch):
            # read it from the input axis it equals.
            shape[i] = g.size_from_input([s[i] for s in sizes])
            if shape[i] is None:
                raise op.unsupported(f"expand from {tuple(src)} to {tuple(dst)} along dim {i}, whose size follows dynamic axes but equals none")
    return [g.add1("Expand", [_in(g, op), g.shape_value(shape)])]


def _permute(g, op, training):
    return [g.add1("Transpose", [_in(g, op)], perm=list(op.attrs["perm"]))]


def _grown_sizes(op, dim: int) -> list:
    """(size of `dim`, the op's attributes, output) in each trace with the dynamic axes longer."""
    return [(o[1][0].shape[dim], o[3], o[2][0]) for o in (op.grown or [])]


def _slice(g, op, training):
    """A slice, its start and end counted from the front or from the end of the dim, whichever
    the traces with the dynamic axes longer agree with (a fixed index, or one from the end)."""
    a = op.attrs
    dim, start, step = a["dim"], a["start"], a["step"]
    size, length = op.inputs[0].shape[dim], op.outputs[0].shape[dim]
    end = start + (length - 1) * step + 1 if length else start
    others = _grown_sizes(op, dim)

    def fits(s, e):
        if len(range(*slice(s, e, step).indices(size))) != length or slice(s, e, step).indices(size)[0] != start % max(size, 1):
            return False
        for size2, attrs2, out2 in others:
            r = range(*slice(s, e, step).indices(size2))
            if len(r) != out2.shape[dim] or (len(r) and r.start != attrs2["start"]):
                return False
        return True

    for s_ in (start, start - size):
        for e_ in (_BIG, end, end - size):
            if fits(s_, e_):
                return [g.add1("Slice", [_in(g, op), g.ints([s_]), g.ints([e_]), g.ints([dim]), g.ints([step])])]
    raise op.unsupported(f"a slice of dim {dim} whose bounds follow a dynamic axis in a way that is neither fixed nor from the end")


def _flip(g, op, training):
    """Each dim read backwards: a Slice of step -1 over the whole axis (ONNX has no Flip)."""
    x = _in(g, op)
    for d in op.attrs["dims"]:
        x = g.add1("Slice", [x, g.ints([-1]), g.ints([-_BIG]), g.ints([d]), g.ints([-1])])
    return [x]


def _roll(g, op, training):
    """Each dim's last s entries, then the others (Slices from the end, so a longer dynamic axis
    still rolls by s)."""
    x = _in(g, op)
    for s, d in zip(op.attrs["shifts"], op.attrs["dims"]):
        n = op.inputs[0].shape[d] if op.inputs[0].ndim else 1
        s = s % n if n else 0
        if s:
            tail = g.add1("Slice", [x, g.ints([-s]), g.ints([_BIG]), g.ints([d])])
            head = g.add1("Slice", [x, g.ints([0]), g.ints([-s]), g.ints([d])])
            x = g.add1("Concat", [tail, head], axis=d)
    return [x]


def _trilu(g, op, training):
    """Trilu from opset 14 (for the dtypes onnxruntime's kernel takes); otherwise a Where with
    the triangle as a constant mask, as the op traced before it was one op (fixed last dims)."""
    lower, k, x = op.name == "TrilBackward0", op.attrs["diagonal"], _in(g, op)
    if g.opset >= 14 and _out_dtype(op) in (np.float32, np.float64, np.int64, np.bool_):
        return [g.add1("Trilu", [x, g.const(np.asarray(k, dtype=np.int64))], upper=int(not lower))]
    t = op.inputs[0]
    if set(g.dynamic_dims(t)) & {t.dim() - 2, t.dim() - 1}:
        raise op.unsupported("a triangle of a dynamic matrix dim needs opset_version >= 14 (Trilu)")
    keep = (np.tril if lower else np.triu)(np.ones(tuple(t.shape[-2:]), dtype=bool), k)
    zero = g.const(np.zeros((), dtype=_out_dtype(op)))
    return [g.add1("Where", [g.const(keep), x, zero])]

def _select(g, op, training):
    a = op.attrs
    dim, idx = a["dim"], a["start"]
    size = op.inputs[0].shape[dim]
    for i in (idx, idx - size):
        if all(i % size2 == attrs2["start"] for size2, attrs2, _ in _grown_sizes(op, dim)):
            return [g.add1("Gather", [_in(g, op), g.const(np.asarray(i, dtype=np.int64))], axis=dim)]
    raise op.unsupported(f"an index into dim {dim} that follows a dynamic axis in a way that is neither fixed nor from the end")


def _index(g, op, training):
    if "indices" not in op.attrs:
        raise op.unsupported("only one integer index tensor (a gather, e.g. an embedding lookup) is supported")
    idx, d = g.value(op.attrs["indices"], op), op.attrs["dim"]
    # One index tensor keeps its place (numpy's rule), as Gather's output does.
    return [g.add1("Gather", [_in(g, op), idx], axis=d)]


def _cat(g, op, training):
    dtype = _out_dtype(op)
    # A legacy empty (shape [0]) takes no part in a cat, as in PyTorch.
    parts = [g.cast(g.value(t, op), dtype) for t in op.inputs if t is not None and not (t.dim() == 1 and t.numel() == 0)]
    return [g.add1("Concat", parts, axis=op.attrs["dim"])]
