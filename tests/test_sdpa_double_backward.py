"""Second derivatives through F.scaled_dot_product_attention. PyTorch's CPU flash kernel is
once-differentiable ("derivative for aten::_scaled_dot_product_flash_attention_for_cpu_backward
is not implemented"), so a gradient penalty through a Transformer fails there; here, with
create_graph=True, the fused node reruns attention in recorded ops and differentiates that
(rust/nn/attention_composed.rs). Oracles: float64 gradgradcheck for every option, and where
PyTorch is installed its math backend (which is twice differentiable)."""

from __future__ import annotations

import ferrograd as fg
import ferrograd.nn.functional as F
import numpy as np
import pytest

RNG = np.random.default_rng(11)
DEAD_ROW = [[True, False, True, False, True], [False] * 5, [True] * 5]

# name, call(lib, q, k, v, *extra), shapes of q, k, v (and a float mask that requires grad)
CASES = [
    ("plain", lambda L, q, k, v: L.nn.functional.scaled_dot_product_attention(q, k, v), [(2, 3, 4), (2, 5, 4), (2, 5, 3)]),
    ("causal-scale", lambda L, q, k, v: L.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True, scale=0.7),
     [(1, 2, 4, 4), (1, 2, 5, 4), (1, 2, 5, 3)]),
    ("bool-mask-with-a-dead-row", lambda L, q, k, v: L.nn.functional.scaled_dot_product_attention(
        q, k, v, attn_mask=L.tensor(DEAD_ROW)), [(2, 3, 4), (2, 5, 4), (2, 5, 3)]),
    ("float-mask", lambda L, q, k, v, m: L.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=m),
     [(2, 3, 4), (2, 5, 4), (2, 5, 3), (3, 5)]),
    ("gqa", lambda L, q, k, v: L.nn.functional.scaled_dot_product_attention(q, k, v, enable_gqa=True),
     [(1, 4, 3, 4), (1, 2, 5, 4), (1, 1, 5, 3)]),
    ("broadcast-batch", lambda L, q, k, v: L.nn.functional.scaled_dot_product_attention(q, k, v),
     [(1, 3, 4), (1, 5, 4), (2, 5, 3)]),
]


def _inputs(lib, shapes, seed):
    r = np.random.default_rng(seed)
    return [lib.tensor(r.standard_normal(s), dtype=lib.float64, requires_grad=True) for s in shapes]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_gradgradcheck(case):
    _, call, shapes = case
    xs = _inputs(fg, shapes, 1)
    assert fg.autograd.gradgradcheck(lambda *t: call(fg, *t), xs)


def test_gradgradcheck_with_dropout_redrawn_from_the_same_seed():
    xs = _inputs(fg, [(2, 3, 4), (2, 5, 4), (2, 5, 3)], 2)

    def f(q, k, v):
        fg.manual_seed(3)  # every evaluation draws the same mask
        return F.scaled_dot_product_attention(q, k, v, dropout_p=0.3)

    assert fg.autograd.gradgradcheck(f, xs)


def _penalty_grads(lib, call, shapes):
    xs = _inputs(lib, shapes, 4)
    out = call(lib, *xs)
    w = lib.tensor(np.random.default_rng(5).standard_normal(tuple(out.shape)), dtype=lib.float64)
    firsts = lib.autograd.grad((out * w).sum(), xs, create_graph=True)
    seconds = lib.autograd.grad(sum((g * g).sum() for g in firsts), xs)
    return [g.detach().numpy() for g in firsts], [g.numpy() for g in seconds]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_second_derivatives_match_pytorch_math_backend(case):
    torch = pytest.importorskip("torch")
    from torch.nn.attention import SDPBackend, sdpa_kernel

    _, call, shapes = case
    got_first, got = _penalty_grads(fg, call, shapes)
    with sdpa_kernel(SDPBackend.MATH):
        want_first, want = _penalty_grads(torch, call, shapes)
    for a, b in zip(got_first + got, want_first + want):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_first_gradients_under_create_graph_equal_the_fused_ones_and_third_order_is_refused():
    q, k, v = _inputs(fg, [(2, 6, 8), (2, 7, 8), (2, 7, 4)], 6)
    g = fg.tensor(RNG.standard_normal((2, 6, 4)), dtype=fg.float64)
    fused = fg.autograd.grad((F.scaled_dot_product_attention(q, k, v, is_causal=True) * g).sum(), [q, k, v])
    recorded = fg.autograd.grad((F.scaled_dot_product_attention(q, k, v, is_causal=True) * g).sum(), [q, k, v],
                                create_graph=True)
    for a, b in zip(fused, recorded):
        assert b.requires_grad
        np.testing.assert_allclose(b.detach().numpy(), a.numpy(), rtol=1e-12, atol=1e-14)
    (gq2,) = fg.autograd.grad((recorded[0] ** 2).sum(), q, create_graph=True)
    with pytest.raises(NotImplementedError, match="cannot be differentiated again"):
        gq2.sum().backward()


def test_gradient_penalty_through_a_transformer_encoder_layer():
    # WGAN-GP's penalty with a Transformer critic: PyTorch raises on the CPU
    fg.manual_seed(0)
    layer = fg.nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True).double()
    x = fg.tensor(RNG.standard_normal((2, 5, 8)), dtype=fg.float64, requires_grad=True)
    (gx,) = fg.autograd.grad(layer(x).sum(), x, create_graph=True)
    ((gx.norm(2, dim=(1, 2)) - 1) ** 2).mean().backward()
    assert all(p.grad is not None for name, p in layer.named_parameters() if "self_attn.in_proj" in name)
    assert np.abs(layer.self_attn.in_proj_weight.grad.numpy()).max() > 0
