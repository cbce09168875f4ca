"""The margin and embedding losses of nn.functional (re-exported by _functional_loss.py): hinge,
ranking, cosine and triplet losses and the multi-class / multi-label margin losses, each a short
composition of differentiable ops written as PyTorch's ATen kernels compute them."""

from __future__ import annotations

import numpy as np

from .. import _core
from .._core import Tensor
from .._creation import as_tensor, zeros_like
from .._functions import where
from ._functional_distance import pairwise_distance
from ._loss_reduction import apply_reduction, check_reduction, not_differentiable, resolve, same_shape


def cosine_embedding_loss(input1: Tensor, input2: Tensor, target: Tensor, margin: float = 0, size_average=None,
                          reduce=None, reduction: str = "mean") -> Tensor:
    """1 - cos(x1, x2) where target is 1, max(0, cos(x1, x2) - margin) where it is -1 (0 for any
    other target). Inputs (N, D) with target (N,), or unbatched (D,) with a 0-d target. The cosine
    is PyTorch's: <x1, x2> / sqrt((|x1|^2 + 1e-12) (|x2|^2 + 1e-12))."""
    reduction = resolve(size_average, reduce, reduction)
    check_reduction(reduction)
    tdim = target.ndim
    if tdim not in (0, 1):
        raise RuntimeError("0D or 1D target tensor expected, multi-target not supported "
                           f"(got target of size {list(target.shape)})")
    want = 2 if tdim == 1 else 1
    if input1.ndim != want or input2.ndim != want:
        raise RuntimeError(f"{tdim}D target tensor expects {want}D input tensors, but found inputs with sizes "
                           f"{list(input1.shape)} and {list(input2.shape)}.")
    eps = 1e-12
    prod = (input1 * input2).sum(tdim)
    mag1 = (input1 * input1).sum(tdim) + eps
    mag2 = (input2 * input2).sum(tdim) + eps
    cos = prod / (mag1 * mag2).sqrt()
    zero = zeros_like(cos)
    out = where(target == 1, 1 - cos, zero) + where(target == -1, (cos - margin).clamp_min(0), zero)
    return apply_reduction(out, reduction)


def margin_ranking_loss(input1: Tensor, input2: Tensor, target: Tensor, margin: float = 0, size_average=None,
                        reduce=None, reduction: str = "mean") -> Tensor:
    """max(0, -target * (input1 - input2) + margin), elementwise: target 1 asks input1 to rank
    higher, -1 input2."""
    reduction = resolve(size_average, reduce, reduction)
    check_reduction(reduction)
    if not (input1.ndim == input2.ndim == target.ndim):
        raise RuntimeError("margin_ranking_loss : All input tensors should have same dimension but got sizes: "
                           f"input1: {list(input1.shape)}, input2: {list(input2.shape)}, target: {list(target.shape)} ")
    same_shape("margin_ranking_loss (input2)", input1, input2)
    same_shape("margin_ranking_loss", input1, target)
    return apply_reduction((-target * (input1 - input2) + margin).clamp_min(0), reduction)


def hinge_embedding_loss(input: Tensor, target: Tensor, margin: float = 1.0, size_average=None, reduce=None,
                         reduction: str = "mean") -> Tensor:
    """input where target is 1, max(0, margin - input) where it is -1 (PyTorch's kernel: any
    target other than 1 takes the margin term, any other than -1 the input)."""
    reduction = resolve(size_average, reduce, reduction)
    check_reduction(reduction)
    same_shape("hinge_embedding_loss", input, target)
    zero = zeros_like(input)
    out = where(target != 1, (margin - input).clamp_min(0), zero) + where(target != -1, input, zero)
    return apply_reduction(out, reduction)


def _class_targets(fn: str, target: Tensor, n: int, high: int, message: str) -> np.ndarray:
    if target.dtype != _core.int64:
        raise RuntimeError(f"{fn}: expected scalar type Long but found {str(target.dtype).split('.')[-1].title()}")
    t = target.detach().numpy().reshape(-1)
    if t.size and (t.min() < (-1 if fn == "multilabel_margin_loss" else 0) or t.max() >= high):
        raise RuntimeError(message)
    return t


def _frames(fn: str, input: Tensor) -> tuple[int, int]:
    """(samples, classes) of an input (N, C), (C,) or 0-d, as PyTorch's margin kernels read it."""
    if not ((input.ndim == 2 and input.shape[1] != 0) or (input.ndim == 1 and input.shape[0] != 0) or input.ndim == 0):
        raise RuntimeError(f"{fn}: Expected non-empty vector or matrix with optional 0-dim batch size, "
                           f"but got: {list(input.shape)}")
    if input.ndim <= 1:
        return 1, (1 if input.ndim == 0 else input.shape[0])
    return input.shape[0], input.shape[1]


def multi_margin_loss(input: Tensor, target: Tensor, p: int = 1, margin: float = 1.0, weight: Tensor | None = None,
                      size_average=None, reduce=None, reduction: str = "mean") -> Tensor:
    """Multi-class hinge loss of input (N, C) or (C,) at int64 class indices target (N,) or ():
    sum over classes i != y of max(0, margin - x[y] + x[i])^p (times weight[y]), divided by C."""
    reduction = resolve(size_average, reduce, reduction)
    check_reduction(reduction)
    if p not in (1, 2):
        raise ValueError("only p == 1 and p == 2 supported")
    if weight is not None and weight.ndim != 1:
        raise ValueError("weight must be one-dimensional")
    not_differentiable("multi_margin_loss", "weight", weight)
    fn = "multi_margin_loss"
    nframe, dim = _frames(fn, input)
    if target.ndim > 1 or target.numel() != nframe:
        raise RuntimeError(f"{fn}: target tensor should be 1-D with size equal to the number of input samples "
                           f"(batch size). Expected target size [{nframe}], but got {list(target.shape)}. "
                           f"Input has shape {list(input.shape)}.")
    if weight is not None and weight.numel() != dim:
        raise RuntimeError(f"{fn}: inconsistent weight size, expected {dim} but got {list(weight.shape)}")
    t = _class_targets(fn, target, nframe, dim, f"{fn}: target out of range (classes 0..{dim - 1})")
    x = input.reshape(nframe, dim)
    tt = as_tensor(t.reshape(nframe, 1))
    z = margin - x.gather(1, tt) + x
    others = as_tensor(np.arange(dim)[None, :] != t[:, None]) & (z > 0)  # as the kernel: only z > 0 counts
    h = where(others, z, 0.0)
    if p == 2:
        h = h * h
    if weight is not None:
        h = h * weight.reshape(-1)[tt]
    loss = h.sum(1) / dim
    if reduction == "none":
        return loss if target.ndim > 0 else loss.reshape(())
    return apply_reduction(loss, reduction)


def multilabel_margin_loss(input: Tensor, target: Tensor, size_average=None, reduce=None,
                           reduction: str = "mean") -> Tensor:
    """Multi-label hinge loss of input (N, C) or (C,): the targets of a row are its int64 class
    indices up to the first -1; each target j and each non-target k add max(0, 1 - (x[j] - x[k])),
    the sum divided by C. A class listed twice counts twice, as in PyTorch."""
    reduction = resolve(size_average, reduce, reduction)
    check_reduction(reduction)
    fn = "multilabel_margin_loss"
    nframe, dim = _frames(fn, input)
    ok = (target.ndim <= 1 and target.numel() == dim) if input.ndim <= 1 else (
        target.ndim == 2 and tuple(target.shape) == (nframe, dim))
    if not ok:
        raise RuntimeError(f"{fn}: inconsistent target size: {list(target.shape)} for input of size: {list(input.shape)}")
    t = _class_targets(fn, target, nframe, dim, f"{fn}: argument #2 'target' is out of range").reshape(nframe, dim)
    listed = np.zeros((nframe, dim))  # times class j is listed before the first -1
    for i, row in enumerate(t):
        for j in row:
            if j < 0:
                break
            listed[i, j] += 1
    pairs = listed[:, :, None] * (listed == 0)[:, None, :]  # (target j, non-target k) weights
    x = input.reshape(nframe, dim)
    z = 1 - x.unsqueeze(2) + x.unsqueeze(1)
    counted = as_tensor(pairs > 0) & (z > 0)  # a `where`, not a product: 0 * inf would be NaN
    loss = (where(counted, z, 0.0) * as_tensor(pairs).to(input.dtype)).sum((1, 2)) / dim
    if reduction == "none":
        return loss if input.ndim == 2 else loss.reshape(())
    return apply_reduction(loss, reduction)  # 'mean' of no samples: NaN (PyTorch's is uninitialised memory)


def triplet_margin_loss(anchor: Tensor, positive: Tensor, negative: Tensor, margin: float = 1.0, p: float = 2,
                        eps: float = 1e-6, swap: bool = False, size_average=None, reduce=None,
                        reduction: str = "mean") -> Tensor:
    """max(0, margin + d(a, p) - d(a, n)) with d the pairwise p-norm distance (eps added to the
    difference); swap=True uses min(d(a, n), d(p, n)) for the negative distance."""
    reduction = resolve(size_average, reduce, reduction)
    check_reduction(reduction)
    if margin <= 0:
        raise ValueError(f"margin must be greater than 0, got {margin}")
    return _triplet(anchor, positive, negative, lambda a, b: pairwise_distance(a, b, p, eps), margin, swap,
                    reduction)


def triplet_margin_with_distance_loss(anchor: Tensor, positive: Tensor, negative: Tensor, *,
                                      distance_function=None, margin: float = 1.0, swap: bool = False,
                                      reduction: str = "mean") -> Tensor:
    """triplet_margin_loss with any distance_function(x1, x2) -> distances (default
    pairwise_distance)."""
    check_reduction(reduction)
    if margin <= 0:
        raise ValueError(f"margin must be greater than 0, got {margin}")
    return _triplet(anchor, positive, negative, distance_function or pairwise_distance, margin, swap, reduction)


def _triplet(anchor, positive, negative, distance, margin, swap, reduction):
    if not (anchor.ndim == positive.ndim == negative.ndim):
        raise RuntimeError("The anchor, positive, and negative tensors are expected to have the same number of "
                           f"dimensions, but got: anchor {anchor.ndim}D, positive {positive.ndim}D, and negative "
                           f"{negative.ndim}D inputs")
    d_pos = distance(anchor, positive)
    d_neg = distance(anchor, negative)
    if swap:
        d_neg = d_neg.minimum(distance(positive, negative))
    return apply_reduction((margin + d_pos - d_neg).clamp_min(0), reduction)
