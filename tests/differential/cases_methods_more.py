"""The composite Tensor methods against PyTorch, part two: shape ops, products and linear
algebra, elementwise composites, factories and predicates, and the function-only forms (see
cases_methods.py for part one and the drawing rules)."""

from __future__ import annotations

import numpy as np
from cases_methods import (
    NUM,
    _dim,
    _index_args,
    _kw,
    _no_negative_zero_for_negative_p,
    _norm_grad_ok,
    _norm_kw,
    _np_of,
    _shape_of,
)
from harness import ALL_DTYPES, FLOATS, Args, Case, T, nary, seeds, shapes, tensors, unary
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

F64 = ("float64",)


# ----------------------------------------------------------------------------- shape ops


@st.composite
def _repeat_kw(draw, shape):
    extra = draw(st.integers(0, 2))
    return {"sizes": tuple(draw(st.integers(0, 3)) for _ in range(len(shape) + extra))}


@st.composite
def _roll_kw(draw, shape):
    if not shape or draw(st.integers(0, 3)) == 0:
        return {"shifts": draw(st.integers(-5, 5)), "dims": None}
    k = draw(st.integers(1, len(shape)))
    dims = tuple(draw(st.lists(st.integers(-len(shape), len(shape) - 1), min_size=k, max_size=k)))
    return {"shifts": tuple(draw(st.integers(-5, 5)) for _ in dims), "dims": dims}


@st.composite
def _flip_kw(draw, shape):
    nd = len(shape)
    return {"dims": tuple(draw(st.lists(st.integers(-nd, nd - 1), max_size=nd, unique_by=lambda d: d % nd)))} if nd \
        else {"dims": ()}


@st.composite
def _diag_kw(draw, shape):
    nd = max(len(shape), 1)
    return {"offset": draw(st.integers(-3, 3)), "dim1": draw(st.integers(-nd, nd - 1)), "dim2": draw(st.integers(-nd, nd - 1))}


@st.composite
def _unfold_kw(draw, shape):
    d = draw(_dim(shape))
    n = shape[d] if shape else 1
    return {"dimension": d, "size": draw(st.integers(0, n + 1)), "step": draw(st.integers(1, 3))}


@st.composite
def _movedim_kw(draw, shape):
    nd = len(shape)
    if not nd:
        return {"source": 0, "destination": 0}
    k = draw(st.integers(1, nd))
    src = draw(st.permutations(range(nd)))[:k]
    dst = draw(st.permutations(range(nd)))[:k]
    return {"source": tuple(src), "destination": tuple(dst)}


@st.composite
def _unflatten_kw(draw, shape):
    d = draw(_dim(shape))
    n = shape[d] if shape else 1
    divs = [k for k in range(1, n + 1) if n % k == 0] or [1]
    a = draw(st.sampled_from(divs))
    sizes = draw(st.sampled_from([(a, n // a if a else 0), (a, -1), (-1, a), (n,), (n + 1,)]))
    return {"dim": d, "sizes": sizes}


@st.composite
def _tensor_split_kw(draw, shape):
    d = draw(_dim(shape))
    if draw(st.booleans()):
        return {"indices_or_sections": draw(st.integers(1, 5)), "dim": d}
    return {"indices_or_sections": tuple(sorted(draw(st.lists(st.integers(-2, 6), max_size=3)))), "dim": d}


SHAPES = [
    Case("Tensor.repeat", lambda L, x, sizes: x.repeat(*sizes), unary(kw=_repeat_kw)),
    Case("fg.tile", lambda L, x, sizes: L.tile(x, sizes), unary(kw=_repeat_kw)),
    Case("Tensor.repeat_interleave", lambda L, x, r, dim: x.repeat_interleave(r, dim),
         unary(kw=_kw(r=st.integers(0, 3), dim=lambda s: st.none() | _dim(s)))),
    Case("repeat_interleave(tensor)", lambda L, x, r: x.repeat_interleave(r, 0),
         unary(min_dims=1).flatmap(lambda a: st.builds(
             lambda r: Args(a.inputs + [T(np.asarray(r, np.int64))], a.kw, a.seed),
             st.lists(st.integers(0, 3), min_size=_shape_of(a.inputs[0])[0], max_size=_shape_of(a.inputs[0])[0])))),
    Case("fg.repeat_interleave(counts)", lambda L, r: L.repeat_interleave(r),
         st.builds(lambda r, s: Args([T(np.asarray(r, np.int64))], {}, s), st.lists(st.integers(0, 3), max_size=5), seeds)),
    Case("Tensor.roll", lambda L, x, **kw: x.roll(**kw), unary(kw=_roll_kw)),
    Case("Tensor.flip", lambda L, x, dims: x.flip(dims), unary(kw=_flip_kw)),
    Case("fg.fliplr", lambda L, x: L.fliplr(x), unary()),
    Case("fg.flipud", lambda L, x: L.flipud(x), unary()),
    Case("Tensor.rot90", lambda L, x, k, dims: x.rot90(k, dims), unary(kw=_kw(
        k=st.integers(-5, 5), dims=st.sampled_from([(0, 1), (1, 0), (-1, -2), (0, 2), (1, 1)])))),
    Case("Tensor.tril", lambda L, x, d: x.tril(d), unary(kw=_kw(d=st.integers(-4, 4)))),
    Case("Tensor.triu", lambda L, x, d: x.triu(d), unary(kw=_kw(d=st.integers(-4, 4)))),
    Case("Tensor.tril_", lambda L, x, d: x.clone().tril_(d), unary(kw=_kw(d=st.integers(-4, 4)))),
    Case("Tensor.diagonal", lambda L, x, **kw: x.diagonal(**kw), unary(kw=_diag_kw)),
    Case("fg.diag", lambda L, x, d: L.diag(x, d), unary(max_dims=2, kw=_kw(d=st.integers(-3, 3)))),
    Case("fg.diag_embed", lambda L, x, o: L.diag_embed(x, o), unary(min_dims=1, kw=_kw(o=st.integers(-2, 2)))),
    Case("fg.diagflat", lambda L, x, o: L.diagflat(x, o), unary(kw=_kw(o=st.integers(-2, 2)))),
    Case("Tensor.fill_diagonal_", lambda L, x, v, w: x.clone().fill_diagonal_(v, w),
         unary(kw=_kw(v=st.floats(-2, 2) | st.integers(-2, 2), w=st.booleans()))),
    Case("fg.diagonal_scatter", lambda L, x, s: L.diagonal_scatter(x, s),
         unary(FLOATS, min_dims=2, max_dims=2).flatmap(lambda a: tensors(
             (min(_shape_of(a.inputs[0])),), str(a.inputs[0].base.dtype)).map(lambda s: Args(a.inputs + [s], {}, a.seed)))),
    Case("fg.select_scatter", lambda L, x, s: L.select_scatter(x, s, 0, 0),
         unary(FLOATS, min_dims=1).filter(lambda a: _shape_of(a.inputs[0])[0] > 0).flatmap(
             lambda a: tensors(_shape_of(a.inputs[0])[1:], str(a.inputs[0].base.dtype)).map(
                 lambda s: Args(a.inputs + [s], {}, a.seed)))),
    Case("Tensor.movedim", lambda L, x, **kw: x.movedim(**kw), unary(kw=_movedim_kw)),
    Case("fg.moveaxis", lambda L, x, **kw: L.moveaxis(x, kw["source"], kw["destination"]), unary(kw=_movedim_kw)),
    Case("Tensor.swapaxes", lambda L, x, a, b: x.swapaxes(a, b), unary(kw=_kw(a=_dim, b=_dim))),
    Case("Tensor.swapdims", lambda L, x, a, b: x.swapdims(a, b), unary(kw=_kw(a=_dim, b=_dim))),
    Case("Tensor.unflatten", lambda L, x, **kw: x.unflatten(**kw), unary(min_dims=1, kw=_unflatten_kw)),
    Case("Tensor.ravel", lambda L, x: x.ravel(), unary()),
    Case("Tensor.broadcast_to", lambda L, x, y: x.broadcast_to(y.shape), nary(2, scalar_ok=False)),
    Case("Tensor.narrow_copy", lambda L, x, d, s, n: x.narrow_copy(d, s, n),
         unary(min_dims=1, kw=_kw(d=_dim, s=st.integers(0, 2), n=st.integers(0, 2)))),
    Case("Tensor.unfold", lambda L, x, **kw: x.unfold(**kw), unary(kw=_unfold_kw)),
    Case("Tensor.tensor_split", lambda L, x, **kw: x.tensor_split(kw["indices_or_sections"], kw["dim"]),
         unary(min_dims=1, kw=_tensor_split_kw)),
    Case("fg.hsplit", lambda L, x, n: L.hsplit(x, n), unary(min_dims=1, kw=_kw(n=st.integers(1, 3)))),
    Case("fg.vsplit", lambda L, x, n: L.vsplit(x, n), unary(min_dims=2, kw=_kw(n=st.integers(1, 3)))),
    Case("fg.dsplit", lambda L, x, n: L.dsplit(x, n), unary(min_dims=3, kw=_kw(n=st.integers(1, 3)))),
    Case("Tensor.split_with_sizes", lambda L, x, s: x.split_with_sizes(s, 0),
         unary(min_dims=1, kw=lambda sh: st.lists(st.integers(0, 3), max_size=3).map(
             lambda p: {"s": p + [max(sh[0] - sum(p), 0)]}))),
    Case("Tensor.sum_to_size", lambda L, x, y: x.sum_to_size(*y.shape), nary(2, FLOATS, scalar_ok=False)),
    Case("fg.meshgrid", lambda L, a, b, ix: L.meshgrid(a, b, indexing=ix), nary(2, scalar_ok=False, max_dims=1,
                                                                              kw=_kw(ix=st.sampled_from(["ij", "xy"])))),
    Case("fg.atleast_2d", lambda L, x: L.atleast_2d(x), unary()),
    Case("fg.broadcast_tensors", lambda L, a, b: L.broadcast_tensors(a, b), nary(2, scalar_ok=False)),
]

# ----------------------------------------------------------------------------- products


@st.composite
def _mats(draw, kind, dtypes_=FLOATS):
    n, k, m, b = (draw(st.integers(0, 3)) for _ in range(4))
    if draw(st.integers(0, 11)) == 0:
        k2 = draw(st.integers(0, 3))
    else:
        k2 = k
    dt = draw(st.sampled_from(dtypes_))
    shapes_ = {
        "mv": [(n, k), (k2,)], "bmm": [(b, n, k), (b, k2, m)], "addmm": [(n, m), (n, k), (k2, m)],
        "addmv": [(n,), (n, k), (k2,)], "addr": [(n, m), (n,), (m,)], "baddbmm": [(b, n, m), (b, n, k), (b, k2, m)],
        "addbmm": [(n, m), (b, n, k), (b, k2, m)], "dot": [(k,), (k2,)], "outer": [(n,), (m,)], "kron": None,
        "cross": [(n, 3), (n, 3)], "inner": [(n, k), (m, k2)],
    }[kind]
    if kind == "kron":
        shapes_ = [draw(shapes(max_dims=3)), draw(shapes(max_dims=3))]
    if kind in ("addmm", "addr", "addbmm") and draw(st.booleans()):
        shapes_[0] = draw(st.sampled_from([(m,), (1, m), ()]))
    ts = [draw(tensors(s, dt)) for s in shapes_]
    kw = {}
    if kind.startswith("add") or kind == "baddbmm":
        kw = {"beta": draw(st.sampled_from([1, 0, 0.5, -2])), "alpha": draw(st.sampled_from([1, 2.5, -1]))}
    return Args(ts, kw, draw(seeds))


@st.composite
def _square_args(draw, low=-2.0, high=2.0, kw=None):
    """Square float64 matrices, now and then a batch of them."""
    n = draw(st.integers(0, 3))
    b = draw(st.sampled_from([(), (), (2,)]))
    x = draw(tensors(b + (n, n), "float64", low, high, nonfinite=False))
    return Args([x], draw(kw(x.base.shape)) if kw else {}, draw(seeds))


PRODUCTS = [
    Case("Tensor.mv", lambda L, a, v: a.mv(v), _mats("mv"), tol=5),
    Case("Tensor.bmm", lambda L, a, b: a.bmm(b), _mats("bmm"), tol=5),
    Case("fg.bmm", lambda L, a, b: L.bmm(a, b), _mats("bmm", ("int64",))),
    Case("Tensor.addmm", lambda L, c, a, b, **kw: c.addmm(a, b, **kw), _mats("addmm"), tol=5),
    Case("fg.addmm", lambda L, c, a, b, **kw: L.addmm(c, a, b, **kw), _mats("addmm"), tol=5),
    Case("Tensor.addmv", lambda L, c, a, v, **kw: c.addmv(a, v, **kw), _mats("addmv"), tol=5),
    Case("Tensor.addr", lambda L, c, a, b, **kw: c.addr(a, b, **kw), _mats("addr"), tol=5),
    Case("Tensor.baddbmm", lambda L, c, a, b, **kw: c.baddbmm(a, b, **kw), _mats("baddbmm"), tol=5),
    Case("Tensor.addbmm", lambda L, c, a, b, **kw: c.addbmm(a, b, **kw), _mats("addbmm"), tol=5),
    Case("Tensor.addmm_", lambda L, c, a, b, **kw: c.clone().addmm_(a, b, **kw), _mats("addmm").filter(
        lambda a: len(_shape_of(a.inputs[0])) == 2), tol=5),
    Case("Tensor.dot", lambda L, a, b: a.dot(b), _mats("dot"), tol=5),
    Case("fg.vdot", lambda L, a, b: L.vdot(a, b), _mats("dot"), tol=5),
    Case("fg.outer", lambda L, a, b: L.outer(a, b), _mats("outer")),
    Case("Tensor.ger", lambda L, a, b: a.ger(b), _mats("outer")),
    Case("fg.inner", lambda L, a, b: L.inner(a, b), _mats("inner"), tol=5),
    # PyTorch's kron views its inputs (a transposed one can raise): no transposed inputs.
    Case("fg.kron", lambda L, a, b: L.kron(a, b), _mats("kron").filter(
        lambda a: not any(t.view and t.view[0][0] == "T" for t in a.inputs))),
    Case("Tensor.cross", lambda L, a, b: a.cross(b, dim=-1), _mats("cross")),
    Case("fg.trace", lambda L, x: L.trace(x), unary(NUM, min_dims=2, max_dims=2), tol=5),
    Case("Tensor.matrix_power", lambda L, x, n: x.matrix_power(n), _square_args(-1, 1, kw=_kw(n=st.integers(0, 4))),
         tol=10),
    Case("fg.tensordot", lambda L, a, b: L.tensordot(a, b, 1), nary(2, FLOATS, scalar_ok=False, bad_shapes=False).filter(
        lambda a: a.inputs[0].base.ndim >= 1 and a.inputs[1].base.ndim >= 1
        and _shape_of(a.inputs[0])[-1] == _shape_of(a.inputs[1])[0]), tol=5),
]


@st.composite
def _einsum_args(draw):
    eq, shp = draw(st.sampled_from([
        ("ij,jk->ik", [(2, 3), (3, 4)]), ("bij,bjk->bik", [(2, 2, 3), (2, 3, 1)]), ("ii->i", [(3, 3)]),
        ("ii", [(3, 3)]), ("ij->ji", [(2, 3)]), ("i,j->ij", [(3,), (2,)]), ("i,i->", [(4,), (4,)]),
        ("...ij,...jk->...ik", [(2, 2, 3), (3, 2)]), ("bhqd,bhkd->bhqk", [(2, 1, 3, 4), (2, 1, 2, 4)]),
        ("ijk->", [(2, 3, 2)]), ("ij,ij->ij", [(2, 3), (2, 3)]), ("ijk,ikl,ilm->ijm", [(2, 2, 3), (2, 3, 2), (2, 2, 1)]),
        ("i,j,k", [(2,), (1,), (3,)]), ("bn,anm,bm->ba", [(2, 3), (4, 3, 2), (2, 2)]), ("ab...,b->a...", [(2, 3, 1), (3,)]),
        ("ij,jk", [(2, 3), (3, 5)]), ("ji,jk->ik", [(0, 3), (0, 2)]),
    ]))
    dt = draw(st.sampled_from(FLOATS))
    return Args([eq] + [draw(tensors(s, dt)) for s in shp], {}, draw(seeds))


def _uncorrelated_enough(a: Args) -> bool:
    """Rows that vary (std > 0.1) and no two of them nearly collinear: at |r| -> 1 the gradient of
    r is 0 up to rounding, and the two libraries' rounding differs (1e-7 against an exact 0 at
    r = 1 - 4e-15, from rows (0.33, 6e-8, 6e-8, 6e-8) and (2.7, 0, 6e-8, 6e-8))."""
    x = _np_of(a.inputs[0])
    if min(x.shape) < 2 or not np.all(x.std(1) > 0.1):
        return False
    r = np.corrcoef(x)
    return bool(np.all(np.abs(r[~np.eye(len(r), dtype=bool)]) < 0.99))


def _invertible(a: Args) -> bool:
    m = _np_of(a.inputs[0])
    return m.shape[-1] > 0 and bool(np.all(np.abs(np.linalg.det(m)) > 0.1))


LINALG = [
    Case("fg.einsum", lambda L, eq, *xs: L.einsum(eq, *xs), _einsum_args(), tol=5),
    Case("einsum(list)", lambda L, eq, *xs: L.einsum(eq, list(xs)), _einsum_args(), tol=5),
    # PyTorch's det gradient at a singular matrix is 0 where the cofactors are not (e.g. at
    # [[0, 1, 1], [1, 1, 1], [1, 1, 1]]); ferrograd's is the cofactor matrix: compared only away
    # from singular matrices (the forward at singular ones is compared by Tensor.det(forward)).
    Case("Tensor.det", lambda L, x: x.det(), _square_args().filter(lambda a: _np_of(a.inputs[0]).shape[-1] == 0
                                                                      or _invertible(a)), tol=100),
    Case("Tensor.det(forward)", lambda L, x: x.detach().det(), _square_args(), tol=100),
    Case("Tensor.inverse", lambda L, x: x.inverse(), _square_args().filter(_invertible), tol=1000),
    Case("fg.slogdet", lambda L, x: tuple(L.slogdet(x)), _square_args().filter(_invertible), tol=100),
    Case("fg.logdet", lambda L, x: L.logdet(x), _square_args().filter(_invertible), tol=100),
    Case("Tensor.matrix_power(-2)", lambda L, x: x.matrix_power(-2), _square_args().filter(_invertible), tol=1000),
    Case("fg.cov", lambda L, x, c: L.cov(x, correction=c), unary(FLOATS, nonfinite=False, max_dims=2,
                                                                 kw=_kw(c=st.integers(0, 2))), tol=5),
    Case("fg.corrcoef", lambda L, x: L.corrcoef(x), unary(F64, nonfinite=False, min_dims=2, max_dims=2).filter(
        _uncorrelated_enough), tol=10),
]


# ----------------------------------------------------------------------------- elementwise


def _ew(name, dtypes_=ALL_DTYPES, **kw):
    return [Case(f"Tensor.{name}", lambda L, x: getattr(x, name)(), unary(dtypes_, **kw)),
            Case(f"fg.{name}", lambda L, x: getattr(L, name)(x), unary(dtypes_, **kw))]


ELEMENTWISE = [
    *_ew("isnan"), *_ew("isinf"), *_ew("isfinite"), *_ew("isposinf", NUM), *_ew("isneginf", NUM), *_ew("isreal"),
    *_ew("signbit", NUM), *_ew("square"), *_ew("deg2rad", NUM), *_ew("rad2deg", NUM), *_ew("negative", NUM),
    *_ew("absolute", NUM), *_ew("angle", NUM), *_ew("positive", NUM),
    Case("Tensor.nan_to_num", lambda L, x, **kw: x.nan_to_num(**kw), unary(kw=_kw(
        nan=st.floats(-2, 2), posinf=st.none() | st.floats(-5, 5), neginf=st.none() | st.floats(-5, 5)))),
    Case("Tensor.nan_to_num_", lambda L, x: x.clone().nan_to_num_(), unary()),
    Case("fg.isclose", lambda L, a, b, **kw: L.isclose(a, b, **kw), nary(2, NUM, scalar_ok=False, same_dtype=True,
         kw=_kw(rtol=st.sampled_from([0, 1e-5, 0.1]), atol=st.sampled_from([0, 1e-8, 0.5]), equal_nan=st.booleans()))),
    Case("Tensor.allclose", lambda L, a, b: a.allclose(b, 0.01, 0.01), nary(2, FLOATS, scalar_ok=False, same_dtype=True)),
    Case("Tensor.equal", lambda L, a, b: a.equal(b), nary(2, scalar_ok=False, same_dtype=True)),
    Case("Tensor.lerp", lambda L, a, b, w: a.lerp(b, w), nary(2, FLOATS, scalar_ok=False, same_dtype=True,
                                                             kw=_kw(w=st.floats(-1, 2)))),
    Case("lerp(tensor weight)", lambda L, a, b, w: a.lerp(b, w), nary(3, FLOATS, scalar_ok=False, same_dtype=True)),
    Case("Tensor.lerp_", lambda L, a, b, w: a.clone().lerp_(b, w), nary(2, FLOATS, scalar_ok=False, same_dtype=True,
                                                                       kw=_kw(w=st.floats(-1, 2)))),
    Case("Tensor.addcmul", lambda L, a, b, c, value: a.addcmul(b, c, value=value),
         nary(3, FLOATS, scalar_ok=False, kw=_kw(value=st.sampled_from([1, 0.5, -2])))),
    # (no divisor whose square underflows: PyTorch's gradient there is 0 / 0, ferrograd's 0)
    Case("fg.addcdiv", lambda L, a, b, c, value: L.addcdiv(a, b, c, value=value),
         nary(3, FLOATS, scalar_ok=False, kw=_kw(value=st.sampled_from([1, 0.5, -2]))).filter(
             lambda a: not ((np.abs(a.inputs[2].base) < 1e-18) & (a.inputs[2].base != 0)).any())),
    Case("Tensor.addcmul_", lambda L, a, b, c: a.clone().addcmul_(b, c, value=2), nary(3, FLOATS, scalar_ok=False).filter(
        lambda a: _bshape(a) == _shape_of(a.inputs[0]))),
    Case("Tensor.float_power", lambda L, a, b: a.float_power(b), nary(2, NUM, low=0.1, high=3, first_tensor=True)),
    Case("fg.ldexp", lambda L, a, b: L.ldexp(a, b), nary(2, ("float32", "float64", "int64"), scalar_ok=False).filter(
        lambda a: a.inputs[1].base.dtype == np.int64)),
    Case("fg.heaviside", lambda L, a, b: L.heaviside(a, b), nary(2, NUM, scalar_ok=False, same_dtype=True)),
    Case("fg.gcd", lambda L, a, b: L.gcd(a, b), nary(2, ("int64",), scalar_ok=False)),
    Case("fg.lcm", lambda L, a, b: L.lcm(a, b), nary(2, ("int64",), scalar_ok=False)),
    Case("Tensor.clamp_min", lambda L, x, v: x.clamp_min(v), unary(NUM, kw=_kw(v=st.floats(-2, 2) | st.integers(-2, 2)))),
    Case("Tensor.clamp_max", lambda L, x, v: x.clamp_max(v), unary(NUM, kw=_kw(v=st.floats(-2, 2) | st.integers(-2, 2)))),
    Case("Tensor.clamp_min_", lambda L, x, v: x.clone().clamp_min_(v), unary(FLOATS, kw=_kw(v=st.floats(-2, 2)))),
    Case("Tensor.clip_", lambda L, x, a, b: x.clone().clip_(a, b), unary(FLOATS, kw=_kw(a=st.floats(-2, 0), b=st.floats(0, 2)))),
    # PyTorch's gradient at NaN depends on the kernel (1 below 16 elements, 0 from 16 on): no NaN.
    Case("Tensor.hardshrink", lambda L, x, lam: x.hardshrink(lam),
         unary(FLOATS, kw=_kw(lam=st.floats(0, 2))).filter(lambda a: not np.isnan(a.inputs[0].base).any())),
    Case("fg.bincount", lambda L, x: L.bincount(x), st.lists(st.integers(0, 5), max_size=6).map(
        lambda v: Args([T(np.asarray(v, np.int64))], {}, 0))),
    Case("bincount(weights)", lambda L, x, w: L.bincount(x, w, 3), st.integers(0, 6).flatmap(lambda n: st.tuples(
        hnp.arrays(np.int64, (n,), elements=st.integers(0, 5)), tensors((n,), "float64", layouts=False, grad=False))).map(
        lambda t: Args([T(t[0]), t[1]], {}, 0))),
    Case("Tensor.histc", lambda L, x, **kw: x.histc(**kw), unary(FLOATS, nonfinite=False, kw=_kw(
        bins=st.integers(1, 6), min=st.sampled_from([0, -1, -3]), max=st.sampled_from([0, 1, 3])))),
    Case("Tensor.multiply", lambda L, a, b: a.multiply(b), nary(2, first_tensor=True)),
    Case("fg.subtract", lambda L, a, b: L.subtract(a, b), nary(2, NUM, first_tensor=True)),
    Case("Tensor.greater", lambda L, a, b: a.greater(b), nary(2, first_tensor=True)),
    Case("fg.less_equal", lambda L, a, b: L.less_equal(a, b), nary(2, first_tensor=True)),
    Case("Tensor.not_equal", lambda L, a, b: a.not_equal(b), nary(2, first_tensor=True)),
    Case("Tensor.true_divide", lambda L, a, b: a.true_divide(b), nary(2, NUM, first_tensor=True).filter(
        lambda a: not any(isinstance(t, T) and t.base.dtype.kind == "f" and ((np.abs(t.base) < 1e-18) & (t.base != 0)).any()
                          for t in a.inputs))),
    Case("divide(floor)", lambda L, a, b: a.divide(b, rounding_mode="floor"), nary(2, FLOATS, scalar_ok=False, nonfinite=False,
                                                                                 low=0.5, high=4), tol=5),
    # PyTorch's mantissa gradient is grad / exponent.exp2() with the exp2 in float32, which is 0 (so
    # the gradient inf) for exponents below -149; ferrograd's is exact: such tiny inputs are not drawn.
    Case("Tensor.frexp", lambda L, x: tuple(x.frexp()), unary(FLOATS).filter(
        lambda a: not bool(((np.abs(a.inputs[0].base) < 1e-30) & (a.inputs[0].base != 0)).any()))),
]


def _bshape(a: Args):
    try:
        return tuple(np.broadcast_shapes(*[_shape_of(t) for t in a.inputs]))
    except ValueError:
        return None


# ----------------------------------------------------------------------------- factories and predicates


@st.composite
def _new_kw(draw, shape):
    return {"size": tuple(draw(st.lists(st.integers(0, 3), max_size=3))),
            "dtype": draw(st.sampled_from([None, "float64", "int64", "bool"]))}


def _dt(L, name):
    return None if name is None else getattr(L, name)


FACTORIES = [
    Case("Tensor.new_zeros", lambda L, x, size, dtype: x.new_zeros(size, dtype=_dt(L, dtype)), unary(kw=_new_kw)),
    Case("Tensor.new_ones", lambda L, x, size, dtype: x.new_ones(*size, dtype=_dt(L, dtype)), unary(kw=_new_kw)),
    Case("Tensor.new_full", lambda L, x, size, dtype: x.new_full(size, 2.5 if dtype != "int64" else 3, dtype=_dt(L, dtype)),
         unary(kw=_new_kw)),
    Case("Tensor.new_empty(shape)", lambda L, x, size, dtype: repr(tuple(x.new_empty(size, dtype=_dt(L, dtype)).shape)),
         unary(kw=_new_kw)),
    Case("Tensor.new_tensor", lambda L, x, v: x.new_tensor(v), unary(kw=_kw(v=st.lists(st.floats(-3, 3), max_size=3)))),
    Case("Tensor.info", lambda L, x: (x.is_cpu, x.is_complex(), x.is_signed(), x.is_conj(), x.is_neg(), x.is_sparse,
                                      x.is_quantized, x.is_meta, x.is_nested, x.ndimension(), x.nelement(), x.itemsize,
                                      x.nbytes, x.get_device(), x.dim_order(), x.is_same_size(x), x.is_pinned(),
                                      x.is_shared()), unary().filter(lambda a: 0 not in _shape_of(a.inputs[0]))),
    Case("Tensor.is_nonzero", lambda L, x: x.is_nonzero(), unary()),
    Case("Tensor.conj", lambda L, x: (x.conj(), x.resolve_conj(), x.resolve_neg(), x.real, x.adjoint() if x.ndim >= 2 else x),
         unary(FLOATS)),
    Case("Tensor.H", lambda L, x: x.H, unary(max_dims=2)),
    Case("Tensor.mH", lambda L, x: x.mH, unary(min_dims=2)),
]

@st.composite
def _spd_args(draw):
    n = draw(st.integers(0, 3))
    b = draw(st.sampled_from([(), (2,)]))
    a = draw(hnp.arrays(np.float64, b + (n, n), elements=st.floats(-1, 1)))
    spd = a @ np.swapaxes(a, -1, -2) + np.eye(n) * (n + 0.5)
    return Args([T(spd, grad=draw(st.booleans()))], {"upper": draw(st.booleans())}, draw(seeds))


@st.composite
def _cdist_args(draw):
    b = draw(st.sampled_from([(), (2,)]))
    p_, r_, m = (draw(st.integers(0, 3)) for _ in range(3))
    dt = draw(st.sampled_from(FLOATS))
    x1 = draw(tensors(b + (p_, m), dt, nonfinite=False))
    x2 = draw(tensors(b + (r_, m), dt, nonfinite=False))
    return Args([x1, x2], {"p": draw(st.sampled_from([1.0, 2.0, 3.0, float("inf")]))}, draw(seeds))


def _no_zero_distance(a: Args) -> bool:
    """Distinct rows (PyTorch's cdist gradient at a zero distance depends on its kernel)."""
    m = _shape_of(a.inputs[0])[-1]
    if m == 0:
        return True
    x1, x2 = (_np_of(t).reshape(-1, m) for t in a.inputs)
    return not any(np.allclose(u, v, atol=1e-3) for u in x1 for v in x2)


def _linalg(L):
    if L.__name__ == "torch":
        return L.linalg
    from ferrograd._methods import linalg_api

    return getattr(L, "linalg", linalg_api)


MORE = [
    Case("Tensor.prelu", lambda L, x, w: x.prelu(w), unary(FLOATS, min_dims=2).flatmap(lambda a: tensors(
        (_shape_of(a.inputs[0])[1],), str(a.inputs[0].base.dtype), layouts=False).map(
        lambda w: Args(a.inputs + [w], {}, a.seed)))),
    Case("fg.histogram", lambda L, x, b: tuple(L.histogram(x, b)), unary(FLOATS, nonfinite=False, kw=_kw(b=st.integers(1, 5)))
         .map(lambda a: Args([T(a.inputs[0].base, a.inputs[0].view, False)], a.kw, a.seed))),
    Case("Tensor.index_reduce", lambda L, x, d, i, s, r, inc: x.index_reduce(d, i, s, r, include_self=inc),
         # (finite values: prod's gradient is PyTorch's g * result / x; non-empty self: PyTorch's
         # index_reduce on an empty self raises from an internal select)
         _index_args().filter(lambda a: np.isfinite(a.inputs[0].base).all() and np.isfinite(a.inputs[3].base).all()
                              and 0 not in _shape_of(a.inputs[0])).flatmap(
             lambda a: st.tuples(st.sampled_from(["prod", "mean", "amax", "amin"]), st.booleans()).map(
                 lambda t: Args(a.inputs + list(t), {}, a.seed))), tol=5),
    Case("Tensor.nonzero_static", lambda L, x, n: x.nonzero_static(size=n), unary(kw=_kw(n=st.integers(0, 5)))),
    Case("fg.cdist", lambda L, a, b, p: L.cdist(a, b, p), _cdist_args().filter(_no_zero_distance), tol=5),
    # (PyTorch's block_diag backward reads the wrong rows after an empty 1-D block, e.g. block_diag(
    # tensor([]), x) gives x the gradient of row 0: no empty 1-D blocks)
    Case("fg.block_diag", lambda L, a, b: L.block_diag(a, b), nary(2, scalar_ok=False, max_dims=2, bad_shapes=False).filter(
        lambda a: not any(_shape_of(t) == (0,) for t in a.inputs))),
    Case("fg.cartesian_prod", lambda L, a, b: L.cartesian_prod(a, b), nary(2, scalar_ok=False, max_dims=1, same_dtype=True).filter(
        lambda a: all(len(_shape_of(t)) == 1 for t in a.inputs))),
    Case("fg.tril_indices", lambda L, r, c, o: L.tril_indices(r, c, o), st.builds(
        lambda r, c, o: Args([r, c, o], {}, 0), st.integers(0, 4), st.integers(0, 4), st.integers(-3, 3))),
    Case("fg.triu_indices", lambda L, r, c, o: L.triu_indices(r, c, o), st.builds(
        lambda r, c, o: Args([r, c, o], {}, 0), st.integers(0, 4), st.integers(0, 4), st.integers(-3, 3))),
    Case("fg.searchsorted", lambda L, s, v, right: L.searchsorted(s.sort().values, v, right=right),
         nary(2, NUM, scalar_ok=False, max_dims=1, same_dtype=True, kw=_kw(right=st.booleans()))),
    Case("fg.bucketize", lambda L, v, b, right: L.bucketize(v, b.sort().values, right=right),
         nary(2, NUM, scalar_ok=False, same_dtype=True, kw=_kw(right=st.booleans())).filter(
             lambda a: len(_shape_of(a.inputs[1])) == 1)),
    Case("Tensor.matrix_exp", lambda L, x: x.matrix_exp(), _square_args(), tol=100),
    Case("linalg.cholesky", lambda L, x, upper: _linalg(L).cholesky(x, upper=upper), _spd_args(), tol=100),
    Case("linalg.solve", lambda L, a, b: _linalg(L).solve(a, b), _square_args().filter(_invertible).flatmap(
        lambda a: tensors(_shape_of(a.inputs[0])[:-1] + (2,), "float64", nonfinite=False).map(
            lambda b: Args(a.inputs + [b], {}, a.seed))), tol=1000),
    Case("linalg.inv", lambda L, a: _linalg(L).inv(a), _square_args().filter(_invertible), tol=1000),
    Case("linalg.norm", lambda L, x, **kw: _linalg(L).norm(x, **kw), unary(FLOATS, min_dims=1, max_dims=2, kw=lambda s: st.fixed_dictionaries(
        {"ord": st.none() | (st.sampled_from([1, float("inf"), -1]) if len(s) == 2 else st.sampled_from([1, 2, 3]))})),
         tol=5, grad_when=_norm_grad_ok),
    Case("linalg.vector_norm", lambda L, x, p, **kw: _linalg(L).vector_norm(x, 2 if p == "fro" else p, **kw),
         unary(FLOATS, kw=_norm_kw).filter(_no_negative_zero_for_negative_p), tol=5, grad_when=_norm_grad_ok),
]

# ----------------------------------------------------------------------------- in-place forms and small functions

# Each in-place composite on a clone (so gradients flow through it) of a drawn input.
_INPLACE_UNARY = {
    "absolute_": lambda x: x.absolute_(), "negative_": lambda x: x.negative_(), "square_": lambda x: x.square_(),
    "deg2rad_": lambda x: x.deg2rad_(), "rad2deg_": lambda x: x.rad2deg_(), "nan_to_num_": lambda x: x.nan_to_num_(1.0),
    "clamp_max_": lambda x: x.clamp_max_(0.5), "clamp_min_": lambda x: x.clamp_min_(-0.5), "triu_": lambda x: x.triu_(),
    "subtract_": lambda x: x.subtract_(x.detach() * 0.5, alpha=2), "float_power_": lambda x: x.abs().float_power_(2.0),
}
def _masked_args_for_scatter():
    @st.composite
    def make(draw):
        shape = draw(shapes(max_dims=3))
        x = draw(tensors(shape, draw(st.sampled_from(FLOATS))))
        m = T(draw(hnp.arrays(np.bool_, shape)))
        n = int(np.prod(shape))
        return Args([x, m, draw(tensors((n,), str(x.base.dtype), layouts=False))], {}, draw(seeds))

    return make()


INPLACE = [
    Case(f"Tensor.{n}(clone)", lambda L, x, _f=f: _f(x.clone()), unary(("float64",), min_dims=2 if n == "triu_" else 0,
                                                                      nonfinite=n == "nan_to_num_"))
    for n, f in _INPLACE_UNARY.items()
] + [
    Case("Tensor.addmv_(clone)", lambda L, c, a, v: c.clone().addmv_(a, v, beta=0.5), _mats("addmv").filter(
        lambda a: len(_shape_of(a.inputs[0])) == 1), tol=5),
    Case("Tensor.addr_(clone)", lambda L, c, a, b: c.clone().addr_(a, b), _mats("addr").filter(
        lambda a: len(_shape_of(a.inputs[0])) == 2), tol=5),
    Case("Tensor.baddbmm_(clone)", lambda L, c, a, b: c.clone().baddbmm_(a, b, alpha=2), _mats("baddbmm"), tol=5),
    Case("Tensor.addbmm_(clone)", lambda L, c, a, b: c.clone().addbmm_(a, b), _mats("addbmm").filter(
        lambda a: len(_shape_of(a.inputs[0])) == 2), tol=5),
    # (no divisor whose square underflows: PyTorch's gradient there is 0 / 0, ferrograd's 0)
    Case("Tensor.addcdiv_(clone)", lambda L, a, b, c: a.clone().addcdiv_(b, c), nary(3, FLOATS, scalar_ok=False).filter(
        lambda a: _bshape(a) == _shape_of(a.inputs[0]) and not ((np.abs(a.inputs[2].base) < 1e-18) & (a.inputs[2].base != 0)).any())),
    Case("Tensor.index_copy_(clone)", lambda L, x, d, i, s: x.clone().index_copy_(d, i, s),
         _index_args().filter(lambda a: len(set(a.inputs[2].base.tolist())) == a.inputs[2].base.size)),
    Case("Tensor.masked_scatter_(clone)", lambda L, x, m, s: x.clone().masked_scatter_(m, s),
         _masked_args_for_scatter()),
    Case("Tensor.gcd_", lambda L, a, b: a.clone().gcd_(b), nary(2, ("int64",), scalar_ok=False).filter(
        lambda a: _bshape(a) == _shape_of(a.inputs[0]))),
    # (finite input: at inf or NaN PyTorch's gradient is still 1, ferrograd's 0; see nextafter's docstring)
    Case("fg.nextafter", lambda L, a, b: L.nextafter(a, b), nary(2, FLOATS, scalar_ok=False, same_dtype=True).filter(
        lambda a: bool(np.isfinite(a.inputs[0].base).all()))),
    Case("fg.select", lambda L, x, d, i: L.select(x, d, i), unary(min_dims=1, kw=lambda s: st.fixed_dictionaries(
        {"d": _dim(s), "i": st.integers(-3, 3)}))),
    Case("fg.row_stack", lambda L, a, b: L.row_stack([a, b]), nary(2, scalar_ok=False, max_dims=2, same_dtype=True)),
    Case("fg.concatenate", lambda L, a, b: L.concatenate([a, b], 0), nary(2, scalar_ok=False, same_dtype=True)),
    Case("fg.atleast_1d", lambda L, x: L.atleast_1d(x), unary()),
    Case("Tensor.unsafe_split", lambda L, x, n: x.unsafe_split(n), unary(min_dims=1, kw=_kw(n=st.integers(1, 3)))),
    Case("Tensor.unsafe_chunk", lambda L, x, n: x.unsafe_chunk(n), unary(min_dims=1, kw=_kw(n=st.integers(1, 3)))),
    Case("Tensor.angle", lambda L, x: x.angle(), unary(NUM)),
    Case("Tensor.positive", lambda L, x: x.positive(), unary()),
    Case("Tensor.isreal", lambda L, x: x.isreal(), unary()),
    Case("Tensor.to_dense", lambda L, x: x.to_dense(), unary()),
]


ALL = SHAPES + PRODUCTS + LINALG + ELEMENTWISE + FACTORIES + MORE + INPLACE
