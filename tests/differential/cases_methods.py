"""The composite Tensor methods of python/ferrograd/_methods against PyTorch, one row per call.

Index tensors are drawn in range most of the time and one past an end now and then (to compare
the errors). Where PyTorch's choice among equal values depends on its selection algorithm
(topk, kthvalue, median and mode indices), values are drawn distinct; sort is compared with
stable=True on inputs with ties.
"""

from __future__ import annotations

import numpy as np
from harness import ALL_DTYPES, FLOATS, Args, Case, T, dim_kw, nary, seeds, shapes, tensors, unary
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

NUM = ("float32", "float64", "int64")
F64 = ("float64",)


def _dim(shape, extra=0):
    nd = len(shape)
    return st.integers(-nd - extra, nd - 1 + extra) if nd + extra else st.just(0)


def _kw(**strats):
    return lambda shape: st.fixed_dictionaries({k: (v(shape) if callable(v) else v) for k, v in strats.items()})


@st.composite
def _index(draw, shape, size, low=0, allow_neg=False, oob=True):
    """An int64 index array of `shape` for a dim of length `size`."""
    hi = max(size - 1, 0)
    lo = -size if allow_neg else low
    if size == 0:
        return np.zeros(shape, np.int64) if int(np.prod(shape)) == 0 or not oob else np.full(shape, 0, np.int64)
    a = draw(hnp.arrays(np.int64, shape, elements=st.integers(lo, hi)))
    if oob and a.size and draw(st.integers(0, 11)) == 0:
        a.reshape(-1)[draw(st.integers(0, a.size - 1))] = draw(st.sampled_from([size, -size - 1]))
    return a


@st.composite
def _distinct(draw, shape, dtype="float64", grad=None):
    """A tensor of distinct values (a permuted grid, shifted), now and then with one NaN."""
    n = int(np.prod(shape))
    base = np.linspace(-3, 3, n) + draw(st.floats(-0.5, 0.5))
    base = np.asarray(draw(st.permutations(list(base))) if n else base, dtype=np.float64)
    if dtype == "int64":
        base = np.asarray(draw(st.permutations(list(range(-(n // 2), n - n // 2)))) if n else [], np.int64)
    elif n and draw(st.integers(0, 7)) == 0:
        base[draw(st.integers(0, n - 1))] = np.nan
    base = base.reshape(shape).astype(dtype)
    g = dtype in FLOATS and (draw(st.booleans()) if grad is None else grad)
    return T(base, grad=g)


# ----------------------------------------------------------------------------- gather / scatter


@st.composite
def _gather_args(draw, scatter=False, src=True, reduce=None):
    shape = draw(shapes(min_dims=1, max_dims=3, min_side=0))
    dt = draw(st.sampled_from(FLOATS if scatter and src else NUM))
    x = draw(tensors(shape, dt, grad=False if scatter and not src else None))
    d = draw(st.integers(-len(shape), len(shape) - 1))
    dd = d % len(shape)
    ishape = tuple(draw(st.integers(0, s)) if i != dd else draw(st.integers(0, 4)) for i, s in enumerate(shape))
    idx = T(draw(_index(ishape, shape[dd])))
    inputs = [x, d, idx]
    if scatter:
        if src:
            sshape = tuple(s + draw(st.integers(0, 1)) for s in ishape)
            inputs.append(draw(tensors(sshape, dt, layouts=False)))
        else:
            inputs.append(draw(st.floats(-3, 3) | st.integers(-3, 3)))
    kw = {}
    if reduce is not None:
        kw = {"reduce": draw(st.sampled_from(reduce)), "include_self": draw(st.booleans())}
    return Args(inputs, kw, draw(seeds))


def _in_range(a: Args, flat=False) -> bool:
    x, d, idx = _shape_of(a.inputs[0]), a.inputs[1], a.inputs[2].base
    n = int(np.prod(x)) if flat else x[d]
    return bool(((idx >= -n) & (idx < n)).all())


def _unique_dest(a: Args) -> bool:
    """scatter's result with repeated destinations depends on the write order (and its gradient
    in PyTorch goes to every duplicate): compare only inputs whose destinations are distinct."""
    _x, d, idx = a.inputs[0], a.inputs[1], a.inputs[2]
    i = idx.base
    if i.size == 0:
        return True
    dd = d % i.ndim
    coords = np.indices(i.shape).reshape(i.ndim, -1)
    coords[dd] = i.reshape(-1)
    keys = {tuple(c) for c in coords.T}
    return len(keys) == i.size


def _scatter_reduce_comparable(a: Args) -> bool:
    reduce, src, idx = a.kw["reduce"], a.inputs[3].base, a.inputs[2].base
    if reduce in ("prod", "amax", "amin") and src.shape != idx.shape:
        return False
    return reduce != "prod" or bool(np.isfinite(a.inputs[0].base).all() and np.isfinite(src).all())


GATHER = [
    Case("Tensor.gather", lambda L, x, d, i: x.gather(d, i), _gather_args()),
    Case("fg.gather", lambda L, x, d, i: L.gather(x, d, i), _gather_args()),
    # PyTorch's take_along_dim reads out of bounds without an error (ferrograd raises IndexError),
    # and with dim=None it refuses a non-contiguous input: neither is drawn.
    Case("fg.take_along_dim", lambda L, x, d, i: L.take_along_dim(x, i, d), _gather_args().filter(_in_range)),
    Case("take_along_dim(None)", lambda L, x, d, i: L.take_along_dim(x.contiguous(), i),
         _gather_args().filter(lambda a: _in_range(a, flat=True))),
    Case("Tensor.take", lambda L, x, d, i: x.take(i), _gather_args()),
    Case("Tensor.scatter(src)", lambda L, x, d, i, s: x.scatter(d, i, s),
         _gather_args(scatter=True).filter(_unique_dest)),
    Case("Tensor.scatter(value)", lambda L, x, d, i, v: x.scatter(d, i, v), _gather_args(scatter=True, src=False)),
    Case("Tensor.scatter_add", lambda L, x, d, i, s: x.scatter_add(d, i, s), _gather_args(scatter=True), tol=5),
    Case("fg.scatter_add", lambda L, x, d, i, s: L.scatter_add(x, d, i, s), _gather_args(scatter=True), tol=5),
    Case("Tensor.scatter_add_", lambda L, x, d, i, s: x.clone().scatter_add_(d, i, s), _gather_args(scatter=True), tol=5),
    Case("Tensor.scatter_(no grad)", lambda L, x, d, i, s: x.detach().scatter_(d, i, s),
         _gather_args(scatter=True).filter(_unique_dest)),
    # PyTorch's prod gradient is g * result / self even where nothing is scattered, so a NaN or
    # inf in self gets NaN there (ferrograd: g); and for prod, amax and amin, src elements outside
    # index's shape (never read) get a gradient in PyTorch: those are drawn with src of index's
    # shape, and prod with finite values.
    Case("Tensor.scatter_reduce", lambda L, x, d, i, s, **kw: x.scatter_reduce(d, i, s, **kw),
         _gather_args(scatter=True, reduce=["sum", "prod", "mean", "amax", "amin"]).filter(_scatter_reduce_comparable),
         tol=5),
    Case("scatter(reduce=add)", lambda L, x, d, i, s: x.scatter(d, i, s, reduce="add"), _gather_args(scatter=True), tol=5),
]


@st.composite
def _index_args(draw, source=True, neg=False, value=False):
    shape = draw(shapes(min_dims=1, max_dims=3, min_side=0))
    dt = draw(st.sampled_from(FLOATS if source else NUM))
    x = draw(tensors(shape, dt))
    d = draw(st.integers(-len(shape), len(shape) - 1))
    dd = d % len(shape)
    n = draw(st.integers(0, 4))
    idx = T(draw(_index((n,), shape[dd], allow_neg=neg)))
    inputs = [x, d, idx]
    if source:
        sshape = list(shape)
        sshape[dd] = n
        inputs.append(draw(tensors(tuple(sshape), dt, layouts=False)))
    if value:
        inputs.append(draw(st.floats(-3, 3) | st.integers(-3, 3)))
    return Args(inputs, {}, draw(seeds))


def _distinct_index(a: Args) -> bool:
    return len(set(a.inputs[2].base.tolist())) == a.inputs[2].base.size


INDEX = [
    Case("Tensor.index_select", lambda L, x, d, i: x.index_select(d, i), _index_args(source=False)),
    Case("fg.index_select", lambda L, x, d, i: L.index_select(x, d, i), _index_args(source=False)),
    Case("Tensor.index_add", lambda L, x, d, i, s: x.index_add(d, i, s), _index_args(), tol=5),
    Case("index_add(alpha)", lambda L, x, d, i, s: x.index_add(d, i, s, alpha=2.5), _index_args(), tol=5),
    Case("Tensor.index_add_", lambda L, x, d, i, s: x.clone().index_add_(d, i, s), _index_args(), tol=5),
    Case("Tensor.index_copy", lambda L, x, d, i, s: x.index_copy(d, i, s), _index_args().filter(_distinct_index)),
    Case("Tensor.index_fill", lambda L, x, d, i, v: x.index_fill(d, i, v),
         _index_args(source=False, neg=True, value=True)),
    Case("Tensor.index_fill_", lambda L, x, d, i, v: x.clone().index_fill_(d, i, v),
         _index_args(source=False, neg=True, value=True)),
]


@st.composite
def _put_args(draw, accumulate):
    shape = draw(shapes(min_dims=0, max_dims=3))
    dt = draw(st.sampled_from(FLOATS))
    x = draw(tensors(shape, dt))
    n = int(np.prod(shape))
    k = draw(st.integers(0, 4))
    idx = draw(_index((k,), n, allow_neg=True))
    if not accumulate:
        idx = np.asarray(list(dict.fromkeys(((i % n) if n else i) for i in idx.tolist())), np.int64)
    src = draw(tensors((idx.size,), dt, layouts=False))
    return Args([x, T(idx), src], {"accumulate": accumulate}, draw(seeds))


@st.composite
def _index_put_args(draw, accumulate):
    shape = draw(shapes(min_dims=1, max_dims=3, min_side=1))
    dt = draw(st.sampled_from(FLOATS))
    x = draw(tensors(shape, dt))
    k = draw(st.integers(1, len(shape)))
    n = draw(st.integers(0, 3))
    idxs = [T(draw(_index((n,), shape[i], allow_neg=True, oob=False))) for i in range(k)]
    if not accumulate:
        keys = list(zip(*[i.base.tolist() for i in idxs]))
        keys = [tuple(v % s for v, s in zip(key, shape)) for key in keys]
        if len(set(keys)) != len(keys):
            idxs = [T(i.base[:1]) for i in idxs]
    vshape = (idxs[0].base.size,) + tuple(shape[k:])
    v = draw(tensors(vshape, dt, layouts=False))
    return Args([x, idxs, v], {"accumulate": accumulate}, draw(seeds))


def _masked_args(value=None, source=False):
    @st.composite
    def make(draw):
        shs = draw(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=4)).input_shapes
        xs, ms = shs
        xs = tuple(np.broadcast_shapes(xs, ms)) if draw(st.booleans()) else xs
        dt = draw(st.sampled_from(FLOATS if source else ALL_DTYPES))
        x = draw(tensors(xs, dt))
        m = T(draw(hnp.arrays(np.bool_, ms)))
        inputs = [x, m]
        if value == "number":
            inputs.append(draw(st.floats(-3, 3) | st.integers(-3, 3)))
        elif value == "tensor":  # (a value that requires grad cannot fill an integer tensor)
            inputs.append(draw(tensors((), "float64", grad=None if dt in FLOATS else False)))
        if source:
            n = int(np.prod(np.broadcast_shapes(xs, ms)))
            inputs.append(draw(tensors((n + draw(st.integers(0, 2)),), dt, layouts=False)))
        return Args(inputs, {}, draw(seeds))

    return make()


def _broadcasts_to_self(a: Args) -> bool:
    xs = _shape_of(a.inputs[0])
    try:
        return np.broadcast_shapes(xs, a.inputs[1].base.shape) == xs
    except ValueError:
        return False


def _shape_of(t: T):
    import torch

    return tuple(t.build(torch)[1].shape)


def _np_of(t: T) -> np.ndarray:
    import torch

    return t.build(torch)[1].detach().numpy()


MASKS = [
    Case("fg.put", lambda L, x, i, s, accumulate: x.put(i, s, accumulate=accumulate), _put_args(False)),
    Case("put(accumulate)", lambda L, x, i, s, accumulate: x.put(i, s, accumulate=accumulate), _put_args(True), tol=5),
    Case("Tensor.put_", lambda L, x, i, s, accumulate: x.clone().put_(i, s, accumulate=accumulate), _put_args(True), tol=5),
    Case("Tensor.index_put", lambda L, x, idx, v, accumulate: x.index_put(tuple(idx), v, accumulate), _index_put_args(False)),
    Case("index_put(accumulate)", lambda L, x, idx, v, accumulate: x.index_put(tuple(idx), v, accumulate),
         _index_put_args(True), tol=5),
    Case("Tensor.index_put_", lambda L, x, idx, v, accumulate: x.clone().index_put_(tuple(idx), v, accumulate),
         _index_put_args(True), tol=5),
    Case("Tensor.masked_fill", lambda L, x, m, v: x.masked_fill(m, v), _masked_args("number")),
    Case("masked_fill(0-d)", lambda L, x, m, v: x.masked_fill(m, v), _masked_args("tensor")),
    Case("Tensor.masked_fill_", lambda L, x, m, v: x.clone().masked_fill_(m, v),
         _masked_args("number").filter(_broadcasts_to_self)),
    Case("Tensor.masked_select", lambda L, x, m: x.masked_select(m), _masked_args()),
    Case("fg.masked_select", lambda L, x, m: L.masked_select(x, m), _masked_args()),
    Case("Tensor.masked_scatter", lambda L, x, m, s: x.masked_scatter(m, s),
         _masked_args(source=True).filter(_broadcasts_to_self)),
    Case("Tensor.nonzero", lambda L, x: x.nonzero(), unary()),
    Case("nonzero(as_tuple)", lambda L, x: x.nonzero(as_tuple=True), unary(min_dims=1)),
    Case("fg.argwhere", lambda L, x: L.argwhere(x), unary()),
]

# ----------------------------------------------------------------------------- sorting


@st.composite
def _sort_args(draw, distinct=True, dtypes_=("float32", "float64", "int64"), kw=None):
    shape = draw(shapes(min_dims=0, max_dims=3))
    dt = draw(st.sampled_from(dtypes_))
    x = draw(_distinct(shape, dt)) if distinct else draw(tensors(shape, dt, low=-2, high=2))
    if not distinct and dt == "float32":  # ties: values on a coarse grid
        x = T(np.round(x.base), x.view, x.grad)
    return Args([x], draw(kw(shape)) if kw else {}, draw(seeds))


def _sort_kw(shape):
    return st.fixed_dictionaries({"dim": _dim(shape), "descending": st.booleans()})


@st.composite
def _topk_kw(draw, shape):
    d = draw(_dim(shape))
    n = shape[d] if shape else 1
    return {"k": draw(st.integers(0, n + 1)), "dim": d, "largest": draw(st.booleans())}


@st.composite
def _kth_kw(draw, shape):
    d = draw(_dim(shape))
    n = shape[d] if shape else 1
    return {"k": draw(st.integers(0, n + 1)), "dim": d, "keepdim": draw(st.booleans())}


def _dim_keep(shape):
    return st.fixed_dictionaries({"dim": _dim(shape), "keepdim": st.booleans()})


@st.composite
def _quantile_kw(draw, shape):
    kw = {"q": draw(st.floats(0, 1) | st.sampled_from([0.0, 0.25, 0.5, 1.0])),
          "interpolation": draw(st.sampled_from(["linear", "lower", "higher", "midpoint", "nearest"]))}
    if shape and draw(st.booleans()):
        kw["dim"] = draw(_dim(shape))
        kw["keepdim"] = draw(st.booleans())
    return kw


SORTING = [
    Case("Tensor.sort(stable)", lambda L, x, **kw: x.sort(stable=True, **kw),
         _sort_args(distinct=False, dtypes_=ALL_DTYPES, kw=_sort_kw)),
    Case("fg.sort", lambda L, x, **kw: L.sort(x, **kw), _sort_args(kw=_sort_kw)),
    Case("Tensor.argsort", lambda L, x, **kw: x.argsort(stable=True, **kw), _sort_args(distinct=False, kw=_sort_kw)),
    Case("fg.msort", lambda L, x: L.msort(x), _sort_args().filter(lambda a: a.inputs[0].base.ndim > 0)),
    Case("Tensor.topk", lambda L, x, **kw: x.topk(**kw), _sort_args(kw=_topk_kw)),
    Case("Tensor.kthvalue", lambda L, x, **kw: x.kthvalue(**kw), _sort_args(kw=_kth_kw)),
    Case("Tensor.median(dim)", lambda L, x, **kw: x.median(**kw), _sort_args(kw=_dim_keep)),
    Case("Tensor.median()", lambda L, x: x.median(), _sort_args(distinct=False, dtypes_=FLOATS)),
    Case("Tensor.nanmedian()", lambda L, x: x.nanmedian(), _sort_args(distinct=False, dtypes_=FLOATS)),
    Case("Tensor.nanmedian(dim)", lambda L, x, **kw: x.nanmedian(**kw), _sort_args(kw=_dim_keep).filter(
        lambda a: a.inputs[0].base.dtype.kind != "f" or np.isnan(a.inputs[0].base).sum() == 0)),
    Case("Tensor.mode", lambda L, x, **kw: x.mode(**kw), _sort_args(distinct=False, dtypes_=("int64",), kw=_dim_keep)),
    # PyTorch's quantile sorts unstably: which of equal elements gets the gradient varies, so
    # values are distinct here (ties are compared in forward by Tensor.quantile(ties)).
    Case("Tensor.quantile", lambda L, x, **kw: x.quantile(**kw), _sort_args(dtypes_=FLOATS, kw=_quantile_kw), tol=5),
    Case("Tensor.quantile(ties)", lambda L, x, **kw: x.detach().quantile(**kw),
         _sort_args(distinct=False, dtypes_=FLOATS, kw=_quantile_kw), tol=5),
    Case("Tensor.nanquantile", lambda L, x, **kw: x.nanquantile(**kw), _sort_args(dtypes_=FLOATS, kw=_quantile_kw), tol=5),
    Case("fg.unique", lambda L, x: L.unique(x, return_inverse=True, return_counts=True),
         _sort_args(distinct=False, dtypes_=("int64", "float32"))),
    Case("Tensor.unique(dim)", lambda L, x, dim: x.unique(dim=dim, return_inverse=True, return_counts=True),
         _sort_args(distinct=False, dtypes_=("int64",), kw=lambda s: st.fixed_dictionaries({"dim": _dim(s)})).filter(
             lambda a: a.inputs[0].base.ndim > 0)),
    Case("fg.unique_consecutive", lambda L, x: L.unique_consecutive(x, return_inverse=True, return_counts=True),
         _sort_args(distinct=False, dtypes_=("int64",))),
    Case("Tensor.cummax", lambda L, x, dim: x.cummax(dim), unary(kw=_kw(dim=_dim))),
    Case("Tensor.cummin", lambda L, x, dim: x.cummin(dim), unary(kw=_kw(dim=_dim))),
]

# ----------------------------------------------------------------------------- reductions


REDUCTIONS = [
    Case("Tensor.amax", lambda L, x, **kw: x.amax(**{k: v for k, v in kw.items() if v is not None}),
         unary(NUM, kw=dim_kw())),
    Case("Tensor.amin", lambda L, x, **kw: x.amin(**{k: v for k, v in kw.items() if v is not None}),
         unary(NUM, kw=dim_kw())),
    Case("Tensor.amax(ties)", lambda L, x, dim: x.amax(dim), unary(FLOATS, low=-1, high=1, kw=_kw(dim=_dim)).map(
        lambda a: Args([T(np.round(a.inputs[0].base), a.inputs[0].view, a.inputs[0].grad)], a.kw, a.seed))),
    Case("Tensor.aminmax", lambda L, x, **kw: tuple(x.aminmax(**kw)), unary(NUM, kw=lambda s: st.fixed_dictionaries(
        {"dim": st.none() | _dim(s), "keepdim": st.booleans()}))),
    Case("fg.count_nonzero", lambda L, x, **kw: L.count_nonzero(x, **kw), unary(kw=dim_kw(keepdim=False))),
    Case("Tensor.nansum", lambda L, x, **kw: x.nansum(**kw), unary(FLOATS, kw=dim_kw(allow_none=False))),
    Case("fg.nansum()", lambda L, x: L.nansum(x), unary(NUM)),
    Case("Tensor.nanmean", lambda L, x, **kw: x.nanmean(**kw), unary(FLOATS, kw=dim_kw(allow_none=False))),
    Case("fg.var_mean", lambda L, x, **kw: L.var_mean(x, **kw), unary(FLOATS, nonfinite=False, kw=dim_kw(allow_none=False)),
         tol=5, grad_when=lambda out: bool((out[0].detach().abs() > 1e-3).all())),
    Case("fg.std_mean", lambda L, x, **kw: L.std_mean(x, **kw), unary(FLOATS, nonfinite=False, kw=dim_kw(allow_none=False)),
         tol=5, grad_when=lambda out: bool((out[0].detach().abs() > 1e-3).all())),
    Case("Tensor.logcumsumexp", lambda L, x, dim: x.logcumsumexp(dim), unary(FLOATS, kw=_kw(dim=_dim)), tol=5),
    Case("Tensor.diff", lambda L, x, **kw: x.diff(**kw), unary(min_dims=1, kw=_kw(n=st.integers(0, 3), dim=_dim))),
    Case("fg.diff(prepend)", lambda L, x, p: L.diff(x, dim=-1, prepend=p), nary(2, FLOATS, scalar_ok=False).filter(
        lambda a: a.inputs[0].base.ndim >= 1 and a.inputs[1].base.ndim == a.inputs[0].base.ndim)),
]


@st.composite
def _norm_kw(draw, shape, p0=False):
    kw = {"p": 0 if p0 else draw(st.sampled_from(["fro", 1, 2, 3, 0.5, float("inf"), float("-inf"), -1]))}
    if shape and draw(st.booleans()):
        nd = len(shape)
        kw["dim"] = draw(st.integers(-nd, nd - 1) | st.lists(st.integers(0, nd - 1), min_size=1, max_size=min(nd, 2),
                                                                 unique=True).map(tuple))
        kw["keepdim"] = draw(st.booleans())
    return kw


def _norm_grad_ok(out) -> bool:
    """Norms away from 0 (torch's own gradients there are NaN or inf for p < 1)."""
    v = out.detach().abs()
    return bool(((v > 1e-3) & v.isfinite()).all())


def _no_negative_zero_for_negative_p(a: Args) -> bool:
    """Until the core's abs(-0.0) is +0.0 (notes/requests.md), |-0.0| ** p is -inf for p < 0 and a
    norm of [-0., 0.] NaN instead of 0: not drawn (drop this filter once abs is fixed)."""
    p = a.kw.get("p")
    if not isinstance(p, (int, float)) or p >= 0:
        return True
    x = a.inputs[0].base
    return not bool((np.signbit(x) & (x == 0)).any())


def _renorm_not_at_threshold(a: Args) -> bool:
    x = _np_of(a.inputs[0])
    if x.ndim < 2:
        return True
    d = a.kw["dim"] % x.ndim
    red = tuple(k for k in range(x.ndim) if k != d)
    n = (np.abs(x) ** a.kw["p"]).sum(red) ** (1 / a.kw["p"])
    return bool(np.all(np.abs(n - a.kw["maxnorm"]) > 1e-9 * max(1.0, a.kw["maxnorm"])))


NORMS = [
    Case("Tensor.norm", lambda L, x, **kw: x.norm(**kw), unary(FLOATS, kw=_norm_kw).filter(_no_negative_zero_for_negative_p),
         tol=5, grad_when=_norm_grad_ok),
    Case("fg.norm()", lambda L, x: L.norm(x), unary(FLOATS), tol=5, grad_when=_norm_grad_ok),
    # p=0 counts nonzeros: PyTorch's output requires grad but its backward leaves .grad None,
    # ferrograd's gives zeros (nothing to compare).
    Case("Tensor.norm(p=0)", lambda L, x, **kw: x.norm(**kw), unary(FLOATS, kw=lambda s: _norm_kw(s, p0=True)),
         grad=False),
    Case("fg.dist", lambda L, a, b, p: L.dist(a, b, p), nary(2, FLOATS, scalar_ok=False, same_dtype=True, kw=lambda s:
         st.fixed_dictionaries({"p": st.sampled_from([1, 2, 3, float("inf")])})), tol=5, grad_when=_norm_grad_ok),
    # (maxnorm not within rounding of a slice's norm: there the rescaling flips on the last bit)
    Case("Tensor.renorm", lambda L, x, p, dim, maxnorm: x.renorm(p, dim, maxnorm),
         unary(F64, nonfinite=False, min_dims=1, kw=_kw(p=st.sampled_from([1, 2, 3]), dim=_dim,
                                                          maxnorm=st.floats(0.1, 5))).filter(_renorm_not_at_threshold)),
]


ALL = GATHER + INDEX + MASKS + SORTING + REDUCTIONS + NORMS
