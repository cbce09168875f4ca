"""NAdam, RAdam, Adamax, ASGD, Rprop and LBFGS, the new schedulers and nn.utils' gradient
clipping in ferrograd against PyTorch: same parameters, same gradients (or the same closure),
several steps, with options drawn per case; parameters and per-parameter state must agree."""

from __future__ import annotations

import math
import warnings

import pytest

pytest.importorskip("torch")

import ferrograd as fg
import numpy as np
import torch
from harness import Divergence, assert_values, dtype_name
from hypothesis import given, settings
from hypothesis import strategies as st
from test_diff_optim import _run

_B = st.booleans()
_BETAS = st.sampled_from([(0.9, 0.999), (0.5, 0.9)])
OPTIMIZERS = {
    "NAdam": {"lr": st.sampled_from([0.1, 0.002]), "betas": _BETAS, "eps": st.sampled_from([1e-8, 1e-3]),
              "weight_decay": st.sampled_from([0.0, 0.1]), "momentum_decay": st.sampled_from([4e-3, 0.1]),
              "decoupled_weight_decay": _B, "maximize": _B},
    "RAdam": {"lr": st.sampled_from([0.1, 0.001]), "betas": st.sampled_from([(0.9, 0.999), (0.5, 0.9), (0.9, 0.6)]),
              "eps": st.sampled_from([1e-8, 1e-3]), "weight_decay": st.sampled_from([0.0, 0.1]),
              "decoupled_weight_decay": _B, "maximize": _B},
    "Adamax": {"lr": st.sampled_from([0.1, 0.002]), "betas": _BETAS, "eps": st.sampled_from([1e-8, 1e-3]),
               "weight_decay": st.sampled_from([0.0, 0.1]), "maximize": _B},
    "ASGD": {"lr": st.sampled_from([0.1, 0.01]), "lambd": st.sampled_from([1e-4, 0.1]), "alpha": st.sampled_from([0.75, 0.5]),
             "t0": st.sampled_from([1e6, 1.0, 2.0]), "weight_decay": st.sampled_from([0.0, 0.1]), "maximize": _B},
    "Rprop": {"lr": st.sampled_from([0.1, 0.01]), "etas": st.sampled_from([(0.5, 1.2), (0.3, 2.0)]),
              "step_sizes": st.sampled_from([(1e-6, 50), (0.05, 0.2)]), "maximize": _B},
}


@st.composite
def optim_case(draw, name):
    opts = draw(st.fixed_dictionaries({}, optional=OPTIMIZERS[name]))
    dt = draw(st.sampled_from(["float32", "float64"]))
    shapes_ = draw(st.lists(st.sampled_from([(), (3,), (2, 3), (0,), (1, 1)]), min_size=1, max_size=3))
    steps = draw(st.integers(1, 6))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    params = [rng.uniform(-2, 2, s).astype(dt) for s in shapes_]
    # Rprop reacts to sign agreement between steps: repeat some gradients so every branch runs.
    grads, last = [], None
    for _ in range(steps):
        step_grads = [None if (i and rng.uniform() < 0.15) else rng.uniform(-1, 1, s).astype(dt) for i, s in enumerate(shapes_)]
        if last is not None and rng.uniform() < 0.4:
            step_grads = [None if g is None else g * rng.uniform(0.5, 1.5) for g in last]
        grads.append(step_grads)
        last = step_grads
    return opts, params, grads


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
@given(data=st.data())
def test_new_optimizer_steps_match_torch(name, data):
    opts, params, grads = data.draw(optim_case(name), label="case")
    th = _run(torch, name, opts, params, grads)
    ours = _run(fg, name, opts, params, grads)
    dt = dtype_name(params[0].dtype)
    tol = 1e-5 if dt == "float32" else 1e-10
    for step, ((tp, ts), (fp, fs)) in enumerate(zip(th, ours)):
        for i, (a, b) in enumerate(zip(fp, tp)):
            assert_values(a, b, dt, tol, f"{name}{opts} step {step} param {i}")
        for i, (a, b) in enumerate(zip(fs, ts)):
            if set(a) != set(b):
                raise Divergence(f"{name}{opts} step {step} param {i}: state keys {sorted(a)} vs torch {sorted(b)}")
            for k in b:
                assert_values(np.asarray(a[k], dtype=np.float64), np.asarray(b[k], dtype=np.float64), "float64",
                              tol, f"{name}{opts} step {step} param {i} state[{k!r}]")


@pytest.mark.parametrize("name", sorted(OPTIMIZERS) + ["LBFGS"])
@pytest.mark.parametrize("bad", [{"lr": -1.0}, {"eps": -1.0}, {"weight_decay": -0.5}, {"betas": (1.5, 0.9)},
                                 {"betas": (0.9, 1.0)}, {"momentum_decay": -1.0}, {"lambd": -1.0}, {"alpha": -0.1},
                                 {"etas": (1.5, 2.0)}, {"etas": (0.5, 0.9)}])
def test_new_optimizer_rejects_what_torch_rejects(name, bad):
    """Invalid hyperparameters: ferrograd raises exactly when PyTorch does, with its type."""
    outcome = {}
    for lib_name, L in (("torch", torch), ("fg", fg)):
        p = L.zeros(2, requires_grad=True)
        try:
            getattr(L.optim, name)([p], **bad)
            outcome[lib_name] = "ok"
        except (ValueError, TypeError, RuntimeError) as e:
            outcome[lib_name] = type(e).__name__
    if outcome["torch"] != outcome["fg"]:
        raise Divergence(f"{name}({bad}): ferrograd {outcome['fg']}, torch {outcome['torch']}")


# ---- LBFGS: a closure over a small least-squares plus quartic problem --------------------------


def _lbfgs_run(L, dtype, opts, steps):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(12, 3))
    y = X @ np.array([1.5, -2.0, 0.5]) + 0.3 * np.sin(X[:, 0])
    X_t, y_t = L.tensor(X, dtype=dtype), L.tensor(y, dtype=dtype)
    w = L.tensor(np.array([0.1, 0.2, -0.3]), dtype=dtype, requires_grad=True)
    b = L.tensor(np.array([0.0]), dtype=dtype, requires_grad=True)
    opt = L.optim.LBFGS([w, b], **opts)

    def closure():
        opt.zero_grad()
        r = X_t @ w + b - y_t
        loss = (r * r).mean() + 0.05 * (w**4).sum()
        loss.backward()
        return loss

    losses = [opt.step(closure).item() for _ in range(steps)]
    st_ = opt.state[w]
    return losses, w.detach().numpy().copy(), b.detach().numpy().copy(), st_["func_evals"], st_["n_iter"]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("opts", [
    {}, {"line_search_fn": "strong_wolfe"}, {"lr": 0.5, "max_iter": 5, "history_size": 3},
    {"line_search_fn": "strong_wolfe", "max_iter": 4, "history_size": 2}, {"lr": 0.1, "max_iter": 7, "max_eval": 9},
    {"line_search_fn": "strong_wolfe", "tolerance_grad": 1e-3},
], ids=str)
def test_lbfgs_matches_torch(opts, dtype):
    th = _lbfgs_run(torch, getattr(torch, dtype), opts, 3)
    ours = _lbfgs_run(fg, getattr(fg, dtype), opts, 3)
    tol = 1e-4 if dtype == "float32" else 1e-9
    np.testing.assert_allclose(ours[0], th[0], rtol=tol, atol=tol)
    np.testing.assert_allclose(ours[1], th[1], rtol=tol, atol=tol)
    np.testing.assert_allclose(ours[2], th[2], rtol=tol, atol=tol)
    if dtype == "float64":
        assert ours[3:] == th[3:], f"func_evals/n_iter {ours[3:]} vs torch {th[3:]}"


# ---- schedulers --------------------------------------------------------------------------------

_FACTOR = st.sampled_from([0.1, 0.5, 1.0])
SCHEDULERS = {
    "LambdaLR": st.fixed_dictionaries({"lr_lambda": st.sampled_from([lambda e: 0.9**e, lambda e: 1 / (e + 1)])}),
    "MultiplicativeLR": st.fixed_dictionaries({"lr_lambda": st.sampled_from([lambda e: 0.9, lambda e: 1.0 - 0.01 * e])}),
    "ConstantLR": st.fixed_dictionaries({"factor": _FACTOR, "total_iters": st.integers(0, 6)}),
    "LinearLR": st.fixed_dictionaries({"start_factor": st.sampled_from([0.1, 1 / 3, 1.0]),
                                       "end_factor": st.sampled_from([0.0, 0.5, 1.0]), "total_iters": st.integers(1, 6)}),
    "PolynomialLR": st.fixed_dictionaries({"total_iters": st.integers(1, 6), "power": st.sampled_from([1.0, 2.0, 0.5])}),
    "OneCycleLR": st.fixed_dictionaries({"max_lr": st.sampled_from([1.0, 0.3]), "total_steps": st.just(12),
                                         "pct_start": st.sampled_from([0.3, 0.25, 0.5]),
                                         "anneal_strategy": st.sampled_from(["cos", "linear"]), "three_phase": _B,
                                         "cycle_momentum": _B, "div_factor": st.sampled_from([25.0, 4.0]),
                                         "final_div_factor": st.sampled_from([1e4, 10.0])}),
    "CyclicLR": st.fixed_dictionaries({"base_lr": st.sampled_from([0.01, 0.1]), "max_lr": st.sampled_from([0.5, 1.0]),
                                       "step_size_up": st.integers(1, 4), "step_size_down": st.sampled_from([None, 1, 3]),
                                       "mode": st.sampled_from(["triangular", "triangular2", "exp_range"]),
                                       "gamma": st.sampled_from([1.0, 0.9]), "cycle_momentum": _B}),
    "CosineAnnealingWarmRestarts": st.fixed_dictionaries({"T_0": st.integers(1, 4), "T_mult": st.integers(1, 3),
                                                          "eta_min": st.sampled_from([0.0, 0.01])}),
}


@pytest.mark.parametrize("name", sorted(SCHEDULERS))
@pytest.mark.parametrize("opt_name", ["SGD", "Adam"])
@given(data=st.data())
@settings(max_examples=40)
def test_new_lr_scheduler_matches_torch(name, opt_name, data):
    """The learning rate (and the cycled momentum or beta1) after each of up to 12 epochs."""
    kw = data.draw(SCHEDULERS[name], label="kw")
    epochs = data.draw(st.integers(1, 12 if name == "OneCycleLR" else 15), label="epochs")
    seqs = {}
    for L in (torch, fg):
        ps = [L.zeros(1, requires_grad=True), L.zeros(1, requires_grad=True)]
        opt_kw = {"lr": 0.1, "momentum": 0.9} if opt_name == "SGD" else {"lr": 0.1}
        opt = getattr(L.optim, opt_name)([{"params": ps[:1]}, {"params": ps[1:], "lr": 0.05}], **opt_kw)
        sched = getattr(L.optim.lr_scheduler, name)(opt, **kw)
        seq = [[g["lr"] for g in opt.param_groups]]
        moms = [[g.get("momentum", g.get("betas", (0,))[0]) for g in opt.param_groups]]
        for _ in range(epochs):
            for p in ps:
                p.grad = L.zeros(1)
            opt.step()
            sched.step()
            seq.append([g["lr"] for g in opt.param_groups])
            moms.append([g.get("momentum", g.get("betas", (0,))[0]) for g in opt.param_groups])
        seqs[L.__name__] = (np.array(seq), np.array(moms), np.array(sched.get_last_lr()))
    for i, what in enumerate(["learning rates", "momentum", "get_last_lr"]):
        assert_values(seqs["ferrograd"][i], seqs["torch"][i], "float64", 1e-12, f"{name}({kw}) {what}")


@given(T_0=st.integers(1, 4), T_mult=st.integers(1, 3),
       epochs=st.lists(st.floats(0, 20, allow_nan=False).map(lambda x: round(x, 2)), min_size=1, max_size=8))
def test_warm_restarts_fractional_epochs_match_torch(T_0, T_mult, epochs):
    out = {}
    for L in (torch, fg):
        opt = L.optim.SGD([L.zeros(1, requires_grad=True)], lr=0.1)
        sched = L.optim.lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0, T_mult, eta_min=0.001)
        seq = []
        for e in epochs:
            sched.step(e)
            seq.append((opt.param_groups[0]["lr"], sched.T_cur, sched.T_i, sched.last_epoch))
        out[L.__name__] = np.array(seq, dtype=np.float64)
    assert_values(out["ferrograd"], out["torch"], "float64", 1e-12, f"warm restarts T_0={T_0} T_mult={T_mult} {epochs}")


# ---- nn.utils ----------------------------------------------------------------------------------


@given(data=st.data())
def test_clip_grad_norm_matches_torch(data):
    dt = data.draw(st.sampled_from(["float32", "float64"]), label="dtype")
    norm_type = data.draw(st.sampled_from([2.0, 1.0, 3.0, math.inf, 0.5]), label="norm_type")
    max_norm = data.draw(st.sampled_from([0.1, 1.0, 100.0]), label="max_norm")
    shapes = data.draw(st.lists(st.sampled_from([(), (3,), (2, 3), (1, 1)]), min_size=1, max_size=3), label="shapes")
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    grads = [None if (i and rng.uniform() < 0.2) else rng.uniform(-2, 2, s).astype(dt) for i, s in enumerate(shapes)]
    out = {}
    for L in (torch, fg):
        ps = [L.zeros(s, dtype=getattr(L, dt), requires_grad=True) for s in shapes]
        for p, g in zip(ps, grads):
            p.grad = None if g is None else L.tensor(g.copy())
        total = L.nn.utils.clip_grad_norm_(ps, max_norm, norm_type)
        out[L.__name__] = (float(total), [None if p.grad is None else p.grad.numpy().copy() for p in ps])
    tol = 1e-5 if dt == "float32" else 1e-12
    assert_values(np.array(out["ferrograd"][0]), np.array(out["torch"][0]), "float64", tol, f"total norm {norm_type}")
    for a, b in zip(out["ferrograd"][1], out["torch"][1]):
        assert (a is None) == (b is None)
        if a is not None:
            assert_values(a, b, dt, tol, f"clipped gradient (norm {norm_type}, max {max_norm})")


# ---- parametrizations: weight_norm and spectral_norm, both forms -----------------------------------


def _layer(L, kind, w, b):
    if kind == "linear":
        m = L.nn.Linear(w.shape[1], w.shape[0]).double()
    elif kind == "conv":
        m = L.nn.Conv2d(w.shape[1], w.shape[0], w.shape[2]).double()
    else:  # ConvTranspose2d: weight (in, out, k, k)
        m = L.nn.ConvTranspose2d(w.shape[0], w.shape[1], w.shape[2]).double()
    with L.no_grad():
        m.weight.copy_(L.tensor(w))
        m.bias.copy_(L.tensor(b))
    return m


def _skip_missing(kind):
    if kind == "convT" and not hasattr(fg.nn, "ConvTranspose2d"):
        pytest.skip("ferrograd has no ConvTranspose2d yet")


_KINDS = {"linear": ((4, 3), 4, (2, 3)), "conv": ((3, 2, 2, 2), 3, (1, 2, 4, 4)), "convT": ((2, 3, 2, 2), 3, (1, 2, 3, 3))}


@pytest.mark.parametrize("kind", sorted(_KINDS))
@pytest.mark.parametrize("form", ["parametrizations", "legacy"])
@pytest.mark.parametrize("dim", [0, 1, None])
def test_weight_norm_matches_torch(kind, form, dim):
    _skip_missing(kind)
    wshape, nb, xshape = _KINDS[kind]
    rng = np.random.default_rng(1)
    w, b, x = rng.normal(size=wshape), rng.normal(size=nb), rng.normal(size=xshape)
    out = {}
    for L in (torch, fg):
        m = _layer(L, kind, w, b)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            if form == "legacy":
                L.nn.utils.weight_norm(m, dim=dim)
            else:
                L.nn.utils.parametrizations.weight_norm(m, dim=dim)
        y = m(L.tensor(x))
        (y * y).sum().backward()
        sd = m.state_dict()
        grads = {n: p.grad.numpy().copy() for n, p in m.named_parameters()}
        out[L.__name__] = (y.detach().numpy(), list(sd), {k: v.numpy().copy() for k, v in sd.items()}, grads)
    (ty, tk, tsd, tg), (fy, fk, fsd, fgr) = out["torch"], out["ferrograd"]
    assert fk == tk
    assert sorted(fgr) == sorted(tg)
    assert_values(fy, ty, "float64", 1e-12, f"weight_norm {form} {kind} dim={dim} output")
    for k in tsd:
        assert_values(fsd[k], tsd[k], "float64", 1e-12, f"state_dict[{k}]")
    for k in tg:
        assert_values(fgr[k], tg[k], "float64", 1e-10, f"grad of {k}")


@pytest.mark.parametrize("kind", sorted(_KINDS))
@pytest.mark.parametrize("form", ["parametrizations", "legacy"])
@pytest.mark.parametrize("n_power_iterations", [1, 3])
def test_spectral_norm_matches_torch(kind, form, n_power_iterations):
    """Same u and v (copied from PyTorch's random start), then two training forwards (the power
    iteration runs), one eval forward (frozen) and a backward."""
    _skip_missing(kind)
    wshape, nb, xshape = _KINDS[kind]
    rng = np.random.default_rng(2)
    w, b, x = rng.normal(size=wshape), rng.normal(size=nb), rng.normal(size=xshape)
    start = {}
    out = {}
    for L in (torch, fg):
        m = _layer(L, kind, w, b)
        if form == "legacy":
            L.nn.utils.spectral_norm(m, n_power_iterations=n_power_iterations)
            bufs = ("weight_u", "weight_v")
            owner = m
            names = ("weight_u", "weight_v")
        else:
            L.nn.utils.parametrizations.spectral_norm(m, n_power_iterations=n_power_iterations)
            owner = m.parametrizations.weight[0]
            names = ("_u", "_v")
            bufs = ("parametrizations.weight.0._u", "parametrizations.weight.0._v")
        if L is torch:
            start = {n: getattr(owner, n).numpy().copy() for n in names}
        else:
            with fg.no_grad():
                for n in names:
                    getattr(owner, n).copy_(fg.tensor(start[n]))
        ys = [m(L.tensor(x)) for _ in range(2)]
        m.eval()
        ys.append(m(L.tensor(x)))
        (ys[-1] * ys[-1]).sum().backward()
        sd = m.state_dict()
        grads = {n: p.grad.numpy().copy() for n, p in m.named_parameters()}
        out[L.__name__] = ([y.detach().numpy() for y in ys], list(sd), {k: sd[k].numpy().copy() for k in bufs}, grads)
    (ty, tk, tb, tg), (fy, fk, fb, fgr) = out["torch"], out["ferrograd"]
    assert fk == tk
    for i, (a, c) in enumerate(zip(fy, ty)):
        assert_values(a, c, "float64", 1e-10, f"spectral_norm {form} {kind} forward {i}")
    for k in tb:
        assert_values(fb[k], tb[k], "float64", 1e-10, f"buffer {k}")
    for k in tg:
        assert_values(fgr[k], tg[k], "float64", 1e-9, f"grad of {k}")


# ---- swa_utils ------------------------------------------------------------------------------------


def _swa_run(L, averaging, use_buffers):
    rng = np.random.default_rng(3)
    net = L.nn.Sequential(L.nn.Linear(3, 4), L.nn.BatchNorm1d(4), L.nn.ReLU(), L.nn.Linear(4, 1)).double()
    with L.no_grad():
        for p in net.parameters():
            p.copy_(L.tensor(rng.normal(size=tuple(p.shape))))
    kw = {}
    if averaging == "ema":
        kw["multi_avg_fn"] = L.optim.swa_utils.get_ema_multi_avg_fn(0.9)
    elif averaging == "ema_avg_fn":
        kw["avg_fn"] = L.optim.swa_utils.get_ema_avg_fn(0.8)
    elif averaging == "swa_avg_fn":
        kw["avg_fn"] = L.optim.swa_utils.get_swa_avg_fn()
    avg = L.optim.swa_utils.AveragedModel(net, use_buffers=use_buffers, **kw)
    opt = L.optim.SGD(net.parameters(), lr=0.1)
    sched = L.optim.swa_utils.SWALR(opt, swa_lr=0.05, anneal_epochs=2)
    xs = [L.tensor(rng.normal(size=(8, 3))) for _ in range(4)]
    for x in xs:
        opt.zero_grad()
        net(x).pow(2).mean().backward()
        opt.step()
        avg.update_parameters(net)
        sched.step()
    L.optim.swa_utils.update_bn(xs, avg)
    sd = {k: np.array(v.numpy(), dtype=np.float64) for k, v in avg.state_dict().items()}  # copies: torch's numpy() aliases
    avg.eval()
    return sd, avg(xs[0]).detach().numpy()


@pytest.mark.parametrize("averaging", ["swa", "ema", "ema_avg_fn", "swa_avg_fn"])
@pytest.mark.parametrize("use_buffers", [False, True])
def test_averaged_model_swalr_and_update_bn_match_torch(averaging, use_buffers):
    (tsd, ty), (fsd, fy) = _swa_run(torch, averaging, use_buffers), _swa_run(fg, averaging, use_buffers)
    assert list(fsd) == list(tsd)
    for k in tsd:
        assert_values(fsd[k], tsd[k], "float64", 1e-10, f"AveragedModel({averaging}, use_buffers={use_buffers}) {k}")
    assert_values(fy, ty, "float64", 1e-10, "averaged model output")


# ---- signatures --------------------------------------------------------------------------------------

_SIGNATURES = [("optim", n) for n in ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta", "NAdam", "RAdam", "Adamax",
                                      "ASGD", "Rprop", "LBFGS"]] + \
    [("optim.lr_scheduler", n) for n in ["LambdaLR", "MultiplicativeLR", "StepLR", "MultiStepLR", "ConstantLR", "LinearLR",
                                         "ExponentialLR", "PolynomialLR", "CosineAnnealingLR", "OneCycleLR", "CyclicLR",
                                         "CosineAnnealingWarmRestarts", "SequentialLR", "ChainedScheduler",
                                         "ReduceLROnPlateau"]] + \
    [("optim.swa_utils", n) for n in ["AveragedModel", "SWALR", "update_bn", "get_ema_multi_avg_fn", "get_swa_multi_avg_fn",
                                      "get_ema_avg_fn", "get_swa_avg_fn"]] + \
    [("nn.utils", n) for n in ["clip_grad_norm_", "clip_grad_norm", "clip_grad_value_", "get_total_norm",
                               "clip_grads_with_norm_", "parameters_to_vector", "vector_to_parameters", "weight_norm",
                               "remove_weight_norm", "spectral_norm", "remove_spectral_norm"]] + \
    [("nn.utils.parametrizations", n) for n in ["weight_norm", "spectral_norm"]] + \
    [("nn.utils.parametrize", n) for n in ["register_parametrization", "remove_parametrizations", "is_parametrized",
                                           "cached"]]


def _resolve(lib, path, name):
    obj = lib
    for part in path.split("."):
        obj = getattr(obj, part)
    return getattr(obj, name)


@pytest.mark.parametrize("path, name", _SIGNATURES, ids=[f"{p}.{n}" for p, n in _SIGNATURES])
def test_signature_is_pytorchs(path, name):
    """Same parameter names, kinds (positional / keyword-only) and defaults."""
    import inspect

    want = [(p.name, p.kind, p.default) for p in inspect.signature(_resolve(torch, path, name)).parameters.values()]
    got = [(p.name, p.kind, p.default) for p in inspect.signature(_resolve(fg, path, name)).parameters.values()]
    assert got == want, f"{path}.{name}: signature {got} vs torch {want}"
