"""Sums over strided views (rust/ops/kernel.rs `sum_view_runs`): each block of the view is
gathered into a small buffer and summed there, in the same blocks of 4096 as a contiguous sum,
so a view's sum must equal its contiguous copy's sum bit for bit, at every size: one block, a
full sum of many blocks (parallel), and rows longer than a block; spans that cut rows; steps,
transposes, expanded and offset views; float32 and float64; mean too."""

import ferrograd as fg
import numpy as np
import pytest

rng = np.random.default_rng(11)


def views(dtype):
    """(name, view) pairs over fresh base tensors."""
    base = fg.tensor(rng.standard_normal((512, 2048)).astype(dtype))
    cube = fg.tensor(rng.standard_normal((6, 50, 70)).astype(dtype))
    long = fg.tensor(rng.standard_normal((3, 30001)).astype(dtype))
    row = fg.tensor(rng.standard_normal((1, 9000)).astype(dtype))
    return [
        ("every other column", base[:, ::2]),
        ("every third column, offset", base[3:, 1::3]),
        ("every other row", base[::2]),
        ("transposed", base[:300, :70].t()),
        ("3-d permuted", cube.permute(2, 0, 1)),
        ("3-d sliced", cube[:, 5:45:4, 3:]),
        ("expanded", row[:, :1].expand(4, 5000)),
        ("long rows, stepped", long[:, ::2]),
        ("long rows transposed", long.t()),
        ("one element", base[5:6, 7:8]),
    ]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_view_sums_equal_their_contiguous_copies_bit_for_bit(dtype):
    for name, v in views(dtype):
        assert not v.is_contiguous() or name == "one element", name
        c = v.contiguous()
        ref = v.numpy().astype(np.float64)
        for dims in [None, -1, (-1,), 0]:
            if dims is None:
                got, want = v.sum(), c.sum()
                np_ref = ref.sum()
            else:
                got, want = v.sum(dims), c.sum(dims)
                np_ref = ref.sum(dims)
            assert got.shape == want.shape, (name, dims)
            np.testing.assert_array_equal(got.numpy(), want.numpy(), err_msg=f"{name} sum({dims})")
            tol = 1e-4 if dtype == np.float32 else 1e-10
            np.testing.assert_allclose(got.numpy(), np_ref, rtol=tol, atol=tol * np.sqrt(v.numel()), err_msg=name)
        np.testing.assert_array_equal(v.mean(-1).numpy(), c.mean(-1).numpy(), err_msg=f"{name} mean")


def test_view_sum_gradient_and_empty_views():
    x = fg.tensor(rng.standard_normal((40, 60)), requires_grad=True)
    x[:, ::3].sum(1).mean().backward()
    want = np.zeros((40, 60))
    want[:, ::3] = 1 / 40
    np.testing.assert_allclose(x.grad.numpy(), want)
    e = fg.zeros(5, 8)[:, 8:]
    assert e.sum().item() == 0.0 and e.sum(1).shape == (5,)
    assert fg.zeros(0, 8)[:, ::2].sum(1).shape == (0,)
