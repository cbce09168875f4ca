"""gather and scatter_add along a dim (`rust/ops/positions.rs`): numpy's take_along_axis and a
loop as the references over shapes, dims, dtypes and input strides; gradients by float64
gradcheck (to the second order); PyTorch's checks and messages."""

import ferrograd as fg
import numpy as np
import pytest
from ferrograd.autograd import gradcheck, gradgradcheck

RNG = np.random.default_rng(7)


def _case(shape, dim, index_shape):
    x = RNG.standard_normal(shape)
    idx = RNG.integers(0, shape[dim], index_shape)
    return x, idx


@pytest.mark.parametrize("shape,dim,index_shape", [
    ((512, 2048), 1, (512, 8)),
    ((6, 5), 0, (9, 5)),  # longer than the input along dim
    ((6, 5), 1, (3, 2)),  # smaller in every dim
    ((4, 5, 6), 1, (4, 7, 6)),
    ((4, 5, 6), -1, (2, 5, 3)),
    ((3, 1, 4, 2), 2, (3, 1, 5, 2)),
    ((7,), 0, (11,)),
])
@pytest.mark.parametrize("dtype", ["float32", "float64", "int64", "int32", "bool", "float16"])
def test_gather_matches_take_along_axis(shape, dim, index_shape, dtype):
    x, idx = _case(shape, dim, index_shape)
    x = (x > 0) if dtype == "bool" else (x * 10).astype(dtype)
    # take_along_axis needs index no larger than x apart from dim; gather reads the leading block.
    d = dim % len(shape)
    block = x[tuple(slice(0, n) if k != d else slice(None) for k, n in enumerate(index_shape))]
    want = np.take_along_axis(block, idx, d)
    got = fg.tensor(x).gather(dim, fg.tensor(idx))
    assert got.dtype == getattr(fg, dtype) and tuple(got.shape) == index_shape
    np.testing.assert_array_equal(got.numpy(), want)


@pytest.mark.parametrize("view", ["transposed", "sliced", "expanded", "offset"])
def test_gather_reads_any_strides(view):
    base = RNG.standard_normal((6, 8)).astype(np.float32)
    t = fg.tensor(base)
    x, xn = {
        "transposed": (t.t(), base.T),
        "sliced": (t[:, ::3], base[:, ::3]),
        "expanded": (t[:1].expand(5, 8), np.broadcast_to(base[:1], (5, 8))),
        "offset": (t[2:, 3:], base[2:, 3:]),
    }[view]
    idx = RNG.integers(0, xn.shape[1], (xn.shape[0], 4))
    np.testing.assert_array_equal(x.gather(1, fg.tensor(idx)).numpy(), np.take_along_axis(xn, idx, 1))


def test_gather_gradients_by_gradcheck():
    x = fg.tensor(RNG.standard_normal((4, 5, 3)), requires_grad=True)
    idx = fg.tensor(RNG.integers(0, 5, (4, 7, 2)))  # repeated indices: gradients add up
    f = lambda x: x.gather(1, idx) ** 2  # noqa: E731
    assert gradcheck(f, (x,))
    assert gradgradcheck(f, (x,))
    y = x.gather(1, idx)
    assert y.grad_fn.name() == "GatherBackward0"


def test_gather_gradient_of_a_view_reaches_the_base():
    base = fg.tensor(RNG.standard_normal((5, 6)), requires_grad=True)
    idx = np.array([[0, 0, 4], [1, 2, 2], [3, 3, 3]])
    base.t()[1:4].gather(1, fg.tensor(idx)).sum().backward()
    want = np.zeros((6, 5))
    for r in range(3):
        for c in idx[r]:
            want[1 + r, c] += 1
    np.testing.assert_array_equal(base.grad.numpy(), want.T)


@pytest.mark.parametrize("index,message", [
    ([[3]], "index 3 is out of bounds for dimension 1 with size 3"),
    ([[-1]], "index -1 is out of bounds for dimension 1 with size 3"),
    ([[0], [0], [0]], "Size does not match at dimension 0"),
    ([0], "Index tensor must have the same number of dimensions as input tensor"),
])
def test_gather_refuses_what_pytorch_refuses(index, message):
    with pytest.raises(RuntimeError, match=message):
        fg.zeros(2, 3).gather(1, fg.tensor(index))


def test_gather_takes_an_int64_or_int32_index():
    x = fg.tensor([[1.0, 2.0, 3.0]])
    assert x.gather(1, fg.tensor([[2, 0]], dtype=fg.int32)).tolist() == [[3.0, 1.0]]
    with pytest.raises(RuntimeError, match="Expected dtype int32/int64 for index"):
        x.gather(1, fg.tensor([[0.0]]))


def test_gather_of_0d_and_empty_index():
    assert fg.tensor(5.0).gather(0, fg.tensor(0)).item() == 5.0
    assert tuple(fg.zeros(2, 3).gather(1, fg.zeros(2, 0, dtype=fg.int64)).shape) == (2, 0)


# ----------------------------------------------------------------------------- scatter_add


def _scatter_add_reference(x, dim, idx, src):
    out = x.copy()
    for coord in np.ndindex(*idx.shape):
        at = list(coord)
        at[dim] = idx[coord]
        out[tuple(at)] += src[coord]
    return out


@pytest.mark.parametrize("shape,dim,index_shape,src_shape", [
    ((512, 2048), 1, (512, 8), (512, 8)),
    ((6, 5), 0, (9, 5), (9, 5)),  # repeated destinations accumulate
    ((4, 5, 6), 1, (3, 7, 2), (5, 7, 3)),  # src larger than index: its leading block
    ((4, 5, 6), -1, (4, 5, 9), (4, 5, 9)),
    ((7,), 0, (11,), (12,)),
])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_scatter_add_matches_a_loop(shape, dim, index_shape, src_shape, dtype):
    d = dim % len(shape)
    x = RNG.standard_normal(shape).astype(dtype)
    src = RNG.standard_normal(src_shape).astype(dtype)
    idx = RNG.integers(0, shape[d], index_shape)
    got = fg.tensor(x).scatter_add(dim, fg.tensor(idx), fg.tensor(src))
    np.testing.assert_allclose(got.numpy(), _scatter_add_reference(x, d, idx, src), rtol=1e-6)


def test_scatter_add_gradients_by_gradcheck():
    x = fg.tensor(RNG.standard_normal((4, 5, 3)), requires_grad=True)
    src = fg.tensor(RNG.standard_normal((5, 7, 3)), requires_grad=True)  # larger than index
    idx = fg.tensor(RNG.integers(0, 5, (4, 7, 2)))
    f = lambda x, s: x.scatter_add(1, idx, s) ** 2  # noqa: E731
    assert gradcheck(f, (x, src))
    assert gradgradcheck(f, (x, src))
    assert x.scatter_add(1, idx, src).grad_fn.name() == "ScatterAddBackward0"


@pytest.mark.parametrize("index,src,message", [
    ([[0, 1, 2, 0]], (1, 3), "to be no larger size than src"),
    ([[5]], (1, 3), "index 5 is out of bounds for dimension 1 with size 3"),
    ([[-1]], (1, 3), "index -1 is out of bounds"),
    ([0], (1, 3), "Index tensor must have the same number of dimensions as self tensor"),
])
def test_scatter_add_refuses_what_pytorch_refuses(index, src, message):
    with pytest.raises(RuntimeError, match=message):
        fg.zeros(2, 3).scatter_add(1, fg.tensor(index), fg.ones(*src))
    with pytest.raises(RuntimeError, match="Expected self.dtype to be equal to src.dtype"):
        fg.zeros(2, 3).scatter_add(1, fg.tensor([[0]]), fg.ones(1, 3, dtype=fg.float64))


def test_scatter_add_in_place_and_int32_index():
    a = fg.zeros(2, 3)
    a.scatter_add_(1, fg.tensor([[2, 2]], dtype=fg.int32), fg.ones(1, 2))
    assert a.tolist() == [[0.0, 0.0, 2.0], [0.0, 0.0, 0.0]]


def test_scatter_add_index_larger_than_self_names_both_limits():
    # PyTorch words the self and src limits of a scatter in one message.
    with pytest.raises(RuntimeError, match=r"Expected index \[3, 1\] to be no larger than self \[2, 3\] apart from dimension 1 and"):
        fg.zeros(2, 3).scatter_add(1, fg.zeros(3, 1, dtype=fg.int64), fg.ones(3, 1))
    with pytest.raises(RuntimeError, match=r"Expected index \[3, 1\] to be no larger than self"):
        fg.zeros(2, 3, dtype=fg.int64).scatter_add(1, fg.zeros(3, 1, dtype=fg.int64), fg.ones(3, 1, dtype=fg.int64))
