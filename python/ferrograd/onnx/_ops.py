"""The op table: one function per traced op (by grad_fn name) that appends its ONNX nodes.
Each takes the graph, the op and the export's training flag, and returns the names of the op's
outputs' values. Shapes that depend on the batch are written so a dynamic batch axis still
works (Reshape copies leading dims with 0, Expand keeps dims that do not grow, Slice ends past
the dim's size)."""

from __future__ import annotations

import math

import numpy as np

from ._ops_layout import (
    _cat,
    _expand,
    _flip,
    _in,
    _index,
    _operands,
    _out_dtype,
    _permute,
    _reshape,
    _reshape_to,
    _roll,
    _select,
    _slice,
    _trilu,
)


def _elementwise(onnx_op: str, n: int = 1, **attrs):
    def emit(g, op, training):
        return [g.add1(onnx_op, _operands(g, op, n), **attrs)]

    return emit


def _sub(g, op, training):
    return [g.add1("Sub", _operands(g, op, 2))]


def _linear(g, op, training):
    """Linear: x @ W^T + b with W (out, in) as stored. Gemm for 2-D input; MatMul with the
    transposed weight otherwise."""
    x, w = _in(g, op, 0), _in(g, op, 1)
    b = _in(g, op, 2) if len(op.inputs) > 2 and op.inputs[2] is not None else None
    if op.inputs[0].dim() == 2:
        return [g.add1("Gemm", [x, w] + ([b] if b else []), transB=1)]
    y = g.add1("MatMul", [x, g.add1("Transpose", [w], perm=[1, 0])])
    return [g.add1("Add", [y, b]) if b else y]


def _matmul(g, op, training):
    return [g.add1("MatMul", _operands(g, op, 2))]


def _reduce(g, op, training):
    dims = list(op.attrs["dims"]) or list(range(op.inputs[0].dim()))
    keep = int(op.outputs[0].dim() == op.inputs[0].dim())
    x = g.cast(_in(g, op), _out_dtype(op))  # a sum of bools or small ints is int64
    if op.attrs.get("mean"):
        if g.opset >= 18:
            return [g.add1("ReduceMean", [x, g.ints(dims)], keepdims=keep)]
        return [g.add1("ReduceMean", [x], axes=dims, keepdims=keep)]
    return [g.add1("ReduceSum", [x, g.ints(dims)], keepdims=keep)]


def _softmax(g, op, training):
    kind = "LogSoftmax" if op.name == "LogSoftmaxBackward0" else "Softmax"
    return [g.add1(kind, [_in(g, op)], axis=op.attrs["dim"])]


def _unary_table(g, op, training):
    """The elementwise rows of the Rust op table, by forward name."""
    name = op.attrs.get("op", "")
    x = _in(g, op)
    simple = {"exp": "Exp", "log": "Log", "sqrt": "Sqrt", "sin": "Sin", "cos": "Cos", "tan": "Tan", "tanh": "Tanh",
              "sigmoid": "Sigmoid", "relu_float": "Relu", "erf": "Erf", "reciprocal": "Reciprocal", "softplus": "Softplus",
              "asin": "Asin", "acos": "Acos", "atan": "Atan", "sinh": "Sinh", "cosh": "Cosh", "asinh": "Asinh",
              "acosh": "Acosh", "atanh": "Atanh", "elu": "Elu", "selu": "Selu", "softplus_default": "Softplus"}
    if name in simple:
        return [g.add1(simple[name], [x])]
    dtype = _out_dtype(op)

    def c(v):
        return g.const(np.asarray(v, dtype=dtype))

    if name == "silu":
        return [g.add1("Mul", [x, g.add1("Sigmoid", [x])])]
    if name in ("hardsigmoid", "hardswish"):  # min(max(x + 3, 0), 6) / 6 is HardSigmoid at alpha 1/6
        if name == "hardswish" and g.opset >= 14:
            return [g.add1("HardSwish", [x])]
        h = g.add1("HardSigmoid", [x], alpha=1.0 / 6.0, beta=0.5)
        return [h if name == "hardsigmoid" else g.add1("Mul", [x, h])]
    if name == "mish":  # x * tanh(softplus(x)); an op of its own from opset 18
        if g.opset >= 18:
            return [g.add1("Mish", [x])]
        return [g.add1("Mul", [x, g.add1("Tanh", [g.add1("Softplus", [x])])])]
    if name == "gelu":  # x * Phi(x) = x * (1 + erf(x / sqrt 2)) / 2
        e = g.add1("Erf", [g.add1("Div", [x, c(math.sqrt(2.0))])])
        return [g.add1("Mul", [g.add1("Mul", [x, g.add1("Add", [e, c(1.0)])]), c(0.5)])]
    if name == "gelu_tanh":  # x * (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) / 2
        x3 = g.add1("Mul", [g.add1("Mul", [x, x]), x])
        u = g.add1("Mul", [g.add1("Add", [x, g.add1("Mul", [x3, c(0.044715)])]), c(math.sqrt(2.0 / math.pi))])
        return [g.add1("Mul", [g.add1("Mul", [x, g.add1("Add", [g.add1("Tanh", [u]), c(1.0)])]), c(0.5)])]
    if name in ("log2", "log10"):
        return [g.add1("Div", [g.add1("Log", [x]), c(math.log(2.0 if name == "log2" else 10.0))])]
    if name == "exp2":
        return [g.add1("Pow", [c(2.0), x])]
    if name == "rsqrt":
        return [g.add1("Reciprocal", [g.add1("Sqrt", [x])])]
    if name == "log1p":
        return [g.add1("Log", [g.add1("Add", [x, c(1.0)])])]
    if name == "expm1":
        return [g.add1("Sub", [g.add1("Exp", [x]), c(1.0)])]
    raise op.unsupported()


def _leaky_relu(g, op, training):
    return [g.add1("LeakyRelu", [_in(g, op)], alpha=float(op.attrs["negative_slope"]))]


def _clamp(g, op, training):
    dtype = _out_dtype(op)
    lo = g.const(np.asarray(op.attrs["min"], dtype=dtype)) if "min" in op.attrs else ""
    hi = g.const(np.asarray(op.attrs["max"], dtype=dtype)) if "max" in op.attrs else ""
    return [g.add1("Clip", [_in(g, op), lo, hi])]


def _cast(g, op, training):
    return [g.cast(_in(g, op), _out_dtype(op)) if g.meta.get(_in(g, op)) else g.add1("Identity", [_in(g, op)])]


def _identity(g, op, training):
    return [g.add1("Identity", [_in(g, op)])]


def _where(g, op, training):
    if "condition" not in op.attrs:
        raise op.unsupported("where without its condition")
    x, y = _operands(g, op, 2)
    return [g.add1("Where", [g.cast(g.value(op.attrs["condition"], op), np.bool_), x, y])]


def _compare(onnx_op, negate=False):
    def emit(g, op, training):
        a, b = (_in(g, op, i) for i in range(2))
        common = np.result_type(g.meta[a][0], g.meta[b][0]) if not (g.is_constant(a) or g.is_constant(b)) else \
            (g.meta[b][0] if g.is_constant(a) else g.meta[a][0])
        out = g.add1(onnx_op, [g.cast(a, common), g.cast(b, common)])
        return [g.add1("Not", [out]) if negate else out]

    return emit


def _logical(onnx_op):
    def emit(g, op, training):
        return [g.add1(onnx_op, [g.cast(_in(g, op, i), np.bool_) for i in range(len(op.inputs))])]

    return emit


def _bitwise(bool_op, int_op):
    def emit(g, op, training):
        dtype = _out_dtype(op)
        if dtype == np.bool_:
            return _logical(bool_op)(g, op, training)
        if g.opset < 18:
            raise op.unsupported("bitwise ops on integers need opset_version >= 18")
        return [g.add1(int_op, [g.cast(_in(g, op, i), dtype) for i in range(len(op.inputs))])]

    return emit


def _kept_axes(op) -> list[int]:
    """The reduced dims of an op that keeps them as size 1 in `kept_shape`: size 1 in every
    trace (a dynamic dim that happened to be 1 in the first one grows in the others)."""
    shapes = [op.attrs["kept_shape"], *(o[3]["kept_shape"] for o in (op.grown or []))]
    return [i for i in range(len(shapes[0])) if all(s[i] == 1 for s in shapes)]


def _reduce_op(g, kind: str, x: str, axes: list[int], keep: int) -> str:
    """ReduceX over `axes`: axes as an input from opset 18 (ReduceSum from 13)."""
    if kind == "ReduceSum" or g.opset >= 18:
        return g.add1(kind, [x, g.ints(axes)], keepdims=keep)
    return g.add1(kind, [x], axes=axes, keepdims=keep)


def _var_std(g, op, training):
    x = _in(g, op)
    dtype = _out_dtype(op)
    axes = _kept_axes(op)
    mean = _reduce_op(g, "ReduceMean", x, axes, 1)
    d = g.add1("Sub", [x, mean])
    ss = _reduce_op(g, "ReduceSum", g.add1("Mul", [d, d]), axes, 1)
    v = g.add1("Div", [ss, g.const(np.asarray(op.attrs["dof"], dtype=dtype))])
    if op.name == "StdBackward0":
        v = g.add1("Sqrt", [v])
    return [_reshape_to(g, op, v, _Shaped(op.attrs["kept_shape"], op.inputs[0], g), op.outputs[0])]


class _Shaped:
    """A stand-in tensor for `_reshape_to`: a traced shape whose dynamic dims are those of `like`."""

    def __init__(self, shape, like, g):
        self.shape, self._dyn = tuple(shape), [i for i in g.dynamic_dims(like) if i < len(shape) and shape[i] == like.shape[i]]

    def dim(self):
        return len(self.shape)


def _kept_reduce(kind):
    """A reduction recorded with its kept shape (logsumexp, the 2-norm) as one ONNX Reduce op."""
    def convert(g, op, training):
        out = _reduce_op(g, kind, _in(g, op), _kept_axes(op), 1)
        return [_reshape_to(g, op, out, _Shaped(op.attrs["kept_shape"], op.inputs[0], g), op.outputs[0])]
    return convert


def _max_dim(g, op, training):
    kind = "ReduceMax" if op.name == "MaxBackward0" else "ReduceMin"
    return [_reduce_op(g, kind, _in(g, op), [op.attrs["dim"]], int(op.attrs["keepdim"]))]


def _cumsum(g, op, training):
    return [g.add1("CumSum", [_in(g, op), g.const(np.asarray(op.attrs["dim"], dtype=np.int64))])]


def _conv(g, op, training):
    a = op.attrs
    x, w = _in(g, op, 0), _in(g, op, 1)
    ins = [x, w] + ([_in(g, op, 2)] if len(op.inputs) > 2 and op.inputs[2] is not None else [])
    k = list(op.inputs[1].shape[2:])
    # The trace keeps the padding before each dim; the padding after is what the output size
    # needs (one more than before for padding='same' with an even kernel).
    ends = []
    for i, o, s, p, d, kk in zip(op.inputs[0].shape[2:], op.outputs[0].shape[2:], a["stride"], a["padding"], a["dilation"], k):
        need = (o - 1) * s + d * (kk - 1) + 1 - i - p
        ends.append(p if need <= p else need)
    pads = list(a["padding"]) + (ends if not a.get("transposed") else list(a["padding"]))
    if a.get("transposed"):
        # output_padding is what the output shape adds beyond the usual formula.
        ins_sp, out_sp = op.inputs[0].shape[2:], op.outputs[0].shape[2:]
        op_pad = [o - ((i - 1) * s - 2 * p + d * (kk - 1) + 1)
                  for o, i, s, p, d, kk in zip(out_sp, ins_sp, a["stride"], a["padding"], a["dilation"], k)]
        return [g.add1("ConvTranspose", ins, kernel_shape=k, strides=list(a["stride"]), pads=pads,
                       dilations=list(a["dilation"]), group=a["groups"], output_padding=op_pad if any(op_pad) else None)]
    return [g.add1("Conv", ins, kernel_shape=k, strides=list(a["stride"]), pads=pads, dilations=list(a["dilation"]), group=a["groups"])]


def _max_pool(g, op, training):
    a = op.attrs
    if not a:  # adaptive
        return [_adaptive(g, op, "GlobalMaxPool")]
    return [g.add1("MaxPool", [_in(g, op)], kernel_shape=list(a["kernel_size"]), strides=list(a["stride"]),
                   pads=list(a["padding"]) * 2, dilations=list(a["dilation"]), ceil_mode=int(a["ceil_mode"]))]


def _avg_pool(g, op, training):
    a = op.attrs
    if not a:
        return [_adaptive(g, op, "GlobalAveragePool")]
    if a["divisor_override"]:
        raise op.unsupported("divisor_override has no ONNX equivalent")
    return [g.add1("AveragePool", [_in(g, op)], kernel_shape=list(a["kernel_size"]), strides=list(a["stride"]),
                   pads=list(a["padding"]) * 2, ceil_mode=int(a["ceil_mode"]), count_include_pad=int(a["count_include_pad"]))]


def _adaptive(g, op, global_op):
    x_shape, out_shape = op.inputs[0].shape, op.outputs[0].shape
    rank = len(out_shape) - 2
    if all(s == 1 for s in out_shape[2:]):
        return g.add1(global_op, [_in(g, op)])
    if any(d >= 2 for d in g.dynamic_dims(op.inputs[0])):
        raise op.unsupported("adaptive pooling to a size other than 1 over a dynamic spatial axis (its windows depend on the size)")
    if all(i % o == 0 for i, o in zip(x_shape[-rank:], out_shape[-rank:])):
        k = [i // o for i, o in zip(x_shape[-rank:], out_shape[-rank:])]
        kind = "MaxPool" if global_op == "GlobalMaxPool" else "AveragePool"
        return g.add1(kind, [_in(g, op)], kernel_shape=k, strides=k)
    raise op.unsupported(f"adaptive pooling from {tuple(x_shape)} to {tuple(out_shape)}: windows of unequal size")


def _batch_norm(g, op, training):
    a = op.attrs
    x = _in(g, op, 0)
    dtype = _out_dtype(op)
    c = op.inputs[0].shape[1]
    rest = iter(op.inputs[1:])
    scale = g.value(next(rest), op) if a.get("has_weight") else g.const(np.ones(c, dtype))
    bias = g.value(next(rest), op) if a.get("has_bias") else g.const(np.zeros(c, dtype))
    if "running_mean" in a:
        mean, var = g.value(a["running_mean"], op), g.value(a["running_var"], op)
    else:
        mean, var = g.const(np.zeros(c, dtype)), g.const(np.ones(c, dtype))
    if a["training"] and training:
        return g.add("BatchNormalization", [x, scale, bias, mean, var], 3, epsilon=float(a["eps"]),
                     momentum=1.0 - float(a["momentum"]), training_mode=1)[:1]
    if a["training"]:
        # Batch statistics in an eval graph (track_running_stats=False, InstanceNorm): the
        # normalisation written out, biased variance over every dim but the channels.
        axes = [0, *range(2, op.inputs[0].dim())]
        mean = _reduce_op(g, "ReduceMean", x, axes, 1)
        d = g.add1("Sub", [x, mean])
        var = _reduce_op(g, "ReduceMean", g.add1("Mul", [d, d]), axes, 1)
        inv = g.add1("Reciprocal", [g.add1("Sqrt", [g.add1("Add", [var, g.const(np.asarray(a["eps"], dtype=dtype))])])])
        shape = g.ints([c] + [1] * (op.inputs[0].dim() - 2))
        y = g.add1("Mul", [g.add1("Mul", [d, inv]), g.add1("Reshape", [scale, shape])])
        return [g.add1("Add", [y, g.add1("Reshape", [bias, shape])])]
    return [g.add1("BatchNormalization", [x, scale, bias, mean, var], epsilon=float(a["eps"]))]


def _layer_norm(g, op, training):
    a = op.attrs
    dtype = _out_dtype(op)
    shape = list(a["normalized_shape"])
    rest = iter(op.inputs[1:])
    scale = g.value(next(rest), op) if a["has_weight"] else g.const(np.ones(shape, dtype))
    ins = [_in(g, op), scale] + ([g.value(next(rest), op)] if a["has_bias"] else [])
    return [g.add1("LayerNormalization", ins, axis=-len(shape), epsilon=float(a["eps"]))]


def _group_norm(g, op, training):
    """As PyTorch exports it below opset 18: InstanceNormalization over (N, G, rest) rows, then
    the per-channel affine."""
    a = op.attrs
    dtype = _out_dtype(op)
    x, groups = _in(g, op), a["num_groups"]
    c, ndim = op.inputs[0].shape[1], op.inputs[0].dim()
    rows = g.add1("Reshape", [x, g.const(np.asarray([0, groups, -1], dtype=np.int64))])
    ones, zeros = g.const(np.ones(groups, dtype)), g.const(np.zeros(groups, dtype))
    normed = g.add1("InstanceNormalization", [rows, ones, zeros], epsilon=float(a["eps"]))
    out = g.add1("Reshape", [normed, g.add1("Shape", [x])])
    per_channel = g.const(np.asarray([c] + [1] * (ndim - 2), dtype=np.int64))
    rest = iter(op.inputs[1:])
    if a["has_weight"]:
        out = g.add1("Mul", [out, g.add1("Reshape", [g.value(next(rest), op), per_channel])])
    if a["has_bias"]:
        out = g.add1("Add", [out, g.add1("Reshape", [g.value(next(rest), op), per_channel])])
    return [out]


def _dropout(g, op, training):
    a = op.attrs
    if a.get("channel") or a.get("alpha"):
        if not training:
            return [g.add1("Identity", [_in(g, op)])]
        raise op.unsupported("channel and alpha dropout have no ONNX form in training mode")
    if not training:
        return [g.add1("Identity", [_in(g, op)])]
    dtype = _out_dtype(op)
    return [g.add("Dropout", [_in(g, op), g.const(np.asarray(a["p"], dtype=dtype)), g.const(np.asarray(True))], 2)[0]]


def _sdpa(g, op, training):
    """MatMul, scale, mask, Softmax, MatMul (opset 17 has no attention op)."""
    a = op.attrs
    if a["gqa"]:
        raise op.unsupported("grouped-query attention (enable_gqa)")
    q, k, v = (_in(g, op, i) for i in range(3))
    dtype = _out_dtype(op)
    nd = op.inputs[0].dim()
    perm = list(range(nd - 2)) + [nd - 1, nd - 2]
    s = g.add1("MatMul", [q, g.add1("Transpose", [k], perm=perm)])
    s = g.add1("Mul", [s, g.const(np.asarray(a["scale"], dtype=dtype))])
    L, S = op.inputs[0].shape[-2], op.inputs[1].shape[-2]
    if a["is_causal"]:
        if g.dynamic_dims(op.inputs[0])[-2:-1] == [nd - 2] or nd - 2 in g.dynamic_dims(op.inputs[1]):
            raise op.unsupported("is_causal with a dynamic sequence axis")
        s = g.add1("Add", [s, g.const(np.triu(np.full((L, S), -np.inf, dtype=dtype), 1))])
    if a["mask_input"]:
        s = g.add1("Add", [s, g.cast(_in(g, op, 3), dtype)])
    elif "attn_mask" in a:
        mask = g.value(a["attn_mask"], op)
        s = g.add1("Where", [mask, s, g.const(np.asarray(-np.inf, dtype=dtype))])
    p = g.add1("Softmax", [s], axis=-1)
    if a["dropout_p"] > 0 and training:
        p = g.add("Dropout", [p, g.const(np.asarray(a["dropout_p"], dtype=dtype)), g.const(np.asarray(True))], 2)[0]
    return [g.add1("MatMul", [p, v])]


def _pow(g, op, training):
    return [g.add1("Pow", _operands(g, op, 2))]


def _neg(g, op, training):
    return [g.add1("Neg", [_in(g, op)])]


def _extremum(onnx_op):
    def emit(g, op, training):
        return [g.add1(onnx_op, _operands(g, op, 2))]

    return emit


def _trunc(g, op, training):
    x = _in(g, op)
    return [g.add1("Mul", [g.add1("Sign", [x]), g.add1("Floor", [g.add1("Abs", [x])])])]


def _floor_divide(g, op, training):
    a, b = _operands(g, op, 2)
    if _out_dtype(op).kind != "f":
        raise op.unsupported("integer floor division (ONNX's integer Div truncates toward zero)")
    return [g.add1("Floor", [g.add1("Div", [a, b])])]


def _remainder(g, op, training):
    """Python's remainder (the sign of the divisor): Mod for integers, a - floor(a / b) b for floats."""
    a, b = _operands(g, op, 2)
    if _out_dtype(op).kind != "f":
        return [g.add1("Mod", [a, b], fmod=0)]
    return [g.add1("Sub", [a, g.add1("Mul", [g.add1("Floor", [g.add1("Div", [a, b])]), b])])]


def _reduce_extremum(g, op, training):
    if op.inputs[0].numel() and op.outputs[0].dim() == 0:
        kind = "ReduceMax" if op.name == "MaxBackward1" else "ReduceMin"
        return [g.add1(kind, [_in(g, op)], keepdims=0)]
    raise op.unsupported()


TABLE = {
    "AddBackward0": _elementwise("Add", 2),
    "SubBackward0": _sub,
    "MulBackward0": _elementwise("Mul", 2),
    "DivBackward0": _elementwise("Div", 2),
    "PowBackward0": _pow, "PowBackward1": _pow,
    "NegBackward0": _neg,
    "AbsBackward0": _elementwise("Abs"),
    "MaximumBackward0": _extremum("Max"), "MinimumBackward0": _extremum("Min"),
    "MmBackward0": _matmul, "BmmBackward0": _matmul,
    "ViewBackward0": _reshape, "UnsqueezeBackward0": _reshape, "SqueezeBackward0": _reshape,
    "ExpandBackward0": _expand,
    "PermuteBackward0": _permute,
    "SliceBackward0": _slice, "SelectBackward0": _select,
    "FlipBackward0": _flip, "RollBackward0": _roll, "TrilBackward0": _trilu, "TriuBackward0": _trilu,
    "IndexBackward0": _index,
    "CatBackward0": _cat,
    "SumBackward0": _reduce, "SumBackward1": _reduce, "MeanBackward0": _reduce, "MeanBackward1": _reduce,
    "SoftmaxBackward0": _softmax, "LogSoftmaxBackward0": _softmax,
    "LeakyReluBackward0": _leaky_relu,
    "ClampBackward1": _clamp,
    "ToCopyBackward0": _cast,
    "CloneBackward0": _identity,
    "ConvolutionBackward0": _conv,
    "MaxPool2DWithIndicesBackward0": _max_pool, "MaxPool3DWithIndicesBackward0": _max_pool,
    "AdaptiveMaxPool2DBackward0": _max_pool, "AdaptiveMaxPool3DBackward0": _max_pool,
    "AvgPool2DBackward0": _avg_pool, "AvgPool3DBackward0": _avg_pool,
    "AdaptiveAvgPool2DBackward0": _avg_pool, "AdaptiveAvgPool3DBackward0": _avg_pool,
    "NativeBatchNormBackward0": _batch_norm,
    "NativeLayerNormBackward0": _layer_norm,
    "NativeGroupNormBackward0": _group_norm,
    "ScaledDotProductFlashAttentionForCpuBackward0": _sdpa,
    "copy_": _identity,
    "MaxBackward1": _reduce_extremum, "MinBackward1": _reduce_extremum,
    "MaxBackward0": _max_dim, "MinBackward0": _max_dim,
    "FloorBackward0": _elementwise("Floor"), "CeilBackward0": _elementwise("Ceil"), "RoundBackward0": _elementwise("Round"),
    "SignBackward0": _elementwise("Sign"), "TruncBackward0": _trunc,
    "FloorDivideBackward0": _floor_divide, "RemainderBackward1": _remainder,
    "VarBackward0": _var_std, "StdBackward0": _var_std,
    "LogsumexpBackward0": _kept_reduce("ReduceLogSumExp"), "LinalgVectorNormBackward0": _kept_reduce("ReduceL2"),
    "CumsumBackward0": _cumsum,
    "WhereBackward0": _where,
    "eq": _compare("Equal"), "ne": _compare("Equal", negate=True), "lt": _compare("Less"), "le": _compare("LessOrEqual"),
    "gt": _compare("Greater"), "ge": _compare("GreaterOrEqual"),
    "bitwise_and": _bitwise("And", "BitwiseAnd"), "bitwise_or": _bitwise("Or", "BitwiseOr"),
    "bitwise_xor": _bitwise("Xor", "BitwiseXor"), "bitwise_not": _bitwise("Not", "BitwiseNot"),
    "detach": _identity,
    "logical_and": _logical("And"), "logical_or": _logical("Or"), "logical_xor": _logical("Xor"), "logical_not": _logical("Not"),
}
