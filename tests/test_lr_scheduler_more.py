"""The new schedulers (LambdaLR, MultiplicativeLR, ConstantLR, LinearLR, PolynomialLR, OneCycleLR,
CyclicLR, CosineAnnealingWarmRestarts, SequentialLR, ChainedScheduler) against PyTorch's lr and
momentum sequences recorded in tests/golden/optim_more_golden.json (made by
tests/golden/make_optim_more_golden.py from optim_more_cases.py), their closed forms, state dicts,
argument checks and warnings."""

from __future__ import annotations

import json
import math
import os
import pickle
import warnings

import ferrograd as fg
import numpy as np
import optim_more_cases as C
import pytest
from ferrograd.optim import lr_scheduler as S

GOLDEN = json.load(open(os.path.join(os.path.dirname(__file__), "golden", "optim_more_golden.json")))["schedulers"]


@pytest.mark.parametrize("case", C.SCHEDULER_CASES, ids=C.sched_case_id)
def test_lr_and_momentum_sequences_match_pytorch(case):
    want = GOLDEN[C.sched_case_id(case)]
    got = C.run_scheduler(fg, case)
    np.testing.assert_allclose(np.array(got["lrs"]), np.array(want["lrs"]), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(got["last_lr"], want["last_lr"], rtol=1e-12, atol=1e-15)
    assert got["last_epoch"] == want["last_epoch"]


def make_opt(lrs=(0.1, 0.03), **kw):
    groups = [{"params": [fg.nn.Parameter(fg.zeros(2))], "lr": lr} for lr in lrs]
    return fg.optim.SGD(groups, lr=1.0, **kw)


def run(sched, opt, epochs):
    out = [sched.get_last_lr()]
    for _ in range(epochs):
        opt.step()
        sched.step()
        out.append(sched.get_last_lr())
    return out


@pytest.mark.parametrize("make, closed", [
    (lambda o: S.LinearLR(o, start_factor=0.2, end_factor=0.9, total_iters=5),
     lambda b, e: b * (0.2 + 0.7 * min(e, 5) / 5)),
    (lambda o: S.ConstantLR(o, factor=0.3, total_iters=4), lambda b, e: b * (0.3 if e < 4 else 1.0)),
    (lambda o: S.PolynomialLR(o, total_iters=6, power=1.5), lambda b, e: b * (1 - min(e, 6) / 6) ** 1.5),
    (lambda o: S.LambdaLR(o, lambda e: 1 / (1 + e)), lambda b, e: b / (1 + e)),
    (lambda o: S.MultiplicativeLR(o, lambda e: 0.8), lambda b, e: b * 0.8**e),
])
def test_recursive_forms_follow_the_closed_forms(make, closed):
    opt = make_opt()
    got = run(make(opt), opt, 9)
    for e, lrs in enumerate(got):
        assert lrs == pytest.approx([closed(b, e) for b in (0.1, 0.03)], rel=1e-12, abs=1e-15), f"epoch {e}"


def test_chainable_forms_compose_where_lambda_lr_overrides():
    """ConstantLR and ExponentialLR chained multiply their factors; LambdaLR is not chainable
    and sets base_lr * lambda whatever the other scheduler did (PyTorch's behaviour)."""
    opt = make_opt((0.1,))
    chained = S.ChainedScheduler([S.ConstantLR(opt, factor=0.5, total_iters=2), S.ExponentialLR(opt, gamma=0.9)])
    got = [lr[0] for lr in run(chained, opt, 4)]
    assert got == pytest.approx([0.05, 0.045, 0.081, 0.0729, 0.06561], rel=1e-12)
    opt = make_opt((0.1,))
    lam = S.LambdaLR(opt, lambda e: 1.0)
    expo = S.ExponentialLR(opt, gamma=0.5)
    for _ in range(3):
        opt.step()
        lam.step()
        expo.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(0.05)  # LambdaLR reset it to 0.1 before each halving


def test_onecycle_endpoints_and_overstep():
    opt = make_opt((0.1,), momentum=0.9)
    sched = S.OneCycleLR(opt, max_lr=1.0, total_steps=10, pct_start=0.3, final_div_factor=1e4)
    assert opt.param_groups[0]["lr"] == pytest.approx(1.0 / 25)
    assert opt.param_groups[0]["momentum"] == pytest.approx(0.95)
    lrs = [lr[0] for lr in run(sched, opt, 9)]
    assert max(lrs) == pytest.approx(1.0) and lrs.index(max(lrs)) == 2
    assert lrs[-1] == pytest.approx(1.0 / 25 / 1e4)
    assert opt.param_groups[0]["momentum"] == pytest.approx(0.95)
    opt.step()
    sched.step()  # step 10 == total_steps: still allowed, as in PyTorch
    with pytest.raises(ValueError, match="Tried to step 11 times. The specified number of total steps is 10"):
        sched.step()


def test_onecycle_cycles_adams_beta1():
    opt = fg.optim.Adam([fg.nn.Parameter(fg.zeros(2))], lr=0.1, betas=(0.9, 0.99))
    S.OneCycleLR(opt, max_lr=0.01, total_steps=10)
    assert opt.param_groups[0]["betas"] == (0.95, 0.99)


def test_cyclic_triangular_goes_up_and_down():
    opt = make_opt((0.1,), momentum=0.9)
    sched = S.CyclicLR(opt, base_lr=0.0, max_lr=1.0, step_size_up=2, step_size_down=3)
    lrs = [lr[0] for lr in run(sched, opt, 7)]
    assert lrs == pytest.approx([0.0, 0.5, 1.0, 2 / 3, 1 / 3, 0.0, 0.5, 1.0], abs=1e-12)
    assert opt.param_groups[0]["momentum"] == pytest.approx(0.8)  # max_lr pairs with base_momentum


@pytest.mark.parametrize("make, exc, message", [
    (lambda o: S.ConstantLR(o, factor=1.5), ValueError, "between 0 and 1"),
    (lambda o: S.LinearLR(o, start_factor=0.0), ValueError, "Starting multiplicative factor"),
    (lambda o: S.LinearLR(o, end_factor=1.5), ValueError, "Ending multiplicative factor"),
    (lambda o: S.LambdaLR(o, [lambda e: 1.0]), ValueError, "Expected 2 lr_lambdas, but got 1"),
    (lambda o: S.MultiplicativeLR(o, 0.9), TypeError, "lr_lambda should be a function, but got float"),
    (lambda o: S.OneCycleLR(o, max_lr=1.0), ValueError, r"You must define either total_steps OR \(epochs AND steps_per_epoch\)"),
    (lambda o: S.OneCycleLR(o, max_lr=1.0, total_steps=0), ValueError, "Expected positive integer total_steps"),
    (lambda o: S.OneCycleLR(o, max_lr=1.0, epochs=2, steps_per_epoch=0), ValueError, "positive integer steps_per_epoch"),
    (lambda o: S.OneCycleLR(o, max_lr=1.0, total_steps=5, pct_start=1), ValueError, "Expected float between 0 and 1"),
    (lambda o: S.OneCycleLR(o, max_lr=1.0, total_steps=5, anneal_strategy="exp"), ValueError, "anneal_strategy must be"),
    (lambda o: S.OneCycleLR(o, max_lr=[1.0], total_steps=5), ValueError, "max_lr must have the same length"),
    (lambda o: S.CyclicLR(o, 0.1, 1.0, mode="sawtooth"), ValueError, "mode is invalid and scale_fn is None"),
    (lambda o: S.CosineAnnealingWarmRestarts(o, T_0=0), ValueError, "Expected positive integer T_0"),
    (lambda o: S.CosineAnnealingWarmRestarts(o, T_0=2, T_mult=0), ValueError, "Expected integer T_mult >= 1"),
    (lambda o: S.CosineAnnealingWarmRestarts(o, T_0=2, eta_min="0"), ValueError, "Expected float or int eta_min"),
    (lambda o: S.SequentialLR(o, [], milestones=[]), ValueError, "expects at least one scheduler"),
    (lambda o: S.SequentialLR(o, [S.ConstantLR(o), S.ConstantLR(o)], milestones=[]), ValueError,
     "one more than the number of milestone"),
    (lambda o: S.SequentialLR(o, [S.ReduceLROnPlateau(o)], milestones=[]), ValueError, "does not support `ReduceLROnPlateau`"),
    (lambda o: S.ChainedScheduler([]), ValueError, "expects at least one scheduler to be chained"),
    (lambda o: S.ChainedScheduler([S.ConstantLR(o), S.ConstantLR(make_opt())]), ValueError,
     "expects all schedulers to belong to the same optimizer"),
    (lambda o: S.SequentialLR(o, [object()], milestones=[]), TypeError, "should have `optimizer` as its attribute"),
])
def test_bad_arguments_raise_pytorchs_errors(make, exc, message):
    with pytest.raises(exc, match=message):
        make(make_opt())


def test_cycle_momentum_needs_an_optimizer_with_momentum():
    opt = fg.optim.Adagrad([fg.nn.Parameter(fg.zeros(2))])
    with pytest.raises(ValueError, match="optimizer must support momentum or beta1"):
        S.OneCycleLR(opt, max_lr=1.0, total_steps=5)
    with pytest.raises(ValueError, match="optimizer must support momentum or beta1"):
        S.CyclicLR(opt, 0.1, 1.0)
    S.CyclicLR(opt, 0.1, 1.0, cycle_momentum=False)


def test_warm_restarts_fractional_epochs_find_their_period():
    opt = make_opt((0.1,))
    sched = S.CosineAnnealingWarmRestarts(opt, T_0=2, T_mult=2, eta_min=0.0)
    sched.step(6.5)  # periods [0, 2), [2, 6), [6, 14): 0.5 into the third, of length 8
    assert (sched.T_i, sched.T_cur, sched.last_epoch) == (8, 0.5, 6)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.05 * (1 + math.cos(math.pi * 0.5 / 8)))
    with pytest.raises(ValueError, match="Expected non-negative epoch, but got -1"):
        sched.step(-1)


def test_sequential_lr_restarts_the_next_scheduler_at_the_milestone():
    opt = make_opt((1.0,))
    warm = S.LinearLR(opt, start_factor=0.5, total_iters=2)
    decay = S.ExponentialLR(opt, gamma=0.5)
    seq = S.SequentialLR(opt, [warm, decay], milestones=[3])
    lrs = [lr[0] for lr in run(seq, opt, 5)]
    assert lrs == pytest.approx([0.5, 0.75, 1.0, 1.0, 0.5, 0.25])


@pytest.mark.parametrize("make", [
    lambda o: S.LinearLR(o, start_factor=0.2, total_iters=6),
    lambda o: S.OneCycleLR(o, max_lr=1.0, total_steps=20),
    lambda o: S.CyclicLR(o, 0.01, 0.5, step_size_up=3, mode="triangular2"),
    lambda o: S.CosineAnnealingWarmRestarts(o, T_0=2, T_mult=2),
    lambda o: S.SequentialLR(o, [S.ConstantLR(o, factor=0.5, total_iters=2), S.PolynomialLR(o, total_iters=6)], milestones=[3]),
    lambda o: S.ChainedScheduler([S.LinearLR(o, total_iters=3), S.ExponentialLR(o, gamma=0.8)]),
    lambda o: S.MultiplicativeLR(o, _Halve()),
])
def test_state_dict_round_trip_continues_the_sequence(make):
    opt = make_opt(momentum=0.9)
    sched = make(opt)
    run(sched, opt, 4)
    saved = pickle.loads(pickle.dumps(sched.state_dict()))
    assert "optimizer" not in saved
    groups = [dict(g, params=None) for g in opt.param_groups]
    want = run(sched, opt, 5)[1:]
    opt2 = make_opt(momentum=0.9)
    sched2 = make(opt2)
    sched2.load_state_dict(saved)
    for g, saved_group in zip(opt2.param_groups, groups):
        g.update({k: v for k, v in saved_group.items() if k != "params"})
    np.testing.assert_allclose(run(sched2, opt2, 5)[1:], want, rtol=1e-12)


class _Halve:
    """A callable object: its __dict__ goes into the scheduler's state dict."""

    def __init__(self):
        self.factor = 0.5

    def __call__(self, epoch):
        return self.factor


def test_lambda_state_dict_saves_callable_objects_but_not_functions():
    opt = make_opt()
    sched = S.LambdaLR(opt, [lambda e: 1.0, _Halve()])
    state = sched.state_dict()
    assert state["lr_lambdas"] == [None, {"factor": 0.5}]
    state["lr_lambdas"][1] = {"factor": 0.25}
    sched.load_state_dict(state)
    assert sched.lr_lambdas[1].factor == 0.25
    assert "lr_lambdas" in state  # the caller's dict is left whole


def test_get_lr_outside_step_warns_to_use_get_last_lr():
    opt = make_opt()
    sched = S.LinearLR(opt)
    with pytest.warns(UserWarning, match="please use `get_last_lr\\(\\)`"):
        sched.get_lr()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        opt.step()
        sched.step()


def test_resuming_with_last_epoch_keeps_the_current_rates():
    """PyTorch's "initial mode": a scheduler built with last_epoch >= 0 (resuming) does not
    move the rates one step further on construction."""
    opt = make_opt((0.1,))
    for g in opt.param_groups:
        g["initial_lr"] = 0.1
        g["lr"] = 0.025
    S.MultiplicativeLR(opt, lambda e: 0.5, last_epoch=3)
    assert opt.param_groups[0]["lr"] == 0.025
    S.ExponentialLR(opt, gamma=0.5, last_epoch=3)
    assert opt.param_groups[0]["lr"] == 0.025


@pytest.mark.parametrize("base", [S.LRScheduler, S._LRScheduler])
def test_custom_scheduler_written_pytorchs_way(base):
    """A warm-up scheduler as older PyTorch code writes it: subclass, get_lr from base_lrs."""

    class Warmup(base):
        def __init__(self, optimizer, warmup, last_epoch=-1):
            self.warmup = warmup
            super().__init__(optimizer, last_epoch)

        def get_lr(self):
            return [base_lr * min(1.0, (self.last_epoch + 1) / self.warmup) for base_lr in self.base_lrs]

    opt = make_opt((1.0,))
    lrs = [lr[0] for lr in run(Warmup(opt, 4), opt, 5)]
    assert lrs == pytest.approx([0.25, 0.5, 0.75, 1.0, 1.0, 1.0])
