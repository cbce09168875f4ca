"""Op-table rows for the resampling family (F.interpolate in every mode, the Upsample layers,
F.affine_grid, F.grid_sample), gathered by op_table.py. Each row: a numpy reference from
tests/sample_reference.py (PyTorch's kernel formulas, scalar loops),
float64 gradcheck, and PyTorch's values in tests/golden/op_table_golden.json (ids start with
"samp_"; regenerate with `PYTHONPATH=python /tmp/torchvenv/bin/python tests/golden/make_op_golden.py samp_`).
"""

from __future__ import annotations

from op_table import In, Op
from sample_reference import np_affine_grid, np_grid_sample, np_interpolate

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
    for _mode in ("bilinear", "nearest", "bicubic"):
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
