"""Stochastic gradient descent, with momentum, dampening, Nesterov momentum and weight decay."""

from __future__ import annotations

from typing import Any, Iterable

from .. import _core
from .._core import Tensor
from .optimizer import Optimizer, _check, _refuse_unsupported, _zeros

__all__ = ["SGD"]


class SGD(Optimizer):
    r"""SGD, as ``torch.optim.SGD``. Per parameter, with ``g`` its gradient:

    .. code-block:: text

        g = -g if maximize;  g = g + weight_decay * p
        buf = g on the first step, else momentum * buf + (1 - dampening) * g   (momentum != 0)
        g = g + momentum * buf if nesterov else buf                            (momentum != 0)
        p = p - lr * g

    The state of a parameter is ``{"momentum_buffer": buf}`` when momentum != 0, else empty.
    ``foreach`` and ``fused`` are accepted for compatibility: every step is one fused kernel.
    """

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict],
        lr: float = 1e-3,
        momentum: float = 0,
        dampening: float = 0,
        weight_decay: float = 0,
        nesterov: bool = False,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
        differentiable: bool = False,
        fused: bool | None = None,
    ) -> None:
        _check(0.0 <= lr, f"Invalid learning rate: {lr}")
        _check(0.0 <= momentum, f"Invalid momentum value: {momentum}")
        _check(0.0 <= weight_decay, f"Invalid weight_decay value: {weight_decay}")
        _refuse_unsupported(differentiable=differentiable)
        defaults = dict(
            lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay, nesterov=nesterov,
            maximize=maximize, foreach=foreach, differentiable=differentiable, fused=fused,
        )
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        super().__init__(params, defaults)

    # No _init_state: as in PyTorch, the momentum buffer is the first gradient (the kernel fills it
    # when told `first`), so it is made here, on the first update with momentum.

    def _update(self, p: Tensor, grad: Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        momentum = float(group["momentum"])
        buf, first = None, False
        if momentum != 0:  # without momentum a parameter gets no state entry at all
            buf = state.get("momentum_buffer")
            if buf is None:
                buf, first = _zeros(p), True
                state["momentum_buffer"] = buf
        _core._sgd_step(
            p, grad, buf, first, lr=float(group["lr"]), momentum=momentum, dampening=float(group["dampening"]),
            weight_decay=float(group["weight_decay"]), nesterov=bool(group["nesterov"]), maximize=bool(group["maximize"]),
        )
