"""Convolution geometries at the edges: strides past the input, windows wholly in the padding
(numpy references from conv_reference.py, float64 gradcheck)."""

from __future__ import annotations

import ferrograd as fg
import numpy as np
import pytest
from conv_reference import np_conv, np_unfold

gradcheck = fg.autograd.gradcheck


@pytest.mark.parametrize("h, w, k, s, p, d", [
    (1, 1, (1, 1), (3, 3), (0, 0), (1, 1)),  # a stride past the whole input: one output
    (6, 1, (3, 1), (2, 3), (0, 0), (1, 1)),  # a stride wider than the row
    (1, 2, (1, 2), (1, 3), (0, 1), (1, 2)),  # windows that lie entirely in the padding
    (3, 2, (2, 3), (4, 5), (1, 1), (1, 1)),
    (5, 4, (3, 2), (3, 4), (1, 1), (2, 1)),
])
def test_strides_past_the_input_and_windows_in_the_padding(h, w, k, s, p, d):
    """These panicked in the unfolding (a phase of the stride starting past the row's end) and
    reached the user as 'internal error'; the values and gradients are numpy's."""
    rng = np.random.default_rng(h * 100 + w)
    x = rng.standard_normal((2, 3, h, w))
    wt = rng.standard_normal((4, 3, *k))
    xt, wtt = fg.tensor(x, requires_grad=True), fg.tensor(wt, requires_grad=True)
    y = fg.nn.functional.conv2d(xt, wtt, stride=s, padding=p, dilation=d)
    ref = np_conv(x, wt, stride=s, pads=[(p[0], p[0]), (p[1], p[1])], dilation=d)
    np.testing.assert_allclose(y.detach().numpy(), ref, rtol=1e-10, atol=1e-12)
    assert gradcheck(lambda a, b: fg.nn.functional.conv2d(a, b, stride=s, padding=p, dilation=d), (xt, wtt))
    cols = fg.nn.functional.unfold(fg.tensor(x), k, dilation=d, padding=p, stride=s)
    np.testing.assert_allclose(cols.numpy(), np_unfold(x, k, d, p, s), rtol=1e-12)
