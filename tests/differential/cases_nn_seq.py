"""The recurrent family against PyTorch (see cases_nn.py for how a layer case runs: PyTorch's
randomised state_dict copied into ferrograd's layer; outputs, final states, every parameter and
input gradient and the errors compared): RNN (tanh/relu), LSTM (with proj_size), GRU, their cells,
packed sequences (pack_padded_sequence sorted and unsorted, pack_sequence, pad_packed_sequence,
pad_sequence) fed through the layers, and Embedding with max_norm (the weight renormalised in place
is compared after the call) and scale_grad_by_freq.

The layers and cells also run on inputs scaled by 30 (saturated gates) and with a NaN or inf.
Dropout between layers is random in train mode: drawn > 0 only in eval mode or with one layer.
Sizes stay tiny (features 1-3, sequences 1-5 steps, batches 1-3) so an example takes milliseconds.
"""

from __future__ import annotations

import numpy as np
import torch
from cases_nn import ModuleFn, _with_nonfinite
from harness import Args, Case, Extra, T, seeds, tensors
from hypothesis import strategies as st

_DTYPES = st.sampled_from(["float32", "float64"])


@st.composite
def values(draw, shape, dt, low=-2.0, high=2.0, grad=None):
    """A float input of a drawn layout whose values are mostly spread uniformly by a seeded
    generator: hypothesis' own values favour zeros and repeats, under which a softmax is uniform
    and a gate constant, and a wrong scale or weight goes unseen."""
    t = draw(tensors(shape, dt, low=low, high=high, nonfinite=False, grad=grad))
    if draw(st.integers(0, 3)) == 0:
        return t
    rng = np.random.default_rng(draw(seeds))
    return T(rng.uniform(low, high, t.base.shape).astype(t.base.dtype), t.view, t.grad)


def _with_dtype(make):
    """make(L, **ctor) with ctor's "dtype" name turned into each library's dtype."""
    return lambda L, dtype="float32", **c: make(L, **c, dtype=getattr(L, dtype))


def _lib(x):
    import ferrograd as fg

    return torch if isinstance(x, torch.Tensor) else fg


def _state_arg(kind, states):
    """The layer's initial state from the drawn inputs: LSTM takes (h0, c0), the others h0."""
    if not states:
        return ()
    return ((states[0], states[1]),) if kind.startswith("LSTM") else (states[0],)


# ----------------------------------------------------------------------------- RNN / LSTM / GRU


@st.composite
def _rnn_ctor(draw, kind, train):
    c = {"input_size": draw(st.integers(1, 3)), "hidden_size": draw(st.integers(1, 3)),
         "num_layers": draw(st.integers(1, 2)), "bias": draw(st.booleans()), "batch_first": draw(st.booleans()),
         "bidirectional": draw(st.booleans()), "dtype": draw(_DTYPES)}
    if kind == "RNN":
        c["nonlinearity"] = draw(st.sampled_from(["tanh", "relu"]))
    if kind == "LSTM" and c["hidden_size"] > 1 and draw(st.booleans()):
        c["proj_size"] = draw(st.integers(1, c["hidden_size"] - 1))
    # train mode with dropout > 0 between layers draws masks from each library's own generator: not
    # comparable; with one layer there is nothing to drop (both warn)
    c["dropout"] = 0.0 if train and c["num_layers"] > 1 else draw(st.sampled_from([0.0, 0.5]))
    return c


def _state_shapes(kind, c, batch):
    """Shapes of h0 (and c0) for a layer built with ctor c; batch () for an unbatched input."""
    d = c["num_layers"] * (2 if c.get("bidirectional") else 1)
    h_out = c.get("proj_size") or c["hidden_size"]
    shapes = [(d,) + batch + (h_out,)]
    if kind == "LSTM":
        shapes.append((d,) + batch + (c["hidden_size"],))
    return shapes


def _bad(draw, shape):
    """Now and then a state one too wide in its last dim, to compare the errors."""
    return shape[:-1] + (shape[-1] + 1,) if draw(st.integers(0, 14)) == 0 else shape


@st.composite
def _rnn_args(draw, kind):
    train = draw(st.booleans())
    c = draw(_rnn_ctor(kind, train))
    n, steps, feat = draw(st.integers(1, 3)), draw(st.integers(1, 5)), c["input_size"]
    if draw(st.integers(0, 19)) == 0:  # an empty batch (allowed) or no steps (refused)
        n, steps = draw(st.sampled_from([(0, steps), (n, 0)]))
    unbatched = draw(st.integers(0, 3)) == 0
    shape = (steps, feat) if unbatched else ((n, steps, feat) if c["batch_first"] else (steps, n, feat))
    x = draw(values(shape, c["dtype"], -2, 2))
    states = []
    if draw(st.booleans()):
        for sh in _state_shapes(kind, c, () if unbatched else (n,)):
            states.append(draw(values(_bad(draw, sh), c["dtype"], -1, 1)))
    seed = draw(seeds)
    return Args([x] + states, {"train": train, "ctor": c, "seed": seed}, seed)


def _rnn_fn(kind):
    return ModuleFn(_with_dtype(lambda L, **c: getattr(L.nn, kind)(**c)),
                    call=lambda m, x, *states: m(x, *_state_arg(kind, states)))


LAYERS = [Case(f"nn.{k}", _rnn_fn(k), _rnn_args(k), tol=20) for k in ("RNN", "LSTM", "GRU")]


# ----------------------------------------------------------------------------- cells


@st.composite
def _cell_args(draw, kind):
    c = {"input_size": draw(st.integers(1, 3)), "hidden_size": draw(st.integers(1, 3)), "bias": draw(st.booleans()),
         "dtype": draw(_DTYPES)}
    if kind == "RNNCell":
        c["nonlinearity"] = draw(st.sampled_from(["tanh", "relu"]))
    batch = () if draw(st.integers(0, 3)) == 0 else (draw(st.integers(1, 3)),)
    x = draw(values(batch + (c["input_size"],), c["dtype"], -2, 2))
    states = []
    if draw(st.booleans()):
        for _ in range(2 if kind == "LSTMCell" else 1):
            sh = _bad(draw, batch + (c["hidden_size"],))
            states.append(draw(values(sh, c["dtype"], -1, 1)))
    seed = draw(seeds)
    return Args([x] + states, {"train": draw(st.booleans()), "ctor": c, "seed": seed}, seed)


LAYERS += [Case(f"nn.{k}", _rnn_fn(k), _cell_args(k), tol=10) for k in ("RNNCell", "LSTMCell", "GRUCell")]


def _large(a: Args) -> Args:
    """The same call with the input scaled by 30: gates saturate (float32 exp clamps, sigmoid and
    tanh reach their limits), where a hand-written gate function parts from libm."""
    x = a.inputs[0]
    return Args([T(x.base * x.base.dtype.type(30), x.view, x.grad)] + a.inputs[1:], a.kw, a.seed)


LAYERS += [Case(f"{c.id}({name})", c.fn, c.args.map(f), tol=c.tol) for c in list(LAYERS)
           for name, f in (("large", _large), ("nonfinite", _with_nonfinite))]


# ----------------------------------------------------------------------------- packed sequences


def _packed_call(kind):
    """Pack the padded input (or the list of sequences), run the layer, unpack its output."""

    def call(m, x, *states, lengths=None, enforce_sorted=True, in_batch_first=False, out_batch_first=False,
             padding_value=0.0, total_length=None):
        rnn = _lib(x[0] if isinstance(x, list) else x).nn.utils.rnn
        if isinstance(x, list):
            packed = rnn.pack_sequence(x, enforce_sorted=enforce_sorted)
        else:
            packed = rnn.pack_padded_sequence(x, lengths, batch_first=in_batch_first, enforce_sorted=enforce_sorted)
        out, state = m(packed, *_state_arg(kind, states))
        padded = rnn.pad_packed_sequence(out, batch_first=out_batch_first, padding_value=padding_value,
                                         total_length=total_length)
        return padded, out, state

    return call


@st.composite
def _packed_args(draw, kind):
    train = draw(st.booleans())
    c = draw(_rnn_ctor(kind, train))
    n = draw(st.integers(1, 3))
    lengths = draw(st.lists(st.integers(1, 5), min_size=n, max_size=n))
    sorted_ = draw(st.booleans())
    if sorted_:
        lengths.sort(reverse=True)
    feat, longest = c["input_size"], max(lengths)
    kw = {"enforce_sorted": sorted_, "out_batch_first": draw(st.booleans()),
          "padding_value": draw(st.sampled_from([0.0, -1.5])),
          # one short of the longest now and then: both libraries must refuse it
          "total_length": draw(st.none() | st.integers(longest - (draw(st.integers(0, 9)) == 0), longest + 2))}
    if draw(st.booleans()):  # pack_sequence over a list of (L_i, I) sequences
        x = [draw(values((ln, feat), c["dtype"], -2, 2)) for ln in lengths]
    else:
        kw["lengths"], kw["in_batch_first"] = lengths, draw(st.booleans())
        steps = longest + draw(st.integers(0, 1))
        x = draw(values((n, steps, feat) if kw["in_batch_first"] else (steps, n, feat), c["dtype"]))
    states = []
    if draw(st.booleans()):
        states = [draw(values(sh, c["dtype"], -1, 1)) for sh in _state_shapes(kind, c, (n,))]
    seed = draw(seeds)
    return Args([x] + states, {"train": train, "ctor": c, "seed": seed, **kw}, seed)


LAYERS += [Case(f"packed nn.{k}", ModuleFn(_with_dtype(lambda L, k=k, **c: getattr(L.nn, k)(**c)),
                                           call=_packed_call(k)), _packed_args(k), tol=20)
           for k in ("LSTM", "GRU", "RNN")]


@st.composite
def _seq_list_args(draw, padding_side=True, min_len=0):
    tail = tuple(draw(st.lists(st.integers(1, 2), max_size=2)))
    dt = draw(_DTYPES)
    lengths = draw(st.lists(st.integers(min_len, 4), min_size=1, max_size=3))
    xs = [draw(values((ln,) + tail, dt)) for ln in lengths]
    kw = {"batch_first": draw(st.booleans()), "padding_value": draw(st.sampled_from([0.0, -1.0, 2.5]))}
    if padding_side:
        kw["padding_side"] = draw(st.sampled_from(["right", "left"]))
    return Args([xs], kw, draw(seeds))


@st.composite
def _pack_list_args(draw):
    # an empty sequence, which both must refuse, now and then
    a = draw(_seq_list_args(padding_side=False, min_len=0 if draw(st.integers(0, 9)) == 0 else 1))
    sorted_ = draw(st.booleans())
    xs = sorted(a.inputs[0], key=lambda t: -t.base.shape[0]) if sorted_ else a.inputs[0]
    return Args([xs], {"enforce_sorted": sorted_ if draw(st.integers(0, 9)) else not sorted_}, a.seed)


FUNCTIONAL = [
    Case("rnn.pad_sequence", lambda L, xs, **kw: L.nn.utils.rnn.pad_sequence(xs, **kw), _seq_list_args()),
    Case("rnn.pack_sequence", lambda L, xs, **kw: L.nn.utils.rnn.pack_sequence(xs, **kw), _pack_list_args()),
]


# ----------------------------------------------------------------------------- Embedding


class _EmbeddingFn(ModuleFn):
    """Embedding, with its weight compared after the call: max_norm renormalises the looked-up
    rows in place."""

    def __call__(self, L, *xs, **kw):
        r = super().__call__(L, *xs, **kw)
        return Extra(r.out, r.leaves, {"weight after the call": r.leaves["weight"].detach().clone()})


@st.composite
def _embedding_args(draw):
    num = draw(st.integers(1, 5))
    c = {"num_embeddings": num, "embedding_dim": draw(st.integers(1, 3)),
         "padding_idx": draw(st.none() | st.integers(-num, num - 1)), "scale_grad_by_freq": draw(st.booleans())}
    if draw(st.booleans()):
        c["max_norm"], c["norm_type"] = draw(st.sampled_from([0.5, 1.0, 2.0])), draw(st.sampled_from([1.0, 2.0, 3.0]))
    hi = num - 1 + (draw(st.integers(0, 14)) == 0)  # now and then out of range: compare the errors
    idx = draw(tensors(draw(st.sampled_from([(), (1,), (4,), (2, 3), (0,)])), "int64", low=0, high=hi, grad=False))
    seed = draw(seeds)
    return Args([idx], {"train": draw(st.booleans()), "ctor": c, "seed": seed}, seed)


LAYERS.append(Case("nn.Embedding(max_norm, freq)", _EmbeddingFn(lambda L, **c: L.nn.Embedding(**c)),
                   _embedding_args(), tol=10))

ALL = LAYERS + FUNCTIONAL
