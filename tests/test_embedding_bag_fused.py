"""EmbeddingBag's "sum" and "mean" in one Rust op (rust/ops/embedding_bag.rs): output and both
gradients (weight, per-sample weights) against numpy written from the definition, over empty
bags, padding_idx, 2-D input, include_last_offset, sizes that split the weight's gradient
between threads, float32 and float64, and a second derivative; the op's own checks."""

from __future__ import annotations

import ferrograd as fg
import ferrograd.nn.functional as F
import numpy as np
import pytest
from ferrograd import _core
from helpers import rng


def np_bags(idx, w, starts, ends, mode, psw, padding_idx, g):
    """Output, weight gradient and per-sample-weight gradient of sum(out * g), in float64."""
    out = np.zeros((len(starts), w.shape[1]))
    gw, gp = np.zeros_like(w, dtype=np.float64), np.zeros(len(idx))
    for b, (s, e) in enumerate(zip(starts, ends)):
        ks = [k for k in range(s, e) if idx[k] != padding_idx]
        div = max(len(ks), 1) if mode == "mean" else 1
        for k in ks:
            scale = 1.0 if psw is None else psw[k]
            out[b] += scale * w[idx[k]] / div
            gw[idx[k]] += scale * g[b] / div
            gp[k] = g[b] @ w[idx[k]]
    return out, gw, gp


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("mode,psw,padding_idx", [("sum", False, None), ("mean", False, None), ("sum", True, None),
                                                   ("mean", False, 3), ("sum", True, 3)])
@pytest.mark.parametrize("size", ["small", "large"])
def test_fused_bags_match_numpy(dtype, mode, psw, padding_idx, size):
    r = rng()
    num, d, n = (12, 5, 40) if size == "small" else (300, 96, 3000)  # large: 3000 x 96 splits columns
    idx = r.integers(0, num, n)
    idx[:3] = 3  # padding_idx's entries, when set
    offs = np.sort(r.choice(np.arange(1, n), size=n // 8, replace=False))
    offs = np.concatenate([[0], offs[:4], offs[4:5], offs[4:]])  # one empty bag
    starts, ends = offs, np.append(offs[1:], n)
    w_np = r.normal(size=(num, d))
    p_np = r.normal(size=n) if psw else None
    w = fg.tensor(w_np.astype(dtype), requires_grad=True)
    p = fg.tensor(p_np.astype(dtype), requires_grad=True) if psw else None
    out = F.embedding_bag(fg.tensor(idx), w, fg.tensor(offs), mode=mode, per_sample_weights=p, padding_idx=padding_idx)
    assert out.grad_fn.name() == "EmbeddingBagBackward0"
    g = r.normal(size=out.shape)
    (out * fg.tensor(g.astype(dtype))).sum().backward()
    want, gw, gp = np_bags(idx, w_np, starts, ends, mode, p_np, padding_idx, g)
    tol = 1e-12 if dtype == np.float64 else 2e-5
    np.testing.assert_allclose(out.detach().numpy(), want, rtol=tol, atol=tol * 10)
    np.testing.assert_allclose(w.grad.numpy(), gw, rtol=tol, atol=tol * 10)
    if psw:
        keep = idx != padding_idx
        np.testing.assert_allclose(p.grad.numpy()[keep], gp[keep], rtol=tol, atol=tol * 10)
        assert np.all(p.grad.numpy()[~keep] == 0)


def test_fused_bags_2d_input_and_include_last_offset():
    r = rng()
    w_np = r.normal(size=(9, 4))
    idx = r.integers(0, 9, (3, 5))
    p_np = r.normal(size=(3, 5))
    w, p = fg.tensor(w_np, requires_grad=True), fg.tensor(p_np, requires_grad=True)
    out = F.embedding_bag(fg.tensor(idx), w, mode="sum", per_sample_weights=p)
    want, gw, gp = np_bags(idx.reshape(-1), w_np, [0, 5, 10], [5, 10, 15], "sum", p_np.reshape(-1), None, np.ones((3, 4)))
    out.sum().backward()
    np.testing.assert_allclose(out.detach().numpy(), want, atol=1e-12)
    np.testing.assert_allclose(w.grad.numpy(), gw, atol=1e-12)
    np.testing.assert_allclose(p.grad.numpy().reshape(-1), gp, atol=1e-12)
    flat = idx.reshape(-1)
    got = F.embedding_bag(fg.tensor(flat), fg.tensor(w_np), fg.tensor([0, 4, 4, 15]), mode="mean", include_last_offset=True)
    want, _, _ = np_bags(flat, w_np, [0, 4, 4], [4, 4, 15], "mean", None, None, np.zeros((3, 4)))
    np.testing.assert_allclose(got.numpy(), want, atol=1e-12)


def test_fused_bags_twice_differentiable():
    r = rng()
    idx, offs = fg.tensor([1, 2, 4, 5, 4, 3, 2, 0]), fg.tensor([0, 3, 3, 6])
    w = fg.tensor(r.normal(size=(6, 3)), requires_grad=True)
    p = fg.tensor(r.normal(size=8), requires_grad=True)
    assert fg.autograd.gradgradcheck(lambda w, p: F.embedding_bag(idx, w, offs, mode="sum", per_sample_weights=p), (w, p))
    assert fg.autograd.gradgradcheck(lambda w: F.embedding_bag(idx, w, offs, mode="mean", padding_idx=4) ** 2, (w,))


def test_fused_bags_op_checks_its_arguments():
    w = fg.randn(5, 3)
    i64 = lambda v: fg.tensor(np.array(v, dtype=np.int64))  # noqa: E731
    with pytest.raises(IndexError, match="index 7 is out of range for a weight of 5 rows"):
        _core._embedding_bag(w, i64([1, 7]), i64([0, 2]), False)
    with pytest.raises(RuntimeError, match="bag bounds must rise from 0 to the 2 entries"):
        _core._embedding_bag(w, i64([1, 2]), i64([0, 3]), False)
    with pytest.raises(RuntimeError, match="per-sample weights must be 2 values"):
        _core._embedding_bag(w, i64([1, 2]), i64([0, 2]), False, fg.ones(3))
    with pytest.raises(TypeError, match="index must be a 1-D int64 tensor"):
        _core._embedding_bag(w, fg.tensor([1.0]), i64([0, 1]), False)
