"""Loss functions of nn.functional. cross_entropy is one fused Rust kernel; the others are short
compositions of differentiable ops written in their numerically stable forms."""

from __future__ import annotations

from .. import _core
from .._core import Tensor
from .._creation import as_tensor

__all__ = [
    "cross_entropy", "nll_loss", "mse_loss", "l1_loss", "smooth_l1_loss",
    "binary_cross_entropy", "binary_cross_entropy_with_logits",
]

_REDUCTIONS = ("none", "mean", "sum")


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    if reduction == "none":
        return loss
    raise ValueError(f"{reduction} is not a valid value for reduction (expected one of {_REDUCTIONS})")


def _same_shape(name: str, input: Tensor, target: Tensor) -> None:
    # PyTorch only warns and broadcasts here, which silently computes the wrong loss (e.g. a
    # (N, 1) prediction against an (N,) target gives an (N, N) loss). ferrograd refuses.
    if tuple(input.shape) != tuple(target.shape):
        raise ValueError(
            f"{name}: target shape {tuple(target.shape)} differs from input shape {tuple(input.shape)}; "
            "broadcasting them would compute a different loss. Reshape one of them (e.g. target.view_as(input))."
        )


def cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None, size_average=None, ignore_index: int = -100,
                  reduce=None, reduction: str = "mean", label_smoothing: float = 0.0) -> Tensor:
    """Cross entropy of logits `input` (N, C) / (N, C, d...) / (C,) against int64 class indices, or
    against class probabilities of the input's shape."""
    if size_average is not None or reduce is not None:
        raise TypeError("cross_entropy: size_average/reduce are deprecated in PyTorch; use reduction=")
    target = as_tensor(target)
    if target.is_floating_point():
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
    if size_average is not None or reduce is not None:
        raise TypeError("nll_loss: size_average/reduce are deprecated in PyTorch; use reduction=")
    if input.ndim == 0:
        raise ValueError("nll_loss: input must have a class dimension, got a 0-d tensor")
    if target.dtype != _core.int64:
        raise RuntimeError(f"nll_loss: expected target of dtype int64, got {target.dtype}")
    expected = () if input.ndim == 1 else (input.shape[0], *input.shape[2:])
    if tuple(target.shape) != expected:
        raise ValueError(f"nll_loss: expected target of shape {expected} for input of shape "
                         f"{tuple(input.shape)}, got {tuple(target.shape)}")
    return _core._cross_entropy(input, target, weight, int(ignore_index), 0.0, reduction, log_probs=True)


def mse_loss(input: Tensor, target: Tensor, size_average=None, reduce=None, reduction: str = "mean") -> Tensor:
    _same_shape("mse_loss", input, target)
    d = input - target
    return _reduce(d * d, reduction)


def l1_loss(input: Tensor, target: Tensor, size_average=None, reduce=None, reduction: str = "mean") -> Tensor:
    _same_shape("l1_loss", input, target)
    return _reduce((input - target).abs(), reduction)


def smooth_l1_loss(input: Tensor, target: Tensor, size_average=None, reduce=None, reduction: str = "mean",
                   beta: float = 1.0) -> Tensor:
    _same_shape("smooth_l1_loss", input, target)
    if beta < 0:
        raise ValueError(f"smooth_l1_loss does not support negative values for beta (got {beta})")
    d = (input - target).abs()
    if beta == 0:
        return _reduce(d, reduction)
    loss = _core.where(d < beta, d * d * (0.5 / beta), d - 0.5 * beta)
    return _reduce(loss, reduction)


def binary_cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None, size_average=None, reduce=None,
                         reduction: str = "mean") -> Tensor:
    """BCE of probabilities (one Rust kernel): logs clamped at -100 as PyTorch, so 0 and 1 give a
    finite loss, and the gradient uses PyTorch's (x - y) / max(x (1 - x), 1e-12)."""
    _same_shape("binary_cross_entropy", input, target)
    loss = _core._binary_cross_entropy(input, as_tensor(target))
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


def binary_cross_entropy_with_logits(input: Tensor, target: Tensor, weight: Tensor | None = None, size_average=None,
                                     reduce=None, reduction: str = "mean", pos_weight: Tensor | None = None) -> Tensor:
    """BCE on logits: (1-y) x + (1+(pw-1) y) softplus(-x), softplus computed without overflow and
    differentiated as sigmoid (so the gradient at x = 0 is right too)."""
    _same_shape("binary_cross_entropy_with_logits", input, target)
    softplus_neg = _core._softplus(-input)
    coef = 1 if pos_weight is None else 1 + (pos_weight - 1) * target
    loss = (1 - target) * input + coef * softplus_neg
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)
