"""Creation functions: shapes, dtypes (inferred and given), requires_grad, and values where they
are deterministic. Sizes include 0 and, now and then, a negative one (both must raise)."""

from __future__ import annotations

import numpy as np
from harness import ALL_DTYPES, Args, Case, seeds, shapes, tensors
from hypothesis import strategies as st

_DT = st.none() | st.sampled_from(ALL_DTYPES)


def _dt(L, name):
    return None if name is None else getattr(L, name)


@st.composite
def _size_args(draw, dtypes_=_DT, grad=True):
    size = list(draw(shapes(max_dims=3)))
    if size and draw(st.integers(0, 15)) == 0:
        size[0] = -1
    # zeros() with no size at all is a TypeError in torch; the empty size goes in as a tuple
    kw = {"size": tuple(size), "as_tuple": not size or draw(st.booleans()), "dtype": draw(dtypes_)}
    if grad:
        kw["requires_grad"] = draw(st.booleans()) and kw["dtype"] in (None, "float32", "float64")
    return Args([], kw, draw(seeds))


def _sized(name):
    def fn(L, size, as_tuple, dtype, **kw):
        f = getattr(L, name)
        return f(size, dtype=_dt(L, dtype), **kw) if as_tuple else f(*size, dtype=_dt(L, dtype), **kw)

    return fn


_NUM = st.integers(-5, 5) | st.floats(-5, 5, allow_nan=False, allow_infinity=False) | st.booleans()


@st.composite
def _full_args(draw):
    a = draw(_size_args(grad=False))
    a.kw["fill"] = draw(_NUM | st.sampled_from([float("nan"), float("inf")]))
    return a


# Integers a double cannot hold, and ones too wide for narrow dtypes: they must be stored
# exactly or refused, never rounded (half dtypes left out: PyTorch fills one element with inf
# where it refuses two).
_BIG_INT = st.sampled_from([300, -129, 2**31, 2**53 + 1, 2**60 + 3, -(2**62) - 1, 2**63 - 1, -(2**63)])
_BIG_INT_DT = st.none() | st.sampled_from(["int64", "int32", "uint8", "float32", "float64"])


@st.composite
def _big_full_args(draw):
    a = draw(_size_args(dtypes_=_BIG_INT_DT, grad=False))
    a.kw["fill"] = draw(_BIG_INT)
    return a


@st.composite
def _big_arange_args(draw):
    start = draw(st.sampled_from([2**53, 2**60, -(2**62), 2**63 - 20]))
    args = (start, start + draw(st.integers(-3, 12)), draw(st.sampled_from([1, 3, -1, -4])))
    return Args([], {"args": args, "dtype": draw(st.none() | st.just("int64"))}, draw(seeds))


@st.composite
def _arange_args(draw):
    num = st.integers(-5, 5) | st.floats(-5, 5, allow_nan=False, allow_infinity=False).map(lambda v: round(v, 2))
    form = draw(st.sampled_from(["end", "start_end", "start_end_step"]))
    kw = {"args": (draw(num),) if form == "end" else (draw(num), draw(num))}
    if form == "start_end_step":
        kw["args"] += (draw(st.sampled_from([1, 2, -1, 0.5, -0.25, 0])),)
    kw["dtype"] = draw(st.none() | st.sampled_from(["float32", "float64", "int64"]))
    return Args([], kw, draw(seeds))


@st.composite
def _linspace_args(draw):
    num = st.integers(-5, 5) | st.floats(-5, 5, allow_nan=False, allow_infinity=False)
    return Args([], {"start": draw(num), "end": draw(num), "steps": draw(st.integers(-1, 6)),
                     "dtype": draw(st.none() | st.sampled_from(["float32", "float64"]))}, draw(seeds))


@st.composite
def _eye_args(draw):
    return Args([], {"n": draw(st.integers(-1, 4)), "m": draw(st.none() | st.integers(0, 4)), "dtype": draw(_DT)},
                draw(seeds))


@st.composite
def _like_args(draw, fill=False, dtypes_=_DT):
    x = draw(tensors(draw(shapes()), draw(st.sampled_from(ALL_DTYPES)), grad=False))
    kw = {"dtype": draw(dtypes_)}
    if fill:
        kw["fill"] = draw(_NUM)
    return Args([x], kw, draw(seeds))


@st.composite
def _data(draw):
    """Nested Python lists (or a scalar) of numbers of one kind or mixed, for tensor()/as_tensor()."""
    shape = draw(shapes(max_dims=3, max_side=3))
    kinds = draw(st.sampled_from(["int", "float", "bool", "mixed"]))
    elem = {"int": st.integers(-5, 5), "float": st.floats(-5, 5) | st.sampled_from([float("nan"), float("inf")]),
            "bool": st.booleans(), "mixed": _NUM}[kinds]
    flat = draw(st.lists(elem, min_size=int(np.prod(shape)), max_size=int(np.prod(shape))))
    data = np.array(flat, dtype=object).reshape(shape).tolist() if shape else flat[0]
    return Args([], {"data": data, "dtype": draw(st.none() | st.sampled_from(ALL_DTYPES)),
                     "requires_grad": draw(st.booleans())}, draw(seeds))


@st.composite
def _np_data(draw):
    x = draw(tensors(draw(shapes()), draw(st.sampled_from(ALL_DTYPES)), grad=False, layouts=False))
    return Args([], {"arr": x.base, "t": draw(st.booleans())}, draw(seeds))


@st.composite
def _strided_args(draw):
    size = draw(shapes(max_dims=3))
    stride = tuple(draw(st.lists(st.integers(0, 7), min_size=len(size), max_size=len(size))))
    return Args([], {"size": size, "stride": stride, "dtype": draw(_DT)}, draw(seeds))


def _empty_strided(L, size, stride, dtype):
    t = L.empty_strided(size, stride, dtype=_dt(L, dtype))
    return repr((tuple(t.shape), t.stride(), t.is_contiguous(), str(t.dtype).split(".")[-1]))


def _tensor(L, data, dtype, requires_grad):
    return L.tensor(data, dtype=_dt(L, dtype), requires_grad=requires_grad)


ALL = [
    Case("fg.zeros", _sized("zeros"), _size_args()),
    Case("fg.ones", _sized("ones"), _size_args()),
    Case("fg.empty", _sized("empty"), _size_args(), values=False),
    Case("fg.rand", _sized("rand"), _size_args(st.none() | st.sampled_from(["float32", "float64"])), values=False),
    Case("fg.randn", _sized("randn"), _size_args(st.none() | st.sampled_from(["float32", "float64"])), values=False),
    Case("fg.full", lambda L, size, as_tuple, dtype, fill: L.full(size, fill, dtype=_dt(L, dtype)), _full_args()),
    Case("fg.arange", lambda L, args, dtype: L.arange(*args, dtype=_dt(L, dtype)), _arange_args()),
    Case("fg.full(big int)", lambda L, size, as_tuple, dtype, fill: L.full(size, fill, dtype=_dt(L, dtype)), _big_full_args()),
    Case("Tensor.fill_(big int)", lambda L, size, as_tuple, dtype, fill: L.zeros(size, dtype=_dt(L, dtype)).fill_(fill),
         _big_full_args()),
    Case("fg.arange(big ints)", lambda L, args, dtype: L.arange(*args, dtype=_dt(L, dtype)), _big_arange_args()),
    Case("fg.linspace", lambda L, start, end, steps, dtype: L.linspace(start, end, steps, dtype=_dt(L, dtype)),
         _linspace_args(), tol=5),
    Case("fg.eye", lambda L, n, m, dtype: L.eye(n, m, dtype=_dt(L, dtype)) if m is not None else L.eye(
        n, dtype=_dt(L, dtype)), _eye_args()),
    Case("fg.zeros_like", lambda L, x, dtype: L.zeros_like(x, dtype=_dt(L, dtype)), _like_args()),
    Case("fg.ones_like", lambda L, x, dtype: L.ones_like(x, dtype=_dt(L, dtype)), _like_args()),
    Case("fg.empty_like", lambda L, x, dtype: L.empty_like(x, dtype=_dt(L, dtype)), _like_args(), values=False),
    Case("fg.empty_strided", _empty_strided, _strided_args()),
    Case("fg.full_like", lambda L, x, dtype, fill: L.full_like(x, fill, dtype=_dt(L, dtype)), _like_args(fill=True)),
    # rand_like of an int64 tensor: torch raises, except for empty tensors; drawn with float dtypes only
    Case("fg.rand_like", lambda L, x, dtype: L.rand_like(x, dtype=_dt(L, dtype)),
         _like_args(dtypes_=st.sampled_from(["float32", "float64"])), values=False),
    Case("fg.randn_like", lambda L, x, dtype: L.randn_like(x, dtype=_dt(L, dtype)),
         _like_args(dtypes_=st.sampled_from(["float32", "float64"])), values=False),
    Case("fg.randint", lambda L, lo, hi, size: L.randint(lo, hi, size),
         st.builds(lambda lo, d, s, seed: Args([], {"lo": lo, "hi": lo + d, "size": s}, seed), st.integers(-3, 3),
                   st.integers(-1, 4), shapes(max_dims=2), seeds), values=False),
    Case("fg.randperm(sorted)", lambda L, n: (L.randperm(n).sort().values if L.__name__ == "torch" else L.tensor(
        sorted(L.randperm(n).tolist()), dtype=L.int64)) if n > 0 else L.randperm(n),
         st.builds(lambda n, seed: Args([], {"n": n}, seed), st.integers(-1, 6), seeds)),
    Case("fg.tensor", _tensor, _data()),
    Case("fg.as_tensor", lambda L, data, dtype, requires_grad: L.as_tensor(data, dtype=_dt(L, dtype)), _data()),
    Case("fg.tensor(ndarray)", lambda L, arr, t: L.tensor(arr.T if t else arr), _np_data()),
    Case("fg.from_numpy", lambda L, arr, t: L.from_numpy(np.ascontiguousarray(arr.T) if t else arr.copy()), _np_data()),
]
