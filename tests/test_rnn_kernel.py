"""The fused recurrent-layer kernels `_core._lstm_layer`, `_gru_layer`, `_rnn_layer` (one layer, one
direction, a whole sequence): forward against a float64 numpy step-by-step reference, gradients by
float64 gradcheck for every input, errors, and, where PyTorch is installed, outputs and every
gradient against torch.nn.LSTM/GRU/RNN with the same weights (padded and packed)."""

from __future__ import annotations

import itertools

import ferrograd as fg
import numpy as np
import pytest
from ferrograd import _core

GATES = {"lstm": 4, "gru": 3, "rnn_tanh": 1, "rnn_relu": 1}


def _sig(x):
    return 1.0 / (1.0 + np.exp(-x))


def reference(cell, x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr=None, batch_sizes=None, reverse=False):
    """Step by step in float64 numpy over the PackedSequence layout (a padded (T, B, I) input is T
    steps of B rows). Returns (output rows, h_n, c_n)."""
    x = np.asarray(x, np.float64)
    padded = batch_sizes is None
    if padded:
        t_len, b = x.shape[:2]
        batch_sizes = [b] * t_len
        x = x.reshape(t_len * b, -1)
    offsets = np.concatenate([[0], np.cumsum(batch_sizes)[:-1]]).astype(int)
    hid = w_hh.shape[0] // GATES[cell]
    b_ih = np.zeros(w_ih.shape[0]) if b_ih is None else b_ih
    b_hh = np.zeros(w_hh.shape[0]) if b_hh is None else b_hh
    h, c = h0.astype(np.float64).copy(), None if c0 is None else c0.astype(np.float64).copy()
    out = np.zeros((x.shape[0], h0.shape[1]))
    order = range(len(batch_sizes) - 1, -1, -1) if reverse else range(len(batch_sizes))
    for t in order:
        n, off = batch_sizes[t], offsets[t]
        gx = x[off:off + n] @ w_ih.T + b_ih
        gh = h[:n] @ w_hh.T + b_hh
        if cell == "lstm":
            i, f, g, o = np.split(gx + gh, 4, axis=1)
            c[:n] = _sig(f) * c[:n] + _sig(i) * np.tanh(g)
            hn = _sig(o) * np.tanh(c[:n])
            h[:n] = hn if w_hr is None else hn @ w_hr.T
        elif cell == "gru":
            xr, xz, xn = np.split(gx, 3, axis=1)
            hr, hz, hnn = np.split(gh, 3, axis=1)
            r, z = _sig(xr + hr), _sig(xz + hz)
            nn_ = np.tanh(xn + r * hnn)
            h[:n] = (1 - z) * nn_ + z * h[:n]
        else:
            pre = gx + gh
            h[:n] = np.tanh(pre) if cell == "rnn_tanh" else np.maximum(pre, 0)
        out[off:off + n] = h[:n]
    if padded:
        out = out.reshape(len(batch_sizes), -1, h0.shape[1])
    assert hid > 0
    return out, h, c


def make(cell, t_len=4, batch=3, inp=3, hid=2, proj=0, bias=True, packed=None, seed=0, dtype=np.float64):
    """Random arguments (numpy) for one layer: dict with x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr."""
    rng = np.random.default_rng(seed)
    g = GATES[cell]
    out = proj or hid
    rows = sum(packed) if packed else None
    a = {
        "x": rng.normal(size=(rows, inp) if packed else (t_len, batch, inp)),
        "h0": rng.normal(size=(packed[0] if packed else batch, out)) * 0.5,
        "c0": rng.normal(size=(packed[0] if packed else batch, hid)) * 0.5 if cell == "lstm" else None,
        "w_ih": rng.normal(size=(g * hid, inp)) * 0.6,
        "w_hh": rng.normal(size=(g * hid, out)) * 0.6,
        "b_ih": rng.normal(size=(g * hid,)) * 0.3 if bias else None,
        "b_hh": rng.normal(size=(g * hid,)) * 0.3 if bias else None,
        "w_hr": rng.normal(size=(proj, hid)) * 0.6 if proj else None,
    }
    return {k: None if v is None else v.astype(dtype) for k, v in a.items()}


def call(cell, t, batch_sizes=None, reverse=False):
    """Calls the kernel on a dict of ferrograd tensors (or None); returns its tuple."""
    if cell == "lstm":
        return _core._lstm_layer(t["x"], t["h0"], t["c0"], t["w_ih"], t["w_hh"], t["b_ih"], t["b_hh"], t["w_hr"],
                                 batch_sizes=batch_sizes, reverse=reverse)
    if cell == "gru":
        return _core._gru_layer(t["x"], t["h0"], t["w_ih"], t["w_hh"], t["b_ih"], t["b_hh"], batch_sizes=batch_sizes,
                                reverse=reverse)
    return _core._rnn_layer(t["x"], t["h0"], t["w_ih"], t["w_hh"], t["b_ih"], t["b_hh"], cell[4:],
                            batch_sizes=batch_sizes, reverse=reverse)


def to_fg(a, requires_grad=False):
    return {k: None if v is None else fg.tensor(v, requires_grad=requires_grad) for k, v in a.items()}


CASES = [
    # cell, proj, bias, packed batch sizes, reverse
    *[(c, 0, b, None, r) for c in GATES for b in (True, False) for r in (False, True)],
    *[(c, 0, True, [3, 3, 2, 1], r) for c in GATES for r in (False, True)],
    ("lstm", 2, True, None, False), ("lstm", 2, False, None, True),
    ("lstm", 1, True, [3, 2, 2, 1], False), ("lstm", 1, True, [3, 2, 2, 1], True),
]


def _id(case):
    cell, proj, bias, packed, rev = case
    return f"{cell}-proj{proj}-{'bias' if bias else 'nobias'}-{'packed' if packed else 'padded'}-{'rev' if rev else 'fwd'}"


@pytest.mark.parametrize("case", CASES, ids=[_id(c) for c in CASES])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_forward_matches_numpy_step_by_step(case, dtype):
    cell, proj, bias, packed, rev = case
    a = make(cell, hid=3, proj=proj, bias=bias, packed=packed, dtype=dtype)
    got = call(cell, to_fg(a), batch_sizes=packed, reverse=rev)
    want = reference(cell, a["x"], a["h0"], a["c0"], a["w_ih"], a["w_hh"], a["b_ih"], a["b_hh"], a["w_hr"], packed, rev)
    tol = 1e-12 if dtype == np.float64 else 2e-6
    for g, w in zip(got, want):
        assert g.dtype == (fg.float64 if dtype == np.float64 else fg.float32)
        np.testing.assert_allclose(g.numpy(), w, rtol=tol, atol=tol)


@pytest.mark.parametrize("case", CASES, ids=[_id(c) for c in CASES])
def test_gradcheck_every_input(case):
    cell, proj, bias, packed, rev = case
    a = make(cell, t_len=3, batch=2, inp=2, hid=2, proj=proj, bias=bias, packed=[c - 1 or 1 for c in packed][:3] if packed else None)
    names = [k for k, v in a.items() if v is not None]
    t = to_fg(a, requires_grad=True)
    bs = [c - 1 or 1 for c in packed][:3] if packed else None

    def fn(*xs):
        return call(cell, {**dict.fromkeys(a), **dict(zip(names, xs))}, batch_sizes=bs, reverse=rev)

    assert fg.autograd.gradcheck(fn, tuple(t[k] for k in names))


def test_packed_sequences_keep_their_own_final_state():
    # three sequences of lengths 4, 2, 1: h_n of each is its state at its own last step, which is
    # the padded run over that sequence alone
    a = make("lstm", packed=[3, 2, 1, 1], hid=3)
    out, h_n, c_n = _core._lstm_layer(*(fg.tensor(a[k]) for k in ("x", "h0", "c0", "w_ih", "w_hh", "b_ih", "b_hh")),
                                      batch_sizes=fg.tensor([3, 2, 1, 1]))
    rows = {0: [0, 3, 5, 6], 1: [1, 4], 2: [2]}
    for seq, idx in rows.items():
        x = a["x"][idx][:, None]
        ref_out, ref_h, ref_c = reference("lstm", x, a["h0"][seq:seq + 1], a["c0"][seq:seq + 1], a["w_ih"], a["w_hh"],
                                          a["b_ih"], a["b_hh"])
        np.testing.assert_allclose(out.numpy()[idx], ref_out[:, 0], rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(h_n.numpy()[seq], ref_h[0], rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(c_n.numpy()[seq], ref_c[0], rtol=1e-12, atol=1e-12)


def test_non_contiguous_input_is_read_through_its_strides():
    a = make("gru", t_len=5, batch=3)
    x = fg.tensor(np.ascontiguousarray(a["x"].transpose(1, 0, 2))).transpose(0, 1)  # (T, B, I), strided
    assert not x.is_contiguous()
    out, h_n = _core._gru_layer(x, *(fg.tensor(a[k]) for k in ("h0", "w_ih", "w_hh", "b_ih", "b_hh")))
    want = reference("gru", a["x"], a["h0"], None, a["w_ih"], a["w_hh"], a["b_ih"], a["b_hh"])
    np.testing.assert_allclose(out.numpy(), want[0], rtol=1e-12, atol=1e-12)


def test_grad_fn_is_one_node_named_like_pytorch():
    t = to_fg(make("lstm"), requires_grad=True)
    out, h_n, c_n = call("lstm", t)
    assert out.grad_fn.name() == "MkldnnRnnLayerBackward0"
    assert h_n.grad_fn is not None and c_n.grad_fn is not None
    assert len(out.grad_fn.next_functions) == 8  # input, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr
    t = to_fg(make("gru"), requires_grad=True)
    assert call("gru", t)[0].grad_fn.name() == "GruLayerBackward0"
    assert call("rnn_relu", to_fg(make("rnn_relu"), requires_grad=True))[0].grad_fn.name() == "RnnReluLayerBackward0"


def test_no_graph_without_grad():
    out, h_n, c_n = call("lstm", to_fg(make("lstm")))
    assert out.grad_fn is None and not out.requires_grad
    t = to_fg(make("lstm"), requires_grad=True)
    with fg.no_grad():
        assert call("lstm", t)[0].grad_fn is None


SECOND_ORDER_CASES = [("lstm", 0, True, None, False), ("lstm", 0, False, None, True), ("lstm", 1, True, [2, 2, 1], True),
                      ("gru", 0, True, [2, 1, 1], False), ("gru", 0, False, None, True), ("rnn_tanh", 0, True, None, True),
                      ("rnn_relu", 0, True, [2, 2, 1], False)]


@pytest.mark.parametrize("case", SECOND_ORDER_CASES, ids=[_id(c) for c in SECOND_ORDER_CASES])
def test_gradgradcheck_every_input(case):
    # create_graph=True reruns the layer in recorded ops; its second derivatives with respect to
    # every input and every incoming gradient against central differences of the fused first ones.
    cell, proj, bias, packed, rev = case
    a = make(cell, t_len=3, batch=2, inp=2, hid=2, proj=proj, bias=bias, packed=packed, seed=7)
    names = [k for k, v in a.items() if v is not None]
    t = to_fg(a, requires_grad=True)

    def fn(*xs):
        return call(cell, {**dict.fromkeys(a), **dict(zip(names, xs))}, batch_sizes=packed, reverse=rev)

    assert fg.autograd.gradgradcheck(fn, tuple(t[k] for k in names))


def test_first_gradients_keep_the_fused_node_and_a_third_derivative_is_a_clear_error():
    t = to_fg(make("lstm"), requires_grad=True)
    out, _, _ = call("lstm", t)
    (gw,) = fg.autograd.grad(out.pow(2).sum(), [t["w_hh"]], create_graph=True)
    plain = fg.autograd.grad(call("lstm", t)[0].pow(2).sum(), [t["w_hh"]])[0]
    np.testing.assert_allclose(gw.detach().numpy(), plain.numpy(), rtol=1e-12, atol=1e-14)
    (gg,) = fg.autograd.grad(gw.pow(2).sum(), [t["w_hh"]], create_graph=True)
    assert np.abs(gg.detach().numpy()).max() > 0
    with pytest.raises(NotImplementedError, match="cannot be differentiated again"):
        gg.sum().backward()


def test_gradients_of_only_some_outputs_and_inputs():
    # h_n alone: the other outputs get no gradient; only the weights require grad
    a = make("lstm", proj=2, hid=3)
    t = to_fg(a)
    for k in ("w_ih", "w_hh", "w_hr"):
        t[k].requires_grad_(True)
    _, h_n, _ = call("lstm", t)
    h_n.sum().backward()
    eps = 1e-6
    for k in ("w_ih", "w_hh", "w_hr"):
        num = np.zeros_like(a[k])
        for idx in itertools.product(*map(range, a[k].shape)):
            p, m = {**a, k: a[k].copy()}, {**a, k: a[k].copy()}
            p[k][idx] += eps
            m[k][idx] -= eps
            hp = reference("lstm", p["x"], p["h0"], p["c0"], p["w_ih"], p["w_hh"], p["b_ih"], p["b_hh"], p["w_hr"])[1]
            hm = reference("lstm", m["x"], m["h0"], m["c0"], m["w_ih"], m["w_hh"], m["b_ih"], m["b_hh"], m["w_hr"])[1]
            num[idx] = (hp.sum() - hm.sum()) / (2 * eps)
        np.testing.assert_allclose(t[k].grad.numpy(), num, rtol=1e-6, atol=1e-8)


def test_empty_sequence_returns_the_initial_state():
    a = make("lstm", t_len=0)
    out, h_n, c_n = call("lstm", to_fg(a))
    assert out.shape == (0, 3, 2)
    np.testing.assert_array_equal(h_n.numpy(), a["h0"])
    np.testing.assert_array_equal(c_n.numpy(), a["c0"])


def test_errors_name_the_op_and_shapes():
    t = to_fg(make("lstm", hid=2))
    with pytest.raises(RuntimeError, match=r"lstm: input.size\(-1\) must be equal to input_size. Expected 3, got 4"):
        call("lstm", {**t, "x": fg.zeros(4, 3, 4, dtype=fg.float64)})
    with pytest.raises(RuntimeError, match=r"lstm: expected a 3-D input"):
        call("lstm", {**t, "x": fg.zeros(4, 3, dtype=fg.float64)})
    with pytest.raises(RuntimeError, match=r"lstm: Expected hidden size \[3, 2\]"):
        call("lstm", {**t, "h0": fg.zeros(2, 2, dtype=fg.float64)})
    with pytest.raises(RuntimeError, match=r"lstm: Expected cell size \[3, 2\]"):
        call("lstm", {**t, "c0": fg.zeros(3, 5, dtype=fg.float64)})
    with pytest.raises(RuntimeError, match=r"lstm: w_hh must have shape \[8, 2\]"):
        call("lstm", {**t, "w_hh": fg.zeros(8, 3, dtype=fg.float64)})
    with pytest.raises(RuntimeError, match=r"lstm: b_ih must have shape \[8\]"):
        call("lstm", {**t, "b_ih": fg.zeros(6, dtype=fg.float64)})
    with pytest.raises(RuntimeError, match=r"lstm: w_ih must be 2-D"):
        call("lstm", {**t, "w_ih": fg.zeros(7, 3, dtype=fg.float64)})
    with pytest.raises(RuntimeError, match=r"lstm: w_hr must be \(proj_size, hidden_size\)"):
        call("lstm", {**t, "w_hr": fg.zeros(1, 5, dtype=fg.float64)})
    with pytest.raises(RuntimeError, match=r"lstm: expected h0 to have the input's dtype .*float64, but got .*float32"):
        call("lstm", {**t, "h0": fg.zeros(3, 2)})
    g = to_fg(make("gru", packed=[3, 2]))
    with pytest.raises(RuntimeError, match=r"gru: batch_sizes must be non-increasing"):
        call("gru", g, batch_sizes=[2, 3])
    with pytest.raises(RuntimeError, match=r"gru: batch_sizes add up to 4, but the packed input has 5 rows"):
        call("gru", g, batch_sizes=[2, 2])
    with pytest.raises(RuntimeError, match=r"gru: batch_sizes must be positive"):
        call("gru", g, batch_sizes=[5, 0])
    with pytest.raises(RuntimeError, match=r"gru: expected a 2-D packed input"):
        call("gru", {**g, "x": fg.zeros(1, 5, 3, dtype=fg.float64)}, batch_sizes=[3, 2])
    r = to_fg(make("rnn_tanh"))
    with pytest.raises(ValueError, match="Unknown nonlinearity 'sigmoid'"):
        _core._rnn_layer(r["x"], r["h0"], r["w_ih"], r["w_hh"], nonlinearity="sigmoid")
    with pytest.raises(TypeError):
        _core._rnn_layer(r["x"].long(), r["h0"].long(), r["w_ih"].long(), r["w_hh"].long())


# ---- against PyTorch, where it is installed ----------------------------------------------------


def _torch_layer(torch, cell, a, proj):
    inp, hid = a["w_ih"].shape[1], a["w_ih"].shape[0] // GATES[cell]
    bias = a["b_ih"] is not None
    if cell == "lstm":
        m = torch.nn.LSTM(inp, hid, bias=bias, proj_size=proj)
    elif cell == "gru":
        m = torch.nn.GRU(inp, hid, bias=bias)
    else:
        m = torch.nn.RNN(inp, hid, nonlinearity=cell[4:], bias=bias)
    m = m.double()
    names = {"w_ih": "weight_ih_l0", "w_hh": "weight_hh_l0", "b_ih": "bias_ih_l0", "b_hh": "bias_hh_l0", "w_hr": "weight_hr_l0"}
    with torch.no_grad():
        for k, n in names.items():
            if a[k] is not None:
                getattr(m, n).copy_(torch.from_numpy(a[k]))
    return m, names


TORCH_CASES = [(c, 0, b, p) for c in GATES for b in (True, False) for p in (None, [4, 4, 3, 1, 1])] + [
    ("lstm", 3, True, None), ("lstm", 3, True, [4, 4, 3, 1, 1])]


@pytest.mark.parametrize("case", TORCH_CASES, ids=[f"{c}-proj{p}-{b}-{'packed' if s else 'padded'}" for c, p, b, s in TORCH_CASES])
def test_matches_torch_outputs_and_every_gradient(case):
    torch = pytest.importorskip("torch")
    cell, proj, bias, packed = case
    a = make(cell, t_len=5, batch=4, inp=3, hid=5, proj=proj, bias=bias, packed=packed, seed=3)
    m, names = _torch_layer(torch, cell, a, proj)
    tx, th0 = torch.tensor(a["x"], requires_grad=True), torch.tensor(a["h0"][None], requires_grad=True)
    hx = (th0, torch.tensor(a["c0"][None], requires_grad=True)) if cell == "lstm" else th0
    x_in = torch.nn.utils.rnn.PackedSequence(tx, torch.tensor(packed)) if packed else tx
    t_out, t_h = m(x_in, hx)
    t_out = t_out.data if packed else t_out
    t_states = list(t_h) if cell == "lstm" else [t_h]
    loss_w = np.random.default_rng(1).normal(size=t_out.shape)
    (t_out * torch.tensor(loss_w)).sum().add(sum((s ** 2).sum() for s in t_states)).backward()

    t = to_fg(a, requires_grad=True)
    got = call(cell, t, batch_sizes=packed)
    (got[0] * fg.tensor(loss_w)).sum().add(sum((s ** 2).sum() for s in got[1:])).backward()
    np.testing.assert_allclose(got[0].detach().numpy(), t_out.detach().numpy(), rtol=1e-10, atol=1e-12)
    for g, s in zip(got[1:], t_states):
        np.testing.assert_allclose(g.detach().numpy(), s.detach().numpy()[0], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(t["x"].grad.numpy(), tx.grad.numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(t["h0"].grad.numpy(), th0.grad.numpy()[0], rtol=1e-9, atol=1e-12)
    if cell == "lstm":
        np.testing.assert_allclose(t["c0"].grad.numpy(), hx[1].grad.numpy()[0], rtol=1e-9, atol=1e-12)
    for k, n in names.items():
        if a[k] is not None:
            np.testing.assert_allclose(t[k].grad.numpy(), getattr(m, n).grad.numpy(), rtol=1e-9, atol=1e-12, err_msg=k)


@pytest.mark.parametrize("cell", list(GATES))
def test_reverse_matches_torch_bidirectional_backward_half(cell):
    torch = pytest.importorskip("torch")
    packed = [4, 3, 3, 2, 1]
    a = make(cell, inp=3, hid=4, packed=packed, seed=5)
    inp, hid = 3, 4
    kw = {"nonlinearity": cell[4:]} if cell.startswith("rnn") else {}
    m = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}.get(cell, torch.nn.RNN)(inp, hid, bidirectional=True, **kw).double()
    with torch.no_grad():
        for k, n in {"w_ih": "weight_ih_l0_reverse", "w_hh": "weight_hh_l0_reverse", "b_ih": "bias_ih_l0_reverse",
                     "b_hh": "bias_hh_l0_reverse"}.items():
            getattr(m, n).copy_(torch.from_numpy(a[k]))
    h0 = np.zeros((2, packed[0], hid))
    h0[1] = a["h0"]
    hx = torch.tensor(h0)
    if cell == "lstm":
        c0 = np.zeros((2, packed[0], hid))
        c0[1] = a["c0"]
        hx = (hx, torch.tensor(c0))
    out, h = m(torch.nn.utils.rnn.PackedSequence(torch.tensor(a["x"]), torch.tensor(packed)), hx)
    got = call(cell, to_fg(a), batch_sizes=packed, reverse=True)
    np.testing.assert_allclose(got[0].numpy(), out.data.detach().numpy()[:, hid:], rtol=1e-10, atol=1e-12)
    states = h if cell == "lstm" else (h,)
    for g, s in zip(got[1:], states):
        np.testing.assert_allclose(g.numpy(), s.detach().numpy()[1], rtol=1e-10, atol=1e-12)


# Steps large enough (batch x hidden x gates x hidden >= 2^20 multiply-adds) to be split by batch
# rows across threads, each part doing its rows' product and gates (or, hidden 512, by W_hh's
# columns): checked against the composed
# per-step ops (float64 autograd, no shared code with the kernel) for outputs and every gradient.
SPLIT_CASES = [("lstm", 128, 0, None), ("lstm", 512, 0, [24, 20, 8]), ("gru", 512, 0, None), ("lstm", 128, 32, [24, 24, 20, 9, 3]), ("gru", 128, 0, [24, 24, 20, 9, 3]),
               ("gru", 128, 0, None), ("rnn_tanh", 256, 0, None), ("rnn_relu", 256, 0, [24, 20, 20, 9])]


@pytest.mark.parametrize("case", SPLIT_CASES, ids=[f"{c}-h{h}-proj{p}-{'packed' if s else 'padded'}" for c, h, p, s in SPLIT_CASES])
@pytest.mark.parametrize("reverse", [False, True])
def test_steps_split_across_threads_match_the_composed_ops(case, reverse):
    from ferrograd.nn.modules.rnn_cells import _gru_layer_composed, _lstm_layer_composed, _rnn_layer_composed

    cell, hid, proj, packed = case
    a = make(cell, t_len=4, batch=24, inp=8, hid=hid, proj=proj, packed=packed, seed=3)
    a = {k: None if v is None else v * (0.3 if k.startswith("w") else 1.0) for k, v in a.items()}
    names = [k for k, v in a.items() if v is not None]

    def run(fn):
        t = to_fg(a, requires_grad=True)
        outs = fn(t)
        loss = sum((o * fg.tensor(np.cos(np.arange(o.numel()).reshape(o.shape)))).sum() for o in outs)
        loss.backward()
        return [o.detach().numpy() for o in outs], [t[k].grad.numpy() for k in names]

    def composed(t):
        if cell == "lstm":
            out, h, c = _lstm_layer_composed(t["x"], t["h0"], t["c0"], t["w_ih"], t["w_hh"], t["b_ih"], t["b_hh"], t["w_hr"],
                                             batch_sizes=packed, reverse=reverse)
            return out, h, c
        if cell == "gru":
            return _gru_layer_composed(t["x"], t["h0"], t["w_ih"], t["w_hh"], t["b_ih"], t["b_hh"], batch_sizes=packed,
                                       reverse=reverse)
        return _rnn_layer_composed(t["x"], t["h0"], t["w_ih"], t["w_hh"], t["b_ih"], t["b_hh"], cell[4:],
                                   batch_sizes=packed, reverse=reverse)

    got, got_g = run(lambda t: call(cell, t, batch_sizes=packed, reverse=reverse))
    want, want_g = run(composed)
    for g, w in zip(got + got_g, want + want_g):
        np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-10)


_THREADS_SCRIPT = """
import hashlib, sys, numpy as np, ferrograd as fg
sys.path.insert(0, sys.argv[1])
from test_rnn_kernel import make, to_fg, call
h = hashlib.sha256()
for cell, hid in (("lstm", 128), ("gru", 128), ("rnn_tanh", 256)):
    t = to_fg(make(cell, t_len=3, batch=24, inp=8, hid=hid, seed=5, dtype=np.float32), requires_grad=True)
    outs = call(cell, t)
    sum(o.sum() for o in outs).backward()
    for o in list(outs) + [v.grad for v in t.values() if v is not None]:
        h.update(o.detach().numpy().tobytes())
print(h.hexdigest())
"""


def test_results_do_not_depend_on_the_thread_count():
    import os
    import pathlib
    import subprocess
    import sys

    here = str(pathlib.Path(__file__).parent)
    digests = set()
    for threads in ("1", "3"):
        env = dict(os.environ, RAYON_NUM_THREADS=threads)
        run = subprocess.run([sys.executable, "-c", _THREADS_SCRIPT, here], env=env, capture_output=True, text=True,
                             check=True, timeout=120)
        digests.add(run.stdout.strip())
    assert len(digests) == 1


def test_non_finite_inputs_propagate_as_in_pytorch():
    # relu keeps a NaN (PyTorch: out [nan, nan], h_n [nan]).
    x = fg.tensor([[[float("nan")]], [[1.0]]])
    out, h = _core._rnn_layer(x, fg.zeros(1, 1), fg.full((1, 1), 0.5), fg.full((1, 1), 0.5), None, None, "relu")
    assert np.isnan(out.numpy()).all() and np.isnan(h.numpy()).all()
    # A float32 gate saturated by an inf input is exactly 0 or 1: every gate of this LSTM is
    # sigmoid(-inf) = 0 or tanh(-inf) = -1, so the output is exactly 0 and each weight gradient
    # is 0 * -inf = NaN (PyTorch's values).
    w_ih = fg.full((8, 1), 0.5, dtype=fg.float32, requires_grad=True)
    out, h, c = _core._lstm_layer(fg.tensor([[[-float("inf")]]]), fg.zeros(1, 2), fg.zeros(1, 2), w_ih,
                                  fg.full((8, 2), 0.1), None, None, None)
    assert (out.detach().numpy() == 0).all() and (c.detach().numpy() == 0).all()
    out.sum().backward()
    assert np.isnan(w_ih.grad.numpy()).all()


@pytest.mark.parametrize("cell", list(GATES))
@pytest.mark.parametrize("packed", [None, [3, 2, 2, 1]])
def test_gradients_without_the_initial_states_gradient(cell, packed):
    # Without h0 requiring grad the last step's product with W_hh (which gives only dh0) is
    # skipped: every other gradient, c0's included, must be unchanged.
    for reverse in (False, True):
        a = make(cell, inp=3, hid=3, packed=packed, seed=8)
        full, partial = to_fg(a, requires_grad=True), to_fg(a, requires_grad=True)
        partial["h0"].requires_grad_(False)
        w = np.random.default_rng(9).standard_normal(call(cell, to_fg(a), batch_sizes=packed)[0].shape)
        for t in (full, partial):
            outs = call(cell, t, batch_sizes=packed, reverse=reverse)
            ((outs[0] * fg.tensor(w)).sum() + sum((o ** 2).sum() for o in outs[1:])).backward()
        assert partial["h0"].grad is None and full["h0"].grad is not None
        for k in full:
            if k != "h0" and full[k] is not None:
                np.testing.assert_array_equal(partial[k].grad.numpy(), full[k].grad.numpy(), err_msg=k)
