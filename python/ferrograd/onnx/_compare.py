"""What the extra traces of an export say about the first one. A trace records one run, so the
forward runs again (a) twice with the inputs' elements shuffled and (b) with every dynamic axis
one longer, and the runs are compared op by op:

- a tensor the graph would take as a constant, or a number argument of an op, that changes
  with the inputs' values came from something the tracer does not follow (argmax, .item(),
  numpy): the export refuses it;
- sizes that change with the dynamic axes are the ones the graph must compute; a constant or a
  number argument that changes with them was made from a size (x.size(1)) and is refused,
  except where the op's mapping computes it (an index from the end of a dynamic dim).
"""

from __future__ import annotations

import numpy as np

from .. import _core
from .errors import OnnxExporterError


def _tid(t) -> int:
    return _core._trace_ids(t)[0]


def on_inputs(ops, args) -> list:
    """The ops that read the graph's inputs, directly or through other such ops: the ones two
    traces must agree on. Side computations on constants (a warning's check of a buffer, made
    once per module) and copies that only change the memory layout (`contiguous()` copies at
    one size and not at another) may differ between runs and are left out."""
    live = {_tid(t) for t in args}
    kept = []
    for op in ops:
        name, ins, outs, attrs = op
        if name.startswith("module_"):
            continue
        if any(isinstance(t, _core.Tensor) and _tid(t) in live for t in [*ins, *attrs.values()]):
            if name not in ("CloneBackward0", "detach"):
                kept.append(op)
            live.update(_tid(t) for t in outs if t is not None)
    return kept


class Comparison:
    """Tensors (identity in the first trace) and op arguments (op -> names) that differ in
    another trace, and each op's counterpart there."""

    def __init__(self):
        self.tensors: set[int] = set()
        self.shapes: dict[int, tuple] = {}
        self.args: dict[int, set[str]] = {}  # id(op) -> attribute names
        self.counterpart: dict[int, tuple] = {}  # id(op) -> the other trace's op


def compare(ops, args, outputs, ops2, args2, outputs2, what: str) -> Comparison:
    first, second = on_inputs(ops, args), on_inputs(ops2, args2)
    if len(first) != len(second) or any(a[0] != b[0] for a, b in zip(first, second)):
        raise OnnxExporterError(f"fg.onnx.export: the model runs different ops {what}; an ONNX graph cannot follow that "
                                "(control flow on a value or a size, e.g. `if x.sum() > 0`)")
    c = Comparison()

    def note(t, t2):
        if isinstance(t, _core.Tensor) and isinstance(t2, _core.Tensor):
            c.shapes.setdefault(_tid(t), tuple(t2.shape))
            a, b = t.detach().numpy(), t2.detach().numpy()
            if a.shape != b.shape or not np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"):
                c.tensors.add(_tid(t))

    for t, t2 in zip(args, args2):
        note(t, t2)
    for t, t2 in zip(outputs, outputs2):
        note(t, t2)
    for op, op2 in zip(first, second):
        c.counterpart[id(op)] = op2
        (_, ins, outs, attrs), (_, ins2, outs2, attrs2) = op, op2
        for t, t2 in zip([*ins, *outs], [*ins2, *outs2]):
            note(t, t2)
        for k, v in attrs.items():
            v2 = attrs2.get(k)
            if isinstance(v, _core.Tensor):
                note(v, v2)
            elif v != v2 and not (isinstance(v, float) and isinstance(v2, float) and np.isnan(v) and np.isnan(v2)):
                c.args.setdefault(id(op), set()).add(k)
    return c
