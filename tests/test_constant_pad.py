"""Constant padding in one Rust pass (`rust/ops/pad.rs`): numpy's np.pad as the reference over
dtypes, padded dims, crops mixed with growth and strided inputs; the gradient by float64
gradcheck (to the second order)."""

import ferrograd as fg
import numpy as np
import pytest
from ferrograd.autograd import gradcheck, gradgradcheck

RNG = np.random.default_rng(11)


def _reference(a, pad, value):
    """np.pad of F.pad's (last dim first) amounts, negative ones cropping first."""
    for k in range(len(pad) // 2):
        d = a.ndim - 1 - k
        left, right = pad[2 * k], pad[2 * k + 1]
        a = a[(slice(None),) * d + (slice(max(-left, 0), a.shape[d] - max(-right, 0)),)]
        width = [(0, 0)] * a.ndim
        width[d] = (max(left, 0), max(right, 0))
        a = np.pad(a, width, constant_values=value)
    return a


@pytest.mark.parametrize("shape,pad", [
    ((32, 64, 8, 8), (1, 1, 1, 1)),
    ((2, 3, 5), (2, 0)),
    ((2, 3, 5), (0, 3, 1, 2, 1, 0)),
    ((4, 6), (-1, 2, 3, -2)),  # crops and growth together
    ((7,), (5, 5)),
    ((3, 0, 4), (1, 1, 2, 2)),  # an empty dim padded into a nonempty one
])
@pytest.mark.parametrize("dtype", ["float32", "float64", "int64", "uint8", "bool"])
def test_constant_pad_matches_np_pad(shape, pad, dtype):
    a = RNG.standard_normal(shape) * 5
    a = (a > 0) if dtype == "bool" else a.astype(dtype)
    value = True if dtype == "bool" else 7
    got = fg.nn.functional.pad(fg.tensor(a), pad, value=value)
    assert got.dtype == getattr(fg, dtype)
    np.testing.assert_array_equal(got.numpy(), _reference(a, pad, value))


@pytest.mark.parametrize("view", ["transposed", "sliced", "expanded"])
def test_constant_pad_reads_any_strides(view):
    base = RNG.standard_normal((6, 8)).astype(np.float32)
    t = fg.tensor(base)
    x, xn = {
        "transposed": (t.t(), base.T),
        "sliced": (t[1:, ::3], base[1:, ::3]),
        "expanded": (t[:1].expand(4, 8), np.broadcast_to(base[:1], (4, 8))),
    }[view]
    got = fg.nn.functional.pad(x, (2, 1, 1, 3), value=-1.5)
    np.testing.assert_array_equal(got.numpy(), _reference(np.ascontiguousarray(xn), (2, 1, 1, 3), -1.5))


def test_constant_pad_gradient():
    x = fg.tensor(RNG.standard_normal((2, 3, 4)), requires_grad=True)
    f = lambda x: fg.nn.functional.pad(x, (1, 2, -1, 1), value=0.5) ** 2  # noqa: E731
    assert gradcheck(f, (x,))
    assert gradgradcheck(f, (x,))
    assert fg.nn.functional.pad(x, (1, 1)).grad_fn.name() == "ConstantPadNdBackward0"


def test_zero_pad_module_and_a_new_tensor_without_padding():
    x = fg.ones(1, 1, 2, 2)
    assert fg.nn.ZeroPad2d(1)(x).sum().item() == 4.0 and tuple(fg.nn.ZeroPad2d(1)(x).shape) == (1, 1, 4, 4)
    y = fg.nn.functional.pad(x, (0, 0))
    y[0, 0, 0, 0] = 5.0
    assert x[0, 0, 0, 0].item() == 1.0


def test_padding_an_input_with_an_empty_last_dim():
    """Rows of no elements (shape (2, 0)): only the padding is written (it read past the
    data's end and panicked; found by the differential harness)."""
    for shape, pad in [((2, 0), (0, 1)), ((3, 2, 0), (1, 2)), ((2, 0), (1, 1, 1, 0))]:
        x = fg.zeros(*shape)
        got = fg.nn.functional.pad(x, pad, value=2.5)
        np_pad = [(0, 0)] * (len(shape) - len(pad) // 2) + [(pad[2 * k], pad[2 * k + 1]) for k in reversed(range(len(pad) // 2))]
        np.testing.assert_array_equal(got.numpy(), np.pad(np.zeros(shape, np.float32), np_pad, constant_values=2.5))
