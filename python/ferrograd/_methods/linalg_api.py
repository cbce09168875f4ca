"""The `torch.linalg` functions ferrograd has, for `fg.linalg` (a module that re-exports this
one's `__all__`): norms, det/slogdet/inv/solve/cholesky/matrix_power/matrix_exp, cross, vecdot,
multi_dot, diagonal, matmul. Decompositions that need an eigen- or singular value solver (svd,
eigh, qr, pinv, the nuclear and spectral norms) are not here.
"""

from __future__ import annotations

import math
import numbers
from collections import namedtuple

from .. import _core
from .._core import Tensor
from . import decompositions as _dec
from . import linalg as _lin
from . import reductions as _red
from ._util import broadcast_shape, from_np, no_out, wrap_dim

__all__ = [
    "vector_norm", "matrix_norm", "norm", "det", "slogdet", "inv", "inv_ex", "solve", "solve_triangular", "cholesky",
    "cholesky_ex", "matrix_power", "matrix_exp", "cross", "vecdot", "multi_dot", "diagonal", "matmul", "LinAlgError",
]

_inv_ex = namedtuple("inv_ex", ["inverse", "info"])
_cholesky_ex = namedtuple("cholesky_ex", ["L", "info"])


def vector_norm(x: Tensor, ord=2, dim=None, keepdim: bool = False, *, dtype=None, out=None) -> Tensor:
    """The vector ord-norm over `dim` (every element by default): inf, -inf, 0 or any number."""
    no_out("linalg.vector_norm", out)
    if isinstance(ord, str):
        raise RuntimeError(f"linalg.vector_norm: ord must be a number, got {ord!r}")
    return _red.norm(x, ord, dim, keepdim, dtype)


def matrix_norm(A: Tensor, ord="fro", dim=(-2, -1), keepdim: bool = False, *, dtype=None, out=None) -> Tensor:
    """'fro', 1, -1, inf, -inf (max/min column or row sums of |A|) over the two dims `dim`."""
    no_out("linalg.matrix_norm", out)
    x = A.to(dtype) if dtype is not None else A
    if x.ndim < 2:
        raise RuntimeError("linalg.matrix_norm: The input tensor A must have at least 2 dimensions.")
    d0, d1 = (wrap_dim(d, x.ndim) for d in dim)
    if ord == "fro":
        return _red.norm(x, "fro", (d0, d1), keepdim)
    if ord in ("nuc", 2, -2):
        raise NotImplementedError(f"linalg.matrix_norm(ord={ord!r}) needs singular values, which ferrograd does not compute")
    if ord not in (1, -1, math.inf, -math.inf):
        raise RuntimeError(f"linalg.matrix_norm: Order {ord} not supported.")
    # ord 1: the largest column sum (sum over rows d0), inf: the largest row sum (sum over d1).
    summed, other = (d0, d1) if abs(ord) == 1 else (d1, d0)
    sums = x.abs().sum(summed, keepdim=True)
    if ord > 0 and sums.shape[other] == 0:  # PyTorch: the largest of no sums is 0 (off the graph)
        ext = sums.sum(other, keepdim=True).detach()
    else:
        ext = sums.amax(other, keepdim=True) if ord > 0 else sums.amin(other, keepdim=True)
    return ext if keepdim else ext.squeeze(max(d0, d1)).squeeze(min(d0, d1))


def norm(A: Tensor, ord=None, dim=None, keepdim: bool = False, *, dtype=None, out=None) -> Tensor:
    """vector_norm or matrix_norm as PyTorch picks: a matrix norm for a 2-tuple `dim`, or for a
    2-D input with `ord` given and no dim; the 2-norm of all elements when ord and dim are None."""
    no_out("linalg.norm", out)
    if dim is not None and not isinstance(dim, numbers.Integral) and len(dim) == 2:
        return matrix_norm(A, "fro" if ord is None else ord, tuple(dim), keepdim, dtype=dtype)
    if ord is not None and dim is None and A.ndim == 2:
        return matrix_norm(A, ord, (-2, -1), keepdim, dtype=dtype)
    if ord is not None and dim is None and A.ndim != 1:
        raise RuntimeError(f"linalg.norm: If dim is not specified but ord is, the input must be 1D or 2D. Got {A.ndim}D.")
    if isinstance(ord, str):
        raise RuntimeError(f"linalg.norm: ord={ord!r} needs a matrix (a 2-D input or a dim of two dims)")
    return vector_norm(A, 2 if ord is None else ord, dim, keepdim, dtype=dtype)


det = _dec.det
slogdet = _dec.slogdet
LinAlgError = _dec.LinAlgError
matrix_exp = _dec.matrix_exp


def matrix_power(A: Tensor, n: int) -> Tensor:
    return _dec.matrix_power(A, n)


def inv(A: Tensor, *, out=None) -> Tensor:
    """The inverse of square matrices; a singular one raises LinAlgError."""
    return _dec.inverse(A, out=out)


def inv_ex(A: Tensor, *, check_errors: bool = False, out=None):
    """(inverse, info): info 0 where the matrix was invertible, else the first zero pivot's
    1-based index, per matrix; a singular matrix's inverse is NaN (PyTorch's holds whatever its
    solver left) and takes no gradient (PyTorch's gradient there is NaN); the others are exact."""
    no_out("linalg.inv_ex", out)
    x, info = _dec.inverse_ex(A, "inv_ex")
    if check_errors:
        _dec.raise_at("linalg.inv_ex", info, "singular")
    return _inv_ex(x, from_np(info))


def solve(A: Tensor, B: Tensor, *, left: bool = True, out=None) -> Tensor:
    """X with A @ X = B (or X @ A = B when left=False); B a batch of vectors or matrices."""
    no_out("linalg.solve", out)
    _dec._square("solve", A)
    if not left:
        return solve(A.mT, B.mT).mT
    vector = B.ndim == 1 or (B.ndim == A.ndim - 1 and tuple(B.shape) == tuple(A.shape[:-1]))
    b = B.unsqueeze(-1) if vector else B
    batch = broadcast_shape(A.shape[:-2], b.shape[:-2])
    a = A.expand(*(batch + tuple(A.shape[-2:])))
    b = b.expand(*(batch + tuple(b.shape[-2:])))
    if b.shape[-2] != a.shape[-1]:
        raise RuntimeError(f"linalg.solve: Incompatible shapes of A and B for the equation AX = B ({list(A.shape[-2:])} "
                           f"and {list(B.shape[-2:])})")
    x = _dec.solve_square(a, b, "torch.linalg.solve")
    return x.squeeze(-1) if vector else x


def solve_triangular(A: Tensor, B: Tensor, *, upper: bool, left: bool = True, unitriangular: bool = False,
                     out=None) -> Tensor:
    """X with A @ X = B for triangular A (only its upper or lower triangle is read)."""
    no_out("linalg.solve_triangular", out)
    if not left:
        return solve_triangular(A.mT, B.mT, upper=not upper, unitriangular=unitriangular).mT
    n = A.shape[-1]
    tri = A.triu() if upper else A.tril()
    rows: list = [None] * n
    order = range(n - 1, -1, -1) if upper else range(n)
    for r in order:
        rhs = B.narrow(-2, r, 1)
        for j in (range(r + 1, n) if upper else range(r)):
            rhs = rhs - tri.narrow(-2, r, 1).narrow(-1, j, 1) * rows[j]
        rows[r] = rhs if unitriangular else rhs / tri.narrow(-2, r, 1).narrow(-1, r, 1)
    return _core.cat(rows, B.ndim - 2) if n else B.clone()


def cholesky(A: Tensor, *, upper: bool = False, out=None) -> Tensor:
    """L with A = L @ L.mH for symmetric positive-definite A (U = L.mH when upper)."""
    return _dec.cholesky(A, upper, out=out)


def cholesky_ex(A: Tensor, *, upper: bool = False, check_errors: bool = False, out=None):
    """(L, info): info 0 for a positive-definite matrix, else the order of its first leading
    minor that is not, per matrix; such a matrix's L is NaN and the others are exact."""
    no_out("linalg.cholesky_ex", out)
    low, info = _dec.cholesky_ex(A, upper)
    if check_errors:
        _dec.raise_at("linalg.cholesky_ex", info, "not positive-definite")
    return _cholesky_ex(low, from_np(info))


def cross(input: Tensor, other: Tensor, *, dim: int = -1, out=None) -> Tensor:
    return _lin.cross(input, other, dim, out=out)


def vecdot(x: Tensor, y: Tensor, *, dim: int = -1, out=None) -> Tensor:
    """sum(x * y) over `dim` (broadcast)."""
    no_out("linalg.vecdot", out)
    return (x * y).sum(dim)


def multi_dot(tensors, *, out=None) -> Tensor:
    """The product of a chain of matrices (the first may be a vector, and the last)."""
    no_out("linalg.multi_dot", out)
    ts = list(tensors)
    if len(ts) < 2:
        raise RuntimeError(f"multi_dot(): expected at least 2 tensors but got {len(ts)}")
    result = ts[0]
    for t in ts[1:]:
        result = result.matmul(t)
    return result


def diagonal(A: Tensor, *, offset: int = 0, dim1: int = -2, dim2: int = -1) -> Tensor:
    return A.diagonal(offset, dim1, dim2)


def matmul(input: Tensor, other: Tensor, *, out=None) -> Tensor:
    no_out("linalg.matmul", out)
    return input.matmul(other)

