"""Op-table rows for the activation family (nn/_functional_activation.py and the layers without a
functional form), gathered by op_table.py. Each row: a numpy reference, float64 gradcheck, and
PyTorch's values in tests/golden/op_table_golden.json (ids start with "act_"; regenerate with
`PYTHONPATH=python /tmp/torchvenv/bin/python tests/golden/make_op_golden.py act_`).

Rows ending in "_kink" draw their inputs from the "grid" kind (multiples of 1/4 in [-1, 1],
scaled so they land on the op's kinks: 0, +-lambd, the clamp bounds, +-3 for hardsigmoid and
hardswish). Finite differences mean nothing there, so they skip gradcheck (grad=False); their
gradients are compared with PyTorch's, which is the point: at a kink PyTorch's backward picks one
side, and these rows pin which.
"""

from __future__ import annotations

import numpy as np
from op_table import In, Op

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def F(L):
    return L.nn.functional


def np_elu(x, alpha=1.0):
    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0)))


def np_celu(x, alpha=1.0):
    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0) / alpha))


def np_sigmoid(x):
    return 1 / (1 + np.exp(-x))


def np_glu(x, axis=-1):
    a, b = np.split(x, 2, axis=axis)
    return a * np_sigmoid(b)


def np_hardsigmoid(x):
    return np.clip(x + 3, 0, 6) / 6


def np_softshrink(x, lambd=0.5):
    return np.where(x > lambd, x - lambd, np.where(x < -lambd, x + lambd, 0.0))


def np_softmax(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def np_prelu(x, w):
    shape = [1] * x.ndim
    if x.ndim >= 2 and w.size > 1:
        shape[1] = -1
    return np.where(x > 0, x, w.reshape(shape if w.size > 1 else ()) * x)


def _kink(op_id, fn, ref, scale=1.0, shape=(4, 5)):
    """A row whose inputs are grid points times `scale` (the function gets the grid, scales it)."""
    return Op(op_id, lambda L, x: fn(L, x * scale), [In(shape, "grid")], lambda x: ref(x * scale), grad=False)


ROWS = [
    # ELU family (elu's gradient at 0 is alpha * scale, from the exp side)
    Op("act_elu", lambda L, x: F(L).elu(x), [In((3, 4))], np_elu),
    Op("act_elu_alpha", lambda L, x: F(L).elu(x, 0.7), [In((3, 4))], lambda x: np_elu(x, 0.7)),
    _kink("act_elu_kink", lambda L, x: F(L).elu(x, 0.7), lambda x: np_elu(x, 0.7)),
    Op("act_elu_", lambda L, x: F(L).elu_(x.clone(), 2.0), [In((3, 4))], lambda x: np_elu(x, 2.0)),
    Op("act_elu_big", lambda L, x: F(L).elu(x), [In((6,), "big")], np_elu),
    Op("act_selu", lambda L, x: F(L).selu(x), [In((3, 4))], lambda x: SELU_SCALE * np_elu(x, SELU_ALPHA)),
    _kink("act_selu_kink", lambda L, x: F(L).selu(x), lambda x: SELU_SCALE * np_elu(x, SELU_ALPHA)),
    Op("act_selu_inplace", lambda L, x: F(L).selu(x.clone(), inplace=True), [In((5,))],
       lambda x: SELU_SCALE * np_elu(x, SELU_ALPHA)),
    Op("act_celu", lambda L, x: F(L).celu(x, 1.5), [In((3, 4))], lambda x: np_celu(x, 1.5)),
    _kink("act_celu_kink", lambda L, x: F(L).celu(x, 0.5), lambda x: np_celu(x, 0.5)),
    Op("act_celu_", lambda L, x: F(L).celu_(x.clone()), [In((4,))], np_celu),
    # gated
    Op("act_glu", lambda L, x: F(L).glu(x), [In((3, 4))], np_glu),
    Op("act_glu_dim0", lambda L, x: F(L).glu(x, 0), [In((4, 3))], lambda x: np_glu(x, 0)),
    Op("act_glu_3d", lambda L, x: F(L).glu(x, 1), [In((2, 6, 2))], lambda x: np_glu(x, 1)),
    # clamps: gradient 0 at the bounds
    Op("act_hardtanh", lambda L, x: F(L).hardtanh(x), [In((3, 4))], lambda x: np.clip(x, -1, 1)),
    _kink("act_hardtanh_kink", lambda L, x: F(L).hardtanh(x), lambda x: np.clip(x, -1, 1)),
    _kink("act_hardtanh_range_kink", lambda L, x: F(L).hardtanh(x, -0.5, 0.25), lambda x: np.clip(x, -0.5, 0.25)),
    Op("act_hardtanh_", lambda L, x: F(L).hardtanh_(x.clone(), -0.5, 1.5), [In((3, 4))],
       lambda x: np.clip(x, -0.5, 1.5)),
    Op("act_relu6", lambda L, x: F(L).relu6(x * 4), [In((3, 4))], lambda x: np.clip(x * 4, 0, 6)),
    _kink("act_relu6_kink", lambda L, x: F(L).relu6(x), lambda x: np.clip(x, 0, 6), scale=6.0),
    _kink("act_relu__kink", lambda L, x: F(L).relu_(x.clone()), lambda x: np.maximum(x, 0)),
    _kink("act_leaky_relu__kink", lambda L, x: F(L).leaky_relu_(x.clone(), 0.2), lambda x: np.where(x > 0, x, 0.2 * x)),
    # hard curves: kinks at +-3
    Op("act_hardsigmoid", lambda L, x: F(L).hardsigmoid(x * 3), [In((3, 4))], lambda x: np_hardsigmoid(x * 3)),
    _kink("act_hardsigmoid_kink", lambda L, x: F(L).hardsigmoid(x), np_hardsigmoid, scale=3.0),
    Op("act_hardswish", lambda L, x: F(L).hardswish(x * 3), [In((3, 4))], lambda x: x * 3 * np_hardsigmoid(x * 3)),
    _kink("act_hardswish_kink", lambda L, x: F(L).hardswish(x), lambda x: x * np_hardsigmoid(x), scale=3.0),
    Op("act_hardswish_inplace", lambda L, x: F(L).hardswish(x.clone() * 3, inplace=True), [In((6,))],
       lambda x: x * 3 * np_hardsigmoid(x * 3)),
    # smooth ones
    Op("act_mish", lambda L, x: F(L).mish(x), [In((3, 4))], lambda x: x * np.tanh(np.logaddexp(0, x))),
    Op("act_mish_big", lambda L, x: F(L).mish(x), [In((8,), "big")], lambda x: x * np.tanh(np.logaddexp(0, x))),
    Op("act_softsign", lambda L, x: F(L).softsign(x), [In((3, 4))], lambda x: x / (1 + np.abs(x))),
    Op("act_tanhshrink", lambda L, x: F(L).tanhshrink(x), [In((3, 4))], lambda x: x - np.tanh(x)),
    Op("act_logsigmoid", lambda L, x: F(L).logsigmoid(x), [In((3, 4))], lambda x: -np.logaddexp(0, -x)),
    Op("act_logsigmoid_big", lambda L, x: F(L).logsigmoid(x), [In((8,), "big")], lambda x: -np.logaddexp(0, -x)),
    # shrinks and threshold: gradient 0 at the edge of the flat part
    Op("act_softshrink", lambda L, x: F(L).softshrink(x), [In((3, 4))], np_softshrink),
    _kink("act_softshrink_kink", lambda L, x: F(L).softshrink(x), np_softshrink),
    _kink("act_softshrink_lambd_kink", lambda L, x: F(L).softshrink(x, 0.25), lambda x: np_softshrink(x, 0.25)),
    _kink("act_hardshrink_kink", lambda L, x: F(L).hardshrink(x), lambda x: np.where(np.abs(x) > 0.5, x, 0.0)),
    Op("act_threshold", lambda L, x: F(L).threshold(x, 0.5, -2.0), [In((3, 4))], lambda x: np.where(x > 0.5, x, -2.0)),
    _kink("act_threshold_kink", lambda L, x: F(L).threshold(x, 0.5, -2.0), lambda x: np.where(x > 0.5, x, -2.0)),
    Op("act_threshold_", lambda L, x: F(L).threshold_(x.clone(), 0.0, 7.0), [In((3, 4))],
       lambda x: np.where(x > 0, x, 7.0)),
    # learned and random slopes
    Op("act_prelu", lambda L, x, w: F(L).prelu(x, w), [In((2, 3, 4), "nz"), In((3,))], np_prelu),
    Op("act_prelu_shared", lambda L, x, w: F(L).prelu(x, w), [In((2, 3), "nz"), In((1,))], np_prelu),
    Op("act_prelu_kink", lambda L, x, w: F(L).prelu(x, w), [In((2, 3, 2), "grid"), In((3,))], np_prelu, grad=False),
    Op("act_rrelu_eval", lambda L, x: F(L).rrelu(x, 0.1, 0.3, training=False), [In((3, 4))],
       lambda x: np.where(x > 0, x, 0.2 * x)),
    _kink("act_rrelu_eval_kink", lambda L, x: F(L).rrelu(x, training=False),
          lambda x: np.where(x > 0, x, (1 / 8 + 1 / 3) / 2 * x)),
    # training mode is random unless lower == upper: then every slope is that value, in both libraries
    _kink("act_rrelu_train_fixed_kink", lambda L, x: F(L).rrelu(x, 0.2, 0.2, training=True),
          lambda x: np.where(x > 0, x, 0.2 * x)),
    Op("act_rrelu_train_fixed", lambda L, x: F(L).rrelu(x, 0.3, 0.3, training=True), [In((3, 4))],
       lambda x: np.where(x > 0, x, 0.3 * x)),
    Op("act_RReLU_eval", lambda L, x: L.nn.RReLU(0.1, 0.5).eval()(x), [In((3, 4))], lambda x: np.where(x > 0, x, 0.3 * x)),
    Op("act_RReLU_train_fixed", lambda L, x: L.nn.RReLU(0.25, 0.25).train()(x), [In((3, 4))],
       lambda x: np.where(x > 0, x, 0.25 * x)),
    Op("act_PReLU_module", lambda L, x: L.nn.PReLU(3, init=-0.25).double()(x), [In((2, 3, 2), "nz")],
       lambda x: np_prelu(x, np.full(3, -0.25)), f32=False),
    # softmin and Softmax2d
    Op("act_softmin", lambda L, x: F(L).softmin(x, 1), [In((3, 4))], lambda x: np_softmax(-x, 1)),
    Op("act_softmin_dim0", lambda L, x: F(L).softmin(x, dim=0), [In((3, 4))], lambda x: np_softmax(-x, 0)),
    Op("act_softmax2d", lambda L, x: L.nn.Softmax2d()(x), [In((2, 3, 2, 2))], lambda x: np_softmax(x, -3)),
    Op("act_softmax2d_unbatched", lambda L, x: L.nn.Softmax2d()(x), [In((3, 2, 4))], lambda x: np_softmax(x, -3)),
]
