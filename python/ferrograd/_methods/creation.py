"""new_* factories and random sampling: the in-place fills (uniform_, normal_, bernoulli_ ...)
and fg.normal / fg.bernoulli / fg.multinomial / fg.poisson.

Every random number comes from the core's generator (fg.rand / fg.randn / fg.randint), so
fg.manual_seed makes them reproducible; numpy only transforms those draws (inverse CDFs).
"""

from __future__ import annotations

import math

import numpy as np

from .. import _core, _creation
from .._core import Tensor
from ._util import broadcast_shape, from_np, graft, np_of, register


def _gen(generator):
    if generator is not None:
        raise NotImplementedError(
            "explicit Generator objects are not supported; ferrograd has one global generator (fg.manual_seed)"
        )


_size = _creation._shape


# ----------------------------------------------------------------------------- new_*


def _need_size(op: str, size):
    if not size:
        raise TypeError(f'{op}() missing 1 required positional arguments: "size"')


def _new(self: Tensor, t: Tensor, dtype, device, requires_grad) -> Tensor:
    _creation.check_device(device)
    if requires_grad:
        t.requires_grad_(True)
    return t


@register("new_zeros", function=False)
def new_zeros(self: Tensor, *size, dtype=None, device=None, requires_grad=False, layout=None, pin_memory=False) -> Tensor:
    """zeros of `size` with this tensor's dtype (unless `dtype` is given)."""
    _need_size("new_zeros", size)
    dt = _creation._dtype_or_default(dtype, self.dtype)
    return _new(self, _core.full(_size(size), 0.0, dt), dtype, device, requires_grad)


@register("new_ones", function=False)
def new_ones(self: Tensor, *size, dtype=None, device=None, requires_grad=False, layout=None, pin_memory=False) -> Tensor:
    _need_size("new_ones", size)
    dt = _creation._dtype_or_default(dtype, self.dtype)
    return _new(self, _core.full(_size(size), 1.0, dt), dtype, device, requires_grad)


@register("new_empty", function=False)
def new_empty(self: Tensor, *size, dtype=None, device=None, requires_grad=False, layout=None, pin_memory=False) -> Tensor:
    """Like new_zeros (ferrograd never hands out uninitialised memory)."""
    _need_size("new_empty", size)
    return new_zeros(self, *size, dtype=dtype, device=device, requires_grad=requires_grad)


@register("new_empty_strided", function=False)
def new_empty_strided(self: Tensor, size, stride, *, dtype=None, device=None, requires_grad=False, layout=None,
                      pin_memory=False) -> Tensor:
    """``fg.empty_strided`` in this tensor's dtype unless one is given."""
    from .._creation_windows import empty_strided
    return empty_strided(size, stride, dtype=self.dtype if dtype is None else dtype, device=device, requires_grad=requires_grad)


@register("new_full", function=False)
def new_full(self: Tensor, size, fill_value, *, dtype=None, device=None, requires_grad=False, layout=None,
             pin_memory=False) -> Tensor:
    dt = _creation._dtype_or_default(dtype, self.dtype)
    return _new(self, _core.full(_size((size,)), fill_value, dt), dtype, device, requires_grad)


@register("new_tensor", function=False)
def new_tensor(self: Tensor, data, *, dtype=None, device=None, requires_grad=False, layout=None, pin_memory=False) -> Tensor:
    """A copy of `data` with this tensor's dtype (unless `dtype` is given), not in any graph."""
    dt = _creation._dtype_or_default(dtype, self.dtype)
    return _creation.tensor(data, dtype=dt, device=device, requires_grad=requires_grad)


@register("new", function=False)
def new(self: Tensor, *args, **kwargs) -> Tensor:
    """The legacy constructor: `x.new(2, 3)` (uninitialised, here zeros), `x.new(data)` or
    `x.new()` (empty), in x's dtype."""
    if kwargs.get("device") is not None:
        _creation.check_device(kwargs["device"])
    if not args:
        return _core.full([0], 0.0, self.dtype)
    data = args[0]
    if len(args) == 1 and type(data).__name__ != "Size" and isinstance(data, (list, tuple, np.ndarray, Tensor)):
        if isinstance(data, Tensor):
            return data.detach()
        return _creation.tensor(data, dtype=self.dtype)
    return new_zeros(self, *args)


# ----------------------------------------------------------------------------- in-place random fills


def _float_only(self: Tensor, op: str):
    if not self.is_floating_point():
        raise RuntimeError(f"{op} expects a floating point tensor, got {self.dtype}")


def _draw_dtype(dtype):
    """The core draws float32/float64; half-precision fills draw float32 and round on copy."""
    return dtype if dtype in (_core.float32, _core.float64) else _core.float32


def _uniform01(shape, dtype) -> Tensor:
    return _core.rand(list(shape), _draw_dtype(dtype))


def _fill(self: Tensor, values) -> Tensor:
    if isinstance(values, np.ndarray):
        values = from_np(values.astype(np_of(self.reshape(-1)[:0]).dtype), like=self)
    return self.copy_(values)


@register("uniform_", function=False)
def uniform_(self: Tensor, *args, generator=None, **kwargs) -> Tensor:
    """Fills with numbers uniform in [from, to) (default [0, 1))."""
    _gen(generator)
    lo, hi = _two(args, kwargs, ("from", "to"), (0.0, 1.0), "uniform_")
    _float_only(self, "uniform_")
    if not lo <= hi:
        raise RuntimeError(f"uniform_ expects to return a [from, to) range, but found from={lo} > to={hi}")
    return _fill(self, _uniform01(self.shape, self.dtype) * (hi - lo) + lo)


def _two(args, kwargs, names, defaults, op):
    vals = list(defaults)
    if len(args) > 2:
        raise TypeError(f"{op}() takes at most 2 positional arguments ({len(args)} given)")
    for i, a in enumerate(args):
        vals[i] = a
    for k, v in kwargs.items():
        if k not in names:
            raise TypeError(f"{op}() got an unexpected keyword argument '{k}'")
        vals[names.index(k)] = v
    return vals


@register("normal_", function=False)
def normal_(self: Tensor, mean: float = 0.0, std: float = 1.0, *, generator=None) -> Tensor:
    """Fills with normal(mean, std) numbers."""
    _gen(generator)
    _float_only(self, "normal_")
    if std < 0:
        raise RuntimeError(f"normal expects std >= 0.0, but found std {std}")
    return _fill(self, _core.randn(list(self.shape), _draw_dtype(self.dtype)) * std + mean)


@register("log_normal_", function=False)
def log_normal_(self: Tensor, mean: float = 1.0, std: float = 2.0, *, generator=None) -> Tensor:
    _gen(generator)
    _float_only(self, "log_normal_")
    if std <= 0:
        raise RuntimeError(f"log_normal_ expects std > 0.0, but found std={std}")
    z = np_of(_core.randn(list(self.shape), _core.float64))
    return _fill(self, np.exp(z * std + mean))


@register("exponential_", function=False)
def exponential_(self: Tensor, lambd: float = 1.0, *, generator=None) -> Tensor:
    """Fills with exponential(rate=lambd) numbers."""
    _gen(generator)
    _float_only(self, "exponential_")
    if not lambd > 0:
        raise RuntimeError(f"exponential_ expects lambda > 0.0, but found lambda={lambd}")
    u = np_of(_uniform01(self.shape, _core.float64))
    return _fill(self, -np.log1p(-u) / lambd)


@register("geometric_", function=False)
def geometric_(self: Tensor, p: float, *, generator=None) -> Tensor:
    """Fills with the number of Bernoulli(p) trials up to the first success (>= 1)."""
    _gen(generator)
    if not 0 < p < 1:
        raise RuntimeError(f"geometric_ expects p to be in (0, 1), but got p={p}")
    u = np_of(_uniform01(self.shape, _core.float64))
    return _fill(self, np.maximum(np.ceil(np.log1p(-u) / math.log1p(-p)), 1))


@register("cauchy_", function=False)
def cauchy_(self: Tensor, median: float = 0.0, sigma: float = 1.0, *, generator=None) -> Tensor:
    _gen(generator)
    _float_only(self, "cauchy_")
    u = np_of(_uniform01(self.shape, _core.float64))
    return _fill(self, median + sigma * np.tan(np.pi * (u - 0.5)))


@register("random_", function=False)
def random_(self: Tensor, *args, generator=None, **kwargs) -> Tensor:
    """random_() integers in [0, 2**mantissa] (floats) or [0, int64 max]; random_(to) in
    [0, to); random_(from, to) in [from, to)."""
    _gen(generator)
    lo, hi = _two(args, kwargs, ("from", "to"), (None, None), "random_")
    if lo is not None and hi is None and len(args) == 1:
        lo, hi = 0, lo
    lo = 0 if lo is None else int(lo)
    if hi is None:
        name = str(self.dtype).split(".")[-1]
        hi = {"float32": 2**24 + 1, "float64": 2**53 + 1, "bool": 2}.get(name, 2**63 - 1)
    if not lo < hi:
        raise RuntimeError(f"random_ expects 'from' to be less than 'to', but got from={lo} >= to={hi}")
    return _fill(self, _core.randint(lo, int(hi), list(self.shape), _core.int64).to(self.dtype))


@register("bernoulli_", function=False)
def bernoulli_(self: Tensor, p=0.5, *, generator=None) -> Tensor:
    """Fills with 1 with probability p (a number or a tensor broadcast to self), else 0."""
    _gen(generator)
    probs = p if isinstance(p, Tensor) else None
    if probs is None and not 0 <= p <= 1:
        raise RuntimeError(f"bernoulli_ expects p to be in [0, 1], but got p={p}")
    u = _uniform01(self.shape, _core.float64)
    hit = u < (probs.to(_core.float64) if probs is not None else float(p))
    return self.copy_(hit.to(self.dtype))


@register("bernoulli")
def bernoulli(input: Tensor, p=None, *, generator=None, out=None) -> Tensor:
    """1 with probability input (or p) elementwise, else 0, in input's dtype."""
    _gen(generator)
    if out is not None:
        raise TypeError("bernoulli(): out= is not supported by ferrograd; use the returned tensor instead")
    probs = np_of(input) if p is None else None
    if probs is not None and ((probs < 0) | (probs > 1)).any():
        raise RuntimeError("Expected p_in >= 0 && p_in <= 1 to be true, but got false.")
    u = np_of(_uniform01(input.shape, _core.float64))
    hit = u < (probs if probs is not None else float(p))
    return graft(from_np(hit.astype(np_of(input).dtype), like=input), input)


@register("multinomial")
def multinomial(input: Tensor, num_samples: int, replacement: bool = False, *, generator=None, out=None) -> Tensor:
    """int64 category indices drawn from the rows of non-negative weights `input` (1-D or 2-D)."""
    _gen(generator)
    if out is not None:
        raise TypeError("multinomial(): out= is not supported by ferrograd; use the returned tensor instead")
    if input.ndim not in (1, 2):
        raise RuntimeError("prob_dist must be 1 or 2 dim")
    if not input.is_floating_point():
        raise RuntimeError(f"multinomial only supports floating-point dtypes for input, got: {input.dtype}")
    w = np_of(input).astype(np.float64).reshape(-1, input.shape[-1])
    n_cat = w.shape[1]
    if num_samples <= 0:
        raise RuntimeError("cannot sample n_sample <= 0 samples")
    if not replacement and num_samples > n_cat:
        raise RuntimeError("cannot sample n_sample > prob_dist.size(-1) samples without replacement")
    if not np.isfinite(w).all() or (w < 0).any():
        raise RuntimeError("probability tensor contains either `inf`, `nan` or element < 0")
    if (w.sum(1) <= 0).any():
        raise RuntimeError("invalid multinomial distribution (sum of probabilities <= 0)")
    if not replacement and ((w > 0).sum(1) < num_samples).any():
        raise RuntimeError("invalid multinomial distribution (with replacement=False, not enough non-negative category to sample)")
    u = np_of(_uniform01([w.shape[0], num_samples if replacement else n_cat], _core.float64))
    if replacement:
        cdf = np.cumsum(w, 1)
        cdf = cdf / cdf[:, -1:]
        out_idx = np.stack([np.minimum(np.searchsorted(c, r, side="right"), n_cat - 1) for c, r in zip(cdf, u)])
        # Never a zero-weight category (u can land exactly on a flat stretch of the CDF).
        out_idx = np.where(np.take_along_axis(w, out_idx, 1) > 0, out_idx, np.argmax(w > 0, 1)[:, None])
    else:
        # Exponential race (Efraimidis-Spirakis): the order of log(u)/w, largest first, is the
        # order of sequential draws without replacement.
        with np.errstate(divide="ignore"):
            keys = np.where(w > 0, np.log(u) / np.where(w > 0, w, 1), -np.inf)
        out_idx = np.argsort(-keys, axis=1, kind="stable")[:, :num_samples]
    out_idx = out_idx.astype(np.int64)
    return from_np(out_idx.reshape(num_samples) if input.ndim == 1 else out_idx)


@register("normal", method=False)
def normal(mean=0.0, std=1.0, size=None, *, generator=None, out=None, dtype=None, device=None, requires_grad=False) -> Tensor:
    """Normal samples: mean and std tensors (broadcast) and/or numbers; with two numbers, `size`
    gives the shape. Gradients do not flow to mean or std (PyTorch gives them zeros)."""
    _gen(generator)
    if out is not None:
        raise TypeError("normal(): out= is not supported by ferrograd; use the returned tensor instead")
    _creation.check_device(device)
    tm, ts = isinstance(mean, Tensor), isinstance(std, Tensor)
    if not tm and not ts:
        if size is None:
            raise TypeError("normal() missing required argument 'size' when mean and std are numbers")
        if std < 0:
            raise RuntimeError(f"normal expects std >= 0.0, but found std {std}")
        t = _core.randn(_size((size,)), _creation._dtype_or_default(dtype)) * std + mean
        return t.requires_grad_(True) if requires_grad else t
    like = mean if tm else std
    m = np_of(mean) if tm else np.asarray(mean)
    s = np_of(std) if ts else np.asarray(std)
    if (s < 0).any():
        raise RuntimeError(f"normal expects all elements of std >= 0.0, but found std {float(s.min())}")
    shape = broadcast_shape(m.shape, s.shape)
    z = np_of(_core.randn(list(shape), _core.float64))
    dt = np.result_type(m.dtype if tm else np.float32, s.dtype if ts else np.float32)
    return graft(from_np((m + s * z).astype(dt)), *(t for t in (mean, std) if isinstance(t, Tensor)) or (like,))


@register("poisson", method=False)
def poisson(input: Tensor, generator=None) -> Tensor:
    """Poisson(rate=input) counts, in input's dtype: Knuth's product of uniforms from the core's
    generator, and a rounded normal approximation for rates above 50."""
    _gen(generator)
    rate = np_of(input).astype(np.float64)
    if (rate < 0).any() or not np.isfinite(rate).all():
        raise RuntimeError("poisson: rates must be finite and non-negative")
    out = np.zeros(rate.shape)
    flat_r, flat_o = rate.reshape(-1), out.reshape(-1)
    for i, lam in enumerate(flat_r):
        if lam > 50:  # normal approximation of a large rate, rounded
            z = float(_core.randn([], _core.float64).item())
            flat_o[i] = max(0.0, round(lam + math.sqrt(lam) * z))
            continue
        limit, k, prod = math.exp(-lam), 0, float(_core.rand([], _core.float64).item())
        while prod > limit:
            k += 1
            prod *= float(_core.rand([], _core.float64).item())
        flat_o[i] = k
    return graft(from_np(out.astype(np_of(input).dtype), like=input), input)
