"""RNN, LSTM and GRU layers as ONNX's LSTM, GRU and RNN ops: one node per layer and direction,
as the fused kernel runs them, with the weights' gate blocks reordered to ONNX's order."""

from __future__ import annotations

import numpy as np

from ._graph import Graph, TracedOp

# ONNX op, PyTorch's gate blocks in ONNX's order, extra attributes.
_KINDS = {
    "MkldnnRnnLayerBackward0": ("LSTM", [0, 3, 1, 2], {}),  # (i, f, g, o) -> (i, o, f, c)
    "GruLayerBackward0": ("GRU", [1, 0, 2], {"linear_before_reset": 1}),  # (r, z, n) -> (z, r, h)
    "RnnTanhLayerBackward0": ("RNN", [0], {"activations": ["Tanh"]}),
    "RnnReluLayerBackward0": ("RNN", [0], {"activations": ["Relu"]}),
}


def rnn_layer(g: Graph, op: TracedOp, training: bool) -> list:
    kind, order, extra = _KINDS[op.name]
    a = op.attrs
    if a["packed"]:
        raise op.unsupported("a PackedSequence input: export the padded sequence (pad_packed_sequence's form) instead")
    x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr = op.inputs
    if w_hr is not None:
        raise op.unsupported("LSTM with proj_size > 0 (ONNX's LSTM has no projection)")
    hidden = a["hidden_size"]

    def weight(t, what):
        name = g.value(t, op)
        if not g.is_constant(name):
            raise op.unsupported(f"{what} computed in the forward pass (ONNX's {kind} takes constant weights)")
        return g.constant_value(name)

    def gates(w):
        return np.concatenate([w[i * hidden:(i + 1) * hidden] for i in order])

    wi, wh = weight(w_ih, "weight_ih"), weight(w_hh, "weight_hh")
    zeros = np.zeros(wi.shape[0], wi.dtype)
    bi = weight(b_ih, "bias_ih") if b_ih is not None else zeros
    bh = weight(b_hh, "bias_hh") if b_hh is not None else zeros
    ins = [g.const(gates(wi)[None], "W"), g.const(gates(wh)[None], "R"), g.const(np.concatenate([gates(bi), gates(bh)])[None], "B"), ""]
    ins = [g.value(x, op)] + ins
    for state in (h0, c0):
        if state is None:
            continue
        name = g.value(state, op)
        if g.is_constant(name) and not g.constant_value(name).any():
            ins.append("")  # zeros: ONNX's default, and no batch size frozen into the graph
        else:
            ins.append(g.add1("Unsqueeze", [name, g.ints([0])]))
    while ins[-1] == "":
        ins.pop()
    n_out = 3 if kind == "LSTM" else 2
    outs = g.add(kind, ins, n_out, hidden_size=hidden, direction="reverse" if a["reverse"] else "forward", **extra)
    y = g.add1("Squeeze", [outs[0], g.ints([1])])
    states = [g.add1("Squeeze", [s, g.ints([0])]) for s in outs[1:]]
    return [y] + states + [None] * (3 - n_out)
