"""``fg.special``: PyTorch's ``torch.special`` names for ferrograd's special functions, plus the
few it composes (``ndtr``, ``ndtri``, ``log_ndtr``, ``entr``, ``xlog1py``), differentiable
through the ops they are made of. Missing from PyTorch's list: the Bessel, orthogonal-polynomial,
incomplete-gamma, zeta and erfcx functions."""

from __future__ import annotations

import math

from . import _core
from ._core import Tensor
from ._functions import where as _where
from .autograd import Function
from .nn import functional as _F

__all__ = ["digamma", "entr", "erf", "erfc", "erfinv", "exp2", "expit", "expm1", "gammaln", "log1p", "log_ndtr",
           "log_softmax", "logit", "logsumexp", "multigammaln", "ndtr", "ndtri", "polygamma", "psi", "round", "sinc", "softmax",
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


def polygamma(n: int, input: Tensor) -> Tensor:
    """``input.polygamma(n)``, as ``torch.special.polygamma(n, input)``."""
    return input.polygamma(n)


def _tensors(input, other):
    """Two operands as tensors, a Python number made in the pair's result dtype (0.5 next to an
    int tensor is float32's 0.5, not int 0)."""
    from ._type_info import result_type

    d = result_type(input, other)
    if not d.is_floating_point:
        from ._creation import get_default_dtype

        d = get_default_dtype()
    return tuple(v if isinstance(v, Tensor) else _core.full([], v, d) for v in (input, other))


def _floating(input: Tensor) -> Tensor:
    """Integer inputs compute in the default dtype, as PyTorch's special functions do."""
    if input.is_floating_point():
        return input
    from ._creation import get_default_dtype

    return input.to(get_default_dtype())


def xlogy(input, other) -> Tensor:
    a, b = _tensors(input, other)
    return _core.Tensor.xlogy(a, b)


def softmax(input: Tensor, dim: int, *, dtype=None) -> Tensor:
    return _F.softmax(input, dim, dtype=dtype)


def log_softmax(input: Tensor, dim: int, *, dtype=None) -> Tensor:
    return _F.log_softmax(input, dim, dtype=dtype)


def ndtr(input: Tensor) -> Tensor:
    """The standard normal CDF, (1 + erf(x / sqrt 2)) / 2."""
    return (1 + (_floating(input) * (1 / math.sqrt(2))).erf()) * 0.5


class _Ndtri(Function):
    @staticmethod
    def forward(ctx, p):
        q = p.double()
        central = (q * 2 - 1).erfinv() * math.sqrt(2)
        # The tails (p or 1 - p below 0.05): 2p - 1 rounds away what erfinv needs there, so
        # Newton steps on log ndtr(x) = log p, from Abramowitz and Stegun 26.2.23 (error 4.5e-4),
        # each squaring the error: three reach float64's precision.
        lower = q < 0.5
        tail_p = _where(lower, q, 1 - q).clamp(min=1e-300, max=0.5)
        t = (-2 * tail_p.log()).sqrt()
        x = -(t - (2.515517 + t * (0.802853 + t * 0.010328)) / (1 + t * (1.432788 + t * (0.189269 + t * 0.001308))))
        log_p = tail_p.log()
        for _ in range(3):
            lp = log_ndtr(x)
            x = x - (lp - log_p) * (lp + x * x / 2 + 0.5 * math.log(2 * math.pi)).exp()
        tail = _where(lower, x, -x)
        out = _where((q > 0.05) & (q < 0.95), central, tail)
        out = _where(q == 0, -math.inf, _where(q == 1, math.inf, out))
        out = _where((q < 0) | (q > 1) | q.isnan(), math.nan, out).to(p.dtype)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * ((x * x / 2).exp() * math.sqrt(2 * math.pi))  # 1 / the density at x


def ndtri(input: Tensor) -> Tensor:
    """The standard normal quantile: the x with ndtr(x) = p, accurate in the tails
    (ndtri(1e-300) is -37.0471)."""
    return _Ndtri.apply(_floating(input))


# Below this, log ndtr takes the asymptotic series: erfc(-x / sqrt 2) underflows near -38 in
# float64, and the series' sixth term is under 1e-10 of the sum here.
_LOG_NDTR_SPLIT = -20.0


def log_ndtr(input: Tensor) -> Tensor:
    """log(ndtr(x)), accurate in the lower tail where ndtr underflows (log_ndtr(-40) is -804.6):
    in float64, log1p(-erfc(x / sqrt 2) / 2) above 0, log(erfc(-x / sqrt 2) / 2) down to -20, and
    the asymptotic series -x^2/2 - log(-x) - log(2 pi)/2 + log(1 - 1/x^2 + 3/x^4 - ...) below.
    Each side is evaluated on inputs clamped to its own range, so none makes a NaN gradient."""
    input = _floating(input)
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
    return _Entr.apply(_floating(input))


class _Xlog1py(Function):
    @staticmethod
    def forward(ctx, x, y):
        ctx.save_for_backward(x, y)
        product = x * y.log1p()
        return _where((x == 0) & ~y.isnan(), _core.full([], 0, product.dtype), product)

    @staticmethod
    def backward(ctx, grad):
        x, y = ctx.saved_tensors
        # PyTorch's: d/dx is log1p(y) also where x is 0 (the value's 0 there is a convention).
        return grad * y.log1p(), grad * x / (1 + y)


def xlog1py(input, other) -> Tensor:
    """x * log1p(y), and 0 where x is 0 (unless y is NaN), as xlogy is for log."""
    from ._methods.functions import broadcast_tensors
    from ._type_info import result_type

    a, b = _tensors(input, other)
    d = result_type(a, b)
    a, b = broadcast_tensors(_floating(a.to(d)), _floating(b.to(d)))
    return _Xlog1py.apply(a, b)
