"""Categorical and Bernoulli, given by ``probs`` or by ``logits`` (exactly one); each keeps the
other form derived from it, normalised as PyTorch's (probs summing to 1, logits to a
log-partition of 0)."""

from __future__ import annotations

import math

from .. import _core, _creation
from .._functions import where
from .._methods.functions import broadcast_tensors
from .._type_info import finfo
from ..autograd.grad_mode import no_grad
from ..nn import functional as F
from . import constraints
from .distribution import Distribution, broadcast_all


def _one_of(probs, logits, name: str):
    if (probs is None) == (logits is None):
        raise ValueError(f"{name}: either `probs` or `logits` must be specified, but not both.")


def _clamp_probs(p):
    """Probabilities kept off 0 and 1 by the dtype's eps, so their logits are finite."""
    eps = finfo(p.dtype).eps
    return p.clamp(min=eps, max=1 - eps)


class Categorical(Distribution):
    """One of K categories (the last dim of ``probs``/``logits``), as integer indices."""

    has_enumerate_support = True

    def __init__(self, probs=None, logits=None, validate_args=None):
        _one_of(probs, logits, "Categorical")
        if probs is not None:
            if probs.ndim < 1:
                raise ValueError("`probs` parameter must be at least one-dimensional.")
            self.probs = probs / probs.sum(-1, keepdim=True)
            self.arg_constraints = {"probs": constraints.simplex}
        else:
            if logits.ndim < 1:
                raise ValueError("`logits` parameter must be at least one-dimensional.")
            self.logits = logits - logits.logsumexp(dim=-1, keepdim=True)
            self.arg_constraints = {"logits": constraints.real}
        param = self.probs if probs is not None else self.logits
        self._num_events = param.shape[-1]
        super().__init__(param.shape[:-1], validate_args=validate_args)

    def __getattr__(self, name):
        # The form not given, derived on first use.
        if name == "probs":
            self.probs = F.softmax(self.__dict__["logits"], -1)
            return self.probs
        if name == "logits":
            self.logits = _clamp_probs(self.__dict__["probs"]).log()
            return self.logits
        raise AttributeError(name)

    @property
    def support(self):
        return constraints.integer_interval(0, self._num_events - 1)

    @property
    def param_shape(self):
        return (self.probs if "probs" in self.__dict__ else self.logits).shape

    @property
    def mean(self):
        return _core.full(list(self._extended_shape()), math.nan, self.probs.dtype)

    @property
    def mode(self):
        return self.probs.argmax(-1)

    @property
    def variance(self):
        return _core.full(list(self._extended_shape()), math.nan, self.probs.dtype)

    def sample(self, sample_shape=()):
        n = 1
        for s in sample_shape:
            n *= s
        with no_grad():
            probs_2d = self.probs.reshape(-1, self._num_events)
            shape = list(self._extended_shape(sample_shape))
            if n == 0 or probs_2d.shape[0] == 0:
                return _core.full(shape, 0, _core.int64)
            return _core.Tensor.multinomial(probs_2d, n, True).t().reshape(shape)

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        value, log_pmf = broadcast_tensors(value.long().unsqueeze(-1), self.logits)
        return log_pmf.gather(-1, value[..., :1]).squeeze(-1)

    def entropy(self):
        # 0 * log 0 is 0: a -inf logit is clamped to the dtype's lowest finite value first.
        logits = self.logits.clamp(min=finfo(self.logits.dtype).min)
        return -(logits * self.probs).sum(-1)

    def enumerate_support(self, expand: bool = True):
        values = _creation.arange(self._num_events).reshape((-1,) + (1,) * len(self._batch_shape))
        return values.expand((-1,) + tuple(self._batch_shape)) if expand else values

    def __repr__(self) -> str:
        p = "probs" if "probs" in self.__dict__ and "logits" not in self.__dict__ else "logits"
        v = self.__dict__.get(p, self.__dict__.get("probs"))
        return f"Categorical({p}: {tuple(v.shape) if v.numel() != 1 else v})"


class Bernoulli(Distribution):
    """0 or 1, 1 with probability ``probs`` (or ``sigmoid(logits)``)."""

    support = constraints.boolean
    has_enumerate_support = True

    def __init__(self, probs=None, logits=None, validate_args=None):
        _one_of(probs, logits, "Bernoulli")
        if probs is not None:
            (self.probs,) = broadcast_all(probs)
            self.arg_constraints = {"probs": constraints.unit_interval}
            shape = self.probs.shape
        else:
            (self.logits,) = broadcast_all(logits)
            self.arg_constraints = {"logits": constraints.real}
            shape = self.logits.shape
        super().__init__(shape, validate_args=validate_args)

    def __getattr__(self, name):
        if name == "probs":
            self.probs = self.__dict__["logits"].sigmoid()
            return self.probs
        if name == "logits":
            p = _clamp_probs(self.__dict__["probs"])
            self.logits = p.log() - (-p).log1p()
            return self.logits
        raise AttributeError(name)

    @property
    def mean(self):
        return self.probs

    @property
    def mode(self):
        m = (self.probs >= 0.5).to(self.probs.dtype)
        return where(self.probs == 0.5, math.nan, m)

    @property
    def variance(self):
        return self.probs * (1 - self.probs)

    def sample(self, sample_shape=()):
        with no_grad():
            return _core.Tensor.bernoulli(self.probs.expand(tuple(self._extended_shape(sample_shape))))

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        logits, value = broadcast_all(self.logits, value)
        return -(logits.clamp(min=0) - logits * value + (-logits.abs()).exp().log1p())

    def entropy(self):
        logits = self.logits
        return logits.clamp(min=0) - logits * self.probs + (-logits.abs()).exp().log1p()

    def enumerate_support(self, expand: bool = True):
        values = _creation.arange(2, dtype=self.probs.dtype).reshape((-1,) + (1,) * len(self._batch_shape))
        return values.expand((-1,) + tuple(self._batch_shape)) if expand else values
