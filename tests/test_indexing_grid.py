"""Advanced indexing and index_add on the index grid (rust/ops/index_grid.rs): results against
numpy for the layouts the grid walks differently (index dims first or in place, one element per
row with and without runs of bases, strided views), at sizes that take the parallel paths, and
the gradients (scatter in parallel over the leading dims) against numpy's np.add.at."""

import ferrograd as fg
import ferrograd.nn.functional as F
import numpy as np
import pytest
from ferrograd.autograd import gradcheck, gradgradcheck

rng = np.random.default_rng(11)
BIG = rng.standard_normal((16, 40, 24, 30))


def keys(a):
    i40, i24, i30 = rng.integers(0, 40, 50), rng.integers(0, 24, 7), rng.integers(0, 30, 45)
    run = np.r_[2, 1, np.arange(30), 28, 27]  # reflect padding's table: runs of bases
    return {
        "dim0": (rng.integers(0, 16, 33),),
        "dim1": (slice(None), i40),
        "last random": (Ellipsis, i30),
        "last runs": (Ellipsis, run),
        "middle 2-d index": (slice(None), slice(None), i24.reshape(7, 1) * np.ones((1, 3), int)),
        "adjacent pair": (slice(None), i40[:7], i24),
        "split pair (index dims first)": (i40[:7] % 16, slice(None), i24),
        "strided view": (slice(None, None, 2), slice(None), slice(1, None, 3), i30[:9]),
    }


@pytest.mark.parametrize("name", list(keys(BIG)))
def test_gather_and_its_gradient_match_numpy(name):
    key = keys(BIG)[name]
    fkey = tuple(fg.tensor(k) if isinstance(k, np.ndarray) else k for k in key)
    want = BIG[key]
    x = fg.tensor(BIG, requires_grad=True)
    out = x[fkey]
    assert tuple(out.shape) == want.shape
    np.testing.assert_array_equal(out.detach().numpy(), want)
    g = rng.standard_normal(want.shape)
    out.backward(fg.tensor(g))
    expect = np.zeros_like(BIG)
    np.add.at(expect, key, g)
    np.testing.assert_allclose(x.grad.numpy(), expect, rtol=1e-12, atol=1e-12)


def test_assignment_through_an_index_matches_numpy():
    a = BIG.copy()
    x = fg.tensor(BIG)
    key = (slice(None), np.r_[3, 4, 5, 9], slice(2, 20))
    vals = rng.standard_normal(a[key].shape)
    a[key] = vals
    x[(slice(None), fg.tensor(np.r_[3, 4, 5, 9]), slice(2, 20))] = fg.tensor(vals)
    np.testing.assert_array_equal(x.numpy(), a)


def test_reflect_and_replicate_padding_match_numpy():
    a = rng.standard_normal((4, 6, 33, 35)).astype(np.float32)
    for mode, np_mode in (("reflect", "reflect"), ("replicate", "edge"), ("circular", "wrap")):
        got = F.pad(fg.tensor(a), (2, 3, 1, 4), mode=mode).numpy()
        np.testing.assert_array_equal(got, np.pad(a, ((0, 0), (0, 0), (1, 4), (2, 3)), mode=np_mode))


@pytest.mark.parametrize("dim", [0, 1, 2])
def test_index_add_matches_numpy_with_repeats_and_is_one_node(dim):
    x = rng.standard_normal((6, 50, 40))
    idx = rng.integers(0, x.shape[dim], 70)
    shape = list(x.shape)
    shape[dim] = idx.size
    src = rng.standard_normal(shape)
    want = x.copy()
    np.add.at(want, (slice(None),) * dim + (idx,), src)
    out = fg.tensor(x).index_add(dim, fg.tensor(idx), fg.tensor(src))
    np.testing.assert_allclose(out.numpy(), want, rtol=1e-12, atol=1e-12)
    xt, st = fg.tensor(x, requires_grad=True), fg.tensor(src, requires_grad=True)
    assert xt.index_add(dim, fg.tensor(idx), st).grad_fn.name() == "IndexAddBackward0"


@pytest.mark.parametrize("dim", [0, 1, 2])
def test_index_add_gradient_of_a_sum_or_mean(dim):
    """The incoming gradient one value expanded: the source's gradient is that value at every
    element (a view of it, not a gather), of the source's shape."""
    x = rng.standard_normal((6, 50, 40))
    idx = rng.integers(0, x.shape[dim], 70)
    shape = list(x.shape)
    shape[dim] = idx.size
    for reduce, value in (("sum", 1.0), ("mean", 1.0 / x.size)):
        xt, st = fg.tensor(x, requires_grad=True), fg.tensor(rng.standard_normal(shape), requires_grad=True)
        getattr(xt.index_add(dim, fg.tensor(idx), st), reduce)().backward()
        assert st.grad.shape == tuple(shape)
        np.testing.assert_array_equal(st.grad.numpy(), np.full(shape, value))
        np.testing.assert_array_equal(xt.grad.numpy(), np.full(x.shape, value))
        st.grad.add_(1.0)  # the accumulated gradient is the leaf's own, writable
        np.testing.assert_array_equal(st.grad.numpy(), np.full(shape, value + 1.0))


def test_index_add_gradients_twice():
    x = fg.rand(3, 5, 4, dtype=fg.float64, requires_grad=True)
    s = fg.rand(3, 6, 4, dtype=fg.float64, requires_grad=True)
    i = fg.tensor([0, 2, 2, 4, 1, 2])
    assert gradcheck(lambda a, b: a.index_add(1, i, b, alpha=0.5), [x, s])
    assert gradgradcheck(lambda a, b: (a.index_add(1, i, b) ** 2).sum(), [x, s])
