"""LR schedulers: each recursive schedule against its closed form, and ReduceLROnPlateau against
hand-worked metric sequences (PyTorch's torch/optim/lr_scheduler.py behaviour)."""

from __future__ import annotations

import math
import pickle
import warnings
from bisect import bisect_right

import ferrograd as fg
import pytest
from ferrograd.optim import lr_scheduler as S

BASE_LRS = [0.1, 0.03]


def make_opt(lrs=BASE_LRS):
    groups = [{"params": [fg.nn.Parameter(fg.zeros(2))], "lr": lr} for lr in lrs]
    return fg.optim.SGD(groups, lr=1.0)


def schedule(make_sched, epochs, opt=None):
    """The rates after construction (epoch 0) and after each of `epochs` steps."""
    opt = opt or make_opt()
    sched = make_sched(opt)
    out = [sched.get_last_lr()]
    for _ in range(epochs):
        opt.step()
        sched.step()
        out.append(sched.get_last_lr())
        assert out[-1] == [g["lr"] for g in opt.param_groups]
    return out


def assert_schedule(got, closed_form):
    for epoch, lrs in enumerate(got):
        want = [closed_form(base, epoch) for base in BASE_LRS]
        assert lrs == pytest.approx(want, rel=1e-12, abs=1e-15), f"epoch {epoch}"


def test_step_lr():
    got = schedule(lambda o: S.StepLR(o, step_size=3, gamma=0.5), 10)
    assert_schedule(got, lambda base, e: base * 0.5 ** (e // 3))


def test_multistep_lr_repeated_milestone_multiplies_twice():
    milestones = [2, 5, 5, 8]
    got = schedule(lambda o: S.MultiStepLR(o, milestones=milestones, gamma=0.1), 10)
    assert_schedule(got, lambda base, e: base * 0.1 ** bisect_right(sorted(milestones), e))


def test_exponential_lr():
    got = schedule(lambda o: S.ExponentialLR(o, gamma=0.9), 12)
    assert_schedule(got, lambda base, e: base * 0.9**e)


@pytest.mark.parametrize("t_max, eta_min", [(5, 0.0), (5, 0.01), (1, 0.001), (7, 0.02)])
def test_cosine_annealing_recursion_matches_closed_form(t_max, eta_min):
    # Three periods: through eta_min at T_max, the special step at T_max + 1, back up at 2 T_max.
    got = schedule(lambda o: S.CosineAnnealingLR(o, T_max=t_max, eta_min=eta_min), 6 * t_max + 1)
    assert_schedule(got, lambda base, e: eta_min + (base - eta_min) * (1 + math.cos(math.pi * e / t_max)) / 2)


def test_cosine_annealing_is_chainable_with_external_changes():
    opt = make_opt([1.0])
    sched = S.CosineAnnealingLR(opt, T_max=4)
    opt.param_groups[0]["lr"] = 0.5  # someone else halves the rate
    opt.step()
    sched.step()
    assert sched.get_last_lr()[0] == pytest.approx(0.5 * (1 + math.cos(math.pi / 4)) / 2)


def test_step_with_epoch_uses_the_closed_form_and_warns():
    opt = make_opt()
    sched = S.StepLR(opt, step_size=2, gamma=0.1)
    opt.step()
    with pytest.warns(UserWarning, match="epoch parameter in `scheduler.step\\(\\)` was not necessary"):
        sched.step(5)
    assert sched.last_epoch == 5
    assert sched.get_last_lr() == pytest.approx([b * 0.1**2 for b in BASE_LRS])


def test_construction_sets_initial_lr_and_resuming_requires_it():
    opt = make_opt()
    sched = S.ExponentialLR(opt, gamma=0.5)
    assert [g["initial_lr"] for g in opt.param_groups] == BASE_LRS and sched.base_lrs == BASE_LRS
    assert sched.last_epoch == 0
    with pytest.raises(KeyError, match=r"param 'initial_lr' is not specified in param_groups\[0\] when resuming an optimizer"):
        S.ExponentialLR(make_opt(), gamma=0.5, last_epoch=3)


def test_scheduler_state_dict_round_trip_continues_the_sequence():
    opt = make_opt()
    sched = S.CosineAnnealingLR(opt, T_max=6, eta_min=0.001)
    for _ in range(4):
        opt.step()
        sched.step()
    state = pickle.loads(pickle.dumps(sched.state_dict()))
    assert "optimizer" not in state and state["last_epoch"] == 4

    opt2 = make_opt()
    opt2.load_state_dict(opt.state_dict())
    sched2 = S.CosineAnnealingLR(opt2, T_max=1, last_epoch=-1)
    sched2.load_state_dict(state)
    for _ in range(5):
        opt.step()
        opt2.step()
        sched.step()
        sched2.step()
        assert sched2.get_last_lr() == sched.get_last_lr()


def test_warns_when_the_scheduler_steps_before_the_optimizer():
    opt = make_opt()
    sched = S.StepLR(opt, step_size=1)
    with pytest.warns(UserWarning, match="Detected call of `lr_scheduler.step\\(\\)` before `optimizer.step\\(\\)`"):
        sched.step()
    opt2 = make_opt()
    sched2 = S.StepLR(opt2, step_size=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        opt2.step()
        sched2.step()


def test_scheduler_needs_an_optimizer():
    with pytest.raises(TypeError, match="list is not an Optimizer"):
        S.StepLR([], step_size=1)
    with pytest.raises(TypeError, match="int is not an Optimizer"):
        S.ReduceLROnPlateau(3)


# ---- ReduceLROnPlateau ---------------------------------------------------------------------------


def plateau(metrics, lrs=(1.0,), **kw):
    opt = make_opt(list(lrs))
    sched = S.ReduceLROnPlateau(opt, **kw)
    out = []
    for m in metrics:
        sched.step(m)
        out.append(sched.get_last_lr()[0])
    return out, sched


def test_plateau_reduces_after_more_than_patience_bad_epochs():
    got, sched = plateau([10, 9, 9, 9, 9, 9, 9, 9, 8], patience=2, factor=0.5)
    # best 9 at epoch 2; bad epochs 3, 4, 5 -> reduce at 5; bad 6, 7, 8 -> reduce at 8; 8 is a new best.
    assert got == [1.0, 1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.25, 0.25]
    assert sched.best == 8 and sched.num_bad_epochs == 0 and sched.last_epoch == 9


def test_plateau_relative_threshold_needs_a_real_improvement():
    # 9.9995 is not below 10 * (1 - 1e-3): a bad epoch; 9.98 is.
    got, _ = plateau([10, 9.9995, 9.98, 9.98], patience=0, factor=0.1, threshold=1e-3)
    assert got == pytest.approx([1.0, 0.1, 0.1, 0.01])


def test_plateau_max_mode_with_absolute_threshold():
    got, _ = plateau([1.0, 1.4, 1.6, 1.9, 2.0], mode="max", threshold=0.5, threshold_mode="abs", patience=1, factor=0.5)
    # best 1.0; 1.4 is not > 1.5 (bad); 1.6 is (new best); 1.9 and 2.0 are not > 2.1 -> reduce.
    assert got == [1.0, 1.0, 1.0, 1.0, 0.5]


def test_plateau_cooldown_ignores_bad_epochs():
    got, _ = plateau([5] * 9, patience=1, factor=0.5, cooldown=2)
    # bad at epochs 2, 3 -> reduce at 3; 4, 5 are the cooldown; bad at 6, 7 -> reduce at 7.
    assert got == [1.0, 1.0, 0.5, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25]


def test_plateau_min_lr_and_eps():
    got, _ = plateau([1] * 6, lrs=(1.0, 0.2), patience=0, factor=0.5, min_lr=[0.3, 0.0])
    assert got == [1.0, 0.5, 0.3, 0.3, 0.3, 0.3]
    got, _ = plateau([1] * 3, lrs=(1e-8,), patience=0, factor=0.5, eps=1e-8)
    assert got == [1e-8] * 3  # a reduction smaller than eps is skipped


def test_plateau_accepts_tensor_metrics_and_round_trips():
    got, sched = plateau([fg.tensor(3.0), fg.tensor(3.0), fg.tensor(3.0)], patience=1)
    assert got == pytest.approx([1.0, 1.0, 0.1])
    state = pickle.loads(pickle.dumps(sched.state_dict()))
    other = S.ReduceLROnPlateau(make_opt([0.1]), mode="max")
    other.load_state_dict(state)
    assert (other.mode, other.best, other.num_bad_epochs, other.mode_worse) == ("min", 3.0, 0, math.inf)


@pytest.mark.parametrize(
    "kw, exc, message",
    [
        (dict(factor=1.0), ValueError, "Factor should be < 1.0."),
        (dict(mode="avg"), ValueError, "mode avg is unknown!"),
        (dict(threshold_mode="pct"), ValueError, "threshold mode pct is unknown!"),
        (dict(min_lr=[0.1, 0.2, 0.3]), ValueError, "expected 2 min_lrs, got 3"),
    ],
)
def test_plateau_bad_arguments(kw, exc, message):
    with pytest.raises(exc, match="^" + message.replace(".", r"\.") + "$"):
        S.ReduceLROnPlateau(make_opt(), **kw)
