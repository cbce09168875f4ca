"""RMSprop, plain or centered, with optional momentum."""

from __future__ import annotations

from typing import Any, Callable, Iterable

from .. import _core
from .._core import Tensor
from ..autograd.grad_mode import no_grad
from .optimizer import Optimizer, _check, _next_step, _step_count, _zeros

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
        _check(not capturable, "capturable=True is not supported: it is for CUDA graphs")
        _check(not differentiable, "differentiable=True is not supported: ferrograd's optimizer steps run off the autograd graph")
        defaults = dict(
            lr=lr, momentum=momentum, alpha=alpha, eps=eps, centered=centered, weight_decay=weight_decay,
            capturable=capturable, foreach=foreach, maximize=maximize, differentiable=differentiable,
        )
        super().__init__(params, defaults)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        loss = self._evaluate(closure)
        with no_grad():
            for group in self.param_groups:
                momentum, centered = float(group["momentum"]), bool(group["centered"])
                hyper = dict(
                    lr=float(group["lr"]), alpha=float(group["alpha"]), eps=float(group["eps"]),
                    weight_decay=float(group["weight_decay"]), momentum=momentum, maximize=bool(group["maximize"]),
                )
                for p in group["params"]:
                    if p.grad is None:
                        continue
                    state = self.state[p]
                    if len(state) == 0:
                        state["step"] = _step_count()
                        state["square_avg"] = _zeros(p)
                    if momentum > 0 and "momentum_buffer" not in state:
                        state["momentum_buffer"] = _zeros(p)
                    if centered and "grad_avg" not in state:
                        state["grad_avg"] = _zeros(p)
                    _next_step(state)
                    buf = state["momentum_buffer"] if momentum > 0 else None
                    grad_avg = state["grad_avg"] if centered else None
                    _core._rmsprop_step(p, p.grad, state["square_avg"], buf, grad_avg, **hyper)
        return loss
