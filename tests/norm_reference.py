"""numpy references for the norm/lazy family: instance norm (and its running-stat update), RMS
norm, local response norm, PyTorch's CrossMapLRN2d, bilinear and embedding_bag. Written from the
formulas in PyTorch's documentation, loop by loop where that is clearer than vectorised."""

from __future__ import annotations

import numpy as np


def np_instance_norm(x, weight=None, bias=None, eps=1e-5, running=None, momentum=0.1):
    """Normalises each (n, c) over the spatial dims. running=(mean, var): returns also the updated
    running stats (batch mean of per-instance stats, unbiased variance)."""
    axes = tuple(range(2, x.ndim))
    mean = x.mean(axis=axes, keepdims=True)
    var = x.var(axis=axes, keepdims=True)
    out = (x - mean) / np.sqrt(var + eps)
    shape = (1, -1) + (1,) * (x.ndim - 2)
    if weight is not None:
        out = out * weight.reshape(shape)
    if bias is not None:
        out = out + bias.reshape(shape)
    if running is None:
        return out
    m = int(np.prod(x.shape[2:]))
    rm, rv = running
    inst_mean = mean.reshape(x.shape[0], x.shape[1]).mean(0)
    inst_var = (var.reshape(x.shape[0], x.shape[1]) * m / (m - 1)).mean(0)
    return out, (1 - momentum) * rm + momentum * inst_mean, (1 - momentum) * rv + momentum * inst_var


def np_instance_norm_eval(x, rm, rv, weight=None, bias=None, eps=1e-5):
    shape = (1, -1) + (1,) * (x.ndim - 2)
    out = (x - rm.reshape(shape)) / np.sqrt(rv.reshape(shape) + eps)
    if weight is not None:
        out = out * weight.reshape(shape)
    if bias is not None:
        out = out + bias.reshape(shape)
    return out


def np_rms_norm(x, k, weight=None, eps=None):
    eps = np.finfo(x.dtype).eps if eps is None else eps
    axes = tuple(range(x.ndim - k, x.ndim))
    out = x / np.sqrt((x * x).mean(axis=axes, keepdims=True) + eps)
    return out if weight is None else out * weight


def np_local_response_norm(x, size, alpha=1e-4, beta=0.75, k=1.0):
    c = x.shape[1]
    sq = x * x
    div = np.zeros_like(x)
    for ch in range(c):
        lo, hi = max(ch - size // 2, 0), min(ch + (size - 1) // 2, c - 1)
        div[:, ch] = sq[:, lo:hi + 1].sum(axis=1) / size
    return x / (k + alpha * div) ** beta


def np_cross_map_lrn2d(x, size, alpha=1e-4, beta=0.75, k=1.0):
    """PyTorch's running-sum loop, transcribed (channel 0 is never subtracted)."""
    c = x.shape[1]
    sq = x * x
    pre_pad = int((size - 1) / 2 + 1)
    scale = np.zeros_like(x)
    scale[:, 0] = sq[:, :min(pre_pad, c)].sum(axis=1)
    for ch in range(1, c):
        scale[:, ch] = scale[:, ch - 1]
        if ch < c - pre_pad + 1:
            scale[:, ch] += sq[:, ch + pre_pad - 1]
        if ch > pre_pad:
            scale[:, ch] -= sq[:, ch - pre_pad]
    scale = scale * alpha / size + k
    return x * scale ** -beta


def np_bilinear(x1, x2, w, b=None):
    out = np.einsum("...i,oij,...j->...o", x1, w, x2)
    return out if b is None else out + b


def np_embedding_bag(idx, weight, offsets=None, mode="mean", per_sample_weights=None, include_last_offset=False,
                     padding_idx=None):
    if idx.ndim == 2:
        bags = [list(range(i * idx.shape[1], (i + 1) * idx.shape[1])) for i in range(idx.shape[0])]
        flat = idx.reshape(-1)
        psw = None if per_sample_weights is None else per_sample_weights.reshape(-1)
    else:
        flat, psw = idx, per_sample_weights
        ends = list(offsets[1:]) + ([] if include_last_offset else [len(idx)])
        starts = list(offsets[:-1] if include_last_offset else offsets)
        bags = [list(range(s, e)) for s, e in zip(starts, ends)]
    out = np.zeros((len(bags), weight.shape[1]))
    for b, members in enumerate(bags):
        members = [j for j in members if padding_idx is None or flat[j] != padding_idx]
        if not members:
            continue
        rows = weight[flat[members]]
        if psw is not None:
            rows = rows * psw[members][:, None]
        out[b] = {"sum": rows.sum(0), "mean": rows.mean(0), "max": rows.max(0)}[mode]
    return out
