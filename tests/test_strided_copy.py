"""Writes into strided views read the source in place, rows in parallel (ops/view.rs
`strided_copy`): values against numpy for strided, transposed and broadcast cases at sizes that
split across threads, and copies between overlapping views of one storage (which gather first)."""

import ferrograd as fg
import numpy as np
import pytest

rng = np.random.default_rng(8)


@pytest.mark.parametrize("key,src_shape", [((slice(None), slice(None, None, 2)), (300, 700)),
                                           ((slice(1, None, 3), slice(None, 9)), (9,)),
                                           ((Ellipsis, 5), (300, 1)),
                                           ((slice(None), slice(3, None, 5)), (280,))])
def test_setitem_into_strided_views_matches_numpy(key, src_shape):
    a = rng.standard_normal((300, 1400)).astype(np.float32)
    src = rng.standard_normal(src_shape).astype(np.float32)
    want = a.copy()
    want[key] = src if src_shape != (300, 1) else src[:, 0]
    x = fg.tensor(a)
    x[key] = fg.tensor(src if src_shape != (300, 1) else src[:, 0])
    np.testing.assert_array_equal(x.numpy(), want)


def test_copy_into_a_transposed_view_and_from_a_transposed_source():
    a, b = rng.standard_normal((500, 600)), rng.standard_normal((600, 500))
    x = fg.tensor(a)
    x.t().copy_(fg.tensor(b))
    np.testing.assert_array_equal(x.numpy(), b.T)
    y = fg.zeros(500, 600, dtype=fg.float64)
    y[:, ::3].copy_(fg.tensor(b).t()[:, ::3])
    want = np.zeros((500, 600))
    want[:, ::3] = b.T[:, ::3]
    np.testing.assert_array_equal(y.numpy(), want)


def test_copy_between_overlapping_views_of_one_storage():
    a = np.arange(40.0)
    x = fg.tensor(a)
    x[1:].copy_(x[:-1].clone().flip(0).flip(0))
    x2 = fg.tensor(a)
    x2[1::2] = x2[0::2]
    want = a.copy()
    want[1::2] = a[0::2]
    np.testing.assert_array_equal(x2.numpy(), want)
    np.testing.assert_array_equal(x.numpy(), np.r_[0.0, a[:-1]])


def test_slice_backward_of_a_sum():
    x = fg.tensor(rng.standard_normal((64, 512)), requires_grad=True)
    x[:, 1::2].sum().backward()
    want = np.zeros((64, 512))
    want[:, 1::2] = 1
    np.testing.assert_array_equal(x.grad.numpy(), want)
