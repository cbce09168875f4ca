"""The norm/lazy family against PyTorch (see cases_nn.py for how a case runs: outputs, parameter
and input gradients, buffers afterwards and errors are compared), in train and eval mode:
InstanceNorm1d/2d/3d (running statistics over several calls, unbatched inputs), RMSNorm,
LocalResponseNorm, CrossMapLRN2d, Bilinear, EmbeddingBag, and the lazy layers (materialised by a
first forward in each library, then PyTorch's values copied over).

Not drawn (PyTorch bugs ferrograd does not copy):
- LocalResponseNorm on a non-contiguous input of 4 or more dims: PyTorch's .view() raises.
- CrossMapLRN2d gradients: PyTorch's hand-written backward is not the gradient of its own forward
  (and raises for size=1); ferrograd differentiates the forward exactly (the op table gradchecks it).
- EmbeddingBag "mean" (and float64 "sum") with include_last_offset=True: PyTorch's CPU kernel then
  sums, or counts, the last bag up to the end of the input instead of up to the last offset
  (e.g. offsets [0, 2, 2, 5] over 7 indices: the mean of bag [2, 5) divided by 5); float32 "sum"
  and "max" follow the documentation, and so does ferrograd in every mode.
"""

from __future__ import annotations

import ferrograd as fg
import numpy as np
import torch
from cases_nn import ModuleFn, _fixed, _randomize, layer_args
from harness import Args, Case, Extra, seeds, tensors
from hypothesis import strategies as st

_IN_CTOR = {"num_features": st.integers(1, 3), "eps": st.sampled_from([1e-5, 1e-3]),
            "momentum": st.sampled_from([0.1, 0.5, None]), "affine": st.booleans(),
            "track_running_stats": st.booleans()}


def _in_shape(d):
    @st.composite
    def shape(draw, c):
        spatial = tuple(draw(st.lists(st.integers(1, 3), min_size=d, max_size=d)))
        if draw(st.integers(0, 4)) == 0:
            return (c["num_features"],) + spatial  # unbatched
        return (draw(st.integers(1, 3)), c["num_features"]) + spatial

    return shape


LAYERS = []
for _d in (1, 2, 3):
    LAYERS.append(Case(
        f"nn.InstanceNorm{_d}d", ModuleFn(lambda L, _d=_d, **c: getattr(L.nn, f"InstanceNorm{_d}d")(**c)),
        layer_args(_in_shape(_d), _fixed(**_IN_CTOR), calls=3, dtypes_=("float32", "float64")), tol=50))


def _lrn_view_ok(a: Args) -> bool:
    """PyTorch's local_response_norm calls .view() on 4-D and larger inputs, which raises for a
    non-contiguous input (e.g. a transpose); ferrograd computes the same values. Not drawn."""
    x = a.inputs[0]
    return x.base.ndim <= 3 or not x.view


@st.composite
def _rms_ctor(draw):
    return {"normalized_shape": tuple(draw(st.lists(st.integers(1, 3), min_size=1, max_size=2))),
            "eps": draw(st.sampled_from([None, 1e-3])), "elementwise_affine": draw(st.booleans())}


LAYERS += [
    Case("nn.RMSNorm", ModuleFn(lambda L, **c: L.nn.RMSNorm(**c)),
         layer_args(lambda c: st.lists(st.integers(1, 3), max_size=2).map(lambda s: tuple(s) + c["normalized_shape"]),
                    _rms_ctor()), tol=20),
    Case("nn.LocalResponseNorm", ModuleFn(lambda L, **c: L.nn.LocalResponseNorm(**c)),
         layer_args(lambda c: st.lists(st.integers(1, 4), min_size=3, max_size=5).map(tuple),
                    _fixed(size=st.integers(1, 5), alpha=st.sampled_from([1e-4, 0.5]), beta=st.sampled_from([0.75, 1.0]),
                           k=st.sampled_from([1.0, 2.0]))).filter(_lrn_view_ok), tol=20),
    Case("nn.CrossMapLRN2d", ModuleFn(lambda L, **c: L.nn.CrossMapLRN2d(**c)),
         layer_args(lambda c: st.lists(st.integers(1, 4), min_size=4, max_size=4).map(tuple),
                    _fixed(size=st.integers(1, 5), alpha=st.sampled_from([1e-4, 0.5]), beta=st.sampled_from([0.75, 1.0]),
                           k=st.sampled_from([1, 2]))), grad=False, tol=20),
]


@st.composite
def _bilinear_args(draw):
    c = {"in1_features": draw(st.integers(1, 3)), "in2_features": draw(st.integers(1, 3)),
         "out_features": draw(st.integers(1, 3)), "bias": draw(st.booleans())}
    lead = tuple(draw(st.lists(st.integers(1, 3), max_size=2)))
    x1 = draw(tensors(lead + (c["in1_features"],), "float32", low=-2, high=2, nonfinite=False))
    x2 = draw(tensors(lead + (c["in2_features"],), "float32", low=-2, high=2, nonfinite=False))
    seed = draw(seeds)
    return Args([x1, x2], {"train": draw(st.booleans()), "ctor": c, "seed": seed}, seed)


LAYERS.append(Case("nn.Bilinear", ModuleFn(lambda L, **c: L.nn.Bilinear(**c)), _bilinear_args(), tol=10))


class _BagFn(ModuleFn):
    """EmbeddingBag with offsets (and per-sample weights) passed to forward as tensors."""

    def __call__(self, L, idx, *rest, offsets=None, psw=None, **kw):
        extra = {}
        if offsets is not None:
            extra["offsets"] = L.tensor(offsets)
        if psw is not None:
            extra["per_sample_weights"] = L.tensor(psw)
        return super().__call__(L, idx, **kw, **extra)


@st.composite
def _bag_args(draw):
    num = draw(st.integers(1, 6))
    mode = draw(st.sampled_from(["sum", "mean", "max"]))
    c = {"num_embeddings": num, "embedding_dim": draw(st.integers(1, 3)), "mode": mode,
         "padding_idx": draw(st.none() | st.integers(0, num - 1))}
    if mode != "max" and draw(st.booleans()):
        c["scale_grad_by_freq"] = True
    if draw(st.integers(0, 3)) == 0:
        c["max_norm"], c["norm_type"] = draw(st.sampled_from([0.5, 1.0])), draw(st.sampled_from([1.0, 2.0, 3.0]))
    kw = {}
    if draw(st.booleans()):  # 2-D input: fixed-length bags
        shape = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    else:
        n = draw(st.integers(0, 6))
        shape = (n,)
        cuts = sorted(draw(st.lists(st.integers(0, n), max_size=3)))
        offsets = [0] + cuts
        if mode == "max" and draw(st.booleans()):
            c["include_last_offset"] = True
            offsets = offsets + [n]
        kw["offsets"] = np.array(offsets, dtype=np.int64)
    idx = draw(tensors(shape, "int64", low=0, high=num - 1, grad=False))
    if mode == "sum" and draw(st.booleans()):
        kw["psw"] = np.asarray(draw(st.lists(st.floats(-2, 2, width=32), min_size=int(np.prod(shape)),
                                             max_size=int(np.prod(shape)))), dtype=np.float32).reshape(shape)
    seed = draw(seeds)
    return Args([idx], {"train": draw(st.booleans()), "ctor": c, "seed": seed, **kw}, seed)


LAYERS.append(Case("nn.EmbeddingBag", _BagFn(lambda L, **c: L.nn.EmbeddingBag(**c)), _bag_args(), tol=10))


class LazyFn:
    """A lazy layer: a first forward materialises it in each library, then PyTorch's randomised
    state is copied into ferrograd's and the (mode-set) layer runs `calls` more times."""

    def __init__(self, make):
        self.make, self._state = make, None

    def __call__(self, L, x, train=True, ctor=None, seed=0, calls=1):
        m = self.make(L, **(ctor or {}))
        with (torch.no_grad() if L is torch else fg.no_grad()):
            m(x.detach())
        if L is torch:
            _randomize(m, seed)
            self._state = {k: v.detach().numpy().copy() for k, v in m.state_dict().items()}
        else:
            m.load_state_dict({k: fg.tensor(v) for k, v in self._state.items()})
        assert type(m).__name__ == self.make(L, **(ctor or {})).cls_to_become.__name__
        m.train(train)
        for _ in range(calls):
            out = m(x)
        return Extra(out, leaves=dict(m.named_parameters()), state=dict(m.named_buffers()))

    def __repr__(self) -> str:
        return "LazyFn(...)"


_LAZY_BN = {"eps": st.sampled_from([1e-5, 1e-3]), "momentum": st.sampled_from([0.1, None]), "affine": st.booleans()}
LAYERS += [
    Case("nn.LazyLinear", LazyFn(lambda L, **c: L.nn.LazyLinear(**c)),
         layer_args(lambda c: st.lists(st.integers(1, 3), min_size=1, max_size=3).map(tuple),
                    _fixed(out_features=st.integers(1, 3), bias=st.booleans())), tol=5),
    Case("nn.LazyConv2d", LazyFn(lambda L, **c: L.nn.LazyConv2d(**c)),
         layer_args(lambda c: st.tuples(st.integers(1, 2), st.integers(1, 3), st.integers(3, 4), st.integers(3, 4)),
                    _fixed(out_channels=st.integers(1, 3), kernel_size=st.sampled_from([1, 3]), padding=st.integers(0, 1))),
         tol=10),
    Case("nn.LazyBatchNorm2d", LazyFn(lambda L, **c: L.nn.LazyBatchNorm2d(**c)),
         layer_args(lambda c: st.tuples(st.integers(2, 3), st.integers(1, 3), st.integers(1, 2), st.integers(1, 2)),
                    _fixed(**_LAZY_BN), calls=3), tol=50),
    Case("nn.LazyBatchNorm1d", LazyFn(lambda L, **c: L.nn.LazyBatchNorm1d(**c)),
         layer_args(lambda c: st.tuples(st.integers(2, 4), st.integers(1, 3)), _fixed(**_LAZY_BN), calls=3), tol=50),
    Case("nn.LazyInstanceNorm1d", LazyFn(lambda L, **c: L.nn.LazyInstanceNorm1d(**c)),
         layer_args(lambda c: st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(2, 4)), _fixed(**_LAZY_BN),
                    calls=3), tol=50),
]

ALL = LAYERS
