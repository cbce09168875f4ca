"""Rprop: resilient backpropagation, sign-based steps with per-element step sizes."""

from __future__ import annotations

from typing import Any, Iterable

from .. import _creation
from .. import _memory_format as _mf
from .._core import Tensor
from .optimizer import Optimizer, _check, _next_step, _refuse_unsupported, _step_count, _zeros

__all__ = ["Rprop"]


class Rprop(Optimizer):
    r"""Rprop, as ``torch.optim.Rprop`` (the iRprop- variant). Per element, with ``prev`` the
    gradient kept from the previous step:

    .. code-block:: text

        g = -g if maximize
        s = g * prev
        step_size = clamp(step_size * (etaplus if s > 0, etaminus if s < 0, 1 if s == 0),
                          step_size_min, step_size_max)
        g = 0 where s < 0              (a sign change: skip this element once)
        p = p - sign(g) * step_size;  prev = g

    State: ``step``, ``prev``, ``step_size`` (starts at lr). ``foreach`` is accepted and ignored.
    """

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict],
        lr: float = 1e-2,
        etas: tuple[float, float] = (0.5, 1.2),
        step_sizes: tuple[float, float] = (1e-6, 50),
        *,
        capturable: bool = False,
        foreach: bool | None = None,
        maximize: bool = False,
        differentiable: bool = False,
    ) -> None:
        _check(0.0 <= lr, f"Invalid learning rate: {lr}")
        _check(0.0 < etas[0] < 1.0 < etas[1], f"Invalid eta values: {etas[0]}, {etas[1]}")
        _refuse_unsupported(capturable=capturable, differentiable=differentiable)
        defaults = dict(
            lr=lr, etas=etas, step_sizes=step_sizes, foreach=foreach, maximize=maximize, differentiable=differentiable,
            capturable=capturable,
        )
        super().__init__(params, defaults)

    def _init_state(self, p: Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        if len(state) == 0:
            state["step"] = _step_count()
            state["prev"] = _zeros(p)
            state["step_size"] = _creation.full_like(p, float(group["lr"]), memory_format=_mf.contiguous_format)

    def _update(self, p: Tensor, grad: Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        etaminus, etaplus = (float(e) for e in group["etas"])
        step_size_min, step_size_max = (float(s) for s in group["step_sizes"])
        if group["maximize"]:
            grad = -grad
        _next_step(state)
        prev, step_size = state["prev"], state["step_size"]
        agreement = grad.mul(prev)
        flipped = agreement.lt(0)
        factor = _creation.ones_like(agreement).masked_fill_(agreement.gt(0), etaplus).masked_fill_(flipped, etaminus)
        step_size.mul_(factor).clamp_(step_size_min, step_size_max)
        grad = grad.masked_fill(flipped, 0)
        p.addcmul_(grad.sign(), step_size, value=-1)
        prev.copy_(grad)
