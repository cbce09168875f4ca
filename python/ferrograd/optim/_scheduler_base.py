"""The scheduler base class `LRScheduler` and the helpers the schedulers share; the
schedulers themselves are gathered in `lr_scheduler.py`."""

from __future__ import annotations

import warnings
import weakref
from contextlib import contextmanager
from functools import wraps
from typing import Any, Iterator

from .optimizer import Optimizer

__all__ = ["LRScheduler"]

EPOCH_DEPRECATION_WARNING = (
    "The epoch parameter in `scheduler.step()` was not necessary and is being deprecated where possible. "
    "Please use `scheduler.step()` to step the scheduler. During the deprecation, if epoch is different from None, "
    "the closed form is used instead of the new chainable form, where available."
)


def _check_optimizer(optimizer: Any) -> None:
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"{type(optimizer).__name__} is not an Optimizer")


def _format_param(name: str, optimizer: Optimizer, param: Any) -> list[Any]:
    """One value per parameter group: `param` itself if it is a list or tuple of the right
    length, else `param` repeated."""
    if isinstance(param, (list, tuple)):
        if len(param) != len(optimizer.param_groups):
            raise ValueError(
                f"{name} must have the same length as optimizer.param_groups. "
                f"{name} has {len(param)} values, param_groups has {len(optimizer.param_groups)}."
            )
        return list(param)
    return [param] * len(optimizer.param_groups)


def _count_optimizer_steps(optimizer: Optimizer) -> None:
    """Wraps ``optimizer.step`` once so the scheduler can tell whether it ran before its own
    first step (the common mistake that skips the first value of the schedule)."""
    step = getattr(optimizer.step, "__func__", None)
    if step is None or getattr(optimizer.step, "_counts_steps", False):
        return  # already counted, or replaced by something that is not a method
    ref = weakref.ref(optimizer)

    @wraps(step)
    def counting_step(*args: Any, **kwargs: Any) -> Any:
        opt = ref()
        if opt is not None:
            opt._opt_called = True
        return step(opt, *args, **kwargs)

    counting_step._counts_steps = True  # type: ignore[attr-defined]
    optimizer.step = counting_step  # type: ignore[method-assign]
    optimizer._opt_called = False


class LRScheduler:
    """Base class: keeps ``last_epoch`` and ``base_lrs`` (each group's ``initial_lr``) and sets
    the rates from ``get_lr()``. Constructing a scheduler takes its first step (epoch 0), in
    "initial mode" (``_is_initial``), where the recursive schedulers keep the current rates,
    so a scheduler resumed with ``last_epoch`` does not move one step ahead of itself."""

    _get_lr_called_within_step = False
    _is_initial = False

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1) -> None:
        _check_optimizer(optimizer)
        self.optimizer = optimizer
        if last_epoch == -1:
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", group["lr"])
        else:
            for i, group in enumerate(optimizer.param_groups):
                if "initial_lr" not in group:
                    raise KeyError(f"param 'initial_lr' is not specified in param_groups[{i}] when resuming an optimizer")
        self.base_lrs: list[float] = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        _count_optimizer_steps(optimizer)
        self._initial_step()

    def _initial_step(self) -> None:
        """The step the constructor takes (SequentialLR repeats it when a scheduler takes over)."""
        self._step_count = 0
        with self._initial_mode():
            self.step()

    @contextmanager
    def _initial_mode(self) -> Iterator[None]:
        self._is_initial = True
        try:
            yield
        finally:
            self._is_initial = False

    def state_dict(self) -> dict[str, Any]:
        """Every attribute but the optimizer."""
        return {key: value for key, value in self.__dict__.items() if key != "optimizer"}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.__dict__.update(state_dict)

    def get_last_lr(self) -> list[float]:
        """The rates the last ``step()`` set, one per parameter group."""
        return self._last_lr

    def get_lr(self) -> list[float]:
        """The rates for ``last_epoch`` (already advanced) from the current ones."""
        raise NotImplementedError

    def step(self, epoch: int | None = None) -> None:
        if self._step_count == 1 and not getattr(self.optimizer, "_opt_called", True):
            warnings.warn(
                "Detected call of `lr_scheduler.step()` before `optimizer.step()`. You should call them in the order "
                "`optimizer.step()` then `lr_scheduler.step()`; otherwise the first value of the learning rate "
                "schedule is skipped.",
                UserWarning,
                stacklevel=2,
            )
        self._step_count += 1
        if epoch is not None:
            warnings.warn(EPOCH_DEPRECATION_WARNING, UserWarning, stacklevel=2)
        self._update_lr(epoch)

    def _update_lr(self, epoch: int | None = None) -> None:
        self._get_lr_called_within_step = True
        try:
            if epoch is None:
                self.last_epoch += 1
                values = self.get_lr()
            else:
                self.last_epoch = epoch
                closed_form = getattr(self, "_get_closed_form_lr", None)
                values = closed_form() if closed_form is not None else self.get_lr()
        finally:
            self._get_lr_called_within_step = False
        self._set_lrs(values)

    def _set_lrs(self, values: list[float]) -> None:
        for group, lr in zip(self.optimizer.param_groups, values):
            group["lr"] = lr
        self._last_lr = self._current()

    def _current(self) -> list[float]:
        return [group["lr"] for group in self.optimizer.param_groups]

    def _warn_outside_step(self) -> None:
        """`get_lr()` called by the user (not by `step()`) computes the next step's rates from
        the current ones, which is rarely what they want, as PyTorch warns."""
        if not self._get_lr_called_within_step:
            warnings.warn(
                "To get the last learning rate computed by the scheduler, please use `get_last_lr()`.", UserWarning, stacklevel=3
            )
