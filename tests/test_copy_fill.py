"""copy_, fill_ and zero_ against numpy, on the direct path (contiguous destination, same-shaped
contiguous source or one value, large enough to run in parallel) and on the general one."""

import ferrograd as fg
import numpy as np
import pytest

N = 100_003  # above the parallel grain, not a multiple of it


@pytest.mark.parametrize("n", [7, N])
def test_copy_into_an_offset_contiguous_view_writes_only_it(n):
    base = np.arange(n + 10, dtype=np.float32)
    t = fg.tensor(base.copy())
    src = np.random.default_rng(0).standard_normal(n).astype(np.float32)
    t[3:3 + n].copy_(fg.tensor(src))
    want = base.copy()
    want[3:3 + n] = src
    np.testing.assert_array_equal(t.numpy(), want)


def test_a_direct_copy_still_counts_as_a_modification_for_autograd():
    w = fg.ones(N + 10, requires_grad=True)
    t = w * 2.0
    y = t.sin()  # saves t
    with fg.no_grad():
        t[3:3 + N].copy_(fg.zeros(N))
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()


@pytest.mark.parametrize("n", [7, N])
def test_fill_and_zero_of_a_view(n):
    t = fg.ones(n + 4)
    t[2:2 + n].fill_(2.5)
    want = np.ones(n + 4, dtype=np.float32)
    want[2:2 + n] = 2.5
    np.testing.assert_array_equal(t.numpy(), want)
    t[1:].zero_()
    want[1:] = 0
    np.testing.assert_array_equal(t.numpy(), want)


def test_copy_casts_broadcasts_and_reads_strided_sources():
    t = fg.zeros(4, N // 4 + 1, dtype=fg.float64)
    src = np.random.default_rng(1).standard_normal((N // 4 + 1, 4)).astype(np.float32)
    t.copy_(fg.tensor(src).t())  # a transposed (strided) float32 source
    np.testing.assert_array_equal(t.numpy(), src.T.astype(np.float64))
    t.copy_(fg.tensor([1, 2, 3, 4]).reshape(4, 1))  # broadcast int64 column
    np.testing.assert_array_equal(t.numpy(), np.broadcast_to(np.arange(1.0, 5.0)[:, None], t.shape))
    one = fg.zeros(3)
    one.copy_(fg.tensor([7.0]))
    assert one.tolist() == [7.0] * 3


def test_copy_refuses_a_source_with_more_dimensions_even_with_one_element():
    with pytest.raises(RuntimeError):
        fg.zeros(3).copy_(fg.ones(1, 1, 1))


def test_copy_from_an_overlapping_view_of_itself():
    t = fg.arange(10.0)
    t[2:].copy_(t[:8].clone())
    np.testing.assert_array_equal(t.numpy(), np.array([0, 1, 0, 1, 2, 3, 4, 5, 6, 7], dtype=np.float32))
    t = fg.arange(10.0)
    t[2:].copy_(t[:8])  # same storage: the general path, which reads src first
    np.testing.assert_array_equal(t.numpy(), np.array([0, 1, 0, 1, 2, 3, 4, 5, 6, 7], dtype=np.float32))
