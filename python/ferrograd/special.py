"""``fg.special``: PyTorch's ``torch.special`` names for ferrograd's special functions, plus the
few it composes (``ndtr``, ``ndtri``, ``log_ndtr``, ``entr``, ``xlog1py``), differentiable
through the ops they are made of. Missing from PyTorch's list: the Bessel, orthogonal-polynomial,
incomplete-gamma, polygamma, zeta and erfcx functions."""

from __future__ import annotations

import math

from . import _core
from ._core import Tensor
from ._functions import where as _where
from .autograd import Function
from .nn import functional as _F

__all__ = ["digamma", "entr", "erf", "erfc", "erfinv", "exp2", "expit", "expm1", "gammaln", "log1p", "log_ndtr",
           "log_softmax", "logit", "logsumexp", "multigammaln", "ndtr", "ndtri", "psi", "round", "sinc", "softmax",
           "xlog1py", "xlogy"]


def _t(name: str):
    def f(input: Tensor, *args, **kwargs) -> Tensor:
        return getattr(input, name)(*args, **kwargs)

    f.__name__ = f.__qualname__ = name
    f.__doc__ = f"``input.{name}(...)``, as ``torch.special``'s."
    return f


erf, erfc, erfinv, expm1, exp2, log1p, sinc, logit = (_t(n) for n in ("erf", "erfc", "erfinv", "expm1", "exp2", "log1p",
                                                                          "sinc", "logit"))
digamma = psi = _t("digamma")
gammaln = _t("lgamma")
expit = _t("sigmoid")
multigammaln = _t("mvlgamma")
logsumexp = _t("logsumexp")
round = _t("round")  # noqa: A001 (PyTorch's name)


def xlogy(input, other) -> Tensor:
    return _core.Tensor.xlogy(input if isinstance(input, Tensor) else _core.full([], input, other.dtype), other)


def softmax(input: Tensor, dim: int, *, dtype=None) -> Tensor:
    return _F.softmax(input, dim, dtype=dtype)


def log_softmax(input: Tensor, dim: int, *, dtype=None) -> Tensor:
    return _F.log_softmax(input, dim, dtype=dtype)


def ndtr(input: Tensor) -> Tensor:
    """The standard normal CDF, (1 + erf(x / sqrt 2)) / 2."""
    return (1 + (input * (1 / math.sqrt(2))).erf()) * 0.5


def ndtri(input: Tensor) -> Tensor:
    """The standard normal quantile: the x with ndtr(x) = p."""
    return (input * 2 - 1).erfinv() * math.sqrt(2)


# Below this, log ndtr takes the asymptotic series: erfc(-x / sqrt 2) underflows near -38 in
# float64, and the series' sixth term is under 1e-10 of the sum here.
_LOG_NDTR_SPLIT = -20.0


def log_ndtr(input: Tensor) -> Tensor:
    """log(ndtr(x)), accurate in the lower tail where ndtr underflows (log_ndtr(-40) is -804.6):
    in float64, log1p(-erfc(x / sqrt 2) / 2) above 0, log(erfc(-x / sqrt 2) / 2) down to -20, and
    the asymptotic series -x^2/2 - log(-x) - log(2 pi)/2 + log(1 - 1/x^2 + 3/x^4 - ...) below.
    Each side is evaluated on inputs clamped to its own range, so none makes a NaN gradient."""
    x = input.double()
    # Each clamp reaches a little past its side's split: a clamp passes no gradient at its bound,
    # and a side is used up to and including its split point.
    upper = x.clamp(min=-1)
    upper_side = ((upper * (1 / math.sqrt(2))).erfc() * -0.5).log1p()  # log(1 - ndtr(-x)): no 1 - tiny
    near = x.clamp(min=_LOG_NDTR_SPLIT - 1, max=1)
    erfc_side = (near * (-1 / math.sqrt(2))).erfc().log() - math.log(2)
    far = x.clamp(max=_LOG_NDTR_SPLIT + 1)
    r = 1 / (far * far)
    series = 1 + r * (-1 + r * (3 + r * (-15 + r * (105 + r * (-945 + r * 10395)))))
    tail_side = -far * far / 2 - (-far).log() - 0.5 * math.log(2 * math.pi) + series.log()
    return _where(x > 0, upper_side, _where(x > _LOG_NDTR_SPLIT, erfc_side, tail_side)).to(input.dtype)


class _Entr(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        positive = x > 0
        safe = _where(positive, x, _core.full([], 1, x.dtype))
        value = _where(positive, -x * safe.log(), _where(x == 0, 0.0, -math.inf))
        return _where(x.isnan(), x, value)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * -(x.log() + 1)  # PyTorch's: inf at 0, NaN below


def entr(input: Tensor) -> Tensor:
    """Elementwise entropy -x log x: 0 at 0, -inf below 0, NaN for NaN; its gradient is
    -(1 + log x), as PyTorch's (inf at 0, NaN below)."""
    return _Entr.apply(input)


def xlog1py(input, other) -> Tensor:
    """x * log1p(y), and 0 where x is 0 (unless y is NaN), as xlogy is for log."""
    if not isinstance(input, Tensor):
        input = _core.full([], input, other.dtype)
    if not isinstance(other, Tensor):
        other = _core.full([], other, input.dtype)
    product = input * other.log1p()
    return _where((input == 0) & ~other.isnan(), _core.full([], 0, product.dtype), product)
