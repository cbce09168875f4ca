"""kl_divergence(p, q) and register_kl, as PyTorch's: the closed forms for pairs of the same
family, inf where q gives zero probability to what p does not."""

from __future__ import annotations

import math

from .._functions import where
from .categorical import Bernoulli, Categorical
from .distribution import Independent
from .normal import Normal, Uniform

_KL: dict = {}


def register_kl(type_p, type_q):
    """A decorator registering ``fn(p, q)`` as KL(p || q) for those two types."""
    def decorator(fn):
        _KL[type_p, type_q] = fn
        return fn

    return decorator


def kl_divergence(p, q):
    """KL(p || q), batched over the distributions' batch shape."""
    # The most specific registration wins (a subclass's own rule before its base's), as PyTorch's.
    matches = [(type(p).__mro__.index(tp) + type(q).__mro__.index(tq), fn) for (tp, tq), fn in _KL.items()
               if isinstance(p, tp) and isinstance(q, tq)]
    if matches:
        return min(matches, key=lambda m: m[0])[1](p, q)
    raise NotImplementedError(f"No KL(p || q) is implemented for p of type {type(p).__name__} and q of type "
                              f"{type(q).__name__}")


@register_kl(Normal, Normal)
def _kl_normal_normal(p, q):
    var_ratio = (p.scale / q.scale).pow(2)
    t1 = ((p.loc - q.loc) / q.scale).pow(2)
    return 0.5 * (var_ratio + t1 - 1 - var_ratio.log())


@register_kl(Categorical, Categorical)
def _kl_categorical_categorical(p, q):
    t = p.probs * (p.logits - q.logits)
    t = where(q.probs == 0, math.inf, t)
    return where(p.probs == 0, 0.0, t).sum(-1)


def _softplus(x):
    return x.clamp(min=0) + (-x.abs()).exp().log1p()


@register_kl(Bernoulli, Bernoulli)
def _kl_bernoulli_bernoulli(p, q):
    t1 = p.probs * (_softplus(-q.logits) - _softplus(-p.logits))
    t1 = where(p.probs == 0, 0.0, where(q.probs == 0, math.inf, t1))
    t2 = (1 - p.probs) * (_softplus(q.logits) - _softplus(p.logits))
    t2 = where(p.probs == 1, 0.0, where(q.probs == 1, math.inf, t2))
    return t1 + t2


@register_kl(Uniform, Uniform)
def _kl_uniform_uniform(p, q):
    result = ((q.high - q.low) / (p.high - p.low)).log()
    return where((q.low > p.low) | (q.high < p.high), math.inf, result)


@register_kl(Independent, Independent)
def _kl_independent_independent(p, q):
    if p.reinterpreted_batch_ndims != q.reinterpreted_batch_ndims:
        raise NotImplementedError("KL between Independents with different reinterpreted_batch_ndims")
    return p._sum_rightmost(kl_divergence(p.base_dist, q.base_dist))
