"""Mode safety: model.mode(), pin_mode, BatchNorm knobs, fg.inference, modes(), mode warnings,
the one-value-per-channel error and update_bn, checked against numpy and explicit snapshots."""

import warnings
from contextlib import contextmanager

import ferrograd as fg
import ferrograd.nn as nn
import numpy as np
import pytest
from ferrograd.nn.utils import (
    MixedModesWarning,
    ModeWarning,
    StatsUpdateWithoutGradWarning,
    UntrackedStatsWarning,
    freeze_batchnorm,
    set_mode_warnings,
    update_bn,
)

EPS = 1e-5


def T(a, **kw):
    return fg.tensor(np.asarray(a, dtype=np.float32), **kw)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Dropout(0.3))
        self.head = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4), nn.Dropout(0.2))
        self.out = nn.Linear(4, 1)

    def forward(self, x):
        return self.out(self.head(self.features(x)))


def batch(n=8, seed=0):
    r = np.random.default_rng(seed)
    return T(r.normal(1.0, 2.0, (n, 3))), T(r.normal(size=(n, 1)))


def step(model, x, y, lr=0.05):
    """One training step, optimizer-free: loss.backward(); p -= lr * p.grad under no_grad."""
    ((model(x) - y) ** 2).mean().backward()
    with fg.no_grad():
        for p in model.parameters():
            p -= lr * p.grad
            p.grad = None


def trained_net(steps=3):
    fg.manual_seed(0)
    model = Net().train()
    for i in range(steps):
        step(model, *batch(seed=100 + i))
    return model


def flags(m):  # every module's own flag, by path
    return {name: s.training for name, s in m.named_modules()}


def snap(m):  # every state_dict tensor, copied
    return {k: v.numpy().copy() for k, v in m.state_dict().items()}


def stats(m):
    return {k: v for k, v in snap(m).items() if "running" in k or "num_batches" in k}


def assert_same(a, b):
    assert list(a) == list(b)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def mixed(model):
    """Mixed flags set by direct assignment (which does not recurse)."""
    model.train()
    for m in (model.features[3], model.head, model.head[1], model.out):
        m.training = False
    return flags(model)


@contextmanager
def recorded():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield caught


def of(caught, cat):
    return [w for w in caught if issubclass(w.category, cat)]


def np_bn(x, mean, var, w, b):
    shape = [1, -1] + [1] * (x.ndim - 2)
    return (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + EPS) * w.reshape(shape) + b.reshape(shape)


# ---- model.mode() -------------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["eval", "train"])
def test_mode_context_restores_each_flag_also_on_error(mode):
    model = Net()
    before = mixed(model)
    assert len(set(before.values())) == 2
    with model.mode(mode) as m:
        assert m is model and all(v == (mode == "train") for v in flags(model).values())
    assert flags(model) == before
    with pytest.raises(KeyError):
        with model.mode(mode):
            raise KeyError("boom")
    assert flags(model) == before


def test_mode_context_nested_reentrant_and_decorator():
    model = Net()
    before = mixed(model)
    ctx = model.mode("eval")
    with ctx:
        with model.mode("train"):
            assert all(flags(model).values())
            with ctx:  # the same object again, inside itself
                assert not any(flags(model).values())
            assert all(flags(model).values())
        assert not any(flags(model).values())
    assert flags(model) == before

    @model.mode("eval")
    def run(fail=False):
        if fail:
            raise RuntimeError("x")
        return flags(model)

    for _ in range(2):
        assert not any(run().values()) and flags(model) == before
    with pytest.raises(RuntimeError):
        run(fail=True)
    assert flags(model) == before
    for bad in ["Eval", "evaluation", "", True, None]:
        with pytest.raises(ValueError):
            model.mode(bad)
    assert flags(model) == before


# ---- pin_mode, freezing, knobs ------------------------------------------------------------------

def test_pinned_batchnorm_keeps_stats_while_the_rest_trains():
    model = trained_net()
    bn1, bn2, drop = model.features[1], model.head[1], model.features[3]
    assert bn1.pin_mode("eval") is bn1 and bn1.pinned_mode == "eval" and not bn1.training
    assert "pinned='eval'" in repr(bn1) and "pinned='eval'" in repr(model) and "pinned" not in repr(bn2)
    model.train()
    assert model.training and drop.training and bn2.training and not bn1.training
    before1, before2 = snap(bn1), snap(bn2)
    seen = []
    h = bn1.register_forward_hook(lambda m, a, o: seen.append((a[0].detach().numpy().copy(), o.detach().numpy().copy())))
    with recorded() as caught:
        for i in range(4):
            step(model, *batch(seed=i))
    h.remove()
    assert caught == []
    after1, after2 = snap(bn1), snap(bn2)
    assert_same(stats(bn1), {k: before1[k] for k in ("running_mean", "running_var", "num_batches_tracked")})
    assert not np.allclose(after1["weight"], before1["weight"])  # its affine parameters still train
    assert int(after2["num_batches_tracked"]) == int(before2["num_batches_tracked"]) + 4
    assert not np.allclose(after2["running_mean"], before2["running_mean"])
    assert not np.allclose(after2["running_var"], before2["running_var"])
    x, out = seen[0]  # the pinned layer normalised with its (unchanged) running statistics
    np.testing.assert_allclose(out, np_bn(x, before1["running_mean"], before1["running_var"],
                                           before1["weight"], before1["bias"]), rtol=1e-5, atol=1e-5)
    # unpin: keeps eval until the next train(), then follows the model again
    assert bn1.unpin_mode() is bn1 and bn1.pinned_mode is None and "pinned" not in repr(model)
    assert not bn1.training and model.train() is model and bn1.training
    step(model, *batch(seed=9))
    assert int(bn1.num_batches_tracked.item()) == int(before1["num_batches_tracked"]) + 1
    with pytest.raises(ValueError):
        bn1.pin_mode("training")


def test_pinned_child_of_pinned_parent():
    model = nn.Sequential(nn.Linear(2, 2), nn.Sequential(nn.Dropout(0.5), nn.BatchNorm1d(2)))
    inner, drop, bn = model[1], model[1][0], model[1][1]
    bn.pin_mode("train")
    inner.pin_mode("eval")
    trio = lambda: (inner.training, drop.training, bn.training)  # noqa: E731
    assert trio() == (False, False, True)
    for call, on in ((model.train, True), (model.eval, False), (model.train, True)):
        call()
        assert model.training == on == model[0].training and trio() == (False, False, True)
    with model.mode("train"):
        assert trio() == (False, False, True)
    inner.unpin_mode()
    model.train()
    assert trio() == (True, True, True)
    model.eval()
    assert trio() == (False, False, True)
    bn.unpin_mode()
    model.eval()
    assert not any(flags(model).values())


def test_freeze_stats_and_freeze_batchnorm():
    model = trained_net()
    bn, other = model.head[1], model.features[1]
    assert bn.freeze_stats() is bn and bn.pinned_mode == "eval"
    model.train()
    assert not bn.training and other.training
    before, before_other = stats(bn), stats(other)
    for i in range(3):
        step(model, *batch(seed=i))
    assert_same(stats(bn), before)
    assert stats(other)["num_batches_tracked"] == before_other["num_batches_tracked"] + 3

    model = trained_net()
    assert freeze_batchnorm(model) is model
    model.train()
    assert [(b.pinned_mode, b.training) for b in (model.features[1], model.head[1])] == [("eval", False)] * 2
    assert [(d.pinned_mode, d.training) for d in (model.features[3], model.head[2])] == [(None, True)] * 2
    before = stats(model)
    step(model, *batch(seed=5))
    assert_same(stats(model), before)


@pytest.mark.parametrize("training", [True, False])
def test_knobs_batch_stats_without_updating(training):
    bn = nn.BatchNorm1d(3).train(training)
    w, b = np.array([1.5, -0.5, 2.0], np.float32), np.array([0.1, 0.2, -0.3], np.float32)
    with fg.no_grad():
        for t, v in ((bn.weight, w), (bn.bias, b), (bn.running_mean, [5, 5, 5]), (bn.running_var, [9, 9, 9])):
            t.copy_(T(v))
        bn.num_batches_tracked.fill_(3)
    bn.use_batch_stats, bn.update_running_stats = True, False
    x = np.random.default_rng(1).normal(2.0, 3.0, (6, 3)).astype(np.float32)
    before = snap(bn)
    with recorded() as caught:
        out, out2 = bn(T(x)), fg.no_grad()(lambda: bn(T(x)))()
    assert caught == []
    expected = np_bn(x.astype(np.float64), x.mean(0, dtype=np.float64), x.var(0, dtype=np.float64), w, b)
    np.testing.assert_allclose(out.detach().numpy(), expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(out2.numpy(), expected, rtol=1e-5, atol=1e-5)
    assert_same(snap(bn), before)


# ---- fg.inference -------------------------------------------------------------------------------

def test_inference_sets_and_restores_both_modes():
    model = trained_net()
    before = mixed(model)
    x, _ = batch(seed=7)
    with model.mode("eval"), fg.no_grad():
        ref = model(x).numpy().copy()
    with fg.inference(model) as m:
        assert m is model and not any(flags(model).values())
        assert fg.is_inference_mode_enabled() and not fg.is_grad_enabled()
        out = model(x)
        assert not out.requires_grad and out.grad_fn is None
    np.testing.assert_array_equal(out.numpy(), ref)  # eval semantics: Dropout off, running stats
    assert flags(model) == before
    assert not fg.is_inference_mode_enabled() and fg.is_grad_enabled()
    with fg.no_grad():
        with fg.inference(model):
            pass
        assert not fg.is_grad_enabled() and not fg.is_inference_mode_enabled()
    with fg.inference_mode():
        with fg.inference(model):
            pass
        assert fg.is_inference_mode_enabled() and not fg.is_grad_enabled()
    with pytest.raises(ZeroDivisionError):
        with fg.inference(model):
            _ = 1 / 0
    assert flags(model) == before
    assert not fg.is_inference_mode_enabled() and fg.is_grad_enabled()

    @fg.inference(model)
    def predict(x):
        return model(x), flags(model), fg.is_inference_mode_enabled()

    for seed in (1, 2):
        out, inside, inf = predict(batch(seed=seed)[0])
        assert inf and not any(inside.values()) and not out.requires_grad
        assert flags(model) == before and not fg.is_inference_mode_enabled() and fg.is_grad_enabled()


def test_enable_grad_escape_hatch_only_inside_fg_inference():
    lin = nn.Linear(3, 2)
    W, b = lin.weight.detach().numpy().copy(), lin.bias.detach().numpy().copy()
    xn = np.random.default_rng(2).normal(size=(4, 3)).astype(np.float32)
    with fg.inference(lin):
        with fg.enable_grad():
            assert fg.is_grad_enabled() and not fg.is_inference_mode_enabled()
            x = T(xn, requires_grad=True)
            y = lin(x)
            assert y.requires_grad and y.grad_fn is not None
            (y * y).sum().backward()
        assert fg.is_inference_mode_enabled() and not fg.is_grad_enabled()
    yn = xn.astype(np.float64) @ W.T + b
    np.testing.assert_allclose(lin.weight.grad.numpy(), 2 * yn.T @ xn, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(lin.bias.grad.numpy(), 2 * yn.sum(0), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(x.grad.numpy(), 2 * yn @ W, rtol=1e-5, atol=1e-5)
    x2 = T(xn, requires_grad=True)
    with fg.inference_mode():
        with fg.enable_grad():
            assert fg.is_inference_mode_enabled()
            y = lin(x2)
            assert not y.requires_grad and y.grad_fn is None
    assert not fg.is_inference_mode_enabled() and fg.is_grad_enabled()


# ---- modes() ------------------------------------------------------------------------------------

def test_modes_report_lists_mode_dependent_modules_and_changes_nothing():
    fg.manual_seed(3)
    model = Net()
    model.head[1].pin_mode("eval")
    model.eval()
    state, fl, rng = snap(model), flags(model), fg.get_rng_state()
    with recorded() as caught:
        report = model.modes()
        text, _ = str(report), repr(report)
    assert caught == []  # all eval: nothing mixed
    assert [(e.path, e.cls, e.mode, e.pinned) for e in report.entries] == [
        ("features.1", "BatchNorm1d", "eval", None), ("features.3", "Dropout", "eval", None),
        ("head.1", "BatchNorm1d", "eval", "eval"), ("head.2", "Dropout", "eval", None)]
    assert len(report) == 4 and list(report) == report.entries
    assert ["never updated" in e.meaning for e in report.entries] == [True, False, True, False]
    for part in ("features.1", "features.3", "head.1", "head.2", "BatchNorm1d", "Dropout", "pinned eval"):
        assert part in text
    assert_same(snap(model), state)
    assert flags(model) == fl and fg.get_rng_state() == rng
    model.train()
    rep = model.modes()
    assert [e.mode for e in rep.entries] == ["train", "train", "eval", "train"]
    assert all("never updated" not in e.meaning for e in rep.entries if e.mode == "train")
    assert "p=0.3" in rep.entries[1].meaning


# ---- warnings -----------------------------------------------------------------------------------

@pytest.mark.parametrize("training,cat", [(False, UntrackedStatsWarning), (True, StatsUpdateWithoutGradWarning)])
def test_bn_warnings_once_per_module_at_the_callers_line(training, cat):
    model = Net().train(training)  # never-updated stats in eval / a training forward under no_grad
    with recorded() as caught, fg.no_grad():
        for _ in range(3):
            model(batch()[0])
    got = of(caught, cat)
    assert len(got) == 2 and len(caught) == 2
    assert "features.1" in str(got[0].message) and "head.1" in str(got[1].message)
    assert all(w.filename == __file__ for w in got)


def test_mixed_modes_warning_from_modes():
    model = trained_net()
    mixed(model)
    with recorded() as caught:
        model.modes()
        model.modes()
    got = of(caught, MixedModesWarning)
    assert len(got) == 1 and got[0].filename == __file__
    other = trained_net()  # a mix that comes only from pins is deliberate: no warning
    other.features[1].pin_mode("eval")
    other.train()
    with recorded() as caught:
        assert other.modes().mixed
    assert caught == []


def test_mixed_modes_warning_not_silenced_by_an_unrelated_pin():
    model = trained_net()
    model.features[1].pin_mode("eval")  # agrees with the mode the model is put in
    model.eval()
    model.head[2].training = True       # the actual mistake: a manually flipped Dropout
    with recorded() as caught:
        model.modes()
    assert len(of(caught, MixedModesWarning)) == 1


def test_mixed_modes_warning_from_inference_when_a_pin_keeps_training():
    model = trained_net()
    model.head[1].pin_mode("train")
    with recorded() as caught:
        with fg.inference(model):
            assert model.head[1].training
    got = of(caught, MixedModesWarning)
    assert len(got) == 1 and got[0].filename == __file__


def test_correct_train_eval_loop_is_silent():
    fg.manual_seed(4)
    model = Net()
    with recorded() as caught:
        for epoch in range(3):
            model.train()
            for i in range(3):
                step(model, *batch(seed=10 * epoch + i))
            model.modes()
            model.eval()
            with fg.no_grad():
                model(batch(seed=99)[0])
            model.modes()
            with fg.inference(model):
                model(batch(seed=98)[0])
    assert caught == []


@pytest.mark.parametrize("name,cat", [("untracked_stats", UntrackedStatsWarning),
                                      ("update_without_grad", StatsUpdateWithoutGradWarning),
                                      ("mixed_modes", MixedModesWarning)])
@pytest.mark.parametrize("via", ["switch", "filter"])
def test_each_warning_can_be_switched_off(name, cat, via):
    def trigger():
        if cat is UntrackedStatsWarning:
            Net().eval()(batch()[0])
        elif cat is StatsUpdateWithoutGradWarning:
            with fg.no_grad():
                Net().train()(batch()[0])
        else:
            model = trained_net()
            mixed(model)
            model.modes()

    try:
        with recorded() as caught:
            set_mode_warnings(**{name: False}) if via == "switch" else warnings.filterwarnings("ignore", category=cat)
            trigger()
        assert of(caught, cat) == []
    finally:
        set_mode_warnings(**{name: True})
    with recorded() as caught:
        trigger()
    assert len(of(caught, cat)) >= 1 and issubclass(cat, ModeWarning)
    with pytest.raises(ValueError):
        set_mode_warnings(nonsense=False)


# ---- one value per channel ----------------------------------------------------------------------

@pytest.mark.parametrize("bn,shape", [(nn.BatchNorm1d, (1, 4)), (nn.BatchNorm2d, (1, 4, 1, 1))])
def test_one_value_per_channel_error_names_path_and_changes_nothing(bn, shape):
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.block = nn.Sequential(nn.Identity(), nn.Sequential(bn(4)))

        def forward(self, x):
            return self.block(x)

    model = M().train()
    model(T(np.random.default_rng(0).normal(size=(3,) + shape[1:])))
    state, fl, rng = snap(model), flags(model), fg.get_rng_state()
    with pytest.raises(ValueError) as e:
        model(T(np.ones(shape)))
    msg = str(e.value)
    assert "block.1.0" in msg and bn.__name__ in msg
    assert "drop_last=True" in msg and "eval()" in msg and ("GroupNorm" in msg or "LayerNorm" in msg)
    assert_same(snap(model), state)
    assert flags(model) == fl and fg.get_rng_state() == rng
    with pytest.raises(ValueError) as e:  # called alone afterwards: no stale path from the failed call
        model.block[1][0](T(np.ones(shape)))
    assert "block" not in str(e.value)
    model.eval()
    assert tuple(model(T(np.ones(shape))).shape) == shape  # a batch of one is fine in eval


# ---- update_bn ----------------------------------------------------------------------------------

def make_batches(sizes, tail, seed=0):
    r = np.random.default_rng(seed)
    return [r.normal(3.0 * i, 1.0 + i, (n,) + tail).astype(np.float32) for i, n in enumerate(sizes)]


def check_pooled(bn, data, axes):
    pooled = np.concatenate(data).astype(np.float64)
    var = pooled.var(axes, ddof=1)
    np.testing.assert_allclose(bn.running_mean.numpy(), pooled.mean(axes), rtol=1e-6)
    np.testing.assert_allclose(bn.running_var.numpy(), var, rtol=1e-6)
    return var


def test_update_bn_batchnorm1d_first_layer_pooled_exactly():
    sizes = (5, 1, 7, 3, 2)
    data = make_batches(sizes, (3,))
    model = nn.Sequential(nn.BatchNorm1d(3, momentum=0.3), nn.Linear(3, 2)).eval()
    with recorded() as caught:
        assert update_bn([T(d) for d in data], model) is model
    assert caught == []
    var = check_pooled(model[0], data, 0)
    per_batch = np.mean([d.astype(np.float64).var(0, ddof=1) for d in data if len(d) > 1], axis=0)
    assert np.all(np.abs(per_batch - var) / var > 0.05)
    assert model[0].num_batches_tracked.item() == len(sizes)
    assert not model.training and not model[0].training
    assert model[0].use_batch_stats is None and model[0].update_running_stats is None
    # tuples (x, y) give the same result; a mixed-mode model gets its flags back
    other = nn.Sequential(nn.BatchNorm1d(3), nn.Linear(3, 2)).train()
    other[1].training = False
    before = flags(other)
    update_bn([(T(d), T(np.zeros(len(d)))) for d in data], other)
    check_pooled(other[0], data, 0)
    assert flags(other) == before and other[0].num_batches_tracked.item() == len(sizes)
    with recorded() as caught, fg.no_grad():
        model(T(data[0]))  # stats are tracked now: an eval forward is silent
    assert caught == []


def test_update_bn_batchnorm2d_and_downstream_batchnorm():
    sizes = (4, 1, 6, 2)
    data = make_batches(sizes, (2, 3, 3), seed=1)
    w, b = np.array([2.0, 0.5], np.float32), np.array([1.0, -1.0], np.float32)
    model = nn.Sequential(nn.BatchNorm2d(2), nn.BatchNorm2d(2)).train()
    with fg.no_grad():
        model[0].weight.copy_(T(w))
        model[0].bias.copy_(T(b))
    with recorded() as caught:
        update_bn([T(d) for d in data], model)
    assert caught == []
    check_pooled(model[0], data, (0, 2, 3))
    ax = (0, 2, 3)  # the second layer saw the first one's batch-normalised output
    pooled = np.concatenate([np_bn(d.astype(np.float64), d.mean(ax, dtype=np.float64), d.var(ax, dtype=np.float64), w, b)
                             for d in data])
    np.testing.assert_allclose(model[1].running_mean.numpy(), pooled.mean(ax), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(model[1].running_var.numpy(), pooled.var(ax, ddof=1), rtol=1e-5)
    assert [m.num_batches_tracked.item() for m in model] == [len(sizes)] * 2
    assert model.training and model[0].training and model[1].training


def test_update_bn_turns_dropout_off():
    data = make_batches((6, 4, 5), (3,), seed=2)
    model = nn.Sequential(nn.Dropout(0.5), nn.BatchNorm1d(3)).train()
    with recorded() as caught:
        update_bn([T(d) for d in data], model)
    assert caught == []
    check_pooled(model[1], data, 0)
    assert model[0].training and model[1].training
