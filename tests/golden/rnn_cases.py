"""The recurrent-layer cases, written once against a backend `lib` (torch or ferrograd) so the same
code makes the golden values under PyTorch (make_rnn_golden.py) and is checked under ferrograd
(tests/test_rnn_golden.py). Every array comes from numpy with a per-case seed: parameters are
loaded with load_state_dict (drawn in sorted-name order), so no RNG of either library is involved.

Each run returns plain lists: outputs, final states and the gradients of one scalar loss (a fixed
random weighting of every output, so no gradient is trivially uniform) with respect to every
parameter, the input and the initial states.
"""

from __future__ import annotations

import numpy as np

IN, H, T, B = 3, 4, 5, 3

# (name, class, constructor kwargs, input layout, initial state given?, training)
_KINDS = [
    ("rnn_tanh", "RNN", {}),
    ("rnn_relu", "RNN", {"nonlinearity": "relu"}),
    ("lstm", "LSTM", {}),
    ("lstm_proj", "LSTM", {"proj_size": 2}),
    ("gru", "GRU", {}),
]
_CONFIGS = [
    ("l1", {}, {"layout": "padded", "state": False}),
    ("l1_state", {}, {"layout": "padded", "state": True}),
    ("l2_bidir_batch_first_state", {"num_layers": 2, "bidirectional": True, "batch_first": True},
     {"layout": "padded", "state": True}),
    ("l2_nobias_bidir", {"num_layers": 2, "bias": False, "bidirectional": True}, {"layout": "padded", "state": False}),
    ("l2_dropout_eval", {"num_layers": 2, "dropout": 0.3}, {"layout": "padded", "state": True, "training": False}),
    ("l2_dropout1_train", {"num_layers": 2, "dropout": 1.0}, {"layout": "padded", "state": True, "training": True}),
    ("packed_sorted_l2_bidir_state", {"num_layers": 2, "bidirectional": True},
     {"layout": "packed", "lengths": [5, 3, 3], "enforce_sorted": True, "state": True}),
    ("packed_unsorted_bidir_batch_first", {"bidirectional": True, "batch_first": True},
     {"layout": "packed", "lengths": [2, 5, 1], "enforce_sorted": False, "state": False}),
    ("packed_unsorted_l2_state", {"num_layers": 2},
     {"layout": "packed", "lengths": [3, 5, 3], "enforce_sorted": False, "state": True}),
    ("unbatched_state", {"num_layers": 2, "bidirectional": True}, {"layout": "unbatched", "state": True}),
    ("unbatched_batch_first", {"batch_first": True}, {"layout": "unbatched", "state": False}),
]

MODULE_CASES = [
    {"id": f"{kind}-{cname}", "seed": 1000 + 37 * k + c, "cls": cls, "kw": {**kkw, **ckw}, **run}
    for k, (kind, cls, kkw) in enumerate(_KINDS)
    for c, (cname, ckw, run) in enumerate(_CONFIGS)
]

# Second derivatives: one configuration of each kind that exercises states, layers, directions and
# packing, with dropout off (a dropout mask would differ between the libraries).
SECOND_ORDER_CASES = [c for c in MODULE_CASES if c["id"].split("-", 1)[1] in
                      ("l1_state", "l2_bidir_batch_first_state", "packed_unsorted_l2_state", "unbatched_state")]

CELL_CASES = [
    {"id": f"{cls}-{variant}", "seed": 2000 + 11 * k + v, "cls": cls, "kw": kw, "variant": variant}
    for k, (cls, kw) in enumerate([("RNNCell", {}), ("RNNCell", {"nonlinearity": "relu"}), ("LSTMCell", {}),
                                   ("GRUCell", {}), ("GRUCell", {"bias": False}), ("LSTMCell", {"bias": False})])
    for v, variant in enumerate(["state", "no_state", "unbatched"])
]
CELL_CASES = [{**c, "id": c["id"] + ("-relu" if c["kw"].get("nonlinearity") else "")
               + ("-nobias" if c["kw"].get("bias") is False else "")} for c in CELL_CASES]

PACKING_CASES = [
    {"id": "pack_padded_sorted", "fn": "pack_padded", "lengths": [5, 3, 3, 1], "batch_first": False, "enforce_sorted": True},
    {"id": "pack_padded_unsorted_ties", "fn": "pack_padded", "lengths": [3, 5, 3, 1], "batch_first": False,
     "enforce_sorted": False},
    {"id": "pack_padded_unsorted_batch_first", "fn": "pack_padded", "lengths": [2, 4, 1, 5], "batch_first": True,
     "enforce_sorted": False},
    {"id": "pad_sequence_right", "fn": "pad_sequence", "lengths": [2, 5, 1], "batch_first": False, "side": "right"},
    {"id": "pad_sequence_left_batch_first", "fn": "pad_sequence", "lengths": [2, 5, 1], "batch_first": True,
     "side": "left"},
    {"id": "pack_sequence_unsorted", "fn": "pack_sequence", "lengths": [2, 5, 1, 5], "enforce_sorted": False},
]
PACKING_CASES = [{**c, "seed": 3000 + k} for k, c in enumerate(PACKING_CASES)]


def saved_input():
    """The input of the torch.save'd LSTM case (make_rnn_golden.saved_state_dict)."""
    return np.random.default_rng(4000).standard_normal((T, 2, IN)).astype(np.float32)


def _tensor(lib, array, dtype, grad=False):
    return lib.tensor(np.ascontiguousarray(array), dtype=getattr(lib, dtype), requires_grad=grad)


def _np(t):
    return t.detach().cpu().numpy() if hasattr(t, "cpu") else t.detach().numpy()


def _list(t):
    return None if t is None else _np(t).tolist()


def _load_params(lib, module, rng, dtype):
    bound = 1.0 / np.sqrt(module.hidden_size)
    names = sorted(name for name, _ in module.named_parameters())
    shapes = dict((name, tuple(p.shape)) for name, p in module.named_parameters())
    state = {name: _tensor(lib, rng.uniform(-bound, bound, shapes[name]), dtype) for name in names}
    module.load_state_dict(state)


def _grads(named):
    return {name: _list(t.grad) for name, t in named if t is not None}


def _module_loss(lib, case, dtype):
    """Builds the case's module and input, runs it, and returns (module, x, h0, c0, output, h_n, c_n,
    loss, extra): the loss a fixed random weighting of output and final states."""
    rng = np.random.default_rng(case["seed"])
    kw = case["kw"]
    module = getattr(lib.nn, case["cls"])(IN, H, dtype=getattr(lib, dtype), **kw)
    _load_params(lib, module, rng, dtype)
    module.train(case.get("training", False))
    directions = 2 if kw.get("bidirectional") else 1
    layers = kw.get("num_layers", 1)
    h_out = kw.get("proj_size", 0) or H
    batch_first = kw.get("batch_first", False)
    lstm = case["cls"] == "LSTM"
    layout = case["layout"]
    x_shape = (T, IN) if layout == "unbatched" else ((B, T, IN) if batch_first else (T, B, IN))
    x = _tensor(lib, rng.standard_normal(x_shape), dtype, grad=True)
    state_batch = () if layout == "unbatched" else (B,)
    h0 = c0 = None
    if case["state"]:
        h0 = _tensor(lib, rng.standard_normal((layers * directions, *state_batch, h_out)), dtype, grad=True)
        if lstm:
            c0 = _tensor(lib, rng.standard_normal((layers * directions, *state_batch, H)), dtype, grad=True)
    hx = (h0, c0) if lstm and h0 is not None else h0
    if layout == "packed":
        rnn_utils = lib.nn.utils.rnn
        packed = rnn_utils.pack_padded_sequence(x, case["lengths"], batch_first=batch_first,
                                                enforce_sorted=case["enforce_sorted"])
        out_packed, state = module(packed, hx)
        output, out_lengths = rnn_utils.pad_packed_sequence(out_packed, batch_first=batch_first)
        extra = {"packed_data": _list(out_packed.data), "out_lengths": _np(out_lengths).tolist()}
    else:
        output, state = module(x, hx)
        extra = {}
    h_n, c_n = state if lstm else (state, None)
    loss = (output * _tensor(lib, rng.standard_normal(tuple(output.shape)), dtype)).sum()
    loss = loss + (h_n * _tensor(lib, rng.standard_normal(tuple(h_n.shape)), dtype)).sum()
    if c_n is not None:
        loss = loss + (c_n * _tensor(lib, rng.standard_normal(tuple(c_n.shape)), dtype)).sum()
    return module, x, h0, c0, output, h_n, c_n, loss, extra


def run_module(lib, case, dtype="float64"):
    module, x, h0, c0, output, h_n, c_n, loss, extra = _module_loss(lib, case, dtype)
    loss.backward()
    return {
        "output": _list(output), "h_n": _list(h_n), "c_n": _list(c_n), "loss": float(_np(loss)),
        "param_grads": _grads(module.named_parameters()),
        "input_grad": _list(x.grad), "h0_grad": _list(h0.grad) if h0 is not None else None,
        "c0_grad": _list(c0.grad) if c0 is not None else None, **extra,
    }


def run_second_order(lib, case, dtype="float64"):
    """Second derivatives (a gradient penalty, as WGAN-GP and MAML take them): the first gradients
    of the case's loss with respect to the input, initial states and every parameter, taken with
    create_graph=True, then the gradients of a weighted sum of their squares."""
    module, x, h0, c0, _, _, _, loss, _ = _module_loss(lib, case, dtype)
    names = [name for name, _ in module.named_parameters()]
    inputs = [x] + [s for s in (h0, c0) if s is not None] + [p for _, p in module.named_parameters()]
    firsts = lib.autograd.grad(loss, inputs, create_graph=True)
    rng = np.random.default_rng(case["seed"] + 1)
    penalty = sum((g * g * _tensor(lib, rng.uniform(0.5, 1.5, tuple(g.shape)), dtype)).sum() for g in firsts)
    seconds = lib.autograd.grad(penalty, inputs)
    states = len(inputs) - 1 - len(names)
    return {
        "first": [_list(g) for g in firsts], "penalty": float(_np(penalty)),
        "input_grad": _list(seconds[0]), "state_grads": [_list(g) for g in seconds[1:1 + states]],
        "param_grads": dict(zip(names, (_list(g) for g in seconds[1 + states:]))),
    }


def run_cell(lib, case, dtype="float64"):
    rng = np.random.default_rng(case["seed"])
    cell = getattr(lib.nn, case["cls"])(IN, H, dtype=getattr(lib, dtype), **case["kw"])
    _load_params(lib, cell, rng, dtype)
    lstm = case["cls"] == "LSTMCell"
    batch = () if case["variant"] == "unbatched" else (B,)
    x = _tensor(lib, rng.standard_normal((*batch, IN)), dtype, grad=True)
    states = []
    if case["variant"] != "no_state":
        states = [_tensor(lib, rng.standard_normal((*batch, H)), dtype, grad=True) for _ in range(2 if lstm else 1)]
    hx = None if not states else (tuple(states) if lstm else states[0])
    out = cell(x, hx)
    outs = list(out) if lstm else [out]
    loss = sum((o * _tensor(lib, rng.standard_normal(tuple(o.shape)), dtype)).sum() for o in outs)
    loss.backward()
    return {"outputs": [_list(o) for o in outs], "param_grads": _grads(cell.named_parameters()),
            "input_grad": _list(x.grad), "state_grads": [_list(s.grad) for s in states]}


def run_packing(lib, case, dtype="float64"):
    rng = np.random.default_rng(case["seed"])
    U = lib.nn.utils.rnn
    lengths = case["lengths"]
    result = {}
    if case["fn"] == "pack_padded":
        t, b = max(lengths), len(lengths)
        shape = (b, t, 2) if case["batch_first"] else (t, b, 2)
        x = _tensor(lib, rng.standard_normal(shape), dtype, grad=True)
        packed = U.pack_padded_sequence(x, lengths, batch_first=case["batch_first"], enforce_sorted=case["enforce_sorted"])
        padded, out_lengths = U.pad_packed_sequence(packed, batch_first=case["batch_first"], padding_value=-3.0,
                                                    total_length=t + 1)
        weights = _tensor(lib, rng.standard_normal(tuple(packed.data.shape)), dtype)
        (packed.data * weights).sum().backward()
        result = {"data": _list(packed.data), "batch_sizes": _np(packed.batch_sizes).tolist(),
                  "sorted_indices": None if packed.sorted_indices is None else _np(packed.sorted_indices).tolist(),
                  "unsorted_indices": None if packed.unsorted_indices is None else _np(packed.unsorted_indices).tolist(),
                  "padded": _list(padded), "lengths": _np(out_lengths).tolist(), "input_grad": _list(x.grad)}
    elif case["fn"] == "pad_sequence":
        seqs = [_tensor(lib, rng.standard_normal((n, 2)), dtype, grad=True) for n in lengths]
        padded = U.pad_sequence(seqs, batch_first=case["batch_first"], padding_value=1.5, padding_side=case["side"])
        (padded * _tensor(lib, rng.standard_normal(tuple(padded.shape)), dtype)).sum().backward()
        result = {"padded": _list(padded), "grads": [_list(s.grad) for s in seqs]}
    elif case["fn"] == "pack_sequence":
        seqs = [_tensor(lib, rng.standard_normal((n, 2)), dtype, grad=True) for n in lengths]
        packed = U.pack_sequence(seqs, enforce_sorted=case["enforce_sorted"])
        back = U.unpack_sequence(packed)
        loss = sum((s * _tensor(lib, rng.standard_normal(tuple(s.shape)), dtype)).sum() for s in back)
        loss.backward()
        result = {"data": _list(packed.data), "batch_sizes": _np(packed.batch_sizes).tolist(),
                  "sorted_indices": _np(packed.sorted_indices).tolist(), "unpacked": [_list(s) for s in back],
                  "grads": [_list(s.grad) for s in seqs]}
    return result
