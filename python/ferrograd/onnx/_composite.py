"""Python functions that log themselves as one op (`nn._functional_utils.traced`) and map to
one ONNX node: F.pad to Pad, F.interpolate to Resize, F.instance_norm to InstanceNormalization.
A case a node cannot express exactly raises UnsupportedOperatorError, and the export keeps the
ops the function was made of instead (they were traced too)."""

from __future__ import annotations

import numpy as np

from ._graph import Graph, TracedOp, np_dtype

_PAD_MODES = {"constant": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def pad(g: Graph, op: TracedOp, training: bool) -> list:
    a = op.attrs
    mode = _PAD_MODES[a["mode"]]
    if mode == "wrap" and g.opset < 19:
        raise op.unsupported("circular padding needs opset_version >= 19")
    nd = op.inputs[0].dim()
    pairs = [a["pad"][i:i + 2] for i in range(0, len(a["pad"]), 2)]  # pairs[k] is dim -1-k
    begins, ends = [0] * nd, [0] * nd
    for k, (left, right) in enumerate(pairs):
        begins[nd - 1 - k], ends[nd - 1 - k] = left, right
    x = g.value(op.inputs[0], op)
    ins = [x, g.ints(begins + ends, "pads")]
    if mode == "constant":
        ins.append(g.const(np.asarray(a["value"], dtype=g.meta[x][0])))
    return [g.add1("Pad", ins, mode=mode)]


def interpolate(g: Graph, op: TracedOp, training: bool) -> list:
    a = op.attrs
    if a["antialias"]:
        raise op.unsupported("antialias")
    if not a["by_ratio"]:
        raise op.unsupported("a scale_factor whose output size is not an exact multiple")
    mode = a["mode"]
    src, dst = op.inputs[0].shape, op.outputs[0].shape
    scales = np.asarray([1.0, 1.0] + [o / i for i, o in zip(src[2:], dst[2:])], dtype=np.float32)
    coord = "align_corners" if a["align_corners"] else "pytorch_half_pixel"
    kw = {
        "nearest": {"mode": "nearest", "coordinate_transformation_mode": "asymmetric", "nearest_mode": "floor"},
        "nearest-exact": {"mode": "nearest", "coordinate_transformation_mode": "half_pixel", "nearest_mode": "round_prefer_ceil"},
        "linear": {"mode": "linear", "coordinate_transformation_mode": coord},
        "bilinear": {"mode": "linear", "coordinate_transformation_mode": coord},
        "trilinear": {"mode": "linear", "coordinate_transformation_mode": coord},
        "bicubic": {"mode": "cubic", "coordinate_transformation_mode": coord, "cubic_coeff_a": -0.75},
    }.get(mode)
    if kw is None:
        raise op.unsupported(f"mode {mode!r}")
    x = g.value(op.inputs[0], op)
    if any(d >= 2 for d in g.dynamic_dims(op.inputs[0])) and not any(d >= 2 for d in g.dynamic_dims(op.outputs[0])):
        # A fixed output size from a dynamic input size (`size=`): Resize's sizes, whose batch
        # and channel entries come from the input's shape.
        lead = g.add1("Slice", [g.add1("Shape", [x]), g.ints([0]), g.ints([2])])
        sizes = g.add1("Concat", [lead, g.ints(dst[2:])], axis=0)
        return [g.add1("Resize", [x, "", "", sizes], **kw)]
    if any(d >= 2 for d in g.dynamic_dims(op.outputs[0])) and not a["by_ratio"]:
        raise op.unsupported("a dynamic spatial size with a scale_factor that is not an exact multiple")
    return [g.add1("Resize", [x, "", g.const(scales, "scales")], **kw)]


def instance_norm(g: Graph, op: TracedOp, training: bool) -> list:
    a = op.attrs
    if not a["use_input_stats"]:
        raise op.unsupported("running statistics (the ops it is made of export instead)")
    x, weight, bias = op.inputs
    c = x.shape[1]
    dtype = g.meta[g.value(x, op)][0]
    scale = g.value(weight, op) if weight is not None else g.const(np.ones(c, dtype))
    shift = g.value(bias, op) if bias is not None else g.const(np.zeros(c, dtype))
    return [g.add1("InstanceNormalization", [g.value(x, op), scale, shift], epsilon=float(a["eps"]))]


def full_like(g: Graph, op: TracedOp, training: bool) -> list:
    """zeros_like / ones_like / full_like of a value whose shape may follow a dynamic axis."""
    dtype = np_dtype(op.outputs[0])
    value = g.onnx.numpy_helper.from_array(np.asarray([op.attrs["value"]], dtype=dtype), "value")
    shape = g.add1("Shape", [g.value(op.inputs[0], op)])
    return [g.add1("ConstantOfShape", [shape], value=value)]


COMPOSITES = {"pad": pad, "interpolate": interpolate, "instance_norm": instance_norm, "full_like": full_like}
