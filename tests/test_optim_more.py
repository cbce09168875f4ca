"""NAdam, RAdam, Adamax, ASGD, Rprop and LBFGS against PyTorch trajectories recorded in
tests/golden/optim_more_golden.json (made by tests/golden/make_optim_more_golden.py from the
cases in optim_more_cases.py), their state layout and state dicts, the compatibility flags
(maximize, foreach, capturable, differentiable, fused) on every optimizer, and nn.utils'
gradient clipping and parameter flattening against numpy."""

from __future__ import annotations

import copy
import json
import math
import os
import pickle
import warnings

import ferrograd as fg
import numpy as np
import optim_more_cases as C
import pytest

GOLDEN = json.load(open(os.path.join(os.path.dirname(__file__), "golden", "optim_more_golden.json")))


def _tuples(kw):
    return {k: tuple(v) if isinstance(v, list) else v for k, v in kw.items()}


def _compare(got, want, rtol, atol, what):
    np.testing.assert_allclose(np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64), rtol=rtol, atol=atol,
                               err_msg=what)


def test_golden_file_has_every_case():
    assert len(GOLDEN["optimizers"]) == len(C.OPTIMIZER_CASES)
    assert len(GOLDEN["schedulers"]) == len(C.SCHEDULER_CASES)
    assert len(GOLDEN["lbfgs"]) == len(C.LBFGS_CASES)


@pytest.mark.parametrize("name, kw", C.OPTIMIZER_CASES, ids=[C.case_id(n, k) for n, k in C.OPTIMIZER_CASES])
def test_trajectory_and_state_match_pytorch(name, kw):
    want = GOLDEN["optimizers"][C.case_id(name, kw)]
    got = C.run_optimizer(fg, name, kw)
    for step, (g, w) in enumerate(zip(got["trajectory"], want["trajectory"]), 1):
        _compare(g, w, 1e-11, 1e-13, f"{name}{kw} step {step}")
    assert sorted(got["state"]) == sorted(want["state"])
    for key in want["state"]:
        _compare(got["state"][key], want["state"][key], 1e-11, 1e-13, f"{name}{kw} state[{key!r}]")
    # The parameters must have moved, or the comparison says nothing.
    assert np.abs(np.asarray(want["trajectory"][-1]) - C.P0).max() > 1e-3


@pytest.mark.parametrize("name, kw", C.OPTIMIZER_CASES[::3], ids=[C.case_id(n, k) for n, k in C.OPTIMIZER_CASES[::3]])
def test_float32_trajectory_matches_pytorch(name, kw):
    want = GOLDEN["optimizers_float32"][C.case_id(name, kw)]
    got = C.run_optimizer(fg, name, kw, dtype="float32")
    for step, (g, w) in enumerate(zip(got["trajectory"], want["trajectory"]), 1):
        _compare(g, w, 2e-5, 2e-6, f"{name}{kw} float32 step {step}")


@pytest.mark.parametrize("kw", C.LBFGS_CASES, ids=str)
def test_lbfgs_matches_pytorch(kw):
    want = GOLDEN["lbfgs"][C.case_id("LBFGS", kw)]
    got = C.run_lbfgs(fg, kw)
    for key in ("losses", "w", "b", "d"):
        _compare(got[key], want[key], 1e-9, 1e-11, f"LBFGS{kw} {key}")
    for key in ("func_evals", "n_iter", "keys", "history"):
        assert got[key] == want[key], f"LBFGS{kw} {key}: {got[key]} vs PyTorch {want[key]}"


# ---- state and state dicts -----------------------------------------------------------------------

NEW = {
    "NAdam": ["step", "mu_product", "exp_avg", "exp_avg_sq"],
    "RAdam": ["step", "exp_avg", "exp_avg_sq"],
    "Adamax": ["step", "exp_avg", "exp_inf"],
    "ASGD": ["step", "eta", "mu", "ax"],
    "Rprop": ["step", "prev", "step_size"],
}


def _train(opt, p, steps):
    a, b = fg.tensor(C.A), fg.tensor(C.B)
    for _ in range(steps):
        opt.zero_grad()
        (a * 0.5 * p * p + b * p + p.cos()).sum().backward()
        opt.step()


@pytest.mark.parametrize("name", sorted(NEW))
def test_state_has_pytorchs_keys_and_float32_scalars(name):
    p = fg.nn.Parameter(fg.tensor(C.P0))
    opt = getattr(fg.optim, name)([p])
    _train(opt, p, 2)
    state = opt.state[p]
    assert list(state) == NEW[name]
    assert state["step"].dtype == fg.float32 and float(state["step"]) == 2.0
    for key in ("mu_product", "eta", "mu"):
        if key in state:
            assert state[key].dtype == fg.float32 and state[key].shape == ()


@pytest.mark.parametrize("name", sorted(NEW))
def test_state_dict_round_trip_continues_the_run(name):
    """Saving after 3 steps, loading into a fresh optimizer and taking 3 more steps gives the
    uninterrupted 6-step result (to rounding: as in PyTorch, loading casts the float32 scalar
    state, NAdam's mu_product and ASGD's eta and mu, to the parameter's dtype)."""
    p = fg.nn.Parameter(fg.tensor(C.P0))
    opt = getattr(fg.optim, name)([p], lr=0.05)
    _train(opt, p, 3)
    saved = copy.deepcopy(opt.state_dict())
    p2 = fg.nn.Parameter(p.detach().clone())
    _train(opt, p, 3)
    opt2 = getattr(fg.optim, name)([p2], lr=0.05)
    opt2.load_state_dict(pickle.loads(pickle.dumps(saved)))
    _train(opt2, p2, 3)
    np.testing.assert_allclose(p2.detach().numpy(), p.detach().numpy(), rtol=1e-6)
    assert saved["param_groups"][0]["params"] == [0]


def _lbfgs_problem():
    w = fg.nn.Parameter(fg.tensor([0.1, 0.2, -0.3], dtype=fg.float64))
    b = fg.nn.Parameter(fg.tensor([0.0], dtype=fg.float64))
    X, y = fg.tensor(C.LBFGS_X), fg.tensor(C.LBFGS_Y)
    return w, b, X, y


def _lbfgs_closure(opt, w, b, X, y):
    def closure():
        opt.zero_grad()
        r = X @ w + b - y
        loss = (r * r).mean() + 0.05 * (w**4).sum()
        loss.backward()
        return loss

    return closure


def test_lbfgs_state_dict_round_trip_continues_the_run():
    w, b, X, y = _lbfgs_problem()
    opt = fg.optim.LBFGS([w, b], max_iter=3, line_search_fn="strong_wolfe")
    opt.step(_lbfgs_closure(opt, w, b, X, y))
    saved = copy.deepcopy(opt.state_dict())
    assert list(saved["state"]) == [0]
    assert saved["state"][0]["d"].shape == (4,)  # flat: spans both parameters
    w2, b2 = fg.nn.Parameter(w.detach().clone()), fg.nn.Parameter(b.detach().clone())
    opt.step(_lbfgs_closure(opt, w, b, X, y))
    opt2 = fg.optim.LBFGS([w2, b2], max_iter=3, line_search_fn="strong_wolfe")
    opt2.load_state_dict(saved)
    opt2.step(_lbfgs_closure(opt2, w2, b2, X, y))
    np.testing.assert_allclose(w2.detach().numpy(), w.detach().numpy(), rtol=1e-14, atol=1e-15)


def test_lbfgs_converges_on_a_quadratic_with_strong_wolfe():
    target = np.array([1.0, -2.0, 3.0])
    x = fg.nn.Parameter(fg.zeros(3, dtype=fg.float64))
    opt = fg.optim.LBFGS([x], line_search_fn="strong_wolfe")
    t = fg.tensor(target)

    def closure():
        opt.zero_grad()
        loss = ((x - t) ** 2 * fg.tensor([1.0, 10.0, 100.0])).sum()
        loss.backward()
        return loss

    opt.step(closure)
    np.testing.assert_allclose(x.detach().numpy(), target, atol=1e-6)


def test_lbfgs_needs_a_closure_and_one_group():
    p = fg.nn.Parameter(fg.zeros(2))
    opt = fg.optim.LBFGS([p])
    with pytest.raises(TypeError):
        opt.step()
    with pytest.raises(ValueError, match="doesn't support per-parameter options"):
        fg.optim.LBFGS([{"params": [p]}, {"params": [fg.nn.Parameter(fg.zeros(1))]}])
    with pytest.raises(ValueError, match="Invalid learning rate"):
        fg.optim.LBFGS([p], lr=-1)
    opt = fg.optim.LBFGS([p], line_search_fn="armijo")
    p.grad = fg.ones(2)

    def closure():
        return (p * 1.0).sum()

    with pytest.raises(RuntimeError, match="only 'strong_wolfe' is supported"):
        opt.step(closure)


def test_lbfgs_defaults_are_pytorchs():
    opt = fg.optim.LBFGS([fg.nn.Parameter(fg.zeros(2))])
    assert opt.defaults == {"lr": 1, "max_iter": 20, "max_eval": 25, "tolerance_grad": 1e-7, "tolerance_change": 1e-9,
                            "history_size": 100, "line_search_fn": None, "maximize": False}


def test_lbfgs_stops_at_once_when_the_gradient_is_already_small():
    p = fg.nn.Parameter(fg.zeros(2, dtype=fg.float64))
    opt = fg.optim.LBFGS([p])
    calls = []

    def closure():
        calls.append(1)
        opt.zero_grad()
        loss = (p * p).sum()
        loss.backward()
        return loss

    assert float(opt.step(closure)) == 0.0
    assert len(calls) == 1 and opt.state[p]["func_evals"] == 1


# ---- hyperparameter checks and the compatibility flags -------------------------------------------

ALL = ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta", "NAdam", "RAdam", "Adamax", "ASGD", "Rprop"]
FLAGS = {  # the keyword flags PyTorch's constructors accept (torch 2.x signatures)
    "SGD": ["maximize", "foreach", "differentiable", "fused"],
    "Adam": ["maximize", "foreach", "capturable", "differentiable", "fused"],
    "AdamW": ["maximize", "foreach", "capturable", "differentiable", "fused"],
    "RMSprop": ["maximize", "foreach", "capturable", "differentiable"],
    "Adagrad": ["maximize", "foreach", "differentiable", "fused"],
    "Adadelta": ["maximize", "foreach", "capturable", "differentiable"],
    "NAdam": ["maximize", "foreach", "capturable", "differentiable"],
    "RAdam": ["maximize", "foreach", "capturable", "differentiable"],
    "Adamax": ["maximize", "foreach", "capturable", "differentiable"],
    "ASGD": ["maximize", "foreach", "capturable", "differentiable"],
    "Rprop": ["maximize", "foreach", "capturable", "differentiable"],
    "LBFGS": ["maximize"],
}


@pytest.mark.parametrize("name", sorted(FLAGS))
def test_compatibility_flags_are_accepted_at_their_defaults_and_foreach_either_way(name):
    cls = getattr(fg.optim, name)
    p = fg.nn.Parameter(fg.zeros(2))
    flags = FLAGS[name]
    opt = cls([p], **{f: False for f in flags})
    for f in flags:
        assert f in opt.defaults
    if "foreach" in flags:
        cls([fg.nn.Parameter(fg.zeros(2))], foreach=True)  # one implementation: foreach is ignored


@pytest.mark.parametrize("name", [n for n in sorted(FLAGS) if "capturable" in FLAGS[n] or "differentiable" in FLAGS[n]])
def test_capturable_and_differentiable_true_say_why_they_are_refused(name):
    cls = getattr(fg.optim, name)
    if "capturable" in FLAGS[name]:
        with pytest.raises(ValueError, match="capturable=True is not supported"):
            cls([fg.nn.Parameter(fg.zeros(2))], capturable=True)
    with pytest.raises(ValueError, match="differentiable=True is not supported"):
        cls([fg.nn.Parameter(fg.zeros(2))], differentiable=True)


@pytest.mark.parametrize("make, message", [
    (lambda p: fg.optim.NAdam(p, lr=-1), "Invalid learning rate: -1"),
    (lambda p: fg.optim.NAdam(p, momentum_decay=-0.1), "Invalid momentum_decay value: -0.1"),
    (lambda p: fg.optim.NAdam(p, betas=(1.0, 0.9)), "Invalid beta parameter at index 0: 1.0"),
    (lambda p: fg.optim.RAdam(p, betas=(0.9, 1.0)), "Invalid beta parameter at index 1: 1.0"),
    (lambda p: fg.optim.RAdam(p, weight_decay=-1), "Invalid weight_decay value: -1"),
    (lambda p: fg.optim.Adamax(p, eps=-1), "Invalid epsilon value: -1"),
    (lambda p: fg.optim.ASGD(p, lambd=-1), "Invalid lambd value: -1"),
    (lambda p: fg.optim.ASGD(p, alpha=-1), "Invalid alpha value: -1"),
    (lambda p: fg.optim.Rprop(p, etas=(1.5, 2.0)), "Invalid eta values: 1.5, 2.0"),
    (lambda p: fg.optim.Rprop(p, etas=(0.5, 0.9)), "Invalid eta values: 0.5, 0.9"),
])
def test_bad_hyperparameters_raise_pytorchs_value_error(make, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        make([fg.nn.Parameter(fg.zeros(2))])


@pytest.mark.parametrize("name, defaults", [
    ("NAdam", {"lr": 2e-3, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0, "momentum_decay": 4e-3,
               "decoupled_weight_decay": False}),
    ("RAdam", {"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0, "decoupled_weight_decay": False}),
    ("Adamax", {"lr": 2e-3, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0}),
    ("ASGD", {"lr": 1e-2, "lambd": 1e-4, "alpha": 0.75, "t0": 1e6, "weight_decay": 0}),
    ("Rprop", {"lr": 1e-2, "etas": (0.5, 1.2), "step_sizes": (1e-6, 50)}),
])
def test_defaults_are_pytorchs(name, defaults):
    opt = getattr(fg.optim, name)([fg.nn.Parameter(fg.zeros(2))])
    for key, value in defaults.items():
        assert opt.defaults[key] == value, key


def test_rprop_skips_an_element_once_after_a_sign_change():
    p = fg.nn.Parameter(fg.tensor([0.0, 0.0]))
    opt = fg.optim.Rprop([p], lr=0.1)
    for g in ([1.0, 1.0], [1.0, -1.0], [1.0, -1.0]):
        p.grad = fg.tensor(g)
        opt.step()
    # element 0: steps 0.1, 0.12, 0.144 down; element 1: 0.1 down, then a flip (no move, step 0.05, prev 0),
    # then a "no information" step of 0.05 up.
    np.testing.assert_allclose(p.detach().numpy(), [-0.364, -0.05], rtol=1e-6)
    np.testing.assert_allclose(opt.state[p]["step_size"].numpy(), [0.144, 0.05], rtol=1e-6)


# ---- nn.utils ---------------------------------------------------------------------------------------


def _params_with_grads(grads, dtype=fg.float64):
    ps = []
    for g in grads:
        p = fg.nn.Parameter(fg.zeros(np.shape(g), dtype=dtype))
        p.grad = None if g is None else fg.tensor(np.asarray(g), dtype=dtype)
        ps.append(p)
    return ps


GRADS = [np.array([[3.0, -4.0], [1.0, 0.5]]), None, np.array([-2.0, 0.25, 7.0]), np.array(1.5)]


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, 0.5, math.inf, "inf"])
@pytest.mark.parametrize("max_norm", [0.5, 5.0, 1000.0])
def test_clip_grad_norm_scales_by_the_total_norm(norm_type, max_norm):
    ps = _params_with_grads(GRADS)
    flat = np.concatenate([np.ravel(g) for g in GRADS if g is not None])
    p = float(norm_type)
    total = np.abs(flat).max() if p == math.inf else (np.abs(flat) ** p).sum() ** (1 / p)
    got = fg.nn.utils.clip_grad_norm_(ps, max_norm, norm_type)
    assert got.shape == () and got.dtype == fg.float64
    np.testing.assert_allclose(float(got), total, rtol=1e-12)
    coef = min(1.0, max_norm / (total + 1e-6))
    for param, g in zip(ps, GRADS):
        if g is None:
            assert param.grad is None
        else:
            np.testing.assert_allclose(param.grad.numpy(), np.asarray(g) * coef, rtol=1e-12)


def test_clip_grad_norm_edge_cases():
    assert float(fg.nn.utils.clip_grad_norm_([], 1.0)) == 0.0
    with pytest.warns(UserWarning, match="empty generator"):
        fg.nn.utils.clip_grad_norm_((p for p in []), 1.0)
    single = _params_with_grads([[3.0, 4.0]])[0]
    assert float(fg.nn.utils.clip_grad_norm_(single, 1.0)) == 5.0  # a tensor instead of a list
    np.testing.assert_allclose(single.grad.numpy(), [0.6, 0.8], rtol=1e-6)
    nan = _params_with_grads([[float("nan"), 1.0]])
    with pytest.raises(RuntimeError, match="non-finite, so it cannot be clipped"):
        fg.nn.utils.clip_grad_norm_(nan, 1.0, error_if_nonfinite=True)
    assert math.isnan(float(fg.nn.utils.clip_grad_norm_(nan, 1.0)))
    with pytest.warns(FutureWarning, match="deprecated"):
        fg.nn.utils.clip_grad_norm(_params_with_grads([[1.0]]), 1.0)
    zero_norm = _params_with_grads([[0.0, 0.0, 1.0]])
    assert float(fg.nn.utils.clip_grad_norm_(zero_norm, 10.0, norm_type=0)) == 1.0


def test_clip_grad_norm_mixed_dtypes_keep_each_gradients_dtype():
    ps = _params_with_grads([[3.0, 4.0]], fg.float32) + _params_with_grads([[12.0]], fg.float64)
    total = fg.nn.utils.clip_grad_norm_(ps, 1.0)
    assert total.dtype == fg.float64 and abs(float(total) - 13.0) < 1e-6
    assert ps[0].grad.dtype == fg.float32 and ps[1].grad.dtype == fg.float64
    np.testing.assert_allclose(ps[1].grad.numpy(), [12.0 / 13.0], rtol=1e-6)


def test_get_total_norm_and_clip_grads_with_norm_are_the_two_halves():
    ps = _params_with_grads(GRADS)
    total = fg.nn.utils.get_total_norm([p.grad for p in ps if p.grad is not None], 2.0)
    fg.nn.utils.clip_grads_with_norm_(ps, 1.0, total)
    ref = _params_with_grads(GRADS)
    fg.nn.utils.clip_grad_norm_(ref, 1.0)
    for a, b in zip(ps, ref):
        if a.grad is not None:
            np.testing.assert_array_equal(a.grad.numpy(), b.grad.numpy())


def test_clip_grad_value_clamps_in_place_and_keeps_the_graph_off():
    ps = _params_with_grads(GRADS)
    before = [p.grad for p in ps]
    assert fg.nn.utils.clip_grad_value_(ps, 1.0) is None
    for p, g, b in zip(ps, GRADS, before):
        if g is not None:
            np.testing.assert_array_equal(p.grad.numpy(), np.clip(g, -1.0, 1.0))
            np.testing.assert_array_equal(b.numpy(), np.clip(g, -1.0, 1.0))  # in place


def test_clip_grad_norm_runs_off_the_graph_in_a_training_step():
    model = fg.nn.Linear(3, 2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model(fg.ones(4, 3)).pow(2).sum().backward()
        total = fg.nn.utils.clip_grad_norm_(model.parameters(), 0.1)
    assert not total.requires_grad
    assert float(fg.nn.utils.get_total_norm([p.grad for p in model.parameters()])) == pytest.approx(0.1, rel=1e-4)


def test_parameters_to_vector_and_back():
    model = fg.nn.Linear(2, 3)
    vec = fg.nn.utils.parameters_to_vector(model.parameters())
    assert vec.shape == (9,)
    np.testing.assert_array_equal(vec.detach().numpy(), np.concatenate([model.weight.detach().numpy().ravel(),
                                                                         model.bias.detach().numpy()]))
    vec.sum().backward()  # on the graph, as in PyTorch
    np.testing.assert_array_equal(model.weight.grad.numpy(), np.ones((3, 2)))
    fg.nn.utils.vector_to_parameters(fg.arange(9.0), model.parameters())
    np.testing.assert_array_equal(model.weight.detach().numpy(), np.arange(6.0).reshape(3, 2))
    np.testing.assert_array_equal(model.bias.detach().numpy(), [6.0, 7.0, 8.0])
    with pytest.raises(TypeError, match="expected torch.Tensor"):
        fg.nn.utils.vector_to_parameters([1.0] * 9, model.parameters())


# ---- swa_utils ---------------------------------------------------------------------------------------


def test_averaged_model_keeps_the_mean_or_the_ema_of_the_snapshots():
    net = fg.nn.Linear(2, 2).double()
    swa = fg.optim.swa_utils.AveragedModel(net)
    ema = fg.optim.swa_utils.AveragedModel(net, multi_avg_fn=fg.optim.swa_utils.get_ema_multi_avg_fn(0.5))
    snapshots = []
    rng = np.random.default_rng(0)
    for _ in range(4):
        with fg.no_grad():
            net.weight.copy_(fg.tensor(rng.normal(size=(2, 2))))
        snapshots.append(net.weight.detach().numpy().copy())
        swa.update_parameters(net)
        ema.update_parameters(net)
    assert int(swa.n_averaged) == 4 and swa.n_averaged.dtype == fg.int64
    np.testing.assert_allclose(swa.module.weight.detach().numpy(), np.mean(snapshots, 0), rtol=1e-12)
    want = snapshots[0]
    for s in snapshots[1:]:
        want = 0.5 * want + 0.5 * s
    np.testing.assert_allclose(ema.module.weight.detach().numpy(), want, rtol=1e-12)
    assert list(swa.state_dict()) == ["n_averaged", "module.weight", "module.bias"]
    with pytest.raises(ValueError, match="Invalid decay value 1.5"):
        fg.optim.swa_utils.get_ema_multi_avg_fn(1.5)
    with pytest.raises(AssertionError, match="Only one of avg_fn and multi_avg_fn"):
        fg.optim.swa_utils.AveragedModel(net, avg_fn=fg.optim.swa_utils.get_swa_avg_fn(),
                                         multi_avg_fn=fg.optim.swa_utils.get_swa_multi_avg_fn())


def test_swa_update_bn_is_pytorchs_average_of_batch_statistics():
    net = fg.nn.Sequential(fg.nn.BatchNorm1d(2, momentum=0.3)).double()
    rng = np.random.default_rng(1)
    xs = [fg.tensor(rng.normal(size=(n, 2))) for n in (4, 7, 3)]
    net.eval()
    fg.optim.swa_utils.update_bn([(x, None) for x in xs], net)
    bn = net[0]
    assert not net.training and bn.momentum == 0.3
    np.testing.assert_allclose(bn.running_mean.numpy(), np.mean([x.numpy().mean(0) for x in xs], 0), rtol=1e-12)
    np.testing.assert_allclose(bn.running_var.numpy(), np.mean([x.numpy().var(0, ddof=1) for x in xs], 0), rtol=1e-12)
