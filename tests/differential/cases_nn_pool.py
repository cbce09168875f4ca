"""The pooling layers and their functional forms against PyTorch over 1, 2 and 3 spatial axes:
MaxPool, AvgPool, AdaptiveAvgPool, AdaptiveMaxPool, MaxUnpool and LPPool, on hypothesis-drawn
shapes (batched and unbatched), window arguments and inputs (NaN and inf included where the op
defines them), comparing outputs, indices and input gradients. The 2-D layers of cases_nn.py stay
there; the 2-D functional forms are drawn here too, through the same strategies.

Not drawn: max pooling with both padding and dilation, where a window can lie wholly in the
padding; PyTorch then returns an index past the input and its backward writes out of bounds
(garbage gradients, heap corruption; see cases_nn.py's _pool_ctor).
"""

from __future__ import annotations

from cases_nn import ModuleFn, _fixed, _with_nonfinite, layer_args
from harness import FLOATS, Args, Case, seeds, tensors
from hypothesis import strategies as st

RANKS = (1, 2, 3)


def _sizes(n, lo, hi):
    """An int or a tuple of n ints."""
    return st.integers(lo, hi) | st.tuples(*[st.integers(lo, hi)] * n)


def _min(v):
    return min(v) if isinstance(v, tuple) else v


@st.composite
def _pool_kw(draw, n, kind):
    """Window arguments of max_pool{n}d / avg_pool{n}d / lp_pool{n}d, as the layers take them."""
    # lp_pool1d only with an int kernel: PyTorch multiplies by kernel_size itself, so a tuple there
    # raises TypeError in its mul(); ferrograd takes the tuple's product
    k = draw(st.integers(1, 3) if (kind, n) == ("lp", 1) else _sizes(n, 1, 3))
    kw = {"kernel_size": k, "stride": draw(st.none() | _sizes(n, 1, 2)), "ceil_mode": draw(st.booleans())}
    if kind == "lp":
        kw["norm_type"] = draw(st.sampled_from([1.0, 2.0, 3.0, 1.5, float("inf")]))
        return kw
    kw["padding"] = draw(st.integers(0, _min(k) // 2))
    if kind == "max":
        kw["dilation"] = draw(st.sampled_from([1, 2]) if kw["padding"] == 0 else st.just(1))
    else:
        kw["count_include_pad"] = draw(st.booleans())
        if n > 1:
            kw["divisor_override"] = draw(st.none() | st.integers(1, 3))
    return kw


def _input_shape(n, max_side=5):
    """(N, C, *S) or unbatched (C, *S) with n spatial sides."""
    side = 4 if n == 3 else max_side
    return st.tuples(st.sampled_from([(), (1,), (2,)]), st.integers(1, 2), st.lists(st.integers(1, side), min_size=n, max_size=n)).map(
        lambda t: t[0] + (t[1],) + tuple(t[2]))


@st.composite
def _out_size(draw, n):
    """adaptive output_size: an int, or (for 2-D and 3-D) a tuple that may keep sides (None)."""
    if n == 1:
        return draw(st.integers(1, 5))
    return draw(st.integers(1, 4) | st.tuples(*[st.none() | st.integers(1, 4)] * n))


def _fn_args(n, kw_st, nonfinite=True, low=-3.0, high=3.0):
    @st.composite
    def make(draw):
        shape = draw(_input_shape(n))
        x = draw(tensors(shape, draw(st.sampled_from(FLOATS)), low=low, high=high, nonfinite=nonfinite))
        return Args([x], draw(kw_st), draw(seeds))

    return make()


def _module_args(n, ctor, nonfinite=False):
    return layer_args(lambda c: _input_shape(n), ctor, modes=(True,), dtypes_=FLOATS, nonfinite=nonfinite)


def _unpool(L, x, n, kernel_size, stride, padding, sized):
    """max_pool{n}d with indices, then max_unpool{n}d (default size, or the input's)."""
    out, idx = getattr(L.nn.functional, f"max_pool{n}d")(x, kernel_size, stride, padding, return_indices=True)
    size = list(x.shape[-n:]) if sized else None
    return getattr(L.nn.functional, f"max_unpool{n}d")(out, idx, kernel_size, stride, padding, output_size=size)


def _unpool_layer(L, x, n, kernel_size, stride, padding, sized):
    out, idx = getattr(L.nn, f"MaxPool{n}d")(kernel_size, stride, padding, return_indices=True)(x)
    return getattr(L.nn, f"MaxUnpool{n}d")(kernel_size, stride, padding)(out, idx, list(x.shape[-n:]) if sized else None)


def _unpool_kw(n):
    return _fixed(kernel_size=st.integers(1, 3), stride=st.none() | st.integers(1, 2), padding=st.just(0),
                  sized=st.booleans()).map(lambda kw: {**kw, "padding": kw["kernel_size"] // 2 if kw["sized"] else 0})


@st.composite
def _lp_layer_args(draw, n):
    """LPPool layer args on inputs >= 0: ferrograd's abs() backward gives 0 where PyTorch's gives
    NaN (a NaN gradient at a NaN input, grad * sgn(x)), which a negative input to a fractional
    power reaches through lp_pool's |.| (reported in notes/requests.md)."""
    c = draw(_pool_kw(n, "lp"))
    x = draw(tensors(draw(_input_shape(n)), draw(st.sampled_from(FLOATS)), low=0.0, high=3.0, nonfinite=False))
    return Args([x], {"train": True, "ctor": c, "seed": draw(seeds)}, draw(seeds))


FUNCTIONAL = []
LAYERS = []
for _n in RANKS:
    F = f"F.max_pool{_n}d"
    FUNCTIONAL += [
        Case(F, lambda L, x, _n=_n, **kw: getattr(L.nn.functional, f"max_pool{_n}d")(x, **kw), _fn_args(_n, _pool_kw(_n, "max"))),
        Case(f"{F}(return_indices)", lambda L, x, _n=_n, **kw: getattr(L.nn.functional, f"max_pool{_n}d")(x, **kw, return_indices=True),
             _fn_args(_n, _pool_kw(_n, "max"))),
        Case(f"F.avg_pool{_n}d", lambda L, x, _n=_n, **kw: getattr(L.nn.functional, f"avg_pool{_n}d")(x, **kw),
             _fn_args(_n, _pool_kw(_n, "avg"), nonfinite=False)),
        Case(f"F.adaptive_avg_pool{_n}d", lambda L, x, o, _n=_n: getattr(L.nn.functional, f"adaptive_avg_pool{_n}d")(x, o),
             _fn_args(_n, _fixed(o=_out_size(_n)), nonfinite=False)),
        Case(f"F.adaptive_max_pool{_n}d", lambda L, x, o, _n=_n: getattr(L.nn.functional, f"adaptive_max_pool{_n}d")(x, o, True),
             _fn_args(_n, _fixed(o=_out_size(_n)))),
        Case(f"F.max_unpool{_n}d", lambda L, x, _n=_n, **kw: _unpool(L, x, _n, **kw), _fn_args(_n, _unpool_kw(_n), nonfinite=False)),
        Case(f"F.lp_pool{_n}d", lambda L, x, _n=_n, norm_type=2.0, **kw: getattr(L.nn.functional, f"lp_pool{_n}d")(x, norm_type, **kw),
             _fn_args(_n, _pool_kw(_n, "lp"), nonfinite=False, low=0.0), tol=20),
    ]
    LAYERS += [
        Case(f"nn.MaxPool{_n}d", ModuleFn(lambda L, _n=_n, **c: getattr(L.nn, f"MaxPool{_n}d")(**c)),
             _module_args(_n, _pool_kw(_n, "max"), nonfinite=True)),
        Case(f"nn.AvgPool{_n}d", ModuleFn(lambda L, _n=_n, **c: getattr(L.nn, f"AvgPool{_n}d")(**c)), _module_args(_n, _pool_kw(_n, "avg"))),
        Case(f"nn.AdaptiveAvgPool{_n}d", ModuleFn(lambda L, _n=_n, **c: getattr(L.nn, f"AdaptiveAvgPool{_n}d")(**c)),
             _module_args(_n, _fixed(output_size=_out_size(_n)))),
        Case(f"nn.AdaptiveMaxPool{_n}d", ModuleFn(lambda L, _n=_n, **c: getattr(L.nn, f"AdaptiveMaxPool{_n}d")(**c)),
             _module_args(_n, _fixed(output_size=_out_size(_n), return_indices=st.booleans()), nonfinite=True)),
        Case(f"nn.MaxUnpool{_n}d", lambda L, x, _n=_n, **kw: _unpool_layer(L, x, _n, **kw), _fn_args(_n, _unpool_kw(_n), nonfinite=False)),
        Case(f"nn.LPPool{_n}d", ModuleFn(lambda L, _n=_n, **c: getattr(L.nn, f"LPPool{_n}d")(**c)), _lp_layer_args(_n), tol=20),
    ]

# the averaging pools on inputs with a NaN or inf: propagation through sums and divisions
LAYERS += [Case(f"{c.id}(nonfinite)", c.fn, c.args.map(_with_nonfinite), tol=c.tol)
           for c in list(LAYERS) if c.id.startswith(("nn.AvgPool", "nn.AdaptiveAvgPool"))]

ALL = LAYERS + FUNCTIONAL
