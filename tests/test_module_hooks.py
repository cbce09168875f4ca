"""nn.Module hooks with PyTorch's semantics: forward pre-hooks and hooks (prepend, with_kwargs,
always_call), the global module hooks of `fg.nn.modules.module`, the registration hooks, and
full backward hooks / backward pre-hooks (identity nodes on the module's inputs and outputs, as
torch.utils.hooks.BackwardHook).

The backward-hook scenarios (BACKWARD_SCENARIOS) are written once for both libraries (`lib` is
`torch` or `ferrograd`); tests/golden/make_autograd_golden.py runs them under PyTorch and stores
what the hooks saw and the resulting gradients in tests/golden/autograd_golden.json:

    cd /work/main && PYTHONPATH=python /tmp/torchvenv/bin/python tests/golden/make_autograd_golden.py

With PyTorch installed the scenarios are also compared directly.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import warnings

import ferrograd as fg
import numpy as np
import pytest
from ferrograd import nn
from ferrograd.nn.modules import module as module_mod

GOLDEN_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden", "autograd_golden.json")



def _golden() -> dict:
    with open(GOLDEN_PATH) as f:
        return json.load(f)


# ---- forward pre-hooks and forward hooks ----------------------------------------------------------


class Affine(nn.Module):
    def forward(self, x, scale=1.0):
        return x * scale + 1


def test_forward_hooks_run_in_pytorch_order_with_prepend_and_globals():
    m = Affine()
    log = []
    m.register_forward_pre_hook(lambda mod, args: log.append("pre1"))
    m.register_forward_pre_hook(lambda mod, args: log.append("pre0"), prepend=True)
    m.register_forward_hook(lambda mod, args, out: log.append("fwd1"))
    m.register_forward_hook(lambda mod, args, out: log.append("fwd0"), prepend=True)
    g1 = module_mod.register_module_forward_pre_hook(lambda mod, args: log.append("gpre"))
    g2 = module_mod.register_module_forward_hook(lambda mod, args, out: log.append("gfwd"))
    try:
        m(fg.ones(2))
    finally:
        g1.remove()
        g2.remove()
    assert log == ["gpre", "pre0", "pre1", "gfwd", "fwd0", "fwd1"]
    log.clear()
    m(fg.ones(2))  # the global hooks are gone
    assert log == ["pre0", "pre1", "fwd0", "fwd1"]


def test_global_hooks_are_reachable_after_a_plain_import():
    """`torch.nn.modules.module.register_module_forward_hook(...)` works after `import torch`
    alone; this file's own `from ferrograd.nn.modules import module` would hide a missing import,
    so the check runs in a fresh interpreter."""
    code = (
        "import ferrograd as fg\n"
        "log = []\n"
        "h = fg.nn.modules.module.register_module_forward_hook(lambda m, a, o: log.append(type(m).__name__))\n"
        "fg.nn.ReLU()(fg.ones(1))\n"
        "h.remove()\n"
        "fg.nn.ReLU()(fg.ones(1))\n"
        "assert log == ['ReLU'], log\n"
        "assert fg.nn.modules.Module is fg.nn.Module\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_forward_pre_hook_with_kwargs_replaces_args_and_kwargs():
    m = Affine()
    seen = []

    def pre(mod, args, kwargs):
        seen.append((len(args), dict(kwargs)))
        return (args[0] * 2,), {"scale": 10.0}

    h = m.register_forward_pre_hook(pre, with_kwargs=True)
    out = m(fg.ones(2), scale=3.0)
    assert seen == [(1, {"scale": 3.0})]
    np.testing.assert_allclose(out.numpy(), [21.0, 21.0])
    h.remove()
    assert not m._forward_pre_hooks and not m._forward_pre_hooks_with_kwargs  # the flag goes with the hook
    np.testing.assert_allclose(m(fg.ones(2), scale=3.0).numpy(), [4.0, 4.0])


def test_forward_pre_hook_with_kwargs_must_return_a_pair():
    m = Affine()
    m.register_forward_pre_hook(lambda mod, args, kwargs: (fg.ones(2),), with_kwargs=True)
    with pytest.raises(RuntimeError, match=r"forward pre-hook must return None or a tuple of \(new_args, new_kwargs\)"):
        m(fg.ones(2))


def test_forward_hook_with_kwargs_sees_kwargs_and_replaces_output():
    m = Affine()
    seen = []
    m.register_forward_hook(lambda mod, args, kwargs, out: seen.append(kwargs) or out * 0, with_kwargs=True)
    out = m(fg.ones(2), scale=5.0)
    assert seen == [{"scale": 5.0}]
    np.testing.assert_allclose(out.numpy(), [0.0, 0.0])


class Boom(nn.Module):
    def forward(self, x):
        raise ValueError("boom in forward")


def test_always_call_forward_hook_runs_when_forward_raises():
    m = Boom()
    log = []
    m.register_forward_hook(lambda mod, args, out: log.append(("plain", out)))
    h = m.register_forward_hook(lambda mod, args, out: log.append(("always", out)), always_call=True)
    g = module_mod.register_module_forward_hook(lambda mod, args, out: log.append(("global", out)), always_call=True)
    try:
        with pytest.raises(ValueError, match="boom in forward"):
            m(fg.ones(1))
    finally:
        g.remove()
    assert log == [("global", None), ("always", None)]  # output None: forward never returned
    h.remove()
    assert not m._forward_hooks_always_called


def test_always_call_hook_error_is_silenced_with_a_warning_and_forward_error_raised():
    m = Boom()

    def bad(mod, args, out):
        raise KeyError("hook failed")

    m.register_forward_hook(bad, always_call=True)
    with pytest.warns(UserWarning, match="silenced as another error was raised in forward"):
        with pytest.raises(ValueError, match="boom in forward"):
            m(fg.ones(1))


def test_always_call_hook_runs_once_when_a_later_hook_raises():
    m = Affine()
    log = []
    m.register_forward_hook(lambda mod, args, out: log.append("always"), always_call=True)

    def raising(mod, args, out):
        raise RuntimeError("second hook")

    m.register_forward_hook(raising)
    with pytest.raises(RuntimeError, match="second hook"):
        m(fg.ones(1))
    assert log == ["always"]  # already ran: not called again on the error path


def test_handle_is_a_context_manager_and_remove_is_idempotent():
    m = Affine()
    log = []
    with m.register_forward_hook(lambda mod, args, out: log.append(1)) as h:
        m(fg.ones(1))
    m(fg.ones(1))
    h.remove()
    assert log == [1]
    assert isinstance(h, fg.utils.hooks.RemovableHandle)
    from ferrograd.nn.module import RemovableHandle  # the old import path still works

    assert RemovableHandle is fg.utils.hooks.RemovableHandle


def test_module_with_hooks_deepcopies_and_keeps_hooks():
    m = Affine()
    m.register_forward_hook(lambda mod, args, out: out * 0)
    m2 = copy.deepcopy(m)
    np.testing.assert_allclose(m2(fg.ones(2)).numpy(), [0.0, 0.0])


def test_setstate_of_an_old_pickle_fills_the_hook_tables():
    m = Affine()
    state = {k: v for k, v in m.__dict__.items() if k not in ("_backward_hooks", "_forward_hooks_with_kwargs", "_is_full_backward_hook")}
    m2 = Affine.__new__(Affine)
    m2.__setstate__(state)
    np.testing.assert_allclose(m2(fg.ones(2)).numpy(), [2.0, 2.0])
    assert m2._is_full_backward_hook is None


def test_registration_hooks_can_replace_parameters_buffers_and_modules():
    seen, made = [], []

    def on_param(mod, name, p):
        seen.append(("param", name))
        made.append(nn.Parameter(p.detach().clone()))
        return made[-1]

    def on_buffer(mod, name, b):
        seen.append(("buffer", name))

    def on_module(mod, name, sub):
        seen.append(("module", name))
        return nn.Identity() if isinstance(sub, nn.ReLU) else None

    hs = [
        module_mod.register_module_parameter_registration_hook(on_param),
        module_mod.register_module_buffer_registration_hook(on_buffer),
        module_mod.register_module_module_registration_hook(on_module),
    ]
    try:
        lin = nn.Linear(2, 2)
        bn = nn.BatchNorm1d(2)
        seq = nn.Sequential(nn.ReLU())
    finally:
        for h in hs:
            h.remove()
    assert ("param", "weight") in seen and ("param", "bias") in seen
    assert ("buffer", "running_mean") in seen and ("module", "0") in seen
    assert lin.weight is made[0] and lin.bias is made[1]
    assert isinstance(seq[0], nn.Identity)
    assert bn.running_mean is not None


# ---- full backward hooks: scenarios shared with PyTorch -----------------------------------------

X = np.linspace(-1.0, 1.0, 12).reshape(4, 3)
W = np.array([[0.5, -0.25, 0.75], [-0.5, 0.3, 0.1]])
B = np.array([0.1, -0.2])


def _lst(t):
    return None if t is None else np.asarray(t.detach().numpy(), dtype=np.float64).tolist()


def _linear(lib):
    lin = lib.nn.Linear(3, 2).double()
    with lib.no_grad():
        lin.weight.copy_(lib.tensor(W))
        lin.bias.copy_(lib.tensor(B))
    return lin


def scenario_linear_pre_hook_and_hook(lib) -> dict:
    """A backward pre-hook triples grad_output (so the weight gradient triples) and a backward
    hook doubles grad_input (so only x's gradient doubles again)."""
    lin = _linear(lib)
    seen = {}

    def pre(mod, grad_output):
        seen["pre_grad_output"] = [_lst(g) for g in grad_output]
        return (grad_output[0] * 3,)

    def hook(mod, grad_input, grad_output):
        seen["grad_input"] = [_lst(g) for g in grad_input]
        seen["grad_output"] = [_lst(g) for g in grad_output]
        return (grad_input[0] * 2,)

    lin.register_full_backward_pre_hook(pre)
    lin.register_full_backward_hook(hook)
    x = lib.tensor(X, requires_grad=True)
    y = lin(x).tanh()
    (y**2).sum().backward()
    seen["x_grad"] = _lst(x.grad)
    seen["weight_grad"] = _lst(lin.weight.grad)
    seen["bias_grad"] = _lst(lin.bias.grad)
    return seen


def scenario_mixed_inputs_and_outputs(lib) -> dict:
    """Positional non-tensor input (None in grad_input), a tensor input that does not require grad
    (zeros: PyTorch's identity Function materialises it), an unused output (None in grad_output)."""

    class Mix(lib.nn.Module):
        def forward(self, a, k, b):
            return a * b * k, a + b

    m = Mix()
    seen = []
    m.register_full_backward_hook(lambda mod, gi, go: seen.append({"gi": [_lst(g) for g in gi], "go": [_lst(g) for g in go]}))
    a = lib.tensor([1.0, 2.0], dtype=lib.float64, requires_grad=True)
    b = lib.tensor([3.0, 4.0], dtype=lib.float64)
    p, q = m(a, 2.0, b)
    (p.sum() + (q * q).sum()).backward()
    p, q = m(a, 2.0, b)
    p.sum().backward()
    return {"calls": seen, "a_grad": _lst(a.grad)}


def scenario_nested_order(lib) -> dict:
    """Firing order of pre-hooks and hooks over a Sequential and its layers, with a global hook."""
    log = []
    lin1, lin2 = _linear(lib), lib.nn.Linear(2, 2).double()
    with lib.no_grad():
        lin2.weight.copy_(lib.tensor([[1.0, -2.0], [0.5, 0.25]], dtype=lib.float64))
        lin2.bias.zero_()
    seq = lib.nn.Sequential(lin1, lib.nn.Tanh(), lin2)
    for name, mod in (("seq", seq), ("lin1", lin1), ("lin2", lin2)):
        mod.register_full_backward_pre_hook(lambda m, go, name=name: log.append(f"pre:{name}"))
        mod.register_full_backward_hook(lambda m, gi, go, name=name: log.append(f"hook:{name}"))
    mm = lib.nn.modules.module
    g = mm.register_module_full_backward_hook(lambda m, gi, go: log.append(f"global:{type(m).__name__}"))
    try:
        x = lib.tensor(X, requires_grad=True)
        seq(x).sum().backward()
    finally:
        g.remove()
    return {"log": log, "x_grad": _lst(x.grad)}


BACKWARD_SCENARIOS = {
    "module_hooks/linear_pre_hook_and_hook": scenario_linear_pre_hook_and_hook,
    "module_hooks/mixed_inputs_and_outputs": scenario_mixed_inputs_and_outputs,
    "module_hooks/nested_order": scenario_nested_order,
}


def _assert_same(got, want, path="") -> None:
    if isinstance(want, dict):
        assert set(got) == set(want), path
        for k in want:
            _assert_same(got[k], want[k], f"{path}.{k}")
    elif isinstance(want, list) and want and not isinstance(want[0], (int, float)):
        assert len(got) == len(want), path
        for i, (g, w) in enumerate(zip(got, want)):
            _assert_same(g, w, f"{path}[{i}]")
    elif isinstance(want, (list, float)):
        np.testing.assert_allclose(np.array(got, dtype=float), np.array(want, dtype=float), rtol=1e-12, atol=1e-14, err_msg=path)
    else:
        assert got == want, path


@pytest.mark.parametrize("name", sorted(BACKWARD_SCENARIOS))
def test_backward_hook_scenario_matches_pytorch_golden(name):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = BACKWARD_SCENARIOS[name](fg)
    _assert_same(got, _golden()[name])


@pytest.mark.parametrize("name", sorted(BACKWARD_SCENARIOS))
def test_backward_hook_scenario_runs_the_same_under_pytorch(name):
    torch = pytest.importorskip("torch")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _assert_same(BACKWARD_SCENARIOS[name](torch), _golden()[name])


# ---- full backward hooks: behaviour ---------------------------------------------------------------


def test_backward_hook_node_is_named_as_pytorchs_and_outputs_alias_the_result():
    lin = _linear(fg)
    lin.register_full_backward_hook(lambda m, gi, go: None)
    x = fg.tensor(X, requires_grad=True)
    y = lin(x)
    assert y.grad_fn.name() == "BackwardHookFunctionBackward"
    np.testing.assert_allclose(y.detach().numpy(), X @ W.T + B)


def test_backward_hook_fires_from_outputs_with_a_warning_when_no_input_requires_grad():
    lin = _linear(fg)
    seen = []
    lin.register_full_backward_hook(lambda m, gi, go: seen.append((gi, tuple(go[0].shape))))
    with pytest.warns(UserWarning, match="no inputs require gradients"):
        lin(fg.tensor(X)).sum().backward()
    assert seen == [((None,), (4, 2))]
    assert lin.weight.grad is not None


def test_backward_hook_returning_grads_when_no_input_requires_grad_is_an_error():
    lin = _linear(fg)
    lin.register_full_backward_hook(lambda m, gi, go: (go[0],))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(RuntimeError, match="no input requires gradient should always return None"):
            lin(fg.tensor(X)).sum().backward()


def test_backward_hook_returning_the_wrong_number_of_grads_is_an_error():
    lin = _linear(fg)
    lin.register_full_backward_hook(lambda m, gi, go: (gi[0], gi[0]))
    with pytest.raises(RuntimeError, match="invalid number of grad_input, got 2, but expected 1"):
        lin(fg.tensor(X, requires_grad=True)).sum().backward()
    lin2 = _linear(fg)
    lin2.register_full_backward_pre_hook(lambda m, go: (go[0], go[0]))
    with pytest.raises(RuntimeError, match="invalid number of grad_output, got 2, but expected 1"):
        lin2(fg.tensor(X, requires_grad=True)).sum().backward()


def test_removed_backward_hook_does_not_fire_and_no_grad_skips_the_node():
    lin = _linear(fg)
    log = []
    h = lin.register_full_backward_hook(lambda m, gi, go: log.append(1))
    x = fg.tensor(X, requires_grad=True)
    with fg.no_grad():
        y = lin(x)
    assert y.grad_fn is None
    h.remove()
    lin(x).sum().backward()
    assert log == []
    np.testing.assert_allclose(x.grad.numpy(), np.tile(W.sum(0), (4, 1)))


def test_backward_hooks_need_tensor_outputs():
    class ToDict(nn.Module):
        def forward(self, x):
            return {"y": x * 2}

    m = ToDict()
    log = []
    m.register_full_backward_hook(lambda *a: log.append(1))
    x = fg.tensor([1.0], requires_grad=True)
    with pytest.warns(UserWarning, match="module output should be a Tensor or a tuple of Tensors"):
        out = m(x)
    out["y"].sum().backward()
    assert log == []
    np.testing.assert_allclose(x.grad.numpy(), [2.0])


def test_inplace_on_output_of_a_module_with_backward_hooks_is_an_error():
    lin = _linear(fg)
    lin.register_full_backward_hook(lambda m, gi, go: None)
    y = lin(fg.tensor(X, requires_grad=True))
    with pytest.raises(RuntimeError, match="is a view and is being modified inplace"):
        y.add_(1)


def test_full_and_old_backward_hooks_do_not_mix():
    lin = nn.Linear(2, 2)
    lin.register_full_backward_hook(lambda *a: None)
    with pytest.raises(RuntimeError, match="Cannot use both regular backward hooks and full backward hooks"):
        lin.register_backward_hook(lambda *a: None)
    lin2 = nn.Linear(2, 2)
    lin2.register_backward_hook(lambda *a: None)
    with pytest.raises(RuntimeError, match="Cannot use both regular backward hooks and full backward hooks"):
        lin2.register_full_backward_hook(lambda *a: None)


def test_old_backward_hook_runs_as_a_full_hook_with_a_future_warning():
    lin = _linear(fg)
    seen = []
    lin.register_backward_hook(lambda m, gi, go: seen.append([tuple(g.shape) for g in gi]))
    with pytest.warns(FutureWarning, match="register_backward_hook"):
        y = lin(fg.tensor(X, requires_grad=True))
    y.sum().backward()
    assert seen == [[(4, 3)]]


def test_backward_hooks_compose_with_double_backward():
    """The identity nodes pass gradients through unchanged, so create_graph=True still works; the
    second backward goes through tanh's derivative at the module's output, so it passes the
    output node again and the hook fires a second time (as in PyTorch)."""
    lin = _linear(fg)
    log = []
    lin.register_full_backward_hook(lambda m, gi, go: log.append("hook"))
    x = fg.tensor(X, requires_grad=True)
    y = lin(x).tanh().pow(2).sum()
    (gx,) = fg.autograd.grad(y, x, create_graph=True)
    assert log == ["hook"]
    gx.sum().backward()
    assert log == ["hook", "hook"]
    assert x.grad is not None and np.isfinite(x.grad.numpy()).all()
