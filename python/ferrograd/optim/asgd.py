"""ASGD: averaged stochastic gradient descent."""

from __future__ import annotations

from typing import Any, Iterable

from .._core import Tensor
from .optimizer import Optimizer, _check, _next_step, _refuse_unsupported, _scalar_state, _step_count, _zeros

__all__ = ["ASGD"]


class ASGD(Optimizer):
    r"""Averaged SGD, as ``torch.optim.ASGD`` (Polyak and Juditsky 1992). Per parameter, at step
    ``t`` (from 1), with ``eta`` and ``mu`` the values left by the previous step:

    .. code-block:: text

        g = -g if maximize;  g = g + weight_decay * p
        p = p * (1 - lambd * eta) - eta * g
        ax = p if mu == 1 else ax + mu * (p - ax)        (the running average of the iterates)
        eta = lr / (1 + lambd * lr * t) ** alpha;  mu = 1 / max(1, t - t0)

    State: ``step``, ``eta`` (starts at lr), ``mu`` (starts at 1) as float32 scalar tensors, as
    PyTorch keeps them, and ``ax``. The averaged parameters live in ``ax``; copy them into the
    model for evaluation. ``foreach`` is accepted and ignored.
    """

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict],
        lr: float = 1e-2,
        lambd: float = 1e-4,
        alpha: float = 0.75,
        t0: float = 1e6,
        weight_decay: float = 0,
        foreach: bool | None = None,
        maximize: bool = False,
        differentiable: bool = False,
        capturable: bool = False,
    ) -> None:
        _check(0.0 <= lr, f"Invalid learning rate: {lr}")
        _check(0.0 <= lambd, f"Invalid lambd value: {lambd}")
        _check(0.0 <= alpha, f"Invalid alpha value: {alpha}")
        _check(0.0 <= weight_decay, f"Invalid weight_decay value: {weight_decay}")
        _refuse_unsupported(capturable=capturable, differentiable=differentiable)
        defaults = dict(
            lr=lr, lambd=lambd, alpha=alpha, t0=t0, weight_decay=weight_decay, foreach=foreach, maximize=maximize,
            differentiable=differentiable, capturable=capturable,
        )
        super().__init__(params, defaults)

    def _init_state(self, p: Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        if len(state) == 0:
            state["step"] = _step_count()
            state["eta"] = _scalar_state(group["lr"])
            state["mu"] = _scalar_state(1.0)
            state["ax"] = _zeros(p)

    def _update(self, p: Tensor, grad: Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        lr, lambd, alpha = float(group["lr"]), float(group["lambd"]), float(group["alpha"])
        weight_decay = float(group["weight_decay"])
        if group["maximize"]:
            grad = -grad
        step = _next_step(state)
        if weight_decay != 0:
            grad = grad.add(p, alpha=weight_decay)
        eta, mu, ax = state["eta"], state["mu"], state["ax"]
        eta_value, mu_value = float(eta.item()), float(mu.item())
        p.mul_(1 - lambd * eta_value)
        p.add_(grad, alpha=-eta_value)
        if mu_value != 1:
            ax.add_(p.sub(ax).mul_(mu_value))
        else:
            ax.copy_(p)
        eta.fill_(lr / ((1 + lambd * lr * step) ** alpha))
        mu.fill_(1 / max(1, step - float(group["t0"])))
