"""nn.functional activations. ELU (at alpha 1), SELU, Mish, Hardswish and Hardsigmoid run as one
fused Rust pass each (rust/ops/activation.rs), as relu, leaky_relu, gelu, silu and softplus do
(functional.py); the rest, and ELU at other alphas and CELU, are composed from differentiable
ferrograd ops.

Each op is written so that its gradient is PyTorch's everywhere, not only where it is smooth:

* at a kink the gradient is the one PyTorch's backward kernel picks: hardtanh and relu6 give 0 at
  their bounds, hardsigmoid 0 at +-3, hardswish 0 at -3 and 1 at 3, softshrink 0 at +-lambd,
  threshold 0 at the threshold, elu alpha * scale at 0, leaky_relu and rrelu the slope at 0;
* a NaN takes the branch PyTorch's scalar kernel sends it to (hardtanh, relu6, hardswish,
  softshrink, hardshrink and the elu family pass a NaN's gradient through, hardsigmoid does not).
  PyTorch's vectorised kernels, used on longer tensors, give some of these NaN or 0 there instead,
  so its gradient at a NaN depends on the tensor's length; ferrograd's does not;
* a branch that `where` does not select is computed on 0 for the elements it rejects (`_only`),
  so its backward cannot turn the zero gradient it gets there into 0 * inf = NaN (exp of a big
  input, x * (x + 3) at inf).

In-place forms (`elu_`, `F.elu(x, inplace=True)`, ...) write the result into their input and
return it, with Tensor.copy_'s checks: PyTorch's error for a leaf that requires grad, a version
bump that makes a backward needing the old values fail. On the graph, hardtanh (relu6) and the ELU
family save the written tensor for backward, as PyTorch's do; the others run on a clone of the
input that their node keeps (PyTorch's hardswish_, hardsigmoid_ and mish_ keep one too).
"""

from __future__ import annotations

import warnings

from .. import _core
from .._core import Tensor
from .._methods._util import assign, needs_grad, scalar_tensor, type_name, wrap_dim
from ..autograd.grad_mode import no_grad
from ._functional_utils import _REQUIRED, _training

__all__ = [
    "elu", "elu_", "selu", "selu_", "celu", "celu_", "glu", "hardtanh", "hardtanh_", "relu6", "relu_", "leaky_relu_",
    "hardsigmoid", "hardswish", "mish", "softsign", "softshrink", "hardshrink", "tanhshrink", "threshold",
    "threshold_", "logsigmoid", "prelu", "rrelu", "rrelu_", "softmin", "gumbel_softmax",
]

# SELU's constants (Klambauer et al. 2017), as PyTorch spells them.
_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def _floating(input: Tensor, kernel: str) -> None:
    """PyTorch's refusal of integer and bool inputs, in its words."""
    if not input.is_floating_point():
        raise NotImplementedError(f'"{kernel}" not implemented for \'{type_name(input.dtype)}\'')


def _only(cond: Tensor, x: Tensor) -> Tensor:
    """x where cond holds, 0 elsewhere: what a `where` branch is computed on (see the module doc)."""
    return _core.where(cond, x, scalar_tensor(0, x.dtype))


def _zeros_times(input: Tensor) -> Tensor:
    """input * 0 without a gradient: PyTorch's value for the flat part of a piecewise op (-0.0 for
    a negative input, NaN for an infinite one)."""
    return input.detach() * 0


def _in_place(input: Tensor, inplace: bool, fn, *args) -> Tensor:
    return assign(input, fn, *args) if inplace else fn(input, *args)


def _in_place_saving_result(input: Tensor, inplace: bool, rule: str, params: list, fn, *args) -> Tensor:
    """`_in_place` for the activations whose gradient PyTorch takes from the result (hardtanh and
    relu6, the ELU family): on the graph the value is computed off it and written into input,
    whose node then reads input itself (rust/ops/activation_in_place.rs), instead of the op
    running on a clone of input that its node keeps. Elsewhere, the general path."""
    if not inplace:
        return fn(input, *args)
    if needs_grad(input) and input.is_floating_point():
        with no_grad():
            value = fn(input, *args)
        if _core._assign_saving_result(input, value, rule, params):
            return input
    return assign(input, fn, *args)


# ----------------------------------------------------------------------------- ELU family


def _elu(input: Tensor, alpha: float, scale: float, input_scale: float) -> Tensor:
    # PyTorch's elu kernel: x <= 0 ? expm1(x * input_scale) * alpha * scale : x * scale; its
    # backward takes the same branch (a NaN takes the linear one and passes scale * grad).
    _floating(input, "elu_cpu")
    # ELU at alpha 1 and SELU run fused (rust/ops/activation.rs); other alphas (and CELU) below.
    if alpha == 1.0 and scale == 1.0 and input_scale == 1.0:
        return _core._activation(input, "elu")
    if alpha == _SELU_ALPHA and scale == _SELU_SCALE and input_scale == 1.0:
        return _core._activation(input, "selu")
    neg = input <= 0
    xn = _only(neg, input)
    if input_scale != 1.0:
        xn = xn * input_scale
    negative = xn.expm1() * (alpha * scale)
    positive = input * scale if scale != 1.0 else input
    return _core.where(neg, negative, positive)


def elu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """x for x > 0, alpha * (exp(x) - 1) otherwise. The gradient at 0 is alpha (PyTorch's)."""
    alpha = float(alpha)
    return _in_place_saving_result(input, inplace, "elu", [alpha, 1.0, 1.0], _elu, alpha, 1.0, 1.0)


def elu_(input: Tensor, alpha: float = 1.0) -> Tensor:
    """In-place `elu`: writes into `input` and returns it."""
    return elu(input, alpha, inplace=True)


def selu(input: Tensor, inplace: bool = False) -> Tensor:
    """scale * elu(x, alpha) with SELU's fixed alpha = 1.6733 and scale = 1.0507."""
    return _in_place_saving_result(input, inplace, "elu", [_SELU_ALPHA, _SELU_SCALE, 1.0], _elu, _SELU_ALPHA, _SELU_SCALE, 1.0)


def selu_(input: Tensor) -> Tensor:
    """In-place `selu`."""
    return selu(input, inplace=True)


def _celu(input: Tensor, alpha: float) -> Tensor:
    if alpha == 0:
        raise RuntimeError("ZeroDivisionError: alpha cannot be 0 for CELU")
    return _elu(input, alpha, 1.0, 1.0 / alpha)


def celu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """max(0, x) + min(0, alpha * (exp(x / alpha) - 1)); alpha = 0 is an error."""
    alpha = float(alpha)
    if alpha == 0:  # before the rule's 1 / alpha
        raise RuntimeError("ZeroDivisionError: alpha cannot be 0 for CELU")
    return _in_place_saving_result(input, inplace, "celu", [alpha, 1.0, 1.0 / alpha], _celu, alpha)


def celu_(input: Tensor, alpha: float = 1.0) -> Tensor:
    """In-place `celu`."""
    return celu(input, alpha, inplace=True)


# ----------------------------------------------------------------------------- gated, clamped


def glu(input: Tensor, dim: int = -1) -> Tensor:
    """a * sigmoid(b), where a and b are the two halves of `input` along `dim` (of even size).

    Shape: (*, 2N, *) -> (*, N, *).
    """
    if input.ndim == 0:
        raise RuntimeError("glu does not support scalars because halving size must be even")
    d = wrap_dim(dim, input.ndim)
    _floating(input, "glu_cpu")
    n = input.shape[d]
    if n % 2:
        raise RuntimeError(f"Halving dimension must be even, but dimension {d} is size {n}")
    a, b = input.narrow(d, 0, n // 2), input.narrow(d, n // 2, n // 2)
    return a * b.sigmoid()


def _hardtanh(input: Tensor, min_val: float, max_val: float) -> Tensor:
    if input.dtype == _core.bool:
        raise NotImplementedError("Bool inputs not supported for hardtanh")
    out = input.clamp(min_val, max_val)
    if not input.is_floating_point():  # integers stay integers (clamp by float bounds promotes)
        return out.to(input.dtype)
    if not needs_grad(input):
        return out
    # PyTorch's hardtanh_backward: zero where x <= min_val or x >= max_val (also at the bounds),
    # the gradient itself elsewhere, a NaN included.
    through = ~((input <= min_val) | (input >= max_val))
    return _core.where(through, input, out.detach())


def hardtanh(input: Tensor, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False) -> Tensor:
    """x clamped to [min_val, max_val]. The gradient is 1 strictly inside, 0 at and beyond the
    bounds (PyTorch's choice; plain clamp passes it at the bounds). Integer inputs stay integers."""
    if min_val > max_val:
        raise ValueError("min_val cannot be greater than max_val")
    return _in_place_saving_result(input, inplace, "hardtanh", [float(min_val), float(max_val)], _hardtanh, min_val, max_val)


def hardtanh_(input: Tensor, min_val: float = -1.0, max_val: float = 1.0) -> Tensor:
    """In-place `hardtanh` (like PyTorch's, without F.hardtanh's min_val <= max_val check)."""
    return _in_place_saving_result(input, True, "hardtanh", [float(min_val), float(max_val)], _hardtanh, min_val, max_val)


def relu6(input: Tensor, inplace: bool = False) -> Tensor:
    """min(max(0, x), 6) = hardtanh(x, 0, 6): gradient 0 at 0 and at 6."""
    return hardtanh(input, 0.0, 6.0, inplace)


def relu_(input: Tensor) -> Tensor:
    """In-place relu."""
    return input.relu_()


def leaky_relu_(input: Tensor, negative_slope: float = 0.01) -> Tensor:
    """In-place leaky_relu. With a slope >= 0 it writes into input and saves it for backward
    (nothing else is kept); a negative slope, whose backward PyTorch refuses in place, works
    here on a copy of the input."""
    _core._leaky_relu_(input, float(negative_slope))
    return input


def _hardsigmoid(input: Tensor) -> Tensor:
    # One fused pass (rust/ops/activation.rs): the gradient is 1/6 (PyTorch's float literal)
    # strictly inside (-3, 3), 0 elsewhere and at a NaN.
    _floating(input, "hardsigmoid_cpu")
    return _core._activation(input, "hardsigmoid")


def hardsigmoid(input: Tensor, inplace: bool = False) -> Tensor:
    """min(max(0, x + 3), 6) / 6. Gradient 1/6 strictly inside (-3, 3), 0 at and beyond +-3."""
    return _in_place(input, inplace, _hardsigmoid)


def _hardswish(input: Tensor) -> Tensor:
    # PyTorch: x * min(max(x + 3, 0), 6) / 6; gradient 0 for x <= -3, x / 3 + 1/2 strictly
    # inside (-3, 3), 1 from 3 up and at a NaN (the outer pieces' slopes at the kinks).
    # One fused pass (rust/ops/activation.rs).
    _floating(input, "hardswish_cpu")
    return _core._activation(input, "hardswish")


def hardswish(input: Tensor, inplace: bool = False) -> Tensor:
    """x * hardsigmoid(x) (MobileNetV3). The gradient is 0 at -3 and 1 at 3 (PyTorch's choice)."""
    return _in_place(input, inplace, _hardswish)


def _mish(input: Tensor) -> Tensor:
    _floating(input, "mish_cpu")
    return _core._activation(input, "mish")


def mish(input: Tensor, inplace: bool = False) -> Tensor:
    """x * tanh(softplus(x)). Like PyTorch's, NaN at -inf, and its gradient NaN at +-inf."""
    return _in_place(input, inplace, _mish)


def softsign(input: Tensor) -> Tensor:
    """x / (1 + |x|) (PyTorch's own composition: NaN at +-inf; integers give floats)."""
    return input / (input.abs() + 1)


def softshrink(input: Tensor, lambd: float = 0.5) -> Tensor:
    """x - lambd above lambd, x + lambd below -lambd, 0 in between (gradient 0 at +-lambd)."""
    _floating(input, "softshrink_check")
    if lambd < 0:
        top = 3.40282e38 if input.dtype in (_core.float32, _core.float16, _core.bfloat16) else 1.79769e308
        raise RuntimeError(f"lambda must be in range [0, {top:g}] for input dtype {type_name(input.dtype)}, "
                           f"but found {lambd:g}")
    zero = (input >= -lambd) & (input <= lambd)
    return _core.where(zero, _zeros_times(input), _core.where(input > lambd, input - lambd, input + lambd))


def hardshrink(input: Tensor, lambd: float = 0.5) -> Tensor:
    """x where |x| > lambd, else 0 (gradient 0 at +-lambd)."""
    _floating(input, "hardshrink_cpu")
    return input.hardshrink(lambd)


def tanhshrink(input: Tensor) -> Tensor:
    """x - tanh(x)."""
    return input - input.tanh()


def _threshold(input: Tensor, threshold: float, value: float) -> Tensor:
    if input.dtype == _core.bool:
        raise NotImplementedError("\"threshold_cpu\" not implemented for 'Bool'")
    # value is cast to the input's dtype, as PyTorch does (7.5 becomes 7 for int64)
    v = value if input.is_floating_point() else int(value)
    return _core.where(input <= threshold, scalar_tensor(v, input.dtype), input)


def threshold(input: Tensor, threshold: float, value: float, inplace: bool = False) -> Tensor:
    """x where x > threshold, else value (gradient 0 at the threshold; a NaN stays NaN)."""
    return _in_place(input, inplace, _threshold, threshold, value)


def threshold_(input: Tensor, threshold: float, value: float) -> Tensor:
    """In-place `threshold`."""
    return _in_place(input, True, _threshold, threshold, value)


def logsigmoid(input: Tensor) -> Tensor:
    """log(sigmoid(x)) = -softplus(-x), without overflow: min(x, 0) - log1p(exp(-|x|))."""
    _floating(input, "log_sigmoid_cpu")
    return -_core._softplus(-input)


def prelu(input: Tensor, weight: Tensor) -> Tensor:
    """x where x > 0, weight * x elsewhere; weight has one element or one per channel (dim 1)."""
    _floating(input, "prelu_cpu")
    if input.dtype != weight.dtype:
        raise RuntimeError(f"prelu: Type promoting not supported. Got {type_name(input.dtype)} and "
                           f"{type_name(weight.dtype)}")
    if weight.ndim > 1:
        raise RuntimeError(f"prelu: Expected `weight` to be a scalar or 1D tensor, but got: ndim = {weight.ndim}")
    return input.prelu(weight)


# ----------------------------------------------------------------------------- RReLU


def _rrelu(input: Tensor, lower: float, upper: float, training: bool) -> Tensor:
    if lower > upper:
        raise RuntimeError("Lower bound should be less than or equal to the upper bound")
    if not training:
        _floating(input, "leaky_relu_cpu")
        return _core._leaky_relu(input, (lower + upper) / 2)
    _floating(input, "rrelu_with_noise_cpu")
    # One slope per element drawn from U(lower, upper) (used where x <= 0, as PyTorch's kernel;
    # a NaN keeps slope 1). out = x * slope, so the gradient is that same slope.
    slopes = _core.full(list(input.shape), 0.0, input.dtype).uniform_(lower, upper)
    return input * _core.where(input <= 0, slopes, scalar_tensor(1, input.dtype))


def rrelu(input: Tensor, lower: float = 1.0 / 8, upper: float = 1.0 / 3, training=_REQUIRED,
          inplace: bool = False) -> Tensor:
    """Randomized leaky ReLU: in training, each element x <= 0 is multiplied by its own slope
    drawn uniformly from [lower, upper] (and its gradient is that slope); otherwise the slope is
    the fixed (lower + upper) / 2.

    `training` has no default: pass `training=self.training`. PyTorch defaults it to False, the
    opposite of F.dropout's default and as quiet a trap: a model that calls F.rrelu(x) in its
    forward never randomizes, in training or not. ferrograd makes you choose.
    """
    return _in_place(input, inplace, _rrelu, float(lower), float(upper), _rrelu_training("rrelu", training))


def rrelu_(input: Tensor, lower: float = 1.0 / 8, upper: float = 1.0 / 3, training=_REQUIRED) -> Tensor:
    """In-place `rrelu` (`training` required as there)."""
    return _in_place(input, True, _rrelu, float(lower), float(upper), _rrelu_training("rrelu_", training))


def _rrelu_training(fn: str, training) -> bool:
    if training is _REQUIRED:  # _training's own message speaks of dropout's opposite default
        raise TypeError(
            f"F.{fn}() needs `training` given explicitly, e.g. F.{fn}(x, training=self.training). "
            "PyTorch defaults it to False, so a model calling it in forward() never randomizes, also "
            "in training; ferrograd makes you choose."
        )
    return _training(fn, training)


# ----------------------------------------------------------------------------- softmin, gumbel


def _softmax_dim(name: str, ndim: int, stacklevel: int) -> int:
    warnings.warn(f"Implicit dimension choice for {name} has been deprecated. Change the call to include dim=X "
                  "as an argument.", stacklevel=stacklevel)
    return 0 if ndim in (0, 1, 3) else 1


def softmin(input: Tensor, dim: int | None = None, _stacklevel: int = 3, dtype=None) -> Tensor:
    """softmax(-x) along `dim` (dim=None: PyTorch's deprecated implicit choice, with its warning).
    With `dtype`, the input is cast to it first."""
    if dim is None:
        dim = _softmax_dim("softmin", input.ndim, _stacklevel)
    x = -input
    return (x if dtype is None else x.to(dtype)).softmax(dim)


def gumbel_softmax(logits: Tensor, tau: float = 1, hard: bool = False, eps: float = 1e-10, dim: int = -1) -> Tensor:
    """A sample from the Gumbel-softmax distribution: softmax((logits + g) / tau) along `dim`, g
    i.i.d. Gumbel(0, 1) noise. With hard=True the result is one-hot (the argmax) forward while the
    gradient is the soft sample's (straight-through). `eps` is deprecated and ignored, as in PyTorch.
    """
    if eps != 1e-10:
        warnings.warn("`eps` parameter is deprecated and has no effect.", stacklevel=2)
    gumbels = -_core.full(list(logits.shape), 0.0, logits.dtype).exponential_().log()
    y_soft = ((logits + gumbels) / tau).softmax(dim)
    if not hard:
        return y_soft
    index = y_soft.max(dim, keepdim=True)[1]
    y_hard = _core.full(list(logits.shape), 0.0, logits.dtype).scatter_(dim, index, 1.0)
    return y_hard - y_soft.detach() + y_soft
