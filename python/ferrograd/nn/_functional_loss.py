"""Loss functions of nn.functional. cross_entropy is one fused Rust kernel; the others are short
compositions of differentiable ops written in their numerically stable forms. The margin losses
are in _functional_loss_margin.py, ctc_loss in _functional_loss_ctc.py (re-exported here).

Like PyTorch, every loss takes `reduction` ('none' | 'mean' | 'sum') and, where PyTorch still
does, the deprecated `size_average`/`reduce` pair, mapped to a reduction as PyTorch maps it (with
its deprecation warning). Elementwise losses refuse a target shaped unlike the input (PyTorch
broadcasts, at most with a warning, and computes a different loss)."""

from __future__ import annotations

import math
import warnings

from .. import _core
from .._core import Tensor
from .._creation import as_tensor, ones_like
from ._functional_loss_ctc import ctc_loss
from ._functional_loss_margin import (
    cosine_embedding_loss,
    hinge_embedding_loss,
    margin_ranking_loss,
    multi_margin_loss,
    multilabel_margin_loss,
    triplet_margin_loss,
    triplet_margin_with_distance_loss,
)
from ._loss_reduction import REDUCTIONS as _REDUCTIONS
from ._loss_reduction import apply_reduction as _reduce
from ._loss_reduction import check_reduction as _check_reduction
from ._loss_reduction import not_differentiable, resolve
from ._loss_reduction import same_shape as _same_shape

__all__ = [
    "cross_entropy", "nll_loss", "mse_loss", "l1_loss", "smooth_l1_loss",
    "binary_cross_entropy", "binary_cross_entropy_with_logits",
    "kl_div", "huber_loss", "poisson_nll_loss", "gaussian_nll_loss", "soft_margin_loss",
    "multilabel_soft_margin_loss", "cosine_embedding_loss", "margin_ranking_loss", "hinge_embedding_loss",
    "multi_margin_loss", "multilabel_margin_loss", "triplet_margin_loss", "triplet_margin_with_distance_loss",
    "ctc_loss",
]


def cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None, size_average=None, ignore_index: int = -100,
                  reduce=None, reduction: str = "mean", label_smoothing: float = 0.0) -> Tensor:
    """Cross entropy of logits `input` (N, C) / (N, C, d...) / (C,) against int64 class indices, or
    against class probabilities of the input's shape."""
    reduction = resolve(size_average, reduce, reduction)
    target = as_tensor(target)
    if target.is_floating_point():
        if ignore_index >= 0:  # PyTorch's test: a negative one can match no class
            raise RuntimeError("ignore_index is not supported for floating point target")
        return _soft_cross_entropy(input, target, weight, reduction, label_smoothing)
    return _core._cross_entropy(input, target, weight, int(ignore_index), float(label_smoothing), reduction)


def _soft_cross_entropy(input, target, weight, reduction, label_smoothing):
    _same_shape("cross_entropy (probability targets)", input, target)
    c = input.shape[1] if input.ndim > 1 else input.shape[0]
    dim = 1 if input.ndim > 1 else 0
    if label_smoothing:
        target = target * (1 - label_smoothing) + label_smoothing / c
    logp = input.log_softmax(dim)
    if weight is not None:
        shape = [1] * input.ndim
        shape[dim] = c
        logp = logp * weight.reshape(shape)
    # PyTorch's order of operations, so the output's grad_fn is the same: -(...).sum() for 'sum',
    # that divided by the number of rows (N times the spatial size) for 'mean'.
    if reduction == "none":
        return -(logp * target).sum(dim)
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{reduction} is not a valid value for reduction (expected one of {_REDUCTIONS})")
    total = -(logp * target).sum()
    return total if reduction == "sum" else total / (input.numel() // c if c else 0)


def nll_loss(input: Tensor, target: Tensor, weight: Tensor | None = None, size_average=None, ignore_index: int = -100,
             reduce=None, reduction: str = "mean") -> Tensor:
    """Negative log likelihood of log-probabilities `input` (N, C), (N, C, d...) or (C,) at int64
    `target` (one Rust kernel, grad_fn NllLossBackward0 / NllLoss2DBackward0 as PyTorch's). 'mean'
    divides by the summed weights of the targets not ignored: all ignored gives NaN, gradient 0."""
    reduction = resolve(size_average, reduce, reduction)
    if input.ndim == 0:
        raise ValueError("nll_loss: input must have a class dimension, got a 0-d tensor")
    if target.dtype != _core.int64:
        raise RuntimeError(f"nll_loss: expected target of dtype int64, got {target.dtype}")
    expected = () if input.ndim == 1 else (input.shape[0], *input.shape[2:])
    if tuple(target.shape) != expected:
        raise ValueError(f"nll_loss: expected target of shape {expected} for input of shape "
                         f"{tuple(input.shape)}, got {tuple(target.shape)}")
    return _core._cross_entropy(input, target, weight, int(ignore_index), 0.0, reduction, log_probs=True)


def _constant_weight(fn: str, name: str, w: Tensor | None, input: Tensor) -> Tensor | None:
    """A loss weight expanded to the input's shape; like PyTorch, refuses one that requires grad."""
    if w is None:
        return None
    w = as_tensor(w)
    if w.requires_grad and _core.is_grad_enabled():
        raise RuntimeError(f"The function '{fn}' is not differentiable with respect to argument '{name}'. "
                           "This input cannot have requires_grad True.")
    if w.dtype != input.dtype:
        w = w.to(input.dtype)
    return w.expand(*input.shape) if tuple(w.shape) != tuple(input.shape) else w


def mse_loss(input: Tensor, target: Tensor, size_average=None, reduce=None, reduction: str = "mean",
             weight: Tensor | None = None) -> Tensor:
    """Mean squared error, one Rust op (grad_fn MseLossBackward0 as PyTorch's). With an elementwise
    `weight` of the input's shape, 'mean' is PyTorch's weighted mean sum(w (x - y)^2) / sum(w)."""
    reduction = resolve(size_average, reduce, reduction)
    _same_shape("mse_loss", input, target)
    _check_reduction(reduction)
    if weight is not None:
        return _weighted("mse_loss", (input - target) ** 2, weight, reduction)
    input, target = _promoted(input, target)
    return _core._binary_cross_entropy(input, target, reduction=reduction, kind="mse")


def _promoted(input: Tensor, target) -> tuple[Tensor, Tensor]:
    """input and target in their promoted dtype, as PyTorch's mse_loss and smooth_l1_loss compute:
    a float64 target (from numpy, say) makes a float32 prediction's loss float64. The input's
    gradient still arrives in its own dtype."""
    target = as_tensor(target)
    if target.dtype == input.dtype:
        return input, target
    dtype = _core._result_type(input, target)
    return input.to(dtype), target.to(dtype)


def l1_loss(input: Tensor, target: Tensor, size_average=None, reduce=None, reduction: str = "mean",
            weight: Tensor | None = None) -> Tensor:
    """Mean absolute error; with `weight` as mse_loss's (a weighted mean for 'mean')."""
    reduction = resolve(size_average, reduce, reduction)
    _same_shape("l1_loss", input, target)
    if weight is not None:
        _check_reduction(reduction)
        return _weighted("l1_loss", (input - target).abs(), weight, reduction)
    return _reduce((input - target).abs(), reduction)


def _weighted(fn: str, loss: Tensor, weight: Tensor, reduction: str) -> Tensor:
    if tuple(weight.shape) != tuple(loss.shape):
        raise ValueError(f"{fn}: weights of shape {tuple(weight.shape)} and input of shape {tuple(loss.shape)} "
                         "must have the same size.")
    loss = loss * weight
    if reduction == "mean":
        return loss.sum() / weight.sum()
    return _reduce(loss, reduction)


def smooth_l1_loss(input: Tensor, target: Tensor, size_average=None, reduce=None, reduction: str = "mean",
                   beta: float = 1.0) -> Tensor:
    """Huber-like loss, one Rust op (SmoothL1LossBackward0); beta=0 is l1_loss, as in PyTorch."""
    reduction = resolve(size_average, reduce, reduction)
    _same_shape("smooth_l1_loss", input, target)
    if beta < 0:
        raise ValueError(f"smooth_l1_loss does not support negative values for beta (got {beta})")
    if beta == 0:
        return l1_loss(input, target, reduction=reduction)
    _check_reduction(reduction)
    input, target = _promoted(input, target)
    return _core._binary_cross_entropy(input, target, reduction=reduction, kind="smooth_l1", beta=float(beta))


def binary_cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None, size_average=None, reduce=None,
                         reduction: str = "mean") -> Tensor:
    """BCE of probabilities, one Rust op with its weight and reduction (BinaryCrossEntropyBackward0):
    logs clamped at -100 as PyTorch, so 0 and 1 give a finite loss, and the gradient uses PyTorch's
    (x - y) / max(x (1 - x), 1e-12)."""
    reduction = resolve(size_average, reduce, reduction)
    _same_shape("binary_cross_entropy", input, target)
    _check_reduction(reduction)
    w = _constant_weight("binary_cross_entropy", "weight", weight, input)
    return _core._binary_cross_entropy(input, as_tensor(target), w, None, reduction, "bce")


def binary_cross_entropy_with_logits(input: Tensor, target: Tensor, weight: Tensor | None = None, size_average=None,
                                     reduce=None, reduction: str = "mean", pos_weight: Tensor | None = None) -> Tensor:
    """BCE on logits, one Rust op (BinaryCrossEntropyWithLogitsBackward0):
    (1-y) x + (1+(pw-1) y) softplus(-x), softplus computed without overflow; gradient
    (pw y + 1 - y) sigmoid(x) - pw y, as PyTorch's (right at x = 0 too)."""
    reduction = resolve(size_average, reduce, reduction)
    _same_shape("binary_cross_entropy_with_logits", input, target)
    _check_reduction(reduction)
    fn = "binary_cross_entropy_with_logits"
    w = _constant_weight(fn, "weight", weight, input)
    pw = _constant_weight(fn, "pos_weight", pos_weight, input)
    return _core._binary_cross_entropy(input, as_tensor(target), w, pw, reduction, "bce_with_logits")


# ----------------------------------------------------------------------------- divergences and likelihoods


def kl_div(input: Tensor, target: Tensor, size_average=None, reduce=None, reduction: str = "mean",
           log_target: bool = False) -> Tensor:
    """Pointwise KL divergence of log-probabilities `input` from `target` (probabilities, or
    log-probabilities with log_target=True): target * (log target - input), 0 where target is 0.

    reduction='batchmean' divides the sum by the batch size (input.size(0)) and is the KL
    divergence of the math definition. PyTorch's default 'mean' divides by the number of elements
    instead, a known trap: like PyTorch, ferrograd computes it and warns.
    """
    if size_average is not None or reduce is not None:
        reduction = resolve(size_average, reduce, reduction)
    elif reduction == "mean":
        warnings.warn("reduction: 'mean' divides the total loss by both the batch size and the support size."
                      "'batchmean' divides only by the batch size, and aligns with the KL div math definition."
                      "'mean' will be changed to behave the same as 'batchmean' in the next major release.",
                      stacklevel=2)
    if reduction not in (*_REDUCTIONS, "batchmean"):
        raise ValueError(f"{reduction} is not a valid value for reduction")
    input, target = as_tensor(input), as_tensor(target)
    if not input.is_floating_point() or not target.is_floating_point():
        raise RuntimeError("kl_div: Integral inputs not supported.")
    _same_shape("kl_div", input, target)
    if log_target:
        loss = target.exp() * (target - input)
    else:
        loss = target.xlogy(target) - target * input
    if reduction == "batchmean":
        total = loss.sum()
        return total / input.shape[0] if input.ndim != 0 else total
    return _reduce(loss, reduction)


def huber_loss(input: Tensor, target: Tensor, reduction: str = "mean", delta: float = 1.0,
               weight: Tensor | None = None) -> Tensor:
    """0.5 (x - y)^2 where |x - y| < delta, else delta (|x - y| - delta / 2); optional elementwise
    `weight` of the input's shape. With delta=1 this is smooth_l1_loss."""
    _same_shape("huber_loss", input, target)
    if not delta > 0:
        raise RuntimeError("huber_loss does not support non-positive values for delta.")
    _check_reduction(reduction)
    if weight is not None and tuple(weight.shape) != tuple(input.shape):
        raise ValueError(f"huber_loss: weights of shape {tuple(weight.shape)} and input of shape "
                         f"{tuple(input.shape)} must have the same size.")
    input, target = _promoted(input, target)
    # One Rust op (HuberLossBackward0): gradient d inside delta, +-delta outside, finite for an
    # infinite difference and NaN for a NaN one, as PyTorch's. A weight multiplies the
    # unreduced loss afterwards, as in PyTorch, so it gets a gradient too.
    if weight is None:
        return _core._binary_cross_entropy(input, target, reduction=reduction, kind="huber", beta=float(delta))
    return _reduce(_core._binary_cross_entropy(input, target, reduction="none", kind="huber", beta=float(delta)) * weight, reduction)


def poisson_nll_loss(input: Tensor, target: Tensor, log_input: bool = True, full: bool = False, size_average=None,
                     eps: float = 1e-8, reduce=None, reduction: str = "mean") -> Tensor:
    """Poisson negative log likelihood of `target` counts: exp(input) - target * input for
    log-rates (log_input=True), else input - target * log(input + eps). full=True adds the Stirling
    approximation of log(target!), target log target - target + log(2 pi target) / 2, where target > 1."""
    reduction = resolve(size_average, reduce, reduction)
    _check_reduction(reduction)
    _same_shape("poisson_nll_loss", input, target)
    if log_input:
        loss = input.exp() - target * input
    else:
        loss = input - target * (input + eps).log()
    if full:
        stirling = target * target.log() - target + 0.5 * (2 * math.pi * target).log()
        loss = loss + stirling.masked_fill(target <= 1, 0.0)
    return _reduce(loss, reduction)


def gaussian_nll_loss(input: Tensor, target: Tensor, var: Tensor | float, full: bool = False, eps: float = 1e-6,
                      reduction: str = "mean") -> Tensor:
    """Gaussian negative log likelihood 0.5 (log var + (input - target)^2 / var) (+ 0.5 log 2 pi
    with full=True). `var` is a float, a tensor of the input's shape, one without its last dim
    (one variance per row), or one with a single dim of size 1 where the input's differs. Its
    values are clamped at eps for the forward only: as PyTorch (a clamp under no_grad), the
    gradient reaches var also where it was clamped."""
    _same_shape("gaussian_nll_loss", input, target)
    if isinstance(var, float):
        if var < 0:
            raise ValueError("var has negative entry/entries")
        var = ones_like(input) * var
    else:
        var = as_tensor(var)
        if bool((var < 0).any()):
            raise ValueError("var has negative entry/entries")
    ishape, vshape = tuple(input.shape), tuple(var.shape)
    if vshape != ishape:
        if ishape[:-1] == vshape:
            var = var.unsqueeze(-1)
        elif not (len(ishape) == len(vshape) and sum(v for i, v in zip(ishape, vshape) if i != v) == 1):
            raise ValueError(f"var is of incorrect size: {vshape} for input of size {ishape}")
    if reduction not in _REDUCTIONS:
        raise ValueError(reduction + " is not valid")
    var = var + (var.detach().clamp_min(eps) - var.detach())  # the clamped value, the identity's gradient
    loss = 0.5 * (var.log() + (input - target) ** 2 / var)
    if full:
        loss = loss + 0.5 * math.log(2 * math.pi)
    return _reduce(loss, reduction)


# ----------------------------------------------------------------------------- logistic margins


def _logsigmoid(x: Tensor) -> Tensor:
    return -_core._softplus(-x)  # log(1 / (1 + exp(-x))) without overflow


def soft_margin_loss(input: Tensor, target: Tensor, size_average=None, reduce=None, reduction: str = "mean") -> Tensor:
    """log(1 + exp(-target * input)) for targets in {1, -1}, computed as softplus so a large
    margin does not overflow (PyTorch's log1p(exp(.)) is inf beyond exp's range)."""
    reduction = resolve(size_average, reduce, reduction)
    _check_reduction(reduction)
    _same_shape("soft_margin_loss", input, target)
    not_differentiable("soft_margin_loss", "target", target)
    return _reduce(_core._softplus(-(target * input)), reduction)


def multilabel_soft_margin_loss(input: Tensor, target: Tensor, weight: Tensor | None = None, size_average=None,
                                reduce=None, reduction: str = "mean") -> Tensor:
    """One-vs-all logistic loss of input (N, C) or (C,) against 0/1 targets of its shape,
    averaged over the C classes (the last dim), with an optional weight broadcast over the input."""
    reduction = resolve(size_average, reduce, reduction)
    _same_shape("multilabel_soft_margin_loss", input, target)
    loss = -(target * _logsigmoid(input) + (1 - target) * _logsigmoid(-input))
    if weight is not None:
        loss = loss * weight
    class_dim = input.ndim - 1
    loss = loss.sum(class_dim) / input.shape[class_dim] if input.ndim else loss
    if reduction not in _REDUCTIONS:
        raise ValueError(reduction + " is not valid")
    return _reduce(loss, reduction)
