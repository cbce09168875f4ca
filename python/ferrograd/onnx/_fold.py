"""Constant folding after tracing: an eval-mode BatchNormalization whose input is a Conv or Gemm
with constant weights, used by nothing else, is folded into that Conv or Gemm's weight and bias."""

from __future__ import annotations

import numpy as np

from ._graph import Graph


def fold_batch_norms(g: Graph) -> None:
    producer = {o: n for n in g.nodes for o in n.output}
    uses: dict[str, int] = {}
    for n in g.nodes:
        for i in n.input:
            uses[i] = uses.get(i, 0) + 1
    drop = set()
    for bn in g.nodes:
        if bn.op_type != "BatchNormalization" or len(bn.output) != 1:
            continue
        x, gamma, beta, mean, var = bn.input
        src = producer.get(x)
        if src is None or src.op_type not in ("Conv", "Gemm") or uses.get(x, 0) != 1:
            continue
        if src.op_type == "Gemm" and _attr(src, "transB", 0) != 1:
            continue
        consts = [gamma, beta, mean, var, src.input[1]] + list(src.input[2:3])
        if not all(g.is_constant(c) for c in consts):
            continue
        eps = _attr(bn, "epsilon", 1e-5)
        gm, bt, mu, vr = (g.constant_value(c).astype(np.float64) for c in (gamma, beta, mean, var))
        w = g.constant_value(src.input[1])
        b = g.constant_value(src.input[2]).astype(np.float64) if len(src.input) > 2 else np.zeros(w.shape[0])
        scale = gm / np.sqrt(vr + eps)
        w2 = (w.astype(np.float64) * scale.reshape((-1,) + (1,) * (w.ndim - 1))).astype(w.dtype)
        b2 = ((b - mu) * scale + bt).astype(w.dtype)
        src.input[1] = g.const(w2, "folded_weight")
        if len(src.input) > 2:
            src.input[2] = g.const(b2, "folded_bias")
        else:
            src.input.append(g.const(b2, "folded_bias"))
        src.output[0] = bn.output[0]
        drop.add(id(bn))
    g.nodes = [n for n in g.nodes if id(n) not in drop]


def _attr(node, name, default):
    for a in node.attribute:
        if a.name == name:
            return a.i if a.type == a.INT else a.f
    return default
