"""The losses and distances of the loss helper against PyTorch (see cases_nn.py): each functional
form and its module, on drawn shapes (0-size, 0-d, unbatched), dtypes, strided views, reductions and
options; values, output dtypes and gradients compared.

Deliberate differences not drawn (README "Where PyTorch has a known trap", and the docstrings):
- an elementwise loss's target shaped unlike its input (PyTorch broadcasts; ferrograd refuses);
- ctc_loss's gradient for a leaf log_probs (PyTorch returns the gradient w.r.t. the logits under a
  log_softmax): log_probs are drawn as logits and go through log_softmax, as in real use; targets
  containing the blank (PyTorch's gradient is off when it repeats) and impossible alignments without zero_infinity
  (PyTorch's gradient is NaN, ferrograd's 0) are not drawn;
- multi_margin_loss and multilabel_margin_loss 'mean' over an empty batch (PyTorch returns uninitialised
  memory; ferrograd NaN, the mean of nothing).
"""

from __future__ import annotations

import math

import numpy as np
from cases_nn import _REDUCTION, _kw_tensors
from harness import FLOATS, Args, Case, T, arrays, seeds, shapes, tensors
from hypothesis import assume
from hypothesis import strategies as st

# Tensor.norm's gradient for p other than 1 and 2 is 0, not PyTorch's NaN, at a NaN element when
# the incoming gradient is 0 (requested in notes/requests.md): NaN/inf inputs only for p 1 and 2
_NAN_SAFE_P = (1.0, 2.0)


def _dt():
    return st.sampled_from(FLOATS)


@st.composite
def _signs(draw, shape, dt):
    """A target of +-1 (no gradient)."""
    a = draw(arrays(dt, tuple(shape), low=-1, high=1, nonfinite=False))
    return T(np.where(a >= 0, 1, -1).astype(a.dtype))


@st.composite
def _pair(draw, kind):
    shape = draw(shapes())
    dt = draw(_dt())
    kw = {"reduction": draw(_REDUCTION)}
    extra = []
    if kind == "kl":
        log_target = draw(st.booleans())
        x = draw(tensors(shape, dt, low=-4, high=0))
        y = draw(tensors(shape, dt, low=-4 if log_target else 0, high=0 if log_target else 1, nonfinite=False))
        kw["log_target"] = log_target
        kw["reduction"] = draw(st.sampled_from(["mean", "sum", "none", "batchmean"]))
    elif kind == "huber":
        x, y = draw(tensors(shape, dt)), draw(tensors(shape, dt, nonfinite=False))
        kw["delta"] = draw(st.sampled_from([1.0, 0.5, 2.5]))
    elif kind == "poisson":
        kw["log_input"], kw["full"] = draw(st.booleans()), draw(st.booleans())
        x = draw(tensors(shape, dt, low=-3 if kw["log_input"] else 0, high=3))
        # a zero target's Stirling term is masked, but its gradient is 0 * log(0): not drawn with grad
        y = draw(tensors(shape, dt, low=0, high=5, nonfinite=False, grad=False if kw["full"] else None))
        kw["eps"] = draw(st.sampled_from([1e-8, 0.1]))
    elif kind == "gaussian":
        x, y = draw(tensors(shape, dt)), draw(tensors(shape, dt, nonfinite=False))
        vshape = draw(st.sampled_from(["same", "float"] + (["row", "one"] if shape else [])))
        if vshape == "float":
            kw["var"] = draw(st.sampled_from([0.5, 2.0, 0.0]))
        else:
            vs = {"same": shape, "row": shape[:-1]}.get(vshape)
            if vshape == "one":
                k = draw(st.integers(0, len(shape) - 1))
                vs = shape[:k] + (1,) + shape[k + 1:]
            extra = [draw(tensors(vs, dt, low=0, high=3, nonfinite=False))]
        kw["full"], kw["eps"] = draw(st.booleans()), draw(st.sampled_from([1e-6, 0.5]))
    elif kind in ("soft", "hinge"):
        # soft_margin_loss is a softplus in ferrograd, finite where PyTorch's log1p(exp(.)) overflows
        # (a margin beyond about 88 in float32): no infinite inputs for it
        x, y = draw(tensors(shape, dt, nonfinite=kind == "hinge")), draw(_signs(shape, dt))
        if kind == "hinge":
            kw["margin"] = draw(st.sampled_from([1.0, 0.5, -0.5]))
    elif kind == "ranking":
        shape = draw(shapes(max_dims=2))
        x, y = draw(tensors(shape, dt)), draw(tensors(shape, dt))
        extra = [draw(_signs(shape, dt))]
        kw["margin"] = draw(st.sampled_from([0.0, 0.5]))
    elif kind == "mlsm":
        shape = draw(shapes(min_dims=1, max_dims=2, min_side=1))
        x, y = draw(tensors(shape, dt)), draw(tensors(shape, dt, low=0, high=1, nonfinite=False))
        if draw(st.booleans()):
            kw["weight"] = draw(tensors(shape[-1:], dt, low=0, high=2, grad=False, nonfinite=False))
    return Args([x, y] + extra, kw, draw(seeds))


@st.composite
def _cosine_embedding(draw):
    dt = draw(_dt())
    batched = draw(st.booleans())
    d = draw(st.integers(1, 4))
    shape = (draw(st.integers(0, 3)), d) if batched else (d,)
    x1, x2 = draw(tensors(shape, dt)), draw(tensors(shape, dt))
    y = draw(_signs(shape[:1] if batched else (), dt))
    return Args([x1, x2, y], {"margin": draw(st.sampled_from([0.0, 0.3, -0.4])), "reduction": draw(_REDUCTION)},
                draw(seeds))


@st.composite
def _multi_margin(draw, multilabel):
    dt = draw(_dt())
    c = draw(st.integers(1, 4))
    batched = draw(st.booleans())
    n = draw(st.integers(1, 3))  # PyTorch's 'mean' over no samples returns uninitialised memory
    x = draw(tensors((n, c) if batched else (c,), dt))
    kw = {"reduction": draw(_REDUCTION)}
    if multilabel:
        y = draw(tensors((n, c) if batched else (c,), "int64", low=-1, high=c - 1, grad=False))
    else:
        y = draw(tensors((n,) if batched else draw(st.sampled_from([(), (1,)])), "int64", low=0, high=c - 1, grad=False))
        kw.update(p=draw(st.sampled_from([1, 2])), margin=draw(st.sampled_from([1.0, 0.5, 2.0])))
        if draw(st.booleans()):
            kw["weight"] = draw(tensors((c,), dt, low=0, high=2, grad=False, nonfinite=False))
    return Args([x, y], kw, draw(seeds))


@st.composite
def _triplet(draw, with_distance):
    dt = draw(_dt())
    shape = draw(st.sampled_from([(draw(st.integers(0, 3)), draw(st.integers(1, 4))), (draw(st.integers(1, 4)),)]))
    kw = {"margin": draw(st.sampled_from([1.0, 0.5, 3.0])), "swap": draw(st.booleans()), "reduction": draw(_REDUCTION)}
    if not with_distance:
        kw.update(p=draw(st.sampled_from([2.0, 1.0, 3.0])), eps=draw(st.sampled_from([1e-6, 0.0, 0.1])))
    xs = [draw(tensors(shape, dt, nonfinite=kw.get("p", 2.0) in _NAN_SAFE_P)) for _ in range(3)]
    return Args(xs, kw, draw(seeds))


def _needed_steps(target) -> int:
    return len(target) + sum(1 for a, b in zip(target, target[1:]) if a == b)


@st.composite
def _ctc(draw):
    dt = draw(_dt())
    steps, batch, classes = draw(st.integers(1, 5)), draw(st.integers(1, 3)), draw(st.integers(2, 4))
    blank = draw(st.integers(0, classes - 1))
    labels = [c for c in range(classes) if c != blank]
    targets = [draw(st.lists(st.sampled_from(labels), max_size=3)) for _ in range(batch)]
    in_len = [draw(st.integers(0, steps)) for _ in range(batch)]
    feasible = all(_needed_steps(t) <= n for t, n in zip(targets, in_len))
    zero_infinity = draw(st.booleans()) or not feasible
    tl = [len(t) for t in targets]
    if draw(st.booleans()):  # concatenated
        tg = np.array(sum(targets, []), dtype=np.int64)
    else:
        tg = np.full((batch, max(tl) + draw(st.integers(0, 1))), blank, dtype=np.int64)
        for n, t in enumerate(targets):
            tg[n, : len(t)] = t
    as_tensors = draw(st.booleans())
    il_arg = T(np.array(in_len, dtype=np.int64)) if as_tensors else tuple(in_len)
    tl_arg = T(np.array(tl, dtype=np.int64)) if as_tensors else tuple(tl)
    x = draw(tensors((steps, batch, classes), dt, low=-3, high=3, nonfinite=False))
    kw = {"blank": blank, "reduction": draw(_REDUCTION), "zero_infinity": zero_infinity}
    return Args([x, T(tg), il_arg, tl_arg], kw, draw(seeds))


@st.composite
def _weighted(draw, huber):
    """input, target and an elementwise weight of their shape (huber_loss, mse_loss, l1_loss)."""
    shape, dt = draw(shapes()), draw(_dt())
    xs = [draw(tensors(shape, dt)), draw(tensors(shape, dt, nonfinite=False)),
          draw(tensors(shape, dt, low=0, high=2, nonfinite=False))]
    # No tiny nonzero weights: the weighted mean divides by their sum, and the weight's gradient
    # is then a cancellation of terms of size 1 / sum, rounding noise in both libraries (a weight
    # of 3.3e-233 gave 0 here, the exact value, and 1.4e216 in PyTorch).
    w = np.abs(xs[2].base)
    assume(not ((w > 0) & (w < 1e-3)).any())
    kw = {"reduction": draw(_REDUCTION)}
    if huber:
        kw["delta"] = draw(st.sampled_from([1.0, 0.5, 2.5]))
    return Args(xs, kw, draw(seeds))


def _ctc_fn(L, x, tg, il, tl, **kw):
    return L.nn.functional.ctc_loss(x.log_softmax(2), tg, il, tl, **kw)


def _ctc_module(L, x, tg, il, tl, **kw):
    return L.nn.CTCLoss(**kw)(x.log_softmax(2), tg, il, tl)


@st.composite
def _cosine_similarity(draw):
    dt = draw(_dt())
    shape = draw(shapes(min_dims=1, max_dims=3))
    other = tuple(1 if draw(st.integers(0, 3)) == 0 else s for s in shape)
    x1 = draw(tensors(shape, dt))
    x2 = draw(tensors(other, dt))
    if draw(st.booleans()):
        x1, x2 = x2, x1
    nd = len(shape)
    return Args([x1, x2], {"dim": draw(st.integers(-nd, nd - 1)), "eps": draw(st.sampled_from([1e-8, 0.5]))},
                draw(seeds))


def _no_tiny_values(a: Args) -> bool:
    """No nonzero value below 1e-4 in size: along a dim of length 1 cosine similarity is x / |x|, a
    constant with gradient 0, and PyTorch's float32 gradient there is the cancellation of terms of
    size 1 / |x| (1.0 at x = 1e-7), noise rather than a value to compare."""
    return not any(hasattr(t, "base") and t.base.dtype.kind == "f" and bool(((np.abs(t.base) < 1e-4) & (t.base != 0)).any())
                   for t in a.inputs)


@st.composite
def _pairwise(draw):
    dt = draw(_dt())
    shape = draw(shapes(min_dims=0, max_dims=2))
    other = shape[-1:] if shape and draw(st.booleans()) else shape
    kw = {"p": draw(st.sampled_from([2.0, 1.0, 3.0, 0.5, math.inf])), "eps": draw(st.sampled_from([1e-6, 0.0])),
          "keepdim": draw(st.booleans())}
    nonfinite = kw["p"] in _NAN_SAFE_P
    return Args([draw(tensors(shape, dt, nonfinite=nonfinite)), draw(tensors(other, dt, nonfinite=nonfinite))], kw,
                draw(seeds))


@st.composite
def _pdist(draw):
    dt = draw(_dt())
    # at least one row: PyTorch 2.15's pdist backward segfaults on a (0, M) input
    p = draw(st.sampled_from([2.0, 1.0, 3.0, 0.5, math.inf]))
    # p = 1 draws finite values only: at a NaN element PyTorch's pdist kernel gives a NaN
    # gradient where its own Tensor.norm (and ferrograd's pdist, a norm of the row differences)
    # gives 0, as sgn(NaN) is 0.
    x = draw(tensors((draw(st.integers(1, 4)), draw(st.integers(0, 3))), dt, nonfinite=p == 2.0))
    return Args([x], {"p": p}, draw(seeds))


def _functional(name):
    return lambda L, *xs, **kw: getattr(L.nn.functional, name)(*xs, **_kw_tensors(L, kw))


def _module(name, forward_kw=()):
    """The layer built from the case's keywords (those in forward_kw go to the call instead)."""
    def fn(L, *xs, **kw):
        kw = _kw_tensors(L, kw)
        call = {k: kw.pop(k) for k in forward_kw if k in kw}
        return getattr(L.nn, name)(**kw)(*xs, *call.values())
    return fn


def _no_weight(a: Args) -> Args:
    return Args(a.inputs, {k: v for k, v in a.kw.items() if k != "weight"}, a.seed)


def _gaussian_module_args(a: Args) -> Args:
    if "var" in a.kw:  # the module takes var as its third input
        kw = dict(a.kw)
        return Args(a.inputs + [kw.pop("var")], kw, a.seed)
    return a


_F_CASES = {
    "kl_div": ("KLDivLoss", _pair("kl")), "huber_loss": ("HuberLoss", _pair("huber")),
    "poisson_nll_loss": ("PoissonNLLLoss", _pair("poisson")), "gaussian_nll_loss": ("GaussianNLLLoss", _pair("gaussian")),
    "soft_margin_loss": ("SoftMarginLoss", _pair("soft")), "hinge_embedding_loss": ("HingeEmbeddingLoss", _pair("hinge")),
    "margin_ranking_loss": ("MarginRankingLoss", _pair("ranking")),
    "multilabel_soft_margin_loss": ("MultiLabelSoftMarginLoss", _pair("mlsm")),
    "cosine_embedding_loss": ("CosineEmbeddingLoss", _cosine_embedding()),
    "multi_margin_loss": ("MultiMarginLoss", _multi_margin(False)),
    "multilabel_margin_loss": ("MultiLabelMarginLoss", _multi_margin(True)),
    "triplet_margin_loss": ("TripletMarginLoss", _triplet(False)),
    "triplet_margin_with_distance_loss": ("TripletMarginWithDistanceLoss", _triplet(True)),
}
LOSSES: list[Case] = []
for _f, (_m, _args) in _F_CASES.items():
    LOSSES.append(Case(f"F.{_f}", _functional(_f), _args, tol=20))
    if _f == "huber_loss":
        _margs = _args.map(_no_weight)
    elif _f == "gaussian_nll_loss":
        _margs = _args.map(_gaussian_module_args)
    else:
        _margs = _args
    LOSSES.append(Case(f"nn.{_m}", _module(_m), _margs, tol=20))
LOSSES += [
    Case("F.huber_loss(weight)", lambda L, x, y, w, **kw: L.nn.functional.huber_loss(x, y, weight=w, **kw),
         _weighted(True), tol=20),
    Case("F.mse_loss(weight)", lambda L, x, y, w, **kw: L.nn.functional.mse_loss(x, y, weight=w, **kw),
         _weighted(False), tol=20),
    Case("F.l1_loss(weight)", lambda L, x, y, w, **kw: L.nn.functional.l1_loss(x, y, weight=w, **kw),
         _weighted(False), tol=20),
    Case("F.ctc_loss", _ctc_fn, _ctc(), tol=50),
    Case("nn.CTCLoss", _ctc_module, _ctc(), tol=50),
    Case("F.cosine_similarity", _functional("cosine_similarity"), _cosine_similarity().filter(_no_tiny_values), tol=20),
    Case("nn.CosineSimilarity", _module("CosineSimilarity"), _cosine_similarity().filter(_no_tiny_values), tol=20),
    Case("F.pairwise_distance", _functional("pairwise_distance"), _pairwise(), tol=20),
    Case("nn.PairwiseDistance", _module("PairwiseDistance"), _pairwise(), tol=20),
    Case("F.pdist", _functional("pdist"), _pdist(), tol=20),
]


ALL = LOSSES
