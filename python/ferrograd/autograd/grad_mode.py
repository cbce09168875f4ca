"""Grad-mode context managers. The state itself is thread-local in Rust (`autograd/grad_mode.rs`);
these save it on entry and restore it on exit, also when the block raises. Each works as a
context manager and as a decorator, with or without parentheses (`@no_grad`, `@no_grad()`).
"""

from __future__ import annotations

import functools
import inspect
import threading

from .. import _core

__all__ = ["no_grad", "enable_grad", "set_grad_enabled", "inference_mode", "is_grad_enabled", "is_inference_mode_enabled"]

is_grad_enabled = _core.is_grad_enabled
is_inference_mode_enabled = _core.is_inference_mode_enabled


class _DecoratorContextManager:
    """A context manager that can also decorate functions (a fresh instance per call, so
    decorated functions are re-entrant and thread-safe)."""

    def __call__(self, func):
        if inspect.isclass(func):
            raise TypeError(f"{type(self).__name__} cannot decorate a class; decorate its methods instead")
        if inspect.isgeneratorfunction(func):
            return _wrap_generator(self.clone, func)

        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            with self.clone():
                return func(*args, **kwargs)

        return wrapper

    def clone(self):
        return type(self)()


def _wrap_generator(mode, func):
    """A decorated generator runs in the mode only while it runs: each resume enters a fresh
    `mode()` and each yield leaves it, as PyTorch's do. (`with mode(): yield from ...` kept the
    mode on across the yields, so the caller's own code between two items ran with grad off,
    recording no graph.)"""

    @functools.wraps(func)
    def generator(*args, **kwargs):
        gen = func(*args, **kwargs)
        try:
            with mode():
                response = gen.send(None)
            while True:
                try:
                    request = yield response
                except GeneratorExit:
                    with mode():
                        gen.close()
                    raise
                except BaseException as e:  # thrown in by the caller: passed on, in the mode
                    with mode():
                        response = gen.throw(e)
                else:
                    with mode():
                        response = gen.send(request)
        except StopIteration as e:
            return e.value

    return generator


class _NoParamDecorator(_DecoratorContextManager):
    """Allows `@no_grad` as well as `@no_grad()`."""

    def __new__(cls, orig_func=None):
        if orig_func is None:
            return super().__new__(cls)
        return cls()(orig_func)


class no_grad(_NoParamDecorator):
    """Turns recording off: results of ops have requires_grad=False and no grad_fn.

    This is what disables autograd, not `model.eval()` (which only switches Dropout and
    BatchNorm behaviour).
    """

    def __init__(self) -> None:
        self._prev: list[bool] = []

    def __enter__(self) -> None:
        self._prev.append(_core.is_grad_enabled())
        _core._set_grad_enabled(False)

    def __exit__(self, *exc) -> None:
        _core._set_grad_enabled(self._prev.pop())


# Depth of `fg.inference(model)` blocks on this thread: inference mode entered that way may be
# left by enable_grad (the documented escape hatch); plain inference_mode may not.
_soft = threading.local()


class enable_grad(_NoParamDecorator):
    """Turns recording back on inside `no_grad`. Inside `inference_mode` it does not (as in
    PyTorch), except inside `fg.inference(model)`, where it also leaves inference mode for the
    block: the escape hatch for a local computation that needs gradients."""

    def __init__(self) -> None:
        self._prev: list[tuple[bool, bool]] = []

    def __enter__(self) -> None:
        inference = _core.is_inference_mode_enabled()
        self._prev.append((_core.is_grad_enabled(), inference))
        if inference and getattr(_soft, "depth", 0):
            _core._set_inference_mode(False)
        _core._set_grad_enabled(True)

    def __exit__(self, *exc) -> None:
        grad, inference = self._prev.pop()
        _core._set_inference_mode(inference)
        _core._set_grad_enabled(grad)


class set_grad_enabled(_DecoratorContextManager):
    """`set_grad_enabled(mode)` takes effect when called; as a context manager it restores the
    previous mode on exit."""

    def __init__(self, mode: bool) -> None:
        if not isinstance(mode, bool):
            raise TypeError(f"set_grad_enabled(): argument 'mode' must be bool, not {type(mode).__name__}")
        self.prev = _core.is_grad_enabled()
        self.mode = mode
        _core._set_grad_enabled(mode)

    def __call__(self, func):
        # Used as a decorator: the call above must not change the mode of the defining scope.
        _core._set_grad_enabled(self.prev)
        return super().__call__(func)

    def __enter__(self) -> None:
        # Entering (again) applies the mode: a context object kept and re-entered after its
        # first exit must not run with the restored mode (PyTorch does the same).
        _core._set_grad_enabled(self.mode)

    def __exit__(self, *exc) -> None:
        _core._set_grad_enabled(self.prev)

    def clone(self):
        return type(self)(self.mode)


class inference_mode(_DecoratorContextManager):
    """Like no_grad, and tensors made inside are "inference tensors": they can never be saved
    for backward later, nor changed in place outside inference mode. `inference_mode(False)`
    switches it off inside an enclosing one.
    """

    def __new__(cls, mode=True):
        if isinstance(mode, bool):
            return super().__new__(cls)
        if callable(mode):  # @inference_mode without parentheses
            return cls()(mode)
        raise TypeError(f"inference_mode(): argument 'mode' must be bool, not {type(mode).__name__}")

    def __init__(self, mode: bool = True) -> None:
        if not isinstance(mode, bool):
            return  # decorator form, handled in __new__
        self.mode = mode
        self._prev: list[tuple[bool, bool]] = []

    def __enter__(self) -> None:
        self._prev.append((_core.is_inference_mode_enabled(), _core.is_grad_enabled()))
        _core._set_inference_mode(self.mode)
        # As c10::InferenceMode: inference_mode(True) turns grad off, inference_mode(False) on.
        _core._set_grad_enabled(not self.mode)

    def __exit__(self, *exc) -> None:
        inf, grad = self._prev.pop()
        _core._set_inference_mode(inf)
        _core._set_grad_enabled(grad)

    def clone(self):
        return type(self)(self.mode)


class _soft_inference_mode(inference_mode):
    """inference_mode that `enable_grad` may leave (used by fg.inference(model))."""

    def __init__(self) -> None:
        super().__init__(True)

    def __enter__(self) -> None:
        super().__enter__()
        _soft.depth = getattr(_soft, "depth", 0) + 1

    def __exit__(self, *exc) -> None:
        _soft.depth -= 1
        super().__exit__(*exc)

    def clone(self):
        return type(self)()
