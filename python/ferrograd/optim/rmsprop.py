"""RMSprop, plain or centered, with optional momentum."""

from __future__ import annotations

from typing import Any, Iterable

from .. import _core
from .._core import Tensor
from .optimizer import Optimizer, _check, _next_step, _refuse_unsupported, _step_count, _zeros

__all__ = ["RMSprop"]


class RMSprop(Optimizer):
    r"""RMSprop, as ``torch.optim.RMSprop``. Per parameter:

    .. code-block:: text

        g = -g if maximize;  g = g + weight_decay * p
        v = alpha * v + (1 - alpha) * g * g
        avg = sqrt(v - ga * ga) with ga = lerp(ga, g, 1 - alpha)   (centered)
        avg = sqrt(v)                                              (otherwise)
        avg = avg + eps
        buf = momentum * buf + g / avg;  p = p - lr * buf          (momentum > 0)
        p = p - lr * g / avg                                       (otherwise)

    State: ``step``, ``square_avg``, ``momentum_buffer`` (momentum > 0), ``grad_avg`` (centered).
    """

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict],
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0,
        momentum: float = 0,
        centered: bool = False,
        capturable: bool = False,
        foreach: bool | None = None,
        maximize: bool = False,
        differentiable: bool = False,
    ) -> None:
        _check(0.0 <= lr, f"Invalid learning rate: {lr}")
        _check(0.0 <= eps, f"Invalid epsilon value: {eps}")
        _check(0.0 <= momentum, f"Invalid momentum value: {momentum}")
        _check(0.0 <= weight_decay, f"Invalid weight_decay value: {weight_decay}")
        _check(0.0 <= alpha, f"Invalid alpha value: {alpha}")
        _refuse_unsupported(capturable=capturable, differentiable=differentiable)
        defaults = dict(
            lr=lr, momentum=momentum, alpha=alpha, eps=eps, centered=centered, weight_decay=weight_decay,
            capturable=capturable, foreach=foreach, maximize=maximize, differentiable=differentiable,
        )
        super().__init__(params, defaults)

    def _init_state(self, p: Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        if len(state) == 0:
            state["step"] = _step_count()
            state["square_avg"] = _zeros(p)
        if group["momentum"] > 0 and "momentum_buffer" not in state:
            state["momentum_buffer"] = _zeros(p)
        if group["centered"] and "grad_avg" not in state:
            state["grad_avg"] = _zeros(p)

    def _update(self, p: Tensor, grad: Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        momentum = float(group["momentum"])
        _next_step(state)
        buf = state["momentum_buffer"] if momentum > 0 else None
        grad_avg = state["grad_avg"] if group["centered"] else None
        _core._rmsprop_step(
            p, grad, state["square_avg"], buf, grad_avg, lr=float(group["lr"]), alpha=float(group["alpha"]),
            eps=float(group["eps"]), weight_decay=float(group["weight_decay"]), momentum=momentum,
            maximize=bool(group["maximize"]),
        )
