"""Elementwise composites and PyTorch's aliases: the is* predicates, nan_to_num, isclose,
lerp/addcmul/addcdiv, square, float_power, deg2rad, ldexp, heaviside, gcd/lcm, frexp,
clamp_min/clamp_max, hardshrink, bincount/histc, and absolute/multiply/greater/... aliases.

Predicates and integer-only ops (no gradient in PyTorch) are computed with numpy; anything with
a gradient is written in the core's ops.
"""

from __future__ import annotations

import math
import numbers
from collections import namedtuple

import numpy as np

from .. import _core, _functions
from .._core import Tensor
from ._util import from_np, graft, inplace, np_of, register, scalar_tensor

_frexp = namedtuple("frexp", ["mantissa", "exponent"])


def _as_tensor(x, like: Tensor | None = None) -> Tensor:
    if isinstance(x, Tensor):
        return x
    if like is not None and like.is_floating_point() and isinstance(x, numbers.Number) and not isinstance(x, bool):
        return scalar_tensor(x, like.dtype)
    return _functions.as_tensor(x)


def _bool(arr) -> Tensor:
    return from_np(np.asarray(arr, dtype=bool))


# ----------------------------------------------------------------------------- predicates


@register("isnan")
def isnan(input: Tensor) -> Tensor:
    return input != input


@register("isinf")
def isinf(input: Tensor) -> Tensor:
    if not input.is_floating_point():
        return _bool(np.zeros(input.shape, bool))
    return input.abs() == math.inf


@register("isposinf")
def isposinf(input: Tensor) -> Tensor:
    return input == math.inf if input.is_floating_point() else _bool(np.zeros(input.shape, bool))


@register("isneginf")
def isneginf(input: Tensor) -> Tensor:
    return input == -math.inf if input.is_floating_point() else _bool(np.zeros(input.shape, bool))


@register("isfinite")
def isfinite(input: Tensor) -> Tensor:
    if not input.is_floating_point():
        return _bool(np.ones(input.shape, bool))
    return (input == input) & (input.abs() != math.inf)


@register("isreal")
def isreal(input: Tensor) -> Tensor:
    return _bool(np.ones(input.shape, bool))


@register("signbit")
def signbit(input: Tensor) -> Tensor:
    """True where the sign bit is set (-0.0 included)."""
    return _bool(np.signbit(np_of(input)))


@register("isclose")
def isclose(input: Tensor, other: Tensor, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False) -> Tensor:
    """|input - other| <= atol + rtol * |other|, or equal (infinities of one sign included)."""
    if isinstance(other, Tensor) and input.dtype != other.dtype:
        raise RuntimeError(f"{input.dtype} did not match {other.dtype}")
    if rtol < 0:
        raise RuntimeError(f"rtol must be greater than or equal to zero, but got {rtol}")
    if atol < 0:
        raise RuntimeError(f"atol must be greater than or equal to zero, but got {atol}")
    a, b = np_of(input), np_of(other) if isinstance(other, Tensor) else np.asarray(other)
    if a.dtype.kind in "biu" and b.dtype.kind in "biu" and rtol == 0 and atol == 0:
        return _bool(a == b)
    with np.errstate(invalid="ignore", over="ignore"):
        return _bool(np.isclose(a.astype(np.float64), b.astype(np.float64), rtol=rtol, atol=atol, equal_nan=equal_nan))


def _allclose(self: Tensor, other: Tensor, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False) -> bool:
    return bool(isclose(self, other, rtol, atol, equal_nan).all())


def _equal(self: Tensor, other: Tensor) -> bool:
    return _functions.equal(self, other)


register("allclose", function=False)(_allclose)
register("equal", function=False)(_equal)


@register("nan_to_num")
def nan_to_num(input: Tensor, nan: float = 0.0, posinf: float | None = None, neginf: float | None = None, *, out=None) -> Tensor:
    """NaN, +inf and -inf replaced by `nan`, `posinf` and `neginf` (defaults: 0 and the dtype's
    largest and lowest finite values); the gradient is zero at the replaced elements."""
    if out is not None:
        raise TypeError("nan_to_num(): out= is not supported by ferrograd; use the returned tensor instead")
    if not input.is_floating_point():
        return input.clone()
    fi = np.finfo(np_of(input.reshape(-1)[:0]).dtype)
    hi = float(fi.max) if posinf is None else posinf
    lo = float(fi.min) if neginf is None else neginf
    out = _core.where(input != input, scalar_tensor(nan, input.dtype), input)
    out = _core.where(input == math.inf, scalar_tensor(hi, input.dtype), out)
    return _core.where(input == -math.inf, scalar_tensor(lo, input.dtype), out)


inplace("nan_to_num_", nan_to_num)


# ----------------------------------------------------------------------------- arithmetic composites


@register("square")
def square(input: Tensor, *, out=None) -> Tensor:
    """input * input (bool becomes int64, as PyTorch's pow(x, 2))."""
    if out is not None:
        raise TypeError("square(): out= is not supported by ferrograd; use the returned tensor instead")
    x = input.long() if input.dtype == _core.bool else input
    return x * x


def _square_(self: Tensor) -> Tensor:
    return self.copy_(square(self))


register("square_", function=False)(_square_)


@register("lerp")
def lerp(input: Tensor, end: Tensor, weight) -> Tensor:
    """input + weight * (end - input), computed as PyTorch does (exact at weight 0 and 1)."""
    if isinstance(weight, Tensor):
        diff = end - input
        return _core.where(weight.abs() < 0.5, input + weight * diff, end - diff * (1 - weight))
    diff = end - input
    return input + weight * diff if abs(weight) < 0.5 else end - diff * (1 - weight)


@register("addcmul")
def addcmul(input: Tensor, tensor1: Tensor, tensor2: Tensor, *, value=1, out=None) -> Tensor:
    """input + value * tensor1 * tensor2."""
    if out is not None:
        raise TypeError("addcmul(): out= is not supported by ferrograd; use the returned tensor instead")
    prod = tensor1 * tensor2
    return input + (prod if value == 1 else prod * value)


@register("addcdiv")
def addcdiv(input: Tensor, tensor1: Tensor, tensor2: Tensor, *, value=1, out=None) -> Tensor:
    """input + value * tensor1 / tensor2 (integer tensor1 and tensor2 are refused, as in PyTorch)."""
    if out is not None:
        raise TypeError("addcdiv(): out= is not supported by ferrograd; use the returned tensor instead")
    if not tensor1.is_floating_point() and not tensor2.is_floating_point():
        raise RuntimeError("Integer division with addcdiv is no longer supported, and in a future release addcdiv will "
                           "perform a true division of tensor1 and tensor2. The historic addcdiv behavior can be "
                           "implemented as (input + value * torch.trunc(tensor1 / tensor2)).to(input.dtype) for integer "
                           "inputs and as (input + value * tensor1 / tensor2) for float inputs. The future addcdiv "
                           "behavior is just the latter implementation: (input + value * tensor1 / tensor2), for all "
                           "dtypes.")
    quot = tensor1 / tensor2
    return input + (quot if value == 1 else quot * value)


inplace("lerp_", lerp)
inplace("addcmul_", addcmul)
inplace("addcdiv_", addcdiv)


def _to_float(x: Tensor) -> Tensor:
    return x if x.is_floating_point() else x.to(_core.float32)


@register("deg2rad")
def deg2rad(input: Tensor) -> Tensor:
    x = _to_float(input)
    return x * scalar_tensor(math.pi / 180, x.dtype)


@register("rad2deg")
def rad2deg(input: Tensor) -> Tensor:
    x = _to_float(input)
    return x * scalar_tensor(180 / math.pi, x.dtype)


inplace("deg2rad_", deg2rad)
inplace("rad2deg_", rad2deg)


@register("float_power")
def float_power(input, exponent) -> Tensor:
    """pow() computed in float64."""
    base = input.to(_core.float64) if isinstance(input, Tensor) else float(input)
    exp = exponent.to(_core.float64) if isinstance(exponent, Tensor) else float(exponent)
    if isinstance(base, Tensor):
        return base ** exp
    return exp.__rpow__(base)


def _float_power_(self: Tensor, exponent) -> Tensor:
    if self.dtype != _core.float64:
        raise RuntimeError(f"the base given to float_power_ has dtype {str(self.dtype).split('.')[-1].capitalize()} but "
                           f"the operation's result requires dtype Double")
    return self.copy_(float_power(self, exponent))


register("float_power_", function=False)(_float_power_)


@register("ldexp")
def ldexp(input: Tensor, other) -> Tensor:
    """input * 2 ** other, in floating point."""
    other = _as_tensor(other, input)
    return _to_float(input) * _to_float(other).__rpow__(2.0)


inplace("ldexp_", ldexp)


@register("frexp")
def frexp(input: Tensor):
    """(mantissa, exponent) with input = mantissa * 2 ** exponent and |mantissa| in [0.5, 1)."""
    if not input.is_floating_point():
        raise RuntimeError("torch.frexp() only supports floating-point dtypes")
    m, e = np.frexp(np_of(input))
    int32 = getattr(_core, "int32", None)
    exponent = from_np(e.astype(np.int32)) if int32 is not None else from_np(e.astype(np.int64))
    return _frexp(graft(from_np(m), input), exponent)


@register("heaviside")
def heaviside(input: Tensor, values: Tensor) -> Tensor:
    """0 where input < 0, 1 where input > 0, `values` where it is 0 (no gradient, as in PyTorch)."""
    if isinstance(values, Tensor) and values.dtype != input.dtype:
        raise RuntimeError("heaviside is not yet implemented for tensors with different dtypes.")
    a, v = np_of(input), np_of(values)
    out = np.where(a == 0, v, (a > 0).astype(a.dtype)).astype(np.result_type(a, v))
    return graft(from_np(out), input, values)


inplace("heaviside_", heaviside)


def _int_only(op: str, *ts):
    for t in ts:
        if isinstance(t, Tensor) and (t.is_floating_point() or t.dtype == _core.bool):
            raise RuntimeError(f'"{op}_cpu" not implemented for \'{str(t.dtype).split(".")[-1].capitalize()}\'')


@register("gcd")
def gcd(input: Tensor, other: Tensor) -> Tensor:
    """Greatest common divisor, elementwise (integer tensors)."""
    _int_only("gcd", input, other)
    return from_np(np.gcd(np_of(input), np_of(_as_tensor(other))))


@register("lcm")
def lcm(input: Tensor, other: Tensor) -> Tensor:
    _int_only("lcm", input, other)
    return from_np(np.lcm(np_of(input), np_of(_as_tensor(other))))


inplace("gcd_", gcd)
inplace("lcm_", lcm)


@register("nextafter")
def nextafter(input: Tensor, other: Tensor) -> Tensor:
    """The next representable float after input towards other."""
    a, b = np_of(input), np_of(_as_tensor(other, input))
    return graft(from_np(np.nextafter(a, b.astype(a.dtype))), input, other)


inplace("nextafter_", nextafter)


@register("clamp_min")
def clamp_min(input: Tensor, min) -> Tensor:
    return input.clamp(min=min)


@register("clamp_max")
def clamp_max(input: Tensor, max) -> Tensor:
    return input.clamp(max=max)


def _clamp_min_(self: Tensor, min) -> Tensor:
    return self.clamp_(min=min)


def _clamp_max_(self: Tensor, max) -> Tensor:
    return self.clamp_(max=max)


def _clip_(self: Tensor, min=None, max=None) -> Tensor:
    return self.clamp_(min, max)


register("clamp_min_", function=False)(_clamp_min_)
register("clamp_max_", function=False)(_clamp_max_)
register("clip_", function=False)(_clip_)


@register("hardshrink")
def hardshrink(input: Tensor, lambd: float = 0.5) -> Tensor:
    """input where |input| > lambd, else 0."""
    return _core.where((input > lambd) | (input < -lambd), input, scalar_tensor(0, input.dtype))


@register("angle")
def angle(input: Tensor) -> Tensor:
    """pi for negative numbers, 0 otherwise (NaN stays NaN); float. Zero gradient."""
    a = np_of(input)
    f = a.dtype if a.dtype.kind == "f" else np.float32
    out = np.where(a < 0, np.pi, 0.0).astype(f)
    if a.dtype.kind == "f":
        out = np.where(np.isnan(a), np.nan, out).astype(f)
    return graft(from_np(out), input)


# ----------------------------------------------------------------------------- counting


@register("bincount")
def bincount(input: Tensor, weights: Tensor | None = None, minlength: int = 0) -> Tensor:
    """Occurrences of each value 0..max of a 1-D non-negative integer tensor (weighted sums with
    `weights`: float32 weights give float32, others float64)."""
    if input.ndim != 1 or input.is_floating_point() or input.dtype == _core.bool:
        raise RuntimeError("bincount only supports 1-d non-negative integral inputs.")
    a = np_of(input)
    if a.size and a.min() < 0:
        raise RuntimeError("bincount only supports 1-d non-negative integral inputs.")
    if minlength < 0:
        raise RuntimeError("minlength should be >= 0")
    if weights is None:
        return from_np(np.bincount(a, minlength=minlength).astype(np.int64))
    if tuple(weights.shape) != tuple(input.shape):
        raise RuntimeError("weights should be 1-d and have the same length as input")
    w = np_of(weights)
    dt = np.float32 if w.dtype == np.float32 else np.float64
    return from_np(np.bincount(a, weights=w.astype(np.float64), minlength=minlength).astype(dt))


@register("histc")
def histc(input: Tensor, bins: int = 100, min: float = 0, max: float = 0, *, out=None) -> Tensor:
    """Histogram of `bins` equal bins over [min, max] (the data's range when both are 0);
    elements outside are ignored."""
    if out is not None:
        raise TypeError("histc(): out= is not supported by ferrograd; use the returned tensor instead")
    if not input.is_floating_point():
        raise NotImplementedError(f"\"histogram_cpu\" not implemented for '{str(input.dtype).split('.')[-1].capitalize()}'")
    if bins <= 0:
        raise RuntimeError(f"torch.histc: bins must be > 0, but got {bins} for bins")
    a = np_of(input).reshape(-1)
    lo, hi = float(min), float(max)
    if lo == hi and a.size:
        lo, hi = float(a.min()), float(a.max())
    if lo == hi:
        lo, hi = lo - 1, hi + 1
    if lo > hi:
        raise RuntimeError(f"torch.histc: max must be larger than min, but got min {lo} max {hi}")
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise RuntimeError(f"torch.histc: range of [{lo}, {hi}] is not finite")
    inside = a[(a >= lo) & (a <= hi)]
    idx = np.minimum(((inside - lo) * bins / (hi - lo)).astype(np.int64), bins - 1)
    return from_np(np.bincount(idx, minlength=bins).astype(a.dtype))


# ----------------------------------------------------------------------------- aliases


def _alias(name: str, target: str, doc: str):
    def fn(input, *args, **kwargs):
        return getattr(input, target)(*args, **kwargs)

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = doc
    return fn


for _name, _target in {
    "absolute": "abs", "multiply": "mul", "subtract": "sub", "negative": "neg", "greater": "gt",
    "greater_equal": "ge", "less": "lt", "less_equal": "le", "not_equal": "ne", "true_divide": "div", "fix": "trunc",
    "absolute_": "abs_", "multiply_": "mul_", "subtract_": "sub_", "negative_": "neg_", "greater_": "gt_",
    "greater_equal_": "ge_", "less_": "lt_", "less_equal_": "le_", "not_equal_": "ne_", "true_divide_": "div_",
    "fix_": "trunc_",
}.items():
    register(_name, function=not _name.endswith("_"))(_alias(_name, _target, f"Alias of `{_target}`."))


@register("divide")
def divide(input, other, *, rounding_mode: str | None = None) -> Tensor:
    """div(); rounding_mode 'trunc' or 'floor' rounds the quotient."""
    if rounding_mode is None:
        return input.div(other)
    if rounding_mode == "floor":
        return input.floor_divide(other)
    if rounding_mode == "trunc":
        if not input.is_floating_point() and not (isinstance(other, Tensor) and other.is_floating_point()) \
                and not isinstance(other, float):
            a, b = np_of(input), np_of(_as_tensor(other))
            return from_np((np.trunc(a / b)).astype(np.result_type(a, b)))
        return input.div(other).trunc()
    raise RuntimeError(f"div expected rounding_mode to be one of None, 'trunc', or 'floor' but found '{rounding_mode}'")


def _divide_(self: Tensor, other, *, rounding_mode: str | None = None) -> Tensor:
    return self.copy_(divide(self, other, rounding_mode=rounding_mode))


register("divide_", function=False)(_divide_)


@register("positive")
def positive(input: Tensor) -> Tensor:
    if input.dtype == _core.bool:
        raise NotImplementedError("The `+` operator, on a bool tensor is not supported.")
    return input
