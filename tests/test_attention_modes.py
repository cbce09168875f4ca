"""Attention and train/eval: F.scaled_dot_product_attention's dropout_p trap and its warning
(once per call site, silenced by set_mode_warnings), nn.ScaledDotProductAttention,
MultiheadAttention's and the Transformer layers' dropout following the module mode (train/eval,
mode contexts, pins), model.modes() listings, errors, and float64 gradchecks."""

from __future__ import annotations

import warnings

import ferrograd as fg
import ferrograd.nn as nn
import ferrograd.nn.functional as F
import numpy as np
import pytest
from ferrograd.autograd import gradcheck
from ferrograd.nn import _functional_attention as FA
from ferrograd.nn.utils import mode_warnings
from ferrograd.nn.utils.mode_warnings import AttentionDropoutInEvalWarning, ModeWarning, set_mode_warnings


@pytest.fixture(autouse=True)
def fresh_warning_state():
    mode_warnings._warned_sites.clear()
    yield
    set_mode_warnings(attention_dropout=True)
    mode_warnings._warned_sites.clear()


def qkv(b=2, h=2, L=4, S=5, e=8, dtype=fg.float32, grad=False):
    fg.manual_seed(0)
    return (fg.randn(b, h, L, e, dtype=dtype, requires_grad=grad), fg.randn(b, h, S, e, dtype=dtype, requires_grad=grad),
            fg.randn(b, h, S, e, dtype=dtype, requires_grad=grad))


def caught(fn):
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        fn()
    return [x for x in w if issubclass(x.category, AttentionDropoutInEvalWarning)]


# ---- the dropout_p trap and its warning ---------------------------------------------------

def test_functional_dropout_p_still_drops_under_no_grad_as_pytorch_and_warns_once_per_call_site():
    q, k, v = qkv()
    ref = F.scaled_dot_product_attention(q, k, v)

    def calls():
        with fg.no_grad():
            outs = [F.scaled_dot_product_attention(q, k, v, dropout_p=0.5) for _ in range(3)]  # one call site
            F.scaled_dot_product_attention(q, k, v, dropout_p=0.5)  # another
        assert not all(np.allclose(o.numpy(), ref.numpy()) for o in outs)  # it does drop (PyTorch's semantics)

    got = caught(calls)
    assert len(got) == 2
    assert isinstance(got[0].message, ModeWarning)
    assert got[0].filename == __file__  # points at the user's line
    assert "grad disabled" in str(got[0].message) and "self.training" in str(got[0].message)


class UserAttention(nn.Module):
    """The pattern PyTorch users write: the dropout probability passed straight through."""

    def __init__(self, p):
        super().__init__()
        self.p = p

    def forward(self, q, k, v):
        return F.scaled_dot_product_attention(q, k, v, dropout_p=self.p)


def test_functional_dropout_inside_an_eval_module_warns_with_grad_enabled():
    q, k, v = qkv()
    m = UserAttention(0.3)
    assert caught(lambda: m(q, k, v)) == []  # training mode: dropping is intended
    m.eval()
    got = caught(lambda: [m(q, k, v) for _ in range(2)])
    assert len(got) == 1 and "UserAttention, which is in eval mode" in str(got[0].message)


def test_no_warning_for_dropout_p_zero_or_for_the_correct_pattern():
    q, k, v = qkv()
    with fg.no_grad():
        assert caught(lambda: F.scaled_dot_product_attention(q, k, v, dropout_p=0.0)) == []
    m = UserAttention(0.0).eval()
    assert caught(lambda: m(q, k, v)) == []


def test_set_mode_warnings_and_filters_silence_it():
    q, k, v = qkv()
    set_mode_warnings(attention_dropout=False)
    with fg.no_grad():
        assert caught(lambda: F.scaled_dot_product_attention(q, k, v, dropout_p=0.2)) == []
    set_mode_warnings(attention_dropout=True)
    with mode_warnings.suppress_mode_warnings(), fg.no_grad():
        assert caught(lambda: F.scaled_dot_product_attention(q, k, v, dropout_p=0.2)) == []
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        warnings.filterwarnings("ignore", category=AttentionDropoutInEvalWarning)
        with fg.no_grad():
            F.scaled_dot_product_attention(q, k, v, dropout_p=0.2)
    assert not w


# ---- dropout that follows the mode ---------------------------------------------------------

def dropped_weights(module_or_fn, S=6, L=5, p=0.5):
    """With value = identity, the output is the attention weights as used: dropped ones are 0,
    kept ones are scaled by 1/(1-p)."""
    fg.manual_seed(1)
    q, k = fg.randn(4, 2, L, 8), fg.randn(4, 2, S, 8)
    v = fg.eye(S).expand(4, 2, S, S)
    return q, k, v, module_or_fn(q, k, v)


def test_scaled_dot_product_attention_module_drops_only_in_training_mode():
    m = nn.ScaledDotProductAttention(dropout=0.5)
    q, k, v, out = dropped_weights(m)
    ref = FA._sdpa_composed(q, k, v).numpy()
    o = out.numpy()
    zero = o == 0
    assert 0.4 < zero.mean() < 0.6
    np.testing.assert_allclose(o[~zero], 2 * ref[~zero], rtol=1e-5)
    m.eval()
    assert caught(lambda: m(q, k, v)) == []
    np.testing.assert_allclose(m(q, k, v).numpy(), ref, rtol=1e-6)
    with m.mode("train"):
        assert (m(q, k, v).numpy() == 0).mean() > 0.3
    assert m._mode_meaning() == "no attention dropout (eval)"
    assert repr(m) == "ScaledDotProductAttention(dropout=0.5)"


def test_functional_dropout_statistics():
    q, k, v, out = dropped_weights(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, dropout_p=0.25))
    assert 0.17 < (out.numpy() == 0).mean() < 0.33


def test_multihead_attention_dropout_follows_mode_contexts_and_pins():
    fg.manual_seed(0)
    mha = nn.MultiheadAttention(8, 2, dropout=0.5)
    x = fg.randn(5, 3, 8)
    _, w = mha(x, x, x, average_attn_weights=False)
    assert (w.detach().numpy() == 0).mean() > 0.3  # the returned weights are the dropped ones, as PyTorch
    mha.eval()
    a, wa = mha(x, x, x)
    b, wb = mha(x, x, x, need_weights=False)
    np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-5, atol=1e-6)
    assert wb is None and np.allclose(wa.detach().numpy().sum(-1), 1)
    model = nn.Sequential(nn.Linear(8, 8), mha)
    model.train()
    with model.mode("eval"):
        assert not mha.training
        np.testing.assert_array_equal(mha(x, x, x)[0].detach().numpy(), a.detach().numpy())
    assert mha.training
    mha.pin_mode("eval")
    model.train()
    assert not mha.training
    assert caught(lambda: mha(x, x, x, need_weights=False)) == []


def test_modes_lists_attention_and_transformer_layers_with_their_dropout():
    enc = nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2, 16, dropout=0.1), 2, enable_nested_tensor=False)
    model = nn.Sequential(nn.Embedding(10, 8), enc)
    report = model.modes()
    by_path = {e.path: e for e in report.entries}
    assert by_path["1.layers.0"].cls == "TransformerEncoderLayer"
    assert by_path["1.layers.0.self_attn"].meaning == "attention dropout p=0.1"
    assert by_path["1.layers.1.dropout2"].meaning == "drops with p=0.1"
    assert "dropout p=0.1" in by_path["1.layers.1"].meaning
    model.eval()
    by_path = {e.path: e for e in model.modes().entries}
    assert by_path["1.layers.0.self_attn"].meaning == "no attention dropout (eval)"
    assert by_path["1.layers.0"].meaning == "no dropout (eval)"
    assert all(e.mode == "eval" for e in model.modes().entries)
    dec = nn.TransformerDecoderLayer(8, 2, 16, dropout=0.0)
    assert {e.path for e in dec.modes().entries} >= {"(root)", "self_attn", "multihead_attn", "dropout3"}
    assert dec._mode_meaning() == "no dropout (p=0)"


def test_transformer_layers_deterministic_in_eval_and_dropping_in_train():
    fg.manual_seed(0)
    t = nn.Transformer(16, 4, 1, 1, 32, dropout=0.3)
    src, tgt = fg.randn(6, 2, 16), fg.randn(5, 2, 16)
    mask = t.generate_square_subsequent_mask(5)
    a, b = t(src, tgt, tgt_mask=mask), t(src, tgt, tgt_mask=mask)
    assert not np.allclose(a.detach().numpy(), b.detach().numpy())
    t.eval()
    with fg.no_grad():
        assert caught(lambda: t(src, tgt, tgt_mask=mask)) == []
        a, b = t(src, tgt, tgt_mask=mask), t(src, tgt, tgt_mask=mask)
    np.testing.assert_array_equal(a.numpy(), b.numpy())


# ---- semantics and errors -------------------------------------------------------------------

def test_fully_masked_rows_give_zeros_and_no_nan_gradients():
    q, k, v = qkv(dtype=fg.float64, grad=True)
    keep = fg.ones(4, 5, dtype=fg.bool)
    keep[1] = False
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=keep)
    assert (out[:, :, 1] == 0).all().item()
    out.sum().backward()
    for t in (q, k, v):
        assert np.isfinite(t.grad.numpy()).all()
    # MultiheadAttention: zeros on both paths (PyTorch gives NaN with need_weights=True)
    mha = nn.MultiheadAttention(4, 2)
    x = fg.randn(3, 2, 4)
    kpm = fg.tensor([[True, True, True], [False, False, True]])
    for need in (True, False):
        o, _ = mha(x, x, x, key_padding_mask=kpm, need_weights=need)
        assert (o[:, 0] == 0).all().item() and np.isfinite(o.detach().numpy()).all()


@pytest.mark.parametrize("call, exc, match", [
    (lambda q, k, v: F.scaled_dot_product_attention(q, k, v, attn_mask=fg.ones(4, 5, dtype=fg.bool), is_causal=True),
     RuntimeError, "attn_mask should not be set when is_causal"),
    (lambda q, k, v: F.scaled_dot_product_attention(q, k.double(), v), RuntimeError, "same dtype"),
    (lambda q, k, v: F.scaled_dot_product_attention(q, k, v, attn_mask=fg.ones(4, 5, dtype=fg.int64)), RuntimeError,
     "attn_mask dtype"),
    (lambda q, k, v: F.scaled_dot_product_attention(q, k, v, attn_mask=fg.zeros(3, 5)), RuntimeError, "broadcast"),
    (lambda q, k, v: F.scaled_dot_product_attention(q[:, :1].expand(2, 3, 4, 8), k, v, enable_gqa=True),
     RuntimeError, "must divide"),
    (lambda q, k, v: F.scaled_dot_product_attention(q, k[..., :3], v), RuntimeError, "last dim"),
    (lambda q, k, v: F.scaled_dot_product_attention(q, k, v[:, :, :2]), RuntimeError, "sequence length"),
    (lambda q, k, v: F.scaled_dot_product_attention(q[0, 0, 0], k[0, 0, 0], v[0, 0, 0]), RuntimeError,
     "at least 2 dimensional"),
    (lambda q, k, v: F.scaled_dot_product_attention(q, k, v, dropout_p=1.5), RuntimeError, "between 0 and 1"),
])
def test_sdpa_errors(call, exc, match):
    with pytest.raises(exc, match=match):
        call(*qkv())


def test_multihead_attention_errors():
    with pytest.raises(AssertionError, match="divisible"):
        nn.MultiheadAttention(10, 3)
    with pytest.raises(ValueError, match="greater than 0"):
        nn.MultiheadAttention(0, 1)
    m = nn.MultiheadAttention(8, 2)
    x = fg.randn(4, 2, 8)
    with pytest.raises(RuntimeError, match="Need attn_mask"):
        m(x, x, x, is_causal=True)
    with pytest.raises(RuntimeError, match="2D attn_mask"):
        m(x, x, x, attn_mask=fg.zeros(3, 4))
    with pytest.raises(AssertionError, match="only bool and floating"):
        m(x, x, x, attn_mask=fg.zeros(4, 4, dtype=fg.int64))
    with pytest.raises(AssertionError, match="embedding dimension"):
        m(fg.randn(4, 2, 6), fg.randn(4, 2, 6), fg.randn(4, 2, 6))
    with pytest.raises(RuntimeError, match="relu/gelu"):
        nn.TransformerEncoderLayer(8, 2, activation="tanh")


def test_transformer_layer_accepts_a_callable_activation():
    fg.manual_seed(0)
    layer = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, activation=fg.tanh)
    assert layer.activation_relu_or_gelu == 0
    x = fg.randn(3, 2, 8)
    h = layer.norm1(x + layer.self_attn(x, x, x, need_weights=False)[0])
    expected = layer.norm2(h + layer.linear2(fg.tanh(layer.linear1(h))))
    np.testing.assert_allclose(layer(x).detach().numpy(), expected.detach().numpy(), rtol=1e-5, atol=1e-6)
    assert nn.TransformerEncoderLayer(8, 2, activation=nn.GELU()).activation_relu_or_gelu == 2


def test_encoder_layers_are_independent_copies():
    enc = nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2, 16), 3, enable_nested_tensor=False)
    ws = [layer.self_attn.in_proj_weight for layer in enc.layers]
    assert len({id(w) for w in ws}) == 3
    assert sorted(k for k in enc.state_dict() if k.startswith("layers.2.")) == sorted(
        "layers.2." + k for k in nn.TransformerEncoderLayer(8, 2, 16).state_dict())


# ---- float64 gradchecks ---------------------------------------------------------------------

@pytest.mark.parametrize("kw", [{}, {"is_causal": True}, {"scale": 0.7}, {"enable_gqa": True}, {"mask": "bool"},
                                {"mask": "float"}])
def test_sdpa_gradcheck(kw):
    fg.manual_seed(3)
    heads_kv = 1 if kw.get("enable_gqa") else 2
    q = fg.randn(1, 2, 3, 4, dtype=fg.float64, requires_grad=True)
    k = fg.randn(1, heads_kv, 5, 4, dtype=fg.float64, requires_grad=True)
    v = fg.randn(1, heads_kv, 5, 3, dtype=fg.float64, requires_grad=True)
    mask = kw.pop("mask", None)
    if mask == "bool":
        kw["attn_mask"] = fg.tensor([[True, False, True, True, False]] * 2 + [[False] * 5])  # last row dead
    elif mask == "float":
        kw["attn_mask"] = fg.randn(3, 5, dtype=fg.float64)
    assert gradcheck(lambda a, b, c: F.scaled_dot_product_attention(a, b, c, **kw), [q, k, v])


def test_multihead_attention_gradcheck():
    fg.manual_seed(4)
    m = nn.MultiheadAttention(4, 2, kdim=3, vdim=2, add_bias_kv=True, dtype=fg.float64)
    q = fg.randn(3, 2, 4, dtype=fg.float64, requires_grad=True)
    k = fg.randn(2, 2, 3, dtype=fg.float64, requires_grad=True)
    v = fg.randn(2, 2, 2, dtype=fg.float64, requires_grad=True)
    kpm = fg.tensor([[False, True], [False, False]])
    assert gradcheck(lambda a, b, c: m(a, b, c, key_padding_mask=kpm)[0], [q, k, v])
    assert gradcheck(lambda a, b, c: m(a, b, c, need_weights=False)[0], [q, k, v])


def test_one_dispatch_point_uses_the_fused_kernel_when_the_extension_has_it(monkeypatch):
    from ferrograd import _core

    calls = []

    def fake_kernel(*args):
        calls.append(args)
        return FA._sdpa_composed(*args)

    monkeypatch.setattr(_core, "_sdpa", fake_kernel, raising=False)
    q, k, v = qkv()
    F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=0.5)
    assert calls[-1][3:] == (None, 0.0, True, 0.5, False)
    nn.ScaledDotProductAttention(0.0)(q, k, v)
    mha = nn.MultiheadAttention(8, 2)
    x = fg.randn(3, 2, 8)
    n = len(calls)
    mha(x, x, x, need_weights=False)
    assert len(calls) == n + 1  # need_weights=False takes the SDPA path
    mha(x, x, x)
    assert len(calls) == n + 1  # explicit weights do not


def test_sdpa_gradient_reaches_a_float_mask_that_requires_grad():
    fg.manual_seed(5)
    q, k, v = (fg.randn(1, 2, 3, 4, dtype=fg.float64, requires_grad=True) for _ in range(3))
    bias = fg.randn(3, 3, dtype=fg.float64, requires_grad=True)  # e.g. a learned relative-position bias
    assert gradcheck(lambda a, b, c, m: F.scaled_dot_product_attention(a, b, c, attn_mask=m), [q, k, v, bias])


def test_fg_inference_turns_every_attention_dropout_off():
    fg.manual_seed(6)
    t = nn.Transformer(8, 2, 1, 1, 16, dropout=0.5)
    src, tgt = fg.randn(4, 2, 8), fg.randn(3, 2, 8)
    with fg.inference(t):
        a, b = t(src, tgt), t(src, tgt)
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert t.training and t.encoder.layers[0].self_attn.training


@pytest.mark.parametrize("path", ["MultiheadAttention", "TransformerEncoderLayer", "TransformerDecoderLayer",
                                  "TransformerEncoder", "TransformerDecoder", "Transformer", "Embedding"])
def test_signatures_are_pytorchs(path):
    import inspect

    torch = pytest.importorskip("torch")
    ours, theirs = getattr(nn, path), getattr(torch.nn, path)
    for method in ("__init__", "forward"):
        a = inspect.signature(getattr(ours, method)).parameters
        b = inspect.signature(getattr(theirs, method)).parameters
        assert list(a) == list(b), (path, method)
        for name in a:
            da, db = a[name].default, b[name].default
            if callable(db):  # activation=F.relu
                assert da.__name__ == db.__name__
            else:
                assert da == db or (da is inspect.Parameter.empty and db is inspect.Parameter.empty), (path, name)
    fa = inspect.signature(F.multi_head_attention_forward).parameters
    fb = inspect.signature(torch.nn.functional.multi_head_attention_forward).parameters
    assert [(n, p.default) for n, p in fa.items()] == [(n, p.default) for n, p in fb.items()]


def test_sdpa_kernel_chooses_the_implementation_on_this_thread(monkeypatch):
    from ferrograd import _core
    from ferrograd.nn.attention import SDPBackend, sdpa_kernel

    calls = []
    monkeypatch.setattr(_core, "_sdpa", lambda *a: calls.append(a) or FA._sdpa_composed(*a), raising=False)
    q, k, v = qkv()
    with sdpa_kernel(SDPBackend.MATH):
        F.scaled_dot_product_attention(q, k, v)
    assert calls == []
    with sdpa_kernel([SDPBackend.FLASH_ATTENTION, SDPBackend.MATH], set_priority=True):
        F.scaled_dot_product_attention(q, k, v)
    assert len(calls) == 1
    with sdpa_kernel(SDPBackend.EFFICIENT_ATTENTION):  # CUDA-only in PyTorch: no viable backend on CPU
        with pytest.raises(RuntimeError, match="No viable backend"):
            F.scaled_dot_product_attention(q, k, v)
    F.scaled_dot_product_attention(q, k, v)  # restored on exit
    assert len(calls) == 2

    @sdpa_kernel(SDPBackend.MATH)
    def decorated():
        return F.scaled_dot_product_attention(q, k, v)

    decorated()
    assert len(calls) == 2
    with pytest.raises(AssertionError, match="SDPBackend"):
        with sdpa_kernel("math"):
            pass
    monkeypatch.delattr(_core, "_sdpa")
    with sdpa_kernel(SDPBackend.FLASH_ATTENTION):  # without the fused kernel the composed path serves it
        F.scaled_dot_product_attention(q, k, v)
    assert str(SDPBackend.MATH) == "SDPBackend.MATH" and int(SDPBackend.CUDNN_ATTENTION) == 3


def test_sdpa_backend_names_are_pytorchs():
    torch = pytest.importorskip("torch")
    from ferrograd.nn.attention import SDPBackend

    assert {k: int(v) for k, v in SDPBackend.__members__.items()} == {
        k: int(v) for k, v in torch.nn.attention.SDPBackend.__members__.items()}


def test_multihead_attention_train_mode_dropout_is_unbiased():
    # Inverted dropout on the attention weights: the average over many draws is the eval output.
    fg.manual_seed(7)
    mha = nn.MultiheadAttention(8, 2, dropout=0.3, dtype=fg.float64)
    x = fg.randn(4, 2, 8, dtype=fg.float64)
    with fg.no_grad():
        draws = np.stack([mha(x, x, x, need_weights=False)[0].numpy() for _ in range(600)])
        with mha.mode("eval"):
            expected = mha(x, x, x)[0].numpy()
    assert draws.std(0).mean() > 0.05  # it does drop in training mode
    stderr = draws.std(0) / np.sqrt(len(draws))
    assert np.all(np.abs(draws.mean(0) - expected) < 5 * stderr + 1e-9)
