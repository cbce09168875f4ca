"""Op-table rows for the losses and distances (see tests/op_table.py): each checked against a
numpy reference written from PyTorch's kernel, by float64 gradcheck, and against PyTorch's values
in tests/golden/op_table_golden.json (regenerate with
`PYTHONPATH=python /tmp/torchvenv/bin/python tests/golden/make_op_golden.py loss_`).

Targets that must be signs, labels or probabilities are made inside the row from a float input
(sign, softmax) or written as constants, so both libraries see the same values."""

from __future__ import annotations

import itertools
import math

import numpy as np
from op_table import In, Op


def _F(L):
    return L.nn.functional


def _softplus(x):
    return np.logaddexp(0.0, x)


def _softmax(x, axis=-1):
    e = np.exp(x - x.max(axis, keepdims=True))
    return e / e.sum(axis, keepdims=True)


def _log_softmax(x, axis=-1):
    return np.log(_softmax(x, axis))


def _norm(d, p, axis=-1, keepdims=False):
    return np.linalg.norm(d, ord=p, axis=axis, keepdims=keepdims)


def _multi_margin(x, t, p, margin, w=None):
    rows = []
    for row, y in zip(x, t):
        z = np.maximum(margin - row[y] + row, 0) ** p * (1.0 if w is None else w[y])
        rows.append((z.sum() - z[y]) / row.size)
    return np.array(rows)


def _multilabel_margin(x, t):
    rows = []
    for row, tr in zip(x, t):
        js = list(itertools.takewhile(lambda j: j >= 0, tr))
        rows.append(sum(max(0.0, 1 - row[j] + row[k]) for j in js for k in range(row.size) if k not in js) / row.size)
    return np.array(rows)


def _ctc_brute(lp, target, blank=0):
    total = 0.0
    for path in itertools.product(range(lp.shape[1]), repeat=lp.shape[0]):
        merged = [c for k, c in enumerate(path) if k == 0 or c != path[k - 1]]
        if [c for c in merged if c != blank] == list(target):
            total += math.exp(sum(lp[t, c] for t, c in enumerate(path)))
    return -math.log(total)


_MM_T = [2, 0, 3]
_MM_W = [0.5, 1.0, 1.5, 2.0]
_ML_T = [[3, 0, -1, 1], [2, -1, 0, 0], [0, 1, 2, -1]]
_CTC_T = [[1, 2, 2], [3, 1, 0]]
_CTC_IL, _CTC_TL = (5, 4), (3, 2)


def _ctc_ref(x, reduction):
    lp = _log_softmax(x, 2)
    losses = np.array([_ctc_brute(lp[: _CTC_IL[n], n], _CTC_T[n][: _CTC_TL[n]]) for n in range(2)])
    return {"none": losses, "sum": losses.sum(), "mean": (losses / np.array(_CTC_TL)).mean()}[reduction]


def _ctc(L, x, reduction):
    return _F(L).ctc_loss(x.log_softmax(2), L.tensor(_CTC_T), _CTC_IL, _CTC_TL, reduction=reduction)


ROWS = [
    Op("loss_kl_div_batchmean", lambda L, x, y: _F(L).kl_div(x.log_softmax(1), y.softmax(1), reduction="batchmean"),
       [In((3, 4)), In((3, 4))],
       ref=lambda x, y: (_softmax(y, 1) * (np.log(_softmax(y, 1)) - _log_softmax(x, 1))).sum() / 3),
    Op("loss_kl_div_log_target_none", lambda L, x, y: _F(L).kl_div(x, y, reduction="none", log_target=True),
       [In((3, 4)), In((3, 4))], ref=lambda x, y: np.exp(y) * (y - x)),
    Op("loss_kl_div_sum", lambda L, x, y: _F(L).kl_div(x, y, reduction="sum"), [In((2, 3)), In((2, 3), "pos")],
       ref=lambda x, y: (y * np.log(y) - y * x).sum()),
    Op("loss_huber", lambda L, x, y: _F(L).huber_loss(x, y, delta=0.7), [In((3, 4)), In((3, 4))],
       ref=lambda x, y: np.where(np.abs(x - y) < 0.7, 0.5 * (x - y) ** 2, 0.7 * (np.abs(x - y) - 0.35)).mean()),
    Op("loss_huber_weight_none", lambda L, x, y, w: _F(L).huber_loss(x, y, "none", 1.5, w),
       [In((2, 5), "big"), In((2, 5)), In((2, 5), "pos")],
       ref=lambda x, y, w: w * np.where(np.abs(x - y) < 1.5, 0.5 * (x - y) ** 2, 1.5 * (np.abs(x - y) - 0.75))),
    Op("loss_poisson_nll", lambda L, x, y: _F(L).poisson_nll_loss(x, y), [In((3, 4)), In((3, 4), "pos")],
       ref=lambda x, y: (np.exp(x) - y * x).mean()),
    Op("loss_poisson_nll_full_rates", lambda L, x, y: _F(L).poisson_nll_loss(x, y * 2, log_input=False, full=True,
                                                                              reduction="none"),
       [In((3, 4), "pos"), In((3, 4), "pos")],
       ref=lambda x, y: x - 2 * y * np.log(x + 1e-8) + np.where(
           2 * y > 1, 2 * y * np.log(2 * y) - 2 * y + 0.5 * np.log(4 * np.pi * y), 0.0)),
    Op("loss_gaussian_nll", lambda L, x, y, v: _F(L).gaussian_nll_loss(x, y, v), [In((3, 4)), In((3, 4)), In((3, 4), "pos")],
       ref=lambda x, y, v: (0.5 * (np.log(v) + (x - y) ** 2 / v)).mean()),
    Op("loss_gaussian_nll_row_var_full", lambda L, x, y, v: _F(L).gaussian_nll_loss(x, y, v, full=True, reduction="sum"),
       [In((3, 4)), In((3, 4)), In((3,), "pos")],
       ref=lambda x, y, v: (0.5 * (np.log(v[:, None]) + (x - y) ** 2 / v[:, None]) + 0.5 * np.log(2 * np.pi)).sum()),
    Op("loss_soft_margin", lambda L, x, y: _F(L).soft_margin_loss(x, L.sign(y)), [In((3, 4)), In((3, 4), "nz", grad=False)],
       ref=lambda x, y: _softplus(-x * np.sign(y)).mean()),
    Op("loss_multilabel_soft_margin", lambda L, x, y: _F(L).multilabel_soft_margin_loss(
        x, y.sigmoid(), L.tensor(_MM_W, dtype=x.dtype), reduction="none"), [In((3, 4)), In((3, 4))],
       ref=lambda x, y: (np.array(_MM_W) * (1 / (1 + np.exp(-y)) * _softplus(-x) + (1 - 1 / (1 + np.exp(-y))) *
                                             _softplus(x))).mean(1)),
    Op("loss_hinge_embedding", lambda L, x, y: _F(L).hinge_embedding_loss(x, L.sign(y), margin=0.5, reduction="sum"),
       [In((3, 4)), In((3, 4), "nz", grad=False)],
       ref=lambda x, y: np.where(y > 0, x, np.maximum(0.5 - x, 0)).sum()),
    Op("loss_margin_ranking", lambda L, a, b, y: _F(L).margin_ranking_loss(a, b, L.sign(y), margin=0.2),
       [In((6,)), In((6,)), In((6,), "nz", grad=False)],
       ref=lambda a, b, y: np.maximum(-np.sign(y) * (a - b) + 0.2, 0).mean()),
    Op("loss_cosine_embedding", lambda L, a, b, y: _F(L).cosine_embedding_loss(a, b, L.sign(y), margin=-0.5,
                                                                                reduction="none"),
       [In((4, 3), "nz"), In((4, 3), "nz"), In((4,), "nz", grad=False)],
       ref=lambda a, b, y: np.where(np.sign(y) > 0, 1 - (a * b).sum(1) / np.sqrt(
           ((a * a).sum(1) + 1e-12) * ((b * b).sum(1) + 1e-12)), np.maximum((a * b).sum(1) / np.sqrt(
               ((a * a).sum(1) + 1e-12) * ((b * b).sum(1) + 1e-12)) + 0.5, 0))),
    Op("loss_multi_margin", lambda L, x: _F(L).multi_margin_loss(x, L.tensor(_MM_T), reduction="none"), [In((3, 4))],
       ref=lambda x: _multi_margin(x, _MM_T, 1, 1.0)),
    Op("loss_multi_margin_p2_weight", lambda L, x: _F(L).multi_margin_loss(
        x, L.tensor(_MM_T), p=2, margin=0.5, weight=L.tensor(_MM_W, dtype=x.dtype)), [In((3, 4))],
       ref=lambda x: _multi_margin(x, _MM_T, 2, 0.5, _MM_W).mean()),
    Op("loss_multilabel_margin", lambda L, x: _F(L).multilabel_margin_loss(x, L.tensor(_ML_T), reduction="sum"),
       [In((3, 4))], ref=lambda x: _multilabel_margin(x, _ML_T).sum()),
    Op("loss_triplet_margin", lambda L, a, p, n: _F(L).triplet_margin_loss(a, p, n, margin=2.0, reduction="none"),
       [In((4, 3)), In((4, 3)), In((4, 3))],
       ref=lambda a, p, n: np.maximum(2 + _norm(a - p + 1e-6, 2) - _norm(a - n + 1e-6, 2), 0)),
    Op("loss_triplet_margin_p1_swap", lambda L, a, p, n: _F(L).triplet_margin_loss(a, p, n, margin=3.0, p=1, swap=True),
       [In((4, 3)), In((4, 3)), In((4, 3))],
       ref=lambda a, p, n: np.maximum(3 + _norm(a - p + 1e-6, 1) - np.minimum(
           _norm(a - n + 1e-6, 1), _norm(p - n + 1e-6, 1)), 0).mean()),
    Op("loss_triplet_with_distance", lambda L, a, p, n: _F(L).triplet_margin_with_distance_loss(
        a, p, n, distance_function=lambda u, v: 1 - _F(L).cosine_similarity(u, v), margin=0.5),
       [In((4, 3)), In((4, 3)), In((4, 3))],
       ref=lambda a, p, n: np.maximum(0.5 - (a * p).sum(1) / _norm(a, 2) / _norm(p, 2) + (a * n).sum(1) / _norm(a, 2) /
                                      _norm(n, 2), 0).mean()),
    Op("loss_ctc_none", lambda L, x: _ctc(L, x, "none"), [In((5, 2, 4))], ref=lambda x: _ctc_ref(x, "none")),
    Op("loss_ctc_mean", lambda L, x: _ctc(L, x, "mean"), [In((5, 2, 4))], ref=lambda x: _ctc_ref(x, "mean")),
    Op("loss_ctc_sum", lambda L, x: _ctc(L, x, "sum"), [In((5, 2, 4))], ref=lambda x: _ctc_ref(x, "sum")),
    Op("loss_cosine_similarity", lambda L, a, b: _F(L).cosine_similarity(a, b), [In((3, 4)), In((3, 4))],
       ref=lambda a, b: (a * b).sum(1) / (_norm(a, 2, 1) * _norm(b, 2, 1))),
    Op("loss_cosine_similarity_dim0_bcast", lambda L, a, b: _F(L).cosine_similarity(a, b, dim=0, eps=1e-3),
       [In((3, 4)), In((3, 1))],
       ref=lambda a, b: (a * b).sum(0) / (_norm(a, 2, 0) * _norm(np.broadcast_to(b, a.shape), 2, 0))),
    Op("loss_pairwise_distance", lambda L, a, b: _F(L).pairwise_distance(a, b), [In((3, 4)), In((3, 4))],
       ref=lambda a, b: _norm(a - b + 1e-6, 2)),
    Op("loss_pairwise_distance_p1_keepdim", lambda L, a, b: _F(L).pairwise_distance(a, b, p=1.0, keepdim=True),
       [In((3, 4)), In((4,))], ref=lambda a, b: _norm(a - b + 1e-6, 1, keepdims=True)),
    Op("loss_pairwise_distance_p3", lambda L, a, b: _F(L).pairwise_distance(a, b, p=3.0, eps=0.0), [In((2, 5)), In((2, 5))],
       ref=lambda a, b: _norm(a - b, 3)),
    Op("loss_pdist", lambda L, x: _F(L).pdist(x), [In((4, 3))],
       ref=lambda x: np.array([_norm(x[i] - x[j], 2) for i, j in zip(*np.triu_indices(4, 1))])),
    Op("loss_pdist_p1", lambda L, x: _F(L).pdist(x, p=1), [In((4, 3))],
       ref=lambda x: np.array([_norm(x[i] - x[j], 1) for i, j in zip(*np.triu_indices(4, 1))])),
]
