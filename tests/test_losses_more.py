"""The losses and distances beyond the first seven (kl_div ... ctc_loss, cosine_similarity,
pairwise_distance, pdist) against numpy references written from PyTorch's formulas (its ATen
kernels): forward in float64 and float32 for every reduction, float64 gradcheck, the deprecated
size_average/reduce mapping, the errors (naming the shapes), the modules, and ctc_loss against a
brute-force sum over every alignment path on tiny cases.
"""

import itertools
import math
import warnings

import ferrograd as fg
import ferrograd.nn as nn
import ferrograd.nn.functional as F
import numpy as np
import pytest

REDUCTIONS = ["none", "mean", "sum"]
gradcheck = fg.autograd.gradcheck
R = np.random.default_rng(1234)


def t64(a, grad=False):
    return fg.tensor(np.asarray(a, dtype=np.float64), requires_grad=grad)


def ti(a):
    return fg.tensor(np.asarray(a, dtype=np.int64))


def close(out, ref, rtol=1e-10, atol=1e-12, what=""):
    ref = np.asarray(ref, dtype=np.float64)
    assert tuple(out.shape) == ref.shape, f"{what}: shape {tuple(out.shape)} != reference {ref.shape}"
    np.testing.assert_allclose(out.detach().numpy(), ref, rtol=rtol, atol=atol, err_msg=what)


def reduce_ref(loss, reduction):
    return {"none": loss, "sum": loss.sum(), "mean": loss.mean()}[reduction]


def softplus(x):
    return np.logaddexp(0.0, x)


# ----------------------------------------------------------------------------- numpy references

def kl_ref(x, y, log_target):
    return np.exp(y) * (y - x) if log_target else np.where(y > 0, y * np.log(np.where(y > 0, y, 1)), 0.0) - y * x


def huber_ref(x, y, delta):
    d = np.abs(x - y)
    return np.where(d < delta, 0.5 * d * d, delta * (d - 0.5 * delta))


def poisson_ref(x, y, log_input, full, eps=1e-8):
    loss = np.exp(x) - y * x if log_input else x - y * np.log(x + eps)
    if full:
        ys = np.where(y > 1, y, 2.0)
        loss = loss + np.where(y > 1, ys * np.log(ys) - ys + 0.5 * np.log(2 * np.pi * ys), 0.0)
    return loss


def gaussian_ref(x, y, var, full, eps=1e-6):
    v = np.maximum(var, eps)
    return 0.5 * (np.log(v) + (x - y) ** 2 / v) + (0.5 * np.log(2 * np.pi) if full else 0.0)


def cosine_embedding_ref(a, b, y, margin):
    cos = (a * b).sum(-1) / np.sqrt(((a * a).sum(-1) + 1e-12) * ((b * b).sum(-1) + 1e-12))
    return np.where(y == 1, 1 - cos, 0.0) + np.where(y == -1, np.maximum(cos - margin, 0), 0.0)


def multi_margin_ref(x, t, p, margin, w):
    x2 = x.reshape(-1, x.shape[-1] if x.ndim else 1)
    t = np.asarray(t).reshape(-1)
    out = []
    for row, y in zip(x2, t):
        z = np.maximum(margin - row[y] + row, 0) ** p * (1.0 if w is None else w[y])
        out.append((z.sum() - z[y]) / row.size)
    return np.array(out)


def multilabel_margin_ref(x, t):
    x2, t2 = np.atleast_2d(x), np.atleast_2d(t)
    out = []
    for row, tr in zip(x2, t2):
        js = list(itertools.takewhile(lambda j: j >= 0, tr))
        ks = [k for k in range(row.size) if k not in js]
        out.append(sum(max(0.0, 1 - (row[j] - row[k])) for j in js for k in ks) / row.size)
    return np.array(out)


def pdist_ref(x, p):
    i, j = np.triu_indices(x.shape[0], 1)
    return np.array([np.linalg.norm(x[a] - x[b], ord=p) for a, b in zip(i, j)])


# ----------------------------------------------------------------------------- elementwise families

X = R.uniform(-2, 2, (3, 4))
Y = R.uniform(-2, 2, (3, 4))
P = R.uniform(0.1, 1.0, (3, 4))
SIGNS = np.where(R.uniform(size=(3, 4)) < 0.5, -1.0, 1.0)

# name, fn(inputs..., reduction), numpy ref(inputs...) before reduction, inputs, which require grad
CASES = [
    ("kl_div", lambda x, y, r: F.kl_div(x, y, reduction=r), lambda x, y: kl_ref(x, y, False), (X, P), (0, 1)),
    ("kl_div_log_target", lambda x, y, r: F.kl_div(x, y, reduction=r, log_target=True), lambda x, y: kl_ref(x, y, True),
     (X, np.log(P)), (0, 1)),
    ("huber_loss", lambda x, y, r: F.huber_loss(x, y, reduction=r, delta=0.8), lambda x, y: huber_ref(x, y, 0.8), (X, Y),
     (0, 1)),
    ("huber_loss_weight", lambda x, y, w, r: F.huber_loss(x, y, r, 0.8, w), lambda x, y, w: huber_ref(x, y, 0.8) * w,
     (X, Y, P), (0, 1, 2)),
    ("poisson_nll_loss", lambda x, y, r: F.poisson_nll_loss(x, y, reduction=r), lambda x, y: poisson_ref(x, y, True, False),
     (X, 3 * P), (0, 1)),
    ("poisson_nll_loss_rates_full", lambda x, y, r: F.poisson_nll_loss(x, y, log_input=False, full=True, reduction=r),
     lambda x, y: poisson_ref(x, y, False, True), (P, 1.5 + 3 * P), (0, 1)),
    ("gaussian_nll_loss", lambda x, y, v, r: F.gaussian_nll_loss(x, y, v, reduction=r),
     lambda x, y, v: gaussian_ref(x, y, v, False), (X, Y, P), (0, 1, 2)),
    ("gaussian_nll_loss_full_row_var", lambda x, y, v, r: F.gaussian_nll_loss(x, y, v, full=True, reduction=r),
     lambda x, y, v: gaussian_ref(x, y, v[:, None], True), (X, Y, P[:, 0]), (0, 1, 2)),
    ("soft_margin_loss", lambda x, y, r: F.soft_margin_loss(x, y, reduction=r), lambda x, y: softplus(-x * y), (X, SIGNS),
     (0,)),
    ("multilabel_soft_margin_loss", lambda x, y, w, r: F.multilabel_soft_margin_loss(x, y, w, reduction=r),
     lambda x, y, w: (w * (y * softplus(-x) + (1 - y) * softplus(x))).mean(-1), (X, (SIGNS > 0) * 1.0, P[0]), (0, 1)),
    ("hinge_embedding_loss", lambda x, y, r: F.hinge_embedding_loss(x, y, margin=0.7, reduction=r),
     lambda x, y: np.where(y == 1, x, np.maximum(0.7 - x, 0)), (X, SIGNS), (0,)),
    ("margin_ranking_loss", lambda a, b, y, r: F.margin_ranking_loss(a, b, y, margin=0.3, reduction=r),
     lambda a, b, y: np.maximum(-y * (a - b) + 0.3, 0), (X, Y, SIGNS), (0, 1)),
    ("cosine_embedding_loss", lambda a, b, y, r: F.cosine_embedding_loss(a, b, y, margin=0.2, reduction=r),
     lambda a, b, y: cosine_embedding_ref(a, b, y, 0.2), (X, Y, SIGNS[:, 0]), (0, 1)),
    ("multi_margin_loss_p1", lambda x, t, r: F.multi_margin_loss(x, t, margin=0.9, reduction=r),
     lambda x, t: multi_margin_ref(x, t, 1, 0.9, None), (X, np.array([0, 3, 1])), (0,)),
    ("multi_margin_loss_p2_weight", lambda x, t, w, r: F.multi_margin_loss(x, t, 2, 1.0, w, reduction=r),
     lambda x, t, w: multi_margin_ref(x, t, 2, 1.0, w), (X, np.array([2, 3, 1]), P[0]), (0,)),
    ("multilabel_margin_loss", lambda x, t, r: F.multilabel_margin_loss(x, t, reduction=r), multilabel_margin_ref,
     (X, np.array([[3, 0, -1, 1], [2, 2, -1, 0], [-1, 0, 0, 0]])), (0,)),
    ("triplet_margin_loss_swap", lambda a, p, n, r: F.triplet_margin_loss(a, p, n, margin=2.0, swap=True, reduction=r),
     lambda a, p, n: np.maximum(2.0 + np.linalg.norm(a - p + 1e-6, axis=-1) - np.minimum(
         np.linalg.norm(a - n + 1e-6, axis=-1), np.linalg.norm(p - n + 1e-6, axis=-1)), 0), (X, Y, P), (0, 1, 2)),
    ("triplet_margin_loss_p1", lambda a, p, n, r: F.triplet_margin_loss(a, p, n, margin=1.5, p=1, reduction=r),
     lambda a, p, n: np.maximum(1.5 + np.abs(a - p + 1e-6).sum(-1) - np.abs(a - n + 1e-6).sum(-1), 0), (X, Y, P), (0, 1, 2)),
    ("triplet_margin_with_distance_loss", lambda a, p, n, r: F.triplet_margin_with_distance_loss(
        a, p, n, distance_function=lambda u, v: ((u - v) ** 2).sum(-1), margin=3.0, reduction=r),
     lambda a, p, n: np.maximum(3.0 + ((a - p) ** 2).sum(-1) - ((a - n) ** 2).sum(-1), 0), (X, Y, P), (0, 1, 2)),
]


def _inputs(arrays, grads, dtype=np.float64):
    out = []
    for k, a in enumerate(arrays):
        a = np.asarray(a)
        if a.dtype.kind == "f":
            out.append(fg.tensor(a.astype(dtype), requires_grad=k in grads and dtype == np.float64))
        else:
            out.append(ti(a))
    return out


@pytest.mark.filterwarnings("ignore:reduction. 'mean' divides")
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_loss_matches_numpy_reference(case, reduction):
    name, fn, ref, arrays, grads = case
    expected = reduce_ref(np.asarray(ref(*arrays)), reduction)
    close(fn(*_inputs(arrays, grads), reduction), expected, what=f"{name} float64")
    out32 = fn(*_inputs(arrays, grads, np.float32), reduction)
    assert out32.dtype == fg.float32
    close(out32, expected, rtol=1e-5, atol=1e-5, what=f"{name} float32")


@pytest.mark.filterwarnings("ignore:reduction. 'mean' divides")
@pytest.mark.parametrize("reduction", ["none", "mean"])
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_loss_gradcheck(case, reduction):
    name, fn, _, arrays, grads = case
    xs = _inputs(arrays, grads)
    leaves = [xs[k] for k in grads]

    def f(*ls):
        full = list(xs)
        for k, leaf in zip(grads, ls):
            full[k] = leaf
        return fn(*full, reduction)

    assert gradcheck(f, leaves, atol=1e-6, rtol=1e-4), name


# ----------------------------------------------------------------------------- specific rules


def test_kl_div_batchmean_divides_by_batch_and_mean_warns():
    x, y = t64(X), t64(P)
    total = kl_ref(X, P, False).sum()
    close(F.kl_div(x, y, reduction="batchmean"), total / 3)
    with pytest.warns(UserWarning, match="batchmean"):
        close(F.kl_div(x, y), total / 12)
    with pytest.warns(UserWarning, match="batchmean"):
        nn.KLDivLoss()(x, y)
    close(F.kl_div(t64(-1.0), t64(0.5), reduction="batchmean"), 0.5 * math.log(0.5) + 0.5)  # 0-d: no division


def test_kl_div_zero_target_contributes_zero_and_finite_gradient():
    x = t64([[-1.0, -2.0]], grad=True)
    loss = F.kl_div(x, t64([[0.0, 1.0]]), reduction="sum")
    close(loss, 2.0)
    loss.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[0.0, -1.0]])


def test_deprecated_size_average_and_reduce_map_as_pytorch():
    x, y = t64(X), t64(Y)
    per = huber_ref(X, Y, 1.0)
    cases = [(None, False, "none"), (False, None, "sum"), (True, True, "mean"), (False, False, "none")]
    for size_average, reduce, meaning in cases:
        with pytest.warns(UserWarning, match=f"reduction='{meaning}'"):
            out = F.smooth_l1_loss(x, y, size_average=size_average, reduce=reduce)
        close(out, reduce_ref(per, meaning), what=str((size_average, reduce)))
        with pytest.warns(UserWarning):
            assert nn.SoftMarginLoss(size_average, reduce).reduction == meaning
    with pytest.warns(UserWarning, match="reduction='sum'"):
        close(F.mse_loss(x, y, size_average=False), ((X - Y) ** 2).sum())
    with pytest.warns(UserWarning, match="reduction='none'"):
        close(F.kl_div(x, t64(P), reduce=False), kl_ref(X, P, False))
    # cross_entropy and nll_loss take them too (they raised TypeError)
    logits, target = t64(X), fg.tensor([1, 0] * (X.shape[0] // 2) + [0] * (X.shape[0] % 2))
    per_row = F.cross_entropy(logits, target, reduction="none")
    with pytest.warns(UserWarning, match="reduction='sum'"):
        close(F.cross_entropy(logits, target, size_average=False), per_row.sum().item())
    with pytest.warns(UserWarning, match="reduction='none'"):
        close(F.nll_loss(logits, target, reduce=False), F.nll_loss(logits, target, reduction="none").numpy())


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_mse_and_l1_weight_mean_is_a_weighted_mean(reduction):
    x, y, w = t64(X, True), t64(Y), t64(P, True)
    for fn, per in ((F.mse_loss, (X - Y) ** 2), (F.l1_loss, np.abs(X - Y))):
        expected = (per * P).sum() / P.sum() if reduction == "mean" else reduce_ref(per * P, reduction)
        close(fn(x, y, reduction=reduction, weight=w), expected)
        assert gradcheck(lambda a, b, fn=fn: fn(a, y, reduction=reduction, weight=b), [x, w], atol=1e-6, rtol=1e-4)
    with pytest.raises(ValueError, match=r"\(4,\).*\(3, 4\)"):
        F.mse_loss(x, y, weight=t64(P[0]))


def test_gaussian_nll_var_shapes_and_clamp():
    x, y = t64(X), t64(Y)
    close(F.gaussian_nll_loss(x, y, 0.5, reduction="sum"), gaussian_ref(X, Y, 0.5, False).sum())
    close(F.gaussian_nll_loss(x, y, t64(P[:1]), reduction="none"), gaussian_ref(X, Y, P[:1], False))  # (1, 4)
    for bad in (np.ones(2), np.ones((1, 1)), np.ones((3, 4, 1))):
        with pytest.raises(ValueError, match="var is of incorrect size"):
            F.gaussian_nll_loss(x, y, t64(bad))
    with pytest.raises(ValueError, match="negative"):
        F.gaussian_nll_loss(x, y, t64(-P))
    with pytest.raises(ValueError, match="negative"):
        F.gaussian_nll_loss(x, y, -1.0)
    # the clamp at eps is outside autograd (as PyTorch's): d/dvar of 0.5 (log v + d^2 / v) at v = eps
    v = t64([[1e-9]], grad=True)
    F.gaussian_nll_loss(t64([[1.0]]), t64([[0.0]]), v, eps=1e-3, reduction="sum").backward()
    np.testing.assert_allclose(v.grad.numpy(), [[0.5 / 1e-3 - 0.5 / 1e-6]])


def test_poisson_full_stirling_term_only_where_target_above_one():
    x, y = t64([0.3, 0.3, 0.3]), t64([0.0, 1.0, 4.0])
    base = np.exp(0.3) - np.array([0.0, 1.0, 4.0]) * 0.3
    stirling = 4 * math.log(4) - 4 + 0.5 * math.log(8 * math.pi)
    close(F.poisson_nll_loss(x, y, full=True, reduction="none"), base + [0, 0, stirling])


def test_soft_margin_loss_does_not_overflow():
    out = F.soft_margin_loss(t64([-800.0, 800.0]), t64([1.0, 1.0]), reduction="none")
    close(out, [800.0, 0.0])


def test_margin_losses_unbatched_shapes():
    x = t64(X[0])
    assert F.multi_margin_loss(x, ti(2), reduction="none").shape == ()
    assert F.multi_margin_loss(x, ti([2]), reduction="none").shape == (1,)
    assert F.multilabel_margin_loss(x, ti([3, 0, -1, 1]), reduction="none").shape == ()
    assert F.cosine_embedding_loss(x, t64(Y[0]), t64(-1.0), reduction="none").shape == ()
    assert F.triplet_margin_loss(x, t64(Y[0]), t64(P[0]), reduction="none").shape == ()
    assert F.multilabel_soft_margin_loss(x, t64(P[0]), reduction="none").shape == ()
    close(F.multilabel_margin_loss(t64([0.1, 0.2, 0.4, 0.8]), ti([3, 3, -1, 0])), 0.65)  # a class listed twice counts twice


def test_margin_losses_mean_of_empty_batch_is_nan():
    # PyTorch returns uninitialised memory here; the mean of no samples is NaN, as mse_loss's
    assert math.isnan(F.multilabel_margin_loss(fg.zeros(0, 4, dtype=fg.float64), fg.zeros(0, 4, dtype=fg.int64)).item())
    assert math.isnan(F.multi_margin_loss(fg.zeros(0, 4, dtype=fg.float64), fg.zeros(0, dtype=fg.int64)).item())
    assert F.multi_margin_loss(fg.zeros(0, 4, dtype=fg.float64), fg.zeros(0, dtype=fg.int64), reduction="sum").item() == 0


def test_margin_losses_ignore_nan_margins_as_pytorch():
    # PyTorch's kernels add a term only where margin - x[y] + x[i] > 0: a NaN adds nothing
    x = t64([[float("nan"), 0.5, 0.2]], grad=True)
    out = F.multi_margin_loss(x, ti([1]), reduction="sum")
    close(out, (1 - 0.5 + 0.2) / 3)
    out.backward()
    np.testing.assert_allclose(x.grad.numpy(), [[0.0, -1 / 3, 1 / 3]])


def test_constant_arguments_refuse_requires_grad():
    with pytest.raises(RuntimeError, match="not differentiable with respect to argument 'target'"):
        F.soft_margin_loss(t64(X), t64(SIGNS, grad=True))
    with pytest.raises(RuntimeError, match="not differentiable with respect to argument 'weight'"):
        F.multi_margin_loss(t64(X), ti([0, 1, 2]), weight=t64(P[0], grad=True))


ERRORS = [
    ("huber delta", lambda: F.huber_loss(t64(X), t64(Y), delta=0.0), RuntimeError, "non-positive values for delta"),
    ("huber shape", lambda: F.huber_loss(t64(X), t64(Y[:, :1])), ValueError, r"\(3, 1\) differs from input shape \(3, 4\)"),
    ("huber weight", lambda: F.huber_loss(t64(X), t64(Y), weight=t64(P[0])), ValueError, r"\(4,\).*\(3, 4\)"),
    ("kl reduction", lambda: F.kl_div(t64(X), t64(P), reduction="avg"), ValueError, "avg is not a valid"),
    ("kl integral", lambda: F.kl_div(t64(X), ti(np.ones((3, 4))), reduction="sum"), RuntimeError, "Integral inputs not supported"),
    ("kl shape", lambda: F.kl_div(t64(X), t64(P[:, :1]), reduction="sum"), ValueError, r"\(3, 1\)"),
    ("poisson reduction", lambda: F.poisson_nll_loss(t64(X), t64(P), reduction="batchmean"), ValueError, "batchmean"),
    ("cosine target dims", lambda: F.cosine_embedding_loss(t64(X), t64(Y), t64(np.ones((3, 1)))), RuntimeError,
     r"0D or 1D target.*\[3, 1\]"),
    ("cosine input dims", lambda: F.cosine_embedding_loss(t64(X), t64(Y[0]), t64(np.ones(3))), RuntimeError,
     r"1D target tensor expects 2D input tensors.*\[3, 4\] and \[4\]"),
    ("ranking dims", lambda: F.margin_ranking_loss(t64(X[0]), t64(Y[0]), t64(np.ones((4, 1)))), RuntimeError,
     r"same dimension.*\[4, 1\]"),
    ("multi margin p", lambda: F.multi_margin_loss(t64(X), ti([0, 1, 2]), p=3), ValueError, "only p == 1 and p == 2"),
    ("multi margin target size", lambda: F.multi_margin_loss(t64(X), ti([0, 1])), RuntimeError,
     r"Expected target size \[3\], but got \[2\]. Input has shape \[3, 4\]"),
    ("multi margin range", lambda: F.multi_margin_loss(t64(X), ti([0, 1, 4])), RuntimeError, "target out of range"),
    ("multi margin weight", lambda: F.multi_margin_loss(t64(X), ti([0, 1, 2]), weight=t64(np.ones(3))), RuntimeError,
     r"expected 4 but got \[3\]"),
    ("multi margin float target", lambda: F.multi_margin_loss(t64(X), t64([0, 1, 2])), RuntimeError, "Long"),
    ("multi margin empty classes", lambda: F.multi_margin_loss(t64(np.ones((2, 0))), ti([0, 0])), RuntimeError,
     r"non-empty vector or matrix.*\[2, 0\]"),
    ("multilabel target shape", lambda: F.multilabel_margin_loss(t64(X), ti(np.zeros((3, 3)))), RuntimeError,
     r"inconsistent target size: \[3, 3\] for input of size: \[3, 4\]"),
    ("multilabel range", lambda: F.multilabel_margin_loss(t64(X[0]), ti([3, -1, 7, 0])), RuntimeError, "out of range"),
    ("triplet margin", lambda: F.triplet_margin_loss(t64(X), t64(Y), t64(P), margin=0), ValueError, "greater than 0"),
    ("triplet dims", lambda: F.triplet_margin_loss(t64(X), t64(Y), t64(P[0])), RuntimeError,
     "anchor 2D, positive 2D, and negative 1D"),
    ("pdist dims", lambda: F.pdist(t64(X[0])), RuntimeError, "only supports 2D tensors, got: 1D"),
    ("pdist p", lambda: F.pdist(t64(X), p=-1), RuntimeError, "non-negative p"),
    ("cosine_similarity ints", lambda: F.cosine_similarity(ti(np.ones((2, 3))), ti(np.ones((2, 3)))), RuntimeError,
     "floating point"),
    ("cosine_similarity dim", lambda: F.cosine_similarity(t64(X), t64(Y), dim=2), IndexError, r"Dimension out of range.*got 2"),
    ("module p", lambda: nn.MultiMarginLoss(p=3), ValueError, "only p == 1 and p == 2"),
    ("module margin", lambda: nn.TripletMarginLoss(margin=-1.0), ValueError, "TripletMarginLoss: expected margin"),
    ("module reduction", lambda: nn.HuberLoss(reduction="avg"), ValueError, "avg is not a valid"),
]


@pytest.mark.parametrize("fn,exc,match", [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS])
def test_bad_arguments_raise_pytorch_errors(fn, exc, match):
    with pytest.raises(exc, match=match):
        fn()


# ----------------------------------------------------------------------------- distances


@pytest.mark.parametrize("p", [2.0, 1.0, 3.0, math.inf, 0.5])
def test_pairwise_distance_and_pdist_against_numpy(p):
    close(F.pairwise_distance(t64(X), t64(Y), p=p), np.linalg.norm(X - Y + 1e-6, ord=p, axis=-1))
    close(F.pairwise_distance(t64(X), t64(Y[0]), p=p, keepdim=True),
          np.linalg.norm(X - Y[0] + 1e-6, ord=p, axis=-1, keepdims=True))
    close(F.pdist(t64(X), p=p), pdist_ref(X, p))
    if p != math.inf:  # inf: a max, whose gradient finite differences see only away from ties
        assert gradcheck(lambda a, b: F.pairwise_distance(a, b, p=p), [t64(X, True), t64(Y, True)], atol=1e-6, rtol=1e-4)
        assert gradcheck(lambda a: F.pdist(a, p=p), [t64(X, True)], atol=1e-6, rtol=1e-4)


def test_pairwise_distance_shapes():
    assert F.pairwise_distance(t64(1.0), t64(3.0)).shape == ()
    assert F.pairwise_distance(t64(X[0]), t64(Y[0])).shape == ()
    assert F.pdist(t64(X[:1])).shape == (0,)
    assert nn.PairwiseDistance(p=1.0, keepdim=True)(t64(X), t64(Y)).shape == (3, 1)


def test_cosine_similarity_clamps_each_norm():
    a = np.vstack([X, np.zeros((1, 4))])
    b = np.vstack([Y, np.ones((1, 4))])
    na = np.maximum(np.linalg.norm(a, axis=1), 1e-8)
    nb = np.maximum(np.linalg.norm(b, axis=1), 1e-8)
    close(F.cosine_similarity(t64(a), t64(b)), ((a / na[:, None]) * (b / nb[:, None])).sum(1))
    close(nn.CosineSimilarity(dim=0)(t64(X), t64(Y)),
          (X * Y).sum(0) / (np.linalg.norm(X, axis=0) * np.linalg.norm(Y, axis=0)))
    close(F.cosine_similarity(t64(X), t64(Y[0]), dim=-1), (X @ Y[0]) / (np.linalg.norm(X, axis=1) * np.linalg.norm(Y[0])))
    # each norm clamped (not their product): tiny vectors still give cosines in [-1, 1]
    tiny = F.cosine_similarity(t64([[1e-5, 0.0]]), t64([[1e-5, 1e-5]]))
    close(tiny, [1e-5 * 1e-5 / (1e-5 * math.sqrt(2) * 1e-5)])
    assert gradcheck(lambda u, v: F.cosine_similarity(u, v), [t64(X, True), t64(Y, True)], atol=1e-6, rtol=1e-4)


# ----------------------------------------------------------------------------- modules


MODULES = [
    (nn.KLDivLoss(reduction="batchmean", log_target=True), (X, np.log(P)), lambda x, y: kl_ref(x, y, True).sum() / 3),
    (nn.HuberLoss(delta=0.5, reduction="sum"), (X, Y), lambda x, y: huber_ref(x, y, 0.5).sum()),
    (nn.PoissonNLLLoss(log_input=False, eps=1e-3), (P, Y), lambda x, y: poisson_ref(x, y, False, False, 1e-3).mean()),
    (nn.GaussianNLLLoss(full=True), (X, Y, P), lambda x, y, v: gaussian_ref(x, y, v, True).mean()),
    (nn.CosineEmbeddingLoss(margin=0.1), (X, Y, SIGNS[:, 0]), lambda a, b, y: cosine_embedding_ref(a, b, y, 0.1).mean()),
    (nn.MarginRankingLoss(margin=0.2, reduction="none"), (X, Y, SIGNS), lambda a, b, y: np.maximum(-y * (a - b) + 0.2, 0)),
    (nn.HingeEmbeddingLoss(margin=2.0), (X, SIGNS), lambda x, y: np.where(y == 1, x, np.maximum(2 - x, 0)).mean()),
    (nn.MultiMarginLoss(p=2, weight=t64(P[0])), (X, np.array([1, 0, 3])),
     lambda x, t: multi_margin_ref(x, t, 2, 1.0, P[0]).mean()),
    (nn.MultiLabelMarginLoss(reduction="sum"), (X, np.array([[1, -1, 0, 0], [0, 1, 2, 3], [3, 2, -1, 1]])),
     lambda x, t: multilabel_margin_ref(x, t).sum()),
    (nn.MultiLabelSoftMarginLoss(weight=t64(P[1])), (X, (SIGNS > 0) * 1.0),
     lambda x, y: (P[1] * (y * softplus(-x) + (1 - y) * softplus(x))).mean(-1).mean()),
    (nn.SoftMarginLoss(), (X, SIGNS), lambda x, y: softplus(-x * y).mean()),
    (nn.TripletMarginLoss(margin=3.0, p=1.0), (X, Y, P),
     lambda a, p, n: np.maximum(3 + np.abs(a - p + 1e-6).sum(-1) - np.abs(a - n + 1e-6).sum(-1), 0).mean()),
    (nn.TripletMarginWithDistanceLoss(margin=3.0, swap=True), (X, Y, P),
     lambda a, p, n: np.maximum(3 + np.linalg.norm(a - p + 1e-6, axis=-1) - np.minimum(
         np.linalg.norm(a - n + 1e-6, axis=-1), np.linalg.norm(p - n + 1e-6, axis=-1)), 0).mean()),
    (nn.CosineSimilarity(), (X, Y), lambda a, b: (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)),
    (nn.PairwiseDistance(), (X, Y), lambda a, b: np.linalg.norm(a - b + 1e-6, axis=1)),
]


@pytest.mark.parametrize("module,arrays,ref", MODULES, ids=[type(m[0]).__name__ for m in MODULES])
def test_module_matches_reference(module, arrays, ref):
    inputs = [t64(a) if np.asarray(a).dtype.kind == "f" else ti(a) for a in arrays]
    close(module(*inputs), ref(*arrays), what=type(module).__name__)
    assert module.state_dict().keys() == ({"weight"} if getattr(module, "weight", None) is not None else set())


def test_nllloss2d_is_a_deprecated_nllloss():
    with pytest.warns(FutureWarning, match="NLLLoss2d"):
        m = nn.NLLLoss2d(reduction="sum")
    assert isinstance(m, nn.NLLLoss)
    lp = fg.tensor(R.uniform(-3, -0.1, (2, 3, 2, 2)))
    t = ti(R.integers(0, 3, (2, 2, 2)))
    close(m(lp, t), F.nll_loss(lp, t, reduction="sum").detach().numpy())


# ----------------------------------------------------------------------------- ctc_loss


def ctc_brute_force(lp, target, blank):
    """-log of the sum, over every length-T path that collapses (merge repeats, drop blanks) to
    the target, of the product of its probabilities."""
    steps, classes = lp.shape
    total = 0.0
    for path in itertools.product(range(classes), repeat=steps):
        merged = [c for k, c in enumerate(path) if k == 0 or c != path[k - 1]]
        if [c for c in merged if c != blank] == list(target):
            total += math.exp(sum(lp[t, c] for t, c in enumerate(path)))
    return -math.log(total) if total > 0 else math.inf


def _log_softmax(x):
    return x - np.log(np.exp(x - x.max(-1, keepdims=True)).sum(-1, keepdims=True)) - x.max(-1, keepdims=True)


CTC_TARGETS = [[1, 2], [2, 2], [1], [], [1, 1, 1], [2, 1, 2]]


@pytest.mark.parametrize("blank", [0, 1])
def test_ctc_loss_equals_brute_force_path_sum(blank):
    rng = np.random.default_rng(7)
    steps, classes = 5, 3
    targets = [[c if c != blank else (blank + 1) % classes for c in t] for t in CTC_TARGETS]
    lp = _log_softmax(rng.normal(size=(steps, len(targets), classes)))
    lengths = [5, 4, 3, 5, 5, 2]
    expected = [ctc_brute_force(lp[: lengths[n], n], targets[n], blank) for n in range(len(targets))]
    padded = np.zeros((len(targets), 3), dtype=np.int64)
    for n, t in enumerate(targets):
        padded[n, : len(t)] = t
    tl = [len(t) for t in targets]
    out = F.ctc_loss(t64(lp), ti(padded), lengths, tl, blank=blank, reduction="none")
    close(out, expected, rtol=1e-10, what="ctc per sample")  # the last sample is infeasible: inf
    assert math.isinf(expected[-1])
    concat = F.ctc_loss(t64(lp), ti(sum(targets, [])), fg.tensor(lengths), fg.tensor(tl), blank=blank, reduction="none")
    close(concat, expected)
    zi = F.ctc_loss(t64(lp), ti(padded), lengths, tl, blank=blank, reduction="none", zero_infinity=True)
    close(zi, expected[:-1] + [0.0])
    finite = np.array(expected[:-1])
    mean = F.ctc_loss(t64(lp[:, :-1]), ti(padded[:-1]), lengths[:-1], tl[:-1], blank=blank)
    close(mean, (finite / np.maximum(tl[:-1], 1)).mean())
    total = F.ctc_loss(t64(lp[:, :-1]), ti(padded[:-1]), lengths[:-1], tl[:-1], blank=blank, reduction="sum")
    close(total, finite.sum())


def test_ctc_loss_unbatched_and_empty_input():
    rng = np.random.default_rng(8)
    lp = _log_softmax(rng.normal(size=(4, 3)))
    out = F.ctc_loss(t64(lp), ti([1, 2]), fg.tensor(4), fg.tensor(2), reduction="none")
    assert out.shape == ()
    close(out, ctc_brute_force(lp, [1, 2], 0))
    lp3 = t64(lp[:, None].repeat(2, 1))
    out = F.ctc_loss(lp3, ti([[1, 2], [1, 2]]), [0, 0], [0, 1], reduction="none")
    close(out, [0.0, math.inf])


def test_ctc_loss_gradcheck_through_log_softmax():
    rng = np.random.default_rng(9)
    x = t64(rng.normal(size=(5, 3, 4)), grad=True)
    targets = ti([[1, 2, 2], [3, 3, 0], [1, 0, 0]])

    def f(x):
        return F.ctc_loss(x.log_softmax(2), targets, (5, 4, 3), (3, 2, 1), zero_infinity=True)

    assert gradcheck(f, [x], atol=1e-6, rtol=1e-4)
    lp = t64(_log_softmax(rng.normal(size=(4, 2, 3))), grad=True)  # the derivative w.r.t. log_probs itself
    assert gradcheck(lambda lp: F.ctc_loss(lp, ti([[1, 2], [2, 0]]), (4, 3), (2, 1), reduction="sum"), [lp],
                     atol=1e-6, rtol=1e-4)


def test_ctc_loss_infeasible_sample_has_zero_gradient_not_nan():
    x = t64(np.zeros((2, 1, 3)), grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss = F.ctc_loss(x.log_softmax(2), ti([[1, 1]]), (2,), (2,), zero_infinity=True)
    loss.backward()
    close(loss, 0.0)
    np.testing.assert_array_equal(x.grad.numpy(), np.zeros((2, 1, 3)))


def test_ctc_loss_module_float32():
    rng = np.random.default_rng(10)
    x = fg.tensor(rng.normal(size=(6, 2, 4)).astype(np.float32), requires_grad=True)
    loss = nn.CTCLoss(blank=3)(x.log_softmax(2), ti([[0, 1, 2], [2, 2, 0]]), (6, 6), (3, 2))
    assert loss.dtype == fg.float32
    lp = _log_softmax(x.detach().numpy().astype(np.float64))
    ref = np.mean([ctc_brute_force(lp[:, 0], [0, 1, 2], 3) / 3, ctc_brute_force(lp[:, 1], [2, 2], 3) / 2])
    close(loss, ref, rtol=1e-5)
    loss.backward()
    assert np.isfinite(x.grad.numpy()).all()


CTC_ERRORS = [
    ("dims", lambda lp: F.ctc_loss(lp[None], ti([[1]]), (3,), (1,)), RuntimeError, r"\(T, N, C\).*\[1, 3, 2, 4\]"),
    ("blank", lambda lp: F.ctc_loss(lp, ti([[1], [1]]), (3, 3), (1, 1), blank=4), RuntimeError, "blank must be in label range"),
    ("lengths size", lambda lp: F.ctc_loss(lp, ti([[1], [1]]), (3,), (1, 1)), RuntimeError, "input_lengths must be of size batch_size"),
    ("float lengths", lambda lp: F.ctc_loss(lp, ti([[1], [1]]), t64([3, 3]), (1, 1)), RuntimeError, "must be integral"),
    ("input too long", lambda lp: F.ctc_loss(lp, ti([[1], [1]]), (4, 3), (1, 1)), RuntimeError, "at most 3, but got value 4"),
    ("negative target length", lambda lp: F.ctc_loss(lp, ti([[1], [1]]), (3, 3), (-1, 1)), RuntimeError, "at least 0"),
    ("padded too narrow", lambda lp: F.ctc_loss(lp, ti([[1], [1]]), (3, 3), (2, 1)), RuntimeError, r"at least \(2, 2\).*\[2, 1\]"),
    ("concatenated size", lambda lp: F.ctc_loss(lp, ti([1, 2, 3]), (3, 3), (1, 1)), RuntimeError, "size 2 .*got size 3"),
    ("label range", lambda lp: F.ctc_loss(lp, ti([[1], [4]]), (3, 3), (1, 1)), RuntimeError, r"\[0, 4\)"),
    ("reduction", lambda lp: F.ctc_loss(lp, ti([[1], [1]]), (3, 3), (1, 1), reduction="batchmean"), ValueError, "batchmean"),
]


@pytest.mark.parametrize("fn,exc,match", [e[1:] for e in CTC_ERRORS], ids=[e[0] for e in CTC_ERRORS])
def test_ctc_loss_errors(fn, exc, match):
    lp = t64(_log_softmax(np.zeros((3, 2, 4))))
    with pytest.raises(exc, match=match):
        fn(lp)


@pytest.mark.parametrize("offset", [0.0, 1e12, 1e20, -1e30])
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_cross_entropy_of_huge_logits_keeps_the_log_sum(offset, smoothing):
    # log p = (x - max) - logsum, as PyTorch orders it: max + logsum first rounded the loss to 0
    x = np.array([[offset + 0.5, offset, offset - 1.0]], np.float32)
    z = x.astype(np.float64) - x.max()  # exact in float64: the logits' spacing survives float32
    logp = z - np.log(np.exp(z).sum())
    want = -(1 - smoothing) * logp[0, 1] - smoothing / 3 * logp[0].sum()
    got = F.cross_entropy(fg.tensor(x), fg.tensor([1]), label_smoothing=smoothing).item()
    assert got == pytest.approx(want, rel=1e-6)


def test_probability_targets_take_a_negative_ignore_index():
    x, p = fg.tensor([[0.5, -1.0, 2.0]]), fg.tensor([[0.2, 0.3, 0.5]])
    want = F.cross_entropy(x, p).item()
    assert F.cross_entropy(x, p, ignore_index=-1).item() == want  # PyTorch refuses only ignore_index >= 0


@pytest.mark.parametrize("loss", ["mse_loss", "smooth_l1_loss"])
def test_a_float64_target_makes_the_loss_float64_as_pytorch(loss):
    # a float32 prediction against a numpy-made float64 target: PyTorch's loss is float64 (it
    # was float32 here); the prediction's gradient stays float32
    pred = np.array([[0.25, -1.5, 3.0]], np.float32)
    target = np.array([[0.1, -1.0, 0.5]])
    x = fg.tensor(pred, requires_grad=True)
    out = getattr(F, loss)(x, fg.tensor(target))
    diff = pred.astype(np.float64) - target
    want = (diff**2).mean() if loss == "mse_loss" else np.where(np.abs(diff) < 1, 0.5 * diff**2, np.abs(diff) - 0.5).mean()
    assert out.dtype == fg.float64 and out.item() == pytest.approx(want, rel=1e-15)
    out.backward()
    assert x.grad.dtype == fg.float32
