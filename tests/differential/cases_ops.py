"""Tensor ops, one table row per call: `Case(id, fn(L, *inputs, **kw), strategy of Args)`.

`L` is `torch` or `ferrograd`; write the call once in the API they share. Adding an op is one row.
"""

from __future__ import annotations

import operator

import numpy as np
from harness import (
    ALL_DTYPES,
    FLOATS,
    Args,
    Case,
    dim_kw,
    nary,
    seeds,
    shapes,
    tensors,
    unary,
)
from hypothesis import strategies as st

NUM = ("float32", "float64", "int64")
INT_BOOL = ("int64", "bool")

# ----------------------------------------------------------------------------- elementwise unary

_UNARY_FNS = ["exp", "log", "sqrt", "abs", "neg", "sin", "cos", "tanh", "sigmoid", "relu"]
_UNARY_FLOAT_ONLY = {"exp", "log", "sqrt", "sin", "cos", "tanh", "sigmoid"}  # ints promote in torch

UNARY = []
for _n in _UNARY_FNS:
    UNARY.append(Case(f"fg.{_n}", lambda L, x, _n=_n: getattr(L, _n)(x), unary()))
    UNARY.append(Case(f"Tensor.{_n}", lambda L, x, _n=_n: getattr(x, _n)(), unary(FLOATS + ("int64",))))
UNARY += [
    Case("__neg__", lambda L, x: -x, unary()),
    Case("__pos__", lambda L, x: +x, unary()),
    Case("__abs__", lambda L, x: abs(x), unary()),
    Case("__invert__", lambda L, x: ~x, unary(INT_BOOL)),
    Case("logical_not", lambda L, x: L.logical_not(x), unary()),
    Case("Tensor.logical_not", lambda L, x: x.logical_not(), unary()),
    Case("Tensor.float", lambda L, x: x.float(), unary()),
    Case("Tensor.double", lambda L, x: x.double(), unary()),
    Case("Tensor.long", lambda L, x: x.long(), unary(nonfinite=False)),
    Case("Tensor.bool", lambda L, x: x.bool(), unary()),
    Case("Tensor.to", lambda L, x, dt: x.to(getattr(L, dt)), unary(nonfinite=False, kw=lambda s: st.fixed_dictionaries(
        {"dt": st.sampled_from(ALL_DTYPES)}))),
    Case("Tensor.type_as", lambda L, x, y: x.type_as(y), nary(2, nonfinite=False, scalar_ok=False)),
    Case("clone", lambda L, x: L.clone(x), unary()),
    Case("Tensor.contiguous", lambda L, x: x.contiguous(), unary()),
    Case("detach", lambda L, x: x.detach() * 1, unary()),
    Case("Tensor.zero_", lambda L, x: x.clone().zero_(), unary()),
    Case("Tensor.fill_", lambda L, x, v: x.clone().fill_(v), unary(kw=lambda s: st.fixed_dictionaries(
        {"v": st.floats(-3, 3) | st.integers(-3, 3) | st.booleans()}))),
    Case("relu(F)", lambda L, x: L.nn.functional.relu(x), unary()),
    Case("is_floating_point", lambda L, x: (L.is_floating_point(x), x.is_floating_point()), unary()),
]

# ----------------------------------------------------------------------------- elementwise binary

_BIN = {
    "add": operator.add, "sub": operator.sub, "mul": operator.mul, "truediv": operator.truediv,
    "pow": operator.pow, "and": operator.and_, "or": operator.or_, "xor": operator.xor,
    "eq": operator.eq, "ne": operator.ne, "lt": operator.lt, "le": operator.le, "gt": operator.gt,
    "ge": operator.ge,
}
_BIN_DTYPES = {"and": INT_BOOL, "or": INT_BOOL, "xor": INT_BOOL}
_BIN_RANGE = {"pow": (-3.0, 3.0)}

def _no_underflowing_square(a: Args) -> bool:
    """No nonzero float whose square underflows: there d(c/x)/dx is 0 * inf in PyTorch's formula
    (NaN or -0 depending on the path), a rounding artifact rather than a value to compare."""
    return not any(hasattr(t, "base") and t.base.dtype.kind == "f"
                   and bool(((np.abs(t.base) < 1e-18) & (t.base != 0)).any()) for t in a.inputs)


# pow too: a float64 0-d base too small for float32 becomes 0 in a float32 result, and PyTorch's
# exponent gradient then tests the float64 base for zero but takes the log of the float32 one
# (-inf where ferrograd, like PyTorch with an exact zero base, gives 0).
_DIVS = {"truediv", "div", "pow"}
BINARY = []
for _n, _op in _BIN.items():
    _dts = _BIN_DTYPES.get(_n, ALL_DTYPES)
    _lo, _hi = _BIN_RANGE.get(_n, (-4.0, 4.0))
    _args = nary(2, _dts, _lo, _hi, first_tensor=True)
    _args = _args.filter(_no_underflowing_square) if _n in _DIVS else _args
    BINARY.append(Case(f"__{_n}__", lambda L, a, b, _op=_op: _op(a, b), _args))
    # reflected: a Python number on the left
    BINARY.append(Case(f"__r{_n}__", lambda L, a, b, _op=_op: _op(b, a),
                       _args.filter(lambda a: not hasattr(a.inputs[1], "base"))))
for _n in ("add", "sub", "mul", "div", "pow", "maximum", "minimum", "eq", "ne", "lt", "le", "gt", "ge",
           "logical_and", "logical_or"):
    _lo, _hi = _BIN_RANGE.get(_n, (-4.0, 4.0))
    _tensor_only = _n in ("maximum", "minimum", "logical_and", "logical_or")
    _args = nary(2, ALL_DTYPES, _lo, _hi, scalar_ok=not _tensor_only, first_tensor=True)
    _args = _args.filter(_no_underflowing_square) if _n in _DIVS else _args
    BINARY.append(Case(f"fg.{_n}", lambda L, a, b, _n=_n: getattr(L, _n)(a, b), _args))
    BINARY.append(Case(f"Tensor.{_n}", lambda L, a, b, _n=_n: getattr(a, _n)(b), _args))
BINARY += [
    Case("add(alpha)", lambda L, a, b, alpha: L.add(a, b, alpha=alpha),
         nary(2, NUM, scalar_ok=False, kw=lambda s: st.fixed_dictionaries({"alpha": st.integers(-2, 2) | st.floats(-2, 2)}))),
    Case("sub(alpha)", lambda L, a, b, alpha: a.sub(b, alpha=alpha),
         nary(2, NUM, scalar_ok=False, kw=lambda s: st.fixed_dictionaries({"alpha": st.integers(-2, 2) | st.floats(-2, 2)}))),
]

# in-place forms: on a clone (an in-place op on a leaf that requires grad is an error in both),
# and directly on inputs that do not require grad (written through views into their base)
_INPLACE = {
    "add_": lambda a, b: a.add_(b), "sub_": lambda a, b: a.sub_(b), "mul_": lambda a, b: a.mul_(b),
    "div_": lambda a, b: a.div_(b), "copy_": lambda a, b: a.copy_(b),
    "__iadd__": operator.iadd, "__isub__": operator.isub, "__imul__": operator.imul, "__itruediv__": operator.itruediv,
}
def _castable(a: Args) -> bool:
    """Not a NaN/inf written into an int64/bool tensor: the value is undefined (torch gives INT64_MIN)."""
    dst, src = a.inputs
    if dst.base.dtype.kind == "f":
        return True
    vals = src.base if hasattr(src, "base") else np.array(src)
    return vals.dtype.kind != "f" or bool(np.isfinite(vals).all())


INPLACE = []
for _n, _op in _INPLACE.items():
    INPLACE.append(Case(f"{_n}(clone)", lambda L, a, b, _op=_op: _op(a.clone(), b),
                        nary(2, first_tensor=True).filter(_castable)))
    INPLACE.append(Case(f"{_n}(no grad)", lambda L, a, b, _op=_op: _op(a.detach(), b),
                        nary(2, first_tensor=True).filter(_castable)))
INPLACE += [
    Case("clamp_(clone)", lambda L, a, lo, hi: a.clone().clamp_(lo, hi), unary(kw=lambda s: st.fixed_dictionaries(
        {"lo": st.none() | st.floats(-3, 3) | st.integers(-3, 3), "hi": st.none() | st.floats(-3, 3) | st.integers(-3, 3)}))),
    Case("leaf.add_(grad)", lambda L, a, b: a.add_(b), nary(2, FLOATS, first_tensor=True)),
]

# ----------------------------------------------------------------------------- reductions


def _red(name, dtypes_=ALL_DTYPES, **dkw):
    return Case(f"Tensor.{name}(dim)", lambda L, x, **kw: getattr(x, name)(**kw), unary(dtypes_, kw=dim_kw(**dkw)))


@st.composite
def _var_kw(draw, shape):
    kw = draw(dim_kw()(shape))
    c = draw(st.sampled_from(["none", "correction", "unbiased"]))
    if c == "correction":
        kw["correction"] = draw(st.integers(0, 2))
    elif c == "unbiased":
        kw["unbiased"] = draw(st.booleans())
    return kw


def _std_not_tiny(out) -> bool:
    """std well above float32 rounding (a constant input's std is rounding noise in torch)."""
    v = out.detach().abs()
    return bool(((v > 1e-3) | v.isnan()).all())


REDUCTIONS = [
    _red("sum"), _red("mean", FLOATS),
    Case("Tensor.sum()", lambda L, x: x.sum(), unary()),
    Case("Tensor.mean()", lambda L, x: x.mean(), unary()),
    Case("fg.sum", lambda L, x, **kw: L.sum(x, **kw), unary(kw=dim_kw())),
    Case("fg.mean", lambda L, x, **kw: L.mean(x, **kw), unary(FLOATS, kw=dim_kw())),
    Case("Tensor.max()", lambda L, x: x.max(), unary()),
    Case("Tensor.min()", lambda L, x: x.min(), unary()),
    Case("Tensor.max(dim)", lambda L, x, **kw: x.max(**kw), unary(kw=dim_kw(allow_none=False, allow_tuple=False))),
    Case("Tensor.min(dim)", lambda L, x, **kw: x.min(**kw), unary(kw=dim_kw(allow_none=False, allow_tuple=False))),
    Case("fg.max(dim)", lambda L, x, **kw: tuple(L.max(x, **kw)), unary(kw=dim_kw(allow_none=False, allow_tuple=False))),
    Case("fg.max(a, b)", lambda L, a, b: L.max(a, b), nary(2, scalar_ok=False)),
    Case("fg.min(a, b)", lambda L, a, b: L.min(a, b), nary(2, scalar_ok=False)),
    Case("Tensor.argmax", lambda L, x, **kw: x.argmax(**kw), unary(NUM, kw=dim_kw(allow_tuple=False))),
    Case("Tensor.argmin", lambda L, x, **kw: x.argmin(**kw), unary(NUM, kw=dim_kw(allow_tuple=False))),
    Case("fg.argmax", lambda L, x: L.argmax(x), unary(NUM)),
    Case("Tensor.var", lambda L, x, **kw: x.var(**kw), unary(FLOATS, kw=_var_kw), tol=5),
    Case("Tensor.std", lambda L, x, **kw: x.std(**kw), unary(FLOATS, kw=_var_kw), tol=5, grad_when=_std_not_tiny),
    Case("fg.var()", lambda L, x: L.var(x), unary(FLOATS)),
    Case("fg.std()", lambda L, x: L.std(x), unary(FLOATS), grad_when=_std_not_tiny),
    Case("Tensor.logsumexp", lambda L, x, **kw: x.logsumexp(**kw), unary(FLOATS, kw=dim_kw(allow_none=False))),
    Case("fg.logsumexp", lambda L, x, **kw: L.logsumexp(x, **kw), unary(FLOATS, kw=dim_kw(allow_none=False))),
    Case("Tensor.softmax", lambda L, x, dim: x.softmax(dim), unary(FLOATS, kw=dim_kw(False, False, False))),
    Case("Tensor.log_softmax", lambda L, x, dim: x.log_softmax(dim), unary(FLOATS, kw=dim_kw(False, False, False))),
    Case("fg.softmax", lambda L, x, dim: L.softmax(x, dim), unary(FLOATS, kw=dim_kw(False, False, False))),
    Case("fg.log_softmax", lambda L, x, dim: L.log_softmax(x, dim), unary(FLOATS, kw=dim_kw(False, False, False))),
    Case("F.softmax", lambda L, x, dim: L.nn.functional.softmax(x, dim=dim), unary(FLOATS, kw=dim_kw(False, False, False))),
    Case("F.log_softmax", lambda L, x, dim: L.nn.functional.log_softmax(x, dim=dim),
         unary(FLOATS, kw=dim_kw(False, False, False))),
    Case("Tensor.all", lambda L, x: x.all(), unary()),
    Case("Tensor.any", lambda L, x: x.any(), unary()),
    Case("Tensor.all(dim)", lambda L, x, **kw: x.all(**kw), unary(kw=dim_kw(allow_none=False, allow_tuple=False))),
    Case("Tensor.any(dim)", lambda L, x, **kw: x.any(**kw), unary(kw=dim_kw(allow_none=False, allow_tuple=False))),
]

# ----------------------------------------------------------------------------- clamp, where, matmul


def _bound():
    return st.none() | st.floats(-3, 3, allow_subnormal=False) | st.integers(-3, 3)


CLAMP_WHERE_MATMUL = [
    Case("Tensor.clamp", lambda L, x, lo, hi: x.clamp(lo, hi),
         unary(kw=lambda s: st.fixed_dictionaries({"lo": _bound(), "hi": _bound()}))),
    Case("fg.clamp(min=)", lambda L, x, lo: L.clamp(x, min=lo), unary(kw=lambda s: st.fixed_dictionaries({"lo": _bound()}))),
    Case("Tensor.clip", lambda L, x, lo, hi: x.clip(lo, hi),
         unary(kw=lambda s: st.fixed_dictionaries({"lo": _bound(), "hi": _bound()}))),
    Case("clamp(tensor bounds)", lambda L, x, lo, hi: x.clamp(lo, hi), nary(3, FLOATS, scalar_ok=False)),
    Case("fg.where", lambda L, c, a, b: L.where(c, a, b),
         nary(3, first_tensor=True).filter(lambda a: a.inputs[0].base.dtype == bool)),
    Case("Tensor.where", lambda L, c, a, b: a.where(c, b),
         nary(3, first_tensor=True).filter(lambda a: a.inputs[0].base.dtype == bool and hasattr(a.inputs[1], "base"))),
    Case("where(x>0)", lambda L, a, b: L.where(a > 0, a, b), nary(2, FLOATS, first_tensor=True)),
]


@st.composite
def _matmul_args(draw, dtypes_=FLOATS, batch=True):
    n, k, m = (draw(st.integers(0, 4)) for _ in range(3))
    if draw(st.integers(0, 9)) == 0:  # mismatched inner dims
        k2 = draw(st.integers(0, 4))
    else:
        k2 = k
    shapes_ = draw(st.sampled_from(["2x2", "1x2", "2x1", "1x1", "3x2", "2x3", "3x3", "4x3"] if batch else ["2x2"]))
    b1 = draw(hnp_batch()) if shapes_[0] in "34" else ()
    b2 = draw(hnp_batch()) if shapes_[2] in "34" else ()
    sa = {"1": (k,), "2": (n, k)}.get(shapes_[0], b1 + (n, k))
    sb = {"1": (k2,), "2": (k2, m)}.get(shapes_[2], b2 + (k2, m))
    dt = draw(st.sampled_from(dtypes_))
    dt2 = dt  # mixed dtypes: torch's own answer depends on emptiness (empty mixed products succeed)
    return Args([draw(tensors(sa, dt)), draw(tensors(sb, dt2))], {}, draw(seeds))


def hnp_batch():
    return st.lists(st.integers(1, 3), min_size=1, max_size=2).map(tuple)


CLAMP_WHERE_MATMUL += [
    Case("fg.matmul", lambda L, a, b: L.matmul(a, b), _matmul_args(), tol=5),
    Case("__matmul__", lambda L, a, b: a @ b, _matmul_args(), tol=5),
    # bool products: torch refuses them unless they are empty, so only int64 is drawn
    Case("matmul(int)", lambda L, a, b: a @ b, _matmul_args(("int64",), batch=False)),
    Case("fg.mm", lambda L, a, b: L.mm(a, b), _matmul_args(batch=False), tol=5),
    Case("Tensor.mm", lambda L, a, b: a.mm(b), _matmul_args(batch=False), tol=5),
    Case("F.linear", lambda L, x, w, b: L.nn.functional.linear(x, w, b), nary(3, FLOATS, scalar_ok=False), tol=5),
]

# ----------------------------------------------------------------------------- shape ops


@st.composite
def _reshape_kw(draw, shape):
    n = 1
    for s in shape:
        n *= s
    if n == 0:
        target = draw(st.sampled_from([(0,), (0, 3), tuple(shape), (-1,)]))
    else:
        divs = [d for d in range(1, n + 1) if n % d == 0]
        a = draw(st.sampled_from(divs))
        target = draw(st.sampled_from([(n,), (a, n // a), (a, -1), (-1, a), (1, n, 1), (-1,), (n + 1,)]))
    return {"shape": target}


def _dims_perm(shape):
    return st.permutations(range(len(shape))).map(lambda p: {"dims": tuple(p)})


@st.composite
def _split_kw(draw, shape):
    nd = len(shape)
    d = draw(st.integers(-nd, nd - 1)) if nd else 0
    size = shape[d] if nd else 0
    kind = draw(st.sampled_from(["int", "list"]))
    if kind == "int":
        s = draw(st.integers(0 if draw(st.integers(0, 9)) == 0 else 1, 4))
    else:
        parts = draw(st.lists(st.integers(0, size), max_size=4))
        s = parts + [max(size - sum(parts), 0)] if draw(st.integers(0, 5)) else parts
    return {"split": s, "dim": d}


@st.composite
def _cat_args(draw, stack=False):
    n = draw(st.integers(1, 3))
    base = list(draw(shapes(min_dims=0 if stack else 1)))
    nd = len(base)
    d = draw(st.integers(-nd - (1 if stack else 0), nd - (0 if stack else 1))) if (nd or stack) else 0
    xs = []
    for _ in range(n):
        sh = list(base)
        if not stack and nd and draw(st.integers(0, 1)):
            sh[d] = draw(st.integers(0, 3))
        if draw(st.integers(0, 15)) == 0:  # now and then a mismatch, or an empty 1-D tensor
            sh = draw(st.sampled_from([[0], list(draw(shapes()))]))
        dt = draw(st.sampled_from(ALL_DTYPES)) if draw(st.integers(0, 3)) == 0 else "float32"
        xs.append(draw(tensors(tuple(sh), dt)))
    return Args([xs], {"dim": d}, draw(seeds))


def _chunk_kw(shape):
    nd = len(shape)
    return st.fixed_dictionaries({"chunks": st.integers(1, 5), "dim": st.integers(-nd, nd - 1) if nd else st.just(0)})


def _dim_of(shape, extra=0):
    nd = len(shape)
    return st.integers(-nd - extra, nd - 1 + extra) if nd + extra else st.just(0)


@st.composite
def _narrow_kw(draw, shape):
    nd = len(shape)
    if not nd:
        return {"dim": 0, "start": 0, "length": 0}
    d = draw(st.integers(-nd, nd - 1))
    start = draw(st.integers(-shape[d], shape[d]) if shape[d] else st.just(0))
    length = draw(st.integers(0, shape[d] + 1))
    return {"dim": d, "start": start, "length": length}


@st.composite
def _expand_kw(draw, shape):
    lead = draw(st.lists(st.integers(0, 3), max_size=2))
    tail = [draw(st.sampled_from([s, -1] + ([2, 3, 0] if s == 1 else []))) for s in shape]
    return {"size": tuple(lead) + tuple(tail)}


SHAPE_OPS = [
    Case("Tensor.reshape", lambda L, x, shape: x.reshape(*shape), unary(kw=_reshape_kw)),
    Case("fg.reshape", lambda L, x, shape: L.reshape(x, shape), unary(kw=_reshape_kw)),
    Case("Tensor.view", lambda L, x, shape: x.view(*shape), unary(kw=_reshape_kw)),
    Case("Tensor.reshape_as", lambda L, x, y: x.reshape_as(y), nary(2, scalar_ok=False, bad_shapes=True)),
    Case("Tensor.view_as", lambda L, x, y: x.view_as(y), nary(2, scalar_ok=False, bad_shapes=True)),
    Case("Tensor.flatten", lambda L, x, s, e: x.flatten(s, e),
         unary(kw=lambda sh: st.fixed_dictionaries({"s": _dim_of(sh), "e": _dim_of(sh)}))),
    Case("fg.flatten", lambda L, x: L.flatten(x), unary()),
    Case("Tensor.squeeze()", lambda L, x: x.squeeze(), unary()),
    Case("Tensor.squeeze(dim)", lambda L, x, d: x.squeeze(d), unary(kw=lambda sh: st.fixed_dictionaries({"d": _dim_of(sh)}))),
    Case("fg.squeeze", lambda L, x, d: L.squeeze(x, d), unary(kw=lambda sh: st.fixed_dictionaries({"d": _dim_of(sh)}))),
    Case("Tensor.unsqueeze", lambda L, x, d: x.unsqueeze(d), unary(kw=lambda sh: st.fixed_dictionaries({"d": _dim_of(sh, 1)}))),
    Case("fg.unsqueeze", lambda L, x, d: L.unsqueeze(x, d), unary(kw=lambda sh: st.fixed_dictionaries({"d": _dim_of(sh, 1)}))),
    Case("Tensor.transpose", lambda L, x, a, b: x.transpose(a, b),
         unary(kw=lambda sh: st.fixed_dictionaries({"a": _dim_of(sh), "b": _dim_of(sh)}))),
    Case("fg.transpose", lambda L, x, a, b: L.transpose(x, a, b),
         unary(kw=lambda sh: st.fixed_dictionaries({"a": _dim_of(sh), "b": _dim_of(sh)}))),
    Case("Tensor.t", lambda L, x: x.t(), unary()),
    Case("fg.t", lambda L, x: L.t(x), unary()),
    Case("Tensor.T", lambda L, x: x.T, unary(max_dims=2)),
    Case("Tensor.mT", lambda L, x: x.mT, unary()),
    Case("Tensor.permute", lambda L, x, dims: x.permute(dims), unary(kw=_dims_perm)),
    Case("fg.permute", lambda L, x, dims: L.permute(x, dims), unary(kw=_dims_perm)),
    Case("Tensor.narrow", lambda L, x, **kw: x.narrow(**kw), unary(kw=_narrow_kw)),
    Case("fg.narrow", lambda L, x, **kw: L.narrow(x, kw["dim"], kw["start"], kw["length"]), unary(kw=_narrow_kw)),
    Case("Tensor.select", lambda L, x, d, i: x.select(d, i),
         unary(kw=lambda sh: st.fixed_dictionaries({"d": _dim_of(sh), "i": st.integers(-5, 5)}))),
    Case("Tensor.expand", lambda L, x, size: x.expand(size), unary(kw=_expand_kw)),
    Case("Tensor.expand_as", lambda L, x, y: x.expand_as(y), nary(2, scalar_ok=False)),
    Case("Tensor.split", lambda L, x, split, dim: x.split(split, dim), unary(kw=_split_kw)),
    Case("fg.split", lambda L, x, split, dim: L.split(x, split, dim), unary(kw=_split_kw)),
    Case("Tensor.chunk", lambda L, x, chunks, dim: x.chunk(chunks, dim), unary(kw=_chunk_kw)),
    Case("fg.chunk", lambda L, x, chunks, dim: L.chunk(x, chunks, dim), unary(kw=_chunk_kw)),
    Case("Tensor.unbind", lambda L, x, d: x.unbind(d), unary(kw=lambda sh: st.fixed_dictionaries({"d": _dim_of(sh)}))),
    Case("fg.unbind", lambda L, x, d: L.unbind(x, d), unary(kw=lambda sh: st.fixed_dictionaries({"d": _dim_of(sh)}))),
    Case("fg.cat", lambda L, xs, dim: L.cat(xs, dim), _cat_args()),
    Case("fg.concat", lambda L, xs, dim: L.concat(xs, dim=dim), _cat_args()),
    Case("fg.stack", lambda L, xs, dim: L.stack(xs, dim), _cat_args(stack=True)),
    Case("Tensor.size", lambda L, x: (tuple(x.size()), tuple(x.shape), x.dim(), x.ndim, x.numel(), len(x) if x.dim() else 0),
         unary()),
    Case("Tensor.size(dim)", lambda L, x, d: x.size(d), unary(kw=lambda sh: st.fixed_dictionaries({"d": _dim_of(sh, 1)}))),
    Case("fg.numel", lambda L, x: L.numel(x), unary()),
    Case("Tensor.meta", lambda L, x: (x.element_size(), x.is_leaf, x.requires_grad, L.is_tensor(x),
                                      x.detach().is_leaf, x.data.requires_grad), unary()),
    Case("fg.equal", lambda L, a, b: L.equal(a, b), nary(2, scalar_ok=False)),
    Case("fg.allclose", lambda L, a, b: L.allclose(a, b), nary(2, FLOATS, scalar_ok=False, same_dtype=True)),
    Case("Tensor.is_contiguous", lambda L, x: x.is_contiguous(), unary()),
    Case("Tensor.item", lambda L, x: x.item(), unary(max_dims=1)),
    Case("Tensor.tolist", lambda L, x: x.tolist(), unary()),
    Case("__float__", lambda L, x: float(x), unary(max_dims=1)),
    Case("__int__", lambda L, x: int(x), unary(max_dims=1)),
    Case("__bool__", lambda L, x: bool(x), unary(max_dims=1)),
    Case("__len__", lambda L, x: len(x), unary()),
    Case("__iter__", lambda L, x: list(x), unary()),
]

def _autograd_grad(L, a, b):
    out = (a * b + a.exp()).sum()
    return L.autograd.grad(out, [t for t in (a, b) if hasattr(t, "requires_grad")], allow_unused=True)


def _backward_gradient(L, a):
    y = a * 2 + 1
    y.backward(L.ones_like(y) * 0.5)
    return a.grad


AUTOGRAD = [
    Case("autograd.grad", _autograd_grad, nary(2, FLOATS, first_tensor=True), grad=False, tol=5),
    Case("Tensor.backward(gradient)", _backward_gradient, unary(FLOATS), grad=False),
]

# ----------------------------------------------------------------------------- the math family
# (rust/ops/math.rs, binary_math.rs, scan.rs): every op of the op table, its function form and
# its in-place form on a clone.
_MATH_UNARY = ["log1p", "expm1", "log2", "log10", "exp2", "rsqrt", "reciprocal", "tan", "asin", "acos", "atan",
               "sinh", "cosh", "asinh", "acosh", "atanh", "erf", "erfc", "erfinv", "lgamma", "digamma", "sinc",
               "sign", "sgn", "floor", "ceil", "trunc", "frac", "round", "logit", "fix",
               "arcsin", "arccos", "arctan", "arcsinh", "arccosh", "arctanh"]
_MATH_GRAD_WHEN = {
    # PyTorch's sinc backward is (cos(pi x) pi x - sin(pi x)) / (pi x^2), which cancels near 0: at
    # x = 1e-8 it is off by a factor of 5 in float64. ferrograd takes the series -pi^2 x / 3 there
    # (tests/test_math_accuracy.py checks it against mpmath-free float64 references), so gradients
    # are not compared where the output is within 1e-10 of 1 (|pi x| below about 2.5e-5).
    "sinc": lambda out: not bool(((1 - out.detach().double()).abs() < 1e-10).any()),
    # At x = +-0 logit's gradient is 1 / (x (1 - x)): PyTorch gives +inf on its scalar path and
    # -inf at -0 on its vectorised one (16 or more elements); ferrograd gives +inf, the limit from
    # inside the domain, always. logit(+-0) = -inf, so those outputs are not compared.
    "logit": lambda out: not bool(out.detach().isneginf().any()),
    "rsqrt": lambda out: _rsqrt_cube_fits(out),
}


def _rsqrt_cube_fits(out) -> bool:
    """PyTorch's rsqrt backward is -0.5 * grad * result^3, which gives -inf wherever result^3
    overflows the dtype (x below about 2e-26 in float32) even when the gradient is finite;
    ferrograd multiplies left to right, grad * -0.5 * y * y * y, and keeps a gradient that fits
    (-2.45e38 where PyTorch gave -inf at x = 6.8e-27). Gradients are compared where the cube fits."""
    import torch

    return not bool((out.detach().double().abs() ** 3 > torch.finfo(out.dtype).max).any())
MATH = []
for _n in _MATH_UNARY:
    # sgn's gradient is a ZeroTensor in PyTorch, which cannot be read out: values only.
    _grad = _n != "sgn"
    _when = _MATH_GRAD_WHEN.get(_n)
    MATH.append(Case(f"fg.{_n}", lambda L, x, _n=_n: getattr(L, _n)(x), unary(), grad=_grad, grad_when=_when))
    MATH.append(Case(f"Tensor.{_n}_", lambda L, x, _n=_n: getattr(x.clone(), _n + "_")(), unary(), grad=_grad,
                     grad_when=_when))
MATH += [
    Case("round(decimals)", lambda L, x, d: x.round(decimals=d), unary(FLOATS, kw=lambda s: st.fixed_dictionaries(
        {"d": st.integers(-2, 3)}))),
    Case("logit(eps)", lambda L, x, eps: L.logit(x, eps), unary(FLOATS, 0.0, 1.0, kw=lambda s: st.fixed_dictionaries(
        {"eps": st.none() | st.floats(1e-6, 0.4)}))),
]
for _n in ("atan2", "arctan2", "hypot", "fmod", "copysign", "logaddexp", "logaddexp2", "xlogy", "fmax", "fmin"):
    _args = nary(2, ALL_DTYPES, scalar_ok=False, first_tensor=True)
    # atan2's partials divide by x^2 + y^2: ferrograd squares in float64, PyTorch in the element
    # type, where a tiny float32 underflows (as for division above).
    _args = _args.filter(_no_underflowing_square) if _n in ("atan2", "arctan2") else _args
    MATH.append(Case(f"fg.{_n}", lambda L, a, b, _n=_n: getattr(L, _n)(a, b), _args))
    MATH.append(Case(f"Tensor.{_n}_", lambda L, a, b, _n=_n: getattr(a.clone(), _n + "_")(b), _args))
for _n in ("cumsum", "cumprod"):
    MATH.append(Case(f"Tensor.{_n}", lambda L, x, dim, _n=_n: getattr(x, _n)(dim), unary(kw=lambda s: st.fixed_dictionaries(
        {"dim": st.integers(-max(len(s), 1), max(len(s), 1) - 1)}))))
MATH += [
    # PyTorch's prod() and (since 2.15) prod(dim) of one NaN element have a NaN gradient (grad *
    # prod / x); ferrograd gives the exact derivative, the product of the other elements (1):
    # gradients of a non-finite product are not compared.
    Case("Tensor.prod", lambda L, x: x.prod(), unary(), grad_when=lambda out: bool(out.detach().isfinite().all())),
    Case("Tensor.prod(dim)", lambda L, x, dim, keepdim: x.prod(dim, keepdim), unary(kw=lambda s: st.fixed_dictionaries(
        {"dim": st.integers(-max(len(s), 1), max(len(s), 1) - 1), "keepdim": st.booleans()})),
         grad_when=lambda out: bool(out.detach().isfinite().all())),
]

ALL = MATH + AUTOGRAD + UNARY + BINARY + INPLACE + REDUCTIONS + CLAMP_WHERE_MATMUL + SHAPE_OPS
