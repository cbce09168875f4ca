"""Gradient clipping, as ``torch.nn.utils.clip_grad``: by the total norm of all gradients
(`clip_grad_norm_`, or its two halves `get_total_norm` and `clip_grads_with_norm_`) or
element-wise by value (`clip_grad_value_`).

``foreach`` is accepted for compatibility and ignored: ferrograd has one (per-tensor) path.
"""

from __future__ import annotations

import math
import types
import warnings
from typing import Iterable, Union

from ... import _core, _creation
from ..._core import Tensor
from ...autograd.grad_mode import no_grad

__all__ = ["clip_grad_norm_", "clip_grad_norm", "clip_grad_value_", "get_total_norm", "clip_grads_with_norm_"]

TensorOrTensors = Union[Tensor, Iterable[Tensor]]


def _vector_norm(t: Tensor, norm_type: float) -> Tensor:
    """``torch.linalg.vector_norm(t, norm_type)`` over all elements."""
    if norm_type == math.inf or norm_type == -math.inf:
        if t.numel() == 0:
            raise RuntimeError(
                "clip_grad_norm_: cannot compute the infinity norm of an empty gradient because the operation does not "
                "have an identity"
            )
        return t.abs().max() if norm_type > 0 else t.abs().min()
    if norm_type == 0:
        return (t != 0).sum().to(dtype=t.dtype)
    return t.norm(norm_type)


def get_total_norm(
    tensors: TensorOrTensors, norm_type: float = 2.0, error_if_nonfinite: bool = False, foreach: bool | None = None
) -> Tensor:
    """The norm of the norms of `tensors` (as if they were concatenated into one vector).

    Args:
        tensors: a tensor or an iterable of tensors (usually gradients).
        norm_type: the p of the p-norm; ``inf`` for the largest absolute value.
        error_if_nonfinite: raise RuntimeError when the total is nan or inf.
        foreach: accepted and ignored.

    Returns:
        A 0-dim tensor, in the promoted dtype of the norms (``tensor(0.)`` for no tensors).
    """
    tensors = [tensors] if isinstance(tensors, Tensor) else list(tensors)
    norm_type = float(norm_type)
    if len(tensors) == 0:
        return _creation.tensor(0.0)
    with no_grad():
        norms = [_vector_norm(t, norm_type) for t in tensors]
        total = _vector_norm(_core.stack(norms), norm_type)
    if error_if_nonfinite and not bool(total.isfinite()):
        raise RuntimeError(
            f"The total norm of order {norm_type} for gradients from `parameters` is non-finite, so it cannot be clipped. "
            "To disable this error and scale the gradients by the non-finite norm anyway, set `error_if_nonfinite=False`"
        )
    return total


def clip_grads_with_norm_(
    parameters: TensorOrTensors, max_norm: float, total_norm: Tensor, foreach: bool | None = None
) -> None:
    """Scales the gradients of `parameters` in place by ``min(1, max_norm / (total_norm + 1e-6))``
    (the second half of `clip_grad_norm_`, for a `total_norm` computed elsewhere)."""
    parameters = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    grads = [p.grad for p in parameters if p.grad is not None]
    max_norm = float(max_norm)
    if len(grads) == 0:
        return
    with no_grad():
        clip_coef = (max_norm / (total_norm + 1e-6)).clamp(max=1.0)
        for g in grads:
            g.mul_(clip_coef.to(dtype=g.dtype))


def clip_grad_norm_(
    parameters: TensorOrTensors,
    max_norm: float,
    norm_type: float = 2.0,
    error_if_nonfinite: bool = False,
    foreach: bool | None = None,
) -> Tensor:
    """Rescales the gradients of `parameters` in place so that their total norm (the norm of
    all of them together) is at most `max_norm`; gradients already inside are left as they are.

    Args:
        parameters: a tensor or an iterable of tensors whose ``.grad`` to clip (None skipped).
        max_norm: the largest allowed total norm.
        norm_type: the p of the p-norm (default 2); ``inf`` for the largest absolute value.
        error_if_nonfinite: raise RuntimeError when the total norm is nan or inf (otherwise the
            gradients are scaled by it anyway, as PyTorch does).
        foreach: accepted and ignored.

    Returns:
        The total norm of the gradients before clipping, a 0-dim tensor.
    """
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    else:
        is_generator = isinstance(parameters, types.GeneratorType)
        parameters = list(parameters)
        if is_generator and len(parameters) == 0:
            warnings.warn("`parameters` is an empty generator, no gradient clipping will occur.", stacklevel=2)
    grads = [p.grad for p in parameters if p.grad is not None]
    total_norm = get_total_norm(grads, norm_type, error_if_nonfinite, foreach)
    clip_grads_with_norm_(parameters, max_norm, total_norm, foreach)
    return total_norm


def clip_grad_norm(
    parameters: TensorOrTensors,
    max_norm: float,
    norm_type: float = 2.0,
    error_if_nonfinite: bool = False,
    foreach: bool | None = None,
) -> Tensor:
    """Deprecated alias of `clip_grad_norm_` (as in PyTorch, with a FutureWarning)."""
    warnings.warn(
        "`torch.nn.utils.clip_grad_norm` is now deprecated in favor of `torch.nn.utils.clip_grad_norm_`.",
        FutureWarning,
        stacklevel=2,
    )
    return clip_grad_norm_(parameters, max_norm, norm_type, error_if_nonfinite, foreach)


def clip_grad_value_(parameters: TensorOrTensors, clip_value: float, foreach: bool | None = None) -> None:
    """Clamps every gradient element of `parameters` to ``[-clip_value, clip_value]`` in place."""
    parameters = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    clip_value = float(clip_value)
    with no_grad():
        for p in parameters:
            if p.grad is not None:
                p.grad.clamp_(min=-clip_value, max=clip_value)
