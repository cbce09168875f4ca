"""The fused scaled-dot-product-attention kernel, `_core._sdpa`, called directly.

Oracles: a float64 numpy softmax(Q K^T * scale + mask) V (with PyTorch's broadcasting, GQA's
repeat_interleave and its zero rows for fully masked queries), float64 gradcheck, PyTorch
golden values (tests/golden/sdpa_golden.json, made by tests/golden/make_sdpa_golden.py), and a
direct comparison with PyTorch when it is importable.
"""

from __future__ import annotations

import json
from pathlib import Path

import ferrograd as fg
import numpy as np
import pytest
from ferrograd import _core

sdpa = _core._sdpa
GOLDEN = Path(__file__).parent / "golden" / "sdpa_golden.json"


def reference(q, k, v, mask=None, causal=False, scale=None, gqa=False):
    """float64 softmax(q k^T * scale + mask) v; a row with every key masked gives zeros."""
    q, k, v = (np.asarray(x, dtype=np.float64) for x in (q, k, v))
    if gqa and q.ndim >= 3:
        k = np.repeat(k, q.shape[-3] // k.shape[-3], axis=-3)
        v = np.repeat(v, q.shape[-3] // v.shape[-3], axis=-3)
    L, S, E = q.shape[-2], k.shape[-2], q.shape[-1]
    scale = 1 / np.sqrt(E) if scale is None else scale
    s = q @ np.swapaxes(k, -1, -2) * scale
    if causal:
        mask = np.tril(np.ones((L, S), dtype=bool))
    if mask is not None:
        mask = np.asarray(mask)
        s = np.where(mask, s, -np.inf) if mask.dtype == bool else s + mask
    m = np.max(s, axis=-1, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    p = np.exp(s - m)
    z = p.sum(-1, keepdims=True)
    p = np.divide(p, z, out=np.zeros_like(p), where=z > 0)
    return p @ v


def rand(*shape, dtype=fg.float64, seed=0):
    return fg.tensor(np.random.default_rng(seed + sum(shape)).standard_normal(shape), dtype=dtype)


def close(out, ref, tol):
    np.testing.assert_allclose(out.numpy().astype(np.float64), ref, rtol=tol, atol=tol)


SHAPES = [  # (q shape, k shape, v shape)
    ((4, 8), (4, 8), (4, 8)),  # 2-D
    ((3, 5, 8), (3, 7, 8), (3, 7, 6)),  # 3-D, L != S, E != Ev
    ((2, 3, 4, 8), (2, 3, 5, 8), (2, 3, 5, 6)),
    ((1, 1, 1, 3), (1, 1, 1, 3), (1, 1, 1, 1)),  # tiny
    ((2, 2, 70, 16), (2, 2, 200, 16), (2, 2, 200, 24)),  # several tiles in both directions
    ((2, 3, 4, 8), (1, 3, 5, 8), (2, 1, 5, 6)),  # broadcast batch dims
    ((2, 3, 4, 8), (3, 5, 8), (3, 5, 6)),  # 4-D query against 3-D key/value
    ((1, 2, 2, 3, 8), (1, 2, 2, 4, 8), (1, 2, 2, 4, 8)),  # 5-D
]


@pytest.mark.parametrize("dtype,tol", [(fg.float64, 1e-12), (fg.float32, 2e-5)])
@pytest.mark.parametrize("shapes", SHAPES, ids=str)
def test_sdpa_matches_numpy(shapes, dtype, tol):
    q, k, v = (rand(*s, dtype=dtype, seed=i) for i, s in enumerate(shapes))
    close(sdpa(q, k, v), reference(q.numpy(), k.numpy(), v.numpy()), tol)


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("mask", [False, True])
def test_float32_vector_tiles_across_query_and_key_blocks(causal, mask):
    # The AVX2 float32 path (value width a multiple of 16) with three blocks of query rows,
    # which share keys packed once, a last key block that is not whole panels (200 = 128 + 72),
    # and keys read through a transposed view; against float64 numpy.
    q = rand(2, 2, 300, 24, dtype=fg.float32)
    k = rand(2, 2, 24, 200, dtype=fg.float32, seed=1).transpose(-1, -2)
    v = rand(2, 2, 200, 32, dtype=fg.float32, seed=2)
    m = np.random.default_rng(4).standard_normal((300, 200)) if mask else None
    out = sdpa(q, k, v, attn_mask=None if m is None else fg.tensor(m, dtype=fg.float32), is_causal=causal and not mask)
    ref = reference(*(t.numpy().astype(np.float64) for t in (q, k, v)), mask=m, causal=causal and not mask)
    close(out, ref, 2e-5)


@pytest.mark.parametrize("L,S", [(5, 9), (9, 5), (130, 70), (70, 130), (1, 1)])
def test_causal_is_top_left_aligned(L, S):
    q, k, v = rand(2, L, 8), rand(2, S, 8, seed=1), rand(2, S, 4, seed=2)
    close(sdpa(q, k, v, is_causal=True), reference(q.numpy(), k.numpy(), v.numpy(), causal=True), 1e-12)


@pytest.mark.parametrize(
    "mask_shape", [(6, 10), (1, 10), (6, 1), (2, 1, 6, 10), (3, 6, 10), (2, 3, 6, 10)], ids=str
)
@pytest.mark.parametrize("kind", ["bool", "float"])
def test_masks_broadcast(mask_shape, kind):
    rng = np.random.default_rng(3)
    q, k, v = rand(2, 3, 6, 8), rand(2, 3, 10, 8, seed=1), rand(2, 3, 10, 5, seed=2)
    m = rng.random(mask_shape) > 0.3 if kind == "bool" else rng.standard_normal(mask_shape)
    out = sdpa(q, k, v, attn_mask=fg.tensor(m))
    close(out, reference(q.numpy(), k.numpy(), v.numpy(), mask=m), 1e-12)


def test_fully_masked_rows_give_zeros_as_pytorch_cpu():
    # PyTorch 2.15 on the CPU (flash kernel and _safe_softmax math path alike): 0, not NaN.
    q, k, v = rand(1, 4, 8), rand(1, 5, 8, seed=1), rand(1, 5, 3, seed=2)
    m = np.ones((4, 5), dtype=bool)
    m[1] = False
    fm = np.where(m, 0.0, -np.inf)
    for mask in (fg.tensor(m), fg.tensor(fm)):
        out = sdpa(q, k, v, attn_mask=mask).numpy()
        assert np.all(out[0, 1] == 0)
        np.testing.assert_allclose(out, reference(q.numpy(), k.numpy(), v.numpy(), mask=m), atol=1e-12)
    q.requires_grad_()
    sdpa(q, k, v, attn_mask=fg.tensor(m)).sum().backward()
    assert np.all(q.grad.numpy()[0, 1] == 0) and np.isfinite(q.grad.numpy()).all()
    # S = 0: no keys at all.
    assert np.all(sdpa(q.detach(), k[:, :0], v[:, :0]).numpy() == 0)


@pytest.mark.parametrize("hq,hk,hv", [(4, 2, 2), (4, 1, 1), (6, 3, 2), (4, 4, 4)])
def test_gqa_is_repeat_interleave(hq, hk, hv):
    q, k, v = rand(2, hq, 5, 8), rand(2, hk, 7, 8, seed=1), rand(2, hv, 7, 4, seed=2)
    out = sdpa(q, k, v, enable_gqa=True)
    close(out, reference(q.numpy(), k.numpy(), v.numpy(), gqa=True), 1e-12)


def test_scale_argument():
    q, k, v = rand(2, 5, 8), rand(2, 6, 8, seed=1), rand(2, 6, 8, seed=2)
    for scale in (0.0, 0.3, 2.0):
        close(sdpa(q, k, v, scale=scale), reference(q.numpy(), k.numpy(), v.numpy(), scale=scale), 1e-12)


def test_long_sequence_float32():
    q, k, v = (rand(1, 2, 1024, 64, dtype=fg.float32, seed=i) for i in range(3))
    ref = reference(q.numpy(), k.numpy(), v.numpy())
    close(sdpa(q, k, v), ref, 1e-5)
    close(sdpa(q, k, v, is_causal=True), reference(q.numpy(), k.numpy(), v.numpy(), causal=True), 1e-5)


def test_half_dtypes_compute_in_float32():
    q, k, v = (rand(2, 5, 8, dtype=fg.float32, seed=i) for i in range(3))
    for dt in (fg.float16, fg.bfloat16):
        out = sdpa(q.to(dt), k.to(dt), v.to(dt))
        assert out.dtype == dt
        ref = reference(q.to(dt).float().numpy(), k.to(dt).float().numpy(), v.to(dt).float().numpy())
        close(out.float(), ref, 2e-2)


def test_strided_inputs_are_read_in_place():
    # (B, L, H, E) projections transposed to (B, H, L, E), as MultiheadAttention makes them.
    base = [rand(2, 7, 3, 8, seed=i) for i in range(3)]
    q, k, v = (b.transpose(1, 2) for b in base)
    ref = reference(*(b.numpy().transpose(0, 2, 1, 3) for b in base))
    close(sdpa(q, k, v), ref, 1e-12)
    x = rand(2, 6, 8)  # self-attention: q, k, v one tensor
    close(sdpa(x, x, x), reference(x.numpy(), x.numpy(), x.numpy()), 1e-12)


# ---- gradients ----------------------------------------------------------------------------
GRAD_CASES = {
    "plain": dict(shapes=((2, 3, 8), (2, 5, 8), (2, 5, 6)), kw={}),
    "causal L>S": dict(shapes=((1, 6, 4), (1, 4, 4), (1, 4, 3)), kw=dict(is_causal=True)),
    "causal L<S": dict(shapes=((1, 4, 4), (1, 6, 4), (1, 6, 3)), kw=dict(is_causal=True)),
    "bool mask": dict(shapes=((1, 4, 4), (1, 5, 4), (1, 5, 3)), kw="bool"),
    "float mask": dict(shapes=((2, 4, 4), (2, 5, 4), (2, 5, 3)), kw="float"),
    "broadcast": dict(shapes=((2, 2, 3, 4), (1, 2, 4, 4), (2, 1, 4, 3)), kw={}),
    "gqa": dict(shapes=((1, 4, 3, 4), (1, 2, 5, 4), (1, 1, 5, 3)), kw=dict(enable_gqa=True)),
    "scale": dict(shapes=((1, 3, 4), (1, 4, 4), (1, 4, 2)), kw=dict(scale=0.7)),
    "tiles": dict(shapes=((1, 66, 2), (1, 130, 2), (1, 130, 1)), kw=dict(is_causal=True)),
}


def _kwargs(case):
    kw = GRAD_CASES[case]["kw"]
    L, S = GRAD_CASES[case]["shapes"][0][-2], GRAD_CASES[case]["shapes"][1][-2]
    rng = np.random.default_rng(5)
    if kw == "bool":
        m = rng.random((L, S)) > 0.4
        m[:, 0] = True
        return dict(attn_mask=fg.tensor(m))
    if kw == "float":
        return dict(attn_mask=fg.tensor(rng.standard_normal((L, S))))
    return kw


@pytest.mark.parametrize("case", list(GRAD_CASES))
def test_gradcheck(case):
    inputs = [rand(*s, seed=i).requires_grad_() for i, s in enumerate(GRAD_CASES[case]["shapes"])]
    kw = _kwargs(case)
    assert fg.autograd.gradcheck(lambda q, k, v: sdpa(q, k, v, **kw), inputs, atol=1e-6)


def test_gradcheck_float_mask_that_requires_grad():
    q, k, v = rand(2, 3, 4), rand(2, 5, 4, seed=1), rand(2, 5, 2, seed=2)
    m = rand(3, 5, seed=3).requires_grad_()
    assert fg.autograd.gradcheck(lambda m, q, k, v: sdpa(q, k, v, attn_mask=m), [m, q.requires_grad_(), k, v], atol=1e-6)


def test_float32_gradients_match_float64():
    q, k, v = (rand(2, 2, 40, 16, seed=i).requires_grad_() for i in range(3))
    q32, k32, v32 = (x.detach().float().requires_grad_() for x in (q, k, v))
    g = rand(2, 2, 40, 16, seed=9)
    sdpa(q, k, v, is_causal=True).backward(g)
    sdpa(q32, k32, v32, is_causal=True).backward(g.float())
    for a, b in ((q, q32), (k, k32), (v, v32)):
        np.testing.assert_allclose(b.grad.numpy(), a.grad.numpy(), rtol=1e-4, atol=1e-5)


def test_grad_fn_name():
    # (second derivatives: tests/test_sdpa_double_backward.py)
    q, k, v = (rand(1, 3, 4, seed=i).requires_grad_() for i in range(3))
    assert sdpa(q, k, v).grad_fn.name() == "ScaledDotProductFlashAttentionForCpuBackward0"


def test_no_graph_without_grad():
    q, k, v = (rand(1, 3, 4, seed=i) for i in range(3))
    assert sdpa(q, k, v).grad_fn is None


# ---- dropout ------------------------------------------------------------------------------
def test_dropout_is_reproducible_under_manual_seed():
    q, k, v = (rand(2, 3, 16, 8, seed=i) for i in range(3))
    fg.manual_seed(7)
    a = sdpa(q, k, v, dropout_p=0.3).numpy()
    fg.manual_seed(7)
    b = sdpa(q, k, v, dropout_p=0.3).numpy()
    c = sdpa(q, k, v, dropout_p=0.3).numpy()
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert not np.allclose(a, sdpa(q, k, v).numpy())


def test_dropout_weights_are_zero_or_scaled():
    # With v = identity, out = dropout(softmax) itself: each weight is 0 or p_ij / (1 - p).
    S, p = 12, 0.4
    q, k = rand(3, 10, 4), rand(3, S, 4, seed=1)
    v = fg.tensor(np.broadcast_to(np.eye(S), (3, S, S)).copy())
    fg.manual_seed(1)
    w = sdpa(q, k, v, dropout_p=p).numpy()
    ref = reference(q.numpy(), k.numpy(), v.numpy())
    kept = w != 0
    np.testing.assert_allclose(w[kept], ref[kept] / (1 - p), rtol=1e-12)
    assert abs(1 - kept.mean() - p) < 0.1


def test_dropout_mean_is_the_undropped_output():
    q, k, v = rand(1, 1, 6, 8), rand(1, 1, 9, 8, seed=1), rand(1, 1, 9, 4, seed=2)
    n = 4000  # independent masks per batch entry
    qe, ke, ve = (x.expand(n, 1, *x.shape[2:]) for x in (q, k, v))
    fg.manual_seed(3)
    mean = sdpa(qe, ke, ve, dropout_p=0.25).numpy().mean(axis=0)
    np.testing.assert_allclose(mean, reference(q.numpy(), k.numpy(), v.numpy())[0], atol=0.05)


def test_dropout_one_gives_zeros():
    q, k, v = (rand(1, 3, 4, seed=i) for i in range(3))
    assert np.all(sdpa(q, k, v, dropout_p=1.0).numpy() == 0)


@pytest.mark.parametrize("causal", [False, True])
def test_dropout_backward_redraws_the_forward_mask(causal):
    inputs = [rand(*s, seed=i).requires_grad_() for i, s in enumerate(((1, 5, 4), (1, 7, 4), (1, 7, 3)))]

    def f(q, k, v):
        fg.manual_seed(11)  # the same mask at every evaluation
        return sdpa(q, k, v, dropout_p=0.35, is_causal=causal)

    assert fg.autograd.gradcheck(f, inputs, atol=1e-6)


# ---- memory -------------------------------------------------------------------------------
def test_memory_is_linear_in_sequence_length():
    # No L x S buffer: at L = S = 4096 a score matrix would be 64 MiB; q, k, v, out are 256 KiB each.
    q, k, v = (rand(1, 1, 4096, 16, dtype=fg.float32, seed=i) for i in range(3))
    q.requires_grad_()
    fg.reset_peak_memory_stats()
    before = fg.memory_allocated()
    out = sdpa(q, k, v)
    out.sum().backward()
    assert fg.max_memory_allocated() - before < 4 << 20


# ---- errors -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "args,kw,exc,match",
    [
        (((4,), (4,), (4,)), {}, RuntimeError, "at least 2 dimensional"),
        (((2, 4, 8), (2, 5, 7), (2, 5, 6)), {}, RuntimeError, "embedding size"),
        (((2, 4, 8), (2, 5, 8), (2, 4, 6)), {}, RuntimeError, "sequence length"),
        (((2, 3, 4, 8), (2, 2, 5, 8), (2, 2, 5, 6)), {}, RuntimeError, r"enable_gqa.*\[2, 2, 5, 8\]|\[2, 2, 5, 8\].*enable_gqa"),
        (((2, 3, 4, 8), (2, 2, 5, 8), (2, 2, 5, 6)), dict(enable_gqa=True), RuntimeError, "must divide"),
        (((2, 4, 8), (2, 5, 8), (2, 5, 6)), dict(dropout_p=1.5), RuntimeError, "between 0 and 1"),
        (((2, 4, 8), (2, 5, 8), (2, 5, 6)), dict(dropout_p=-0.1), RuntimeError, "between 0 and 1"),
    ],
)
def test_errors_name_the_op_and_shapes(args, kw, exc, match):
    q, k, v = (rand(*s) for s in args)
    with pytest.raises(exc, match=match):
        sdpa(q, k, v, **kw)


def test_mask_errors():
    q, k, v = rand(2, 4, 8), rand(2, 5, 8, seed=1), rand(2, 5, 6, seed=2)
    with pytest.raises(RuntimeError, match=r"does not broadcast.*\[2, 4, 5\]"):
        sdpa(q, k, v, attn_mask=fg.ones(4, 6, dtype=fg.bool))
    with pytest.raises(RuntimeError, match="bool or float"):
        sdpa(q, k, v, attn_mask=fg.ones(4, 5, dtype=fg.int64))
    with pytest.raises(RuntimeError, match="bool or float"):
        sdpa(q.float(), k.float(), v.float(), attn_mask=fg.ones(4, 5, dtype=fg.float64))
    with pytest.raises(RuntimeError, match="is_causal"):
        sdpa(q, k, v, attn_mask=fg.ones(4, 5, dtype=fg.bool), is_causal=True)
    with pytest.raises(RuntimeError, match="same dtype"):
        sdpa(q, k.float(), v)
    with pytest.raises(TypeError, match="floating point"):
        sdpa(q.long(), k.long(), v.long())


# ---- PyTorch ------------------------------------------------------------------------------
def _golden_inputs(case):
    return [np.array(case[n], dtype=np.float64) for n in ("q", "k", "v")]


@pytest.mark.skipif(not GOLDEN.exists(), reason="golden file missing")
def test_pytorch_golden_values():
    for case in json.loads(GOLDEN.read_text()):
        q, k, v = (fg.tensor(x).requires_grad_() for x in _golden_inputs(case))
        kw = dict(case["kwargs"])
        if case.get("mask") is not None:
            kw["attn_mask"] = fg.tensor(np.array(case["mask"], dtype=case["mask_dtype"]))
        out = sdpa(q, k, v, **kw)
        np.testing.assert_allclose(out.detach().numpy(), np.array(case["out"]), atol=1e-10, err_msg=case["name"])
        out.backward(fg.tensor(np.array(case["grad_out"])))
        for t, n in ((q, "dq"), (k, "dk"), (v, "dv")):
            np.testing.assert_allclose(t.grad.numpy(), np.array(case[n]), atol=1e-10, err_msg=f"{case['name']} {n}")


def test_against_pytorch_directly():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    rng = np.random.default_rng(0)
    cases = [
        ((2, 3, 37, 16), (2, 3, 53, 16), (2, 3, 53, 8), {}),
        ((2, 4, 20, 8), (2, 2, 20, 8), (2, 2, 20, 8), dict(enable_gqa=True, is_causal=True)),
        ((1, 2, 9, 8), (1, 2, 5, 8), (1, 2, 5, 8), dict(is_causal=True)),
        ((2, 3, 6, 8), (2, 3, 7, 8), (2, 3, 7, 8), dict(mask=(3, 6, 7))),
    ]
    for qs, ks, vs, kw in cases:
        kw = dict(kw)
        arrays = [rng.standard_normal(s).astype(np.float32) for s in (qs, ks, vs)]
        if "mask" in kw:
            m = rng.random(kw.pop("mask")) > 0.5
            m[..., 0, :] = False  # a fully masked row
            kw["attn_mask"] = m
        tq, tk, tv = (torch.tensor(a, requires_grad=True) for a in arrays)
        fq, fk, fv = (fg.tensor(a).requires_grad_() for a in arrays)
        tkw = {**kw, "attn_mask": torch.tensor(kw["attn_mask"])} if "attn_mask" in kw else kw
        fkw = {**kw, "attn_mask": fg.tensor(kw["attn_mask"])} if "attn_mask" in kw else kw
        t_out, f_out = F.scaled_dot_product_attention(tq, tk, tv, **tkw), sdpa(fq, fk, fv, **fkw)
        np.testing.assert_allclose(f_out.detach().numpy(), t_out.detach().numpy(), atol=2e-5)
        g = rng.standard_normal(t_out.shape).astype(np.float32)
        t_out.backward(torch.tensor(g))
        f_out.backward(fg.tensor(g))
        for a, b in ((fq, tq), (fk, tk), (fv, tv)):
            np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), atol=5e-5)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("head_dim", [1, 16])  # 16: float32 takes the AVX2 tile path where the CPU has it
def test_nan_scores_give_nan_rows_not_masked_zeros(dtype, head_dim):
    # A NaN in a query row makes every score of the row NaN. PyTorch 2.15 returns NaN for that row
    # and NaN value gradients (for q = [[nan], [0.5]], k = v = [[1], [2], [3]]: [nan, 2.3201566]);
    # the row must not be taken for one whose keys are all masked (zeros).
    r = np.random.default_rng(0)
    q, k, v = (r.normal(size=(2, 5, head_dim)).astype(dtype) for _ in range(3))
    q[0, 1, 0] = np.nan
    tq, tk, tv = (fg.tensor(a, requires_grad=True) for a in (q, k, v))
    out = _core._sdpa(tq, tk, tv, None, 0.0, False, None, False)
    o = out.detach().numpy()
    assert np.isnan(o[0, 1]).all()
    rest = np.ones(o.shape[:2], bool)
    rest[0, 1] = False
    want = reference(q, k, v)
    np.testing.assert_allclose(o[rest], want[rest], rtol=1e-5, atol=1e-5)
    out.sum().backward()
    assert np.isnan(tv.grad.numpy()[0]).all() and np.isfinite(tv.grad.numpy()[1]).all()
    assert np.isnan(tq.grad.numpy()[0, 1]).all() and np.isfinite(tq.grad.numpy()[1]).all()
    # A NaN key poisons every row of its matrix, here through the finite scores' sum.
    k2 = k.copy()
    k2[1, 3, 0] = np.nan
    o2 = _core._sdpa(fg.tensor(q), fg.tensor(k2), fg.tensor(v), None, 0.0, False, None, False).numpy()
    assert np.isnan(o2[1]).all() and np.isnan(o2[0, 1]).all()


def test_infinite_scores_of_both_signs_give_nan_gradients_as_pytorch():
    # Scores [-inf, +inf]: softmax is NaN for the whole row in PyTorch, so is every value gradient.
    q = fg.tensor([[float("inf")]], requires_grad=True)
    k = fg.tensor([[-1.0], [2.0]], requires_grad=True)
    v = fg.tensor([[1.0], [3.0]], requires_grad=True)
    _core._sdpa(q, k, v, None, 0.0, False, None, False).sum().backward()
    assert np.isnan(v.grad.numpy()).all()


def test_no_queries_backward_gives_empty_gradients():
    q = fg.zeros(1, 0, 4, requires_grad=True)
    k, v = fg.zeros(1, 3, 4, requires_grad=True), fg.zeros(1, 3, 4, requires_grad=True)
    _core._sdpa(q, k, v, None, 0.0, False, None, False).sum().backward()
    assert tuple(q.grad.shape) == (1, 0, 4) and (k.grad.numpy() == 0).all() and (v.grad.numpy() == 0).all()


def test_head_size_zero_gives_the_mean_of_the_values():
    # every score is 0: uniform weights (the fused path gave zeros, the composed one divided by 0)
    q, k = fg.zeros(1, 2, 0), fg.zeros(1, 3, 0)
    v = fg.arange(6.0).reshape(1, 3, 2)
    F = fg.nn.functional
    assert F.scaled_dot_product_attention(q, k, v).tolist() == [[[2.0, 3.0], [2.0, 3.0]]]
    with fg.nn.attention.sdpa_kernel(fg.nn.attention.SDPBackend.MATH):
        assert F.scaled_dot_product_attention(q, k, v).tolist() == [[[2.0, 3.0], [2.0, 3.0]]]


@pytest.mark.parametrize("mask", [np.array([0.0, -1.0, 0.5]), np.array([True, False, True]), np.array(0.5)])
def test_a_mask_over_keys_or_a_number_broadcasts(mask):
    rng = np.random.default_rng(5)
    q, k, v = (rng.standard_normal((2, 3, 4)) for _ in range(3))
    got = fg.nn.functional.scaled_dot_product_attention(*(fg.tensor(a) for a in (q, k, v)), attn_mask=fg.tensor(mask))
    np.testing.assert_allclose(got.numpy(), reference(q, k, v, mask=np.broadcast_to(mask, (3, 3))), rtol=1e-10)


@pytest.mark.parametrize("L, S, B", [(0, 3, 2), (3, 3, 0)])
def test_multihead_attention_and_encoder_layer_take_empty_inputs(L, S, B):
    fg.manual_seed(0)
    mha = fg.nn.MultiheadAttention(4, 2)
    q, k = fg.zeros(L, B, 4), fg.zeros(S, B, 4)
    out, w = mha(q, k, k)
    assert out.shape == (L, B, 4) and w.shape == (B, L, S)
    out, w = mha(q, k, k, need_weights=False)
    assert out.shape == (L, B, 4) and w is None
    layer = fg.nn.TransformerEncoderLayer(4, 2, 8, 0.0)
    assert layer(fg.zeros(L, B, 4)).shape == (L, B, 4)
