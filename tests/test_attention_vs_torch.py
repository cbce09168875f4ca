"""Randomised differential checks against PyTorch itself (skipped without torch): many random
shapes and option combinations of F.scaled_dot_product_attention and nn.MultiheadAttention,
float64 outputs and gradients, including edge sizes (L or S = 1, one head, broadcast batch dims,
masks with dead rows). Run with PYTHONPATH=python /tmp/torchvenv/bin/python -m pytest ..."""

from __future__ import annotations

import ferrograd as fg
import ferrograd.nn as nn
import ferrograd.nn.functional as F
import numpy as np
import pytest

torch = pytest.importorskip("torch")


def both(a, grad=False):
    return (torch.tensor(a, requires_grad=grad) if a.dtype != bool else torch.tensor(a),
            fg.tensor(a, requires_grad=grad) if a.dtype != bool else fg.tensor(a))


def compare(t_out, f_out, t_leaves, f_leaves, rng, what):
    w = rng.normal(size=tuple(t_out.shape))
    (t_out * torch.tensor(w)).sum().backward()
    (f_out * fg.tensor(w)).sum().backward()
    np.testing.assert_allclose(f_out.detach().numpy(), t_out.detach().numpy(), rtol=1e-8, atol=1e-10, err_msg=what)
    for i, (t, f) in enumerate(zip(t_leaves, f_leaves)):
        np.testing.assert_allclose(f.grad.numpy(), t.grad.numpy(), rtol=1e-7, atol=1e-9, err_msg=f"{what}: grad {i}")


@pytest.mark.parametrize("seed", range(40))
def test_sdpa_random_configurations(seed):
    rng = np.random.default_rng(seed)
    L, S, E, Ev = (int(x) for x in rng.integers(1, 7, 4))
    hk = int(rng.integers(1, 3))
    gqa = bool(rng.integers(0, 2))
    hq = hk * int(rng.integers(1, 4)) if gqa else hk
    batch = [int(rng.integers(1, 3))] if rng.random() < 0.8 else []
    qs, ks, vs = (batch + [hq, L, E]), (batch + [hk, S, E]), (batch + [hk, S, Ev])
    kw = {}
    choice = rng.integers(0, 4)
    if choice == 1:
        kw["is_causal"] = True
    elif choice == 2:
        kw["attn_mask"] = rng.random((L, S)) > 0.5  # may leave rows with no key
    elif choice == 3:
        m = rng.normal(size=(hq, L, S)) if rng.random() < 0.5 else rng.normal(size=(L, S))
        m[m < -1.2] = -np.inf
        kw["attn_mask"] = m
    if rng.random() < 0.3:
        kw["scale"] = float(rng.uniform(0.1, 2))
    tq, fq = both(rng.normal(size=qs), True)
    tk, fk = both(rng.normal(size=ks), True)
    tv, fv = both(rng.normal(size=vs), True)
    tkw, fkw = dict(kw), dict(kw)
    if "attn_mask" in kw:
        tkw["attn_mask"], fkw["attn_mask"] = both(kw["attn_mask"])
    t_out = torch.nn.functional.scaled_dot_product_attention(tq, tk, tv, enable_gqa=gqa, **tkw)
    f_out = F.scaled_dot_product_attention(fq, fk, fv, enable_gqa=gqa, **fkw)
    compare(t_out, f_out, [tq, tk, tv], [fq, fk, fv], rng, f"seed {seed}: q{qs} k{ks} v{vs} gqa={gqa} {list(kw)}")


@pytest.mark.parametrize("seed", range(30))
def test_multihead_attention_random_configurations(seed):
    rng = np.random.default_rng(100 + seed)
    heads = int(rng.integers(1, 4))
    E = heads * int(rng.integers(1, 4))
    L, S, N = (int(x) for x in rng.integers(1, 5, 3))
    kdim = int(rng.integers(1, 6)) if rng.random() < 0.3 else None
    vdim = int(rng.integers(1, 6)) if rng.random() < 0.3 else None
    ctor = dict(embed_dim=E, num_heads=heads, bias=bool(rng.random() < 0.8), add_bias_kv=bool(rng.random() < 0.3),
                add_zero_attn=bool(rng.random() < 0.3), kdim=kdim, vdim=vdim, batch_first=bool(rng.random() < 0.5),
                dropout=0.3)
    torch.manual_seed(seed)
    tm = torch.nn.MultiheadAttention(**ctor, dtype=torch.float64).eval()
    fm = nn.MultiheadAttention(**ctor, dtype=fg.float64).eval()
    fm.load_state_dict({k: fg.tensor(v.detach().numpy()) for k, v in tm.state_dict().items()})
    unbatched = rng.random() < 0.2
    bf = ctor["batch_first"] and not unbatched

    def shape(seq, dim):
        if unbatched:
            return (seq, dim)
        return (N, seq, dim) if bf else (seq, N, dim)

    self_attn = kdim is None and vdim is None and rng.random() < 0.4
    tq, fq = both(rng.normal(size=shape(L, E)), True)
    if self_attn:
        S = L
        tk, fk, tv, fv = tq, fq, tq, fq
    else:
        tk, fk = both(rng.normal(size=shape(S, kdim or E)), True)
        tv, fv = both(rng.normal(size=shape(S, vdim or E)), True)
    call = {"need_weights": bool(rng.random() < 0.6), "average_attn_weights": bool(rng.random() < 0.5)}
    masks = {}
    if rng.random() < 0.5:
        kpm = rng.random((S,) if unbatched else (N, S)) < 0.3
        kpm[..., 0] = False  # keep a key per row (PyTorch's need_weights=True path gives NaN otherwise)
        masks["key_padding_mask"] = kpm
    if rng.random() < 0.5:
        masks["attn_mask"] = np.triu(np.ones((L, S), bool), 1) if "key_padding_mask" in masks else \
            rng.normal(size=(L, S))
        if "key_padding_mask" in masks:
            masks["key_padding_mask"] = masks["key_padding_mask"].astype(bool)
    tmasks, fmasks = {}, {}
    for k, m in masks.items():
        tmasks[k], fmasks[k] = both(m)
    t_out, t_w = tm(tq, tk, tv, **tmasks, **call)
    f_out, f_w = fm(fq, fk, fv, **fmasks, **call)
    if t_w is None:
        assert f_w is None
    else:
        np.testing.assert_allclose(f_w.detach().numpy(), t_w.detach().numpy(), rtol=1e-8, atol=1e-10)
    leaves_t = [tq] if self_attn else [tq, tk, tv]
    leaves_f = [fq] if self_attn else [fq, fk, fv]
    compare(t_out, f_out, leaves_t, leaves_f, rng, f"seed {seed}: {ctor} {call} {list(masks)} unbatched={unbatched}")
