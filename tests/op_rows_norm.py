"""Op-table rows for the norm/lazy family (instance_norm in both modes, rms_norm, local response
norm, CrossMapLRN2d, bilinear, embedding_bag), gathered by op_table.py. Each row: a numpy reference
(tests/norm_reference.py), float64 gradcheck, and PyTorch's values in tests/golden/op_table_golden.json
(ids start with "norm_"; regenerate with
`PYTHONPATH=python /tmp/torchvenv/bin/python tests/golden/make_op_golden.py norm_`).
"""

from __future__ import annotations

import numpy as np
from norm_reference import (
    np_bilinear,
    np_cross_map_lrn2d,
    np_embedding_bag,
    np_instance_norm,
    np_instance_norm_eval,
    np_local_response_norm,
    np_rms_norm,
)
from op_table import In, Op


def F(L):
    return L.nn.functional


def _offsets(L, values):
    return L.tensor(values, dtype=L.int64)


def _set(L, m, **tensors):
    """Gives module m the given parameter values (copies: these inputs get no gradient)."""
    for name, t in tensors.items():
        setattr(m, name, L.nn.Parameter(t.detach().clone()))
    return m


def _lazy_linear(L, x, w, b):
    m = L.nn.LazyLinear(3, dtype=x.dtype)
    with L.no_grad():
        m(x)  # materialises: in_features from x
    return _set(L, m, weight=w, bias=b)(x)


def _lazy_norm_eval(L, cls, x):
    """A lazy norm trained on x once (running stats from x), then in eval mode."""
    m = getattr(L.nn, cls)(dtype=x.dtype)
    m(x)
    return m.eval()(x)


_OFFS = [0, 2, 2, 5]  # a bag of 2, an empty bag, a bag of 3 and the rest (3)

ROWS = [
    # instance_norm: instance statistics (what both modes use without running stats)
    Op("norm_instance_norm_1d", lambda L, x: F(L).instance_norm(x), [In((2, 3, 5))], ref=np_instance_norm),
    Op("norm_instance_norm_2d_affine", lambda L, x, w, b: F(L).instance_norm(x, weight=w, bias=b),
       [In((2, 3, 3, 4)), In((3,)), In((3,))], ref=lambda x, w, b: np_instance_norm(x, w, b)),
    Op("norm_instance_norm_3d_eps", lambda L, x: F(L).instance_norm(x, eps=0.1), [In((2, 2, 2, 3, 2))],
       ref=lambda x: np_instance_norm(x, eps=0.1)),
    # eval mode of a tracked InstanceNorm: use_input_stats=False normalises with the running stats
    Op("norm_instance_norm_running", lambda L, x, rm, rv, w: F(L).instance_norm(x, rm, rv, w, None, False),
       [In((2, 3, 4)), In((3,), grad=False), In((3,), "pos", grad=False), In((3,))],
       ref=lambda x, rm, rv, w: np_instance_norm_eval(x, rm, rv, w)),
    Op("norm_InstanceNorm2d", lambda L, x: L.nn.InstanceNorm2d(3)(x), [In((2, 3, 3, 3))], ref=np_instance_norm),
    Op("norm_InstanceNorm1d_tracked_eval",
       lambda L, x: L.nn.InstanceNorm1d(3, track_running_stats=True, dtype=x.dtype).eval()(x), [In((2, 3, 4))],
       ref=lambda x: np_instance_norm_eval(x, np.zeros(3), np.ones(3))),
    Op("norm_InstanceNorm1d_unbatched", lambda L, x: L.nn.InstanceNorm1d(3)(x), [In((3, 6))],
       ref=lambda x: np_instance_norm(x[None])[0]),
    # rms_norm: eps=None is the dtype's machine epsilon
    Op("norm_rms_norm", lambda L, x: F(L).rms_norm(x, [4]), [In((3, 4))], ref=lambda x: np_rms_norm(x, 1)),
    Op("norm_rms_norm_weight_2d", lambda L, x, w: F(L).rms_norm(x, [3, 4], w, eps=1e-3), [In((2, 3, 4)), In((3, 4))],
       ref=lambda x, w: np_rms_norm(x, 2, w, 1e-3)),
    Op("norm_RMSNorm", lambda L, x: L.nn.RMSNorm(5, dtype=x.dtype)(x), [In((2, 3, 5))], ref=lambda x: np_rms_norm(x, 1)),
    # local response norm, odd and even windows, 3-D to 5-D inputs
    Op("norm_local_response_norm_3d", lambda L, x: F(L).local_response_norm(x, 3, 0.5, 0.75, 1.0), [In((2, 5, 4))],
       ref=lambda x: np_local_response_norm(x, 3, 0.5, 0.75, 1.0)),
    Op("norm_local_response_norm_4d_even", lambda L, x: F(L).local_response_norm(x, 4, 0.3, 0.6, 2.0),
       [In((2, 6, 2, 3))], ref=lambda x: np_local_response_norm(x, 4, 0.3, 0.6, 2.0)),
    Op("norm_LocalResponseNorm_5d", lambda L, x: L.nn.LocalResponseNorm(2, alpha=0.2)(x), [In((1, 4, 2, 2, 3))],
       ref=lambda x: np_local_response_norm(x, 2, 0.2)),
    # CrossMapLRN2d: PyTorch's forward (golden, forward only: its hand-written backward is not the
    # gradient of its forward); gradcheck of ferrograd's exact gradient in the second row
    Op("norm_CrossMapLRN2d", lambda L, x: L.nn.CrossMapLRN2d(3, 0.5, 0.75, 1.0)(x), [In((2, 6, 2, 3), grad=False)],
       ref=lambda x: np_cross_map_lrn2d(x, 3, 0.5, 0.75, 1.0), grad=False),
    Op("norm_CrossMapLRN2d_even_grad", lambda L, x: L.nn.CrossMapLRN2d(4, 0.5, 0.75, 1.0)(x), [In((1, 6, 2, 2))],
       ref=lambda x: np_cross_map_lrn2d(x, 4, 0.5, 0.75, 1.0), golden=False),
    # bilinear
    Op("norm_bilinear", lambda L, a, b, w, c: F(L).bilinear(a, b, w, c), [In((4, 3)), In((4, 2)), In((5, 3, 2)), In((5,))],
       ref=np_bilinear),
    Op("norm_bilinear_batched_nobias", lambda L, a, b, w: F(L).bilinear(a, b, w), [In((2, 3, 3)), In((2, 3, 4)), In((2, 3, 4))],
       ref=np_bilinear),
    Op("norm_Bilinear", lambda L, a, b, w, c: _set(L, L.nn.Bilinear(3, 2, 4, dtype=a.dtype), weight=w, bias=c)(a, b),
       [In((5, 3)), In((5, 2)), In((4, 3, 2), grad=False), In((4,), grad=False)], ref=np_bilinear),
    # lazy layers: materialised by a first forward, then given the row's weights / trained once
    Op("norm_LazyLinear", _lazy_linear, [In((4, 5)), In((3, 5), grad=False), In((3,), grad=False)],
       ref=lambda x, w, b: x @ w.T + b),
    Op("norm_LazyBatchNorm1d_eval", lambda L, x: _lazy_norm_eval(L, "LazyBatchNorm1d", x), [In((6, 3))],
       ref=lambda x: (x - 0.1 * x.mean(0)) / np.sqrt(0.9 + 0.1 * x.var(0, ddof=1) + 1e-5), grad=False,
       note="x also sets the running stats, off the graph: no gradcheck; the gradient is compared with PyTorch's"),
    Op("norm_LazyInstanceNorm1d_eval", lambda L, x: _lazy_norm_eval(L, "LazyInstanceNorm1d", x), [In((2, 3, 5))],
       ref=lambda x: np_instance_norm_eval(x, *np_instance_norm(x, running=(np.zeros(3), np.ones(3)))[1:]),
       grad=False, note="as norm_LazyBatchNorm1d_eval"),
    # embedding_bag: gradient w.r.t. the table (and the per-sample weights)
    Op("norm_embedding_bag_mean", lambda L, i, w: F(L).embedding_bag(i, w, _offsets(L, _OFFS)),
       [In((8,), "idx", high=6), In((6, 3))], ref=lambda i, w: np_embedding_bag(i, w, np.array(_OFFS))),
    Op("norm_embedding_bag_sum_2d", lambda L, i, w: F(L).embedding_bag(i, w, mode="sum"),
       [In((3, 4), "idx", high=7), In((7, 2))], ref=lambda i, w: np_embedding_bag(i, w, mode="sum")),
    Op("norm_embedding_bag_max", lambda L, i, w: F(L).embedding_bag(i, w, _offsets(L, _OFFS), mode="max"),
       [In((8,), "idx", high=6), In((6, 3), "distinct")],
       ref=lambda i, w: np_embedding_bag(i, w, np.array(_OFFS), mode="max")),
    Op("norm_embedding_bag_padding_mean", lambda L, i, w: F(L).embedding_bag(i, w, _offsets(L, _OFFS), padding_idx=1),
       [In((8,), "idx", high=4), In((4, 3))],
       ref=lambda i, w: np_embedding_bag(i, w, np.array(_OFFS), padding_idx=1)),
    Op("norm_embedding_bag_per_sample_weights",
       lambda L, i, w, p: F(L).embedding_bag(i, w, _offsets(L, _OFFS), mode="sum", per_sample_weights=p),
       [In((8,), "idx", high=5), In((5, 2)), In((8,))],
       ref=lambda i, w, p: np_embedding_bag(i, w, np.array(_OFFS), "sum", p)),
    Op("norm_EmbeddingBag_from_pretrained",
       lambda L, i, w: L.nn.EmbeddingBag.from_pretrained(w.detach(), mode="sum")(i, _offsets(L, _OFFS)),
       [In((8,), "idx", high=6), In((6, 3), grad=False)],
       ref=lambda i, w: np_embedding_bag(i, w, np.array(_OFFS), mode="sum")),
    Op("norm_embedding_bag_last_offset_max",
       lambda L, i, w: F(L).embedding_bag(i, w, _offsets(L, _OFFS + [8]), mode="max", include_last_offset=True),
       [In((8,), "idx", high=6), In((6, 3), "distinct")],
       ref=lambda i, w: np_embedding_bag(i, w, np.array(_OFFS + [8]), mode="max", include_last_offset=True)),
]
