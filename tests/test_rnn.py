"""RNN/LSTM/GRU and the cells beyond the golden values (tests/test_rnn_golden.py): float64 gradcheck
of the layer functions and the modules, parameter names and order, PyTorch weights loaded from a
torch.save file, train/eval of the inter-layer dropout (modes(), contexts, pins), PyTorch's errors
and reprs, and the composed layer functions against a plain numpy recurrence."""

from __future__ import annotations

import json
import os
import sys
import warnings

import ferrograd as fg
import numpy as np
import pytest
from ferrograd import nn
from ferrograd.nn.modules import rnn_cells as RC
from ferrograd.nn.utils.rnn import PackedSequence, pack_padded_sequence, pack_sequence, pad_packed_sequence

HERE = os.path.dirname(os.path.abspath(__file__))
GOLDEN = os.path.join(HERE, "golden")
sys.path.insert(0, GOLDEN)
import rnn_cases  # noqa: E402


def _t(a, grad=False, dtype=fg.float64):
    return fg.tensor(np.asarray(a), dtype=dtype, requires_grad=grad)


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


# ----------------------------------------------------------------------------- numpy reference


def _np_lstm(x, h, c, w_ih, w_hh, b_ih, b_hh, w_hr=None):
    outs = []
    for xt in x:
        gates = xt @ w_ih.T + b_ih + h @ w_hh.T + b_hh
        i, f, g, o = np.split(gates, 4, axis=1)
        c = _sigmoid(f) * c + _sigmoid(i) * np.tanh(g)
        h = _sigmoid(o) * np.tanh(c)
        if w_hr is not None:
            h = h @ w_hr.T
        outs.append(h)
    return np.stack(outs), h, c


def _np_gru(x, h, w_ih, w_hh, b_ih, b_hh):
    outs = []
    for xt in x:
        gi, gh = xt @ w_ih.T + b_ih, h @ w_hh.T + b_hh
        ir, iz, in_ = np.split(gi, 3, axis=1)
        hr, hz, hn = np.split(gh, 3, axis=1)
        r, z = _sigmoid(ir + hr), _sigmoid(iz + hz)
        n = np.tanh(in_ + r * hn)
        h = (1 - z) * n + z * h
        outs.append(h)
    return np.stack(outs), h


def test_lstm_layer_composed_matches_numpy_with_projection_and_reverse():
    rng = np.random.default_rng(0)
    T, B, IN, H, P = 6, 3, 4, 5, 2
    x = rng.standard_normal((T, B, IN))
    w_ih, w_hh, w_hr = rng.standard_normal((4 * H, IN)), rng.standard_normal((4 * H, P)), rng.standard_normal((P, H))
    b_ih, b_hh = rng.standard_normal(4 * H), rng.standard_normal(4 * H)
    h0, c0 = rng.standard_normal((B, P)), rng.standard_normal((B, H))
    for reverse in (False, True):
        out, h, c = RC._lstm_layer_composed(_t(x), _t(h0), _t(c0), _t(w_ih), _t(w_hh), _t(b_ih), _t(b_hh), _t(w_hr),
                                            reverse=reverse)
        xs = x[::-1] if reverse else x
        want_out, want_h, want_c = _np_lstm(xs, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr)
        want_out = want_out[::-1] if reverse else want_out
        np.testing.assert_allclose(out.detach().numpy(), want_out, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(h.detach().numpy(), want_h, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(c.detach().numpy(), want_c, rtol=1e-12, atol=1e-12)


def test_gru_layer_composed_packed_matches_numpy_per_sequence():
    """Packed input: each sequence runs alone over its own length, forwards and backwards."""
    rng = np.random.default_rng(1)
    lengths, IN, H = [5, 3, 3, 1], 3, 4
    w_ih, w_hh = rng.standard_normal((3 * H, IN)), rng.standard_normal((3 * H, H))
    b_ih, b_hh = rng.standard_normal(3 * H), rng.standard_normal(3 * H)
    seqs = [rng.standard_normal((n, IN)) for n in lengths]
    h0 = rng.standard_normal((len(lengths), H))
    packed = pack_sequence([_t(s) for s in seqs])
    for reverse in (False, True):
        out, h_n = RC._gru_layer_composed(packed.data, _t(h0), _t(w_ih), _t(w_hh), _t(b_ih), _t(b_hh),
                                          batch_sizes=packed.batch_sizes, reverse=reverse)
        padded, _ = pad_packed_sequence(PackedSequence(out, packed.batch_sizes))
        for b, s in enumerate(seqs):
            xs = s[::-1] if reverse else s
            want_out, want_h = _np_gru(xs[:, None, :], h0[b:b + 1], w_ih, w_hh, b_ih, b_hh)
            want_out = want_out[::-1] if reverse else want_out
            np.testing.assert_allclose(padded.detach().numpy()[:len(s), b], want_out[:, 0], rtol=1e-12, atol=1e-12)
            np.testing.assert_allclose(h_n.detach().numpy()[b], want_h[0], rtol=1e-12, atol=1e-12)


# ----------------------------------------------------------------------------- gradcheck


def _layer_inputs(rng, gates, IN, H, P=None, packed=False):
    width = P or H
    lengths = [4, 3, 1]
    x = rng.standard_normal((sum(lengths), IN)) if packed else rng.standard_normal((3, 2, IN))
    batch = len(lengths) if packed else 2
    tensors = dict(x=x, h0=rng.standard_normal((batch, width)), c0=rng.standard_normal((batch, H)),
                   w_ih=rng.standard_normal((gates * H, IN)) * 0.5, w_hh=rng.standard_normal((gates * H, width)) * 0.5,
                   b_ih=rng.standard_normal(gates * H), b_hh=rng.standard_normal(gates * H))
    if P:
        tensors["w_hr"] = rng.standard_normal((P, H)) * 0.5
    batch_sizes = fg.tensor([3, 2, 2, 1]) if packed else None
    return {k: _t(v, grad=True) for k, v in tensors.items()}, batch_sizes


@pytest.mark.parametrize("packed", [False, True], ids=["padded", "packed"])
@pytest.mark.parametrize("reverse", [False, True], ids=["forward", "reverse"])
@pytest.mark.parametrize("kind", ["rnn_tanh", "rnn_relu", "lstm", "lstm_proj", "gru"])
def test_layer_function_gradcheck(kind, reverse, packed):
    rng = np.random.default_rng(7)
    gates = {"lstm": 4, "lstm_proj": 4, "gru": 3}.get(kind, 1)
    t, batch_sizes = _layer_inputs(rng, gates, 3, 3, P=2 if kind == "lstm_proj" else None, packed=packed)
    if kind.startswith("lstm"):
        names = ["x", "h0", "c0", "w_ih", "w_hh", "b_ih", "b_hh"] + (["w_hr"] if kind == "lstm_proj" else [])

        def fn(*args):
            kw = dict(zip(names, args))
            out, h, c = RC._lstm_layer_composed(kw["x"], kw["h0"], kw["c0"], kw["w_ih"], kw["w_hh"], kw["b_ih"],
                                                kw["b_hh"], kw.get("w_hr"), batch_sizes=batch_sizes, reverse=reverse)
            return out, h, c
    elif kind == "gru":
        names = ["x", "h0", "w_ih", "w_hh", "b_ih", "b_hh"]

        def fn(*args):
            return RC._gru_layer_composed(*args, batch_sizes=batch_sizes, reverse=reverse)
    else:
        names = ["x", "h0", "w_ih", "w_hh", "b_ih", "b_hh"]
        nonlinearity = kind.split("_")[1]

        def fn(*args):
            return RC._rnn_layer_composed(*args, nonlinearity=nonlinearity, batch_sizes=batch_sizes, reverse=reverse)
    assert fg.autograd.gradcheck(fn, tuple(t[n] for n in names))


@pytest.mark.parametrize("cls, kw", [("LSTM", {"proj_size": 1, "bidirectional": True, "num_layers": 2}),
                                     ("GRU", {"bidirectional": True, "batch_first": True}),
                                     ("RNN", {"num_layers": 2, "nonlinearity": "tanh", "bias": False})])
def test_module_gradcheck_with_packed_input(cls, kw):
    """Input and every parameter, through packing with unsorted lengths, both directions, the
    state permutation and unpacking."""
    fg.manual_seed(0)
    module = getattr(nn, cls)(2, 2, dtype=fg.float64, **kw)
    names = [name for name, _ in module.named_parameters()]
    params = [_t(p.detach().numpy(), grad=True) for p in module.parameters()]
    batch_first = kw.get("batch_first", False)
    x = _t(np.random.default_rng(3).standard_normal((3, 3, 2)), grad=True)

    def fn(x, *ps):
        object.__getattribute__(module, "_parameters").update(zip(names, ps))
        packed = pack_padded_sequence(x, [2, 3, 1], batch_first=batch_first, enforce_sorted=False)
        out, state = module(packed)
        padded, _ = pad_packed_sequence(out, batch_first=batch_first)
        return (padded, *state) if isinstance(state, tuple) else (padded, state)

    assert fg.autograd.gradcheck(fn, (x, *params))


@pytest.mark.parametrize("cls", ["RNNCell", "LSTMCell", "GRUCell"])
def test_cell_gradcheck(cls):
    fg.manual_seed(1)
    cell = getattr(nn, cls)(3, 2, dtype=fg.float64)
    rng = np.random.default_rng(5)
    x, h, c = (_t(rng.standard_normal(s), grad=True) for s in ((2, 3), (2, 2), (2, 2)))
    w = [cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh]

    def fn(x, h, c, w_ih, w_hh, b_ih, b_hh):
        RC_args = (w_ih, w_hh, b_ih, b_hh)
        for p, v in zip(("weight_ih", "weight_hh", "bias_ih", "bias_hh"), RC_args):
            object.__getattribute__(cell, "_parameters")[p] = v
        return cell(x, (h, c)) if cls == "LSTMCell" else cell(x, h)

    assert fg.autograd.gradcheck(fn, (x, h, c, *[_t(p.detach().numpy(), grad=True) for p in w]))


# ----------------------------------------------------------------------------- parameters and weights


def test_parameter_names_and_order_are_pytorchs():
    lstm = nn.LSTM(3, 4, num_layers=2, bidirectional=True, proj_size=2)
    want = []
    for layer in range(2):
        for suffix in ("", "_reverse"):
            want += [f"{n}_l{layer}{suffix}" for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr")]
    assert list(lstm.state_dict()) == want
    shapes = {name: tuple(p.shape) for name, p in lstm.named_parameters()}
    assert shapes["weight_ih_l0"] == (16, 3) and shapes["weight_hh_l0"] == (16, 2) and shapes["weight_hr_l0"] == (2, 4)
    assert shapes["weight_ih_l1_reverse"] == (16, 4)
    gru = nn.GRU(3, 5, bias=False)
    assert list(gru.state_dict()) == ["weight_ih_l0", "weight_hh_l0"]
    assert tuple(gru.weight_ih_l0.shape) == (15, 3)
    assert [n for n, _ in nn.LSTMCell(2, 3).named_parameters()] == ["weight_ih", "weight_hh", "bias_ih", "bias_hh"]
    assert lstm._flat_weights_names == want and len(lstm.all_weights) == 4


def test_initialisation_is_uniform_within_one_over_sqrt_hidden():
    fg.manual_seed(0)
    lstm = nn.LSTM(10, 16, proj_size=4)
    for name, p in lstm.named_parameters():
        v = p.detach().numpy()
        assert np.abs(v).max() <= 0.25 + 1e-7, name
        assert np.abs(v).max() > 0.2, name  # uses the range, not a narrower one


def test_torch_saved_state_dict_loads_and_reproduces_pytorch():
    golden = json.load(open(os.path.join(GOLDEN, "rnn_golden.json")))["torch_save"]
    state = fg.load(os.path.join(GOLDEN, "rnn_lstm_state_dict.pt"))
    assert list(state) == golden["keys"]
    model = nn.LSTM(3, 4, num_layers=2, bidirectional=True, proj_size=2)
    model.load_state_dict(state)
    with fg.no_grad():
        out, (h_n, c_n) = model(fg.tensor(rnn_cases.saved_input()))
    np.testing.assert_allclose(out.numpy(), golden["output"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(h_n.numpy(), golden["h_n"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(c_n.numpy(), golden["c_n"], rtol=1e-5, atol=1e-6)


def test_save_load_round_trip(tmp_path):
    fg.manual_seed(0)
    model = nn.GRU(3, 4, num_layers=2, bidirectional=True)
    fg.save(model.state_dict(), tmp_path / "gru.pt")
    other = nn.GRU(3, 4, num_layers=2, bidirectional=True)
    other.load_state_dict(fg.load(tmp_path / "gru.pt"))
    x = fg.randn(5, 2, 3)
    np.testing.assert_array_equal(model(x)[0].detach().numpy(), other(x)[0].detach().numpy())


def test_state_dict_loads_into_pytorch():
    torch = pytest.importorskip("torch")
    model = nn.LSTM(3, 4, num_layers=2, proj_size=2)
    tmodel = torch.nn.LSTM(3, 4, num_layers=2, proj_size=2)
    tmodel.load_state_dict({k: torch.tensor(v.numpy()) for k, v in model.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((5, 2, 3)).astype(np.float32)
    with fg.no_grad():
        out = model(fg.tensor(x))[0].numpy()
    with torch.no_grad():
        np.testing.assert_allclose(out, tmodel(torch.tensor(x))[0].numpy(), rtol=1e-5, atol=1e-6)


def test_mode_is_pytorchs_string_and_ferrograds_context():
    lstm = nn.LSTM(2, 3, num_layers=2, dropout=0.1)
    assert lstm.mode == "LSTM" and nn.RNN(2, 3, nonlinearity="relu").mode == "RNN_RELU" and nn.GRU(2, 3).mode == "GRU"
    with lstm.mode("eval"):
        assert not lstm.training
    assert lstm.training


def test_flatten_parameters_is_accepted():
    lstm = nn.LSTM(2, 3)
    assert lstm.flatten_parameters() is None


def test_replaced_parameter_is_used():
    gru = nn.GRU(2, 3)
    gru.weight_hh_l0 = nn.Parameter(fg.zeros(9, 3))
    x = fg.randn(4, 1, 2)
    out, _ = gru(x)
    assert gru._flat_weights[1] is gru.weight_hh_l0
    out.sum().backward()
    assert gru.weight_hh_l0.grad is not None


# ----------------------------------------------------------------------------- modes


def test_inter_layer_dropout_follows_mode_and_mode_report():
    fg.manual_seed(0)
    lstm = nn.LSTM(4, 8, num_layers=3, dropout=0.5)
    x = fg.randn(6, 2, 4)
    lstm.eval()
    with fg.no_grad():
        ref_out, (ref_h, _) = lstm(x)
        again, _ = lstm(x)
    np.testing.assert_array_equal(ref_out.numpy(), again.numpy())
    lstm.train()
    with fg.no_grad():
        out1, (h1, _) = lstm(x)
        out2, _ = lstm(x)
    assert not np.allclose(out1.numpy(), out2.numpy())  # dropout is drawn anew each call
    assert not np.allclose(out1.numpy(), ref_out.numpy())
    # Dropout acts only between layers: the first layer's final state is the eval one.
    np.testing.assert_allclose(h1.numpy()[0], ref_h.numpy()[0], rtol=1e-6, atol=1e-7)
    entries = {e.path: e.meaning for e in lstm.modes()}
    assert entries == {"(root)": "dropout 0.5 between layers: active"}
    with lstm.mode("eval"):
        assert {e.meaning for e in lstm.modes()} == {"dropout 0.5 between layers: off (eval)"}
        with fg.no_grad():
            np.testing.assert_array_equal(lstm(x)[0].numpy(), ref_out.numpy())
    assert lstm.training


def test_pinned_eval_rnn_ignores_parent_train():
    fg.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 3))
    model.rnn = nn.GRU(3, 5, num_layers=2, dropout=0.9)
    model.rnn.pin_mode("eval")
    model.train()
    assert not model.rnn.training
    x = fg.randn(4, 2, 3)
    with fg.no_grad():
        np.testing.assert_array_equal(model.rnn(x)[0].numpy(), model.rnn(x)[0].numpy())
    report = str(model.modes())
    assert "pinned eval" in report and "off (eval)" in report


def test_no_dropout_means_not_mode_dependent():
    assert nn.LSTM(2, 3, num_layers=2).modes().entries == []
    with pytest.warns(UserWarning, match="non-zero dropout expects num_layers greater than 1"):
        one_layer = nn.RNN(2, 3, dropout=0.3)
    assert one_layer._mode_meaning() is None  # one layer: dropout never applies
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        nn.GRU(2, 3, num_layers=2, dropout=0.3)


# ----------------------------------------------------------------------------- shapes, reprs, errors


def test_shapes_unbatched_batch_first_and_packed():
    lstm = nn.LSTM(3, 5, num_layers=2, bidirectional=True, proj_size=2, batch_first=True)
    out, (h, c) = lstm(fg.randn(4, 7, 3))
    assert tuple(out.shape) == (4, 7, 4) and tuple(h.shape) == (4, 4, 2) and tuple(c.shape) == (4, 4, 5)
    out, (h, c) = lstm(fg.randn(7, 3))
    assert tuple(out.shape) == (7, 4) and tuple(h.shape) == (4, 2) and tuple(c.shape) == (4, 5)
    packed = pack_sequence([fg.randn(2, 3), fg.randn(5, 3)], enforce_sorted=False)
    out, (h, c) = lstm(packed)
    assert isinstance(out, PackedSequence) and tuple(out.data.shape) == (7, 4)
    assert out.sorted_indices.tolist() == [1, 0] and tuple(h.shape) == (4, 2, 2)


def test_reprs_match_pytorch():
    assert repr(nn.RNN(3, 4, 2, "relu", False, True, 0.5, True)) == \
        "RNN(3, 4, num_layers=2, bias=False, batch_first=True, dropout=0.5, bidirectional=True)"
    assert repr(nn.LSTM(3, 4, proj_size=2)) == "LSTM(3, 4, proj_size=2)"
    assert repr(nn.GRUCell(3, 4, bias=False)) == "GRUCell(3, 4, bias=False)"
    assert repr(nn.RNNCell(3, 4, nonlinearity="relu")) == "RNNCell(3, 4, nonlinearity=relu)"


@pytest.mark.parametrize("make, exc, match", [
    (lambda: nn.LSTM(3, 4, dropout=1.5), ValueError, "dropout should be a number in range"),
    (lambda: nn.LSTM(3, 4, dropout=True), ValueError, "dropout should be a number in range"),
    (lambda: nn.LSTM(3, 0), ValueError, "hidden_size must be greater than zero"),
    (lambda: nn.LSTM(3, 4.0), TypeError, "hidden_size should be of type int"),
    (lambda: nn.LSTM(0, 4), ValueError, "input_size must be greater than zero"),
    (lambda: nn.LSTM(3, 4, 0), ValueError, "num_layers must be greater than zero"),
    (lambda: nn.LSTM(3, 4, proj_size=4), ValueError, "proj_size has to be smaller than hidden_size"),
    (lambda: nn.LSTM(3, 4, proj_size=-1), ValueError, "proj_size should be a positive integer"),
    (lambda: nn.GRU(3, 4, proj_size=2), ValueError, "proj_size argument is only supported for LSTM"),
    (lambda: nn.RNN(3, 4, proj_size=2), ValueError, "proj_size argument is only supported for LSTM"),
    (lambda: nn.RNN(3, 4, nonlinearity="sigmoid"), ValueError, "Unknown nonlinearity 'sigmoid'"),
    (lambda: nn.LSTM(3, 4, bias=1), TypeError, "bias should be of type bool"),
])
def test_constructor_errors(make, exc, match):
    with pytest.raises(exc, match=match):
        make()


@pytest.mark.parametrize("call, exc, match", [
    (lambda: nn.LSTM(3, 4)(fg.randn(5, 2, 6)), RuntimeError, r"input.size\(-1\) must be equal to input_size. Expected 3, got 6"),
    (lambda: nn.LSTM(3, 4)(fg.randn(5, 2, 3, 1)), ValueError, "LSTM: Expected input to be 2D or 3D, got 4D instead"),
    (lambda: nn.RNN(3, 4)(fg.randn(3)), ValueError, "RNN: Expected input to be 2D or 3D, got 1D tensor instead"),
    (lambda: nn.GRU(3, 4)(fg.randn(5, 2, 3), fg.randn(1, 3, 4)), RuntimeError,
     r"Expected hidden size \(1, 2, 4\), got \[1, 3, 4\]"),
    (lambda: nn.GRU(3, 4)(fg.randn(5, 2, 3), fg.randn(2, 4)), RuntimeError,
     "For batched 3-D input, hx should also be 3-D but got 2-D tensor"),
    (lambda: nn.RNN(3, 4)(fg.randn(5, 3), fg.randn(1, 1, 4)), RuntimeError,
     "For unbatched 2-D input, hx should also be 2-D but got 3-D tensor"),
    (lambda: nn.LSTM(3, 4)(fg.randn(5, 2, 3), (fg.randn(2, 4), fg.randn(2, 4))), RuntimeError,
     r"For batched 3-D input, hx and cx should also be 3-D but got \(2-D, 2-D\) tensors"),
    (lambda: nn.LSTM(3, 4, proj_size=2)(fg.randn(5, 2, 3), (fg.randn(1, 2, 4), fg.randn(1, 2, 4))), RuntimeError,
     r"Expected hidden\[0\] size \(1, 2, 2\), got \[1, 2, 4\]"),
    (lambda: nn.LSTM(3, 4)(fg.randn(5, 2, 3), (fg.randn(1, 2, 4), fg.randn(1, 2, 3))), RuntimeError,
     r"Expected hidden\[1\] size \(1, 2, 4\), got \[1, 2, 3\]"),
    (lambda: nn.LSTM(3, 4)(fg.randn(5, 2, 3, dtype=fg.float64)), ValueError, "RNN input dtype .* does not match weight dtype"),
    (lambda: nn.LSTMCell(3, 4)(fg.randn(2, 5)), RuntimeError, "input has inconsistent input_size: got 5 expected 3"),
    (lambda: nn.GRUCell(3, 4)(fg.randn(2, 3), fg.randn(3, 4)), RuntimeError,
     "Input batch size 2 doesn't match hidden0 batch size 3"),
    (lambda: nn.LSTMCell(3, 4)(fg.randn(2, 3), (fg.randn(2, 4), fg.randn(2, 5))), RuntimeError,
     "hidden1 has inconsistent hidden_size: got 5, expected 4"),
    (lambda: nn.RNNCell(3, 4)(fg.randn(2, 3, 1)), ValueError, "RNNCell: Expected input to be 1D or 2D, got 3D instead"),
    (lambda: nn.GRUCell(3, 4)(fg.randn(3), fg.randn(1, 1, 4)), ValueError,
     "GRUCell: Expected hidden to be 1D or 2D, got 3D instead"),
    (lambda: nn.LSTMCell(3, 4)(fg.randn(3), (fg.randn(4), fg.randn(1, 1, 4))), ValueError,
     r"LSTMCell: Expected hx\[1\] to be 1D or 2D, got 3D instead"),
    (lambda: nn.RNNCell(3, 4, nonlinearity="sigmoid")(fg.randn(2, 3)), RuntimeError, "Unknown nonlinearity: sigmoid"),
])
def test_forward_errors(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_fused_layer_kernels_match_composed_when_present():
    """Once the extension has `_core._lstm_layer` etc., the modules use them (`_layer_fn`); they
    must agree with the composed loops, forward and backward, packed and reversed."""
    core = fg._core
    if not all(hasattr(core, f"_{k}_layer") for k in ("lstm", "gru", "rnn")):
        pytest.skip("the extension has no fused recurrent kernels yet")
    rng = np.random.default_rng(11)
    for packed in (False, True):
        for reverse in (False, True):
            t, batch_sizes = _layer_inputs(rng, 4, 3, 5, P=2, packed=packed)
            args = (t["x"], t["h0"], t["c0"], t["w_ih"], t["w_hh"], t["b_ih"], t["b_hh"], t["w_hr"])
            fused = core._lstm_layer(*args, batch_sizes=batch_sizes, reverse=reverse)
            composed = RC._lstm_layer_composed(*args, batch_sizes=batch_sizes, reverse=reverse)
            for f, c in zip(fused, composed):
                np.testing.assert_allclose(f.detach().numpy(), c.detach().numpy(), rtol=1e-10, atol=1e-12)


def test_double_deepcopy_and_whole_module_save(tmp_path):
    import copy

    fg.manual_seed(0)
    lstm = nn.LSTM(3, 4, num_layers=2, bidirectional=True, proj_size=2)
    x = fg.randn(5, 2, 3)
    clone = copy.deepcopy(lstm)
    np.testing.assert_array_equal(clone(x)[0].detach().numpy(), lstm(x)[0].detach().numpy())
    fg.save(lstm, tmp_path / "lstm.pt")
    loaded = fg.load(tmp_path / "lstm.pt", weights_only=False)
    assert loaded.mode == "LSTM" and repr(loaded) == repr(lstm)
    np.testing.assert_array_equal(loaded(x)[0].detach().numpy(), lstm(x)[0].detach().numpy())
    lstm.double()
    out, (h, c) = lstm(x.double())
    assert out.dtype == h.dtype == c.dtype == fg.float64
    np.testing.assert_allclose(out.detach().numpy(), clone(x)[0].detach().numpy(), rtol=1e-5, atol=1e-6)


def test_summary_lists_rnn_outputs_and_mode():
    model = nn.Sequential()
    model.rnn = nn.GRU(3, 4, num_layers=2, dropout=0.1)
    text = str(nn.utils.summary(model.rnn, (5, 2, 3)))
    assert "[5, 2, 4], [2, 2, 4]" in text and "228" in text


@pytest.mark.parametrize("cls, kw", [("RNN", {"num_layers": 3, "bidirectional": True, "bias": False}),
                                     ("LSTM", {"num_layers": 2, "proj_size": 3}),
                                     ("LSTM", {"bidirectional": True, "bias": False, "proj_size": 1}),
                                     ("GRU", {"num_layers": 2, "bidirectional": True})])
def test_state_dict_keys_shapes_and_order_equal_pytorchs(cls, kw):
    torch = pytest.importorskip("torch")
    ours = getattr(nn, cls)(5, 6, **kw).state_dict()
    theirs = getattr(torch.nn, cls)(5, 6, **kw).state_dict()
    assert [(k, tuple(v.shape)) for k, v in ours.items()] == [(k, tuple(v.shape)) for k, v in theirs.items()]


def test_empty_sequence_is_an_error_and_empty_batch_is_not():
    with pytest.raises(RuntimeError, match="Expected sequence length to be larger than 0 in RNN"):
        nn.LSTM(3, 4)(fg.randn(0, 2, 3))
    out, (h, c) = nn.LSTM(3, 4)(fg.randn(4, 0, 3))
    assert tuple(out.shape) == (4, 0, 4) and tuple(h.shape) == (1, 0, 4) and tuple(c.shape) == (1, 0, 4)
