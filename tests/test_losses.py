"""Loss functions and modules against numpy references written from PyTorch's formulas: forward
(float64 and float32, every reduction), float64 gradcheck, numerical stability and bad inputs.

PyTorch rules the references encode: class-index cross_entropy/nll_loss 'mean' divides by the sum
of w[target] over rows that are not ignored (so all-ignored gives nan), and with label smoothing
the smoothing term is divided by that same sum; probability-target 'mean' divides by the number of
samples N*d1*... whatever the weights; BCE clamps each log at -100.
"""

import ferrograd as fg
import ferrograd.nn as nn
import ferrograd.nn.functional as F
import numpy as np
import pytest
from helpers import away_from

REDUCTIONS = ["none", "mean", "sum"]
gradcheck = fg.autograd.gradcheck


def t64(a, grad=False):
    return fg.tensor(np.asarray(a, dtype=np.float64), requires_grad=grad)


def ti(a):
    return fg.tensor(np.asarray(a, dtype=np.int64))


def npa(t):
    return t.detach().numpy()


def close(out, ref, rtol=1e-10, atol=1e-12, what=""):
    ref = np.asarray(ref, dtype=np.float64)
    assert tuple(out.shape) == ref.shape, f"{what}: shape {tuple(out.shape)} != reference {ref.shape}"
    np.testing.assert_allclose(npa(out), ref, rtol=rtol, atol=atol, err_msg=what)


# ---- numpy references ---------------------------------------------------------------------

def log_softmax(x, axis):
    s = x - x.max(axis, keepdims=True)
    return s - np.log(np.exp(s).sum(axis, keepdims=True))


def reduce_ref(loss, reduction):
    return {"none": loss, "sum": loss.sum(), "mean": loss.mean() if loss.size else np.float64(np.nan)}[reduction]


def nll_rows_ref(lp, t, weight, ignore_index, reduction, ls=0.0):
    """lp: log-probabilities (N, C, d...) or (C,); t: int targets. PyTorch's nll_loss_nd plus
    cross_entropy's label-smoothing term."""
    unbatched = lp.ndim == 1
    if unbatched:
        lp, t = lp[None], np.asarray(t).reshape(1)
    c = lp.shape[1]
    rows = np.moveaxis(lp, 1, -1).reshape(-1, c)
    tf = np.asarray(t).reshape(-1)
    w = np.ones(c) if weight is None else np.asarray(weight, dtype=np.float64)
    keep = tf != ignore_index
    safe = np.where(keep, tf, 0)
    wt = w[safe] * keep
    nll = -rows[np.arange(len(safe)), safe] * wt
    smooth = -(rows * w).sum(1) * keep
    loss = (1 - ls) * nll + ls / c * smooth
    if reduction == "none":
        return loss.reshape(()) if unbatched else loss.reshape(t.shape)
    if reduction == "sum":
        return loss.sum()
    with np.errstate(invalid="ignore", divide="ignore"):
        return (1 - ls) * nll.sum() / wt.sum() + ls / c * smooth.sum() / wt.sum()


def ce_ref(x, t, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
    return nll_rows_ref(log_softmax(x, 1 if x.ndim > 1 else 0), t, weight, ignore_index, reduction, label_smoothing)


def soft_ce_ref(x, p, weight=None, reduction="mean", label_smoothing=0.0):
    dim = 1 if x.ndim > 1 else 0
    c = x.shape[dim]
    p = p * (1 - label_smoothing) + label_smoothing / c
    wshape = [1] * x.ndim
    wshape[dim] = c
    w = np.ones(wshape) if weight is None else np.asarray(weight).reshape(wshape)
    loss = -(log_softmax(x, dim) * p * w).sum(dim)
    if reduction == "mean":
        return loss.sum() / (x.size / c) if x.size else np.float64(np.nan)
    return reduce_ref(loss, reduction)


def smooth_l1_ref(x, y, beta=1.0):
    d = np.abs(x - y)
    return d if beta == 0 else np.where(d < beta, 0.5 * d * d / beta, d - 0.5 * beta)


def bce_ref(x, y, weight=None):
    with np.errstate(divide="ignore"):
        loss = -(y * np.maximum(np.log(x), -100) + (1 - y) * np.maximum(np.log(1 - x), -100))
    return loss if weight is None else loss * weight


def bce_logits_ref(x, y, weight=None, pos_weight=None):
    # -[pw*y*log(sigmoid(x)) + (1-y)*log(1-sigmoid(x))], with log(sigmoid(x)) = -logaddexp(0, -x)
    pw = 1.0 if pos_weight is None else pos_weight
    loss = pw * y * np.logaddexp(0, -x) + (1 - y) * np.logaddexp(0, x)
    return loss if weight is None else loss * weight


# ---- elementwise losses -------------------------------------------------------------------

R = np.random.default_rng(7)
W34, PW4 = R.uniform(0.5, 2, (3, 4)), R.uniform(0.5, 3, (4,))
# name, function, module, kwargs (numpy), reference(x, y, **kwargs), domain of x, domain of y, kinks of x - y
ELEMENTWISE = [
    ("mse", F.mse_loss, nn.MSELoss, {}, lambda x, y: (x - y) ** 2, (-2, 2), (-2, 2), ()),
    ("l1", F.l1_loss, nn.L1Loss, {}, lambda x, y: np.abs(x - y), (-2, 2), (-2, 2), (0.0,)),
    ("smooth_l1", F.smooth_l1_loss, nn.SmoothL1Loss, {}, smooth_l1_ref, (-2, 2), (-2, 2), (0.0, -1.0, 1.0)),
    ("smooth_l1_beta0.3", F.smooth_l1_loss, nn.SmoothL1Loss, {"beta": 0.3}, smooth_l1_ref, (-1, 1), (-1, 1), (0.0, -0.3, 0.3)),
    ("smooth_l1_beta0", F.smooth_l1_loss, nn.SmoothL1Loss, {"beta": 0.0}, smooth_l1_ref, (-2, 2), (-2, 2), (0.0,)),
    ("bce", F.binary_cross_entropy, nn.BCELoss, {}, bce_ref, (0.05, 0.95), (0, 1), ()),
    ("bce_weight", F.binary_cross_entropy, nn.BCELoss, {"weight": W34}, bce_ref, (0.05, 0.95), (0, 1), ()),
    ("bce_logits", F.binary_cross_entropy_with_logits, nn.BCEWithLogitsLoss, {}, bce_logits_ref, (-4, 4), (0, 1), ()),
    ("bce_logits_pos_weight", F.binary_cross_entropy_with_logits, nn.BCEWithLogitsLoss, {"pos_weight": PW4},
     bce_logits_ref, (-4, 4), (0, 1), ()),
    ("bce_logits_both", F.binary_cross_entropy_with_logits, nn.BCEWithLogitsLoss, {"weight": W34[:, :1], "pos_weight": PW4},
     bce_logits_ref, (-4, 4), (0, 1), ()),
]


def elementwise_data(case, seed=0, shape=(3, 4)):
    _, _, _, _, _, (xl, xh), (yl, yh), kinks = case
    r = np.random.default_rng(seed)
    y = r.uniform(yl, yh, shape)
    if kinks:  # keep x - y off the kinks so finite differences are smooth
        d = away_from([r.uniform(xl - yh, xh - yl, shape)], points=kinks, margin=0.05)[0]
        return y + d, y
    return r.uniform(xl, xh, shape), y


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("case", ELEMENTWISE, ids=[c[0] for c in ELEMENTWISE])
def test_elementwise_loss_function_and_module_match_reference(case, reduction):
    name, fn, mod, kw, ref, *_ = case
    x, y = elementwise_data(case)
    expected = reduce_ref(ref(x, y, **kw), reduction)
    for dt, npdt, rtol in ((fg.float64, np.float64, 1e-12), (fg.float32, np.float32, 2e-6)):
        xs, ys = x.astype(npdt), y.astype(npdt)
        exp = reduce_ref(ref(xs.astype(np.float64), ys.astype(np.float64), **kw), reduction)
        fkw = {k: fg.tensor(v.astype(npdt)) for k, v in kw.items() if k != "beta"}
        fkw.update({k: v for k, v in kw.items() if k == "beta"})
        out_f = fn(fg.tensor(xs), fg.tensor(ys), reduction=reduction, **fkw)
        out_m = mod(reduction=reduction, **fkw)(fg.tensor(xs), fg.tensor(ys))
        for out, form in ((out_f, "function"), (out_m, "module")):
            assert out.dtype == dt, f"{name} {form}: dtype {out.dtype}"
            close(out, exp, rtol=rtol, atol=rtol, what=f"{name} {form} {dt}")
    assert np.asarray(expected).shape == ((3, 4) if reduction == "none" else ())


@pytest.mark.parametrize("reduction", ["none", "mean"])
@pytest.mark.parametrize("case", ELEMENTWISE, ids=[c[0] for c in ELEMENTWISE])
def test_elementwise_loss_gradcheck_input_and_target(case, reduction):
    _, fn, _, kw, *_ = case
    x, y = elementwise_data(case, seed=3, shape=(2, 4))
    fkw = {k: (t64(v[:2]) if k == "weight" else t64(v)) if k != "beta" else v for k, v in kw.items()}
    assert gradcheck(lambda a, b: fn(a, b, reduction=reduction, **fkw), [t64(x, True), t64(y, True)])


def test_elementwise_losses_of_0d_tensors():
    x, y = t64(0.3), t64(0.8)
    close(F.mse_loss(x, y, reduction="none"), 0.25)
    close(F.l1_loss(x, y), 0.5)
    close(F.smooth_l1_loss(x, y, beta=2.0), 0.0625)
    close(F.binary_cross_entropy(x, y), bce_ref(0.3, 0.8))
    close(F.binary_cross_entropy_with_logits(x, y), bce_logits_ref(0.3, 0.8))


@pytest.mark.parametrize("dtype", [fg.float32, fg.float64])
@pytest.mark.parametrize("loss", ["smooth_l1", "huber", "mse"])
def test_a_nan_input_has_a_nan_gradient(loss, dtype):
    """PyTorch's backward formulas carry a NaN input into its gradient (smooth_l1's grad * d /
    beta, which neither of its |d| >= beta branches catches); ferrograd's smooth_l1 gave 0 there,
    which would hide the NaN from the optimizer. The other elements keep their gradients."""
    fn = {"smooth_l1": lambda x, y: F.smooth_l1_loss(x, y, beta=1.0), "huber": lambda x, y: F.huber_loss(x, y, delta=1.0),
          "mse": F.mse_loss}[loss]
    x = fg.tensor([float("nan"), 3.0, -2.0, 0.5], dtype=dtype, requires_grad=True)
    fn(x, fg.zeros(4, dtype=dtype)).backward()
    g = npa(x.grad)
    assert np.isnan(g[0])
    want = {"smooth_l1": [0.25, -0.25, 0.125], "huber": [0.25, -0.25, 0.125], "mse": [1.5, -1.0, 0.25]}[loss]
    np.testing.assert_allclose(g[1:], want, rtol=1e-6)


# ---- cross_entropy with class indices -----------------------------------------------------

CE_SHAPES = {"NC": ((6, 4), (6,)), "NCd1d2": ((3, 4, 2, 3), (3, 2, 3)), "C": ((4,), ())}
CLASS_W = np.array([0.5, 2.0, 1.0, 3.0])


def ce_data(shape_id, seed=0, scale=2.0):
    xs, tshape = CE_SHAPES[shape_id]
    r = np.random.default_rng(seed)
    t = r.integers(0, 4, tshape)
    if t.ndim:  # class 2 (the ignore_index of the ignore cases) present, and not everywhere
        t.flat[0], t.flat[-1] = 2, 0
    return r.uniform(-scale, scale, xs), t


@pytest.mark.parametrize("label_smoothing", [0.0, 0.15])
@pytest.mark.parametrize("ignore_index", [-100, 2])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape_id", list(CE_SHAPES))
def test_cross_entropy_class_targets_match_reference(shape_id, reduction, weighted, ignore_index, label_smoothing):
    x, t = ce_data(shape_id)
    w = CLASS_W if weighted else None
    kw = dict(ignore_index=ignore_index, reduction=reduction, label_smoothing=label_smoothing)
    exp = ce_ref(x, t, w, **kw)
    wt = None if w is None else t64(w)
    close(F.cross_entropy(t64(x), ti(t), weight=wt, **kw), exp, what="function")
    close(nn.CrossEntropyLoss(weight=wt, **kw)(t64(x), ti(t)), exp, what="module")
    x32 = fg.tensor(x.astype(np.float32))
    out32 = F.cross_entropy(x32, ti(t), weight=None if w is None else fg.tensor(w.astype(np.float32)), **kw)
    assert out32.dtype == fg.float32
    close(out32, ce_ref(x.astype(np.float32).astype(np.float64), t, w, **kw), rtol=2e-6, atol=2e-6, what="float32")


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("shape_id", list(CE_SHAPES))
def test_cross_entropy_gradcheck_with_weight_ignore_index_and_smoothing(shape_id, reduction):
    x, t = ce_data(shape_id, seed=1)
    ignore = -100 if shape_id == "C" else 2
    for kw in ({}, dict(weight=t64(CLASS_W), ignore_index=ignore, label_smoothing=0.2)):
        assert gradcheck(lambda a, kw=kw: F.cross_entropy(a, ti(t), reduction=reduction, **kw), [t64(x, True)]), kw


@pytest.mark.parametrize("label_smoothing", [0.0, 0.3])
@pytest.mark.parametrize("weighted", [False, True])
def test_cross_entropy_all_targets_ignored(weighted, label_smoothing):
    x = t64(np.random.default_rng(2).normal(size=(3, 4)), grad=True)
    t = ti([-100, -100, -100])
    kw = dict(weight=t64(CLASS_W) if weighted else None, label_smoothing=label_smoothing)
    mean = F.cross_entropy(x, t, **kw)
    assert np.isnan(mean.item()), "PyTorch gives nan (0/0) for the mean over no targets"
    mean.backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.zeros((3, 4)))  # PyTorch: zeros, not nan
    assert F.cross_entropy(x, t, reduction="sum", **kw).item() == 0.0
    np.testing.assert_array_equal(npa(F.cross_entropy(x, t, reduction="none", **kw)), np.zeros(3))


def test_label_smoothing_with_weights_uses_pytorchs_mean_rule():
    # mean divides BOTH terms by sum of w[t] over non-ignored rows; the two plausible
    # alternatives (smoothing term over the count of rows, or over N) give other numbers here
    x, t, w, e = np.random.default_rng(5).normal(size=(5, 4)), np.array([0, 3, 1, -100, 3]), CLASS_W, 0.25
    lp = log_softmax(x, 1)
    keep = t != -100
    nll = -(lp[np.arange(5), np.where(keep, t, 0)] * w[np.where(keep, t, 0)] * keep).sum()
    smooth = (-(lp * w).sum(1) * keep).sum()
    wsum = w[t[keep]].sum()
    rule = (1 - e) * nll / wsum + e / 4 * smooth / wsum
    for alt in ((1 - e) * nll / wsum + e / 4 * smooth / keep.sum(), (1 - e) * nll / wsum + e / 4 * smooth / 5):
        assert abs(alt - rule) > 1e-3
    out = F.cross_entropy(t64(x), ti(t), weight=t64(w), label_smoothing=e)
    close(out, rule)
    close(out, ce_ref(x, t, w, label_smoothing=e))


def test_cross_entropy_empty_batch_mean_is_nan():
    assert np.isnan(F.cross_entropy(fg.zeros(0, 4, dtype=fg.float64), ti(np.zeros(0, np.int64))).item())


# ---- cross_entropy with probability targets -----------------------------------------------

def prob_targets(shape, seed):
    p = np.random.default_rng(seed).uniform(0.1, 1, shape)
    dim = 1 if len(shape) > 1 else 0
    return p / p.sum(dim, keepdims=True)


@pytest.mark.parametrize("label_smoothing", [0.0, 0.2])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape_id", list(CE_SHAPES))
def test_cross_entropy_probability_targets_match_reference(shape_id, reduction, weighted, label_smoothing):
    x, _ = ce_data(shape_id)
    p = prob_targets(x.shape, 1)
    w = CLASS_W if weighted else None
    exp = soft_ce_ref(x, p, w, reduction, label_smoothing)
    wt = None if w is None else t64(w)
    kw = dict(reduction=reduction, label_smoothing=label_smoothing)
    close(F.cross_entropy(t64(x), t64(p), weight=wt, **kw), exp, what="function")
    close(nn.CrossEntropyLoss(weight=wt, **kw)(t64(x), t64(p)), exp, what="module")


@pytest.mark.parametrize("shape_id", list(CE_SHAPES))
def test_cross_entropy_probability_targets_gradcheck_input_and_target(shape_id):
    x, _ = ce_data(shape_id, seed=4)
    p = prob_targets(x.shape, 4)
    for kw in (dict(reduction="none"), dict(weight=t64(CLASS_W), label_smoothing=0.1, reduction="mean")):
        assert gradcheck(lambda a, b, kw=kw: F.cross_entropy(a, b, **kw), [t64(x, True), t64(p, True)]), kw


def test_one_hot_probability_targets_agree_with_class_targets():
    x, t = ce_data("NC", seed=6)
    onehot = np.eye(4)[t]
    for kw in (dict(reduction="mean"), dict(reduction="none", label_smoothing=0.1), dict(reduction="sum", weight=t64(CLASS_W))):
        close(F.cross_entropy(t64(x), t64(onehot), **kw), npa(F.cross_entropy(t64(x), ti(t), **kw)), what=str(kw))
    # with weights, the means differ: sum of w[t] (class indices) vs N (probabilities)
    soft = F.cross_entropy(t64(x), t64(onehot), weight=t64(CLASS_W)).item()
    hard = F.cross_entropy(t64(x), ti(t), weight=t64(CLASS_W)).item()
    np.testing.assert_allclose(soft * 6, hard * CLASS_W[t].sum(), rtol=1e-12)


def test_cross_entropy_probability_targets_empty_batch_mean_is_nan():
    z = fg.zeros(0, 4, dtype=fg.float64)
    assert np.isnan(F.cross_entropy(z, z).item()), "PyTorch returns nan for the mean over an empty batch"


# ---- nll_loss -----------------------------------------------------------------------------

@pytest.mark.parametrize("ignore_index", [-100, 2])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape_id", ["NC", "C"])
def test_nll_loss_matches_reference(shape_id, reduction, weighted, ignore_index):
    x, t = ce_data(shape_id, seed=8)
    lp = log_softmax(x, x.ndim - 1)
    w = CLASS_W if weighted else None
    kw = dict(ignore_index=ignore_index, reduction=reduction)
    exp = nll_rows_ref(lp, t, w, ignore_index, reduction)
    wt = None if w is None else t64(w)
    close(F.nll_loss(t64(lp), ti(t), weight=wt, **kw), exp, what="function")
    close(nn.NLLLoss(weight=wt, **kw)(t64(lp), ti(t)), exp, what="module")
    if np.all(np.isfinite(exp)):  # not the unbatched sample that is itself ignored (mean = 0/0)
        assert gradcheck(lambda a: F.nll_loss(a, ti(t), weight=wt, **kw), [t64(lp, True)])


def test_nll_loss_of_log_softmax_equals_cross_entropy():
    x, t = ce_data("NC", seed=9)
    kw = dict(weight=t64(CLASS_W), ignore_index=2)
    close(F.nll_loss(F.log_softmax(t64(x), 1), ti(t), **kw), npa(F.cross_entropy(t64(x), ti(t), **kw)))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_nll_loss_spatial_input(reduction):
    # PyTorch's nll_loss takes (N, C, d1, ...) like cross_entropy (NLLLoss after LogSoftmax(dim=1))
    x, t = ce_data("NCd1d2", seed=10)
    lp = log_softmax(x, 1)
    out = F.nll_loss(t64(lp), ti(t), weight=t64(CLASS_W), reduction=reduction)
    close(out, nll_rows_ref(lp, t, CLASS_W, -100, reduction))


def test_nll_loss_empty_batch_mean_is_nan():
    assert np.isnan(F.nll_loss(fg.zeros(0, 4, dtype=fg.float64), ti(np.zeros(0, np.int64))).item())


# ---- numerical stability ------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [fg.float64, fg.float32])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
def test_cross_entropy_huge_logits_are_finite_and_exact(dtype, label_smoothing):
    x = np.array([[1e4, 0.0, -1e4], [-1e4, 1e4, 0.0], [0.0, 0.0, 1e4], [1e4, 1e4, -1e4]])
    t = np.array([1, 1, 0, 0])
    xt = fg.tensor(x, dtype=dtype, requires_grad=True)
    out = F.cross_entropy(xt, ti(t), label_smoothing=label_smoothing, reduction="sum")
    close(out, ce_ref(x, t, reduction="sum", label_smoothing=label_smoothing), rtol=1e-6)
    out.backward()
    p = np.exp(log_softmax(x, 1))
    target = np.eye(3)[t] * (1 - label_smoothing) + label_smoothing / 3
    close(xt.grad, p - target, rtol=1e-6, atol=1e-6)
    soft = F.cross_entropy(fg.tensor(x, dtype=dtype), fg.tensor(np.eye(3)[t], dtype=dtype), reduction="sum")
    assert np.isfinite(soft.item())
    close(soft, ce_ref(x, t, reduction="sum"), rtol=1e-6)


@pytest.mark.parametrize("dtype", [fg.float64, fg.float32])
def test_bce_with_logits_large_logits_are_finite(dtype):
    x = np.array([100.0, -100.0, 100.0, -100.0, 30.0])
    y = np.array([1.0, 0.0, 0.0, 1.0, 0.5])
    xt = fg.tensor(x, dtype=dtype, requires_grad=True)
    out = F.binary_cross_entropy_with_logits(xt, fg.tensor(y, dtype=dtype), reduction="none")
    close(out, bce_logits_ref(x, y), rtol=1e-6, atol=1e-30)
    out.sum().backward()
    close(xt.grad, 1 / (1 + np.exp(-x)) - y, rtol=1e-6, atol=1e-30)


@pytest.mark.parametrize("pos_weight", [None, 2.5])
def test_bce_with_logits_gradient_at_zero_logit(pos_weight):
    # d/dx = (pw*y + 1 - y) * sigmoid(x) - pw*y; at x = 0 (a zero-initialised head) that is
    # 0.5 - y without pos_weight. |x| and max(-x, 0) both have a kink there that must cancel.
    x = np.array([0.0, 0.0, 0.0, 1.5])
    y = np.array([0.0, 1.0, 0.3, 1.0])
    pw = 1.0 if pos_weight is None else pos_weight
    xt = t64(x, grad=True)
    kw = {} if pos_weight is None else {"pos_weight": t64(np.full(4, pw))}
    F.binary_cross_entropy_with_logits(xt, t64(y), reduction="sum", **kw).backward()
    close(xt.grad, (pw * y + 1 - y) / (1 + np.exp(-x)) - pw * y, what="d loss / d logit")


def test_bce_inputs_exactly_zero_and_one_have_finite_loss_and_pytorchs_gradient():
    # PyTorch clamps the logs at -100 and computes the gradient as (x - y) / max(x (1 - x), 1e-12):
    # 0 where the prediction is exactly right, +-1e12 where it is exactly wrong, never nan.
    x = np.array([0.0, 1.0, 0.0, 1.0, 0.25])
    y = np.array([0.0, 1.0, 1.0, 0.0, 1.0])
    xt = t64(x, grad=True)
    out = F.binary_cross_entropy(xt, t64(y), reduction="none")
    close(out, [0.0, 0.0, 100.0, 100.0, -np.log(0.25)])
    out.sum().backward()
    g = npa(xt.grad)
    assert np.all(np.isfinite(g)), f"gradient {g}"
    # the clamp is 1e-12 as a float32 constant in PyTorch's CPU kernel (the golden values agree)
    close(xt.grad, (x - y) / np.maximum(x * (1 - x), float(np.float32(1e-12))), rtol=1e-9)


# ---- state and bad inputs -----------------------------------------------------------------

def test_loss_modules_register_weights_as_buffers():
    w = fg.ones(3)
    assert list(nn.CrossEntropyLoss(weight=w).state_dict()) == ["weight"]
    assert list(nn.NLLLoss(weight=w).state_dict()) == ["weight"]
    assert list(nn.BCEWithLogitsLoss(weight=w, pos_weight=w).state_dict()) == ["weight", "pos_weight"]
    assert list(nn.CrossEntropyLoss().state_dict()) == [] and list(nn.MSELoss().parameters()) == []


x35, t3 = fg.randn(3, 5), ti([1, 2, 3])
p34, y34 = fg.full((3, 4), 0.5), fg.zeros(3, 4)
BAD = [
    ("ce target too large", lambda: F.cross_entropy(x35, ti([1, 2, 7])), IndexError, r"^Target 7 is out of bounds"),
    ("ce target negative", lambda: F.cross_entropy(x35, ti([1, -3, 2])), IndexError, r"^Target -3 is out of bounds"),
    ("ce spatial target out of range", lambda: F.cross_entropy(fg.zeros(1, 3, 2), ti([[0, 3]])), IndexError, r"Target 3 is out"),
    ("ce unbatched target out of range", lambda: F.cross_entropy(fg.zeros(3), ti(5)), IndexError, r"Target 5 is out"),
    ("nll target too large", lambda: F.nll_loss(x35, ti([1, 2, 7])), IndexError, r"^Target 7 is out of bounds"),
    ("ce bool target", lambda: F.cross_entropy(x35, fg.tensor([True, False, True])), RuntimeError, r"int64"),
    ("ce integer logits", lambda: F.cross_entropy(ti([[1, 2]]), ti([0])), RuntimeError, r"floating point"),
    ("nll float target", lambda: F.nll_loss(x35, fg.tensor([1.0, 2.0, 3.0])), RuntimeError, r"int64"),
    ("nll batch mismatch", lambda: F.nll_loss(x35, ti([1, 2])), ValueError, r"shape"),
    ("ce spatial shape mismatch", lambda: F.cross_entropy(fg.zeros(2, 3, 4), ti(np.zeros((2, 5), np.int64))),
     RuntimeError, r"target"),
    ("ce probability target shape", lambda: F.cross_entropy(x35, fg.rand(3, 4)), ValueError, r"shape"),
    ("ce weight size", lambda: F.cross_entropy(x35, t3, weight=fg.ones(4)), RuntimeError, r"weight tensor should be defined"),
    ("ce label_smoothing > 1", lambda: F.cross_entropy(x35, t3, label_smoothing=1.5), ValueError, r"label_smoothing"),
    ("ce label_smoothing < 0", lambda: F.cross_entropy(x35, t3, label_smoothing=-0.1), ValueError, r"label_smoothing"),
    ("CrossEntropyLoss label_smoothing", lambda: nn.CrossEntropyLoss(label_smoothing=2.0)(x35, t3), ValueError, r"label_smoothing"),
    ("bce input > 1", lambda: F.binary_cross_entropy(fg.tensor([0.5, 1.5]), fg.tensor([0.0, 1.0])), RuntimeError,
     r"between 0 and 1"),
    ("bce input < 0", lambda: F.binary_cross_entropy(fg.tensor([-0.5, 0.5]), fg.tensor([0.0, 1.0])), RuntimeError,
     r"between 0 and 1"),
    ("smooth_l1 negative beta", lambda: F.smooth_l1_loss(p34, y34, beta=-1.0), ValueError, r"beta"),
    ("probability target with ignore_index", lambda: F.cross_entropy(x35, fg.full((3, 5), 0.2), ignore_index=0),
     RuntimeError, r"ignore_index is not supported for floating point target"),
]
for _name, _fn in [("mse", F.mse_loss), ("l1", F.l1_loss), ("smooth_l1", F.smooth_l1_loss), ("bce", F.binary_cross_entropy),
                   ("bce_logits", F.binary_cross_entropy_with_logits)]:
    BAD.append((f"{_name} target shape (3, 1)", lambda f=_fn: f(p34, fg.zeros(3, 1)), ValueError, r"target shape \(3, 1\)"))
    BAD.append((f"{_name} target shape (4,)", lambda f=_fn: f(p34, fg.zeros(4)), ValueError, r"differs from input shape"))
    BAD.append((f"{_name} bad reduction", lambda f=_fn: f(p34, y34, reduction="avg"), ValueError, r"avg is not a valid"))
BAD += [
    ("ce bad reduction", lambda: F.cross_entropy(x35, t3, reduction="avg"), ValueError, r"avg is not a valid"),
    ("ce probability bad reduction", lambda: F.cross_entropy(x35, fg.rand(3, 5), reduction="avg"), ValueError, r"avg is not"),
    ("nll bad reduction", lambda: F.nll_loss(x35, t3, reduction="avg"), ValueError, r"avg is not a valid"),
] + [(f"{m.__name__}(reduction='avg')", lambda m=m: m(reduction="avg"), ValueError, r"avg is not a valid")
     for m in (nn.CrossEntropyLoss, nn.NLLLoss, nn.MSELoss, nn.L1Loss, nn.SmoothL1Loss, nn.BCELoss, nn.BCEWithLogitsLoss)]


@pytest.mark.parametrize("name, call, exc, match", BAD, ids=[b[0] for b in BAD])
def test_bad_input_raises(name, call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_cross_entropy_batch_size_mismatch_raises_value_error_like_pytorch_and_nll_loss():
    # PyTorch: ValueError "Expected input batch_size (3) to match target batch_size (2)"; so does
    # ferrograd's own nll_loss for the same mistake
    with pytest.raises(ValueError):
        F.cross_entropy(x35, ti([1, 2]))
