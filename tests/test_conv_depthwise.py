"""Depthwise and grouped convolutions of up to 4 input channels a group, which run plane by
plane (rust/nn/conv_depthwise.rs): forward, input, weight and bias gradients against numpy references
written from the definition (one slice of the zero-padded input per kernel tap, scattered back
for the input's gradient), over the geometries that take its different paths: stride 1 in every
dim (whole planes as wide runs), other strides (row by row), dilation, asymmetric padding,
channel multipliers, inputs no output reads, and infinite or NaN values."""

from __future__ import annotations

import itertools

import ferrograd as fg
import ferrograd.nn.functional as F
import numpy as np
import pytest
from helpers import rng


def np_grouped(x, w, b, g, stride, pads, dilation, groups):
    """Output, and the gradients of sum(out * g) for x, w and b, in float64. `pads`: one
    (before, after) pair per spatial dim."""
    dims = w.ndim - 2
    o, cg = w.shape[:2]
    og = o // groups
    xp = np.pad(x, [(0, 0), (0, 0)] + list(pads))
    k = w.shape[2:]
    out_sp = [(xp.shape[2 + i] - dilation[i] * (k[i] - 1) - 1) // stride[i] + 1 for i in range(dims)]
    out = np.zeros((x.shape[0], o, *out_sp))
    gxp = np.zeros_like(xp)
    gw = np.zeros_like(w)
    for grp in range(groups):
        xs, os = slice(grp * cg, (grp + 1) * cg), slice(grp * og, (grp + 1) * og)
        for tap in itertools.product(*(range(kk) for kk in k)):
            sl = tuple(slice(t * d, t * d + s * (n - 1) + 1, s) for t, d, s, n in zip(tap, dilation, stride, out_sp))
            xt = xp[(slice(None), xs) + sl]  # (N, cg, *out)
            wt = w[(os, slice(None)) + tap]  # (og, cg)
            out[:, os] += np.einsum("nc...,oc->no...", xt, wt)
            n = x.shape[0]
            gw[(os, slice(None)) + tap] = np.einsum("nop,ncp->oc", g[:, os].reshape(n, og, -1), xt.reshape(n, cg, -1))
            gxp[(slice(None), xs) + sl] += np.einsum("no...,oc->nc...", g[:, os], wt)
    if b is not None:
        out += b.reshape((1, o) + (1,) * dims)
    crop = (slice(None), slice(None)) + tuple(slice(p[0], p[0] + n) for p, n in zip(pads, x.shape[2:]))
    gb = g.sum(axis=(0, *range(2, 2 + dims))) if b is not None else None
    return out, gxp[crop], gw, gb


def _tuple(v, dims):
    return (v,) * dims if isinstance(v, int) else tuple(v)


def _pads(padding, k, dilation, dims):
    if padding == "same":
        total = [d * (kk - 1) for d, kk in zip(dilation, k)]
        return [(t // 2, t - t // 2) for t in total]
    return [(p, p) for p in _tuple(padding, dims)]


CASES = [
    # (input shape, out channels, kernel, stride, padding, dilation[, groups]); depthwise
    # (groups = input channels) unless given
    ((2, 3, 9, 8), 3, 3, 1, 1, 1),  # stride 1: wide runs
    ((2, 4, 7, 7), 4, 3, 1, 1, 1),  # a ResNet-sized tail plane
    ((13, 2, 7, 7), 2, 3, 1, 1, 1),  # small planes stack 12 images a run: one full stack, one short
    ((7, 4, 20, 20), 4, 3, 1, 1, 1, 2),  # grouped, stacks of 2 images and a short one
    ((2, 3, 9, 8), 3, 3, 2, 1, 1),  # stride 2: row by row
    ((1, 2, 9, 10), 2, 3, (2, 1), 1, 1),  # rows strided, columns contiguous
    ((1, 2, 9, 10), 2, 3, (1, 2), 1, 1),  # columns strided
    ((2, 3, 8, 8), 6, 5, 1, 2, 1),  # two output channels per input channel
    ((1, 2, 10, 9), 6, 3, 2, 1, 1),  # three per channel, strided
    ((2, 3, 10, 10), 3, 3, 1, 2, 2),  # dilation
    ((2, 3, 8, 9), 3, 4, 1, "same", 1),  # even kernel: padding (1, 2)
    ((1, 2, 6, 6), 2, 3, 2, 0, 1),  # the last row and column are read by no output
    ((1, 2, 4, 5), 2, 2, 1, 3, 1),  # more padding than kernel: outputs of padding alone
    ((2, 3, 5, 6), 3, 1, 1, 0, 1),  # one tap
    ((1, 2, 1, 1), 2, 3, 1, 1, 1),  # one input position
    ((3, 5, 40), 5, 3, 1, 1, 1),  # 1-D
    ((2, 4, 17), 8, 5, 3, 2, 2),  # 1-D, strided, dilated, two per channel
    ((2, 3, 5, 6, 5), 3, 3, 1, 1, 1),  # 3-D
    ((1, 2, 6, 5, 7), 4, (3, 2, 3), (2, 1, 2), (1, 0, 1), (1, 2, 1)),  # 3-D, mixed
    ((2, 8, 9, 8), 8, 3, 1, 1, 1, 2),  # grouped: 4 input and 4 output channels a group
    ((2, 12, 7, 9), 6, 3, 2, 1, 1, 3),  # 4 in, 2 out a group, strided
    ((1, 8, 6, 6), 16, 3, 1, 2, 2, 2),  # 4 in, 8 out a group (the most taken directly), dilated
    ((2, 16, 5, 5), 8, 3, 1, 1, 1, 2),  # 8 in a group: one gemm per group, the same numbers
    ((2, 6, 11), 9, 5, 2, 2, 1, 3),  # 1-D, 2 in, 3 out a group
]


def _run(xs, o, k, stride, padding, dilation, groups=None, bias=True, dtype=np.float64, x_np=None, w_np=None, need=(True, True)):
    dims = len(xs) - 2
    groups = xs[1] if groups is None else groups
    k, stride, dilation = _tuple(k, dims), _tuple(stride, dims), _tuple(dilation, dims)
    r = rng()
    x_np = r.normal(size=xs) if x_np is None else x_np
    w_np = r.normal(size=(o, xs[1] // groups) + k) if w_np is None else w_np
    b_np = r.normal(size=o) if bias else None
    conv = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}[dims]
    x = fg.tensor(x_np.astype(dtype), requires_grad=need[0])
    w = fg.tensor(w_np.astype(dtype), requires_grad=need[1])
    b = fg.tensor(b_np.astype(dtype), requires_grad=True) if bias else None
    out = conv(x, w, b, stride=stride, padding=padding, dilation=dilation, groups=groups)
    g_np = r.normal(size=out.shape)
    (out * fg.tensor(g_np.astype(dtype))).sum().backward()
    ref = np_grouped(x_np, w_np, b_np, g_np, stride, _pads(padding, k, dilation, dims), dilation, groups)
    return (out, x.grad, w.grad, b.grad if bias else None), ref


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0]}-o{c[1]}-k{c[2]}-s{c[3]}-p{c[4]}-d{c[5]}" + (f"-g{c[6]}" if len(c) > 6 else ""))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_depthwise_matches_numpy(case, dtype):
    got, ref = _run(*case, dtype=dtype)
    tol = 1e-11 if dtype == np.float64 else 2e-5
    for name, a, e in zip(("output", "input grad", "weight grad", "bias grad"), got, ref):
        assert a.dtype == fg.float64 if dtype == np.float64 else fg.float32
        assert a.shape == e.shape, name
        np.testing.assert_allclose(a.detach().numpy(), e, rtol=tol, atol=tol * 10, err_msg=name)


def test_depthwise_without_bias_and_one_gradient():
    for need in [(True, False), (False, True)]:
        got, ref = _run((2, 3, 9, 8), 3, 3, 1, 1, 1, bias=False, need=need)
        np.testing.assert_allclose(got[0].detach().numpy(), ref[0], rtol=1e-12, atol=1e-12)
        for have, grad, e in zip(need, got[1:3], ref[1:3]):
            if have:
                np.testing.assert_allclose(grad.numpy(), e, rtol=1e-12, atol=1e-12)
            else:
                assert grad is None


@pytest.mark.parametrize("stride,n", [(1, 2), (2, 2), (1, 14)])
def test_depthwise_non_finite_values_stay_where_they_are_read(stride, n):
    # A NaN or infinite input or weight reaches exactly the results whose sums read it: the
    # stride-1 path computes whole planes at the padded row pitch, and the columns it drops
    # must not multiply an input (or a weight) that no output reads through that tap.
    r = rng()
    # At stride 1 small planes run stacked, several images to a run (14: a stack of 11 and a
    # short one): the values must not reach the images beside theirs either.
    x = r.normal(size=(n, 3, 7, 8))
    x[0, 0, 2, 7] = np.nan
    x[0, 1, 6, 0] = np.inf
    x[n - 1, 2, 3, 3] = -np.inf
    x[n // 2, 0, 0, 0] = np.nan
    w = r.normal(size=(3, 1, 3, 3))
    w[1, 0, 0, 2] = np.inf
    got, ref = _run((n, 3, 7, 8), 3, 3, stride, 1, 1, x_np=x, w_np=w)
    for name, a, e in zip(("output", "input grad", "weight grad", "bias grad"), got, ref):
        a = a.detach().numpy()
        assert np.array_equal(np.isnan(a), np.isnan(e)), name
        assert np.array_equal(np.isinf(a), np.isinf(e)), name
        fin = np.isfinite(e)
        np.testing.assert_allclose(a[fin], e[fin], rtol=1e-12, atol=1e-12, err_msg=name)


def test_depthwise_gradcheck_and_gradgradcheck_float64():
    r = rng()
    x = fg.tensor(r.normal(size=(1, 2, 5, 4)), requires_grad=True)
    w = fg.tensor(r.normal(size=(4, 1, 3, 2)), requires_grad=True)
    b = fg.tensor(r.normal(size=4), requires_grad=True)
    for stride in (1, 2):
        def fn(x, w, b, stride=stride):
            return F.conv2d(x, w, b, stride=stride, padding=1, groups=2)
        assert fg.autograd.gradcheck(fn, (x, w, b))
        assert fg.autograd.gradgradcheck(fn, (x, w, b))


def test_depthwise_layer_matches_dense_conv_with_block_diagonal_weight():
    # nn.Conv2d(groups=C) against the same convolution as a dense (one-group) one whose
    # weight is zero off its diagonal blocks: independent of the references above.
    r = rng()
    m = fg.nn.Conv2d(4, 8, 3, padding=1, groups=4, dtype=fg.float64)
    x = fg.tensor(r.normal(size=(2, 4, 6, 6)))
    dense = np.zeros((8, 4, 3, 3))
    for o in range(8):
        dense[o, o // 2] = m.weight.detach().numpy()[o, 0]
    want = F.conv2d(x, fg.tensor(dense), m.bias.detach(), padding=1)
    np.testing.assert_allclose(m(x).detach().numpy(), want.numpy(), rtol=1e-12, atol=1e-12)
