"""numpy references for the resampling family, written from PyTorch's kernel formulas with scalar
loops: F.interpolate (UpSample.h, AdaptiveAveragePooling.cpp), F.affine_grid
(AffineGridGenerator.cpp) and F.grid_sample (GridSampler.h). Used by tests/op_rows_sample.py and
tests/test_sampling.py."""

from __future__ import annotations

import math

import numpy as np

# ----------------------------------------------------------------------------- interpolate reference

A = -0.75  # PyTorch's cubic convolution constant


def _cubic1(x):
    return ((A + 2) * x - (A + 3)) * x * x + 1


def _cubic2(x):
    return ((A * x - 5 * A) * x + 8 * A) * x - 4 * A


def axis_matrix(mode, n_in, n_out, scale=None, align_corners=False, rank=4):
    """(n_out, n_in) matrix M with out = M @ in along one axis, one output position at a time,
    from PyTorch's CPU kernels (UpSample.h: area_pixel_compute_source_index, nearest_idx,
    guard_index_and_lambda, get_cubic_upsample_coefficients; AdaptiveAveragePooling.cpp)."""
    m = np.zeros((n_out, n_in))
    for i in range(n_out):
        if mode in ("nearest", "nearest-exact"):
            s = np.float32(1.0 / scale) if scale else np.float32(n_in) / np.float32(n_out)
            if mode == "nearest" and rank == 4 and n_out == n_in:
                src = i
            elif mode == "nearest" and rank == 4 and n_out == 2 * n_in:
                src = i // 2
            elif mode == "nearest":
                src = min(int(math.floor(np.float32(i) * s)), n_in - 1)
            else:
                src = min(int(math.floor(np.float32((i + 0.5) * float(s)))), n_in - 1)
            m[i, src] = 1.0
        elif mode == "area":
            lo, hi = (i * n_in) // n_out, -((-(i + 1) * n_in) // n_out)
            m[i, lo:hi] = 1.0 / (hi - lo)
        else:
            if align_corners:
                s = (n_in - 1) / (n_out - 1) if n_out > 1 else 0.0
                real = s * i
            else:
                s = 1.0 / scale if scale else n_in / n_out
                real = s * (i + 0.5) - 0.5
            if mode == "linear":
                if n_in == n_out:
                    m[i, i] = 1.0
                    continue
                real = max(real, 0.0) if not align_corners else real
                i0 = min(int(math.floor(real)), n_in - 1)
                lam = min(max(real - i0, 0.0), 1.0)
                m[i, i0] += 1 - lam
                m[i, min(i0 + 1, n_in - 1)] += lam
            else:  # cubic: taps i0-1 .. i0+2 clamped to the border
                i0 = min(int(math.floor(real)), n_in - 1)
                t = min(max(real - i0, 0.0), 1.0)
                for k, w in enumerate((_cubic2(t + 1), _cubic1(t), _cubic1(1 - t), _cubic2(2 - t))):
                    m[i, min(max(i0 - 1 + k, 0), n_in - 1)] += w
    return m


def np_interpolate(a, size=None, scale_factor=None, mode="nearest", align_corners=None, recompute_scale_factor=None):
    """F.interpolate in numpy: one (out x in) matrix per spatial axis, applied with tensordot."""
    spatial = a.shape[2:]
    d = len(spatial)
    axis_mode = {"bilinear": "linear", "trilinear": "linear", "bicubic": "cubic"}.get(mode, mode)
    if size is not None:
        out = list(size) if isinstance(size, (tuple, list)) else [size] * d
        scales = [None] * d
    else:
        scales = list(scale_factor) if isinstance(scale_factor, (tuple, list)) else [scale_factor] * d
        out = [int(math.floor(n * s)) for n, s in zip(spatial, scales)]
        if recompute_scale_factor or mode == "area":
            scales = [None] * d
    for k in range(d):
        m = axis_matrix(axis_mode, spatial[k], out[k], scales[k], bool(align_corners), rank=a.ndim)
        a = np.moveaxis(np.tensordot(a, m, axes=([2 + k], [1])), -1, 2 + k)
    return a


# ----------------------------------------------------------------------------- grid reference


def np_affine_grid(theta, size, align_corners):
    def lin(n):
        if n <= 1:
            return np.zeros(1)
        r = np.linspace(-1, 1, n)
        return r if align_corners else r * (n - 1) / n

    spatial = size[2:]
    pts = []
    for idx in np.ndindex(*spatial):  # (z,) y, x: x is the last spatial axis
        coords = [lin(spatial[k])[idx[k]] for k in range(len(spatial))]
        pts.append(list(reversed(coords)) + [1.0])
    base = np.array(pts)  # (P, k + 1)
    out = np.einsum("pj,nij->npi", base, theta)
    return out.reshape(size[0], *spatial, len(spatial))


def _reflect(x, twice_low, twice_high):
    if twice_low == twice_high:
        return 0.0
    low, span = twice_low / 2, (twice_high - twice_low) / 2
    x = abs(x - low)
    extra, flips = math.fmod(x, span), math.floor(x / span)
    return extra + low if flips % 2 == 0 else span - extra + low


def _pad_coord(x, n, padding_mode, align_corners):
    if padding_mode == "border":
        return min(max(x, 0.0), n - 1)
    if padding_mode == "reflection":
        x = _reflect(x, 0, 2 * (n - 1)) if align_corners else _reflect(x, -1, 2 * n - 1)
        return min(max(x, 0.0), n - 1)
    return x


def np_grid_sample(a, grid, mode="bilinear", padding_mode="zeros", align_corners=False):
    """grid_sample by loops over output points (PyTorch's GridSampler.h formulas)."""
    n, c = a.shape[:2]
    spatial = a.shape[2:]
    d = len(spatial)
    out = np.zeros((n, c) + grid.shape[1:-1])
    sizes = [spatial[d - 1 - k] for k in range(d)]  # x, y(, z)
    for b in range(n):
        for pos in np.ndindex(*grid.shape[1:-1]):
            g = grid[(b,) + pos]
            if align_corners:
                real = [(g[k] + 1) / 2 * (sizes[k] - 1) for k in range(d)]
            else:
                real = [((g[k] + 1) * sizes[k] - 1) / 2 for k in range(d)]

            def read(ix, b=b):
                if any(v < 0 or v >= sizes[k] for k, v in enumerate(ix)):
                    return np.zeros(c)
                return a[(b, slice(None)) + tuple(reversed(ix))]

            if mode == "bicubic":
                lo = [math.floor(r) for r in real]
                t = [r - f for r, f in zip(real, lo)]
                wts = [(_cubic2(tk + 1), _cubic1(tk), _cubic1(1 - tk), _cubic2(2 - tk)) for tk in t]
                acc = np.zeros(c)
                for taps in np.ndindex(*(4,) * d):
                    ix = [lo[k] - 1 + j for k, j in enumerate(taps)]
                    if padding_mode != "zeros":
                        ix = [int(_pad_coord(float(v), sizes[k], padding_mode, align_corners)) for k, v in enumerate(ix)]
                    acc += np.prod([wts[k][j] for k, j in enumerate(taps)]) * read(ix)
                out[(b, slice(None)) + pos] = acc
                continue
            real = [_pad_coord(r, sizes[k], padding_mode, align_corners) for k, r in enumerate(real)]
            if mode == "nearest":
                out[(b, slice(None)) + pos] = read([int(np.round(r)) for r in real])
                continue
            lo = [math.floor(r) for r in real]
            acc = np.zeros(c)
            for corner in np.ndindex(*(2,) * d):
                w = 1.0
                for k, bit in enumerate(corner):
                    w *= (real[k] - lo[k]) if bit else (lo[k] + 1 - real[k])
                acc += w * read([lo[k] + bit for k, bit in enumerate(corner)])
            out[(b, slice(None)) + pos] = acc
    return out
