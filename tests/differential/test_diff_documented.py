"""Where ferrograd differs from PyTorch on purpose (README "Where PyTorch has a known trap" and
"Limitations"). Each case is run through the same check; when it diverges, the test is skipped
with the README line as the reason, after asserting the divergence is the documented one
(ferrograd raises, PyTorch does not). These inputs are not drawn by the property tests."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")

import numpy as np
from harness import Args, Case, Divergence, T, check
from hypothesis import strategies as st

_X = T(np.arange(6, dtype=np.float32).reshape(2, 3), grad=True)
_X3 = T(np.ones((2, 3, 4), np.float32))


def _view_inplace(L, x):
    y = x * 1
    y[0].add_(1.0)  # an in-place op on a view of a tensor in the graph
    return y


def _create_graph(L, x):
    (g,) = L.autograd.grad((x * x).sum(), [x], create_graph=True)
    return g


DOCUMENTED = [
    ("F.dropout without training", lambda L, x: L.nn.functional.dropout(x, 0.5), [_X],
     ("README: `F.dropout` and friends take `training` with no default (PyTorch's default `True` keeps dropout on "
     "after `eval()`, issue #26338)")),
    ("Dropout2d on 3-D input", lambda L, x: L.nn.Dropout2d(0.5).eval()(x), [_X3],
     ("README: `Dropout2d` given a 3-D input is an error that names the fix (PyTorch silently treats it as (N, C, L), "
     "issue #69801)")),
    ("mse_loss with a broadcast target", lambda L, x, y: L.nn.functional.mse_loss(x, y),
     [_X, T(np.ones((3,), np.float32))],
     ("README: Elementwise losses refuse a target whose shape differs from the input instead of broadcasting to a "
     "wrong loss")),
    ("l1_loss with a broadcast target", lambda L, x, y: L.nn.functional.l1_loss(x, y),
     [_X, T(np.ones((1, 3), np.float32))],
     "README: Elementwise losses refuse a target whose shape differs from the input"),
    ("in-place op on a view of a graph tensor", _view_inplace, [_X],
     "README: An in-place op on a view of a tensor in the graph is refused (PyTorch rewrites the base's history)"),
    ("create_graph=True", _create_graph, [_X], ("README Limitations: first-order gradients only (`create_graph=True` "
     "is refused)")),
    ("negative slice step", lambda L, x: x[::-1], [_X], "negative slice steps: PyTorch refuses them too"),
]


@pytest.mark.parametrize("name,fn,inputs,readme", DOCUMENTED, ids=[d[0] for d in DOCUMENTED])
def test_documented_difference(name, fn, inputs, readme):
    try:
        check(Case(name, fn, st.nothing()), Args(list(inputs)))
    except Divergence as e:
        assert "ferrograd raised" in str(e), f"{name}: not the documented refusal: {e}"
        pytest.skip(f"documented difference: {readme}")
