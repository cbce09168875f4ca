"""The convolution family against PyTorch: F.conv1d/2d/3d, F.conv_transpose1d/2d/3d, F.unfold and
F.fold on drawn shapes and arguments (batched and unbatched, stride, padding incl. 'same'/'valid',
output_padding, dilation, groups, bias, strided input layouts), and the layers Conv1d/2d/3d
(every padding mode) and ConvTranspose1d/2d/3d (with output_size=). See cases_nn.py for how a
case runs: outputs, input and parameter gradients and errors are compared.

Not drawn: shapes whose kernel is larger than the padded input (both libraries refuse; the
message is checked in tests/test_conv_nd.py), and reflect padding wider than the input (F.pad's
own refusal, the vision family's cases).
"""

from __future__ import annotations

from cases_nn import ModuleFn, _with_nonfinite, layer_args
from harness import FLOATS, Args, Case, seeds, tensors
from hypothesis import strategies as st


def _tup(draw, dims, lo, hi):
    """An int or a tuple of `dims` ints in [lo, hi]."""
    if draw(st.booleans()):
        return draw(st.integers(lo, hi))
    return tuple(draw(st.integers(lo, hi)) for _ in range(dims))


def _each(v, dims):
    return v if isinstance(v, tuple) else (v,) * dims


@st.composite
def _conv_spec(draw, dims, transposed=False):
    """Constructor-style arguments plus the input's spatial size, always valid for PyTorch."""
    groups = draw(st.integers(1, 2))
    c = {"in_channels": groups * draw(st.integers(1, 2)), "out_channels": groups * draw(st.integers(1, 2)),
         "kernel_size": _tup(draw, dims, 1, 3), "stride": _tup(draw, dims, 1, 2), "dilation": _tup(draw, dims, 1, 2),
         "groups": groups, "bias": draw(st.booleans())}
    k, s, d = (_each(c[n], dims) for n in ("kernel_size", "stride", "dilation"))
    if transposed:
        c["padding"] = _tup(draw, dims, 0, 1)
        p = _each(c["padding"], dims)
        # output_padding below max(stride, dilation); the output at least 1 long
        c["output_padding"] = tuple(draw(st.integers(0, max(s[i], d[i]) - 1)) for i in range(dims))
        need = [max(0, 2 * p[i] - d[i] * (k[i] - 1)) for i in range(dims)]
        size = tuple(max(draw(st.integers(1, 4)), 1 - (-need[i] // s[i])) for i in range(dims))
    else:
        if draw(st.integers(0, 3)) == 0:
            c["padding"] = draw(st.sampled_from(["same", "valid"] if all(v == 1 for v in s) else ["valid"]))
        else:
            c["padding"] = _tup(draw, dims, 0, 2)
        p = (0,) * dims if isinstance(c["padding"], str) else _each(c["padding"], dims)
        # at least one output position: size + 2p >= d * (k - 1) + 1
        size = tuple(max(draw(st.integers(1, 5)), d[i] * (k[i] - 1) + 1 - 2 * p[i]) for i in range(dims))
    return c, size


def _dt():
    return st.sampled_from(FLOATS)


@st.composite
def _fn_args(draw, dims, transposed):
    c, size = draw(_conv_spec(dims, transposed))
    dt = draw(_dt())
    batch = () if draw(st.integers(0, 4)) == 0 else (draw(st.integers(1, 3)),)
    cin, cout, g = c["in_channels"], c["out_channels"], c["groups"]
    k = _each(c["kernel_size"], dims)
    x = draw(tensors(batch + (cin,) + size, dt, low=-3, high=3, nonfinite=False))
    wshape = (cin, cout // g) if transposed else (cout, cin // g)
    w = draw(tensors(wshape + k, dt, low=-1, high=1, nonfinite=False))
    b = draw(tensors((cout,), dt, nonfinite=False)) if c["bias"] else None
    names = ("stride", "padding", "output_padding", "groups", "dilation") if transposed else (
        "stride", "padding", "dilation", "groups")
    return Args([x, w, b], {n: c[n] for n in names}, draw(seeds))


FUNCTIONAL = []
for _d in (1, 2, 3):
    FUNCTIONAL += [
        Case(f"F.conv{_d}d", lambda L, *xs, _d=_d, **kw: getattr(L.nn.functional, f"conv{_d}d")(*xs, **kw),
             _fn_args(_d, False), tol=20),
        Case(f"F.conv_transpose{_d}d",
             lambda L, *xs, _d=_d, **kw: getattr(L.nn.functional, f"conv_transpose{_d}d")(*xs, **kw),
             _fn_args(_d, True), tol=20),
    ]
# A transposed convolution's weight gradient multiplies every input value by every tap, the
# taps that fall in the cropped padding by a zero gradient, so a NaN input makes its channel's
# whole weight gradient NaN in ferrograd (any batch, any groups) and in PyTorch for one image
# with groups=1. For a batch of several images, or groups > 1, PyTorch takes another path that skips
# those taps: on a (2, 1, 2, 2) input with a NaN at [0, 0, 0, 0], weight (1, 1, 2, 2) and padding
# 1, its gradient is NaN at [0, 0, 1, 1] only, where for the same input's first image alone it
# is NaN everywhere. Where PyTorch disagrees with itself, only its one-image path is compared.
def _shape(t):
    """The shape of input `t` after its views (see harness._apply_view)."""
    shape = list(t.base.shape)
    for v in t.view:
        if v[0] == "T":
            shape[-2:] = shape[-1], shape[-2]
        elif v[0] == "step":
            shape[v[1]] = -(-shape[v[1]] // v[2])
        elif v[0] == "offset":
            shape[v[1]] -= 1
        elif v[0] == "expand":
            shape = list(v[1])
    return shape


def _one_image_ungrouped(a, dims=2):
    shape = _shape(a.inputs[0])
    return a.kw.get("groups", 1) == 1 and (len(shape) == dims + 1 or shape[0] == 1)


FUNCTIONAL += [Case(f"{c.id}(nonfinite)", c.fn,
                    c.args.map(_with_nonfinite).filter(lambda a, _t="transpose" in c.id: not _t or _one_image_ungrouped(a)),
                    tol=c.tol)
               for c in list(FUNCTIONAL) if c.id in ("F.conv1d", "F.conv3d", "F.conv_transpose2d")]


@st.composite
def _fold_args(draw, fold):
    k = _tup(draw, 2, 1, 3)
    d = _tup(draw, 2, 1, 2)
    p = _tup(draw, 2, 0, 1)
    s = _tup(draw, 2, 1, 2)
    kk, dd, pp, ss = (_each(v, 2) for v in (k, d, p, s))
    size = tuple(max(draw(st.integers(1, 5)), dd[i] * (kk[i] - 1) + 1 - 2 * pp[i]) for i in range(2))
    c = draw(st.integers(1, 3))
    batch = () if draw(st.integers(0, 4)) == 0 else (draw(st.integers(1, 2)),)
    dt = draw(_dt())
    kw = {"kernel_size": k, "dilation": d, "padding": p, "stride": s}
    if fold:
        blocks = 1
        for i in range(2):
            blocks *= (size[i] + 2 * pp[i] - dd[i] * (kk[i] - 1) - 1) // ss[i] + 1
        x = draw(tensors(batch + (c * kk[0] * kk[1], blocks), dt, nonfinite=False))
        return Args([x], {"output_size": size, **kw}, draw(seeds))
    x = draw(tensors(batch + (c,) + size, dt, nonfinite=False))
    return Args([x], kw, draw(seeds))


FUNCTIONAL += [
    Case("F.unfold", lambda L, x, **kw: L.nn.functional.unfold(x, **kw), _fold_args(False)),
    Case("F.fold", lambda L, x, **kw: L.nn.functional.fold(x, **kw), _fold_args(True)),
]


def _widest_pad(c, dims):
    """The largest padding on either side of each dim (padding='same' puts the odd one after)."""
    if c["padding"] == "same":
        k, d = _each(c["kernel_size"], dims), _each(c["dilation"], dims)
        return tuple(d[i] * (k[i] - 1) - d[i] * (k[i] - 1) // 2 for i in range(dims))
    return (0,) * dims if c["padding"] == "valid" else _each(c["padding"], dims)


@st.composite
def _layer_ctor(draw, dims, transposed):
    c, size = draw(_conv_spec(dims, transposed))
    if not transposed:
        # F.pad's limits: reflect needs padding < size, circular padding <= size
        p = _widest_pad(c, dims)
        modes = ["zeros", "zeros", "replicate"]
        modes += ["circular"] if all(p[i] <= size[i] for i in range(dims)) else []
        modes += ["reflect"] if all(p[i] < size[i] for i in range(dims)) else []
        c["padding_mode"] = draw(st.sampled_from(modes))
    c["_size"] = size
    return c


def _layer(dims, transposed):
    name = f"ConvTranspose{dims}d" if transposed else f"Conv{dims}d"

    def make(L, _size, **c):
        return getattr(L.nn, name)(**c)

    def input_shape(c):
        return st.integers(0, 3).map(lambda n: ((n,) if n else ()) + (c["in_channels"],) + c["_size"])

    return Case(f"nn.{name}", ModuleFn(make), layer_args(input_shape, _layer_ctor(dims, transposed)), tol=20)


LAYERS = [_layer(d, t) for d in (1, 2, 3) for t in (False, True)]


@st.composite
def _output_size_args(draw):
    """ConvTranspose2d.forward(x, output_size=...) anywhere in PyTorch's valid range."""
    c, size = draw(_conv_spec(2, True))
    c["output_padding"] = 0
    k, s, d, p = (_each(c[n], 2) for n in ("kernel_size", "stride", "dilation", "padding"))
    lo = [(size[i] - 1) * s[i] - 2 * p[i] + d[i] * (k[i] - 1) + 1 for i in range(2)]
    out = tuple(lo[i] + draw(st.integers(0, s[i] - 1)) for i in range(2))
    x = draw(tensors((draw(st.integers(1, 2)), c["in_channels"]) + size, "float32", nonfinite=False))
    seed = draw(seeds)
    return Args([x], {"ctor": c, "seed": seed, "output_size": out}, seed)


LAYERS.append(Case("nn.ConvTranspose2d(output_size)", ModuleFn(lambda L, **c: L.nn.ConvTranspose2d(**c)),
                   _output_size_args(), tol=20))

ALL = FUNCTIONAL + LAYERS
