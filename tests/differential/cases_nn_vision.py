"""The vision family against PyTorch: F.pad (every mode, crops, ranks PyTorch refuses), the
padding layers, pixel/channel shuffles, Unflatten, one_hot and normalize (see cases_nn.py for how
a case runs: outputs, input gradients and errors are compared).

Not drawn: circular padding that wraps more than the elements left after a negative pad crops
(e.g. (3, -1) on a dim of 3). PyTorch checks only the uncropped size and then copies from its
output into itself: uninitialised values or an overlapping-memory error; ferrograd refuses.
"""

from __future__ import annotations

import numpy as np
from cases_nn import ModuleFn, layer_args
from harness import Args, Case, seeds, shapes, tensors
from hypothesis import assume
from hypothesis import strategies as st

MODES = ("constant", "reflect", "replicate", "circular")


def _circular_overwraps(shape, pad) -> bool:
    for k in range(len(pad) // 2):
        left, right = pad[2 * k], pad[2 * k + 1]
        size = shape[len(shape) - 1 - k]
        kept = size - max(-left, 0) - max(-right, 0)
        if kept >= 0 and (max(left, 0) > kept or max(right, 0) > kept) and left <= size and right <= size:
            return True
    return False


@st.composite
def _pad_args(draw):
    mode = draw(st.sampled_from(MODES))
    if mode == "constant":
        shape = draw(shapes(0, 5, max_side=4))
        n = draw(st.integers(0, len(shape)))
    else:
        n = draw(st.integers(1, 3))
        rank = n + draw(st.sampled_from([1, 2, 2, 0, 3]))  # 0 and 3: ranks PyTorch refuses, errors compared
        shape = draw(shapes(rank, rank, min_side=draw(st.sampled_from([0, 1, 1, 1])), max_side=4))
    pad = tuple(draw(st.lists(st.integers(-4, 5), min_size=2 * n, max_size=2 * n)))
    if mode == "circular" and len(shape) >= n and _circular_overwraps(shape, pad):
        pad = tuple(max(p, 0) for p in pad)
        if _circular_overwraps(shape, pad):
            pad = (0,) * len(pad)
    dt = draw(st.sampled_from(("float32", "float64", "float32", "int64", "bool")))
    x = draw(tensors(shape, dt, low=-3, high=3))
    kw = {"mode": mode}
    if mode == "constant" and draw(st.booleans()):
        kw["value"] = draw(st.sampled_from([0.0, 1.5, -2.0, 3]))
    elif draw(st.integers(0, 9)) == 0:
        kw["value"] = draw(st.sampled_from([0.0, 1.0]))  # non-zero: PyTorch's "doesn't take in value" error
    return Args([x, pad], kw, draw(seeds))


_PAD_LAYERS = {"ZeroPad": "constant", "ConstantPad": "constant", "ReflectionPad": "reflect",
               "ReplicationPad": "replicate", "CircularPad": "circular"}


@st.composite
def _pad_ctor(draw, family, d):
    sides = 2 * d
    lo = -1 if family != "CircularPad" else 0
    padding = draw(st.integers(0, 2) | st.lists(st.integers(lo, 3), min_size=sides, max_size=sides).map(tuple))
    c = {"padding": padding}
    if family == "ConstantPad":
        c["value"] = draw(st.sampled_from([0.0, 0.5, -3.0]))
    return c


def _pad_shape(d):
    # a rank short of what the layer takes now and then: the errors (CircularPad's ValueError) are compared
    return lambda c: st.integers(d, d + 2).flatmap(lambda r: shapes(r, r, min_side=3, max_side=4))


LAYERS = [
    Case(f"nn.{fam}{d}d", ModuleFn(lambda L, fam=fam, d=d, **c: getattr(L.nn, f"{fam}{d}d")(**c)),
         layer_args(_pad_shape(d), _pad_ctor(fam, d)))
    for fam in _PAD_LAYERS for d in (1, 2, 3)
]


@st.composite
def _shuffle_ctor(draw, key):
    return {key: draw(st.integers(1, 3) | st.integers(-1, 0))}


def _shuffle_shape(kind):
    @st.composite
    def make(draw, c):
        r = max(next(iter(c.values())), 1)
        lead = tuple(draw(shapes(0, 2, min_side=1, max_side=2)))
        if kind == "up":
            ch, h, w = r * r * draw(st.integers(1, 2)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
        elif kind == "down":
            ch, h, w = draw(st.integers(1, 2)), r * draw(st.integers(1, 2)), r * draw(st.integers(1, 2))
        else:
            ch, h, w = r * draw(st.integers(1, 3)), draw(st.integers(1, 2)), draw(st.integers(1, 2))
            lead = lead[:1] or (1,)
        if draw(st.integers(0, 7)) == 0:  # indivisible: the errors are compared
            ch, h, w = ch + 1, h + 1, w + 1
        return (*lead, ch, h, w)

    return lambda c: make(c)


LAYERS += [
    Case("nn.PixelShuffle", ModuleFn(lambda L, **c: L.nn.PixelShuffle(**c)),
         layer_args(_shuffle_shape("up"), _shuffle_ctor("upscale_factor"))),
    Case("nn.PixelUnshuffle", ModuleFn(lambda L, **c: L.nn.PixelUnshuffle(**c)),
         layer_args(_shuffle_shape("down"), _shuffle_ctor("downscale_factor"))),
    Case("nn.ChannelShuffle", ModuleFn(lambda L, **c: L.nn.ChannelShuffle(**c)),
         layer_args(_shuffle_shape("channel"), _shuffle_ctor("groups"))),
]


@st.composite
def _unflatten_ctor(draw):
    a, b = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    sizes = draw(st.sampled_from([(a, b), (a, -1), (-1, b), (a,), (a, 1, b)]))
    return {"dim": draw(st.integers(-2, 1)), "unflattened_size": sizes}


def _unflatten_shape(c):
    n = 1
    for s in c["unflattened_size"]:
        n *= abs(s)
    size = st.sampled_from([n, n, n, n + 1])  # n + 1 now and then: the error is compared
    if c["dim"] == 0:
        return size.map(lambda m: (m, 2))
    if c["dim"] == -1:
        return size.map(lambda m: (2, 1, m))
    return size.map(lambda m: (2, m, 3))  # dim 1 or -2


LAYERS.append(Case("nn.Unflatten", ModuleFn(lambda L, **c: L.nn.Unflatten(**c)),
                   layer_args(_unflatten_shape, _unflatten_ctor())))


# ----------------------------------------------------------------------------- functional forms


@st.composite
def _shuffle_fn_args(draw, kind):
    c = draw(_shuffle_ctor("r"))
    shape = draw(_shuffle_shape(kind)(c))
    x = draw(tensors(shape, draw(st.sampled_from(("float32", "float64", "int64"))), low=-3, high=3))
    return Args([x, c["r"]], {}, draw(seeds))


@st.composite
def _one_hot_args(draw):
    shape = draw(shapes(0, 3, max_side=3))
    hi = draw(st.integers(0, 5))
    t = draw(tensors(shape, "int64", low=-1 if draw(st.integers(0, 9)) == 0 else 0, high=hi, grad=False))
    kw = {} if draw(st.booleans()) else {"num_classes": draw(st.integers(-1, 7))}
    return Args([t], kw, draw(seeds))


@st.composite
def _normalize_args(draw):
    shape = draw(shapes(1, 3, min_side=1, max_side=4))
    # finite inputs only: Tensor.norm's backward does not propagate NaN/inf as PyTorch's does
    # ((inf, 0) with p=1 gives grad (nan, 0), PyTorch (nan, nan)); requested in notes/requests.md
    x = draw(tensors(shape, draw(st.sampled_from(("float32", "float64"))), low=-3, high=3, nonfinite=False))
    # Nor nonzero values whose square underflows: PyTorch's norm backward divides x |x|^(p-2)
    # by norm^(p-1), both 0 there, and its gradient is NaN (0 / 0) where ferrograd's is exact.
    a = np.abs(x.base)
    assume(not ((a > 0) & (a < np.sqrt(np.finfo(x.base.dtype).tiny) * 4)).any())
    # Nor tiny nonzero values, which make tiny norms under any view: the gradient's terms are of
    # size g / norm, and where they cancel (an input along its own direction, as an expanded row
    # is) what rounding leaves is that large too: 6e-8 in 3 columns expanded to 2 rows gave
    # -0.25 against PyTorch's 0, both noise.
    assume(not ((a > 0) & (a < 1e-3)).any())
    kw = {"p": draw(st.sampled_from([2.0, 1.0, 3.0, float("inf"), 0.5])), "dim": draw(st.integers(-len(shape), len(shape) - 1)),
          "eps": draw(st.sampled_from([1e-12, 1e-3, 10.0]))}
    # Nor a norm within rounding of eps: the gradient jumps there (x / eps or x / norm), and a
    # last-bit difference in the norm picks the other side (x = [0.001], p = 0.5, eps = 1e-3).
    # Checked on the base array, transposed as the drawn view does (other views, rarely drawn,
    # are not undone here).
    p = kw["p"]
    for v in x.view:
        a = np.swapaxes(a, -2, -1) if v == ("T",) else None
        if a is None:
            break
    if a is not None:
        norm = a.max(axis=kw["dim"]) if p == float("inf") else (a.astype(np.float64) ** p).sum(axis=kw["dim"]) ** (1 / p)
        assume(not (np.abs(norm - kw["eps"]) <= 1e-4 * kw["eps"]).any())
    return Args([x], kw, draw(seeds))


def _F(L):
    return L.nn.functional


FUNCTIONAL = [
    Case("F.pad", lambda L, x, pad, **kw: _F(L).pad(x, pad, **kw), _pad_args()),
    Case("F.pixel_shuffle", lambda L, x, r: _F(L).pixel_shuffle(x, r), _shuffle_fn_args("up")),
    Case("F.pixel_unshuffle", lambda L, x, r: _F(L).pixel_unshuffle(x, r), _shuffle_fn_args("down")),
    Case("F.channel_shuffle", lambda L, x, g: _F(L).channel_shuffle(x, g), _shuffle_fn_args("channel")),
    # PyTorch has no derivative for native_channel_shuffle: the harness skips gradients when its backward raises
    Case("F.native_channel_shuffle", lambda L, x, g: _F(L).native_channel_shuffle(x, g), _shuffle_fn_args("channel")),
    Case("F.one_hot", lambda L, t, **kw: _F(L).one_hot(t, **kw), _one_hot_args()),
    Case("F.normalize", lambda L, x, **kw: _F(L).normalize(x, **kw), _normalize_args(), tol=5),
]

ALL = LAYERS + FUNCTIONAL
