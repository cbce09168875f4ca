"""numpy references for the convolution family, written from PyTorch's definitions: the
cross-correlation over the zero-padded input (one einsum per kernel tap), the transposed
convolution by scatter (one einsum per tap onto a strided slice), and unfold/fold block by block.
Used by tests/test_conv_nd.py and tests/op_rows_conv.py."""

from __future__ import annotations

import itertools

import numpy as np


def np_conv(x, w, b=None, stride=1, pads=0, dilation=1, groups=1):
    """N-D cross-correlation over the zero-padded input, one einsum per kernel tap and group.
    pads: an int or one (before, after) pair per spatial dim."""
    dims = w.ndim - 2
    stride = (stride,) * dims if isinstance(stride, int) else tuple(stride)
    dilation = (dilation,) * dims if isinstance(dilation, int) else tuple(dilation)
    pads = [(pads, pads)] * dims if isinstance(pads, int) else list(pads)
    xp = np.pad(x, [(0, 0), (0, 0)] + pads)
    o, cg = w.shape[:2]
    k = w.shape[2:]
    out_sp = [(xp.shape[2 + i] - dilation[i] * (k[i] - 1) - 1) // stride[i] + 1 for i in range(dims)]
    og = o // groups
    out = np.zeros((x.shape[0], o, *out_sp), dtype=np.result_type(x, w))
    for g in range(groups):
        xg, wg = xp[:, g * cg:(g + 1) * cg], w[g * og:(g + 1) * og]
        for tap in itertools.product(*(range(kk) for kk in k)):
            sl = tuple(slice(t * d, t * d + s * (n - 1) + 1, s) for t, d, s, n in zip(tap, dilation, stride, out_sp))
            out[:, g * og:(g + 1) * og] += np.einsum("nc...,oc->no...", xg[(slice(None), slice(None)) + sl],
                                                     wg[(slice(None), slice(None)) + tap])
    if b is not None:
        out += b.reshape((1, -1) + (1,) * dims)
    return out


def np_conv_transpose(x, w, b=None, stride=1, padding=0, output_padding=0, dilation=1, groups=1):
    """N-D transposed convolution by scatter: every kernel tap adds x @ w[:, :, tap] onto a
    strided slice of the full output, which then loses `padding` at both ends."""
    dims = w.ndim - 2
    tup = lambda v: (v,) * dims if isinstance(v, int) else tuple(v)  # noqa: E731
    stride, padding, output_padding, dilation = map(tup, (stride, padding, output_padding, dilation))
    cin, cog = w.shape[:2]
    k, insp = w.shape[2:], x.shape[2:]
    full = [(insp[i] - 1) * stride[i] + dilation[i] * (k[i] - 1) + 1 + output_padding[i] for i in range(dims)]
    cig = cin // groups
    out = np.zeros((x.shape[0], cog * groups, *full), dtype=np.result_type(x, w))
    for g in range(groups):
        xg, wg = x[:, g * cig:(g + 1) * cig], w[g * cig:(g + 1) * cig]
        for tap in itertools.product(*(range(kk) for kk in k)):
            sl = tuple(slice(t * d, t * d + s * (n - 1) + 1, s) for t, d, s, n in zip(tap, dilation, stride, insp))
            out[(slice(None), slice(g * cog, (g + 1) * cog)) + sl] += np.einsum(
                "nc...,co->no...", xg, wg[(slice(None), slice(None)) + tap])
    out = out[(slice(None), slice(None)) + tuple(slice(p, f - p) for p, f in zip(padding, full))]
    if b is not None:
        out = out + b.reshape((1, -1) + (1,) * dims)
    return out


def np_unfold(x, k, d=(1, 1), p=(0, 0), s=(1, 1)):
    """Block by block: row (c, i, j), column (oy, ox) holds x[c, oy*s + i*d - p, ox*s + j*d - p]."""
    xp = np.pad(x, ((0, 0), (0, 0), (p[0], p[0]), (p[1], p[1])))
    n, c = x.shape[:2]
    oh = (xp.shape[2] - d[0] * (k[0] - 1) - 1) // s[0] + 1
    ow = (xp.shape[3] - d[1] * (k[1] - 1) - 1) // s[1] + 1
    out = np.zeros((n, c, k[0], k[1], oh, ow))
    for i, j in itertools.product(range(k[0]), range(k[1])):
        out[:, :, i, j] = xp[:, :, i * d[0]:i * d[0] + s[0] * (oh - 1) + 1:s[0], j * d[1]:j * d[1] + s[1] * (ow - 1) + 1:s[1]]
    return out.reshape(n, c * k[0] * k[1], oh * ow)


def _pair(v):
    return v if isinstance(v, tuple) else (v, v)


def blocks(size, kernel_size, dilation=1, padding=0, stride=1):
    """The number of sliding blocks along (H, W), as F.unfold counts them."""
    k, d, p, s = map(_pair, (kernel_size, dilation, padding, stride))
    return [(size[i] + 2 * p[i] - d[i] * (k[i] - 1) - 1) // s[i] + 1 for i in range(2)]


def np_fold(cols, size, kernel_size, dilation=1, padding=0, stride=1):
    """fold as the adjoint of np_unfold: scatter each column entry back onto its position."""
    k, d, p, s = map(_pair, (kernel_size, dilation, padding, stride))
    n = cols.shape[0]
    c = cols.shape[1] // (k[0] * k[1])
    oh, ow = blocks(size, k, d, p, s)
    out = np.zeros((n, c, size[0] + 2 * p[0], size[1] + 2 * p[1]))
    parts = cols.reshape(n, c, k[0], k[1], oh, ow)
    for i, j in itertools.product(range(k[0]), range(k[1])):
        out[:, :, i * d[0]:i * d[0] + s[0] * (oh - 1) + 1:s[0], j * d[1]:j * d[1] + s[1] * (ow - 1) + 1:s[1]] += parts[:, :, i, j]
    return out[:, :, p[0]:p[0] + size[0], p[1]:p[1] + size[1]]
