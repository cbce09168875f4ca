"""Adagrad."""

from __future__ import annotations

from typing import Any, Callable, Iterable

from .. import _core, _creation
from .._core import Tensor
from ..autograd.grad_mode import no_grad
from .optimizer import Optimizer, _check, _next_step

__all__ = ["Adagrad"]


class Adagrad(Optimizer):
    r"""Adagrad, as ``torch.optim.Adagrad``. Per parameter, at step ``t`` (from 1):

    .. code-block:: text

        g = -g if maximize;  g = g + weight_decay * p
        clr = lr / (1 + (t - 1) * lr_decay)
        sum = sum + g * g
        p = p - clr * g / (sqrt(sum) + eps)

    State: ``step`` and ``sum`` (starting at ``initial_accumulator_value``). Unlike the other
    optimizers, the state is created in the constructor, as PyTorch does.
    """

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict],
        lr: float = 1e-2,
        lr_decay: float = 0,
        weight_decay: float = 0,
        initial_accumulator_value: float = 0,
        eps: float = 1e-10,
        foreach: bool | None = None,
        *,
        maximize: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
    ) -> None:
        _check(0.0 <= lr, f"Invalid learning rate: {lr}")
        _check(0.0 <= lr_decay, f"Invalid lr_decay value: {lr_decay}")
        _check(0.0 <= weight_decay, f"Invalid weight_decay value: {weight_decay}")
        _check(0.0 <= initial_accumulator_value, f"Invalid initial_accumulator_value value: {initial_accumulator_value}")
        _check(0.0 <= eps, f"Invalid epsilon value: {eps}")
        _check(not differentiable, "differentiable=True is not supported: ferrograd's optimizer steps run off the autograd graph")
        defaults = dict(
            lr=lr, lr_decay=lr_decay, eps=eps, weight_decay=weight_decay, initial_accumulator_value=initial_accumulator_value,
            foreach=foreach, maximize=maximize, differentiable=differentiable, fused=fused,
        )
        super().__init__(params, defaults)
        for group in self.param_groups:
            for p in group["params"]:
                self._init_state(p, group)

    def _init_state(self, p: Tensor, group: dict[str, Any]) -> dict[str, Any]:
        state = self.state[p]
        if len(state) == 0:
            state["step"] = _creation.tensor(0.0)
            state["sum"] = _creation.full_like(p, float(group["initial_accumulator_value"]))
        return state

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        loss = self._evaluate(closure)
        with no_grad():
            for group in self.param_groups:
                hyper = dict(
                    lr=float(group["lr"]), lr_decay=float(group["lr_decay"]), weight_decay=float(group["weight_decay"]),
                    eps=float(group["eps"]), maximize=bool(group["maximize"]),
                )
                for p in group["params"]:
                    if p.grad is None:
                        continue
                    state = self._init_state(p, group)
                    step = _next_step(state)
                    _core._adagrad_step(p, p.grad, state["sum"], step, **hyper)
        return loss
