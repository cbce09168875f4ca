"""Python functions that log themselves as one op while a trace is active (`fg.onnx.export`)."""

from __future__ import annotations

from . import _core


def traced(name: str, inputs, out, **attrs):
    """Returns `out`, a function's result computed from other ops (or made from an input's
    shape); while a trace is active also logs the whole function as one op, so an exporter can
    map it to one node (F.pad to Pad, zeros_like to ConstantOfShape) instead of the ops it is
    made of. Costs one check otherwise."""
    if _core._is_tracing():
        _core._trace_op(name, list(inputs), [out], attrs)
    return out
