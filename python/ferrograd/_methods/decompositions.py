"""Square-matrix algebra written as tensor-op algorithms, so gradients are autograd's through
them: det/slogdet/logdet and inverse by Gaussian elimination with partial pivoting, matrix_power
by repeated squaring, cholesky column by column, matrix_exp by scaling and squaring a Taylor series.

These are O(n) Python steps of O(n^2) tensor work: meant for the small matrices of real scripts
(covariances, small linear systems), not for large dense linear algebra. At a singular matrix
the elimination's gradient is autograd's of its own steps (the cofactors, where PyTorch's
formulas sometimes give 0).
"""

from __future__ import annotations

import math
from collections import namedtuple

import numpy as np

from .. import _core
from .._core import Tensor
from ._util import check_int, from_np, graft, no_out, np_of, register, scalar_tensor, type_name

_slogdet = namedtuple("slogdet", ["sign", "logabsdet"])


@register("matrix_power")
def matrix_power(input: Tensor, n: int) -> Tensor:
    """input @ input @ ... (n times) by repeated squaring; n=0 the identity, n<0 powers the inverse."""
    n = check_int(n, "n", "matrix_power")
    if input.ndim < 2 or input.shape[-1] != input.shape[-2]:
        raise RuntimeError(f"linalg.matrix_power: A must be batches of square matrices, but they are "
                           f"{input.shape[-2] if input.ndim >= 2 else 1} by {input.shape[-1] if input.ndim else 1} matrices")
    if n == 0:
        eye = from_np(np.eye(input.shape[-1], dtype=np_of(input).dtype), like=input)
        return graft(eye.expand(*input.shape).clone(), input)
    base = inverse(input) if n < 0 else input
    n = abs(n)
    result = None
    while n:
        if n & 1:
            result = base if result is None else result.matmul(base)
        n >>= 1
        if n:
            base = base.matmul(base)
    return result if result is not input else input.clone()


# ----------------------------------------------------------------------------- det, inverse


def _square(op: str, a: Tensor):
    if a.ndim < 2 or a.shape[-1] != a.shape[-2]:
        raise RuntimeError(f"linalg.{op}: A must be batches of square matrices, but they are "
                           f"{a.shape[-2] if a.ndim >= 2 else 1} by {a.shape[-1] if a.ndim else 1} matrices")
    if not a.is_floating_point():
        raise RuntimeError(f"linalg.{op}: Expected a floating point or complex tensor as input. Got {type_name(a.dtype)}")
    if a.dtype not in (_core.float32, _core.float64):  # as PyTorch's CPU kernels: no half precision
        kernel = {"cholesky": "cholesky_cpu", "matrix_exp": "matrix_exp"}.get(op, "lu_cpu")
        raise NotImplementedError(f'"{kernel}" not implemented for \'{type_name(a.dtype)}\'')


def _row_swap(m: Tensor, k: int, piv: np.ndarray) -> Tensor:
    """Rows k and piv[b] swapped in every batch matrix b (a gather, so gradients follow)."""
    batch, n = piv.shape, m.shape[-2]
    rows = np.tile(np.arange(n), (int(np.prod(batch, dtype=np.int64)), 1))
    flat_piv = piv.reshape(-1)
    r = np.arange(rows.shape[0])
    rows[r, k] = flat_piv
    rows[r, flat_piv] = k
    idx = np.broadcast_to(rows.reshape(batch + (n, 1)), batch + (n, m.shape[-1]))
    return m.gather(m.ndim - 2, from_np(np.ascontiguousarray(idx)))


def _eliminate(a: Tensor, rhs: Tensor | None):
    """Forward elimination with partial pivoting. Returns (U's diagonal as a list of (...) tensors,
    the number of row swaps per batch (numpy), the reduced augmented matrix)."""
    n = a.shape[-1]
    m = a if rhs is None else _core.cat([a, rhs], a.ndim - 1)
    swaps = np.zeros(a.shape[:-2], dtype=np.int64)
    pivots = []
    for k in range(n):
        col = np.abs(np_of(m.narrow(-1, k, 1).narrow(-2, k, n - k))).reshape(a.shape[:-2] + (n - k,))
        piv = np.argmax(col, axis=-1) + k
        if (piv != k).any():
            m = _row_swap(m, k, piv)
            swaps += piv != k
        row = m.narrow(-2, k, 1)  # (..., 1, cols)
        p = row.narrow(-1, k, 1)  # (..., 1, 1)
        pivots.append(p.reshape(*a.shape[:-2]))
        if k + 1 < n:
            below = m.narrow(-2, k + 1, n - k - 1)
            # A zero pivot means the rest of the column is zero too (partial pivoting): nothing to
            # eliminate, and no 0 / 0.
            safe = _core.where(p == 0, scalar_tensor(1, p.dtype), p)
            factor = below.narrow(-1, k, 1) / safe
            m = _core.cat([m.narrow(-2, 0, k + 1), below - factor * row], m.ndim - 2)
    return pivots, swaps, m


@register("det")
def det(input: Tensor) -> Tensor:
    """Determinant of square matrices (batched), by LU with partial pivoting."""
    _square("det", input)
    n = input.shape[-1]
    if n == 0:
        return graft(_core.full(list(input.shape[:-2]), 1.0, input.dtype), input)
    pivots, swaps, _ = _eliminate(input, None)
    out = pivots[0]
    for p in pivots[1:]:
        out = out * p
    sign = from_np(np.where(swaps % 2 == 1, -1.0, 1.0).astype(np_of(input).dtype), like=input)
    return out * sign


@register("slogdet")
def slogdet(input: Tensor):
    """(sign, log|det|) of square matrices."""
    _square("slogdet", input)
    n = input.shape[-1]
    if n == 0:
        one = graft(_core.full(list(input.shape[:-2]), 1.0, input.dtype), input)
        return _slogdet(one, one * 0)
    pivots, swaps, _ = _eliminate(input, None)
    logabs = pivots[0].abs().log()
    for p in pivots[1:]:
        logabs = logabs + p.abs().log()
    signs = np.where(swaps % 2 == 1, -1.0, 1.0) * np.prod(np.sign(np.stack([np_of(p) for p in pivots], -1)), -1)
    return _slogdet(graft(from_np(np.asarray(signs).astype(np_of(input).dtype), like=input), input), logabs)


@register("logdet")
def logdet(input: Tensor) -> Tensor:
    """log(det): NaN for a negative determinant, -inf for a zero one."""
    sign, logabs = slogdet(input)
    nan = scalar_tensor(math.nan, input.dtype)
    return _core.where(sign < 0, nan, _core.where(sign == 0, scalar_tensor(-math.inf, input.dtype), logabs))


class LinAlgError(RuntimeError):
    """Raised for singular or non-positive-definite inputs (PyTorch's torch.linalg.LinAlgError)."""


# What each failure says after "op: (Batch element i): ", from PyTorch's messages; j is the info.
_FAILURES = {
    "singular": lambda j: (f"The diagonal element {j} is zero, the inversion could not be completed because the "
                           f"input matrix is singular."),
    "solve": lambda j: "The solver failed because the input matrix is singular.",
    "not positive-definite": lambda j: (f"The factorization could not be completed because the input is not "
                                        f"positive-definite (the leading minor of order {j} is not positive-definite)."),
}


def raise_at(op: str, info: np.ndarray, failure: str) -> None:
    """LinAlgError for the first batch element whose info is not 0, as PyTorch words it ("op: ",
    then "(Batch element i): " when the input is batched, then the failure's message)."""
    if not info.any():
        return
    flat = info.reshape(-1)
    i = int(np.flatnonzero(flat)[0])
    where = f"(Batch element {i}): " if info.ndim else ""
    raise LinAlgError(f"{op}: {where}{_FAILURES[failure](int(flat[i]))}")


def _eye_like(a: Tensor) -> Tensor:
    """Identity matrices in a's shape (..., n, n) and dtype."""
    n = a.shape[-1]
    return from_np(np.broadcast_to(np.eye(n, dtype=np_of(a).dtype), a.shape).copy(), like=a)


def _batch_mask(bad: np.ndarray) -> Tensor:
    """bad (the batch's shape) as a bool tensor of shape (..., 1, 1), to pick matrices."""
    return from_np(bad.reshape(bad.shape + (1, 1)))


@register("inverse")
def inverse(input: Tensor, *, out=None) -> Tensor:
    """Inverse of square matrices (batched) by Gauss-Jordan elimination with partial pivoting;
    a singular matrix raises LinAlgError as in PyTorch."""
    no_out("inverse", out)
    x, info = inverse_ex(input)
    raise_at("linalg.inv", info, "singular")
    return x


def inverse_ex(input: Tensor, op: str = "inv"):
    """(inverse, info): info (numpy int32, the batch's shape) is 0 for an invertible matrix, else
    the 1-based index of the first zero pivot (LAPACK's getrf info, PyTorch's inv_ex info). A
    singular matrix's inverse is NaN, and the others are exact whatever their neighbours hold."""
    _square(op, input)
    n = input.shape[-1]
    if n == 0:
        return input.clone(), np.zeros(input.shape[:-2], np.int32)
    return solve_square_ex(input, _eye_like(input))


def solve_square(a: Tensor, b: Tensor, op: str) -> Tensor:
    """X with a @ X = b for square a (..., n, n) and b (..., n, k); a singular a raises
    LinAlgError as PyTorch's solver does."""
    x, info = solve_square_ex(a, b)
    raise_at(op, info, "solve")
    return x


def solve_square_ex(a: Tensor, b: Tensor):
    """(X, info) with a @ X = b for square a (..., n, n) and b (..., n, k), by elimination with
    partial pivoting and back substitution; info as `inverse_ex`'s. A singular matrix is
    eliminated again as the identity, so that its zero pivot divides nothing, and its X is NaN."""
    n = a.shape[-1]
    if n == 0:  # 0 x 0 systems: X is b's (..., 0, k)
        return b.clone(), np.zeros(a.shape[:-2], np.int32)
    pivots, _, m = _eliminate(a, b)
    pv = np.stack([np_of(p) for p in pivots], -1)
    zero = pv == 0
    info = np.where(zero.any(-1), np.argmax(zero, -1) + 1, 0).astype(np.int32)
    if not info.any():
        return _back_substitute(m, n, b.shape[-1]), info
    bad = _batch_mask(info != 0)
    _, _, m = _eliminate(_core.where(bad, _eye_like(a), a), b)
    x = _back_substitute(m, n, b.shape[-1])
    return _core.where(bad, scalar_tensor(math.nan, x.dtype), x), info


def _back_substitute(m: Tensor, n: int, k: int) -> Tensor:
    """The solution of the eliminated (upper-triangular) augmented system m, row by row from the
    bottom."""
    rows: list = [None] * n
    for r in range(n - 1, -1, -1):
        row = m.narrow(-2, r, 1)
        rhs = row.narrow(-1, n, k)
        for j in range(r + 1, n):
            rhs = rhs - row.narrow(-1, j, 1) * rows[j]
        rows[r] = rhs / row.narrow(-1, r, 1)
    return _core.cat(rows, m.ndim - 2)


@register("cholesky")
def cholesky_removed(input: Tensor, upper: bool = False, *, out=None):
    """Removed in PyTorch 2 (fg.linalg.cholesky is the function), as in PyTorch."""
    raise RuntimeError(
        "This function was deprecated since version 1.9 and is now removed. `torch.cholesky` is deprecated in favor of "
        "`torch.linalg.cholesky`.\nL = torch.cholesky(A) should be replaced with:\nL = torch.linalg.cholesky(A)\n"
        "U = torch.cholesky(A, upper=True) should be replaced with:\nU = torch.linalg.cholesky(A).mH"
    )


def cholesky(input: Tensor, upper: bool = False, *, out=None) -> Tensor:
    """L with input = L @ L.mT (or U with input = U.mT @ U when upper), for symmetric
    positive-definite matrices, reading only the lower (upper) triangle; LinAlgError for one that
    is not. The gradient is the symmetric one PyTorch gives."""
    no_out("cholesky", out)
    low, info = cholesky_ex(input, upper)
    raise_at("linalg.cholesky", info, "not positive-definite")
    return low


def cholesky_ex(input: Tensor, upper: bool = False):
    """(L, info): info (numpy int32, the batch's shape) 0 for a positive-definite matrix, else
    the order of its first leading minor that is not (PyTorch's cholesky_ex info). Such a
    matrix's factor is NaN; its column goes on with a pivot of 1, so the others are exact."""
    _square("cholesky", input)
    a = input.mT if upper else input
    n = a.shape[-1]
    # Forward from the one triangle; gradient as of the symmetric part (x - x.detach() adds 0).
    lower_sym = a.tril() + a.tril(-1).mT
    sym = (a + a.mT) * 0.5
    a = lower_sym.detach() + (sym - sym.detach())
    info = np.zeros(a.shape[:-2], np.int32)
    cols: list[Tensor] = []  # column j of L as (..., n)
    for j in range(n):
        row_j = _core.stack([c.narrow(-1, j, 1).squeeze(-1) for c in cols], -1) if cols else None  # L[..., j, :j]
        d = a.narrow(-1, j, 1).narrow(-2, j, 1).reshape(*a.shape[:-2])
        if row_j is not None:
            d = d - (row_j * row_j).sum(-1)
        failed = ~(np_of(d) > 0)
        if failed.any():
            info = np.where((info == 0) & failed, j + 1, info).astype(np.int32)
            d = _core.where(from_np(failed), scalar_tensor(1, d.dtype), d)
        ljj = d.sqrt()
        below = a.narrow(-2, j + 1, n - j - 1).narrow(-1, j, 1).squeeze(-1)  # A[..., j+1:, j]
        if row_j is not None and n - j - 1 > 0:
            lower_rows = _core.stack([c.narrow(-1, j + 1, n - j - 1) for c in cols], -1)  # L[..., j+1:, :j]
            below = below - lower_rows.matmul(row_j.unsqueeze(-1)).squeeze(-1)
        parts = [_core.full(list(a.shape[:-2]) + [j], 0.0, a.dtype), ljj.unsqueeze(-1), below / ljj.unsqueeze(-1)]
        cols.append(_core.cat(parts, a.ndim - 2))
    low = _core.stack(cols, -1) if cols else input.clone()
    if info.any():
        low = _core.where(_batch_mask(info != 0), scalar_tensor(math.nan, low.dtype), low)
    return (low.mT if upper else low), info


@register("matrix_exp")
def matrix_exp(input: Tensor) -> Tensor:
    """exp of square matrices: the Taylor series of A / 2**s (norm <= 1/2) to degree 18, squared s
    times."""
    _square("matrix_exp", input)
    n = input.shape[-1]
    if n == 0:
        return input.clone()
    norm = float(np.abs(np_of(input)).sum(-1).max()) if input.numel() else 0.0
    s = max(0, math.ceil(math.log2(norm)) + 1) if norm > 0.5 and math.isfinite(norm) else 0
    x = input * (0.5**s) if s else input
    eye = _eye_like(input)
    term, total = eye, eye
    for k in range(1, 19):
        term = term.matmul(x) / k
        total = total + term
    for _ in range(s):
        total = total.matmul(total)
    return total
