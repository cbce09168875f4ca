"""where/masked_fill (rust/ops/kernel.rs `select`), tril/triu (rust/ops/triangle.rs) and the
pointwise losses' reduction (kernel.rs `zip_sum`) against numpy: bit for bit where the op is
exact (NaN payloads and -0.0 included), over the layouts their fast paths split on (contiguous,
a single value, broadcast, transposed views, storage shared between operands, sizes past the
parallel grain of 32768 elements), every dtype, empty and 0-d/1-d inputs; gradients by float64
gradcheck."""

from __future__ import annotations

import math
import os
import subprocess
import sys

import ferrograd as fg
import ferrograd.nn.functional as F
import numpy as np
import pytest
from ferrograd.autograd import gradcheck, gradgradcheck

RNG = np.random.default_rng(11)
BIG = (301, 257)  # 77357 elements: several parallel chunks, none a multiple of the vector width


def _bits(a: np.ndarray) -> np.ndarray:
    """The raw bits of a float array (NaN payloads and the sign of zero compared too)."""
    return a.view(np.dtype(f"u{a.dtype.itemsize}")) if a.dtype.kind == "f" else a


def _same(got, want) -> None:
    got = got.numpy() if isinstance(got, fg.Tensor) else got
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_array_equal(_bits(np.ascontiguousarray(got)), _bits(np.ascontiguousarray(want)))


def _specials(shape, dtype=np.float32) -> np.ndarray:
    """Normal values with NaNs of two payloads, infinities and both zeros mixed in."""
    a = RNG.standard_normal(shape).astype(dtype)
    flat = a.reshape(-1)
    pick = RNG.random(flat.size)
    nan2 = np.array([0x7FC00123 if dtype == np.float32 else 0x7FF8000000000123],
                    dtype=np.uint32 if dtype == np.float32 else np.uint64).view(dtype)[0]
    flat[pick < 0.05] = np.nan
    flat[(pick >= 0.05) & (pick < 0.1)] = nan2
    flat[(pick >= 0.1) & (pick < 0.15)] = -0.0
    flat[(pick >= 0.15) & (pick < 0.2)] = 0.0
    flat[(pick >= 0.2) & (pick < 0.22)] = -np.inf
    return a


# ----------------------------------------------------------------------------- where / masked_fill


@pytest.mark.parametrize("shape", [(7,), (3, 5), BIG, (2, 3, 4)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_where_bit_exact_with_nans_and_signed_zeros(shape, dtype):
    a, b = _specials(shape, dtype), _specials(shape, dtype)
    m = RNG.random(shape) > 0.5
    _same(fg.where(fg.tensor(m), fg.tensor(a), fg.tensor(b)), np.where(m, a, b))
    # A single value on either side, or both (masked_fill's fill value is a 0-d tensor).
    for s in (dtype(-0.0), dtype(np.nan), dtype(2.5)):
        _same(fg.where(fg.tensor(m), fg.tensor(s), fg.tensor(b)), np.where(m, s, b))
        _same(fg.where(fg.tensor(m), fg.tensor(a), fg.tensor(s)), np.where(m, a, s))
        _same(fg.where(fg.tensor(m), fg.tensor(s), fg.tensor(dtype(1.0))), np.where(m, s, dtype(1.0)))
        _same(fg.tensor(b).masked_fill(fg.tensor(m), float(s)), np.where(m, s, b))


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.int16, np.int8, np.uint8, np.bool_, np.float16])
def test_where_every_dtype(dtype):
    a = (RNG.standard_normal(BIG) * 50).astype(dtype)
    b = (RNG.standard_normal(BIG) * 50).astype(dtype)
    m = RNG.random(BIG) > 0.3
    _same(fg.where(fg.tensor(m), fg.tensor(a), fg.tensor(b)), np.where(m, a, b))
    _same(fg.tensor(a).masked_fill(fg.tensor(m), 1), np.where(m, dtype(1), a))


def test_where_bfloat16_through_float32():
    a, b = fg.randn(*BIG).to(fg.bfloat16), fg.randn(*BIG).to(fg.bfloat16)
    m = RNG.random(BIG) > 0.5
    got = fg.where(fg.tensor(m), a, b)
    assert got.dtype == fg.bfloat16
    _same(got.float(), np.where(m, a.float().numpy(), b.float().numpy()))


def test_where_broadcasts_and_non_contiguous_views():
    a, b = _specials((5, 6, 7)), _specials((6, 1))
    m = RNG.random((1, 7)) > 0.5
    _same(fg.where(fg.tensor(m), fg.tensor(a), fg.tensor(b)), np.where(m, a, b))
    # Transposed views of contiguous storage (gathered once), a transposed mask, a row mask.
    at, bt, mt = (np.ascontiguousarray(x.T) for x in (_specials(BIG), _specials(BIG), RNG.random(BIG) > 0.5))
    got = fg.where(fg.tensor(mt).t(), fg.tensor(at).t(), fg.tensor(bt).t())
    _same(got, np.where(mt.T, at.T, bt.T))
    row = RNG.random(BIG[1]) > 0.5
    _same(fg.where(fg.tensor(row), fg.tensor(at).t(), 0.0 * fg.ones(1)), np.where(row, at.T, np.float32(0)))
    # Expanded operands (all strides 0 after the first dim is broadcast).
    _same(fg.where(fg.tensor(mt.T), fg.tensor(np.float32(3)).expand(*BIG), fg.tensor(bt).t()), np.where(mt.T, np.float32(3), bt.T))


def test_where_operands_sharing_storage():
    a = _specials((40, 40))
    m = RNG.random((40, 40)) > 0.5
    x = fg.tensor(a)
    _same(fg.where(fg.tensor(m), x, x.t()), np.where(m, a, a.T))
    _same(fg.where(fg.tensor(m), x, x), a)
    mb = fg.tensor(m)  # bool values: the mask's own storage as both values
    _same(fg.where(mb, mb, mb.t()), np.where(m, m, m.T))
    _same(fg.where(mb, mb.t(), fg.tensor(False)), np.where(m, m.T, False))


def test_where_promotion_empty_and_zero_dim():
    m = fg.tensor([True, False, True])
    got = fg.where(m, fg.tensor([1, 2, 3]), fg.tensor([0.5, 0.25, 0.125]))
    assert got.dtype == fg.float32 and got.tolist() == [1.0, 0.25, 3.0]
    assert fg.where(m, fg.tensor([1, 2, 3], dtype=fg.int8), fg.tensor([4, 5, 6])).dtype == fg.int64
    assert fg.where(fg.tensor(True), fg.tensor(1.5), fg.tensor(2.5)).item() == 1.5
    assert fg.where(fg.zeros(0, 3, dtype=fg.bool), fg.zeros(0, 3), 1.0 * fg.ones(3)).shape == (0, 3)
    with pytest.raises(RuntimeError):
        fg.where(fg.ones(2, 3, dtype=fg.bool), fg.ones(4), fg.ones(3))


def test_masked_fill_in_place_broadcast_mask():
    a = _specials((8, 9))
    m = RNG.random(9) > 0.5
    x = fg.tensor(a)
    x.masked_fill_(fg.tensor(m), float("-inf"))
    _same(x, np.where(m, np.float32(-np.inf), a))
    fill = fg.tensor(np.float32(-0.0))
    _same(fg.tensor(a).masked_fill(fg.tensor(m), fill), np.where(m, np.float32(-0.0), a))


def test_where_and_masked_fill_gradients():
    m = fg.tensor(RNG.random((4, 5)) > 0.5)
    x = fg.tensor(RNG.standard_normal((4, 5)), requires_grad=True)
    y = fg.tensor(RNG.standard_normal((5,)), requires_grad=True)
    s = fg.tensor(1.5, dtype=fg.float64, requires_grad=True)
    assert gradcheck(lambda a, b: fg.where(m, a, b), (x, y))
    assert gradcheck(lambda a, c: fg.where(m, c, a), (x, s))
    assert gradcheck(lambda a: a.masked_fill(m, 2.0), (x,))
    assert gradgradcheck(lambda a, b: fg.where(m, a * a, b), (x, y))
    assert fg.where(m, x, y).grad_fn.name() == "WhereBackward0"


# ----------------------------------------------------------------------------- tril / triu


@pytest.mark.parametrize("shape", [(4, 6), (6, 4), (1, 1), (2, 3, 5, 7), BIG, (0, 3), (3, 0), (2, 0, 4)])
def test_tril_triu_match_numpy(shape):
    a = _specials(shape)
    x = fg.tensor(a)
    for k in (-7, -2, -1, 0, 1, 3, 8, 400):
        _same(x.tril(k), np.tril(a, k))
        _same(fg.triu(x, k), np.triu(a, k))
    _same(x.tril(2**62), a)  # far diagonals saturate
    _same(x.triu(-(2**62)), a)
    _same(x.tril(-(2**62)), np.zeros_like(a))


@pytest.mark.parametrize("dtype", [np.float64, np.int64, np.int32, np.int16, np.int8, np.uint8, np.bool_, np.float16])
def test_tril_triu_every_dtype(dtype):
    a = (RNG.standard_normal((3, 5, 6)) * 50).astype(dtype)
    _same(fg.tensor(a).tril(-1), np.tril(a, -1))
    _same(fg.tensor(a).triu(2), np.triu(a, 2))


def test_tril_of_views_and_bfloat16():
    a = _specials((6, 9))
    t = fg.tensor(np.ascontiguousarray(a.T)).t()  # a transposed view
    _same(t.tril(1), np.tril(a, 1))
    _same(fg.tensor(a)[:, 1::2].triu(), np.triu(a[:, 1::2]))
    h = fg.randn(4, 5).to(fg.bfloat16)
    got = h.tril()
    assert got.dtype == fg.bfloat16
    _same(got.float(), np.tril(h.float().numpy()))


def test_tril_errors_out_and_in_place():
    with pytest.raises(RuntimeError, match="tril: input tensor must have at least 2 dimensions"):
        fg.ones(3).tril()
    with pytest.raises(RuntimeError, match="triu: input tensor must have at least 2 dimensions"):
        fg.tensor(1.0).triu()
    with pytest.raises(TypeError, match="diagonal"):
        fg.ones(2, 2).tril(1.5)
    with pytest.raises(TypeError, match="out="):
        fg.tril(fg.ones(2, 2), out=fg.ones(2, 2))
    a = _specials((5, 5))
    x = fg.tensor(a)
    assert x.tril_(-1) is x
    _same(x, np.tril(a, -1))
    y = fg.tensor(a)
    y.triu_(2)
    _same(y, np.triu(a, 2))
    out = fg.tensor(a)
    assert out.tril() is not out and not np.shares_memory(out.tril().numpy(), out.numpy())


def test_tril_triu_gradients():
    x = fg.tensor(RNG.standard_normal((2, 4, 5)), requires_grad=True)
    assert gradcheck(lambda t: t.tril(1), (x,))
    assert gradcheck(lambda t: t.triu(-1), (x,))
    assert gradgradcheck(lambda t: (t * t).tril().triu(-1), (x,))
    assert x.tril().grad_fn.name() == "TrilBackward0" and x.triu().grad_fn.name() == "TriuBackward0"
    x.triu(1).sum().backward()
    _same(x.grad, np.triu(np.ones((2, 4, 5)), 1))


# ----------------------------------------------------------------------------- pointwise losses


def _fsum_f32_losses(d: np.ndarray) -> float:
    """The exact sum of the float32 per-element losses (PyTorch computes each in float32)."""
    return math.fsum(d.astype(np.float64).reshape(-1))


@pytest.mark.parametrize("n", [1, 31, 4096, 4097, 100_003, 1 << 20])
def test_mse_loss_sum_and_mean_are_the_rounded_exact_sum(n):
    a = RNG.standard_normal(n).astype(np.float32)
    b = RNG.standard_normal(n).astype(np.float32) * np.float32(3)
    d = (a - b) * (a - b)  # float32 per element, as the kernel
    total = _fsum_f32_losses(d)
    x, y = fg.tensor(a), fg.tensor(b)
    # Summed in float64: the float32 result is the exact sum rounded once (a float32 running
    # sum of a million values is off in the 4th digit).
    assert F.mse_loss(x, y, reduction="sum").item() == np.float32(total)
    assert F.mse_loss(x, y).item() == np.float32(total / n)
    _same(F.mse_loss(x, y, reduction="none"), d)


def test_mse_loss_float64_views_and_shared_storage():
    a = RNG.standard_normal((300, 200))
    b = RNG.standard_normal((200, 300))
    x, y = fg.tensor(a), fg.tensor(b)
    want = np.mean((a - b.T) ** 2)
    assert F.mse_loss(x, y.t()).item() == pytest.approx(want, rel=1e-14)
    sq = fg.tensor(RNG.standard_normal((50, 50)))
    assert F.mse_loss(sq, sq).item() == 0.0
    assert F.mse_loss(sq, sq.t(), reduction="sum").item() == pytest.approx(np.sum((sq.numpy() - sq.numpy().T) ** 2), rel=1e-14)
    assert math.isnan(F.mse_loss(fg.zeros(0), fg.zeros(0)).item())
    assert F.mse_loss(fg.zeros(0), fg.zeros(0), reduction="sum").item() == 0.0
    assert math.isnan(F.mse_loss(fg.tensor([1.0, float("nan")]), fg.tensor([0.0, 0.0])).item())
    assert F.mse_loss(fg.tensor([1.0, float("inf")]), fg.tensor([0.0, 0.0])).item() == math.inf


def test_other_pointwise_losses_reduce_the_same_way():
    a = RNG.standard_normal(70_001).astype(np.float32)
    b = RNG.standard_normal(70_001).astype(np.float32)
    x, y = fg.tensor(a), fg.tensor(b)
    for red in ("sum", "mean"):
        per = F.smooth_l1_loss(x, y, reduction="none", beta=0.5).numpy()
        want = _fsum_f32_losses(per)
        assert F.smooth_l1_loss(x, y, reduction=red, beta=0.5).item() == np.float32(want / (a.size if red == "mean" else 1))
        p = fg.tensor(1 / (1 + np.exp(-a)))
        t = fg.tensor((b > 0).astype(np.float32))
        per = F.binary_cross_entropy(p, t, reduction="none").numpy()
        got = F.binary_cross_entropy(p, t, reduction=red).item()
        assert got == np.float32(_fsum_f32_losses(per) / (a.size if red == "mean" else 1))
        w = fg.tensor(RNG.random(a.size).astype(np.float32))
        per = F.binary_cross_entropy(p, t, weight=w, reduction="none").numpy()
        assert F.binary_cross_entropy(p, t, weight=w, reduction=red).item() == \
            np.float32(_fsum_f32_losses(per) / (a.size if red == "mean" else 1))


def test_loss_reduction_does_not_depend_on_the_thread_count():
    code = ("import numpy as np, ferrograd as fg, ferrograd.nn.functional as F\n"
            "r = np.random.default_rng(3); a = fg.tensor(r.standard_normal(300_001).astype(np.float32))\n"
            "b = fg.tensor(r.standard_normal(300_001).astype(np.float32))\n"
            "print(F.mse_loss(a, b).item().hex(), F.smooth_l1_loss(a, b, reduction='sum').item().hex())")
    outs = {subprocess.run([sys.executable, "-c", code], env={**os.environ, "RAYON_NUM_THREADS": str(k)},
                           capture_output=True, text=True, check=True).stdout for k in (1, 2, 3)}
    assert len(outs) == 1


def test_pointwise_loss_gradients():
    x = fg.tensor(RNG.standard_normal((3, 7)), requires_grad=True)
    y = fg.tensor(RNG.standard_normal((3, 7)), requires_grad=True)
    for red in ("mean", "sum", "none"):
        assert gradcheck(lambda a, b, r=red: F.mse_loss(a, b, reduction=r), (x, y))
        assert gradcheck(lambda a, b, r=red: F.smooth_l1_loss(a, b, reduction=r, beta=0.7), (x, y))
    assert gradgradcheck(lambda a, b: F.mse_loss(a, b), (x, y))
    assert F.mse_loss(x, y).grad_fn.name() == "MseLossBackward0"
