"""Op-table rows for the pooling family (nn/_functional_pool.py), gathered by op_table.py. Each row:
a numpy reference (tests/pool_reference.py), float64 gradcheck, and PyTorch's values and gradients
in tests/golden/op_table_golden.json (ids start with "pool_"; regenerate with
`PYTHONPATH=python /tmp/torchvenv/bin/python tests/golden/make_op_golden.py pool_`).

Max-like rows draw "distinct" inputs so finite differences see one maximum per window; the
"_ties" and "_nan" rows check PyTorch's first-maximum and NaN rules (indices included) against
the golden values only, where gradcheck means nothing.
"""

from __future__ import annotations

from op_table import In, Op
from pool_reference import np_adaptive, np_avg_pool, np_lp_pool, np_max_pool, np_unpool


def F(L):
    return L.nn.functional


def _unpool_roundtrip(L, x, n, k, s, p):
    """max_pool with indices, then max_unpool back to the input's size."""
    out, idx = getattr(F(L), f"max_pool{n}d")(x, k, s, p, return_indices=True)
    return getattr(F(L), f"max_unpool{n}d")(out * 1.5, idx, k, s, p, output_size=list(x.shape[-n:]))


def _unpool_ref(x, n, k, s, p):
    out, idx = np_max_pool(x, (k,) * n, (s,) * n, (p,) * n, (1,) * n)
    return np_unpool(out * 1.5, idx, x.shape[-n:])


ROWS = [
    # max pool: values and indices
    Op("pool_max1d", lambda L, x: F(L).max_pool1d(x, 3, 2, 1, return_indices=True), [In((2, 3, 9), "distinct")],
       lambda x: np_max_pool(x, (3,), (2,), (1,), (1,))),
    Op("pool_max1d_dilated_ceil", lambda L, x: F(L).max_pool1d(x, 2, 2, 1, 2, ceil_mode=True), [In((2, 8), "distinct")],
       lambda x: np_max_pool(x, (2,), (2,), (1,), (2,), True)[0]),
    Op("pool_max2d_ceil", lambda L, x: F(L).max_pool2d(x, (3, 2), (2, 1), 1, ceil_mode=True, return_indices=True),
       [In((1, 2, 6, 5), "distinct")], lambda x: np_max_pool(x, (3, 2), (2, 1), (1, 1), (1, 1), True)),
    Op("pool_max3d", lambda L, x: F(L).max_pool3d(x, 2, return_indices=True), [In((2, 2, 4, 4, 6), "distinct")],
       lambda x: np_max_pool(x, (2, 2, 2), (2, 2, 2), (0, 0, 0), (1, 1, 1))),
    Op("pool_max3d_pad_dilation_ceil", lambda L, x: F(L).max_pool3d(x, (3, 2, 2), (2, 1, 2), (1, 1, 0), (1, 2, 1), True, True),
       [In((1, 2, 5, 5, 4), "distinct")], lambda x: np_max_pool(x, (3, 2, 2), (2, 1, 2), (1, 1, 0), (1, 2, 1), True)),
    Op("pool_max3d_unbatched", lambda L, x: F(L).max_pool3d(x, (1, 2, 2)), [In((3, 2, 4, 5), "distinct")],
       lambda x: np_max_pool(x, (1, 2, 2), (1, 2, 2), (0, 0, 0), (1, 1, 1))[0]),
    Op("pool_max1d_ties", lambda L, x: F(L).max_pool1d(x, 3, 1, 1, return_indices=True), [In((2, 3, 8), "ties")],
       lambda x: np_max_pool(x, (3,), (1,), (1,), (1,)), grad=False),
    Op("pool_max3d_ties", lambda L, x: F(L).max_pool3d(x, 2, 1, return_indices=True), [In((1, 2, 3, 3, 4), "ties")],
       lambda x: np_max_pool(x, (2, 2, 2), (1, 1, 1), (0, 0, 0), (1, 1, 1)), grad=False),
    Op("pool_max3d_nan", lambda L, x: F(L).max_pool3d(x, 2, 1, 1, return_indices=True), [In((1, 1, 3, 3, 3), "withnan")],
       lambda x: np_max_pool(x, (2, 2, 2), (1, 1, 1), (1, 1, 1), (1, 1, 1)), grad=False),
    # average pool
    Op("pool_avg1d", lambda L, x: F(L).avg_pool1d(x, 3, 2, 1), [In((2, 3, 9))], lambda x: np_avg_pool(x, (3,), (2,), (1,))),
    Op("pool_avg1d_ceil_exclude_pad", lambda L, x: F(L).avg_pool1d(x, 3, 2, 1, True, False), [In((2, 8))],
       lambda x: np_avg_pool(x, (3,), (2,), (1,), True, False)),
    Op("pool_avg3d", lambda L, x: F(L).avg_pool3d(x, 2), [In((2, 2, 4, 4, 6))], lambda x: np_avg_pool(x, (2,) * 3, (2,) * 3, (0,) * 3)),
    Op("pool_avg3d_ceil_pad", lambda L, x: F(L).avg_pool3d(x, 3, 2, 1, ceil_mode=True), [In((1, 2, 5, 4, 5))],
       lambda x: np_avg_pool(x, (3,) * 3, (2,) * 3, (1,) * 3, True)),
    Op("pool_avg3d_exclude_pad", lambda L, x: F(L).avg_pool3d(x, (2, 3, 2), 1, (1, 1, 0), False, False), [In((1, 2, 3, 4, 3))],
       lambda x: np_avg_pool(x, (2, 3, 2), (1,) * 3, (1, 1, 0), False, False)),
    Op("pool_avg3d_divisor", lambda L, x: F(L).avg_pool3d(x, 2, 1, 1, divisor_override=3), [In((3, 3, 4, 3))],
       lambda x: np_avg_pool(x, (2,) * 3, (1,) * 3, (1,) * 3, divisor=3)),
    # adaptive pools
    Op("pool_adaptive_avg1d", lambda L, x: F(L).adaptive_avg_pool1d(x, 4), [In((2, 3, 7))], lambda x: np_adaptive(x, (4,), "avg")),
    Op("pool_adaptive_avg1d_grow", lambda L, x: F(L).adaptive_avg_pool1d(x, 5), [In((3, 3))], lambda x: np_adaptive(x, (5,), "avg")),
    Op("pool_adaptive_avg3d", lambda L, x: F(L).adaptive_avg_pool3d(x, (2, 3, 2)), [In((2, 2, 5, 4, 3))],
       lambda x: np_adaptive(x, (2, 3, 2), "avg")),
    Op("pool_adaptive_avg3d_keep", lambda L, x: F(L).adaptive_avg_pool3d(x, (None, 2, 1)), [In((2, 3, 4, 5))],
       lambda x: np_adaptive(x, (3, 2, 1), "avg")),
    Op("pool_adaptive_avg3d_global", lambda L, x: F(L).adaptive_avg_pool3d(x, 1), [In((2, 2, 3, 2, 3))],
       lambda x: np_adaptive(x, (1, 1, 1), "avg")),
    Op("pool_adaptive_max1d", lambda L, x: F(L).adaptive_max_pool1d(x, 3, return_indices=True), [In((2, 3, 7), "distinct")],
       lambda x: np_adaptive(x, (3,), "max")),
    Op("pool_adaptive_max2d", lambda L, x: F(L).adaptive_max_pool2d(x, (3, 2), return_indices=True), [In((2, 2, 5, 7), "distinct")],
       lambda x: np_adaptive(x, (3, 2), "max")),
    Op("pool_adaptive_max2d_keep", lambda L, x: F(L).adaptive_max_pool2d(x, (None, 3)), [In((2, 4, 5), "distinct")],
       lambda x: np_adaptive(x, (4, 3), "max")[0]),
    Op("pool_adaptive_max3d", lambda L, x: F(L).adaptive_max_pool3d(x, (2, 1, 3), return_indices=True),
       [In((1, 2, 4, 3, 5), "distinct")], lambda x: np_adaptive(x, (2, 1, 3), "max")),
    Op("pool_adaptive_max3d_ties", lambda L, x: F(L).adaptive_max_pool3d(x, 2, return_indices=True), [In((1, 2, 3, 4, 3), "ties")],
       lambda x: np_adaptive(x, (2, 2, 2), "max"), grad=False),
    Op("pool_adaptive_max1d_nan", lambda L, x: F(L).adaptive_max_pool1d(x, 3, return_indices=True), [In((2, 3, 7), "withnan")],
       lambda x: np_adaptive(x, (3,), "max"), grad=False),
    # max unpool (through max_pool's indices)
    Op("pool_max_unpool1d", lambda L, x: _unpool_roundtrip(L, x, 1, 2, 2, 0), [In((2, 3, 8), "distinct")],
       lambda x: _unpool_ref(x, 1, 2, 2, 0)),
    Op("pool_max_unpool2d", lambda L, x: _unpool_roundtrip(L, x, 2, 2, 2, 0), [In((1, 2, 4, 6), "distinct")],
       lambda x: _unpool_ref(x, 2, 2, 2, 0)),
    Op("pool_max_unpool2d_overlap", lambda L, x: _unpool_roundtrip(L, x, 2, 3, 2, 1), [In((1, 2, 5, 6), "distinct")],
       lambda x: _unpool_ref(x, 2, 3, 2, 1), grad=False,
       note="overlapping windows pick one maximum twice: the later write wins, both get the gradient (PyTorch's gather)"),
    Op("pool_max_unpool3d", lambda L, x: _unpool_roundtrip(L, x, 3, 2, 2, 0), [In((1, 2, 4, 4, 5), "distinct")],
       lambda x: _unpool_ref(x, 3, 2, 2, 0)),
    # power-average pool
    Op("pool_lp1d", lambda L, x: F(L).lp_pool1d(x, 2, 3, 2), [In((2, 3, 9), "nz")], lambda x: np_lp_pool(x, 2, (3,), (2,))),
    Op("pool_lp2d_p3_ceil", lambda L, x: F(L).lp_pool2d(x, 3, (2, 3), 2, True), [In((1, 2, 5, 7), "pos")],
       lambda x: np_lp_pool(x, 3, (2, 3), (2, 2), True)),
    Op("pool_lp3d", lambda L, x: F(L).lp_pool3d(x, 1.5, 2), [In((1, 2, 4, 4, 4), "pos")], lambda x: np_lp_pool(x, 1.5, (2,) * 3, (2,) * 3)),
]
