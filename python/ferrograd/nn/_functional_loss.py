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


def _check_reduction(reduction: str) -> None:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{reduction} is not a valid value for reduction (expected one of {_REDUCTIONS})")


def mse_loss(input: Tensor, target: Tensor, size_average=None, reduce=None, reduction: str = "mean") -> Tensor:
    """Mean squared error, one Rust op (grad_fn MseLossBackward0 as PyTorch's)."""
    _same_shape("mse_loss", input, target)
    _check_reduction(reduction)
    return _core._binary_cross_entropy(input, as_tensor(target), reduction=reduction, kind="mse")


def l1_loss(input: Tensor, target: Tensor, size_average=None, reduce=None, reduction: str = "mean") -> Tensor:
    _same_shape("l1_loss", input, target)
    return _reduce((input - target).abs(), reduction)


def smooth_l1_loss(input: Tensor, target: Tensor, size_average=None, reduce=None, reduction: str = "mean",
                   beta: float = 1.0) -> Tensor:
    """Huber-like loss, one Rust op (SmoothL1LossBackward0); beta=0 is l1_loss, as in PyTorch."""
    _same_shape("smooth_l1_loss", input, target)
    if beta < 0:
        raise ValueError(f"smooth_l1_loss does not support negative values for beta (got {beta})")
    if beta == 0:
        return l1_loss(input, target, reduction=reduction)
    _check_reduction(reduction)
    return _core._binary_cross_entropy(input, as_tensor(target), reduction=reduction, kind="smooth_l1", beta=float(beta))


def binary_cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None, size_average=None, reduce=None,
                         reduction: str = "mean") -> Tensor:
    """BCE of probabilities, one Rust op with its weight and reduction (BinaryCrossEntropyBackward0):
    logs clamped at -100 as PyTorch, so 0 and 1 give a finite loss, and the gradient uses PyTorch's
    (x - y) / max(x (1 - x), 1e-12)."""
    _same_shape("binary_cross_entropy", input, target)
    _check_reduction(reduction)
    w = _constant_weight("binary_cross_entropy", "weight", weight, input)
    return _core._binary_cross_entropy(input, as_tensor(target), w, None, reduction, "bce")


def binary_cross_entropy_with_logits(input: Tensor, target: Tensor, weight: Tensor | None = None, size_average=None,
                                     reduce=None, reduction: str = "mean", pos_weight: Tensor | None = None) -> Tensor:
    """BCE on logits, one Rust op (BinaryCrossEntropyWithLogitsBackward0):
    (1-y) x + (1+(pw-1) y) softplus(-x), softplus computed without overflow; gradient
    (pw y + 1 - y) sigmoid(x) - pw y, as PyTorch's (right at x = 0 too)."""
    _same_shape("binary_cross_entropy_with_logits", input, target)
    _check_reduction(reduction)
    fn = "binary_cross_entropy_with_logits"
    w = _constant_weight(fn, "weight", weight, input)
    pw = _constant_weight(fn, "pos_weight", pos_weight, input)
    return _core._binary_cross_entropy(input, as_tensor(target), w, pw, reduction, "bce_with_logits")
