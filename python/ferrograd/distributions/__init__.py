"""``fg.distributions``: PyTorch's probability distributions that RL and VAE code uses most
(Normal, Uniform, Categorical, Bernoulli, Independent), with ``sample``/``rsample``, ``log_prob``,
``entropy``, ``cdf``/``icdf`` where they exist, argument validation, and ``kl_divergence``
between pairs of a family."""

from . import constraints
from .categorical import Bernoulli, Categorical
from .distribution import Distribution, Independent
from .kl import kl_divergence, register_kl
from .normal import Normal, Uniform

__all__ = ["Bernoulli", "Categorical", "Distribution", "Independent", "Normal", "Uniform", "constraints", "kl_divergence", "register_kl"]
