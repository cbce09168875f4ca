"""numpy references for the vision family (F.pad, pixel/channel shuffles, normalize), shared by
tests/op_rows_vision.py and tests/test_vision_layers.py; written from the definitions, by loops
where the implementation reshapes."""

from __future__ import annotations

import numpy as np

_NP_MODE = {"constant": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def np_pad(a, pad, mode="constant", value=0.0):
    """F.pad's meaning in numpy: `pad` last dim first; negative amounts crop (before padding)."""
    widths = [(0, 0)] * a.ndim
    crop = [slice(None)] * a.ndim
    for k in range(len(pad) // 2):
        left, right = pad[2 * k], pad[2 * k + 1]
        d = a.ndim - 1 - k
        crop[d] = slice(max(-left, 0), a.shape[d] - max(-right, 0))
        widths[d] = (max(left, 0), max(right, 0))
    a = a[tuple(crop)]
    if mode == "constant":
        return np.pad(a, widths, mode="constant", constant_values=value)
    return np.pad(a, widths, mode=_NP_MODE[mode])


def np_pixel_shuffle(a, r):
    """out[..., c, h*r + i, w*r + j] = in[..., c*r*r + i*r + j, h, w], by loops."""
    *b, c, h, w = a.shape
    out = np.empty((*b, c // (r * r), h * r, w * r), a.dtype)
    for oc in range(c // (r * r)):
        for i in range(r):
            for j in range(r):
                out[..., oc, i::r, j::r] = a[..., oc * r * r + i * r + j, :, :]
    return out


def np_pixel_unshuffle(a, r):
    *b, c, h, w = a.shape
    out = np.empty((*b, c * r * r, h // r, w // r), a.dtype)
    for ic in range(c):
        for i in range(r):
            for j in range(r):
                out[..., ic * r * r + i * r + j, :, :] = a[..., ic, i::r, j::r]
    return out


def np_channel_shuffle(a, g):
    """Output channel j*g + i is input channel i*k + j (k = C / g)."""
    c = a.shape[1]
    k = c // g
    out = np.empty_like(a)
    for i in range(g):
        for j in range(k):
            out[:, j * g + i] = a[:, i * k + j]
    return out


def np_normalize(a, p=2.0, dim=1, eps=1e-12):
    n = np.sum(np.abs(a) ** p, axis=dim, keepdims=True) ** (1.0 / p)
    return a / np.maximum(n, eps)
