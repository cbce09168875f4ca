"""Dropout layers in train mode: the masks are random, so both libraries are held to the facts that
do not depend on the mask (the same checks run on PyTorch, which keeps the checks honest):

* Dropout: every output element is 0 or x/(1-p); the gradient of sum(w * out) is w/(1-p) where
  the element was kept and 0 where it was dropped (the same mask as the forward).
* Dropout1d/2d/3d: the same, with whole channels kept or dropped together.
* AlphaDropout: every element is a*x + b (kept) or a*alpha' + b (dropped), gradient w*a on kept
  elements; FeatureAlphaDropout the same per channel.
p = 0 and p = 1 are deterministic and compared value for value in cases_nn.py.
"""

from __future__ import annotations

import pytest

pytest.importorskip("torch")

import math

import ferrograd as fg
import numpy as np
import torch
from harness import Divergence
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

ALPHA_P = -1.7580993408473766  # -scale * alpha of SELU: what AlphaDropout sets dropped elements to

# name -> (module name, functional name, min_dims, max_dims, per_channel, alpha)
VARIANTS = {
    "Dropout": ("Dropout", "dropout", 0, 3, False, False),
    "Dropout1d": ("Dropout1d", "dropout1d", 3, 3, True, False),
    "Dropout2d": ("Dropout2d", "dropout2d", 4, 4, True, False),
    "Dropout3d": ("Dropout3d", "dropout3d", 5, 5, True, False),
    "AlphaDropout": ("AlphaDropout", "alpha_dropout", 0, 3, False, True),
    "FeatureAlphaDropout": ("FeatureAlphaDropout", "feature_alpha_dropout", 3, 4, True, True),
}


def _check_facts(name, L, x_np, w_np, p, functional):
    mod, fn, _, _, per_channel, alpha = VARIANTS[name]
    x = L.tensor(x_np.copy(), requires_grad=True)
    out = getattr(L.nn.functional, fn)(x, p, training=True) if functional else getattr(L.nn, mod)(p).train()(x)
    (out * L.tensor(w_np.copy())).sum().backward()
    o, g = out.detach().numpy().astype(np.float64), x.grad.numpy().astype(np.float64)
    xs = x_np.astype(np.float64)
    tol = 1e-5 * max(1.0, float(np.abs(xs).max(initial=0)) / (1 - p))
    if alpha:
        a = ((1 - p) * (1 + p * ALPHA_P**2)) ** -0.5
        b = -a * ALPHA_P * p
        kept_val, drop_val, gscale = a * xs + b, np.full_like(xs, a * ALPHA_P + b), a
    else:
        kept_val, drop_val, gscale = xs / (1 - p), np.zeros_like(xs), 1 / (1 - p)
    kept = np.abs(o - kept_val) <= tol
    dropped = np.abs(o - drop_val) <= tol
    where = f"{L.__name__} {name}{' (F)' if functional else ''} p={p}"
    if not (kept | dropped).all():
        raise Divergence(f"{where}: an element is neither kept nor dropped\n x {x_np!r}\n out {o!r}")
    mask = kept & ~dropped  # elements that are certainly kept (x where kept and dropped coincide is ambiguous)
    sure = kept ^ dropped
    if not np.allclose(g[sure], (w_np * gscale * mask)[sure], rtol=1e-4, atol=1e-5):
        raise Divergence(f"{where}: gradient not consistent with the forward mask\n out {o!r}\n grad {g!r}")
    if per_channel and x_np.ndim >= 3:
        lead = x_np.shape[:2]
        for idx in np.ndindex(*lead):
            k, d = kept[idx][sure[idx]], dropped[idx][sure[idx]]
            if k.any() and d.any():
                raise Divergence(f"{where}: channel {idx} partly dropped\n out {o!r}")


@st.composite
def dropout_case(draw, name):
    _, _, lo, hi, _, _ = VARIANTS[name]
    shape = draw(hnp.array_shapes(min_dims=lo, max_dims=hi, min_side=1, max_side=4))
    dt = draw(st.sampled_from([np.float32, np.float64]))
    x = draw(hnp.arrays(dt, shape, elements=st.floats(0.25, 3, width=32) | st.floats(-3, -0.25, width=32)))
    w = draw(hnp.arrays(dt, shape, elements=st.floats(-1, 1, width=32)))
    p = draw(st.sampled_from([0.1, 0.5, 0.9]) | st.floats(0.01, 0.99))
    return x, w, p, draw(st.booleans())


@pytest.mark.parametrize("name", sorted(VARIANTS))
@given(data=st.data())
def test_dropout_train_mode_facts(name, data):
    x, w, p, functional = data.draw(dropout_case(name), label="case")
    for L in (torch, fg):
        _check_facts(name, L, x, w, p, functional)


def test_alpha_constant():
    assert math.isclose(ALPHA_P, -1.0507009873554805 * 1.6732632423543772)
