"""Optimizers: trajectories against the numpy references in optim_reference.py with every option
combination that changes the update, parameter groups, gradients, closures and bad input."""

from __future__ import annotations

import copy
import itertools
import pickle
import re

import ferrograd as fg
import numpy as np
import pytest
from optim_reference import P0, STEPS, fg_loss, np_grad, ref_adadelta, ref_adagrad, ref_adam, ref_rmsprop, ref_sgd, run_fg


def _grid(**options):
    keys = list(options)
    return [dict(zip(keys, values)) for values in itertools.product(*options.values())]


SGD_CASES = [
    c for c in _grid(momentum=[0.0, 0.9], dampening=[0.0, 0.3], weight_decay=[0.0, 0.1], nesterov=[False, True], maximize=[False, True])
    if not (c["nesterov"] and (c["momentum"] == 0 or c["dampening"] != 0))
]
ADAM_CASES = _grid(weight_decay=[0.0, 0.1], amsgrad=[False, True], maximize=[False, True], betas=[(0.9, 0.999), (0.5, 0.6)])
RMSPROP_CASES = _grid(weight_decay=[0.0, 0.1], momentum=[0.0, 0.5], centered=[False, True], maximize=[False, True], alpha=[0.99, 0.7])
ADAGRAD_CASES = _grid(lr_decay=[0.0, 0.3], weight_decay=[0.0, 0.1], initial_accumulator_value=[0.0, 0.5], maximize=[False, True])
ADADELTA_CASES = _grid(rho=[0.9, 0.5], weight_decay=[0.0, 0.1], maximize=[False, True], lr=[1.0, 0.5])


def check_trajectory(got, want, dtype=fg.float64):
    rtol, atol = (1e-11, 1e-13) if dtype == fg.float64 else (2e-5, 2e-6)
    assert len(got) == len(want)
    for step, (g, w) in enumerate(zip(got, want), 1):
        np.testing.assert_allclose(g, w, rtol=rtol, atol=atol, err_msg=f"step {step}")
    # The parameters must actually have moved, or the comparison says nothing.
    assert np.abs(want[-1] - P0).max() > 1e-4


@pytest.mark.parametrize("kw", SGD_CASES, ids=str)
def test_sgd_trajectory(kw):
    check_trajectory(run_fg(lambda ps: fg.optim.SGD(ps, lr=0.05, **kw)), ref_sgd(P0, STEPS, lr=0.05, **kw))


@pytest.mark.parametrize("kw", ADAM_CASES, ids=str)
def test_adam_trajectory(kw):
    check_trajectory(run_fg(lambda ps: fg.optim.Adam(ps, lr=0.05, **kw)), ref_adam(P0, STEPS, lr=0.05, **kw))


@pytest.mark.parametrize("kw", ADAM_CASES, ids=str)
def test_adamw_trajectory(kw):
    kw = dict(kw, weight_decay=kw["weight_decay"] * 5 or 1e-2)
    got = run_fg(lambda ps: fg.optim.AdamW(ps, lr=0.05, **kw))
    check_trajectory(got, ref_adam(P0, STEPS, lr=0.05, decoupled=True, **kw))


@pytest.mark.parametrize("kw", RMSPROP_CASES, ids=str)
def test_rmsprop_trajectory(kw):
    check_trajectory(run_fg(lambda ps: fg.optim.RMSprop(ps, lr=0.01, **kw)), ref_rmsprop(P0, STEPS, lr=0.01, **kw))


@pytest.mark.parametrize("kw", ADAGRAD_CASES, ids=str)
def test_adagrad_trajectory(kw):
    check_trajectory(run_fg(lambda ps: fg.optim.Adagrad(ps, lr=0.1, **kw)), ref_adagrad(P0, STEPS, lr=0.1, **kw))


@pytest.mark.parametrize("kw", ADADELTA_CASES, ids=str)
def test_adadelta_trajectory(kw):
    check_trajectory(run_fg(lambda ps: fg.optim.Adadelta(ps, **kw)), ref_adadelta(P0, STEPS, **kw))


@pytest.mark.parametrize(
    "make, ref",
    [
        (lambda ps: fg.optim.SGD(ps), lambda: ref_sgd(P0, STEPS)),
        (lambda ps: fg.optim.Adam(ps), lambda: ref_adam(P0, STEPS)),
        (lambda ps: fg.optim.AdamW(ps), lambda: ref_adam(P0, STEPS, weight_decay=1e-2, decoupled=True)),
        (lambda ps: fg.optim.RMSprop(ps), lambda: ref_rmsprop(P0, STEPS)),
        (lambda ps: fg.optim.Adagrad(ps), lambda: ref_adagrad(P0, STEPS)),
        (lambda ps: fg.optim.Adadelta(ps), lambda: ref_adadelta(P0, STEPS)),
    ],
    ids=["SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta"],
)
def test_defaults_are_pytorchs(make, ref):
    check_trajectory(run_fg(make), ref())


@pytest.mark.parametrize(
    "make, ref",
    [
        (lambda ps: fg.optim.SGD(ps, lr=0.05, momentum=0.9, nesterov=True), lambda: ref_sgd(P0, STEPS, lr=0.05, momentum=0.9, nesterov=True)),
        (lambda ps: fg.optim.Adam(ps, lr=0.05, amsgrad=True), lambda: ref_adam(P0, STEPS, lr=0.05, amsgrad=True)),
        (lambda ps: fg.optim.RMSprop(ps, momentum=0.5, centered=True), lambda: ref_rmsprop(P0, STEPS, momentum=0.5, centered=True)),
        (lambda ps: fg.optim.Adagrad(ps, lr=0.1), lambda: ref_adagrad(P0, STEPS, lr=0.1)),
        (lambda ps: fg.optim.Adadelta(ps), lambda: ref_adadelta(P0, STEPS)),
    ],
    ids=["SGD", "Adam", "RMSprop", "Adagrad", "Adadelta"],
)
def test_float32_parameters_follow_the_reference(make, ref):
    check_trajectory(run_fg(make, dtype=fg.float32), ref(), dtype=fg.float32)


def test_large_parameter_takes_the_parallel_path():
    rng = np.random.default_rng(0)
    p0, g = rng.normal(size=(300, 500)), rng.normal(size=(300, 500))
    p = fg.nn.Parameter(fg.tensor(p0))
    opt = fg.optim.Adam([p], lr=0.1, weight_decay=0.01, amsgrad=True)
    m, v, vmax, want = np.zeros_like(p0), np.zeros_like(p0), np.zeros_like(p0), p0
    for t, scale in ((1, 1.0), (2, 0.1)):
        p.grad = fg.tensor(g * scale)
        opt.step()
        gt = g * scale + 0.01 * want
        m, v = 0.9 * m + 0.1 * gt, 0.999 * v + 0.001 * gt * gt
        vmax = np.maximum(vmax, v)
        want = want - 0.1 * (m / (1 - 0.9**t)) / (np.sqrt(vmax / (1 - 0.999**t)) + 1e-8)
    np.testing.assert_allclose(p.detach().numpy(), want, rtol=1e-10, atol=1e-12)


def test_non_contiguous_gradient_and_parameter():
    base = fg.tensor(P0.T.copy())
    p = fg.nn.Parameter(base.t())  # (2, 3) view with transposed strides
    assert not p.is_contiguous()
    opt = fg.optim.SGD([p], lr=0.1, momentum=0.5)
    for _ in range(2):
        p.grad = fg.tensor(np_grad(p.detach().numpy()).T.copy()).t()
        opt.step()
    np.testing.assert_allclose(p.detach().numpy(), ref_sgd(P0, 2, lr=0.1, momentum=0.5)[-1], rtol=1e-12)


# ---- groups, grads, closures ------------------------------------------------------------------


def test_param_groups_use_their_own_hyperparameters():
    p1, p2 = fg.nn.Parameter(fg.tensor(P0)), fg.nn.Parameter(fg.tensor(P0))
    opt = fg.optim.SGD([{"params": [p1]}, {"params": p2, "lr": 0.2, "momentum": 0.5}], lr=0.05)
    assert [g["lr"] for g in opt.param_groups] == [0.05, 0.2]
    assert opt.param_groups[1]["params"] == [p2] and opt.param_groups[0]["momentum"] == 0
    for _ in range(STEPS):
        opt.zero_grad()
        (fg_loss(p1) + fg_loss(p2)).backward()
        opt.step()
    np.testing.assert_allclose(p1.detach().numpy(), ref_sgd(P0, STEPS, lr=0.05)[-1], rtol=1e-12)
    np.testing.assert_allclose(p2.detach().numpy(), ref_sgd(P0, STEPS, lr=0.2, momentum=0.5)[-1], rtol=1e-12)


def test_add_param_group_fills_defaults_and_rejects_overlap():
    p1, p2 = fg.nn.Parameter(fg.zeros(2)), fg.nn.Parameter(fg.zeros(2))
    opt = fg.optim.Adam([p1], lr=0.1)
    opt.add_param_group({"params": [p2], "eps": 1e-3})
    assert opt.param_groups[1]["lr"] == 0.1 and opt.param_groups[1]["eps"] == 1e-3
    with pytest.raises(ValueError, match="some parameters appear in more than one parameter group"):
        opt.add_param_group({"params": [p1]})


def test_zero_grad_sets_to_none_or_zeroes_in_place():
    p = fg.nn.Parameter(fg.ones(3))
    opt = fg.optim.SGD([p], lr=0.1)
    (p * 2).sum().backward()
    opt.zero_grad(set_to_none=False)
    assert p.grad is not None and p.grad.numpy().tolist() == [0.0, 0.0, 0.0]
    (p * 2).sum().backward()
    assert p.grad.numpy().tolist() == [2.0, 2.0, 2.0]
    opt.zero_grad()
    assert p.grad is None


@pytest.mark.parametrize("cls", [fg.optim.SGD, fg.optim.Adam, fg.optim.AdamW, fg.optim.RMSprop, fg.optim.Adagrad, fg.optim.Adadelta])
def test_parameters_without_grad_are_skipped(cls):
    p1, p2 = fg.nn.Parameter(fg.tensor(P0)), fg.nn.Parameter(fg.tensor(P0))
    opt = cls([p1, p2], lr=0.1)
    state_before = dict(opt.state.get(p2, {}))
    fg_loss(p1).backward()
    opt.step()
    assert p2.grad is None
    np.testing.assert_array_equal(p2.detach().numpy(), P0)
    assert dict(opt.state.get(p2, {})).keys() == state_before.keys()
    assert not np.allclose(p1.detach().numpy(), P0)


def test_step_stays_off_the_graph_and_closure_runs_with_grad():
    p = fg.nn.Parameter(fg.tensor(P0))
    opt = fg.optim.Adam([p], lr=0.1)
    calls = []

    def closure():
        calls.append(fg.is_grad_enabled())
        opt.zero_grad()
        loss = fg_loss(p)
        loss.backward()
        return loss

    with fg.no_grad():
        loss = opt.step(closure)
    assert calls == [True] and isinstance(loss, fg.Tensor)
    assert p.is_leaf and p.grad_fn is None and p.requires_grad
    assert opt.step() is None


def test_state_has_pytorchs_entries():
    p = fg.nn.Parameter(fg.tensor(P0))
    fg_loss(p).backward()
    expected = {
        fg.optim.SGD([p], lr=0.1): set(),
        fg.optim.SGD([p], lr=0.1, momentum=0.9): {"momentum_buffer"},
        fg.optim.Adam([p]): {"step", "exp_avg", "exp_avg_sq"},
        fg.optim.Adam([p], amsgrad=True): {"step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"},
        fg.optim.RMSprop([p], momentum=0.1, centered=True): {"step", "square_avg", "momentum_buffer", "grad_avg"},
        fg.optim.Adagrad([p]): {"step", "sum"},
        fg.optim.Adadelta([p]): {"step", "square_avg", "acc_delta"},
    }
    for opt, keys in expected.items():
        opt.step()
        assert (p in opt.state) == bool(keys), type(opt).__name__
        assert set(opt.state.get(p, {})) == keys, type(opt).__name__
        if "step" in keys:
            step = opt.state[p]["step"]
            assert step.dtype == fg.float32 and step.shape == () and step.item() == 1.0


def test_repr_lists_each_group_sorted():
    opt = fg.optim.SGD([fg.nn.Parameter(fg.zeros(1))], lr=0.1, momentum=0.9)
    text = repr(opt)
    assert text.startswith("SGD (\nParameter Group 0\n    dampening: 0\n") and text.endswith(")")
    assert "    lr: 0.1\n" in text and "    momentum: 0.9\n" in text and "params" not in text


# ---- bad input ----------------------------------------------------------------------------------


def _params():
    return [fg.nn.Parameter(fg.zeros(2))]


BAD_HYPERPARAMETERS = [
    (lambda: fg.optim.SGD(_params(), lr=-1), "Invalid learning rate: -1"),
    (lambda: fg.optim.SGD(_params(), momentum=-0.5), "Invalid momentum value: -0.5"),
    (lambda: fg.optim.SGD(_params(), weight_decay=-1), "Invalid weight_decay value: -1"),
    (lambda: fg.optim.SGD(_params(), nesterov=True), "Nesterov momentum requires a momentum and zero dampening"),
    (lambda: fg.optim.SGD(_params(), momentum=0.9, dampening=0.1, nesterov=True), "Nesterov momentum requires a momentum and zero dampening"),
    (lambda: fg.optim.Adam(_params(), lr=-1), "Invalid learning rate: -1"),
    (lambda: fg.optim.Adam(_params(), eps=-1e-8), "Invalid epsilon value: -1e-08"),
    (lambda: fg.optim.Adam(_params(), betas=(1.0, 0.999)), "Invalid beta parameter at index 0: 1.0"),
    (lambda: fg.optim.Adam(_params(), betas=(0.9, -0.1)), "Invalid beta parameter at index 1: -0.1"),
    (lambda: fg.optim.Adam(_params(), weight_decay=-0.1), "Invalid weight_decay value: -0.1"),
    (lambda: fg.optim.AdamW(_params(), lr=-0.5), "Invalid learning rate: -0.5"),
    (lambda: fg.optim.AdamW(_params(), betas=(0.9, 1.0)), "Invalid beta parameter at index 1: 1.0"),
    (lambda: fg.optim.RMSprop(_params(), lr=-1), "Invalid learning rate: -1"),
    (lambda: fg.optim.RMSprop(_params(), alpha=-1), "Invalid alpha value: -1"),
    (lambda: fg.optim.RMSprop(_params(), momentum=-1), "Invalid momentum value: -1"),
    (lambda: fg.optim.RMSprop(_params(), eps=-1), "Invalid epsilon value: -1"),
    (lambda: fg.optim.Adagrad(_params(), lr=-1), "Invalid learning rate: -1"),
    (lambda: fg.optim.Adagrad(_params(), lr_decay=-1), "Invalid lr_decay value: -1"),
    (lambda: fg.optim.Adagrad(_params(), initial_accumulator_value=-1), "Invalid initial_accumulator_value value: -1"),
    (lambda: fg.optim.Adagrad(_params(), eps=-1), "Invalid epsilon value: -1"),
    (lambda: fg.optim.Adadelta(_params(), lr=-1), "Invalid learning rate: -1"),
    (lambda: fg.optim.Adadelta(_params(), rho=1.5), "Invalid rho value: 1.5"),
    (lambda: fg.optim.Adadelta(_params(), weight_decay=-1), "Invalid weight_decay value: -1"),
    (lambda: fg.optim.Adam(_params(), lr=float("nan")), "Invalid learning rate: nan"),
]


@pytest.mark.parametrize("make, message", BAD_HYPERPARAMETERS, ids=[m for _, m in BAD_HYPERPARAMETERS])
def test_bad_hyperparameters_raise_pytorchs_value_error(make, message):
    with pytest.raises(ValueError, match="^" + re.escape(message) + "$"):
        make()


def test_bad_parameter_lists():
    leaf = fg.nn.Parameter(fg.zeros(2))
    with pytest.raises(TypeError, match="params argument given to the optimizer should be an iterable of Tensors or dicts"):
        fg.optim.SGD(leaf)
    with pytest.raises(ValueError, match="optimizer got an empty parameter list"):
        fg.optim.Adam([])
    with pytest.raises(TypeError, match="ordering of tensors in sets will change between runs"):
        fg.optim.SGD([{"params": {leaf}}])
    with pytest.raises(TypeError, match="optimizer can only optimize Tensors, but one of the params is int"):
        fg.optim.SGD([leaf, 3])
    with pytest.raises(ValueError, match="can't optimize a non-leaf Tensor"):
        fg.optim.SGD([leaf * 2])
    with pytest.raises(ValueError, match="some parameters appear in more than one parameter group"):
        fg.optim.SGD([{"params": [leaf]}, {"params": [leaf]}])
    with pytest.warns(UserWarning, match="duplicate parameters"):
        fg.optim.SGD([leaf, leaf])
    with pytest.raises(ValueError, match="differentiable=True is not supported"):
        fg.optim.SGD([leaf], differentiable=True)


def test_kernel_rejects_mismatched_state():
    p = fg.nn.Parameter(fg.zeros(3, dtype=fg.float64))
    opt = fg.optim.Adam([p])
    p.grad = fg.ones(3, dtype=fg.float64)
    opt.step()
    opt.state[p]["exp_avg"] = fg.zeros(4, dtype=fg.float64)
    with pytest.raises(RuntimeError, match=re.escape("adam: exp_avg has shape [4] but the parameter has shape [3]")):
        opt.step()


# ---- the template: Optimizer.step with _init_state / _update, step hooks --------------------------


def _docstring_example():
    """The example optimizer from optimizer.py's module docstring, executed as written."""
    from ferrograd.optim import optimizer

    doc = optimizer.__doc__
    block = doc.split(".. code-block:: python\n", 1)[1]
    lines = []
    for line in block.splitlines()[1:]:
        if line and not line.startswith("    "):
            break
        lines.append(line[4:])
    namespace = {"Optimizer": fg.optim.Optimizer, "fg": fg}
    exec("\n".join(lines), namespace)  # our own docstring, run as written
    return namespace["HeavyBall"]


def test_docstring_example_optimizer_is_sgd_with_momentum():
    HeavyBall = _docstring_example()
    got = run_fg(lambda ps: HeavyBall(ps, lr=0.05, momentum=0.9))
    check_trajectory(got, ref_sgd(P0, STEPS, lr=0.05, momentum=0.9))
    with pytest.raises(ValueError, match="^Invalid learning rate: -1$"):
        HeavyBall(_params(), lr=-1)


def test_optimizer_without_update_says_what_to_define():
    class Incomplete(fg.optim.Optimizer):
        pass

    p = fg.nn.Parameter(fg.zeros(2))
    opt = Incomplete([p], {"lr": 0.1})
    assert opt.step() is None  # no gradient: nothing to update
    p.grad = fg.ones(2)
    with pytest.raises(NotImplementedError, match="Incomplete must define _update"):
        opt.step()


def test_lr_edited_at_runtime_applies_from_the_next_step():
    p = fg.nn.Parameter(fg.tensor(P0))
    opt = fg.optim.SGD([p], lr=0.05)
    for _ in range(2):
        opt.zero_grad()
        fg_loss(p).backward()
        opt.step()
    middle = p.detach().numpy().copy()
    opt.param_groups[0]["lr"] = 0.2
    for _ in range(3):
        opt.zero_grad()
        fg_loss(p).backward()
        opt.step()
    np.testing.assert_allclose(p.detach().numpy(), ref_sgd(middle, 3, lr=0.2)[-1], rtol=1e-12)


def test_options_switched_on_at_runtime_create_their_state():
    p = fg.nn.Parameter(fg.tensor(P0))
    fg_loss(p).backward()
    opt = fg.optim.Adam([p])
    opt.step()
    assert set(opt.state[p]) == {"step", "exp_avg", "exp_avg_sq"}
    opt.param_groups[0]["amsgrad"] = True
    opt.step()
    assert list(opt.state[p]) == ["step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"]
    assert opt.state[p]["step"].item() == 2.0


def test_added_group_gets_state_on_its_first_step():
    p1, p2 = fg.nn.Parameter(fg.tensor(P0)), fg.nn.Parameter(fg.tensor(P0))
    opt = fg.optim.SGD([p1], lr=0.05, momentum=0.9)
    fg_loss(p1).backward()
    opt.step()
    opt.add_param_group({"params": [p2], "lr": 0.1})
    assert p2 not in opt.state
    fg_loss(p2).backward()
    opt.step()
    assert list(opt.state) == [p1, p2] and opt.param_groups[1]["momentum"] == 0.9
    assert opt.state_dict()["param_groups"][1]["params"] == [1]


def test_step_hooks_run_in_pytorchs_order_and_can_be_removed():
    p = fg.nn.Parameter(fg.zeros(2))
    opt = fg.optim.SGD([p], lr=0.1)
    calls = []
    handles = [
        opt.register_step_pre_hook(lambda o, args, kwargs: calls.append(("pre", o is opt, len(args), dict(kwargs)))),
        opt.register_step_post_hook(lambda o, args, kwargs: calls.append(("post", o is opt, len(args), dict(kwargs)))),
        fg.optim.optimizer.register_optimizer_step_pre_hook(lambda o, a, k: calls.append(("global pre",))),
        fg.optim.optimizer.register_optimizer_step_post_hook(lambda o, a, k: calls.append(("global post",))),
    ]
    try:
        p.grad = fg.ones(2)
        opt.step(closure=None)
        assert calls == [("global pre",), ("pre", True, 1, {"closure": None}), ("post", True, 1, {"closure": None}), ("global post",)]
        assert p.detach().numpy().tolist() == pytest.approx([-0.1, -0.1])
    finally:
        for h in handles:
            h.remove()
    calls.clear()
    opt.step()
    assert calls == []


def test_pre_hook_can_replace_the_arguments_and_must_return_a_pair():
    p = fg.nn.Parameter(fg.tensor(P0))
    opt = fg.optim.SGD([p], lr=0.1)

    def closure():
        opt.zero_grad()
        loss = fg_loss(p)
        loss.backward()
        return loss

    handle = opt.register_step_pre_hook(lambda o, args, kwargs: (args, {"closure": closure}))
    loss = opt.step()
    assert isinstance(loss, fg.Tensor)
    np.testing.assert_allclose(p.detach().numpy(), ref_sgd(P0, 1, lr=0.1)[-1], rtol=1e-12)
    handle.remove()
    opt.register_step_pre_hook(lambda o, args, kwargs: 5)
    with pytest.raises(RuntimeError, match=r"must return None or a tuple of \(new_args, new_kwargs\), but got 5\."):
        opt.step()


def test_pytorch_style_step_override_gets_the_hooks_once():
    class PlainSGD(fg.optim.Optimizer):  # written as in PyTorch's tutorials: step() overridden
        def __init__(self, params, lr):
            super().__init__(params, {"lr": lr})

        @fg.no_grad()
        def step(self, closure=None):
            for group in self.param_groups:
                for p in group["params"]:
                    if p.grad is not None:
                        p.add_(p.grad, alpha=-group["lr"])

    class LoggedAdam(fg.optim.Adam):  # an override that calls the template's step
        def step(self, closure=None):
            calls.append("step")
            return super().step(closure)

    calls = []
    p, q = fg.nn.Parameter(fg.zeros(2)), fg.nn.Parameter(fg.zeros(2))
    plain, logged = PlainSGD([p], lr=0.5), LoggedAdam([q], lr=0.5)
    for opt in (plain, logged):
        opt.register_step_pre_hook(lambda o, a, k: calls.append("pre"))
        opt.register_step_post_hook(lambda o, a, k: calls.append("post"))
    p.grad, q.grad = fg.ones(2), fg.ones(2)
    plain.step()
    assert calls == ["pre", "post"] and p.detach().numpy().tolist() == [-0.5, -0.5]
    calls.clear()
    logged.step()
    assert calls == ["pre", "step", "post"] and q.detach().numpy().tolist() == pytest.approx([-0.5, -0.5])
    assert not plain._stepping and not logged._stepping


def test_hooks_are_not_copied_with_the_optimizer():
    p = fg.nn.Parameter(fg.zeros(2))
    opt = fg.optim.Adam([p])
    calls = []
    opt.register_step_post_hook(lambda o, a, k: calls.append(o))
    for clone in (copy.deepcopy(opt), pickle.loads(pickle.dumps(opt))):
        clone.param_groups[0]["params"][0].grad = fg.ones(2)
        clone.step()
        assert calls == []  # as in PyTorch: deepcopy/pickle drop the hooks
        clone.register_step_pre_hook(lambda o, a, k: None).remove()


def test_zero_grad_detaches_a_gradient_on_the_graph_before_zeroing_it():
    p = fg.nn.Parameter(fg.tensor([1.0, 2.0]))
    opt = fg.optim.SGD([p], lr=0.1)
    p.grad = fg.ones(2, requires_grad=True) * 2  # a gradient with a grad_fn, as create_graph=True leaves
    opt.zero_grad(set_to_none=False)
    assert p.grad.grad_fn is None and not p.grad.requires_grad and p.grad.numpy().tolist() == [0.0, 0.0]
    opt.zero_grad(set_to_none=True)
    assert p.grad is None
