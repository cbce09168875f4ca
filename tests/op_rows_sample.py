"""Op-table rows for the resampling family (F.interpolate in every mode, the Upsample layers,
F.affine_grid, F.grid_sample), gathered by op_table.py. Each row: a numpy reference written from
PyTorch's kernel formulas with scalar loops (tests/test_sampling.py uses the same references),
float64 gradcheck, and PyTorch's values in tests/golden/op_table_golden.json (ids start with
"samp_"; regenerate with `PYTHONPATH=python /tmp/torchvenv/bin/python tests/golden/make_op_golden.py samp_`).
"""

from __future__ import annotations

import math

import numpy as np
from op_table import In, Op

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
                for jy in range(4):
                    for jx in range(4):
                        ix = [lo[0] - 1 + jx, lo[1] - 1 + jy]
                        if padding_mode != "zeros":
                            ix = [int(_pad_coord(float(v), sizes[k], padding_mode, align_corners)) for k, v in enumerate(ix)]
                        acc += wts[0][jx] * wts[1][jy] * read(ix)
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


# ----------------------------------------------------------------------------- rows


def _interp(size=None, scale_factor=None, mode="nearest", align_corners=None, recompute_scale_factor=None):
    kw = {"size": size, "scale_factor": scale_factor, "mode": mode}
    if align_corners is not None:
        kw["align_corners"] = align_corners
    if recompute_scale_factor is not None:
        kw["recompute_scale_factor"] = recompute_scale_factor

    def fn(L, x):
        return L.nn.functional.interpolate(x, **kw)

    def ref(a):
        return np_interpolate(a, size, scale_factor, mode, align_corners, recompute_scale_factor)

    return fn, ref


_INTERP = [
    # id suffix, input shape, kwargs
    ("nearest_1d_size", (2, 3, 5), dict(size=7)),
    ("nearest_1d_scale", (2, 2, 5), dict(scale_factor=1.7)),
    ("nearest_2d_scale2", (2, 2, 3, 4), dict(scale_factor=2)),
    ("nearest_2d_odd", (1, 2, 5, 3), dict(scale_factor=(1.5, 2.5))),
    ("nearest_2d_down", (1, 2, 7, 6), dict(size=(3, 4))),
    ("nearest_3d", (1, 2, 2, 3, 4), dict(size=(3, 5, 3))),
    ("nearest_exact_1d", (2, 2, 5), dict(size=8, mode="nearest-exact")),
    ("nearest_exact_2d", (1, 2, 5, 4), dict(scale_factor=(1.5, 0.5), mode="nearest-exact")),
    ("nearest_exact_3d", (1, 1, 3, 2, 3), dict(size=(4, 5, 2), mode="nearest-exact")),
    ("linear_1d", (2, 3, 5), dict(size=8, mode="linear", align_corners=False)),
    ("linear_1d_ac", (2, 3, 5), dict(size=8, mode="linear", align_corners=True)),
    ("linear_1d_scale", (2, 2, 4), dict(scale_factor=1.5, mode="linear", align_corners=False)),
    ("linear_1d_recompute", (2, 2, 4), dict(scale_factor=1.3, mode="linear", align_corners=False,
                                            recompute_scale_factor=True)),
    ("linear_1d_down", (1, 2, 9), dict(size=4, mode="linear", align_corners=False)),
    ("bilinear_up", (2, 2, 3, 4), dict(scale_factor=2, mode="bilinear", align_corners=False)),
    ("bilinear_up_ac", (2, 2, 3, 4), dict(scale_factor=2, mode="bilinear", align_corners=True)),
    ("bilinear_odd", (1, 2, 5, 4), dict(scale_factor=(1.3, 2.7), mode="bilinear", align_corners=False)),
    ("bilinear_down", (1, 2, 7, 8), dict(size=(3, 5), mode="bilinear", align_corners=False)),
    ("bilinear_to1_ac", (1, 2, 4, 3), dict(size=(1, 5), mode="bilinear", align_corners=True)),
    ("bicubic_up", (1, 2, 4, 5), dict(size=(7, 9), mode="bicubic", align_corners=False)),
    ("bicubic_up_ac", (1, 2, 4, 5), dict(size=(7, 9), mode="bicubic", align_corners=True)),
    ("bicubic_scale", (2, 1, 5, 4), dict(scale_factor=1.6, mode="bicubic", align_corners=False)),
    ("bicubic_down", (1, 2, 9, 8), dict(size=(4, 3), mode="bicubic", align_corners=False)),
    ("trilinear", (1, 2, 3, 2, 4), dict(size=(5, 3, 6), mode="trilinear", align_corners=False)),
    ("trilinear_ac", (1, 2, 3, 2, 4), dict(scale_factor=(2, 1.5, 0.5), mode="trilinear", align_corners=True)),
    ("area_1d", (2, 2, 7), dict(size=3, mode="area")),
    ("area_2d", (1, 2, 7, 5), dict(size=(3, 2), mode="area")),
    ("area_2d_scale", (1, 2, 6, 5), dict(scale_factor=0.5, mode="area")),
    ("area_2d_up", (1, 2, 3, 2), dict(size=(5, 5), mode="area")),
    ("area_3d", (1, 1, 4, 5, 3), dict(size=(2, 3, 2), mode="area")),
]

ROWS = []
for _suffix, _shape, _kw in _INTERP:
    _fn, _ref = _interp(**_kw)
    ROWS.append(Op(f"samp_interp_{_suffix}", _fn, [In(_shape)], ref=_ref))


def _module_row(row_id, make, shape, ref):
    return Op(row_id, lambda L, x: make(L)(x), [In(shape)], ref=ref)


ROWS += [
    _module_row("samp_Upsample_nearest", lambda L: L.nn.Upsample(scale_factor=2), (2, 2, 3, 3),
                lambda a: np_interpolate(a, scale_factor=2)),
    _module_row("samp_Upsample_bilinear_size", lambda L: L.nn.Upsample(size=(5, 7), mode="bilinear"), (1, 2, 3, 4),
                lambda a: np_interpolate(a, size=(5, 7), mode="bilinear", align_corners=False)),
    _module_row("samp_Upsample_linear_ac", lambda L: L.nn.Upsample(scale_factor=2.5, mode="linear", align_corners=True),
                (2, 2, 4), lambda a: np_interpolate(a, scale_factor=2.5, mode="linear", align_corners=True)),
    _module_row("samp_Upsample_trilinear", lambda L: L.nn.Upsample(scale_factor=(1, 2, 2), mode="trilinear"),
                (1, 1, 2, 2, 3), lambda a: np_interpolate(a, scale_factor=(1, 2, 2), mode="trilinear", align_corners=False)),
    _module_row("samp_UpsamplingNearest2d", lambda L: L.nn.UpsamplingNearest2d(size=(5, 4)), (1, 2, 3, 3),
                lambda a: np_interpolate(a, size=(5, 4))),
    _module_row("samp_UpsamplingBilinear2d", lambda L: L.nn.UpsamplingBilinear2d(scale_factor=2), (1, 2, 3, 4),
                lambda a: np_interpolate(a, scale_factor=2, mode="bilinear", align_corners=True)),
]

# affine_grid: theta (N, 2, 3) / (N, 3, 4)
for _ac in (False, True):
    _t = "_ac" if _ac else ""
    ROWS += [
        Op(f"samp_affine_grid_2d{_t}", lambda L, th, _ac=_ac: L.nn.functional.affine_grid(th, (2, 3, 4, 5), align_corners=_ac),
           [In((2, 2, 3))], ref=lambda th, _ac=_ac: np_affine_grid(th, (2, 3, 4, 5), _ac)),
        Op(f"samp_affine_grid_3d{_t}", lambda L, th, _ac=_ac: L.nn.functional.affine_grid(th, (1, 2, 3, 2, 4), align_corners=_ac),
           [In((1, 3, 4))], ref=lambda th, _ac=_ac: np_affine_grid(th, (1, 2, 3, 2, 4), _ac)),
    ]
ROWS.append(Op("samp_affine_grid_unit_h", lambda L, th: L.nn.functional.affine_grid(th, (2, 1, 1, 4), align_corners=False),
               [In((2, 2, 3))], ref=lambda th: np_affine_grid(th, (2, 1, 1, 4), False)))

# grid_sample: a "u" grid lies in [-2, 2), so about half the points fall outside the input and
# exercise the padding mode
for _mode in ("bilinear", "nearest", "bicubic"):
    for _pm in ("zeros", "border", "reflection"):
        for _ac in (False, True):
            _kw = dict(mode=_mode, padding_mode=_pm, align_corners=_ac)
            ROWS.append(Op(
                f"samp_grid_sample_{_mode}_{_pm}{'_ac' if _ac else ''}",
                lambda L, x, g, _kw=_kw: L.nn.functional.grid_sample(x, g, **_kw),
                [In((2, 2, 4, 5)), In((2, 3, 2, 2))],
                ref=lambda a, g, _kw=_kw: np_grid_sample(a, g, **_kw)))
for _pm in ("zeros", "border", "reflection"):
    for _mode in ("bilinear", "nearest"):
        _kw = dict(mode=_mode, padding_mode=_pm, align_corners=_pm == "border")
        ROWS.append(Op(
            f"samp_grid_sample_3d_{_mode}_{_pm}",
            lambda L, x, g, _kw=_kw: L.nn.functional.grid_sample(x, g, **_kw),
            [In((1, 2, 3, 2, 4)), In((1, 2, 2, 2, 3))],
            ref=lambda a, g, _kw=_kw: np_grid_sample(a, g, **_kw)))
# the spatial-transformer pattern: grid from theta, sample, both differentiable
ROWS.append(Op(
    "samp_affine_then_grid_sample",
    lambda L, x, th: L.nn.functional.grid_sample(x, L.nn.functional.affine_grid(th, (2, 2, 3, 4), align_corners=False),
                                                 align_corners=False),
    [In((2, 2, 4, 5)), In((2, 2, 3), "unit")],
    ref=lambda a, th: np_grid_sample(a, np_affine_grid(th, (2, 2, 3, 4), False))))
