"""Every nn layer and loss in ferrograd against PyTorch, in train and eval mode.

A layer case builds the module in PyTorch first (parameters and buffers drawn at random from the
case's seed), copies its state_dict into the ferrograd module as numpy arrays, sets the same mode,
runs the input through both, and compares the output, the gradients of the parameters and input,
and the buffers afterwards (running statistics). Dropout layers in train mode are random; they are
compared by mask-independent facts in test_diff_dropout.py, and here only in eval mode.

Deliberate differences not drawn (README "Where PyTorch has a known trap"): F.dropout without
`training`, Dropout2d on 3-D input, elementwise losses with a target shaped unlike the input.
"""

from __future__ import annotations

import ferrograd as fg
import numpy as np
import torch
from harness import FLOATS, Args, Case, Extra, T, seeds, shapes, tensors
from hypothesis import strategies as st


class ModuleFn:
    """fn(L, *inputs, train, ctor, **call_kw) for a module made by make(L, **ctor)."""

    def __init__(self, make, call=None):
        self.make, self.call, self._state = make, call, None

    def __call__(self, L, *xs, train=True, ctor=None, seed=0, calls=1, **kw):
        m = self.make(L, **(ctor or {}))
        if L is torch:
            _randomize(m, seed)
            self._state = {k: v.detach().numpy().copy() for k, v in m.state_dict().items()}
        else:
            m.load_state_dict({k: fg.tensor(v) for k, v in self._state.items()})
        m.train(train)
        for _ in range(calls):  # several calls: running statistics evolve (momentum, num_batches_tracked)
            out = self.call(m, *xs, **kw) if self.call else m(*xs, **kw)
        return Extra(out, leaves=dict(m.named_parameters()), state=dict(m.named_buffers()))

    def __repr__(self) -> str:
        return "ModuleFn(...)"


def _randomize(m, seed):
    g = torch.Generator().manual_seed(seed % 2**31)
    with torch.no_grad():
        for _, p in m.named_parameters():
            p.copy_(torch.rand(p.shape, generator=g, dtype=p.dtype) * 2 - 1)
        for name, b in m.named_buffers():
            if name.endswith("running_var"):
                b.copy_(torch.rand(b.shape, generator=g, dtype=b.dtype) + 0.5)
            elif name.endswith("running_mean"):
                b.copy_(torch.rand(b.shape, generator=g, dtype=b.dtype) - 0.5)


def _dt():
    return st.sampled_from(FLOATS)


@st.composite
def layer_args(draw, input_shape, ctor, modes=(True, False), dtypes_=("float32",), nonfinite=False, extra=None,
               calls=1):
    """Args for a ModuleFn: ctor kwargs drawn by ctor(draw), then an input of input_shape(draw, ctor)."""
    c = draw(ctor)
    shape = draw(input_shape(c))
    dt = draw(st.sampled_from(dtypes_))
    x = draw(tensors(shape, dt, low=-3, high=3, nonfinite=nonfinite))
    seed = draw(seeds)
    kw = {"train": draw(st.sampled_from(modes)), "ctor": c, "seed": seed}
    if calls > 1:
        kw["calls"] = draw(st.integers(1, calls))
    inputs = [x] + (draw(extra(c, shape)) if extra else [])
    return Args(inputs, kw, seed)


def _with_nonfinite(a: Args) -> Args:
    """The same call with a NaN or inf written into the first element of the input."""
    x = a.inputs[0]
    if not x.base.size or x.base.dtype.kind != "f":
        return a
    base = x.base.copy()
    base.reshape(-1)[a.seed % base.size] = (np.nan, np.inf, -np.inf)[a.seed % 3]
    return Args([T(base, x.view, x.grad)] + a.inputs[1:], a.kw, a.seed)


def _batch(feat_tail, min_n=0):
    """input_shape factory: (N, *feat_tail(c)) with N drawn."""
    return lambda c: st.tuples(st.integers(min_n, 4)).map(lambda n: n + tuple(feat_tail(c)))


def _fixed(**kw):
    return st.fixed_dictionaries({k: (v if isinstance(v, st.SearchStrategy) else st.just(v)) for k, v in kw.items()})


# ----------------------------------------------------------------------------- layers

_ACT = {
    "ReLU": (lambda L: L.nn.ReLU(), {}), "Sigmoid": (lambda L: L.nn.Sigmoid(), {}),
    "Tanh": (lambda L: L.nn.Tanh(), {}), "SiLU": (lambda L: L.nn.SiLU(), {}), "Identity": (lambda L: L.nn.Identity(), {}),
}
LAYERS = []
for _n, (_mk, _c) in _ACT.items():
    LAYERS.append(Case(f"nn.{_n}", ModuleFn(lambda L, _mk=_mk: _mk(L)),
                       layer_args(lambda c: shapes(), _fixed(), nonfinite=True)))
LAYERS += [
    Case("nn.GELU", ModuleFn(lambda L, **c: L.nn.GELU(**c)),
         layer_args(lambda c: shapes(), _fixed(approximate=st.sampled_from(["none", "tanh"])), nonfinite=True)
         .filter(lambda a: _no_float32_exact_gelu_of_inf(a))),
    Case("nn.LeakyReLU", ModuleFn(lambda L, **c: L.nn.LeakyReLU(**c)),
         layer_args(lambda c: shapes(), _fixed(negative_slope=st.floats(0, 0.5)), nonfinite=True)),
    Case("nn.Softmax", ModuleFn(lambda L, **c: L.nn.Softmax(**c)),
         layer_args(lambda c: shapes(min_dims=1), _fixed(dim=st.integers(-1, 0)), nonfinite=True)),
    Case("nn.LogSoftmax", ModuleFn(lambda L, **c: L.nn.LogSoftmax(**c)),
         layer_args(lambda c: shapes(min_dims=1), _fixed(dim=st.integers(-1, 0)), nonfinite=True)),
    Case("nn.Flatten", ModuleFn(lambda L, **c: L.nn.Flatten(**c)),
         layer_args(lambda c: shapes(min_dims=2), _fixed(start_dim=st.integers(0, 1), end_dim=st.integers(-1, 1)))),
    Case("nn.Linear", ModuleFn(lambda L, **c: L.nn.Linear(**c)),
         layer_args(lambda c: shapes(max_dims=2).map(lambda s: s + (c["in_features"],)),
                    _fixed(in_features=st.integers(1, 4), out_features=st.integers(0, 4), bias=st.booleans())), tol=5),
    Case("nn.Linear(0 in)", ModuleFn(lambda L, **c: L.nn.Linear(**c)),
         layer_args(lambda c: st.just((2, 0)), _fixed(in_features=0, out_features=3))),
    Case("nn.Sequential", ModuleFn(lambda L: L.nn.Sequential(L.nn.Linear(3, 4), L.nn.ReLU(), L.nn.Linear(4, 2))),
         layer_args(lambda c: shapes(max_dims=1).map(lambda s: s + (3,)), _fixed()), tol=5),
]

_BN_CTOR = {"eps": st.sampled_from([1e-5, 1e-3]), "momentum": st.sampled_from([0.1, 0.5, None]), "affine": st.booleans(),
                "track_running_stats": st.booleans()}
for _d, _tail in ((1, [(), (2,)]), (2, [(2, 2)]), (3, [(2, 1, 2)])):
    LAYERS.append(Case(
        f"nn.BatchNorm{_d}d", ModuleFn(lambda L, _d=_d, **c: getattr(L.nn, f"BatchNorm{_d}d")(**c)),
        layer_args(lambda c, _tail=_tail: st.tuples(st.integers(1, 4), st.sampled_from(_tail)).map(
            lambda t, c=c: (t[0], c["num_features"]) + t[1]), _fixed(num_features=st.integers(1, 3), **_BN_CTOR),
            calls=3),
        tol=50))


@st.composite
def _ln_shape(draw, c):
    return tuple(draw(shapes(max_dims=2, min_side=1))) + c["normalized_shape"]


LAYERS += [
    Case("nn.LayerNorm", ModuleFn(lambda L, **c: L.nn.LayerNorm(**c)),
         layer_args(_ln_shape, _fixed(normalized_shape=st.lists(st.integers(1, 3), min_size=1, max_size=2).map(tuple),
                                      eps=st.sampled_from([1e-5, 1e-2]), elementwise_affine=st.booleans(),
                                      bias=st.booleans())), tol=50),
    Case("nn.GroupNorm", ModuleFn(lambda L, num_groups, per, **c: L.nn.GroupNorm(num_groups, num_groups * per, **c)),
         layer_args(lambda c: st.tuples(st.integers(1, 3), st.sampled_from([(), (2,), (2, 2)])).map(
             lambda t, c=c: (t[0], c["num_groups"] * c["per"]) + t[1]),
             _fixed(num_groups=st.integers(1, 2), per=st.integers(1, 2), eps=st.sampled_from([1e-5, 1e-2]),
                    affine=st.booleans())), tol=50),
]


def _emb_args():
    @st.composite
    def make(draw):
        c = draw(_fixed(num_embeddings=st.integers(1, 5), embedding_dim=st.integers(1, 3),
                        padding_idx=st.none() | st.integers(0, 0)))
        ishape = draw(st.sampled_from([(), (1,), (3,), (2, 2), (0,)]))
        hi = c["num_embeddings"] - 1 + (1 if draw(st.integers(0, 9)) == 0 else 0)
        idx = draw(tensors(ishape, "int64", low=0, high=hi, grad=False))
        seed = draw(seeds)
        return Args([idx], {"train": draw(st.booleans()), "ctor": c, "seed": seed}, seed)

    return make()


LAYERS.append(Case("nn.Embedding", ModuleFn(lambda L, **c: L.nn.Embedding(**c)), _emb_args()))


@st.composite
def _conv_ctor(draw):
    groups = draw(st.integers(1, 2))
    c = {"in_channels": groups * draw(st.integers(1, 2)), "out_channels": groups * draw(st.integers(1, 2)),
             "kernel_size": draw(st.sampled_from([1, 2, 3, (1, 2)])), "stride": draw(st.sampled_from([1, 2, (2, 1)])),
             "dilation": draw(st.sampled_from([1, 2])), "groups": groups, "bias": draw(st.booleans())}
    c["padding"] = draw(st.sampled_from([0, 1, (0, 1)] + (["same"] if c["stride"] == 1 else [])))
    return c


LAYERS.append(Case("nn.Conv2d", ModuleFn(lambda L, **c: L.nn.Conv2d(**c)),
                   layer_args(lambda c: st.tuples(st.integers(1, 2), st.integers(1, 6), st.integers(1, 6)).map(
                       lambda t, c=c: (t[0], c["in_channels"], t[1], t[2])), _conv_ctor()), tol=20))


@st.composite
def _pool_ctor(draw, kind):
    k = draw(st.sampled_from([1, 2, 3, (2, 1)]))
    c = {"kernel_size": k, "stride": draw(st.sampled_from([None, 1, 2])), "ceil_mode": draw(st.booleans())}
    kmin = min(k) if isinstance(k, tuple) else k
    c["padding"] = draw(st.integers(0, kmin // 2))
    if kind == "max":
        # dilation 2 only without padding: with both, a window can lie wholly in the padding, and
        # PyTorch's max_pool2d then returns out-of-range indices (3 for a 1x2 plane) and its backward
        # writes the gradient out of bounds: wrong gradients and glibc heap-corruption aborts later
        c["dilation"] = draw(st.sampled_from([1, 2])) if c["padding"] == 0 else 1
    else:
        c["count_include_pad"] = draw(st.booleans())
        c["divisor_override"] = draw(st.none() | st.integers(1, 3))
    return c


def _img(c, channels=(1, 2)):
    return st.tuples(st.integers(1, 2), st.sampled_from(channels), st.integers(1, 6), st.integers(1, 6))


LAYERS += [
    Case("nn.MaxPool2d", ModuleFn(lambda L, **c: L.nn.MaxPool2d(**c)),
         layer_args(_img, _pool_ctor("max"), nonfinite=True)),
    Case("nn.AvgPool2d", ModuleFn(lambda L, **c: L.nn.AvgPool2d(**c)), layer_args(_img, _pool_ctor("avg"))),
    Case("nn.AdaptiveAvgPool2d", ModuleFn(lambda L, **c: L.nn.AdaptiveAvgPool2d(**c)),
         layer_args(_img, _fixed(output_size=st.sampled_from([1, 2, 3, (1, 2), (3, 2)])))),
]
# the same layers on inputs with NaN/inf: NaN propagation through normalisation, products, pooling
_NONFINITE = ("nn.Linear", "nn.BatchNorm1d", "nn.BatchNorm2d", "nn.LayerNorm", "nn.GroupNorm", "nn.Conv2d",
              "nn.AvgPool2d", "nn.AdaptiveAvgPool2d")
LAYERS += [Case(f"{c.id}(nonfinite)", c.fn, c.args.map(_with_nonfinite), tol=c.tol)
           for c in list(LAYERS) if c.id in _NONFINITE]
_DROPOUTS = ["Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout", "FeatureAlphaDropout"]
_DROPOUT_SHAPE = {"Dropout": shapes(), "AlphaDropout": shapes(), "Dropout1d": shapes(2, 3, min_side=1),
                  "Dropout2d": shapes(4, 4, min_side=1), "Dropout3d": shapes(5, 5, max_side=2, min_side=1),
                  "FeatureAlphaDropout": shapes(2, 4, min_side=1)}
for _n in _DROPOUTS:  # eval mode: identity; p=0 and p=1 in train mode are deterministic
    LAYERS.append(Case(f"nn.{_n}(eval)", ModuleFn(lambda L, _n=_n, **c: getattr(L.nn, _n)(**c)),
                       layer_args(lambda c, _n=_n: _DROPOUT_SHAPE[_n], _fixed(p=st.floats(0, 1)), modes=(False,),
                                  nonfinite=True)))
    LAYERS.append(Case(f"nn.{_n}(p=0/1)", ModuleFn(lambda L, _n=_n, **c: getattr(L.nn, _n)(**c)),
                       layer_args(lambda c, _n=_n: _DROPOUT_SHAPE[_n], _fixed(p=st.sampled_from([0.0, 1.0])),
                                  modes=(True,))))

# ----------------------------------------------------------------------------- functional forms


def _fn_args(shape_st, kw_st, nonfinite=True):
    @st.composite
    def make(draw):
        shape = draw(shape_st)
        x = draw(tensors(shape, draw(_dt()), low=-3, high=3, nonfinite=nonfinite))
        return Args([x], draw(kw_st), draw(seeds))

    return make()


def _no_float32_exact_gelu_of_inf(a: Args) -> bool:
    """No +inf in a float32 input of exact GELU (F.gelu, or nn.GELU's ctor): there PyTorch disagrees with itself (on an
    AVX-512 CPU, torch 2.15: NaN from its vectorised path, 2 elements or more, inf for one
    element and in float64). ferrograd gives inf, x Phi(x) at +inf, and tests it
    (test_grad_edge_cases.py)."""
    x = a.inputs[0]
    approximate = a.kw.get("approximate", a.kw.get("ctor", {}).get("approximate"))
    return not (approximate == "none" and x.base.dtype == np.float32 and bool(np.isposinf(x.base).any()))


FUNCTIONAL = [
    Case("F.softplus", lambda L, x, **kw: L.nn.functional.softplus(x, **kw),
         _fn_args(shapes(), _fixed(beta=st.sampled_from([1.0, 2.0, 0.5]), threshold=st.sampled_from([20.0, 1.0])))),
    Case("F.gelu", lambda L, x, **kw: L.nn.functional.gelu(x, **kw),
         _fn_args(shapes(), _fixed(approximate=st.sampled_from(["none", "tanh"]))).filter(_no_float32_exact_gelu_of_inf)),
    Case("F.leaky_relu", lambda L, x, **kw: L.nn.functional.leaky_relu(x, **kw),
         _fn_args(shapes(), _fixed(negative_slope=st.floats(0, 1)))),
    Case("F.silu", lambda L, x: L.nn.functional.silu(x), _fn_args(shapes(), _fixed())),
    Case("F.sigmoid", lambda L, x: L.nn.functional.sigmoid(x), _fn_args(shapes(), _fixed())),
    Case("F.tanh", lambda L, x: L.nn.functional.tanh(x), _fn_args(shapes(), _fixed())),
    Case("F.dropout(eval)", lambda L, x, p: L.nn.functional.dropout(x, p, training=False),
         _fn_args(shapes(), _fixed(p=st.floats(0, 1)))),
    Case("F.dropout(p=0/1)", lambda L, x, p: L.nn.functional.dropout(x, p, training=True),
         _fn_args(shapes(), _fixed(p=st.sampled_from([0.0, 1.0])), nonfinite=False)),
    Case("F.alpha_dropout(eval)", lambda L, x, p: L.nn.functional.alpha_dropout(x, p, training=False),
         _fn_args(shapes(), _fixed(p=st.floats(0, 1)))),
    Case("F.feature_alpha_dropout(eval)", lambda L, x, p: L.nn.functional.feature_alpha_dropout(x, p, training=False),
         _fn_args(shapes(2, 4, min_side=1), _fixed(p=st.floats(0, 1)))),
    Case("F.dropout1d(eval)", lambda L, x, p: L.nn.functional.dropout1d(x, p, training=False),
         _fn_args(shapes(2, 3, min_side=1), _fixed(p=st.floats(0, 1)))),
    Case("F.dropout2d(eval)", lambda L, x, p: L.nn.functional.dropout2d(x, p, training=False),
         _fn_args(shapes(4, 4, min_side=1), _fixed(p=st.floats(0, 1)))),
    Case("F.dropout3d(eval)", lambda L, x, p: L.nn.functional.dropout3d(x, p, training=False),
         _fn_args(shapes(5, 5, max_side=2, min_side=1), _fixed(p=st.floats(0, 1)))),
    Case("F.max_pool2d", lambda L, x, **kw: L.nn.functional.max_pool2d(x, **kw),
         _fn_args(shapes(4, 4, min_side=1, max_side=5), _pool_ctor("max"))),
    Case("F.avg_pool2d", lambda L, x, **kw: L.nn.functional.avg_pool2d(x, **kw),
         _fn_args(shapes(4, 4, min_side=1, max_side=5), _pool_ctor("avg"), nonfinite=False)),
    Case("F.adaptive_avg_pool2d", lambda L, x, o: L.nn.functional.adaptive_avg_pool2d(x, o),
         _fn_args(shapes(3, 4, min_side=1, max_side=5), _fixed(o=st.sampled_from([1, 2, (2, 3)])), nonfinite=False)),
]


@st.composite
def _bn_fn_args(draw):
    n, c = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    dt = draw(_dt())
    x = draw(tensors((n, c) + draw(st.sampled_from([(), (2,), (2, 2)])), dt, nonfinite=False))
    rm = draw(tensors((c,), dt, grad=False, layouts=False, nonfinite=False))
    rv = draw(tensors((c,), dt, low=0.5, high=2, grad=False, layouts=False, nonfinite=False))
    # contiguous weight and bias: PyTorch's own batch_norm backward (eval) returns garbage input
    # gradients for a stride-0 (expanded) weight, e.g. -2.8e15 on zeros, varying from run to run
    w = draw(st.none() | tensors((c,), dt, nonfinite=False, layouts=False))
    b = draw(st.none() | tensors((c,), dt, nonfinite=False, layouts=False))
    kw = {"training": draw(st.booleans()), "momentum": draw(st.sampled_from([0.1, 0.5])), "eps": 1e-5}
    return Args([x, rm, rv, w, b], kw, draw(seeds))


@st.composite
def _conv_fn_args(draw):
    c = draw(_conv_ctor())
    dt = draw(_dt())
    k = c["kernel_size"] if isinstance(c["kernel_size"], tuple) else (c["kernel_size"],) * 2
    x = draw(tensors((draw(st.integers(1, 2)), c["in_channels"], draw(st.integers(1, 5)), draw(st.integers(1, 5))),
                     dt, nonfinite=False))
    w = draw(tensors((c["out_channels"], c["in_channels"] // c["groups"]) + k, dt, nonfinite=False))
    b = draw(tensors((c["out_channels"],), dt, nonfinite=False)) if c["bias"] else None
    kw = {k2: c[k2] for k2 in ("stride", "padding", "dilation", "groups")}
    return Args([x, w, b], kw, draw(seeds))


@st.composite
def _norm_fn_args(draw, kind):
    dt = draw(_dt())
    if kind == "layer":
        ns = tuple(draw(st.lists(st.integers(1, 3), min_size=1, max_size=2)))
        x = draw(tensors(tuple(draw(shapes(max_dims=2, min_side=1))) + ns, dt, nonfinite=False))
        w = draw(st.none() | tensors(ns, dt, nonfinite=False))
        b = draw(st.none() | tensors(ns, dt, nonfinite=False))
        return Args([x, ns, w, b], {"eps": 1e-5}, draw(seeds))
    g = draw(st.integers(1, 2))
    c = g * draw(st.integers(1, 2))
    x = draw(tensors((draw(st.integers(1, 3)), c) + draw(st.sampled_from([(), (2,), (1, 2)])), dt, nonfinite=False))
    w = draw(st.none() | tensors((c,), dt, nonfinite=False))
    b = draw(st.none() | tensors((c,), dt, nonfinite=False))
    return Args([x, g, w, b], {"eps": 1e-5}, draw(seeds))


@st.composite
def _emb_fn_args(draw):
    n, d = draw(st.integers(1, 4)), draw(st.integers(1, 3))
    idx = draw(tensors(draw(st.sampled_from([(), (2,), (2, 2), (0,), (1,)])), "int64", low=0, high=n - 1, grad=False))
    w = draw(tensors((n, d), draw(_dt()), nonfinite=False))
    return Args([idx, w], {"padding_idx": draw(st.none() | st.integers(0, n - 1))}, draw(seeds))


FUNCTIONAL += [
    Case("F.batch_norm", lambda L, *xs, **kw: L.nn.functional.batch_norm(*xs, **kw), _bn_fn_args(), tol=50),
    Case("F.conv2d", lambda L, *xs, **kw: L.nn.functional.conv2d(*xs, **kw), _conv_fn_args(), tol=20),
    Case("F.layer_norm", lambda L, *xs, **kw: L.nn.functional.layer_norm(*xs, **kw), _norm_fn_args("layer"), tol=50),
    Case("F.group_norm", lambda L, *xs, **kw: L.nn.functional.group_norm(*xs, **kw), _norm_fn_args("group"), tol=50),
    Case("F.embedding", lambda L, *xs, **kw: L.nn.functional.embedding(*xs, **kw), _emb_fn_args()),
]

# ----------------------------------------------------------------------------- losses

_REDUCTION = st.sampled_from(["mean", "sum", "none"])


@st.composite
def _pair_args(draw, kind):
    shape = draw(shapes())
    dt = draw(_dt())
    if kind == "bce":
        x = draw(tensors(shape, dt, low=0, high=1, nonfinite=False))
        y = draw(tensors(shape, dt, low=0, high=1, nonfinite=False, grad=False))
    else:
        x = draw(tensors(shape, dt, nonfinite=kind != "bcel"))
        y = draw(tensors(shape, dt, low=0 if kind == "bcel" else -4, high=1 if kind == "bcel" else 4,
                         nonfinite=False, grad=None if kind != "bcel" else False))
    kw = {"reduction": draw(_REDUCTION)}
    extra = []
    if kind in ("bce", "bcel") and draw(st.booleans()):
        kw["weight"] = draw(tensors(shape[draw(st.integers(0, len(shape))):], dt, low=0, high=2, grad=False,
                                    nonfinite=False))
    if kind == "bcel" and shape and draw(st.booleans()):
        kw["pos_weight"] = draw(tensors(shape[-1:], dt, low=0, high=2, grad=False, nonfinite=False))
    if kind == "smooth":
        kw["beta"] = draw(st.sampled_from([1.0, 0.5, 0.0, 2.0]))
    return Args([x, y] + extra, kw, draw(seeds))


@st.composite
def _class_args(draw, log_probs=False, probs_target=False):
    c = draw(st.integers(1, 4))
    layout = draw(st.sampled_from(["NC", "NC", "C", "NCd"]))
    n = draw(st.integers(0 if draw(st.integers(0, 5)) == 0 else 1, 4))
    shape = {"NC": (n, c), "C": (c,), "NCd": (n, c, draw(st.integers(1, 3)))}[layout]
    tshape = {"NC": (n,), "C": (), "NCd": (n, shape[-1] if layout == "NCd" else 0)}[layout]
    dt = draw(_dt())
    x = draw(tensors(shape, dt, low=-3, high=0 if log_probs else 3, nonfinite=False))
    if probs_target:
        y = draw(tensors(shape, dt, low=0, high=1, grad=False, nonfinite=False))
    else:
        y = draw(tensors(tshape, "int64", low=0, high=c - 1, grad=False))
        if y.base.size and draw(st.integers(0, 3)) == 0:  # some targets ignored
            flat = y.base.reshape(-1)
            flat[draw(st.integers(0, flat.size - 1))] = -100
    kw = {"reduction": draw(_REDUCTION)}
    if draw(st.booleans()):
        kw["weight"] = draw(tensors((c,), dt, low=0.1, high=2, grad=False, layouts=False, nonfinite=False))
    if not probs_target and draw(st.integers(0, 3)) == 0:
        kw["ignore_index"] = draw(st.integers(0, c - 1))
    if not log_probs and draw(st.booleans()):
        kw["label_smoothing"] = draw(st.sampled_from([0.1, 0.5]))
    return Args([x, y], kw, draw(seeds))


def _kw_tensors(L, kw):
    return {k: (v.build(L)[1] if hasattr(v, "base") else v) for k, v in kw.items()}


_LOSSES = {
    "mse_loss": ("MSELoss", _pair_args("plain")), "l1_loss": ("L1Loss", _pair_args("plain")),
    "smooth_l1_loss": ("SmoothL1Loss", _pair_args("smooth")), "binary_cross_entropy": ("BCELoss", _pair_args("bce")),
    "binary_cross_entropy_with_logits": ("BCEWithLogitsLoss", _pair_args("bcel")),
    "cross_entropy": ("CrossEntropyLoss", _class_args()), "nll_loss": ("NLLLoss", _class_args(log_probs=True)),
}
LOSSES = []
for _f, (_m, _args) in _LOSSES.items():
    LOSSES.append(Case(f"F.{_f}", lambda L, x, y, _f=_f, **kw: getattr(L.nn.functional, _f)(x, y, **_kw_tensors(L, kw)),
                       _args, tol=20))
    LOSSES.append(Case(f"nn.{_m}", lambda L, x, y, _m=_m, **kw: getattr(L.nn, _m)(**_kw_tensors(L, kw))(x, y),
                       _args, tol=20))
LOSSES.append(Case("F.cross_entropy(probs)", lambda L, x, y, **kw: L.nn.functional.cross_entropy(
    x, y, **_kw_tensors(L, kw)), _class_args(probs_target=True), tol=20))

LOSSES += [Case(f"{c.id}(nonfinite)", c.fn, c.args.map(_with_nonfinite), tol=c.tol) for c in list(LOSSES)
           if c.id in ("F.cross_entropy", "F.nll_loss", "F.binary_cross_entropy_with_logits", "F.binary_cross_entropy",
                       "F.cross_entropy(probs)")]

ALL = LAYERS + FUNCTIONAL + LOSSES
