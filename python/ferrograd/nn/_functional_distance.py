"""nn.functional distances: cosine_similarity, pairwise_distance, pdist, each composed of
differentiable ops as PyTorch's ATen computes it."""

from __future__ import annotations

import math

from .._core import Tensor
from .._methods._util import result_type
from .._methods.functions import broadcast_tensors, triu_indices

__all__ = ["cosine_similarity", "pairwise_distance", "pdist"]


def pairwise_distance(x1: Tensor, x2: Tensor, p: float = 2.0, eps: float = 1e-6, keepdim: bool = False) -> Tensor:
    """The p-norm of x1 - x2 + eps over the last dim (the inputs broadcast; eps keeps the norm's
    gradient finite where x1 == x2). Shapes: (N, D) and (N, D) or (D,) -> (N,); (D,) -> ()."""
    innermost = max(x1.ndim, x2.ndim) - 1
    return (x1 - x2 + eps).norm(p, dim=innermost if innermost >= 0 else -1, keepdim=keepdim)


def cosine_similarity(x1: Tensor, x2: Tensor, dim: int = 1, eps: float = 1e-8) -> Tensor:
    """sum(x1 / max(|x1|, eps) * x2 / max(|x2|, eps)) along dim, the inputs broadcast. This is
    PyTorch's current formula (each norm clamped, not their product; the result stays in [-1, 1]).
    As in PyTorch the clamp is applied outside autograd: the gradient of a norm below eps is the
    norm's own."""
    if not x1.is_floating_point() and not x2.is_floating_point():
        raise RuntimeError(f"cosine_similarity: expected common dtype to be floating point, yet common dtype is "
                           f"{str(result_type(x1, x2)).split('.')[-1].title()}")
    x1, x2 = broadcast_tensors(x1, x2)
    if not x1.is_floating_point():
        x1 = x1.to(x2.dtype)
    if not x2.is_floating_point():
        x2 = x2.to(x1.dtype)
    n1 = _clamped_norm(x1, dim, eps)
    n2 = _clamped_norm(x2, dim, eps)
    return ((x1 / n1) * (x2 / n2)).sum(dim)


def _clamped_norm(x: Tensor, dim: int, eps: float) -> Tensor:
    n = x.norm(2, dim=dim, keepdim=True)
    return n + (n.detach().clamp_min(eps) - n.detach())  # clamped value, unclamped gradient (PyTorch's no_grad clamp_)


def pdist(input: Tensor, p: float = 2) -> Tensor:
    """The p-norm distances between the rows of input (N, M), pairs i < j in row-major order:
    N (N - 1) / 2 values."""
    if input.ndim != 2:
        raise RuntimeError(f"pdist only supports 2D tensors, got: {input.ndim}D")
    if not p >= 0 or math.isnan(p):
        raise RuntimeError(f"pdist only supports non-negative p values (got p={p})")
    n = input.shape[0]
    i, j = triu_indices(n, n, 1)
    if input.shape[1] == 0:  # no coordinates: every distance is 0 (the inf norm of nothing too)
        return (input.index_select(0, i) - input.index_select(0, j)).sum(1)
    return (input.index_select(0, i) - input.index_select(0, j)).norm(p, dim=1)
