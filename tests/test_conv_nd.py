"""Convolutions of 1, 2 and 3 spatial dims, transposed convolutions and fold/unfold against numpy
references written from PyTorch's definitions (padded-input einsum per kernel tap; scatter per
tap for the transpose; direct block loops for unfold), float64 gradcheck for each, the adjoint
relations between them, the error messages, and the layers' PyTorch behaviour (init, repr,
state_dict keys, output_size=, padding modes)."""

from __future__ import annotations

import math
import os
import subprocess
import sys

import ferrograd as fg
import ferrograd.nn as nn
import ferrograd.nn.functional as F
import numpy as np
import pytest
from conv_reference import np_conv, np_conv_transpose, np_unfold
from helpers import rng

gradcheck = fg.autograd.gradcheck


def t64(a, requires_grad=False):
    return fg.tensor(np.asarray(a, dtype=np.float64), requires_grad=requires_grad)


# ---- convolution --------------------------------------------------------------------------

# (input shape, weight shape, F kwargs, numpy pads)
CONV_CASES = [
    ((2, 3, 9), (4, 3, 3), {}, 0),
    ((2, 4, 11), (6, 2, 3), dict(stride=2, padding=1, dilation=2, groups=2), 1),
    ((3, 2, 6), (2, 2, 4), dict(padding="same"), [(1, 2)]),
    ((2, 3, 7), (3, 1, 3), dict(padding="valid", groups=3), 0),
    ((2, 3, 5), (4, 3, 1), {}, 0),  # pointwise: no unfolding
    ((3, 2, 8), (2, 2, 3), dict(stride=3, padding=(2,)), 2),
    ((2, 4, 7, 6), (6, 2, 3, 2), dict(stride=(2, 1), padding=1, dilation=(1, 2), groups=2), 1),
    ((2, 2, 4, 5, 3), (3, 2, 2, 3, 2), {}, 0),
    ((2, 4, 5, 6, 5), (4, 2, 3, 2, 3), dict(stride=(2, 1, 2), padding=(1, 0, 1), dilation=(1, 2, 1), groups=2), [(1, 1), (0, 0), (1, 1)]),
    ((2, 2, 3, 4, 4), (3, 2, 3, 3, 3), dict(padding="same"), 1),
    ((1, 2, 4, 4, 4), (2, 1, 2, 2, 2), dict(padding="same", dilation=2, groups=2), 1),
    ((3, 3, 2, 3, 3), (2, 3, 1, 1, 1), {}, 0),
]
CONV_IDS = [f"{x}-{w}-{kw}" for x, w, kw, _ in CONV_CASES]
CONV_FN = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}


def _np_kwargs(kw, pads):
    return dict(stride=kw.get("stride", 1), pads=pads, dilation=kw.get("dilation", 1), groups=kw.get("groups", 1))


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("xs,ws,kw,pads", CONV_CASES, ids=CONV_IDS)
def test_conv_forward_matches_numpy_in_float64_and_float32(xs, ws, kw, pads, bias):
    r = rng(1)
    x, w = r.normal(size=xs), r.normal(size=ws)
    b = r.normal(size=ws[0]) if bias else None
    fn = CONV_FN[len(ws) - 2]
    ref = np_conv(x, w, b, **_np_kwargs(kw, pads))
    out = fn(t64(x), t64(w), None if b is None else t64(b), **kw)
    assert tuple(out.shape) == ref.shape and out.dtype == fg.float64
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-10, atol=1e-10)
    f = lambda a: fg.tensor(np.asarray(a, dtype=np.float32))  # noqa: E731
    out32 = fn(f(x), f(w), None if b is None else f(b), **kw)
    assert out32.dtype == fg.float32
    np.testing.assert_allclose(out32.numpy(), ref, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("xs,ws,kw,pads", CONV_CASES, ids=CONV_IDS)
def test_conv_gradcheck_float64(xs, ws, kw, pads):
    r = rng(2)
    x = t64(r.normal(size=(1,) + xs[1:]), True)  # one image keeps gradcheck's Jacobian small
    w, b = t64(r.normal(size=ws), True), t64(r.normal(size=ws[0]), True)
    fn = CONV_FN[len(ws) - 2]
    assert gradcheck(lambda x, w, b: fn(x, w, b, **kw), (x, w, b))


def test_conv_gradients_over_a_batch_match_the_numpy_adjoint():
    """conv is linear in x and in w, so for any g: <conv(x, w), g> = <x, dx> = <w, dw>, and db
    sums g. Checked on a batch large enough for the image-parallel path."""
    r = rng(3)
    for xs, ws, kw, pads in CONV_CASES:
        x, w, b = r.normal(size=(9,) + xs[1:]), r.normal(size=ws), r.normal(size=ws[0])
        tx, tw, tb = t64(x, True), t64(w, True), t64(b, True)
        y = CONV_FN[len(ws) - 2](tx, tw, tb, **kw)
        g = r.normal(size=tuple(y.shape))
        y.backward(t64(g))
        lin = np.sum(np_conv(x, w, None, **_np_kwargs(kw, pads)) * g)
        assert np.sum(x * tx.grad.numpy()) == pytest.approx(lin, rel=1e-10)
        assert np.sum(w * tw.grad.numpy()) == pytest.approx(lin, rel=1e-10)
        np.testing.assert_allclose(tb.grad.numpy(), g.sum(axis=(0, *range(2, g.ndim))), rtol=1e-10)


# float32 3x3 convolutions of stride 1 with enough channels and positions take Winograd's
# F(2x2, 3x3) (rust/nn/winograd.rs): odd and even sizes, paddings 0 to 2, unequal channels.
# Small maps with too few tiles for it take the whole-batch product (rust/nn/conv_batched.rs).
def _float32_matches_float64(fn, x, w, b, kw, ref, grad_seed):
    """Runs fn forward and backward on the same values in float32 and float64: the float64
    output must match `ref` (numpy), and each float32 result (output, input, weight and bias
    gradients) the float64 one within 1e-5 of its largest magnitude (float32 sums of a few
    hundred products)."""
    results = {}
    for dtype in (np.float32, np.float64):
        tx, tw, tb = (fg.tensor(a.astype(dtype), requires_grad=True) for a in (x, w, b))
        y = fn(tx, tw, tb, **kw)
        g = rng(grad_seed).normal(size=tuple(y.shape))
        y.backward(fg.tensor(g.astype(dtype)))
        results[dtype] = [a.astype(np.float64) for a in (y.detach().numpy(), tx.grad.numpy(), tw.grad.numpy(), tb.grad.numpy())]
    np.testing.assert_allclose(results[np.float64][0], ref, rtol=1e-10, atol=1e-10)
    for name, got, want in zip(("output", "grad_input", "grad_weight", "grad_bias"), results[np.float32], results[np.float64]):
        scale = np.abs(want).max()
        assert np.abs(got - want).max() <= 1e-5 * scale, (name, np.abs(got - want).max() / scale)


FLOAT32_FAST_PATH_CASES = [
    ((5, 32, 17, 15), 40, dict(padding=1)),
    ((4, 40, 20, 22), 32, dict(padding=0)),
    ((2, 32, 24, 21), 32, dict(padding=2)),
    ((2, 32, 23, 25), 36, dict(padding=(2, 0))),
    ((5, 32, 16, 16), 32, dict(padding="same")),
    ((2, 64, 7, 7), 72, dict(padding=1)),  # whole-batch product at its largest map, 49 positions
    # Dilated, stride 1: Winograd over the input's phases (rust/nn/conv_dilated.rs). Padding a
    # multiple of the dilation or not, odd sizes, unequal dilations, more outputs than inputs,
    # none of padding, 'same'; the last is a map too small for its dilation (im2col).
    ((4, 64, 32, 32), 64, dict(padding=2, dilation=2)),
    ((3, 64, 33, 29), 72, dict(padding=1, dilation=2)),
    ((2, 64, 30, 27), 64, dict(padding=(3, 2), dilation=(3, 2))),
    ((2, 64, 26, 25), 64, dict(padding=(5, 0), dilation=(2, 1))),
    ((3, 64, 24, 26), 64, dict(padding=0, dilation=3)),
    ((2, 64, 20, 19), 64, dict(padding="same", dilation=2)),
    ((8, 64, 9, 9), 64, dict(padding=6, dilation=6)),
]


@pytest.mark.parametrize("xs,o,kw", FLOAT32_FAST_PATH_CASES, ids=[f"{x}-{o}-{kw}" for x, o, kw in FLOAT32_FAST_PATH_CASES])
def test_float32_fast_conv2d_paths_match_the_float64_convolution_forward_and_backward(xs, o, kw):
    r = rng(11)
    x, w, b = r.normal(size=xs), r.normal(size=(o, xs[1], 3, 3)) / 10, r.normal(size=o)
    dilation = kw.get("dilation", 1)
    pads = {"same": dilation}.get(kw["padding"], kw["padding"])
    pads = [(p, p) for p in pads] if isinstance(pads, tuple) else pads
    _float32_matches_float64(F.conv2d, x, w, b, kw, np_conv(x, w, b, pads=pads, dilation=dilation), 12)


# Convolutions unfold (and their input gradients fold) through a zero-bordered copy per channel
# (rust im2col.rs PaddedGather), its rows split by phase under the width stride: whole output
# rows at any stride (rows of 4 or more), one element at a time otherwise; asymmetric 'same'
# padding, dilation, strides 2 and 3 with even and odd padding (each phase starting on either
# side of the padding), 1-D rows, and maps of thousands of positions.
PADDED_GATHER_CASES = [
    ((2, 3, 8, 8, 8), (4, 3, 3, 3, 3), dict(padding=1)),
    ((2, 2, 6, 9, 10), (3, 2, 2, 3, 2), dict(padding="same", dilation=(1, 2, 1))),
    ((2, 3, 9, 10, 8), (2, 3, 3, 3, 3), dict(stride=2, padding=1)),
    ((3, 4, 21, 19), (5, 4, 4, 3), dict(padding="same")),
    ((2, 3, 20, 37), (4, 3, 3, 3), dict(stride=2, padding=1)),
    ((2, 3, 16, 34), (4, 3, 3, 3), dict(stride=2)),
    ((2, 2, 12, 40), (3, 2, 7, 5), dict(stride=(2, 3), padding=(3, 2), dilation=(1, 2))),
    ((2, 3, 4, 9, 33), (2, 3, 3, 3, 3), dict(stride=(1, 2, 2), padding=(1, 0, 2))),
    ((2, 3, 64), (4, 3, 9), dict(stride=2, padding=4)),
    ((2, 2, 61), (3, 2, 4), dict(stride=3, padding=1, dilation=2)),
    ((1, 2, 48, 50), (3, 2, 3, 3), dict(padding=1)),
    ((1, 2, 70, 66), (3, 2, 5, 5), dict(stride=2, padding=2)),
    # Not through the copy: it would be mostly unread (a 1x1 kernel at stride 5 reads a 25th).
    ((2, 3, 21, 23), (4, 3, 1, 1), dict(stride=5, padding=1)),
]


@pytest.mark.parametrize("xs,ws,kw", PADDED_GATHER_CASES, ids=[f"{x}-{w}-{kw}" for x, w, kw in PADDED_GATHER_CASES])
def test_conv_through_the_padded_copy_matches_numpy_in_float32_and_float64(xs, ws, kw):
    r = rng(21)
    x, w = r.normal(size=xs), r.normal(size=ws) / 10
    dims = len(ws) - 2
    dil = kw.get("dilation", 1)
    dil = (dil,) * dims if isinstance(dil, int) else dil
    pad = kw.get("padding", 0)
    if pad == "same":
        total = [d * (k - 1) for d, k in zip(dil, ws[2:])]
        pads = [(t // 2, t - t // 2) for t in total]
    else:
        pads = [(p, p) for p in ((pad,) * dims if isinstance(pad, int) else pad)]
    ref = np_conv(x, w, stride=kw.get("stride", 1), pads=pads, dilation=dil)
    conv = CONV_FN[dims]
    g = rng(22).normal(size=ref.shape)
    grads = {}
    for dtype, tol in ((np.float64, 1e-10), (np.float32, 1e-5)):
        tx, tw = fg.tensor(x.astype(dtype), requires_grad=True), fg.tensor(w.astype(dtype), requires_grad=True)
        y = conv(tx, tw, **kw)
        np.testing.assert_allclose(y.detach().numpy(), ref, rtol=tol, atol=tol * np.abs(ref).max())
        y.backward(fg.tensor(g.astype(dtype)))
        grads[dtype] = (tx.grad.numpy().astype(np.float64), tw.grad.numpy().astype(np.float64))
    for got, want in zip(grads[np.float32], grads[np.float64]):
        assert np.abs(got - want).max() <= 1e-5 * np.abs(want).max()
    # The float64 gradients against the numpy convolution's adjoint: <g, conv(x, w)> is linear in
    # each, so its gradient by x at direction e is <g, conv(e, w)>.
    e = rng(23).normal(size=xs)
    np.testing.assert_allclose((grads[np.float64][0] * e).sum(),
                               (g * np_conv(e, w, stride=kw.get("stride", 1), pads=pads, dilation=dil)).sum(), rtol=1e-9)


@pytest.mark.parametrize("dims", [1, 2, 3])
def test_conv_unbatched_input_matches_the_batched_result(dims):
    r = rng(4)
    x, w, b = r.normal(size=(3,) + (5,) * dims), r.normal(size=(4, 3) + (3,) * dims), r.normal(size=4)
    out = CONV_FN[dims](t64(x, True), t64(w), t64(b), padding=1)
    assert tuple(out.shape) == (4,) + (5,) * dims
    np.testing.assert_allclose(out.detach().numpy(), np_conv(x[None], w, b, pads=1)[0], rtol=1e-12, atol=1e-12)


def test_conv1d_and_conv3d_are_conv2d_on_reshaped_inputs():
    """PyTorch's own view: a 1-D convolution is a 2-D one of height 1; a 3-D one of depth 1 is a
    2-D one."""
    r = rng(5)
    x, w = r.normal(size=(2, 3, 10)), r.normal(size=(4, 3, 3))
    a = F.conv1d(t64(x), t64(w), stride=2, padding=1, dilation=2)
    b = F.conv2d(t64(x[:, :, None]), t64(w[:, :, None]), stride=(1, 2), padding=(0, 1), dilation=(1, 2))
    np.testing.assert_allclose(a.numpy(), b.numpy()[:, :, 0], rtol=1e-12)
    x3, w3 = r.normal(size=(2, 3, 1, 6, 5)), r.normal(size=(4, 3, 1, 3, 3))
    c = F.conv3d(t64(x3), t64(w3), padding=(0, 1, 1))
    d = F.conv2d(t64(x3[:, :, 0]), t64(w3[:, :, 0]), padding=1)
    np.testing.assert_allclose(c.numpy()[:, :, 0], d.numpy(), rtol=1e-12)


def test_conv_under_no_grad_records_nothing_and_empty_shapes_work():
    w = t64(np.ones((2, 1, 2, 2, 2)), True)
    with fg.no_grad():
        out = F.conv3d(t64(np.ones((1, 1, 3, 3, 3))), w)
    assert out.grad_fn is None and not out.requires_grad
    np.testing.assert_array_equal(out.numpy(), np.full((1, 2, 2, 2, 2), 8.0))
    assert tuple(F.conv1d(fg.zeros(0, 2, 5), fg.ones(3, 2, 3)).shape) == (0, 3, 3)
    x, w0 = fg.ones(2, 2, 5, requires_grad=True), fg.ones(0, 2, 3, requires_grad=True)
    out = F.conv1d(x, w0)
    assert tuple(out.shape) == (2, 0, 3)
    out.sum().backward()
    assert tuple(w0.grad.shape) == (0, 2, 3)
    np.testing.assert_array_equal(x.grad.numpy(), np.zeros((2, 2, 5), dtype=np.float32))


# ---- transposed convolution ---------------------------------------------------------------

# (input shape, weight shape, F kwargs)
TRANSPOSE_CASES = [
    ((2, 3, 4), (3, 2, 3), {}),
    ((2, 4, 5), (4, 3, 3), dict(stride=2, padding=1, output_padding=1, groups=2)),
    ((3, 2, 4), (2, 2, 2), dict(output_padding=1, dilation=2)),
    ((2, 3, 5), (3, 4, 1), {}),
    ((2, 2, 3, 4), (2, 3, 3, 2), dict(stride=(2, 1), padding=(1, 0), output_padding=(1, 0), dilation=(1, 2))),
    ((2, 4, 3, 3), (4, 1, 3, 3), dict(stride=(3, 2), padding=1, output_padding=(2, 1), groups=2)),
    ((2, 2, 3, 3), (2, 2, 4, 4), dict(stride=2, padding=1)),
    ((2, 2, 2, 3, 2), (2, 3, 2, 2, 3), {}),
    ((2, 4, 2, 3, 3), (4, 1, 3, 2, 2), dict(stride=(2, 1, 2), padding=(1, 0, 1), output_padding=(1, 0, 0), dilation=(1, 2, 1), groups=2)),
    ((1, 2, 2, 2, 2), (2, 2, 1, 1, 1), dict(stride=2)),
]
TRANSPOSE_IDS = [f"{x}-{w}-{kw}" for x, w, kw in TRANSPOSE_CASES]
TRANSPOSE_FN = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("xs,ws,kw", TRANSPOSE_CASES, ids=TRANSPOSE_IDS)
def test_conv_transpose_forward_matches_numpy(xs, ws, kw, bias):
    r = rng(6)
    x, w = r.normal(size=xs), r.normal(size=ws)
    b = r.normal(size=ws[1] * kw.get("groups", 1)) if bias else None
    ref = np_conv_transpose(x, w, b, **kw)
    fn = TRANSPOSE_FN[len(ws) - 2]
    out = fn(t64(x), t64(w), None if b is None else t64(b), **kw)
    assert tuple(out.shape) == ref.shape
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-10, atol=1e-10)
    f = lambda a: fg.tensor(np.asarray(a, dtype=np.float32))  # noqa: E731
    out32 = fn(f(x), f(w), None if b is None else f(b), **kw)
    np.testing.assert_allclose(out32.numpy(), ref, rtol=1e-4, atol=1e-4)
    unbatched = fn(t64(x[0]), t64(w), None if b is None else t64(b), **kw)
    np.testing.assert_allclose(unbatched.numpy(), ref[0], rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("xs,ws,kw", TRANSPOSE_CASES, ids=TRANSPOSE_IDS)
def test_conv_transpose_gradcheck_float64(xs, ws, kw):
    r = rng(7)
    x = t64(r.normal(size=(1,) + xs[1:]), True)
    w, b = t64(r.normal(size=ws), True), t64(r.normal(size=ws[1] * kw.get("groups", 1)), True)
    fn = TRANSPOSE_FN[len(ws) - 2]
    assert gradcheck(lambda x, w, b: fn(x, w, b, **kw), (x, w, b))


@pytest.mark.parametrize("xs,ws,kw,pads", [c for c in CONV_CASES if not isinstance(c[2].get("padding"), str)])
def test_conv_transpose_is_the_adjoint_of_conv(xs, ws, kw, pads):
    """<conv(x, w), y> = <x, conv_transpose(y, w)>: the same weight and stride/padding/dilation/
    groups, with the output_padding that gives back x's size (as ConvTranspose's output_size=)."""
    r = rng(8)
    x, w = r.normal(size=xs), r.normal(size=ws)
    y = CONV_FN[len(ws) - 2](t64(x), t64(w), **kw)
    g = r.normal(size=tuple(y.shape))
    dims = len(ws) - 2
    tup = lambda v: (v,) * dims if isinstance(v, int) else tuple(v)  # noqa: E731
    s, p, d = tup(kw.get("stride", 1)), tup(kw.get("padding", 0)), tup(kw.get("dilation", 1))
    op = [xs[2 + i] - ((y.shape[2 + i] - 1) * s[i] - 2 * p[i] + d[i] * (ws[2 + i] - 1) + 1) for i in range(dims)]
    back = TRANSPOSE_FN[dims](t64(g), t64(w), stride=s, padding=p, output_padding=op, dilation=d, groups=kw.get("groups", 1))
    assert tuple(back.shape) == xs
    assert np.sum(y.numpy() * g) == pytest.approx(np.sum(x * back.numpy()), rel=1e-10)


def test_conv_transpose_output_padding_from_dilation_adds_bias_only_positions():
    # output_padding may reach the dilation (here 2 > stride 1): the extra position gets only the bias.
    x, w, b = t64(np.ones((1, 1, 2))), t64(np.ones((1, 1, 2))), t64([0.5])
    out = F.conv_transpose1d(x, w, b, output_padding=1, dilation=2)
    np.testing.assert_array_equal(out.numpy(), [[[1.5, 1.5, 1.5, 1.5, 0.5]]])




# Grouped convolutions of 32 channels a group or more run group by group on the path one group
# alone takes (rust/nn/conv_groups.rs): Winograd (stride 1 3x3, odd map), the direct kernel
# (at most 64 output positions, stride 2), Winograd over dilation phases (64 a group), the
# whole-batch product (a 5x5 kernel on a small map), unequal input and output channels a
# group, a 1-D one; a grouped transposed convolution the same way round. Groups of 5 to 16
# channels at stride 1 run from zero-bordered planes (rust/nn/conv_small_groups.rs, on
# AVX-512): 8 and 16 a group, fewer output channels than input, padding 0 and past the
# kernel, uneven padding, dilation, a 5x5 and a 1x1 kernel, 1-D, a map wider than tall.
GROUPED_FLOAT32_CASES = [
    ((4, 64, 14, 14), (64, 8, 3, 3), dict(padding=1, groups=8)),
    ((3, 80, 9, 11), (80, 16, 3, 3), dict(padding=1, groups=5)),
    ((2, 48, 10, 7), (48, 6, 3, 3), dict(padding=0, groups=8)),
    ((2, 32, 6, 6), (32, 8, 3, 3), dict(padding=3, groups=4)),
    ((2, 64, 8, 8), (32, 16, 3, 3), dict(padding=(1, 0), groups=4)),
    ((2, 64, 12, 12), (64, 16, 3, 3), dict(padding=2, dilation=2, groups=4)),
    ((2, 40, 13, 13), (40, 8, 5, 5), dict(padding=2, groups=5)),
    ((2, 64, 15, 15), (64, 8, 1, 1), dict(padding=0, groups=8)),
    ((2, 64, 30), (64, 8, 3), dict(padding=1, groups=8)),
    ((1, 96, 5, 40), (96, 12, 3, 3), dict(padding=1, groups=8)),
    ((2, 96, 9, 9), (96, 24, 3, 3), dict(padding=1, groups=4)),
    ((3, 64, 7, 7), (40, 32, 3, 3), dict(padding=1, groups=2)),
    ((4, 64, 17, 15), (96, 32, 3, 3), dict(padding=1, groups=2)),
    ((8, 128, 8, 8), (128, 32, 3, 3), dict(stride=2, padding=1, groups=4)),
    ((2, 128, 24, 22), (128, 64, 3, 3), dict(padding=2, dilation=2, groups=2)),
    ((4, 96, 7, 7), (64, 48, 5, 5), dict(padding=2, groups=2)),
    ((3, 64, 40), (64, 32, 3), dict(padding=1, groups=2)),
]


@pytest.mark.parametrize("xs,ws,kw", GROUPED_FLOAT32_CASES, ids=[f"{x}-{w}-{kw}" for x, w, kw in GROUPED_FLOAT32_CASES])
def test_float32_grouped_conv_paths_match_float64_forward_and_backward(xs, ws, kw):
    r = rng(15)
    x, w, b = r.normal(size=xs), r.normal(size=ws) / 10, r.normal(size=ws[0])
    pads = [(p, p) for p in kw["padding"]] if isinstance(kw["padding"], tuple) else kw["padding"]
    ref = np_conv(x, w, b, stride=kw.get("stride", 1), pads=pads, dilation=kw.get("dilation", 1), groups=kw["groups"])
    _float32_matches_float64(CONV_FN[len(ws) - 2], x, w, b, kw, ref, 16)


# Transposed convolutions run by the path their convolution's own would take (rust/nn/
# conv_transpose.rs through conv.rs's forward_by_path / backward_by_path): stride 1 3x3 by
# Winograd (even and odd maps, padding 0 and 1), dilated by Winograd over phases (with an
# output_padding the dilation allows), onto maps of at most 64 positions directly (strides 1
# and 2, an output_padding), grouped, and a 5x5 kernel and 1x1 by the products.
TRANSPOSE_FLOAT32_CASES = [
    ((4, 64, 16, 16), (64, 48, 3, 3), dict(padding=1)),
    ((4, 64, 15, 13), (64, 32, 3, 3), dict(padding=0)),
    ((2, 64, 20, 19), (64, 64, 3, 3), dict(padding=2, dilation=2, output_padding=1)),
    ((8, 128, 8, 8), (128, 64, 4, 4), dict(stride=2, padding=1)),
    ((8, 64, 7, 5), (64, 32, 3, 3), dict(stride=2, padding=1, output_padding=1)),
    ((16, 64, 4, 4), (64, 40, 3, 3), dict(padding=1)),
    ((4, 64, 16, 16), (64, 16, 3, 3), dict(padding=1, groups=4)),
    ((2, 48, 6, 6), (48, 64, 5, 5), dict(padding=2)),
    ((2, 32, 16, 16), (32, 32, 1, 1), {}),
    ((4, 64, 12, 12), (64, 32, 3, 3), dict(padding=1, groups=2)),
]


@pytest.mark.parametrize("xs,ws,kw", TRANSPOSE_FLOAT32_CASES, ids=[f"{x}-{w}-{kw}" for x, w, kw in TRANSPOSE_FLOAT32_CASES])
def test_float32_conv_transpose2d_paths_match_float64_forward_and_backward(xs, ws, kw):
    r = rng(13)
    x, w = r.normal(size=xs), r.normal(size=ws) / 10
    b = r.normal(size=ws[1] * kw.get("groups", 1))
    _float32_matches_float64(F.conv_transpose2d, x, w, b, kw, np_conv_transpose(x, w, b, **kw), 14)


# float32 convolutions of small outputs (up to 64 positions) with 16 or more input channels
# run directly, each output summing only the taps inside the input (rust/nn/conv_direct.rs):
# output channels past a panel of 16, two passes over more than 256 input channels, a batch
# of one, fewer output channels than a panel, 1-D and 3-D, dilation, strides 2 and 3 (input
# positions reached by some taps, or by none), padding past the kernel's reach (outputs that
# see only padding), asymmetric 'same' padding and an even kernel.
DIRECT_CASES = [
    ((16, 32, 4, 4), (20, 32, 3, 3), dict(padding=1)),
    ((2, 300, 3, 3), (17, 300, 3, 3), dict(padding=1)),
    ((2, 16, 3, 3), (300, 16, 3, 3), dict(padding=1)),  # input gradient over two channel blocks
    ((3, 16, 4, 4), (5, 16, 3, 3), dict(padding=1)),  # fewer output channels than a panel
    ((1, 16, 4, 4), (5, 16, 3, 3), dict(padding=1)),
    ((1, 16, 6, 6), (16, 16, 3, 3), dict(padding=2)),
    ((3, 16, 8, 8), (16, 16, 3, 3), dict(padding=2, dilation=2)),
    ((7, 24, 7, 7), (33, 24, 3, 3), dict(stride=2, padding=1)),
    ((2, 16, 3, 3), (16, 16, 3, 3), dict(padding=3)),  # corners of the output see only padding
    ((2, 16, 8, 8), (16, 16, 2, 2), dict(stride=3)),  # inputs 2 and 5 reached by no tap
    ((4, 16, 6, 6), (18, 16, 4, 4), dict(padding="same")),
    ((4, 16, 4, 4), (16, 16, 2, 2), dict(padding=1)),
    ((9, 16, 30), (16, 16, 5), dict(padding=2)),
    ((5, 16, 21), (16, 16, 3), dict(stride=3, padding=2, dilation=2)),
    ((4, 16, 4, 4, 4), (33, 16, 3, 3, 3), dict(padding=1)),
    ((2, 16, 5, 5, 5), (16, 16, 3, 3, 3), dict(stride=(2, 1, 2), padding=1, dilation=(1, 2, 1))),
    ((2, 16, 3, 4, 5), (16, 16, 1, 3, 3), dict(padding=(0, 1, 1))),
]


@pytest.mark.parametrize("xs,ws,kw", DIRECT_CASES, ids=[f"{x}-{w}-{kw}" for x, w, kw in DIRECT_CASES])
def test_direct_float32_conv_matches_the_float64_convolution_forward_and_backward(xs, ws, kw):
    r = rng(31)
    x, w, b = r.normal(size=xs), r.normal(size=ws) / 10, r.normal(size=ws[0])
    conv = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}[len(ws) - 2]
    results = {}
    for dtype in (np.float32, np.float64):
        tx, tw, tb = (fg.tensor(a.astype(dtype), requires_grad=True) for a in (x, w, b))
        y = conv(tx, tw, tb, **kw)
        g = rng(32).normal(size=tuple(y.shape))
        y.backward(fg.tensor(g.astype(dtype)))
        results[dtype] = [a.astype(np.float64) for a in (y.detach().numpy(), tx.grad.numpy(), tw.grad.numpy(), tb.grad.numpy())]
    if kw.get("padding") != "same":
        dims = len(ws) - 2
        pads = kw.get("padding", 0)
        pads = [(p, p) for p in (pads if isinstance(pads, tuple) else (pads,) * dims)]
        ref = np_conv(x, w, b, stride=kw.get("stride", 1), pads=pads, dilation=kw.get("dilation", 1))
        np.testing.assert_allclose(results[np.float64][0], ref, rtol=1e-10, atol=1e-10)
    for name, got, want in zip(("output", "grad_input", "grad_weight", "grad_bias"), results[np.float32], results[np.float64]):
        # float32 sums of up to a few thousand products: within 1e-5 of the largest magnitude.
        scale = np.abs(want).max()
        assert np.abs(got - want).max() <= 1e-5 * scale, (name, np.abs(got - want).max() / scale)


# ---- results independent of the thread count ---------------------------------------------

_THREADS_SCRIPT = """
import hashlib, numpy as np, ferrograd as fg, ferrograd.nn.functional as F
r, h = np.random.default_rng(0), hashlib.sha256()
for n in (1, 3, 8):
    for dims in (1, 3):
        x = fg.tensor(r.normal(size=(n, 4) + (6,) * dims).astype(np.float32), requires_grad=True)
        w = fg.tensor(r.normal(size=(8, 4) + (3,) * dims).astype(np.float32), requires_grad=True)
        y = (F.conv1d if dims == 1 else F.conv3d)(x, w, padding=1)
        t = (F.conv_transpose1d if dims == 1 else F.conv_transpose3d)(y, w, stride=2)
        t.backward(fg.tensor(r.normal(size=tuple(t.shape)).astype(np.float32)))
        for a in (y.detach().numpy(), t.detach().numpy(), x.grad.numpy(), w.grad.numpy()):
            h.update(a.tobytes())
# A direct Conv1d whose input outweighs its weight: blocks first, split between threads.
x = fg.tensor(r.normal(size=(64, 64, 64)).astype(np.float32), requires_grad=True)
w = fg.tensor(r.normal(size=(64, 64, 3)).astype(np.float32), requires_grad=True)
y = F.conv1d(x, w, padding=1)
y.backward(fg.tensor(r.normal(size=tuple(y.shape)).astype(np.float32)))
for a in (y.detach().numpy(), x.grad.numpy(), w.grad.numpy()):
    h.update(a.tobytes())
# Small feature maps, many channels: direct convolution, its blocks split between threads.
# 3x3 with enough positions per channel: Winograd, its weight gradient summed over fixed chunks.
for n, c, o, s in ((8, 64, 64, 4), (4, 128, 32, 2), (16, 32, 256, 8), (6, 32, 40, 24), (16, 20, 40, 3)):
    x = fg.tensor(r.normal(size=(n, c, s, s)).astype(np.float32), requires_grad=True)
    w = fg.tensor(r.normal(size=(o, c, 3, 3)).astype(np.float32), requires_grad=True)
    y = F.conv2d(x, w, padding=1)
    y.backward(fg.tensor(r.normal(size=tuple(y.shape)).astype(np.float32)))
    for a in (y.detach().numpy(), x.grad.numpy(), w.grad.numpy()):
        h.update(a.tobytes())
# Dilated: Winograd over the input's phases.
x = fg.tensor(r.normal(size=(6, 64, 20, 18)).astype(np.float32), requires_grad=True)
w = fg.tensor(r.normal(size=(64, 64, 3, 3)).astype(np.float32), requires_grad=True)
y = F.conv2d(x, w, padding=2, dilation=2)
y.backward(fg.tensor(r.normal(size=tuple(y.shape)).astype(np.float32)))
for a in (y.detach().numpy(), x.grad.numpy(), w.grad.numpy()):
    h.update(a.tobytes())
# Grouped: 8 channels a group from zero-bordered planes, 32 a group group by group.
for c, groups in ((64, 8), (64, 2)):
    x = fg.tensor(r.normal(size=(6, c, 12, 12)).astype(np.float32), requires_grad=True)
    w = fg.tensor(r.normal(size=(c, c // groups, 3, 3)).astype(np.float32), requires_grad=True)
    y = F.conv2d(x, w, padding=1, groups=groups)
    y.backward(fg.tensor(r.normal(size=tuple(y.shape)).astype(np.float32)))
    for a in (y.detach().numpy(), x.grad.numpy(), w.grad.numpy()):
        h.update(a.tobytes())
print(h.hexdigest())
"""


def test_conv_nd_results_do_not_depend_on_the_thread_count():
    digests = set()
    for threads in ("1", "3"):
        env = dict(os.environ, RAYON_NUM_THREADS=threads)
        run = subprocess.run([sys.executable, "-c", _THREADS_SCRIPT], env=env, capture_output=True, text=True, check=True)
        digests.add(run.stdout.strip())
    assert len(digests) == 1


# ---- fold and unfold ----------------------------------------------------------------------

FOLD_CASES = [
    ((2, 3, 5, 7), dict(kernel_size=(2, 3), dilation=(1, 2), padding=(1, 0), stride=(2, 1))),
    ((1, 2, 4, 4), dict(kernel_size=2)),
    ((2, 1, 6, 5), dict(kernel_size=3, padding=1, stride=2)),
    ((1, 2, 3, 3), dict(kernel_size=1)),
]


@pytest.mark.parametrize("xs,kw", FOLD_CASES)
def test_unfold_matches_numpy_and_fold_is_its_adjoint(xs, kw):
    r = rng(9)
    x = r.normal(size=xs)
    pair = lambda v: v if isinstance(v, tuple) else (v, v)  # noqa: E731
    args = [pair(kw.get(k, dflt)) for k, dflt in (("kernel_size", 1), ("dilation", 1), ("padding", 0), ("stride", 1))]
    ref = np_unfold(x, *args)
    cols = F.unfold(t64(x), **kw)
    np.testing.assert_array_equal(cols.numpy(), ref)
    np.testing.assert_array_equal(F.unfold(t64(x[0]), **kw).numpy(), ref[0])
    g = r.normal(size=ref.shape)
    back = F.fold(t64(g), xs[2:], **kw)
    assert tuple(back.shape) == xs
    assert np.sum(ref * g) == pytest.approx(np.sum(x * back.numpy()), rel=1e-12)
    np.testing.assert_allclose(F.fold(t64(g[0]), xs[2:], **kw).numpy(), back.numpy()[0], rtol=1e-12)
    assert gradcheck(lambda t: F.unfold(t, **kw), (t64(x[:1], True),))
    assert gradcheck(lambda t: F.fold(t, xs[2:], **kw), (t64(g[:1], True),))


def test_fold_of_unfold_multiplies_by_the_block_count():
    """PyTorch's documented identity: fold(unfold(x)) = x * divisor, with divisor =
    fold(unfold(ones))."""
    x = rng(10).normal(size=(2, 3, 6, 5))
    kw = dict(kernel_size=(3, 2), padding=1, stride=1)
    twice = F.fold(F.unfold(t64(x), **kw), (6, 5), **kw)
    div = F.fold(F.unfold(fg.ones(2, 3, 6, 5, dtype=fg.float64), **kw), (6, 5), **kw)
    np.testing.assert_allclose(twice.numpy(), x * div.numpy(), rtol=1e-12)


def test_fold_unfold_modules():
    x = rng(11).normal(size=(2, 2, 4, 5))
    u, f = nn.Unfold((2, 3), dilation=1, padding=1, stride=(1, 2)), nn.Fold((4, 5), (2, 3), padding=1, stride=(1, 2))
    assert repr(u) == "Unfold(kernel_size=(2, 3), dilation=1, padding=1, stride=(1, 2))"
    assert repr(nn.Fold((4, 5), 2)) == "Fold(output_size=(4, 5), kernel_size=2, dilation=1, padding=0, stride=1)"
    assert list(u.state_dict()) == [] and list(f.state_dict()) == []
    cols = u(t64(x))
    np.testing.assert_array_equal(cols.numpy(), np_unfold(x, (2, 3), (1, 1), (1, 1), (1, 2)))
    assert tuple(f(cols).shape) == (2, 2, 4, 5)


# ---- modules --------------------------------------------------------------------------------

@pytest.mark.parametrize("cls,dims,transposed", [
    (nn.Conv1d, 1, False), (nn.Conv2d, 2, False), (nn.Conv3d, 3, False),
    (nn.ConvTranspose1d, 1, True), (nn.ConvTranspose2d, 2, True), (nn.ConvTranspose3d, 3, True),
])
def test_conv_module_shapes_keys_defaults_and_pytorch_init(cls, dims, transposed):
    fg.manual_seed(0)
    m = cls(4, 6, 3, groups=2)
    assert list(m.state_dict().keys()) == ["weight", "bias"]
    want = (4, 3) if transposed else (6, 2)
    assert tuple(m.weight.shape) == want + (3,) * dims and tuple(m.bias.shape) == (6,)
    assert m.kernel_size == (3,) * dims and m.stride == (1,) * dims and m.padding == (0,) * dims
    assert m.dilation == (1,) * dims and m.output_padding == (0,) * dims and m.groups == 2
    assert m.transposed is transposed and m.padding_mode == "zeros"
    assert m.weight.dtype == fg.float32 and m.weight.requires_grad
    # kaiming_uniform_(a=sqrt(5)): U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = weight.shape[1] * 3^dims.
    bound = 1 / math.sqrt(want[1] * 3**dims)
    for p in (m.weight, m.bias):
        v = p.detach().numpy()
        assert np.all(np.abs(v) <= bound) and np.abs(v).max() > 0.5 * bound
    nb = cls(2, 2, 2, bias=False, dtype=fg.float64)
    assert nb.bias is None and list(nb.state_dict().keys()) == ["weight"] and nb.weight.dtype == fg.float64
    x = rng(12).normal(size=(2, 4) + (5,) * dims)
    w, b = m.weight.detach().numpy().astype(np.float64), m.bias.detach().numpy().astype(np.float64)
    ref = np_conv_transpose(x, w, b, groups=2) if transposed else np_conv(x, w, b, groups=2)
    np.testing.assert_allclose(m(fg.tensor(x.astype(np.float32))).detach().numpy(), ref, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(m(fg.tensor(x[0].astype(np.float32))).detach().numpy(), ref[0], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("module,text", [
    (lambda: nn.Conv1d(2, 4, 3), "Conv1d(2, 4, kernel_size=(3,), stride=(1,))"),
    (lambda: nn.Conv1d(2, 4, 3, stride=2, padding=1, dilation=2, groups=2, bias=False, padding_mode="reflect"),
     "Conv1d(2, 4, kernel_size=(3,), stride=(2,), padding=(1,), dilation=(2,), groups=2, bias=False, padding_mode=reflect)"),
    (lambda: nn.Conv3d(1, 2, (1, 2, 3), padding="same"), "Conv3d(1, 2, kernel_size=(1, 2, 3), stride=(1, 1, 1), padding=same)"),
    (lambda: nn.Conv3d(2, 2, 3, stride=(1, 2, 1), padding="valid"),
     "Conv3d(2, 2, kernel_size=(3, 3, 3), stride=(1, 2, 1), padding=valid)"),
    (lambda: nn.ConvTranspose1d(2, 4, 3), "ConvTranspose1d(2, 4, kernel_size=(3,), stride=(1,))"),
    (lambda: nn.ConvTranspose2d(4, 2, 3, stride=2, padding=1, output_padding=1, groups=2),
     "ConvTranspose2d(4, 2, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1), output_padding=(1, 1), groups=2)"),
    (lambda: nn.ConvTranspose3d(2, 3, 2, bias=False, dilation=2),
     "ConvTranspose3d(2, 3, kernel_size=(2, 2, 2), stride=(1, 1, 1), dilation=(2, 2, 2), bias=False)"),
    (lambda: nn.Conv2d(2, 2, 3, padding_mode="circular", padding=1),
     "Conv2d(2, 2, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1), padding_mode=circular)"),
])
def test_conv_reprs_match_pytorch(module, text):
    # the strings are PyTorch 2.x's reprs of the same constructions
    assert repr(module()) == text


_NP_PAD_MODE = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
@pytest.mark.parametrize("dims", [1, 2, 3])
def test_conv_padding_modes_pad_the_input_as_numpy(mode, dims):
    fg.manual_seed(1)
    cls = (nn.Conv1d, nn.Conv2d, nn.Conv3d)[dims - 1]
    pad = (2, 1, 1)[:dims]
    m = cls(2, 3, 3, padding=pad, padding_mode=mode, dtype=fg.float64)
    x = rng(13).normal(size=(2, 2) + (4,) * dims)
    xp = np.pad(x, [(0, 0), (0, 0)] + [(p, p) for p in pad], mode=_NP_PAD_MODE[mode])
    ref = np_conv(xp, m.weight.detach().numpy(), m.bias.detach().numpy())
    np.testing.assert_allclose(m(t64(x)).detach().numpy(), ref, rtol=1e-10)
    same = cls(2, 3, 2, padding="same", padding_mode=mode, dtype=fg.float64)
    assert tuple(same(t64(x)).shape) == (2, 3) + (4,) * dims
    assert gradcheck(lambda t: m(t), (t64(x[:1], True),))


def test_conv_transpose_output_size_picks_the_output_padding():
    fg.manual_seed(2)
    m = nn.ConvTranspose2d(2, 3, 3, stride=2, padding=1)
    x = fg.randn(1, 2, 4, 4)
    assert tuple(m(x).shape) == (1, 3, 7, 7)
    assert tuple(m(x, output_size=(8, 8)).shape) == (1, 3, 8, 8)
    assert tuple(m(x, output_size=[1, 3, 8, 7]).shape) == (1, 3, 8, 7)
    assert tuple(m(x[0], output_size=[3, 8, 8]).shape) == (3, 8, 8)
    with pytest.raises(ValueError, match=r"requested an output size of .*9, 9.*valid sizes range from \[7, 7\] to \[8, 8\]"):
        m(x, output_size=(9, 9))
    with pytest.raises(ValueError, match=r"ConvTranspose2D: for 4D input, output_size must have 2 or 4 elements \(got 1\)"):
        m(x, output_size=(8,))
    m1 = nn.ConvTranspose1d(1, 1, 2, stride=3)
    assert tuple(m1(fg.randn(2, 1, 5), output_size=[15]).shape) == (2, 1, 15)


def test_conv_modules_train_one_step_end_to_end():
    fg.manual_seed(3)
    model = nn.Sequential(nn.Conv1d(2, 4, 3, padding=1), nn.ReLU(), nn.Conv1d(4, 2, 3, stride=2),
                          nn.ConvTranspose1d(2, 2, 3, stride=2))
    model3 = nn.Sequential(nn.Conv3d(1, 2, 3, padding=1), nn.ReLU(), nn.ConvTranspose3d(2, 1, 2, stride=2))
    for m, x in ((model, fg.randn(3, 2, 9)), (model3, fg.randn(2, 1, 3, 4, 4))):
        opt = fg.optim.SGD(m.parameters(), lr=0.1)
        out = m(x)
        loss = (out**2).mean()
        loss.backward()
        assert all(p.grad is not None and tuple(p.grad.shape) == tuple(p.shape) for p in m.parameters())
        opt.step()
        assert float((m(x) ** 2).mean()) < float(loss)


# ---- bad input ----------------------------------------------------------------------------

x3 = fg.ones(1, 3, 5)
x5 = fg.ones(1, 3, 4, 4, 4)

BAD_CALLS = [
    ("conv1d 4-D input", lambda: F.conv1d(fg.ones(1, 3, 5, 5), fg.ones(4, 3, 3)), RuntimeError,
     r"conv1d.*2-D \(unbatched\) or 3-D \(batched\).*\[1, 3, 5, 5\]"),
    ("conv3d weight rank", lambda: F.conv3d(x5, fg.ones(4, 3, 3, 3)), RuntimeError, r"conv3d.*5-D weight.*\[4, 3, 3, 3\]"),
    ("conv3d channels", lambda: F.conv3d(x5, fg.ones(4, 2, 3, 3, 3)), RuntimeError,
     r"conv3d.*weight of size \[4, 2, 3, 3, 3\].*input\[1, 3, 4, 4, 4\] to have 2 channels, but got 3"),
    ("conv3d kernel too big", lambda: F.conv3d(x5, fg.ones(1, 3, 5, 3, 3)), RuntimeError,
     r"conv3d.*padded input size per channel: \(4 x 4 x 4\). Kernel size: \(5 x 3 x 3\)"),
    ("conv1d stride of 2", lambda: F.conv1d(x3, fg.ones(4, 3, 3), stride=(1, 2)), RuntimeError,
     r"conv1d.*expected stride to be a single integer value or a list of 1 values"),
    ("conv1d same strided", lambda: F.conv1d(x3, fg.ones(4, 3, 3), padding="same", stride=2), RuntimeError,
     r"padding='same' is not supported for strided"),
    ("conv3d bias", lambda: F.conv3d(x5, fg.ones(2, 3, 1, 1, 1), fg.ones(3)), RuntimeError,
     r"expected bias to be 1-dimensional with 2 elements.*\[3\]"),
    ("conv1d int", lambda: F.conv1d(fg.ones(1, 3, 5, dtype=fg.int64), fg.ones(4, 3, 3, dtype=fg.int64)), TypeError,
     r"conv1d.*floating point"),
    ("conv1d groups", lambda: F.conv1d(fg.ones(1, 4, 5), fg.ones(3, 2, 3), groups=2), RuntimeError,
     r"groups=2.*divisible by 2.*\[3, 2, 3\]"),
    ("transpose channels", lambda: F.conv_transpose2d(fg.ones(1, 4, 5, 5), fg.ones(3, 2, 3, 3)), RuntimeError,
     r"conv_transpose2d.*Given transposed=1, weight of size \[3, 2, 3, 3\], expected input\[1, 4, 5, 5\] to have 3 channels, but got 4"),
    ("transpose output padding", lambda: F.conv_transpose2d(fg.ones(1, 4, 5, 5), fg.ones(4, 2, 3, 3), output_padding=1),
     RuntimeError, r"output padding must be smaller than either stride or dilation"),
    ("transpose too small", lambda: F.conv_transpose2d(fg.ones(1, 4, 1, 1), fg.ones(4, 2, 3, 3), padding=2), RuntimeError,
     r"Given input size per channel: \(1 x 1\). Calculated output size per channel: \(-1 x -1\). Output size is too small"),
    ("transpose bias", lambda: F.conv_transpose1d(fg.ones(1, 4, 5), fg.ones(4, 2, 3), fg.ones(3)), RuntimeError,
     r"transposed=1, weight of size \[4, 2, 3\], expected bias to be 1-dimensional with 2 elements"),
    ("transpose groups", lambda: F.conv_transpose2d(fg.ones(1, 4, 5, 5), fg.ones(4, 2, 3, 3), groups=3), RuntimeError,
     r"groups=3.*divisible by 3"),
    ("transpose 1-D on 4-D", lambda: F.conv_transpose1d(fg.ones(2, 4, 5, 5), fg.ones(4, 2, 3)), RuntimeError,
     r"conv_transpose1d.*2-D \(unbatched\) or 3-D \(batched\).*\[2, 4, 5, 5\]"),
    ("transpose same", lambda: F.conv_transpose1d(x3, fg.ones(3, 2, 3), padding="same"), TypeError, r"padding"),
    ("unfold 2-D", lambda: F.unfold(fg.ones(3, 4), 2), NotImplementedError, r"Only 3D or 4D input"),
    ("unfold kernel too big", lambda: F.unfold(fg.ones(2, 3, 4, 4), 5), RuntimeError,
     r"spatial size \(4, 4\), kernel_size=\(5, 5\).*sliding blocks as \(0, 0\), but its components must be at least one"),
    ("fold blocks", lambda: F.fold(fg.ones(2, 12, 8), (4, 4), 2), RuntimeError,
     r"match the calculated number of sliding blocks 3 \* 3 = 9, but got input.size\(2\)=8"),
    ("fold divisibility", lambda: F.fold(fg.ones(2, 11, 9), (4, 4), 2), RuntimeError,
     r"divisible by the product of kernel_size, but got input.size\(1\)=11 and kernel_size=\(2, 2\)"),
    ("Conv1d groups", lambda: nn.Conv1d(3, 4, 3, groups=2), ValueError, r"in_channels must be divisible by groups"),
    ("Conv3d out groups", lambda: nn.Conv3d(4, 3, 3, groups=2), ValueError, r"out_channels must be divisible by groups"),
    ("Conv3d same strided", lambda: nn.Conv3d(3, 4, 3, stride=2, padding="same"), ValueError, r"not supported for strided"),
    ("Conv1d padding string", lambda: nn.Conv1d(3, 4, 3, padding="full"), ValueError, r"Invalid padding string 'full'"),
    ("Conv1d padding mode", lambda: nn.Conv1d(3, 4, 3, padding_mode="mirror"), ValueError, r"padding_mode must be one of"),
    ("ConvTranspose2d reflect", lambda: nn.ConvTranspose2d(2, 2, 3, padding_mode="reflect"), ValueError,
     r'Only "zeros" padding mode is supported for ConvTranspose2d'),
]


@pytest.mark.parametrize("name,call,exc,pattern", BAD_CALLS, ids=[b[0] for b in BAD_CALLS])
def test_bad_input_raises_a_clear_error(name, call, exc, pattern):
    with pytest.raises(exc, match=pattern):
        call()


def test_conv_weight_sharing_a_storage_with_the_input_or_gradient_reads_correctly():
    """The weight is read in place under its own lock unless it shares a storage with the input
    or the output gradient (then it is copied, since one storage is never locked twice)."""
    r = rng(13)
    base = r.normal(size=2 * 3 * 6 * 6 + 4 * 3 * 3 * 3)
    n = 2 * 3 * 6 * 6
    shared = fg.tensor(base, requires_grad=True)
    x, w = shared[:n].view(2, 3, 6, 6), shared[n:].view(4, 3, 3, 3)
    y = F.conv2d(x, w, padding=1)
    np.testing.assert_allclose(y.detach().numpy(), np_conv(base[:n].reshape(2, 3, 6, 6), base[n:].reshape(4, 3, 3, 3), pads=1), rtol=1e-12, atol=1e-12)
    g = fg.tensor(r.normal(size=tuple(y.shape)))
    y.backward(g)
    tx, tw = t64(base[:n].reshape(2, 3, 6, 6), True), t64(base[n:].reshape(4, 3, 3, 3), True)
    F.conv2d(tx, tw, padding=1).backward(g)
    np.testing.assert_allclose(shared.grad.numpy(), np.concatenate([tx.grad.numpy().ravel(), tw.grad.numpy().ravel()]), rtol=1e-12)


@pytest.mark.parametrize("size", [4, 9])
def test_conv_with_no_input_channels_runs_backward_to_empty_gradients(size):
    """Zero input channels: the output is the bias alone and the gradients are empty, as in
    PyTorch (size 4 takes the whole-batch product for small maps, 9 the per-image one)."""
    x = fg.zeros(2, 0, size, size, requires_grad=True)
    w = fg.zeros(3, 0, 3, 3, requires_grad=True)
    b = fg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = F.conv2d(x, w, b)
    assert tuple(y.shape) == (2, 3, size - 2, size - 2)
    np.testing.assert_array_equal(y.detach().numpy()[0, :, 0, 0], [1.0, 2.0, 3.0])
    y.sum().backward()
    assert tuple(x.grad.shape) == (2, 0, size, size) and tuple(w.grad.shape) == (3, 0, 3, 3)
    np.testing.assert_array_equal(b.grad.numpy(), [2 * (size - 2) ** 2] * 3)

