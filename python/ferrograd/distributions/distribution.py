"""The `Distribution` base class, as PyTorch's: batch and event shapes, `sample` (no gradient)
and `rsample` (reparameterised, differentiable), and argument checks that name the constraint
a parameter or a value breaks (on unless `validate_args=False` or
`Distribution.set_default_validate_args(False)`)."""

from __future__ import annotations

from .._core import Tensor
from .._methods.functions import broadcast_tensors
from .._size import Size
from ..autograd.grad_mode import no_grad

_validate_default = True


def broadcast_all(*values):
    """Tensors and Python numbers broadcast to one shape; numbers take the tensors' dtype (the
    default dtype when all are numbers)."""
    from .._creation import get_default_dtype, tensor

    like = next((v for v in values if isinstance(v, Tensor)), None)
    dtype = like.dtype if like is not None and like.is_floating_point() else get_default_dtype()
    ts = [v if isinstance(v, Tensor) else tensor(float(v), dtype=dtype) for v in values]
    return broadcast_tensors(*ts)


class Distribution:
    has_rsample = False
    has_enumerate_support = False
    arg_constraints: dict = {}
    support = None

    @staticmethod
    def set_default_validate_args(value: bool) -> None:
        global _validate_default
        if value not in (True, False):
            raise ValueError("set_default_validate_args expects a bool")
        _validate_default = value

    def __init__(self, batch_shape=(), event_shape=(), validate_args=None):
        self._batch_shape, self._event_shape = Size(batch_shape), Size(event_shape)
        self._validate_args = _validate_default if validate_args is None else validate_args
        if self._validate_args:
            for name, constraint in self.arg_constraints.items():
                if name not in self.__dict__ and isinstance(getattr(type(self), name, None), property):
                    continue  # a derived parameter (probs from logits ...), checked through its source
                value = getattr(self, name)
                if not constraint.check(value).all().item():
                    raise ValueError(f"Expected parameter {name} ({type(value).__name__} of shape {tuple(value.shape)}) of "
                                     f"distribution {self!r} to satisfy the constraint {constraint!r}, but found invalid "
                                     f"values:\n{value}")

    @property
    def batch_shape(self) -> Size:
        return self._batch_shape

    @property
    def event_shape(self) -> Size:
        return self._event_shape

    def _extended_shape(self, sample_shape=()) -> Size:
        return Size(tuple(sample_shape) + tuple(self._batch_shape) + tuple(self._event_shape))

    def sample(self, sample_shape=()) -> Tensor:
        with no_grad():
            return self.rsample(sample_shape)

    def rsample(self, sample_shape=()) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} has no reparameterised sampling (rsample)")

    def sample_n(self, n: int) -> Tensor:
        return self.sample(Size((n,)))

    def _validate_sample(self, value: Tensor) -> None:
        if not isinstance(value, Tensor):
            raise ValueError("The value argument to log_prob must be a Tensor")
        if not self.support.check(value).all().item():
            raise ValueError(f"Expected value argument ({type(value).__name__} of shape {tuple(value.shape)}) to be within "
                             f"the support ({self.support!r}) of the distribution {self!r}, but found invalid values:\n{value}")

    def log_prob(self, value: Tensor) -> Tensor:
        raise NotImplementedError

    def cdf(self, value: Tensor) -> Tensor:
        raise NotImplementedError

    def icdf(self, value: Tensor) -> Tensor:
        raise NotImplementedError

    def entropy(self) -> Tensor:
        raise NotImplementedError

    def perplexity(self) -> Tensor:
        return self.entropy().exp()

    @property
    def stddev(self) -> Tensor:
        return self.variance.sqrt()

    def __repr__(self) -> str:
        params = ", ".join(f"{p}: {tuple(getattr(self, p).shape) if getattr(self, p).numel() != 1 else getattr(self, p)}"
                           for p in self.arg_constraints if p in self.__dict__)
        return f"{type(self).__name__}({params})"



class Independent(Distribution):
    """``base`` with its rightmost ``reinterpreted_batch_ndims`` batch dims taken as event dims:
    log_prob and entropy sum over them (a diagonal Gaussian is ``Independent(Normal(mu, sd), 1)``)."""

    arg_constraints: dict = {}

    def __init__(self, base_distribution, reinterpreted_batch_ndims: int, validate_args=None):
        n = reinterpreted_batch_ndims
        shape = tuple(base_distribution.batch_shape) + tuple(base_distribution.event_shape)
        batch_ndims = len(base_distribution.batch_shape)
        if n > batch_ndims:
            raise ValueError(f"Expected reinterpreted_batch_ndims <= len(base_distribution.batch_shape), actual {n} vs {batch_ndims}")
        self.base_dist, self.reinterpreted_batch_ndims = base_distribution, n
        cut = batch_ndims - n
        super().__init__(shape[:cut], shape[cut:], validate_args=validate_args)

    @property
    def has_rsample(self):
        return self.base_dist.has_rsample

    @property
    def support(self):
        return self.base_dist.support

    @property
    def mean(self):
        return self.base_dist.mean

    @property
    def mode(self):
        return self.base_dist.mode

    @property
    def variance(self):
        return self.base_dist.variance

    def sample(self, sample_shape=()):
        return self.base_dist.sample(sample_shape)

    def rsample(self, sample_shape=()):
        return self.base_dist.rsample(sample_shape)

    def _sum_rightmost(self, t):
        return t.sum(tuple(range(-self.reinterpreted_batch_ndims, 0))) if self.reinterpreted_batch_ndims else t

    def log_prob(self, value):
        return self._sum_rightmost(self.base_dist.log_prob(value))

    def entropy(self):
        return self._sum_rightmost(self.base_dist.entropy())

    def __repr__(self) -> str:
        return f"Independent({self.base_dist!r}, {self.reinterpreted_batch_ndims})"
