"""NAdam and RAdam: Adam with Nesterov momentum, and Adam with a rectified variance."""

from __future__ import annotations

import math
from typing import Any, Iterable

from .._core import Tensor
from .optimizer import Optimizer, _check, _check_adam_family, _next_step, _refuse_unsupported, _scalar_state, _step_count, _zeros

__all__ = ["NAdam", "RAdam"]


def _decay(p: Tensor, grad: Tensor, group: dict[str, Any]) -> Tensor:
    """Applies weight decay as PyTorch's Adam family does: the parameter shrinks first
    (decoupled, AdamW-style) or the decay joins the gradient (L2)."""
    weight_decay = float(group["weight_decay"])
    if weight_decay == 0:
        return grad
    if group["decoupled_weight_decay"]:
        p.mul_(1 - float(group["lr"]) * weight_decay)
        return grad
    return grad.add(p, alpha=weight_decay)


class NAdam(Optimizer):
    r"""NAdam, as ``torch.optim.NAdam`` (Dozat 2016, with PyTorch's momentum schedule).
    Per parameter, at step ``t`` (from 1):

    .. code-block:: text

        g = -g if maximize;  weight decay as in Adam (decoupled_weight_decay: as in AdamW)
        mu_t = beta1 * (1 - 0.5 * 0.96 ** (t * momentum_decay));  mu_{t+1} likewise
        mu_product = mu_product * mu_t
        m = lerp(m, g, 1 - beta1);  v = beta2 * v + (1 - beta2) * g * g
        denom = sqrt(v / (1 - beta2^t)) + eps
        p = p - lr * (1 - mu_t) / (1 - mu_product) * g / denom
              - lr * mu_{t+1} / (1 - mu_product * mu_{t+1}) * m / denom

    State: ``step`` and ``mu_product`` (float32 scalar tensors, as PyTorch keeps them, so the
    product rounds the same way), ``exp_avg``, ``exp_avg_sq``. ``foreach`` is accepted and
    ignored: there is one implementation.
    """

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict],
        lr: float = 2e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        momentum_decay: float = 4e-3,
        decoupled_weight_decay: bool = False,
        *,
        foreach: bool | None = None,
        maximize: bool = False,
        capturable: bool = False,
        differentiable: bool = False,
    ) -> None:
        _check_adam_family(lr, betas, eps, weight_decay)
        _check(0.0 <= momentum_decay, f"Invalid momentum_decay value: {momentum_decay}")
        _refuse_unsupported(capturable=capturable, differentiable=differentiable)
        defaults = dict(
            lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, momentum_decay=momentum_decay,
            decoupled_weight_decay=decoupled_weight_decay, maximize=maximize, foreach=foreach, capturable=capturable,
            differentiable=differentiable,
        )
        super().__init__(params, defaults)

    def _init_state(self, p: Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        if len(state) == 0:
            state["step"] = _step_count()
            state["mu_product"] = _scalar_state(1.0)
            state["exp_avg"] = _zeros(p)
            state["exp_avg_sq"] = _zeros(p)

    def _update(self, p: Tensor, grad: Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        beta1, beta2 = (float(b) for b in group["betas"])
        lr, eps, momentum_decay = float(group["lr"]), float(group["eps"]), float(group["momentum_decay"])
        if group["maximize"]:
            grad = -grad
        step = _next_step(state)
        bias_correction2 = 1 - beta2**step
        grad = _decay(p, grad, group)
        mu = beta1 * (1.0 - 0.5 * 0.96 ** (step * momentum_decay))
        mu_next = beta1 * (1.0 - 0.5 * 0.96 ** ((step + 1) * momentum_decay))
        mu_product = state["mu_product"]
        mu_product *= mu
        mu_product_value = float(mu_product.item())
        exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
        exp_avg.lerp_(grad, 1 - beta1)
        exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        denom = exp_avg_sq.div(bias_correction2).sqrt().add_(eps)
        p.addcdiv_(grad, denom, value=-lr * (1.0 - mu) / (1.0 - mu_product_value))
        p.addcdiv_(exp_avg, denom, value=(-lr * mu_next) / (1.0 - mu_product_value * mu_next))


class RAdam(Optimizer):
    r"""RAdam, as ``torch.optim.RAdam`` (Liu et al. 2019). Per parameter, at step ``t``:

    .. code-block:: text

        g = -g if maximize;  weight decay as in Adam (decoupled_weight_decay: as in AdamW)
        m = lerp(m, g, 1 - beta1);  v = beta2 * v + (1 - beta2) * g * g
        m_hat = m / (1 - beta1^t)
        rho_inf = 2 / (1 - beta2) - 1;  rho_t = rho_inf - 2 t beta2^t / (1 - beta2^t)
        if rho_t > 5:
            r = sqrt((rho_t - 4)(rho_t - 2) rho_inf / ((rho_inf - 4)(rho_inf - 2) rho_t))
            p = p - m_hat * lr * sqrt(1 - beta2^t) / (sqrt(v) + eps) * r
        else:
            p = p - m_hat * lr                       (plain momentum while the variance is unreliable)

    State: ``step``, ``exp_avg``, ``exp_avg_sq``. ``foreach`` is accepted and ignored.
    """

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        decoupled_weight_decay: bool = False,
        *,
        foreach: bool | None = None,
        maximize: bool = False,
        capturable: bool = False,
        differentiable: bool = False,
    ) -> None:
        _check_adam_family(lr, betas, eps, weight_decay)
        _refuse_unsupported(capturable=capturable, differentiable=differentiable)
        defaults = dict(
            lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, maximize=maximize, foreach=foreach,
            capturable=capturable, decoupled_weight_decay=decoupled_weight_decay, differentiable=differentiable,
        )
        super().__init__(params, defaults)

    def _init_state(self, p: Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        if len(state) == 0:
            state["step"] = _step_count()
            state["exp_avg"] = _zeros(p)
            state["exp_avg_sq"] = _zeros(p)

    def _update(self, p: Tensor, grad: Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        beta1, beta2 = (float(b) for b in group["betas"])
        lr, eps = float(group["lr"]), float(group["eps"])
        if group["maximize"]:
            grad = -grad
        step = _next_step(state)
        grad = _decay(p, grad, group)
        exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
        exp_avg.lerp_(grad, 1 - beta1)
        exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        bias_correction1 = 1 - beta1**step
        bias_correction2 = 1 - beta2**step
        bias_corrected_exp_avg = exp_avg / bias_correction1
        rho_inf = 2 / (1 - beta2) - 1
        rho_t = rho_inf - 2 * step * (beta2**step) / bias_correction2
        if rho_t > 5.0:
            rect = math.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
            adaptive_lr = (bias_correction2**0.5) / exp_avg_sq.sqrt().add_(eps)
            p.add_(bias_corrected_exp_avg * lr * adaptive_lr * rect, alpha=-1.0)
        else:
            p.add_(bias_corrected_exp_avg * lr, alpha=-1.0)
