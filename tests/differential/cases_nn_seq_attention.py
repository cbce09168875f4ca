"""The attention family against PyTorch (see cases_nn.py for how a layer case runs):
F.scaled_dot_product_attention (2-D to 4-D, L != S, Ev != E, bool and float masks of broadcastable
shapes, is_causal, scale, enable_gqa; gradients of query, key, value and a float mask),
MultiheadAttention (bias, add_bias_kv, add_zero_attn, kdim/vdim, batch_first, unbatched, key
padding and attention masks bool or float, need_weights, average_attn_weights, is_causal given
with its causal mask), TransformerEncoderLayer and TransformerDecoderLayer (norm_first, relu/gelu,
batch_first, masks). Attention dropout is random in train mode: drawn > 0 only in eval mode.

A bool mask may forbid a whole row (or a key padding mask a whole sequence): what each library
returns there is compared like any other value (see known_divergences.py if they differ).
"""

from __future__ import annotations

import numpy as np
import torch
from cases_nn import ModuleFn, _with_nonfinite
from cases_nn_seq import values
from harness import Args, Case, T, seeds
from hypothesis import strategies as st

_DTYPES = st.sampled_from(["float32", "float64"])


@st.composite
def _broadcastable(draw, full):
    """A shape that broadcasts to `full`: leading dims dropped, some dims made 1."""
    shape = list(full[draw(st.integers(0, max(0, len(full) - 2))):])
    for i in range(len(shape)):
        if draw(st.integers(0, 2)) == 0:
            shape[i] = 1
    return tuple(shape)


@st.composite
def _mask(draw, shape, kind, dt, grad=False):
    """A bool mask (True to attend for SDPA; True to forbid for MultiheadAttention), or a float mask
    added to the scores, now and then with -inf entries."""
    rng = np.random.default_rng(draw(seeds))
    if kind == "bool":
        # mostly open masks; sometimes dense ones, which forbid whole rows
        return T(rng.uniform(size=shape) < draw(st.sampled_from([0.8, 0.5])))
    base = rng.uniform(-2, 2, size=shape).astype(dt)
    if draw(st.booleans()):
        base[rng.uniform(size=shape) < 0.3] = -np.inf
    return T(base, grad=grad and draw(st.booleans()))


# ----------------------------------------------------------------------------- SDPA


@st.composite
def _sdpa_args(draw):
    dt = draw(_DTYPES)
    lead = draw(st.sampled_from(["2d", "3d", "4d"]))
    L, S, E, Ev = (draw(st.integers(1, 4)) for _ in range(4))
    if draw(st.integers(0, 19)) == 0:  # no queries, or no keys (every row empty: zeros)
        L, S = draw(st.sampled_from([(0, S), (L, 0)]))
    kw = {}
    if lead == "4d":
        b, hkv = draw(st.integers(1, 2)), draw(st.integers(1, 2))
        gqa = draw(st.booleans())
        hq = hkv * draw(st.integers(1, 2)) if gqa else hkv
        if gqa:
            kw["enable_gqa"] = True
        qb, kb = (b, hq), (b, hkv)
    else:
        qb = kb = () if lead == "2d" else (draw(st.integers(1, 3)),)
    q = draw(values(qb + (L, E), dt))
    k = draw(values(kb + (S, E), dt))
    v = draw(values(kb + (S, Ev), dt))
    mask_kind = draw(st.sampled_from([None, "bool", "float"]))
    mask = None if mask_kind is None else draw(_mask(draw(_broadcastable(qb + (L, S))), mask_kind, dt, grad=True))
    # is_causal with a mask is refused by both: drawn now and then to compare the errors
    if draw(st.integers(0, 2 if mask is None else 14)) == 0:
        kw["is_causal"] = True
    if draw(st.booleans()):
        kw["scale"] = draw(st.sampled_from([0.5, 2.0, 1e-3]))
    return Args([q, k, v, mask], kw, draw(seeds))



def _empty_with_grad(a: Args) -> bool:
    """An empty query, key or value (L, S or a head dim 0) while an input requires grad: PyTorch
    returns an output that does not require grad and leaves every .grad None; ferrograd's output
    requires grad and backward gives empty or zero gradients, as for any other empty result.
    Not drawn."""
    return any(x.build(torch)[1].numel() == 0 for x in a.inputs[:3]) and any(isinstance(x, T) and x.grad for x in a.inputs)


FUNCTIONAL = [
    Case("F.scaled_dot_product_attention",
         lambda L, q, k, v, m, **kw: L.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=m, dropout_p=0.0,
                                                                                  **kw),
         _sdpa_args().filter(lambda a: not _empty_with_grad(a)), tol=20),
]


# ----------------------------------------------------------------------------- MultiheadAttention


def _mha_call(m, q, k, v, kpm, am, self_attention=False, **kw):
    if self_attention:  # the same tensor as query, key and value (PyTorch's packed in-projection path)
        k = v = q
    return m(q, k, v, key_padding_mask=kpm, attn_mask=am, **kw)


def _causal(L, kind, dt):
    upper = np.triu(np.ones((L, L), bool), 1)
    if kind == "bool":
        return T(upper)
    return T(np.where(upper, -np.inf, 0).astype(dt))


@st.composite
def _mha_args(draw):
    dt = draw(_DTYPES)
    heads, head_dim = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    E = heads * head_dim
    train = draw(st.booleans())
    c = {"embed_dim": E, "num_heads": heads, "bias": draw(st.booleans()), "add_bias_kv": draw(st.booleans()),
         "add_zero_attn": draw(st.booleans()), "batch_first": draw(st.booleans()), "dtype": dt,
         "dropout": 0.0 if train else draw(st.sampled_from([0.0, 0.5]))}
    self_attention = draw(st.integers(0, 3)) == 0
    if not self_attention and draw(st.booleans()):
        c["kdim"], c["vdim"] = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    L = draw(st.integers(1, 4))
    S = L if self_attention else draw(st.integers(1, 4))
    n = None if draw(st.integers(0, 3)) == 0 else draw(st.integers(1, 3))

    def shape(steps, feat):
        if n is None:
            return (steps, feat)
        return (n, steps, feat) if c["batch_first"] else (steps, n, feat)

    q = draw(values(shape(L, E), dt))
    k = draw(values(shape(S, c.get("kdim", E)), dt))
    v = draw(values(shape(S, c.get("vdim", E)), dt))
    kpm_kind, am_kind = draw(st.sampled_from([None, "bool", "float"])), draw(st.sampled_from([None, "bool", "float"]))
    kpm = None if kpm_kind is None else draw(_mask((S,) if n is None else (n, S), kpm_kind, dt))
    kw = {"need_weights": draw(st.booleans()), "average_attn_weights": draw(st.booleans())}
    if am_kind is not None and L == S and draw(st.booleans()):
        kw["is_causal"], am = True, _causal(L, am_kind, dt)  # the hint always comes with its mask
    elif am_kind is not None:
        am = draw(_mask(draw(st.sampled_from([(L, S), ((n or 1) * heads, L, S)])), am_kind, dt))
    else:
        am = None
    if self_attention:
        kw["self_attention"], k, v = True, None, None
    seed = draw(seeds)
    return Args([q, k, v, kpm, am], {"train": train, "ctor": c, "seed": seed, **kw}, seed)


def _with_dtype(make):
    return lambda L, dtype="float32", **c: make(L, **c, dtype=getattr(L, dtype))


LAYERS = [Case("nn.MultiheadAttention", ModuleFn(_with_dtype(lambda L, **c: L.nn.MultiheadAttention(**c)),
                                                 call=_mha_call), _mha_args(), tol=20)]


# ----------------------------------------------------------------------------- Transformer layers


@st.composite
def _transformer_args(draw, decoder):
    dt = draw(_DTYPES)
    heads, head_dim = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    train = draw(st.booleans())
    c = {"d_model": heads * head_dim, "nhead": heads, "dim_feedforward": draw(st.integers(1, 4)),
         "dropout": 0.0 if train else draw(st.sampled_from([0.0, 0.1])),
         "activation": draw(st.sampled_from(["relu", "gelu"])), "layer_norm_eps": draw(st.sampled_from([1e-5, 1e-2])),
         "batch_first": draw(st.booleans()), "norm_first": draw(st.booleans()), "bias": draw(st.booleans()),
         "dtype": dt}
    n = None if draw(st.integers(0, 3)) == 0 else draw(st.integers(1, 3))
    E = c["d_model"]

    def seq(steps):
        shape = (steps, E) if n is None else ((n, steps, E) if c["batch_first"] else (steps, n, E))
        return draw(values(shape, dt))

    L = draw(st.integers(1, 4))
    inputs = [seq(L)]
    kw = {}
    masks = [("src_mask", "src_key_padding_mask", "is_causal", L, L)]
    if decoder:
        S = draw(st.integers(1, 4))
        inputs.append(seq(S))
        masks = [("tgt_mask", "tgt_key_padding_mask", "tgt_is_causal", L, L),
                 ("memory_mask", "memory_key_padding_mask", None, L, S)]
    for mask_name, kpm_name, causal_name, rows, cols in masks:
        kind = draw(st.sampled_from([None, "bool", "float"]))
        if kind and causal_name and draw(st.booleans()):
            kw[mask_name], kw[causal_name] = _causal(rows, kind, dt), True
        elif kind:
            # bool masks here forbid rows only sparsely: a fully forbidden row is the SDPA case's job
            kw[mask_name] = draw(_mask((rows, cols), kind, dt)) if kind == "float" else T(
                np.random.default_rng(draw(seeds)).uniform(size=(rows, cols)) < 0.2)
        if draw(st.booleans()):
            kw[kpm_name] = T(np.random.default_rng(draw(seeds)).uniform(size=(cols,) if n is None else (n, cols))
                             < 0.2)
    names = [k for k in kw if isinstance(kw[k], T)]
    seed = draw(seeds)
    return Args(inputs + [kw[k] for k in names],
                {"train": train, "ctor": c, "seed": seed, "mask_names": tuple(names),
                 **{k: v for k, v in kw.items() if k not in names}}, seed)


def _transformer_call(m, *xs, mask_names=(), **kw):
    k = len(xs) - len(mask_names)
    return m(*xs[:k], **dict(zip(mask_names, xs[k:])), **kw)


LAYERS += [
    Case("nn.TransformerEncoderLayer", ModuleFn(_with_dtype(lambda L, **c: L.nn.TransformerEncoderLayer(**c)),
                                                call=_transformer_call), _transformer_args(False), tol=50),
    Case("nn.TransformerDecoderLayer", ModuleFn(_with_dtype(lambda L, **c: L.nn.TransformerDecoderLayer(**c)),
                                                call=_transformer_call), _transformer_args(True), tol=50),
]


def _nan_query_row_is_dropped_by_torch(a: Args) -> bool:
    """A NaN or inf in the query (an inf scores NaN against a zero key). Which answer PyTorch
    2.15 gives depends on which of its kernels runs: its math path returns NaN for the row, its
    fused CPU paths (is_causal, MultiheadAttention with need_weights=False, ...) return 0, as
    their row max skips NaN and the row looks fully masked, and with no keys at all it returns
    NaN where the row is an empty sum. ferrograd gives NaN whenever the row's scores are NaN
    (tests/test_sdpa_kernel.py checks it without PyTorch), since a NaN silently turned into 0 is
    the worst kind of wrong number, and 0 for an empty sum. Not drawn; a NaN or inf in the keys
    or values still is, and so is a non-finite query of MultiheadAttention with
    need_weights=True, whose PyTorch path is the math one."""
    if np.isfinite(a.inputs[0].base).all():
        return False
    return a.kw.get("need_weights") is not True


def _fully_masked_with_weights(a: Args) -> bool:
    """need_weights=True with a query row whose keys are all masked: the deliberate divergence of
    known_divergences' nn.MultiheadAttention row (weights 0, PyTorch NaN), whose `when` runs on
    finite inputs only. Not drawn in the non-finite variant."""
    if not a.kw.get("need_weights"):
        return False
    # A bool mask blocks where True, a float mask where -inf.
    kpm, am = (None if not isinstance(m, T) else m.base if m.base.dtype == bool else m.base == -np.inf
               for m in a.inputs[3:5])
    if kpm is not None and kpm.ndim == 2:
        kpm = kpm[:, None, :]  # (B, S) against (L, S)
    masks = [m for m in (kpm, am) if m is not None and m.size]
    try:
        blocked = np.logical_or(*masks) if len(masks) == 2 else masks[0] if masks else None
    except ValueError:  # a per-head (B * H, L, S) attn_mask: not worth matching, not drawn
        return True
    return blocked is not None and bool(blocked.all(axis=-1).any())


# NaN and inf in the query, key or value: which rows and gradients they poison
ALL = FUNCTIONAL + LAYERS
ALL += [Case(f"{c.id}(nonfinite)", c.fn, c.args.map(_with_nonfinite).filter(lambda a: not _nan_query_row_is_dropped_by_torch(a))
             .filter(lambda a: not _fully_masked_with_weights(a)),
             tol=c.tol) for c in list(ALL) if c.id in ("F.scaled_dot_product_attention", "nn.MultiheadAttention")]
