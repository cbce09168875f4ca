"""More of PyTorch's factories: the signal windows (``hann_window`` ..., for STFT-style audio
code), ``logspace``, ``randint_like``, ``empty_strided``, ``scalar_tensor`` and ``asarray``.

Windows and logspace are computed in float64 and rounded once to the requested dtype."""

from __future__ import annotations

import numpy as np

from . import _core
from ._core import Tensor
from ._creation import _dtype_or_default, _finish, _is_int, _laid_out_like, _shape, as_tensor, from_numpy, randint, tensor, zeros
from ._memory_format import preserve_format

__all__ = ["hann_window", "hamming_window", "blackman_window", "bartlett_window", "kaiser_window", "logspace",
           "randint_like", "empty_strided", "scalar_tensor", "asarray"]


def _window(name: str, window_length: int, periodic: bool, dtype, device, requires_grad, shape) -> Tensor:
    """`shape(x)` over x = 2 pi n / N, n < window_length, N = window_length (periodic) or one less."""
    d = _dtype_or_default(dtype)
    if not d.is_floating_point:
        raise RuntimeError(f"{name} expects floating point dtypes, got: {d}")
    if window_length < 0:
        raise RuntimeError(f"{name} requires non-negative window length, got window_length={window_length}")
    if window_length <= 1:
        values = np.ones(window_length)
    else:
        n = np.arange(window_length, dtype=np.float64)
        values = shape(n, window_length if periodic else window_length - 1)
    return _finish(from_numpy(values).to(d), requires_grad, device)


def hann_window(window_length: int, periodic: bool = True, *, dtype=None, layout=None, device=None, requires_grad=False):
    return _window("hann_window", window_length, periodic, dtype, device, requires_grad,
                   lambda n, N: 0.5 - 0.5 * np.cos(2 * np.pi * n / N))


def hamming_window(window_length: int, periodic: bool = True, alpha: float = 0.54, beta: float = 0.46, *, dtype=None,
                   layout=None, device=None, requires_grad=False):
    return _window("hamming_window", window_length, periodic, dtype, device, requires_grad,
                   lambda n, N: alpha - beta * np.cos(2 * np.pi * n / N))


def blackman_window(window_length: int, periodic: bool = True, *, dtype=None, layout=None, device=None,
                    requires_grad=False):
    return _window("blackman_window", window_length, periodic, dtype, device, requires_grad,
                   lambda n, N: 0.42 - 0.5 * np.cos(2 * np.pi * n / N) + 0.08 * np.cos(4 * np.pi * n / N))


def bartlett_window(window_length: int, periodic: bool = True, *, dtype=None, layout=None, device=None,
                    requires_grad=False):
    return _window("bartlett_window", window_length, periodic, dtype, device, requires_grad,
                   lambda n, N: 1 - np.abs(2 * n / N - 1))


def kaiser_window(window_length: int, periodic: bool = True, beta: float = 12.0, *, dtype=None, layout=None, device=None,
                  requires_grad=False):
    return _window("kaiser_window", window_length, periodic, dtype, device, requires_grad,
                   lambda n, N: np.i0(beta * np.sqrt(np.clip(1 - (2 * n / N - 1) ** 2, 0, None))) / np.i0(beta))


def logspace(start, end, steps: int, base: float = 10.0, *, dtype=None, layout=None, device=None, requires_grad=False):
    """``steps`` values from base**start to base**end, evenly spaced in the exponent."""
    if steps < 0:
        raise RuntimeError(f"logspace: number of steps must be non-negative (got {steps})")
    values = np.power(float(base), np.linspace(float(start), float(end), int(steps)))
    return _finish(from_numpy(values).to(_dtype_or_default(dtype)), requires_grad, device)


def randint_like(input: Tensor, low=0, high=None, *, dtype=None, layout=None, device=None, requires_grad=False,
                 memory_format=preserve_format):
    """Integers uniform in [low, high) in input's shape and (unless given) dtype:
    ``randint_like(x, high)`` or ``randint_like(x, low, high)``."""
    if high is None:
        low, high = 0, low
    out = randint(low, high, tuple(input.shape), dtype=input.dtype if dtype is None else dtype, device=device)
    return _finish(_laid_out_like(input, out, memory_format, "randint_like"), requires_grad, device)


def empty_strided(size, stride, *, dtype=None, layout=None, device=None, requires_grad=False, pin_memory=False):
    """A tensor of ``size`` laid out with ``stride`` (zero-filled, as every ferrograd empty): code
    that passes strides reads them back (``stride()``, ``is_contiguous()``), and gets PyTorch's."""
    if not all(_is_int(s) for s in stride):
        raise TypeError(f"empty_strided(): argument 'stride' must be tuple of ints, but got {tuple(stride)}")
    size, stride = _shape((size,)), tuple(int(s) for s in stride)
    if len(size) != len(stride):
        raise RuntimeError(f"empty_strided: mismatch in length of strides and shape (size {size}, stride {stride})")
    if any(s < 0 for s in stride):
        raise RuntimeError(f"empty_strided: negative strides are not supported (stride {stride})")
    # The storage holds every element the strides reach, as PyTorch allocates it.
    n = 0 if 0 in size else 1 + sum((d - 1) * s for d, s in zip(size, stride))
    # detach(): a fresh tensor over the storage, not a view of the 1-d one.
    out = zeros(n, dtype=dtype, device=device).as_strided(size, stride, 0).detach()
    return _finish(out, requires_grad, device)


def scalar_tensor(s, *, dtype=None, layout=None, device=None, requires_grad=False, pin_memory=False):
    """A 0-d tensor of ``s``, in the default dtype unless one is given (an int too, as PyTorch)."""
    return _finish(_core.full([], s, _dtype_or_default(dtype)), requires_grad, device)


def asarray(obj, *, dtype=None, device=None, copy=None, requires_grad=False):
    """``obj`` as a tensor, sharing its memory where it can (a tensor, a numpy array) unless
    ``copy=True``; ``copy=False`` refuses to copy what it cannot share, as PyTorch's."""
    if isinstance(obj, np.ndarray) and copy is not True and (dtype is None or _core.dtype._parse(dtype).numpy_name == obj.dtype.name):
        out = from_numpy(obj)
    elif isinstance(obj, Tensor) and copy is not True:
        out = as_tensor(obj, dtype=dtype)
        if copy is False and out is not obj:
            raise ValueError("asarray(): can't satisfy copy=False: the dtype differs, so a copy is needed")
    elif copy is False:
        raise ValueError(f"asarray(): can't satisfy copy=False: a {type(obj).__name__} cannot be shared")
    else:
        out = tensor(obj, dtype=dtype)
    return _finish(out, requires_grad, device)
