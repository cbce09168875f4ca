"""The cases of tests/test_optim_more.py and tests/test_lr_scheduler_more.py, written once for
both libraries: every runner takes the library module `L` (``torch`` or ``ferrograd``, which
share the API used here). tests/golden/make_optim_more_golden.py runs them under PyTorch and
stores the results in tests/golden/optim_more_golden.json; the tests run them under ferrograd
and compare. Everything is float64 unless a case says otherwise."""

from __future__ import annotations

import itertools
import warnings

import numpy as np

# The problem of optim_reference.py: sum(A/2 * p^2 + B * p + cos(p)), whose gradient depends on
# p, so every step feeds the next.
A = np.array([[0.5, 2.0, 1.5], [3.0, 0.2, 1.0]])
B = np.array([[0.3, -1.0, 0.7], [-0.4, 0.9, -2.0]])
P0 = np.array([[1.0, -0.5, 2.0], [0.3, -1.2, 0.8]])
STEPS = 8


def _grid(name, base, **options):
    keys = list(options)
    return [(name, dict(base, **dict(zip(keys, values)))) for values in itertools.product(*options.values())]


OPTIMIZER_CASES = (
    _grid("NAdam", {"lr": 0.05}, weight_decay=[0.0, 0.1], decoupled_weight_decay=[False, True], maximize=[False, True],
          momentum_decay=[4e-3, 0.2])
    + [("NAdam", {}), ("NAdam", {"betas": (0.5, 0.6), "eps": 1e-3, "lr": 0.1})]
    + _grid("RAdam", {"lr": 0.05}, weight_decay=[0.0, 0.1], decoupled_weight_decay=[False, True], maximize=[False, True],
            betas=[(0.9, 0.999), (0.9, 0.6)])
    + [("RAdam", {})]
    + _grid("Adamax", {"lr": 0.05}, weight_decay=[0.0, 0.1], maximize=[False, True], betas=[(0.9, 0.999), (0.5, 0.6)])
    + [("Adamax", {}), ("Adamax", {"eps": 0.5, "lr": 0.1})]
    + _grid("ASGD", {"lr": 0.05}, weight_decay=[0.0, 0.1], maximize=[False, True], t0=[1e6, 3.0], lambd=[1e-4, 0.5])
    + [("ASGD", {}), ("ASGD", {"alpha": 0.5, "lr": 0.2, "t0": 0.0})]
    + _grid("Rprop", {"lr": 0.05}, maximize=[False, True], etas=[(0.5, 1.2), (0.2, 3.0)], step_sizes=[(1e-6, 50), (0.02, 0.1)])
    + [("Rprop", {})]
)


def case_id(name, kw):
    return name + "(" + ", ".join(f"{k}={v}" for k, v in sorted(kw.items())) + ")"


def _to_numpy(value):
    if hasattr(value, "detach"):
        return value.detach().numpy().astype(np.float64).tolist()
    return value


def run_optimizer(L, name, kw, steps=STEPS, dtype="float64"):
    """Parameters after each step and the final state ({key: value as nested lists})."""
    dt = getattr(L, dtype)
    p = L.tensor(P0, dtype=dt, requires_grad=True)
    a, b = L.tensor(A, dtype=dt), L.tensor(B, dtype=dt)
    opt = getattr(L.optim, name)([p], **kw)
    trajectory = []
    for _ in range(steps):
        opt.zero_grad()
        (a * 0.5 * p * p + b * p + p.cos()).sum().backward()
        opt.step()
        trajectory.append(p.detach().numpy().astype(np.float64).tolist())
    state = {k: _to_numpy(v) for k, v in opt.state[p].items()}
    return {"trajectory": trajectory, "state": state}


# ---- LBFGS: least squares plus a quartic term, two parameters --------------------------------

_rng = np.random.default_rng(7)
LBFGS_X = np.round(_rng.normal(size=(16, 3)), 3)
LBFGS_Y = np.round(LBFGS_X @ np.array([1.5, -2.0, 0.5]) + 0.3 * np.sin(LBFGS_X[:, 0]), 3)
LBFGS_CASES = [
    {}, {"line_search_fn": "strong_wolfe"}, {"lr": 0.5, "max_iter": 5, "history_size": 3}, {"lr": 0.1, "max_iter": 7, "max_eval": 9},
    {"line_search_fn": "strong_wolfe", "max_iter": 4, "history_size": 2}, {"line_search_fn": "strong_wolfe", "maximize": True},
    {"line_search_fn": "strong_wolfe", "tolerance_grad": 1e-3}, {"tolerance_change": 1e-2},
]


def run_lbfgs(L, kw, steps=3):
    X, y = L.tensor(LBFGS_X, dtype=L.float64), L.tensor(LBFGS_Y, dtype=L.float64)
    w = L.tensor(np.array([0.1, 0.2, -0.3]), dtype=L.float64, requires_grad=True)
    b = L.tensor(np.array([0.0]), dtype=L.float64, requires_grad=True)
    opt = L.optim.LBFGS([w, b], **kw)
    sign = -1.0 if kw.get("maximize") else 1.0  # maximize the negated loss: the same minimum

    def closure():
        opt.zero_grad()
        r = X @ w + b - y
        loss = sign * ((r * r).mean() + 0.05 * (w**4).sum())
        loss.backward()
        return loss

    losses = [opt.step(closure).item() for _ in range(steps)]
    st = opt.state[w]
    return {
        "losses": losses, "w": w.detach().numpy().tolist(), "b": b.detach().numpy().tolist(),
        "func_evals": st["func_evals"], "n_iter": st["n_iter"], "keys": sorted(st),
        "d": _to_numpy(st["d"]), "history": len(st["old_dirs"]),
    }


# ---- schedulers ---------------------------------------------------------------------------------

LAMBDAS = {
    "exp09": lambda e: 0.9**e,
    "inv": lambda e: 1.0 / (e + 1),
    "mul095": lambda e: 0.95,
    "mul_ramp": lambda e: 1.0 - 0.02 * e,
}


def _scale_fn(x):
    return 1.0 / (1.0 + x)


SCHEDULER_CASES = [
    {"name": "LambdaLR", "kw": {"lr_lambda": "exp09"}},
    {"name": "LambdaLR", "kw": {"lr_lambda": ["exp09", "inv"]}},
    {"name": "MultiplicativeLR", "kw": {"lr_lambda": "mul095"}},
    {"name": "MultiplicativeLR", "kw": {"lr_lambda": "mul_ramp"}},
    {"name": "ConstantLR", "kw": {}},
    {"name": "ConstantLR", "kw": {"factor": 0.5, "total_iters": 3}},
    {"name": "ConstantLR", "kw": {"factor": 0.25, "total_iters": 0}},
    {"name": "LinearLR", "kw": {}},
    {"name": "LinearLR", "kw": {"start_factor": 1.0, "end_factor": 0.1, "total_iters": 6}},
    {"name": "LinearLR", "kw": {"start_factor": 0.2, "end_factor": 0.0, "total_iters": 3}},
    {"name": "PolynomialLR", "kw": {}},
    {"name": "PolynomialLR", "kw": {"total_iters": 8, "power": 2.0}},
    {"name": "PolynomialLR", "kw": {"total_iters": 4, "power": 0.5}},
    {"name": "OneCycleLR", "kw": {"max_lr": 1.0, "total_steps": 20}, "epochs": 20},
    {"name": "OneCycleLR", "kw": {"max_lr": [1.0, 0.5], "epochs": 4, "steps_per_epoch": 5, "anneal_strategy": "linear"},
     "epochs": 20},
    {"name": "OneCycleLR", "kw": {"max_lr": 0.8, "total_steps": 20, "three_phase": True, "pct_start": 0.25}, "epochs": 20},
    {"name": "OneCycleLR", "kw": {"max_lr": 0.8, "total_steps": 20, "cycle_momentum": False, "div_factor": 5.0,
                                  "final_div_factor": 100.0}, "epochs": 20},
    {"name": "OneCycleLR", "kw": {"max_lr": 0.01, "total_steps": 15}, "epochs": 15, "optimizer": "Adam"},
    {"name": "CyclicLR", "kw": {"base_lr": 0.01, "max_lr": 0.1, "step_size_up": 4}},
    {"name": "CyclicLR", "kw": {"base_lr": 0.01, "max_lr": 0.1, "step_size_up": 2, "step_size_down": 5, "mode": "triangular2"}},
    {"name": "CyclicLR", "kw": {"base_lr": [0.01, 0.02], "max_lr": 0.1, "step_size_up": 3, "mode": "exp_range", "gamma": 0.9}},
    {"name": "CyclicLR", "kw": {"base_lr": 0.01, "max_lr": 0.1, "step_size_up": 3, "scale_fn": "inv_x"}},
    {"name": "CyclicLR", "kw": {"base_lr": 0.01, "max_lr": 0.1, "step_size_up": 3, "scale_fn": "inv_x",
                                "scale_mode": "iterations", "cycle_momentum": False}},
    {"name": "CyclicLR", "kw": {"base_lr": 0.001, "max_lr": 0.01, "step_size_up": 3}, "optimizer": "Adam"},
    {"name": "CosineAnnealingWarmRestarts", "kw": {"T_0": 3}},
    {"name": "CosineAnnealingWarmRestarts", "kw": {"T_0": 2, "T_mult": 2, "eta_min": 0.001}},
    {"name": "CosineAnnealingWarmRestarts", "kw": {"T_0": 2, "T_mult": 3, "eta_min": 0.01},
     "epoch_args": [0.0, 0.5, 1.0, 1.7, 2.0, 3.3, 7.9, 8.0, 12.25, 30.5, 4.0]},
    {"name": "CosineAnnealingWarmRestarts", "kw": {"T_0": 3, "eta_min": 0.01}, "epoch_args": [0.1, 2.9, 3.0, 5.5, 100.25]},
    {"name": "SequentialLR", "kw": {"schedulers": [{"name": "LinearLR", "kw": {"start_factor": 0.1, "total_iters": 3}},
                                                   {"name": "CosineAnnealingLR", "kw": {"T_max": 6}}], "milestones": [3]}},
    {"name": "SequentialLR", "kw": {"schedulers": [{"name": "ConstantLR", "kw": {"factor": 0.1, "total_iters": 2}},
                                                   {"name": "ExponentialLR", "kw": {"gamma": 0.9}},
                                                   {"name": "StepLR", "kw": {"step_size": 2, "gamma": 0.5}}],
                                    "milestones": [2, 5]}},
    {"name": "ChainedScheduler", "kw": {"schedulers": [{"name": "ConstantLR", "kw": {"factor": 0.1, "total_iters": 2}},
                                                       {"name": "ExponentialLR", "kw": {"gamma": 0.9}}]}},
    {"name": "ChainedScheduler", "kw": {"schedulers": [{"name": "LinearLR", "kw": {"start_factor": 0.5, "total_iters": 4}},
                                                       {"name": "MultiStepLR", "kw": {"milestones": [3, 6], "gamma": 0.5}},
                                                       {"name": "CosineAnnealingLR", "kw": {"T_max": 5}}]}},
    # The existing schedulers under step(epoch) (the closed forms) and chained with the new ones.
    {"name": "LinearLR", "kw": {"start_factor": 0.25, "total_iters": 4}, "epoch_args": [1, 2, 6, 3, 0]},
    {"name": "PolynomialLR", "kw": {"total_iters": 5, "power": 2.0}, "epoch_args": [2, 4, 9, 1]},
    {"name": "ConstantLR", "kw": {"factor": 0.5, "total_iters": 3}, "epoch_args": [1, 3, 2, 7]},
    # swa_utils.SWALR
    {"name": "SWALR", "kw": {"swa_lr": 0.01, "anneal_epochs": 5}},
    {"name": "SWALR", "kw": {"swa_lr": [0.2, 0.3], "anneal_epochs": 3, "anneal_strategy": "linear"}},
    {"name": "SWALR", "kw": {"swa_lr": 0.02, "anneal_epochs": 0}},
]
SCALE_FNS = {"inv_x": _scale_fn}


def sched_case_id(case):
    return case["name"] + repr(case["kw"]) + ("" if "epoch_args" not in case else f" at {case['epoch_args']}") + (
        "" if "optimizer" not in case else f" with {case['optimizer']}")


def build_scheduler(L, opt, spec):
    kw = dict(spec["kw"])
    if "lr_lambda" in kw:
        kw["lr_lambda"] = [LAMBDAS[k] for k in kw["lr_lambda"]] if isinstance(kw["lr_lambda"], list) else LAMBDAS[kw["lr_lambda"]]
    if "scale_fn" in kw:
        kw["scale_fn"] = SCALE_FNS[kw["scale_fn"]]
    if "schedulers" in kw:
        kw["schedulers"] = [build_scheduler(L, opt, s) for s in kw["schedulers"]]
        if spec["name"] == "ChainedScheduler":
            return L.optim.lr_scheduler.ChainedScheduler(kw["schedulers"], optimizer=opt)
    if spec["name"] == "SWALR":
        return L.optim.swa_utils.SWALR(opt, **kw)
    return getattr(L.optim.lr_scheduler, spec["name"])(opt, **kw)


def run_scheduler(L, case, epochs=14):
    """Each group's lr and momentum (SGD's momentum or Adam's beta1) after construction and after
    each step, and get_last_lr() at the end."""
    ps = [L.zeros(2, dtype=L.float64, requires_grad=True) for _ in range(2)]
    if case.get("optimizer") == "Adam":
        opt = L.optim.Adam([{"params": ps[:1]}, {"params": ps[1:], "lr": 0.05}], lr=0.1)
    else:
        opt = L.optim.SGD([{"params": ps[:1]}, {"params": ps[1:], "lr": 0.05}], lr=0.1, momentum=0.9)
    sched = build_scheduler(L, opt, case)

    def record():
        return [[g["lr"], g["momentum"] if "momentum" in g else g["betas"][0]] for g in opt.param_groups]

    out = [record()]
    steps = case.get("epoch_args") or [None] * case.get("epochs", epochs)
    for e in steps:
        for p in ps:
            p.grad = L.ones(2, dtype=L.float64)
        opt.step()
        if e is None:
            sched.step()
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                sched.step(e)
        out.append(record())
    return {"lrs": out, "last_lr": [float(x) for x in sched.get_last_lr()], "last_epoch": getattr(sched, "last_epoch", None)}

