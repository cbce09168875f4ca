"""Reflect and replicate padding as one op (rust/ops/pad_edges.rs): values against numpy's np.pad
('reflect' and 'edge') over 1, 2 and 3 padded dims, with crops (negative amounts), a
non-contiguous input and sizes that split across threads; the gradient against np.add.at of the
same positions; PyTorch's node names; gradcheck and gradgradcheck (the recorded rule)."""

import ferrograd as fg
import ferrograd.nn.functional as F
import numpy as np
import pytest
from ferrograd.autograd import gradcheck, gradgradcheck

rng = np.random.default_rng(9)
NUMPY_MODE = {"reflect": "reflect", "replicate": "edge"}


def numpy_pad(a, pad, mode):
    """np.pad of the last len(pad) // 2 dims by F.pad's amounts (last dim first; negative crops)."""
    k = len(pad) // 2
    widths = [(0, 0)] * (a.ndim - k) + [(pad[2 * (k - 1 - d)], pad[2 * (k - 1 - d) + 1]) for d in range(k)]
    grown = np.pad(a, [(max(lo, 0), max(hi, 0)) for lo, hi in widths], mode=NUMPY_MODE[mode])
    return grown[tuple(slice(max(-lo, 0), grown.shape[d] - max(-hi, 0)) for d, (lo, hi) in enumerate(widths))]


CASES = [((2, 3, 7), (2, 3)), ((2, 3, 5, 6), (1, 2, 3, 0)), ((1, 2, 4, 5, 6), (1, 1, 2, 0, 3, 2)),
         ((3, 9, 10), (-2, 4, 3, -1)), ((32, 64, 32, 32), (2, 2, 2, 2)), ((0, 3, 4), (1, 1))]


@pytest.mark.parametrize("shape,pad", CASES)
@pytest.mark.parametrize("mode", ["reflect", "replicate"])
def test_values_and_gradient_match_numpy(shape, pad, mode):
    a = rng.standard_normal(shape)
    x = fg.tensor(a, requires_grad=True)
    out = F.pad(x, pad, mode=mode)
    want = numpy_pad(a, pad, mode)
    np.testing.assert_array_equal(out.detach().numpy(), want)
    # The gradient: each output position's g added at the input position it shows.
    where = numpy_pad(np.arange(a.size).reshape(shape), pad, mode)
    g = rng.standard_normal(want.shape)
    out.backward(fg.tensor(g))
    expect = np.zeros(a.size)
    np.add.at(expect, where.ravel(), g.ravel())
    np.testing.assert_allclose(x.grad.numpy(), expect.reshape(shape), rtol=1e-12, atol=1e-12)


def test_non_contiguous_input_and_float32():
    a = rng.standard_normal((4, 6, 9)).astype(np.float32)
    x = fg.tensor(a).transpose(1, 2)
    np.testing.assert_array_equal(F.pad(x, (2, 1, 1, 2), mode="reflect").numpy(), numpy_pad(a.transpose(0, 2, 1), (2, 1, 1, 2), "reflect"))


@pytest.mark.parametrize("mode,name", [("reflect", "ReflectionPad{}DBackward0"), ("replicate", "ReplicationPad{}DBackward0")])
def test_node_names_and_double_backward(mode, name):
    for k, shape in ((1, (2, 3, 5)), (2, (1, 2, 4, 5)), (3, (1, 1, 3, 4, 4))):
        x = fg.tensor(rng.standard_normal(shape), requires_grad=True)
        pad = (2, 1, 1, 2, 1, 1)[: 2 * k]
        assert F.pad(x, pad, mode=mode).grad_fn.name() == name.format(k)
        assert gradcheck(lambda t, pad=pad: F.pad(t, pad, mode=mode), (x,))
        assert gradgradcheck(lambda t, pad=pad: F.pad(t, pad, mode=mode), (x,))


@pytest.mark.parametrize("dtype", [fg.float16, fg.bfloat16])
def test_half_gradients_add_in_float32(dtype):
    a = rng.standard_normal((2, 3, 6))
    x = fg.tensor(a).to(dtype).requires_grad_()
    F.pad(x, (2, 3), mode="reflect").sum().backward()
    assert x.grad.dtype == dtype
    where = numpy_pad(np.arange(a.size).reshape(a.shape), (2, 3), "reflect")
    np.testing.assert_array_equal(x.grad.float().numpy().ravel(), np.bincount(where.ravel(), minlength=a.size))
