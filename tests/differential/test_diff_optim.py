"""Every optimizer's step in ferrograd against PyTorch: same parameters, same gradients, several
steps (new gradients each step, some parameters without a gradient now and then), with options
drawn per optimizer; after every step the parameters and the per-parameter state must agree."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")

import ferrograd as fg
import numpy as np
import torch
from harness import Divergence, assert_values, dtype_name
from hypothesis import given
from hypothesis import strategies as st

_B = st.booleans()
OPTIMIZERS = {
    "SGD": {"lr": st.sampled_from([0.1, 0.01]), "momentum": st.sampled_from([0.0, 0.9]),
                "dampening": st.sampled_from([0.0, 0.5]), "weight_decay": st.sampled_from([0.0, 0.1]), "nesterov": _B,
                "maximize": _B},
    "Adam": {"lr": st.sampled_from([0.1, 0.001]), "betas": st.sampled_from([(0.9, 0.999), (0.5, 0.9)]),
                 "eps": st.sampled_from([1e-8, 1e-3]), "weight_decay": st.sampled_from([0.0, 0.1]), "amsgrad": _B, "maximize": _B},
    "AdamW": {"lr": st.sampled_from([0.1, 0.001]), "betas": st.sampled_from([(0.9, 0.999), (0.5, 0.9)]),
                  "eps": st.sampled_from([1e-8, 1e-3]), "weight_decay": st.sampled_from([0.0, 0.01, 0.1]), "amsgrad": _B,
                  "maximize": _B},
    "RMSprop": {"lr": st.sampled_from([0.01, 0.1]), "alpha": st.sampled_from([0.99, 0.5]), "eps": st.sampled_from([1e-8, 1e-3]),
                    "weight_decay": st.sampled_from([0.0, 0.1]), "momentum": st.sampled_from([0.0, 0.9]), "centered": _B,
                    "maximize": _B},
    "Adagrad": {"lr": st.sampled_from([0.01, 0.1]), "lr_decay": st.sampled_from([0.0, 0.1]),
                    "weight_decay": st.sampled_from([0.0, 0.1]), "initial_accumulator_value": st.sampled_from([0.0, 0.5]),
                    "eps": st.sampled_from([1e-10, 1e-3]), "maximize": _B},
    "Adadelta": {"lr": st.sampled_from([1.0, 0.1]), "rho": st.sampled_from([0.9, 0.5]), "eps": st.sampled_from([1e-6, 1e-3]),
                     "weight_decay": st.sampled_from([0.0, 0.1]), "maximize": _B},
}


@st.composite
def optim_case(draw, name):
    opts = draw(st.fixed_dictionaries({}, optional=OPTIMIZERS[name]))
    if name == "SGD" and opts.get("nesterov") and (opts.get("momentum", 0) == 0 or opts.get("dampening", 0) != 0):
        opts["nesterov"] = False  # both libraries refuse this combination; compared in the error test
    dt = draw(st.sampled_from(["float32", "float64"]))
    shapes_ = draw(st.lists(st.sampled_from([(), (3,), (2, 3), (0,), (1, 1)]), min_size=1, max_size=3))
    steps = draw(st.integers(1, 4))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    params = [rng.uniform(-2, 2, s).astype(dt) for s in shapes_]
    grads = [[None if (i and rng.uniform() < 0.15) else rng.uniform(-1, 1, s).astype(dt) for i, s in enumerate(shapes_)]
             for _ in range(steps)]
    return opts, params, grads


def _state_arrays(opt, params):
    out = []
    for p in params:
        st_ = opt.state.get(p, {})
        out.append({k: np.array(v.detach().numpy() if hasattr(v, "detach") else v, copy=True) for k, v in st_.items()})
    return out


def _run(L, name, opts, params, grads):
    ps = [L.tensor(p.copy(), requires_grad=True) for p in params]
    opt = getattr(L.optim, name)(ps, **opts)
    history = []
    for step_grads in grads:
        for p, g in zip(ps, step_grads):
            p.grad = None if g is None else L.tensor(g.copy())
        opt.step()
        history.append(([p.detach().numpy().copy() for p in ps], _state_arrays(opt, ps)))
    return history


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
@given(data=st.data())
def test_optimizer_steps_match_torch(name, data):
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


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
@pytest.mark.parametrize("bad", [{"lr": -1.0}, {"eps": -1.0}, {"weight_decay": -0.5}, {"momentum": -0.1},
                                 {"nesterov": True}, {"betas": (1.5, 0.9)}, {"alpha": -0.1}, {"rho": 1.5},
                                 {"lr_decay": -1.0}])
def test_optimizer_rejects_what_torch_rejects(name, bad):
    """Invalid hyperparameters: ferrograd raises exactly when PyTorch does."""
    outcome = {}
    for lib_name, L in (("torch", torch), ("fg", fg)):
        p = L.zeros(2, requires_grad=True)
        try:
            getattr(L.optim, name)([p], **bad)
            outcome[lib_name] = "ok"
        except (ValueError, TypeError, RuntimeError) as e:
            outcome[lib_name] = type(e).__name__
    if (outcome["torch"] == "ok") != (outcome["fg"] == "ok"):
        raise Divergence(f"{name}({bad}): ferrograd {outcome['fg']}, torch {outcome['torch']}")


SCHEDULERS = {
    "StepLR": st.fixed_dictionaries({"step_size": st.integers(1, 4), "gamma": st.sampled_from([0.1, 0.5, 0.9])}),
    "MultiStepLR": st.fixed_dictionaries({"milestones": st.lists(st.integers(1, 8), max_size=3),
                                          "gamma": st.sampled_from([0.1, 0.5])}),
    "ExponentialLR": st.fixed_dictionaries({"gamma": st.sampled_from([0.5, 0.9, 1.0])}),
    "CosineAnnealingLR": st.fixed_dictionaries({"T_max": st.integers(1, 5), "eta_min": st.sampled_from([0.0, 0.01])}),
    "ReduceLROnPlateau": st.fixed_dictionaries(
        {"mode": st.sampled_from(["min", "max"]), "factor": st.sampled_from([0.1, 0.5]), "patience": st.integers(0, 3),
         "threshold": st.sampled_from([1e-4, 0.1]), "threshold_mode": st.sampled_from(["rel", "abs"]),
         "cooldown": st.integers(0, 2), "min_lr": st.sampled_from([0.0, 0.02])}),
}


@pytest.mark.parametrize("name", sorted(SCHEDULERS))
@given(data=st.data())
def test_lr_scheduler_matches_torch(name, data):
    """The learning rate after each of several epochs (ReduceLROnPlateau fed the same metrics)."""
    kw = data.draw(SCHEDULERS[name], label="kw")
    metrics = data.draw(st.lists(st.sampled_from([1.0, 0.9, 0.5, 1.5, 0.999]), min_size=1, max_size=10), label="metrics")
    lrs = {}
    for L in (torch, fg):
        p = L.zeros(1, requires_grad=True)
        opt = L.optim.SGD([p], lr=0.1)
        sched = getattr(L.optim.lr_scheduler, name)(opt, **kw)
        seq = []
        for m in metrics:
            p.grad = L.zeros(1)
            opt.step()
            sched.step(m) if name == "ReduceLROnPlateau" else sched.step()
            seq.append(opt.param_groups[0]["lr"])
        lrs[L.__name__] = np.array(seq)
    assert_values(lrs["ferrograd"], lrs["torch"], "float64", 1e-12, f"{name}({kw}) learning rates")
