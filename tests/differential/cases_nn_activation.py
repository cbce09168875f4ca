"""The activation family against PyTorch: every layer (both modes; RReLU's training mode where it
is deterministic, lower == upper) and every functional form, in-place forms included (on the
input itself, so the harness compares the written input, and on a non-leaf copy, so gradients
flow through them), on inputs with NaN, +-inf and -0.0, strided views and both float dtypes;
integer and bool inputs for the ops PyTorch accepts or refuses them. Drawn arguments reach past
the valid ranges now and then (odd GLU halves, negative lambd, min_val > max_val, lower > upper,
ranks Softmax2d refuses) so the errors are compared too.

PyTorch's gradient at a NaN input depends on the tensor's length for elu, selu, celu, hardtanh,
relu6, hardswish, softshrink and hardshrink (and their in-place forms): its scalar kernel, used
below the vector width, passes the gradient (scale * grad for the elu family), its vectorised
kernel gives NaN or 0. ferrograd follows the scalar kernel at every length (tests/test_activations.py
pins it); for those ops the NaNs drawn here are replaced by 0 (`_nan_free`).

RReLU's random training mode and gumbel_softmax are held to mask-independent facts in
test_diff_nn_activation.py; gumbel_softmax is compared here by shape, dtype and requires_grad.
"""

from __future__ import annotations

import numpy as np
from cases_nn import ModuleFn, _fixed, _fn_args, layer_args
from harness import ALL_DTYPES, FLOATS, Args, Case, T, seeds, shapes, tensors, unary
from hypothesis import strategies as st


def _F(L):
    return L.nn.functional


# ops whose gradient at NaN PyTorch computes differently by length (see the module docstring)
_NAN_BY_LENGTH = {"elu", "selu", "celu", "hardtanh", "relu6", "hardswish", "softshrink", "hardshrink", "elu_",
                  "selu_", "celu_", "hardtanh_", "ELU", "SELU", "CELU", "Hardtanh", "ReLU6", "Hardswish", "Softshrink",
                  "Hardshrink"}


def _nan_free(a: Args) -> Args:
    def fix(x):
        if isinstance(x, T) and x.base.dtype.kind == "f" and np.isnan(x.base).any():
            return T(np.where(np.isnan(x.base), 0, x.base).astype(x.base.dtype), x.view, x.grad)
        return x

    return Args([fix(x) for x in a.inputs], a.kw, a.seed)


def _not_expanded(a: Args) -> bool:
    return not any(isinstance(x, T) and x.view and x.view[0][0] == "expand" for x in a.inputs)


def _args_for(name, strategy, inplace=False):
    if name in _NAN_BY_LENGTH:
        strategy = strategy.map(_nan_free)
    # PyTorch's threshold_ alone among the in-place ops writes into an expanded tensor (each
    # element once per alias, all the same value); every other in-place op, and ferrograd's
    # copy_, refuse with "more than one element of the written-to tensor refers to a single memory
    # location". Expanded inputs are not drawn for it.
    if inplace and name in ("threshold", "threshold_", "Threshold"):
        strategy = strategy.filter(_not_expanded)
    return strategy


_ALPHA = st.sampled_from([1.0, 0.5, 2.0, 0.0])
_LAMBD = st.sampled_from([0.5, 0.0, 1.0, 2.5, -0.5])
_BOUND = st.sampled_from([-1.0, 0.0, 1.0, 0.5, -2.0, 6.0])
_SMALL = st.sampled_from([0.0, 0.5, -1.0, 1.0, 2.0])


def _elementwise(nonfinite=True, modes=(True, False)):
    return lambda ctor: layer_args(lambda c: shapes(), ctor, modes=modes, dtypes_=FLOATS, nonfinite=nonfinite)


_ELEM = _elementwise()

# ----------------------------------------------------------------------------- layers

_LAYERS = {
    "ELU": _fixed(alpha=_ALPHA, inplace=st.booleans()),
    "SELU": _fixed(inplace=st.booleans()),
    "CELU": _fixed(alpha=_ALPHA, inplace=st.booleans()),
    "Hardtanh": _fixed(min_val=_BOUND, max_val=_BOUND, inplace=st.booleans()),
    "ReLU6": _fixed(inplace=st.booleans()),
    "Hardsigmoid": _fixed(inplace=st.booleans()),
    "Hardswish": _fixed(inplace=st.booleans()),
    "Mish": _fixed(inplace=st.booleans()),
    "Softplus": _fixed(beta=st.sampled_from([1.0, 2.0, 0.5]), threshold=st.sampled_from([20.0, 1.0])),
    "Softsign": _fixed(),
    "Softshrink": _fixed(lambd=_LAMBD),
    "Hardshrink": _fixed(lambd=_LAMBD),
    "Tanhshrink": _fixed(),
    "Threshold": _fixed(threshold=_SMALL, value=_SMALL, inplace=st.booleans()),
    "LogSigmoid": _fixed(),
    "RReLU": _fixed(lower=st.sampled_from([0.125, 0.2]), upper=st.sampled_from([1 / 3, 0.2]), inplace=st.booleans()),
    "ReLU": _fixed(inplace=st.booleans()),
    "LeakyReLU": _fixed(negative_slope=st.sampled_from([0.01, 0.2, 0.0]), inplace=st.booleans()),
    "SiLU": _fixed(inplace=st.booleans()),
}
LAYERS = []
for _n, _ctor in _LAYERS.items():
    # RReLU in training mode is random unless lower == upper: only that case is drawn there
    _modes = (False,) if _n == "RReLU" else (True, False)
    LAYERS.append(Case(f"nn.{_n}", ModuleFn(lambda L, _n=_n, **c: getattr(L.nn, _n)(**c)),
                       _args_for(_n, _elementwise(modes=_modes)(_ctor), inplace=True)))
LAYERS.append(Case("nn.RReLU(lower=upper, train)", ModuleFn(lambda L, **c: L.nn.RReLU(c["s"], c["s"], c["inplace"])),
                   _ELEM(_fixed(s=st.sampled_from([0.0, 0.1, 0.3]), inplace=st.booleans()))))
# the in-place layers on a non-leaf: gradients flow back through the write
LAYERS += [
    Case(f"nn.{n}(inplace, non-leaf)", ModuleFn(lambda L, n=n: getattr(L.nn, n)(inplace=True), call=lambda m, x: m(x * 1)),
         _args_for(n, _ELEM(_fixed())))
    for n in ("ELU", "SELU", "CELU", "Hardtanh", "ReLU6", "Hardsigmoid", "Hardswish", "Mish", "ReLU", "LeakyReLU",
              "SiLU")
]


@st.composite
def _glu_shape(draw, c):
    s = list(draw(shapes(min_dims=1, max_dims=3, max_side=3)))
    d = c["dim"] % len(s) if -len(s) <= c["dim"] < len(s) else None
    if d is not None and draw(st.integers(0, 9)) > 0:  # now and then odd: the error is compared
        s[d] = 2 * s[d]
    return tuple(s)


@st.composite
def _prelu_args(draw):
    n = draw(st.sampled_from([1, 1, 2, 3]))
    ndim = draw(st.integers(0, 4))
    shape = list(draw(shapes(min_dims=ndim, max_dims=ndim, max_side=3)))
    if ndim >= 2 and n > 1 and draw(st.integers(0, 9)) > 0:
        shape[1] = n
    return st.just(tuple(shape)), {"num_parameters": n, "init": draw(st.sampled_from([0.25, -0.5, 1.0]))}


@st.composite
def _prelu_layer_args(draw):
    shape_st, c = draw(_prelu_args())
    shape = draw(shape_st)
    x = draw(tensors(shape, draw(st.sampled_from(FLOATS)), low=-3, high=3))
    seed = draw(seeds)
    return Args([x], {"train": draw(st.booleans()), "ctor": c, "seed": seed}, seed)


LAYERS += [
    Case("nn.GLU", ModuleFn(lambda L, **c: L.nn.GLU(**c)),
         layer_args(_glu_shape, _fixed(dim=st.integers(-3, 2)), dtypes_=FLOATS, nonfinite=True)),
    Case("nn.PReLU", ModuleFn(lambda L, **c: L.nn.PReLU(**c)), _prelu_layer_args()),
    Case("nn.Softmin", ModuleFn(lambda L, **c: L.nn.Softmin(**c)),
         layer_args(lambda c: shapes(min_dims=1), _fixed(dim=st.integers(-1, 0)), dtypes_=FLOATS, nonfinite=True)),
    Case("nn.Softmax2d", ModuleFn(lambda L: L.nn.Softmax2d()),
         layer_args(lambda c: shapes(min_dims=2, max_dims=5, max_side=3), _fixed(), dtypes_=FLOATS, nonfinite=True)),
]

# ----------------------------------------------------------------------------- functional forms

_UNARY = {  # name -> keyword strategy
    "elu": _fixed(alpha=_ALPHA), "selu": _fixed(), "celu": _fixed(alpha=_ALPHA), "relu6": _fixed(),
    "hardtanh": _fixed(min_val=_BOUND, max_val=_BOUND), "hardsigmoid": _fixed(), "hardswish": _fixed(),
    "mish": _fixed(), "softsign": _fixed(), "softshrink": _fixed(lambd=_LAMBD), "hardshrink": _fixed(lambd=_LAMBD),
    "tanhshrink": _fixed(), "threshold": _fixed(threshold=_SMALL, value=_SMALL), "logsigmoid": _fixed(),
    "rrelu": _fixed(lower=st.sampled_from([0.125, 0.3]), upper=st.sampled_from([1 / 3, 0.2]), training=st.just(False)),
}
_INPLACE = {  # in-place function -> keyword strategy
    "elu_": _fixed(alpha=_ALPHA), "selu_": _fixed(), "celu_": _fixed(alpha=_ALPHA), "relu_": _fixed(),
    "leaky_relu_": _fixed(negative_slope=st.sampled_from([0.01, 0.3])), "hardtanh_": _fixed(min_val=_BOUND, max_val=_BOUND),
    "threshold_": _fixed(threshold=_SMALL, value=_SMALL), "rrelu_": _fixed(training=st.just(False)),
}
_WITH_INPLACE_FLAG = ("elu", "selu", "celu", "relu6", "hardtanh", "hardsigmoid", "hardswish", "mish", "threshold", "rrelu")

FUNCTIONAL = []
for _f, _kw in _UNARY.items():
    FUNCTIONAL.append(Case(f"F.{_f}", lambda L, x, _f=_f, **kw: getattr(_F(L), _f)(x, **kw),
                           _args_for(_f, _fn_args(shapes(), _kw))))
    # integer and bool inputs: the dtypes PyTorch keeps (hardtanh, relu6, threshold) and its refusals
    FUNCTIONAL.append(Case(f"F.{_f}(any dtype)", lambda L, x, _f=_f, **kw: getattr(_F(L), _f)(x, **kw),
                           _args_for(_f, unary(dtypes_=ALL_DTYPES, kw=lambda s, _kw=_kw: _kw))))
for _f in _WITH_INPLACE_FLAG:
    FUNCTIONAL.append(Case(f"F.{_f}(inplace=True)", lambda L, x, _f=_f, **kw: getattr(_F(L), _f)(x, inplace=True, **kw),
                           _args_for(_f, _fn_args(shapes(), _UNARY[_f]), inplace=True)))
for _f, _kw in _INPLACE.items():
    FUNCTIONAL.append(Case(f"F.{_f}", lambda L, x, _f=_f, **kw: getattr(_F(L), _f)(x, **kw),
                           _args_for(_f, _fn_args(shapes(), _kw), inplace=True)))
    FUNCTIONAL.append(Case(f"F.{_f}(non-leaf)", lambda L, x, _f=_f, **kw: getattr(_F(L), _f)(x * 1, **kw),
                           _args_for(_f, _fn_args(shapes(), _kw))))


@st.composite
def _glu_fn_args(draw):
    dim = draw(st.integers(-3, 2))
    shape = draw(_glu_shape({"dim": dim}))
    return Args([draw(tensors(shape, draw(st.sampled_from(FLOATS)), low=-3, high=3))], {"dim": dim}, draw(seeds))


@st.composite
def _prelu_fn_args(draw):
    shape_st, c = draw(_prelu_args())
    dt = draw(st.sampled_from(FLOATS))
    x = draw(tensors(draw(shape_st), dt, low=-3, high=3))
    w = draw(tensors((c["num_parameters"],), dt, low=-1, high=1, nonfinite=False))
    return Args([x, w], {}, draw(seeds))


@st.composite
def _softmin_args(draw):
    shape = draw(shapes(min_dims=1))
    dt = draw(st.sampled_from(FLOATS))
    x = draw(tensors(shape, dt, low=-3, high=3))
    kw = {"dim": draw(st.integers(-len(shape) - 1, len(shape)))}
    if draw(st.booleans()):
        # not narrower than the input: PyTorch computes a float64 input's softmax(dtype=float32)
        # gradient in float64 from the float32 output, ferrograd in float32 (the same at float32's
        # precision, which the harness does not allow for a float64 input's gradient)
        kw["dtype"] = draw(st.sampled_from(["float32", "float64"] if dt == "float32" else ["float64"]))
    return Args([x], kw, draw(seeds))


def _softmin(L, x, dtype=None, **kw):
    return _F(L).softmin(x, dtype=None if dtype is None else getattr(L, dtype), **kw)


@st.composite
def _gumbel_args(draw):
    shape = draw(shapes(min_dims=1, min_side=1))
    x = draw(tensors(shape, draw(st.sampled_from(FLOATS)), low=-3, high=3, nonfinite=False))
    kw = {"tau": draw(st.sampled_from([1.0, 0.5, 2.0])), "hard": draw(st.booleans()),
          "dim": draw(st.integers(-len(shape), len(shape) - 1))}
    return Args([x], kw, draw(seeds))


FUNCTIONAL += [
    Case("F.glu", lambda L, x, **kw: _F(L).glu(x, **kw), _glu_fn_args()),
    Case("F.prelu", lambda L, x, w: _F(L).prelu(x, w), _prelu_fn_args()),
    Case("F.softmin", _softmin, _softmin_args()),
    Case("F.rrelu(lower=upper, training)", lambda L, x, s: _F(L).rrelu(x, s, s, training=True),
         _fn_args(shapes(), _fixed(s=st.sampled_from([0.0, 0.25])))),
    Case("F.rrelu_(lower=upper, training, non-leaf)", lambda L, x, s: _F(L).rrelu_(x * 1, s, s, training=True),
         _fn_args(shapes(), _fixed(s=st.sampled_from([0.0, 0.25])))),
    # random: shape, dtype and requires_grad only (the facts that do not depend on the noise are in
    # test_diff_nn_activation.py)
    Case("F.gumbel_softmax", lambda L, x, **kw: _F(L).gumbel_softmax(x, **kw), _gumbel_args(), values=False,
         grad=False),
]

ALL = LAYERS + FUNCTIONAL
__all__ = ["ALL", "T"]
