"""Reductions composed from the core's: amax/amin (gradient shared by ties), aminmax,
count_nonzero, nansum/nanmean, var_mean/std_mean, logcumsumexp, diff, norm and dist."""

from __future__ import annotations

import math
import numbers
from collections import namedtuple

import numpy as np

from .. import _core
from .._core import Tensor
from ._util import (
    assign,
    from_np,
    graft,
    needs_grad,
    no_out,
    np_of,
    register,
    scalar_tensor,
    tie_reduce,
    type_name,
    wrap_dim,
    wrap_dims,
)

_aminmax = namedtuple("aminmax", ["min", "max"])


def _reduced_shape(shape, dims, keepdim):
    if keepdim:
        return [1 if d in dims else s for d, s in enumerate(shape)]
    return [s for d, s in enumerate(shape) if d not in dims]


def _extreme(op: str, input: Tensor, dim, keepdim: bool) -> Tensor:
    dims = wrap_dims(() if dim is None else dim, input.ndim, op)
    if dim is None or (not isinstance(dim, numbers.Integral) and len(dims) == 0):
        dims = list(range(input.ndim))
    shape = list(input.shape)
    if input.numel() == 0 and dim is None:
        raise RuntimeError(f"{op}(): Expected reduction dim to be specified for input.numel() == 0. Specify the "
                           f"reduction dim with the 'dim' argument.")
    if any(shape[d] == 0 for d in dims) or (input.numel() == 0 and not dims):
        raise IndexError(f"{op}(): Expected reduction dim {dims[0] if dims else 0} to have non-zero size.")
    a = np_of(input)
    f = np.max if op == "amax" else np.min
    r = f(a, axis=tuple(dims), keepdims=False) if dims else a.copy()
    out_shape = _reduced_shape(shape, dims, keepdim)
    if not (needs_grad(input) and input.is_floating_point()):
        return from_np(np.asarray(r, dtype=a.dtype).reshape(out_shape), like=input)
    keep = [d for d in range(input.ndim) if d not in dims]
    rows = input.permute(*(keep + dims)).reshape(-1) if input.ndim else input.reshape(-1)
    k = int(np.prod([shape[d] for d in dims])) if dims else 1
    seg = np.repeat(np.arange(r.size), k)
    return tie_reduce(rows, seg, np.asarray(r).reshape(-1)).reshape(*out_shape)


@register("amax")
def amax(input: Tensor, dim=(), keepdim: bool = False, *, out=None) -> Tensor:
    """Maximum over `dim` (every dim by default); the gradient is shared evenly by tied maxima."""
    no_out("amax", out)
    return _extreme("amax", input, None if dim == () else dim, keepdim)


@register("amin")
def amin(input: Tensor, dim=(), keepdim: bool = False, *, out=None) -> Tensor:
    no_out("amin", out)
    return _extreme("amin", input, None if dim == () else dim, keepdim)


@register("aminmax")
def aminmax(input: Tensor, *, dim: int | None = None, keepdim: bool = False, out=None):
    """(min, max) over `dim` or all elements."""
    no_out("aminmax", out)
    if dim is None and input.numel() == 0:
        raise RuntimeError("aminmax(): cannot compute aminmax over an empty dimension as the operation has no identity.")
    if dim is not None and input.ndim > 0 and input.shape[wrap_dim(dim, input.ndim)] == 0:
        raise IndexError(f"aminmax: Expected reduction dim {wrap_dim(dim, input.ndim)} to have non-zero size.")
    mn = _extreme("amin", input, dim, keepdim)
    mx = _extreme("amax", input, dim, keepdim)
    if dim is None and keepdim:
        mn, mx = mn.reshape(*([1] * input.ndim)), mx.reshape(*([1] * input.ndim))
    return _aminmax(mn, mx)


@register("count_nonzero")
def count_nonzero(input: Tensor, dim=None) -> Tensor:
    """Number of nonzero elements over `dim` (all by default), int64."""
    dims = wrap_dims(dim, input.ndim, "count_nonzero")
    a = np_of(input) != 0
    # No dims (None, or `dim=()` as in PyTorch) counts over all of them.
    return from_np(np.asarray(a.sum(axis=tuple(dims) if dims else None), dtype=np.int64))


def _nan_zeroed(x: Tensor) -> Tensor:
    return _core.where(x != x, scalar_tensor(0, x.dtype), x) if x.is_floating_point() else x


@register("nansum")
def nansum(input: Tensor, dim=None, keepdim: bool = False, *, dtype=None, out=None) -> Tensor:
    """sum() treating NaN as zero."""
    no_out("nansum", out)
    x = _nan_zeroed(input)
    if dim is None:
        return x.sum(dtype=dtype) if dtype is not None else x.sum()
    return x.sum(dim, keepdim, dtype=dtype) if dtype is not None else x.sum(dim, keepdim)


@register("nanmean")
def nanmean(input: Tensor, dim=None, keepdim: bool = False, *, dtype=None, out=None) -> Tensor:
    """mean() of the non-NaN elements (NaN where there are none)."""
    no_out("nanmean", out)
    if not input.is_floating_point():
        raise RuntimeError(f"nanmean(): expected input to have floating point dtype but got {str(input.dtype).split('.')[-1]}")
    x = input.to(dtype) if dtype is not None else input
    count = (x == x).sum(dim, keepdim) if dim is not None else (x == x).sum()
    out = nansum(x, dim, keepdim) / count.to(x.dtype)
    if not needs_grad(x):
        return out
    # An all-NaN slice: NaN, and (as PyTorch's nansum backward, g / 0 * 0) a NaN gradient.
    dims = wrap_dims(dim, x.ndim)
    all_nan = from_np(np.isnan(np_of(x)).all(axis=tuple(dims), keepdims=True) if dims else np.isnan(np_of(x)))
    nan_w = _core.where(all_nan, scalar_tensor(math.nan, x.dtype), scalar_tensor(0, x.dtype))
    poison = _core.where(all_nan, x, scalar_tensor(0, x.dtype)) * nan_w
    return out + (poison.sum(dim, keepdim) if dim is not None else poison.sum())


def _var_kw(unbiased, correction):
    kw = {}
    if unbiased is not None:
        kw["unbiased"] = unbiased
    if correction is not None:
        kw["correction"] = correction
    return kw


@register("var_mean", method=False)
def var_mean(input: Tensor, dim=None, unbiased=None, keepdim: bool = False, *, correction=None, out=None):
    """(var, mean) over `dim`, as two reductions."""
    no_out("var_mean", out)
    if isinstance(dim, bool):  # var_mean(x, unbiased) positional form
        unbiased, dim = dim, None
    kw = _var_kw(unbiased, correction)
    mean = input.mean(dim, keepdim) if dim is not None else input.mean()
    if dim is None and keepdim:
        mean = mean.reshape(*([1] * input.ndim))
    return input.var(dim, keepdim=keepdim, **kw), mean


@register("std_mean", method=False)
def std_mean(input: Tensor, dim=None, unbiased=None, keepdim: bool = False, *, correction=None, out=None):
    """(std, mean) over `dim`."""
    no_out("std_mean", out)
    if isinstance(dim, bool):
        unbiased, dim = dim, None
    kw = _var_kw(unbiased, correction)
    mean = input.mean(dim, keepdim) if dim is not None else input.mean()
    if dim is None and keepdim:
        mean = mean.reshape(*([1] * input.ndim))
    return input.std(dim, keepdim=keepdim, **kw), mean


@register("logcumsumexp")
def logcumsumexp(input: Tensor, dim: int, *, out=None) -> Tensor:
    """log(cumsum(exp(x))) along `dim`, stable for any range: row i is logsumexp of x[..j<=i]
    (an (n, n) masked matrix per slice, so memory grows with the square of the dim's length)."""
    no_out("logcumsumexp", out)
    if not input.is_floating_point():
        raise NotImplementedError(f'"logcumsumexp_out_cpu" not implemented for \'{type_name(input.dtype)}\'')
    d = wrap_dim(dim, input.ndim)
    if input.ndim == 0:
        return input.clone()
    n = input.shape[d]
    if n == 0:
        return input.clone()
    x = input.movedim(d, -1).unsqueeze(-2)  # (..., 1, n)
    lower = from_np(np.tril(np.ones((n, n), dtype=bool)))
    m = _core.where(lower, x, scalar_tensor(-math.inf, input.dtype))  # (..., n, n)
    return m.logsumexp(-1).movedim(-1, d)


@register("diff")
def diff(input: Tensor, n: int = 1, dim: int = -1, prepend=None, append=None) -> Tensor:
    """n-th forward difference along `dim`, after concatenating prepend/append (logical xor for
    bool tensors)."""
    if input.ndim == 0:
        raise RuntimeError("diff expects input to be at least one-dimensional")
    if n < 0:
        raise RuntimeError(f"order must be non-negative but got {n}")
    d = wrap_dim(dim, input.ndim)
    parts = [t for t in (prepend, input, append) if t is not None]
    parts = [p if isinstance(p, Tensor) else _core.full([1] * 0, p, input.dtype) for p in parts]
    parts = [p.expand(*(list(input.shape[:d]) + [1] + list(input.shape[d + 1:]))) if p.ndim == 0 else p for p in parts]
    x = _core.cat(parts, d) if len(parts) > 1 else input  # (checks prepend and append, for n = 0 too)
    if n == 0:  # nothing to difference: the input without prepend and append, as PyTorch
        return input.clone()
    for _ in range(n):
        length = x.shape[d]
        if length == 0:
            break
        hi, lo = x.narrow(d, 1, length - 1), x.narrow(d, 0, length - 1)
        x = hi.logical_xor(lo) if x.dtype == _core.bool else hi - lo
    return x


# ----------------------------------------------------------------------------- norms


def _safe_root(s: Tensor, p: float) -> Tensor:
    """s ** (1/p) with gradient 0 (not inf or NaN) where s == 0, as PyTorch's norm backward."""
    zero = s == 0
    root = _core.where(zero, scalar_tensor(1, s.dtype), s) ** (1.0 / p)
    return _core.where(zero, scalar_tensor(0, s.dtype), root)


def _vector_norm(x: Tensor, p, dims, keepdim: bool) -> Tensor:
    if isinstance(p, str):
        raise RuntimeError(f"norm: p={p!r} is only defined for matrices (pass a dim of two dims)")
    red = dims if dims else list(range(x.ndim))
    kw = {"keepdim": keepdim}
    if p == math.inf or p < 0:
        name = {math.inf: "inf", -math.inf: "-inf"}.get(p, f"{p:g}")
        if x.numel() == 0 and not dims:
            raise RuntimeError(f"linalg.vector_norm cannot compute the {name} norm on an empty tensor because the "
                               f"operation does not have an identity")
        for d in red:
            if x.shape[d] == 0:
                raise RuntimeError(f"linalg.vector_norm cannot compute the {name} norm on the dimension {d}because this "
                                   f"dimension is empty and the operation does not have an identity")
        if p != -math.inf and p < 0:
            return (x.abs() ** p).sum(red, keepdim=keepdim) ** (1.0 / p)
        return _extreme("amax" if p > 0 else "amin", x.abs(), red, keepdim)
    if p == 0:
        return graft((x != 0).to(x.dtype).sum(red, **kw), x)
    if p == 1:
        return x.abs().sum(red, **kw)
    if p == 2:
        return _core._l2_norm(x, red, keepdim)
    a = x.abs()
    if p < 1:
        # |x| ** p has an infinite slope at 0 (0 * inf = NaN through abs); PyTorch's norm backward
        # gives those elements 0, so the power is taken on 1 there and its value put back to 0.
        zero = a == 0
        powed = _core.where(zero, scalar_tensor(0, a.dtype), _core.where(zero, scalar_tensor(1, a.dtype), a) ** p)
    else:
        powed = a ** p
    return _safe_root(powed.sum(red, **kw), float(p))


@register("norm")
def norm(input: Tensor, p="fro", dim=None, keepdim: bool = False, dtype=None, *, out=None) -> Tensor:
    """Vector p-norm over `dim` (all elements by default); 'fro' is the 2-norm. p may be inf,
    -inf, 0 or any positive number. The gradient at a zero norm is 0, as in PyTorch."""
    no_out("norm", out)
    x = input.to(dtype) if dtype is not None else input
    if not x.is_floating_point():
        raise RuntimeError(f"linalg.vector_norm: Expected a floating point or complex tensor as input. Got {type_name(x.dtype)}")
    if p is None:
        p = "fro"
    dims = wrap_dims(dim, x.ndim, "norm") if dim is not None else []
    if p == "nuc":
        raise NotImplementedError("norm(p='nuc') (the nuclear norm needs an SVD) is not supported by ferrograd")
    if p == "fro":
        if dim is not None and len(dims) > 2:
            raise RuntimeError(f"linalg.matrix_norm: dim must be a 2-tuple. Got {' '.join(map(str, dims))}")
        p = 2
    if not isinstance(p, numbers.Number):
        raise RuntimeError(f"norm: p must be a number, 'fro' or 'nuc', got {p!r}")
    return _vector_norm(x, p, dims, keepdim)


@register("dist")
def dist(input: Tensor, other: Tensor, p: float = 2) -> Tensor:
    """p-norm of input - other (broadcast)."""
    return norm(input - other, p)


@register("renorm")
def renorm(input: Tensor, p: float, dim: int, maxnorm: float) -> Tensor:
    """Each slice along `dim` rescaled so its p-norm is at most maxnorm (PyTorch's 1e-7 guard)."""
    if input.ndim < 2:
        raise RuntimeError(f"renorm: input needs at least 2 dimensions, got {input.ndim} dimensions")
    if p <= 0:
        raise RuntimeError(f"renorm: non-positive-norm not supported (p={p})")
    if maxnorm < 0:
        raise RuntimeError(f"renorm: expected maxnorm to be >= 0 but got {maxnorm}")
    d = wrap_dim(dim, input.ndim)
    red = [k for k in range(input.ndim) if k != d]
    nrm = _vector_norm(input, p, red, True) if red else input.abs()
    factor = _core.where(nrm > maxnorm, maxnorm / (nrm + 1e-7), scalar_tensor(1, input.dtype))
    return input * factor


def _renorm_(self, p, dim, maxnorm):
    return assign(self, renorm, p, dim, maxnorm)


register("renorm_", function=False)(_renorm_)
