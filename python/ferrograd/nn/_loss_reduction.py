"""What every loss in nn.functional shares: the `reduction` argument, PyTorch's mapping of the
deprecated `size_average`/`reduce` pair onto it, and the shape rule for elementwise losses."""

from __future__ import annotations

import warnings

from .. import _core
from .._core import Tensor

REDUCTIONS = ("none", "mean", "sum")


def legacy_reduction(size_average: bool | None, reduce: bool | None, emit_warning: bool = True) -> str:
    """PyTorch's `_Reduction.legacy_get_string`: None counts as True; reduce=False wins
    ('none'), then size_average=False gives 'sum', else 'mean'. Warns as PyTorch does."""
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    ret = "mean" if size_average and reduce else "sum" if reduce else "none"
    if emit_warning:
        warnings.warn(f"size_average and reduce args will be deprecated, please use reduction='{ret}' instead.",
                      stacklevel=3)
    return ret


def resolve(size_average, reduce, reduction: str) -> str:
    """The reduction a loss uses: the deprecated pair when either is given, else `reduction`."""
    if size_average is not None or reduce is not None:
        return legacy_reduction(size_average, reduce)
    return reduction


def check_reduction(reduction: str) -> None:
    if reduction not in REDUCTIONS:
        raise ValueError(f"{reduction} is not a valid value for reduction")


def apply_reduction(loss: Tensor, reduction: str) -> Tensor:
    """PyTorch's apply_loss_reduction: 'mean' of an empty loss is NaN, 'sum' of it 0."""
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    if reduction == "none":
        return loss
    raise ValueError(f"{reduction} is not a valid value for reduction")


def same_shape(name: str, input: Tensor, target: Tensor) -> None:
    # PyTorch only warns and broadcasts here, which silently computes the wrong loss (e.g. a
    # (N, 1) prediction against an (N,) target gives an (N, N) loss). ferrograd refuses.
    if tuple(input.shape) != tuple(target.shape):
        raise ValueError(
            f"{name}: target shape {tuple(target.shape)} differs from input shape {tuple(input.shape)}; "
            "broadcasting them would compute a different loss. Reshape one of them (e.g. target.view_as(input))."
        )


def not_differentiable(fn: str, name: str, t) -> None:
    """PyTorch's refusal of a gradient it does not define (a loss's target or weight)."""
    if t is not None and t.requires_grad and _core.is_grad_enabled():
        raise RuntimeError(f"The function '{fn}' is not differentiable with respect to argument '{name}'. "
                           "This input cannot have requires_grad True.")
