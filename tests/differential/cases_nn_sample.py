"""The resampling family against PyTorch: F.interpolate in every mode (sizes and odd scale
factors, align_corners, recompute_scale_factor), the Upsample layers, F.affine_grid and
F.grid_sample (2-D and 3-D, every mode and padding mode); values, gradients and errors.

Not drawn for the gradient (PyTorch's backward disagrees with its own forward, README trap list):
* nearest on 3-D/5-D input with a given scale whose output size equals the input size or twice
  it: the forward uses floor(i / scale), the backward kernel the exact 1x / 2x shortcut;
* bicubic with a given scale and an output the size of the input: the backward copies.
Those inputs are compared forward only (the "(torch backward shortcut)" cases).
antialias=True with a given scale and an axis whose size does not change is drawn with
recompute_scale_factor=True: PyTorch's forward leaves that axis alone, its backward resamples it
with 1 / scale (torch.autograd.gradcheck fails on it). antialias=True with an output width of 1 is not drawn: PyTorch 2.15 then returns the same value
for every output row of a plane (its vertical pass is wrong; ferrograd's matches the numpy
reference in tests/test_sampling.py).
Not drawn at all: NaN/inf grid coordinates (PyTorch casts NaN to int64 in its kernels: the result
depends on undefined behaviour).
"""

from __future__ import annotations

import math

import numpy as np
from cases_nn import ModuleFn, layer_args
from harness import FLOATS, Args, Case, T, seeds, tensors
from hypothesis import strategies as st

_SCALES = [0.5, 0.7, 1.0, 1.1, 1.3, 1.5, 1.7, 2.0, 2.2, 2.5, 3.0, 1 / 3]
_RANK = {"nearest": (3, 4, 5), "nearest-exact": (3, 4, 5), "area": (3, 4, 5), "linear": (3,), "bilinear": (4,),
         "bicubic": (4,), "trilinear": (5,)}


def _out_sizes(shape, kw):
    spatial = shape[2:]
    if kw.get("size") is not None:
        size = kw["size"]
        return list(size) if isinstance(size, (tuple, list)) else [size] * len(spatial)
    sf = kw["scale_factor"]
    sf = list(sf) if isinstance(sf, (tuple, list)) else [sf] * len(spatial)
    return [int(math.floor(n * s)) for n, s in zip(spatial, sf)]


def torch_backward_shortcut(shape, kw) -> bool:
    """True where PyTorch's interpolate backward takes a shortcut its forward does not."""
    if kw.get("scale_factor") is None or kw.get("recompute_scale_factor") or kw["mode"] not in ("nearest", "bicubic"):
        return False
    out = _out_sizes(shape, kw)
    spatial = list(shape[2:])
    if kw["mode"] == "nearest":
        return len(spatial) in (1, 3) and any(o in (n, 2 * n) for o, n in zip(out, spatial))
    return out == spatial and not kw.get("align_corners")


@st.composite
def interp_kw(draw, mode, rank, shortcut=None):
    """(shape, kwargs) for interpolate; shortcut True/False draws only inputs in/out of the regime above."""
    d = rank - 2
    n = draw(st.integers(0 if draw(st.integers(0, 7)) == 0 else 1, 2))
    shape = (n, draw(st.integers(1, 2))) + tuple(draw(st.integers(1, 6)) for _ in range(d))
    kw = {"mode": mode}
    if shortcut is None and draw(st.booleans()):
        size = [draw(st.integers(1, 9)) for _ in range(d)]
        kw["size"] = size[0] if d == 1 and draw(st.booleans()) else tuple(size)
    else:
        if shortcut:  # scales just above 1 or 2 keep out == in or out == 2 * in for small sides
            sf = tuple(draw(st.sampled_from([1.1, 1.15, 2.1] if mode == "nearest" else [1.1, 1.15])) for _ in range(d))
        else:
            sf = tuple(draw(st.sampled_from(_SCALES)) for _ in range(d))
        kw["scale_factor"] = sf[0] if draw(st.booleans()) and len(set(sf)) == 1 else sf
        kw["recompute_scale_factor"] = draw(st.sampled_from([None, False, True])) if not shortcut else None
    if mode not in ("nearest", "nearest-exact", "area"):
        kw["align_corners"] = draw(st.sampled_from([None, False, True])) if not shortcut else False
    return shape, kw


@st.composite
def _interp_args(draw, mode, shortcut=False, nonfinite=True):
    rank = draw(st.sampled_from(_RANK[mode]))
    shape, kw = draw(interp_kw(mode, rank, shortcut=True if shortcut else None))
    if not shortcut and torch_backward_shortcut(shape, kw):
        kw["recompute_scale_factor"] = True  # the same sizes, placed by in / out: no shortcut
    x = draw(tensors(shape, draw(st.sampled_from(FLOATS)), low=-3, high=3, nonfinite=nonfinite))
    return Args([x], kw, draw(seeds))


def _interpolate(L, x, **kw):
    return L.nn.functional.interpolate(x, **kw)


FUNCTIONAL = []
for _mode in _RANK:
    FUNCTIONAL.append(Case(f"F.interpolate({_mode})", _interpolate, _interp_args(_mode), tol=20))
for _mode in ("nearest", "bicubic"):
    FUNCTIONAL.append(Case(f"F.interpolate({_mode}, torch backward shortcut)", _interpolate,
                           _interp_args(_mode, shortcut=True), grad=False, tol=20))


@st.composite
def _bad_interp_args(draw):
    """Argument mistakes: both raise (types recorded) or both succeed."""
    shape = draw(st.sampled_from([(1, 1, 4), (1, 1, 3, 3), (1, 4), (1, 1, 2, 2, 2), (1, 0, 3)]))
    kw = draw(st.sampled_from([
        {"size": 2, "scale_factor": 2.0}, {}, {"size": (2, 2)}, {"scale_factor": (2.0, 2.0, 2.0)},
        {"size": 0}, {"scale_factor": -1.0}, {"size": 3, "recompute_scale_factor": True},
        {"size": 3, "mode": "nearest", "align_corners": True}, {"size": 3, "mode": "area", "align_corners": False},
        {"size": 3, "mode": "linear"}, {"size": 3, "mode": "bilinear"}, {"size": 3, "mode": "trilinear"},
        {"size": 3, "mode": "bicubic"}, {"size": 3, "mode": "cubic"}, {"size": 3, "antialias": True},
        {"size": 3, "mode": "nearest-exact", "align_corners": None}, {"scale_factor": 0.1, "mode": "area"},
    ]))
    x = draw(tensors(shape, "float32", nonfinite=False))
    return Args([x], kw, draw(seeds))


FUNCTIONAL.append(Case("F.interpolate(argument errors)", _interpolate, _bad_interp_args()))


@st.composite
def _aa_args(draw):
    mode = draw(st.sampled_from(["bilinear", "bicubic"]))
    shape, kw = draw(interp_kw(mode, 4))
    if kw.get("scale_factor") is not None and any(o == n for o, n in zip(_out_sizes(shape, kw), shape[2:])):
        kw["recompute_scale_factor"] = True  # PyTorch's antialias backward bug (see above)
    if _out_sizes(shape, kw)[1] == 1:  # PyTorch's antialias bug with an output width of 1 (see above)
        kw = {**kw, "size": (_out_sizes(shape, kw)[0], 2), "scale_factor": None, "recompute_scale_factor": None}
    kw["antialias"] = True
    x = draw(tensors(shape, draw(st.sampled_from(FLOATS)), low=-3, high=3, nonfinite=True))
    return Args([x], kw, draw(seeds))


FUNCTIONAL.append(Case("F.interpolate(antialias)", _interpolate, _aa_args(), tol=20))

# ----------------------------------------------------------------------------- layers


def _ups_ctor(kind):
    @st.composite
    def make(draw):
        if kind == "Upsample":
            mode = draw(st.sampled_from(list(_RANK)))
            rank = draw(st.sampled_from(_RANK[mode]))
        else:
            mode, rank = ("nearest" if kind == "UpsamplingNearest2d" else "bilinear"), 4
        shape, kw = draw(interp_kw(mode, rank))
        if torch_backward_shortcut(shape, kw):
            kw["recompute_scale_factor"] = True
        c = {k: v for k, v in kw.items() if k in ("size", "scale_factor")}
        if kind == "Upsample":
            c.update({k: v for k, v in kw.items() if k in ("mode", "align_corners", "recompute_scale_factor")})
        c["_shape"] = shape
        return c

    return make()


def _make_upsample(kind):
    def make(L, _shape=None, **c):
        return getattr(L.nn, kind)(**c)

    return make


LAYERS = [
    Case(f"nn.{kind}", ModuleFn(_make_upsample(kind)),
         layer_args(lambda c: st.just(c["_shape"]), _ups_ctor(kind), dtypes_=FLOATS, nonfinite=True), tol=20)
    for kind in ("Upsample", "UpsamplingNearest2d", "UpsamplingBilinear2d")
]

# ----------------------------------------------------------------------------- affine_grid, grid_sample


@st.composite
def _grid_args(draw, rank):
    d = rank - 2
    n = draw(st.integers(1, 2))
    dt = draw(st.sampled_from(FLOATS))
    shape = (n, draw(st.integers(1, 2))) + tuple(draw(st.integers(1, 5)) for _ in range(d))
    out = tuple(draw(st.integers(1, 4)) for _ in range(d))
    x = draw(tensors(shape, dt, low=-3, high=3, nonfinite=True))
    g = draw(tensors((n, *out, d), dt, low=-1.6, high=1.6, nonfinite=False))
    kw = {"mode": draw(st.sampled_from(["bilinear", "nearest", "bicubic"])),
          "padding_mode": draw(st.sampled_from(["zeros", "border", "reflection"])),
          "align_corners": draw(st.sampled_from([False, True]))}
    return Args([x, g], kw, draw(seeds))


@st.composite
def _affine_args(draw, rank):
    d = rank - 2
    n = draw(st.integers(1, 2))
    th = draw(tensors((n, d, d + 1), draw(st.sampled_from(FLOATS)), low=-2, high=2, nonfinite=False))
    size = (n, draw(st.integers(1, 3))) + tuple(draw(st.integers(1, 5)) for _ in range(d))
    return Args([th], {"size": size, "align_corners": draw(st.sampled_from([False, True]))}, draw(seeds))


def _sample_after_affine(L, x, th, align_corners):
    F = L.nn.functional
    grid = F.affine_grid(th, list(x.shape), align_corners=align_corners)
    return F.grid_sample(x, grid, align_corners=align_corners)


@st.composite
def _stn_args(draw):
    n = draw(st.integers(1, 2))
    dt = draw(st.sampled_from(FLOATS))
    x = draw(tensors((n, 2, draw(st.integers(2, 5)), draw(st.integers(2, 5))), dt, nonfinite=False))
    th = draw(tensors((n, 2, 3), dt, low=-1.2, high=1.2, nonfinite=False))
    # Off the round values hypothesis shrinks to: a theta of ones puts sample points exactly on
    # pixel centres and image edges, where bilinear sampling has no derivative and each library
    # takes a one-sided one depending on how its grid rounded (0.179 apart on one such input).
    th = T(th.base + np.asarray(0.0123, th.base.dtype), th.view, th.grad)
    return Args([x, th], {"align_corners": draw(st.booleans())}, draw(seeds))


@st.composite
def _stn_identity_args(draw):
    """The spatial transformer at its usual initialisation, the identity theta: its grid lands on
    pixel centres, so theta's gradient depends on the grid's last bit (tests/test_grid_golden.py)."""
    n, dt = draw(st.integers(1, 2)), draw(st.sampled_from(FLOATS))
    x = draw(tensors((n, 2, draw(st.integers(2, 9)), draw(st.integers(2, 9))), dt, nonfinite=False))
    th = T(np.repeat(np.eye(2, 3, dtype=dt)[None], n, 0), (), True)
    return Args([x, th], {"align_corners": draw(st.booleans())}, draw(seeds))


FUNCTIONAL += [
    Case("F.grid_sample(2-D)", lambda L, x, g, **kw: L.nn.functional.grid_sample(x, g, **kw), _grid_args(4), tol=50),
    Case("F.grid_sample(3-D)", lambda L, x, g, **kw: L.nn.functional.grid_sample(x, g, **kw), _grid_args(5), tol=50),
    Case("F.affine_grid(2-D)", lambda L, th, **kw: L.nn.functional.affine_grid(th, **kw), _affine_args(4), tol=20),
    Case("F.affine_grid(3-D)", lambda L, th, **kw: L.nn.functional.affine_grid(th, **kw), _affine_args(5), tol=20),
    Case("affine_grid+grid_sample", _sample_after_affine, _stn_args(), tol=50),
    Case("affine_grid+grid_sample(identity theta)", _sample_after_affine, _stn_identity_args(), tol=50),
]

ALL = LAYERS + FUNCTIONAL
