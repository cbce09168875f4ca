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

from .. import _core, _creation, _functions
from .._core import Tensor
from ._util import assign, broadcast_shape, from_np, graft, inplace, needs_grad, np_of, register, result_type, scalar_tensor, type_name

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
        raise RuntimeError(f"{type_name(input.dtype)} did not match {type_name(other.dtype)}")
    if rtol < 0:
        raise RuntimeError(f"rtol must be greater than or equal to zero, but got {rtol}")
    if atol < 0:
        raise RuntimeError(f"atol must be greater than or equal to zero, but got {atol}")
    a, b = np_of(input), np_of(other) if isinstance(other, Tensor) else np.asarray(other)
    broadcast_shape(a.shape, b.shape)
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


_FLOAT_MAX = {"float64": float(np.finfo(np.float64).max), "float32": float(np.finfo(np.float32).max),
              "float16": 65504.0, "bfloat16": 3.3895313892515355e38}


@register("nan_to_num")
def nan_to_num(input: Tensor, nan: float = 0.0, posinf: float | None = None, neginf: float | None = None, *, out=None) -> Tensor:
    """NaN, +inf and -inf replaced by `nan`, `posinf` and `neginf` (defaults: 0 and the dtype's
    largest and lowest finite values); the gradient is zero at the replaced elements."""
    if out is not None:
        raise TypeError("nan_to_num(): out= is not supported by ferrograd; use the returned tensor instead")
    if not input.is_floating_point():
        return input.clone()
    top = _FLOAT_MAX.get(str(input.dtype).split(".")[-1], float(np.finfo(np.float32).max))
    hi = top if posinf is None else posinf
    lo = -top if neginf is None else neginf
    # Each replacement rounded to the dtype as PyTorch casts it: 65510 is float16's 65504, 1e30
    # its inf (scalar_tensor refuses a value past the range).
    nan_t, hi_t, lo_t = (_core.full([], float(v), _core.float64).to(input.dtype) for v in (nan, hi, lo))
    out = _core.where(input != input, nan_t, input)
    out = _core.where(input == math.inf, hi_t, out)
    return _core.where(input == -math.inf, lo_t, out)


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
    return assign(self, square)


register("square_", function=False)(_square_)


@register("lerp")
def lerp(input: Tensor, end: Tensor, weight) -> Tensor:
    """input + weight * (end - input), computed as PyTorch does (exact at weight 0 and 1)."""
    if not input.is_floating_point():
        raise NotImplementedError(f'"lerp_kernel_scalar" not implemented for \'{type_name(input.dtype)}\'')
    if isinstance(weight, Tensor):
        # Each branch sees zeros where the other is chosen, so an inf or NaN there cannot leak into
        # the gradient through where's zero (0 * inf).
        diff = end - input
        low = weight.abs() < 0.5
        zero, one = scalar_tensor(0, diff.dtype), scalar_tensor(1, diff.dtype)
        d1, w1 = _core.where(low, diff, zero), _core.where(low, weight, zero)
        d2, w2 = _core.where(low, zero, diff), _core.where(low, one, weight)
        return _core.where(low, input + w1 * d1, end - d2 * (1 - w2))
    diff = end - input
    return input + weight * diff if abs(weight) < 0.5 else end - diff * (1 - weight)


@register("addcmul")
def addcmul(input: Tensor, tensor1: Tensor, tensor2: Tensor, *, value=1, out=None) -> Tensor:
    """input + value * tensor1 * tensor2."""
    if out is not None:
        raise TypeError("addcmul(): out= is not supported by ferrograd; use the returned tensor instead")
    inp, t1, t2 = _broadcast_all(input, tensor1, tensor2)
    prod = t1 * t2
    return inp + (prod if value == 1 else prod * value)


def _broadcast_all(*ts) -> list:
    """The operands in their promoted dtype (PyTorch's rule: a 0-d tensor does not widen a
    dimensioned one) and expanded to their common shape, so that each gradient is reduced after
    the products, as PyTorch's: an empty broadcast gives zero, not 0 * NaN."""
    probes = [_core.full([] if t.ndim == 0 else [1], 0.0, t.dtype) for t in ts]
    dt = (probes[0] + probes[1] * probes[2]).dtype
    shape = broadcast_shape(*[t.shape for t in ts])
    ts = [t if t.dtype == dt else t.to(dt) for t in ts]
    return [ts[0]] + [t if tuple(t.shape) == shape else t.expand(*shape) for t in ts[1:]]


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
    inp, t1, t2 = _broadcast_all(input, tensor1, tensor2)
    quot = t1 / t2
    return inp + (quot if value == 1 else quot * value)


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
    return assign(self, float_power, exponent)


register("float_power_", function=False)(_float_power_)


@register("ldexp")
def ldexp(input: Tensor, other) -> Tensor:
    """input * 2 ** other in the two's promoted dtype (float32 for integers), as PyTorch. The
    power is taken in two halves, so that 1e-30 * 2 ** 200 is 1.6e30 rather than 2 ** 200
    overflowing float32 first; for whole exponents both halves and both products are exact."""
    other = _as_tensor(other, input)
    dt = result_type(input, other)
    dt = dt if dt.is_floating_point else _creation.get_default_dtype()
    x, o = input.to(dt), other.to(dt)
    # floor(o / 2) has no gradient, so d/do flows through the other half: x 2^o ln 2 (finite
    # where 2^o alone overflows, where PyTorch's is inf). An infinite exponent stays whole in
    # that half (inf - inf would be NaN).
    low = _core.where(o.isfinite(), (o * 0.5).floor(), scalar_tensor(0, dt)).detach()
    return x * low.__rpow__(2.0) * (o - low).__rpow__(2.0)


inplace("ldexp_", ldexp)


@register("frexp")
def frexp(input: Tensor):
    """(mantissa, exponent) with input = mantissa * 2 ** exponent and |mantissa| in [0.5, 1);
    the exponent is int32 once the core has that dtype (int64 until then)."""
    if not input.is_floating_point():
        raise RuntimeError("torch.frexp() only supports floating-point dtypes")
    m, e = np.frexp(np_of(input))
    int32 = getattr(_core, "int32", None)
    exponent = from_np(e.astype(np.int32)) if int32 is not None else from_np(e.astype(np.int64))
    # mantissa = input * 2 ** -exponent, exact, and differentiable as PyTorch's (1 / 2 ** exponent);
    # in two factors, as 2 ** 132 (a subnormal float32's) does not fit in float32.
    half = -e // 2
    scales = [from_np(np.ldexp(np.ones_like(m), k).astype(m.dtype), like=input) for k in (half, -e - half)]
    return _frexp(input * scales[0] * scales[1], exponent)


@register("heaviside")
def heaviside(input: Tensor, values: Tensor) -> Tensor:
    """0 where input < 0, 1 where input > 0, `values` where it is 0 (no gradient, as in PyTorch)."""
    if isinstance(values, Tensor) and values.dtype != input.dtype:
        raise RuntimeError("heaviside is not yet implemented for tensors with different dtypes.")
    a, v = np_of(input), np_of(values)
    broadcast_shape(a.shape, v.shape)
    out = np.where(a == 0, v, (a > 0).astype(a.dtype)).astype(np.result_type(a, v))
    return graft(from_np(out, like=input), input, values)


inplace("heaviside_", heaviside)


def _as_array_like(x):
    return np_of(x) if isinstance(x, Tensor) else np.asarray(x)


def _int_only(op: str, *ts):
    for t in ts:
        if isinstance(t, Tensor) and (t.is_floating_point() or t.dtype == _core.bool):
            raise RuntimeError(f'"{op}_cpu" not implemented for \'{str(t.dtype).split(".")[-1].capitalize()}\'')


@register("gcd")
def gcd(input: Tensor, other: Tensor) -> Tensor:
    """Greatest common divisor, elementwise (integer tensors)."""
    _int_only("gcd", input, other)
    broadcast_shape(input.shape, np.shape(_as_array_like(other)))
    return from_np(np.gcd(np_of(input), np_of(_as_tensor(other))))


@register("lcm")
def lcm(input: Tensor, other: Tensor) -> Tensor:
    _int_only("lcm", input, other)
    broadcast_shape(input.shape, np.shape(_as_array_like(other)))
    return from_np(np.lcm(np_of(input), np_of(_as_tensor(other))))


inplace("gcd_", gcd)
inplace("lcm_", lcm)


@register("nextafter")
def nextafter(input: Tensor, other: Tensor) -> Tensor:
    """The next representable float after input towards other. The gradient is PyTorch's, 1 for
    input where it differs from other (as if the step were the identity), else 0, and 0 for other;
    except at an infinite or NaN input, where ferrograd's is 0 (no op gives that value a slope)."""
    a, b = np_of(input), np_of(_as_tensor(other, input))
    try:
        np.broadcast_shapes(a.shape, b.shape)
    except ValueError:  # PyTorch's type for operands that do not broadcast (numpy's is ValueError)
        raise RuntimeError(f"nextafter: shapes {list(a.shape)} and {list(b.shape)} cannot be broadcast together") from None
    step = from_np(np.nextafter(a, b.astype(a.dtype)), like=input)
    if not needs_grad(input):
        return graft(step, other)
    x = input.expand(*step.shape) if tuple(input.shape) != tuple(step.shape) else input
    # x - x.detach() is 0 with slope 1 (NaN for inf and NaN inputs, hence the mask)
    finite = (x == x) & (x.abs() != math.inf) & from_np(np.broadcast_to(a != b, tuple(step.shape)))
    zero = scalar_tensor(0, step.dtype)
    return graft(step + _core.where(finite, x - x.detach(), zero), other)


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
    """input where |input| > lambd, else 0 (NaN stays NaN and passes its gradient, as PyTorch's
    scalar kernel; its vectorised one, on 16 elements and more, gives NaN a zero gradient)."""
    return _core.where((input >= -lambd) & (input <= lambd), scalar_tensor(0, input.dtype), input)


@register("angle")
def angle(input: Tensor) -> Tensor:
    """pi for negative numbers, 0 otherwise (NaN stays NaN); float. Zero gradient."""
    a = np_of(input)
    f = a.dtype if a.dtype.kind == "f" else np.float32
    out = np.where(a < 0, np.pi, 0.0).astype(f)
    if a.dtype.kind == "f":
        out = np.where(np.isnan(a), np.nan, out).astype(f)
    return graft(from_np(out, like=input if input.is_floating_point() else None), input)


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
    if a.size == 0:  # PyTorch's early return: int64 zeros, weights or not
        return from_np(np.zeros(minlength, np.int64))
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
    idx, _ = _linear_bins(a, lo, hi, bins)
    return from_np(np.bincount(idx, minlength=bins).astype(a.dtype), like=input)


def _torch_linspace(lo: float, hi: float, n: int, ft) -> np.ndarray:
    """linspace as PyTorch's CPU kernel computes it in dtype ft: the first half from the start,
    the second half back from the end, with one step (end - start) / (n - 1), each point one
    fused multiply-add (emulated in a wider type, which matched torch.linspace bit for bit)."""
    start, end = ft(lo), ft(hi)
    step = (end - start) / ft(max(n - 1, 1))
    wide = np.longdouble if ft == np.float64 else np.float64
    i = np.arange(n)
    first = (wide(start) + wide(step) * i.astype(wide)).astype(ft)
    second = (wide(end) - wide(step) * (n - 1 - i).astype(wide)).astype(ft)
    return np.where(i < n // 2, first, second).astype(ft)


def _linear_bins(a: np.ndarray, lo: float, hi: float, bins: int, clamp: bool = True):
    """(bin of each element inside [lo, hi], which elements those are), with PyTorch's formula in
    the input's dtype, (x - lo) * bins / (hi - lo) truncated, so elements on an edge land where
    PyTorch's rounding puts them."""
    ft = a.dtype.type
    lo_, hi_ = ft(lo), ft(hi)
    keep = (a >= lo_) & (a <= hi_)
    pos = ((a[keep] - lo_) * ft(bins) / (hi_ - lo_)).astype(np.int64)
    return (np.minimum(pos, bins - 1) if clamp else pos), keep


# ----------------------------------------------------------------------------- aliases


def _alias(name: str, target: str, doc: str):
    def fn(input, *args, **kwargs):
        return getattr(input, target)(*args, **kwargs)

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = doc
    return fn


# (multiply, divide, greater, less_equal, not_equal, true_divide, fix ... and their in-place forms
# are in the core's op table.)
for _name, _target in {
    "absolute": "abs", "subtract": "sub", "negative": "neg",
    "absolute_": "abs_", "subtract_": "sub_", "negative_": "neg_",
}.items():
    register(_name, function=not _name.endswith("_"))(_alias(_name, _target, f"Alias of `{_target}`."))


@register("positive")
def positive(input: Tensor) -> Tensor:
    if input.dtype == _core.bool:
        raise NotImplementedError("The `+` operator, on a bool tensor is not supported.")
    return input


@register("prelu")
def prelu(input: Tensor, weight: Tensor) -> Tensor:
    """input where positive, weight * input elsewhere; weight has one element or one per channel
    (dim 1; a 0-d or 1-D input has one channel)."""
    c = 1 if input.ndim < 2 else input.shape[1]
    if weight.numel() not in (1, c):
        raise RuntimeError(f"Mismatch of parameter numbers and input channel size. Found parameter numbers = "
                           f"{weight.numel()} and channel size = {c}.")
    w = weight.reshape(()) if weight.numel() == 1 else weight.reshape(*([-1] + [1] * (input.ndim - 2)))
    pos = input > 0
    # The negative branch sees 0 where the input is positive, so an inf there cannot turn the
    # weight's gradient into 0 * inf.
    neg = _core.where(pos, scalar_tensor(0, input.dtype), input)
    return _core.where(pos, input, w * neg)


_histogram = namedtuple("histogram", ["hist", "bin_edges"])


@register("histogram")
def histogram(input: Tensor, bins=100, *, range=None, weight: Tensor | None = None, density: bool = False, out=None):
    """(hist, bin_edges) as numpy.histogram: `bins` equal bins over `range` (the data's by
    default) or the given increasing edges."""
    if out is not None:
        raise TypeError("histogram(): out= is not supported by ferrograd; use the returned tensors instead")
    if not input.is_floating_point():
        raise RuntimeError(f"torch.histogram: input tensor and bins tensors should have the same dtype, but got input "
                           f"{str(input.dtype).split('.')[-1]} and bins float")
    if input.dtype not in (_core.float32, _core.float64):
        raise NotImplementedError(f'"histogramdd" not implemented for \'{type_name(input.dtype)}\'')
    a = np_of(input).reshape(-1)
    w = None if weight is None else np_of(weight).reshape(-1).astype(np.float64)
    if isinstance(bins, Tensor):  # explicit edges: the last bin includes its right edge
        edges = np_of(bins).astype(a.dtype)
        keep = (a >= edges[0]) & (a <= edges[-1]) if edges.size else np.zeros(a.shape, bool)
        idx = np.minimum(np.searchsorted(edges, a[keep], side="right") - 1, edges.size - 2)
        n = edges.size - 1
    else:
        n = int(bins)
        if n <= 0:
            raise RuntimeError(f"torch.histogram(): bins must be > 0, but got {n} for dimension 0")
        if range is not None:
            lo, hi = float(range[0]), float(range[1])
        else:
            lo, hi = (float(a.min()), float(a.max())) if a.size else (0.0, 1.0)
        if lo == hi:
            lo, hi = lo - 0.5, hi + 0.5
        edges = _torch_linspace(lo, hi, n + 1, a.dtype.type)
        raw, keep = _linear_bins(a, edges[0], edges[-1], n, clamp=False)
        # PyTorch's local search: the division's bin corrected against the edges around it
        # (upper_bound over edges[raw - 1 : raw + 2]), so an element on an edge starts that bin.
        x = a[keep]
        lo_pos, hi_pos = np.maximum(raw - 1, 0), np.minimum(raw + 2, n + 1)
        count = sum(((lo_pos + k < hi_pos) & (edges[np.minimum(lo_pos + k, n)] <= x)).astype(np.int64) for k in (0, 1, 2))
        idx = lo_pos + count - 1
        idx = np.where(idx == n, n - 1, idx)
    hist = np.bincount(idx, weights=None if w is None else w[keep], minlength=n).astype(np.float64)
    if density:
        hist = hist / (hist.sum() * np.diff(edges.astype(np.float64)))
    return _histogram(from_np(hist.astype(a.dtype), like=input), from_np(edges.astype(a.dtype), like=input))


@register("mvlgamma")
def mvlgamma(input: Tensor, p: int) -> Tensor:
    """Multivariate log-gamma of dimension p: sum of lgamma(x - i/2), i < p, plus p(p-1)/4 log(pi)."""
    if p < 1:
        raise RuntimeError("p has to be greater than or equal to 1")
    if not input.is_floating_point():
        raise RuntimeError("mvlgamma: expected a floating point input")
    if input.numel() and not (np_of(input) > (p - 1) / 2).all():
        raise RuntimeError(f"All elements must be greater than (p-1)/2 = {(p - 1) / 2}")
    out = input.lgamma()
    for i in range(1, p):
        out = out + (input - i / 2).lgamma()
    return out + p * (p - 1) / 4 * math.log(math.pi)


inplace("mvlgamma_", mvlgamma)
