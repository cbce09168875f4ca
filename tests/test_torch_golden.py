"""ferrograd against values recorded from PyTorch (tests/golden/torch_golden.json).

The file is written by tests/golden/make_golden.py, which needs torch; this test needs only
ferrograd and numpy, so it runs in CI. Everything is float64: forwards and gradients (of
sum(output * W) for a stored W) must agree to ~1e-10 relative, BatchNorm running statistics to
~1e-12 and num_batches_tracked exactly; state_dict keys, shapes and dtypes and module reprs must be
identical. Losses, layer_norm/group_norm and embedding are checked in their functional and module
forms (gradients of input, float target, weight and bias included).
"""

from __future__ import annotations

import json
import os

import ferrograd as fg
import ferrograd.nn as nn
import ferrograd.nn.functional as F
import numpy as np
import pytest

GOLDEN_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden", "torch_golden.json")
with open(GOLDEN_PATH) as _f:
    GOLDEN = json.load(_f)

RTOL = 1e-10  # forwards and gradients
RTOL_STATS = 1e-12  # running_mean / running_var


def _dims(kw):
    return {k: tuple(v) if isinstance(v, list) else v for k, v in kw.items()}


# The ferrograd side of make_golden.OPS, name for name.
OPS = {
    "add": lambda a, b: a + b,
    "add_alpha": lambda a, b, alpha: fg.add(a, b, alpha=alpha),
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
    "pow": lambda a, b: a**b,
    "pow_scalar": lambda a, e: a**e,
    "rsub_scalar": lambda a, s: s - a,
    "mul_scalar": lambda a, s: a * s,
    "rdiv_scalar": lambda a, s: s / a,
    "maximum": fg.maximum,
    "minimum": fg.minimum,
    "matmul": fg.matmul,
    "mm": fg.mm,
    "exp": fg.exp, "log": fg.log, "sqrt": fg.sqrt, "abs": fg.abs, "neg": fg.neg,
    "sin": fg.sin, "cos": fg.cos, "tanh": fg.tanh, "sigmoid": fg.sigmoid, "relu": fg.relu,
    "clamp": lambda a, **kw: a.clamp(**kw),
    "sum": lambda a, **kw: a.sum(**_dims(kw)),
    "mean": lambda a, **kw: a.mean(**_dims(kw)),
    "max": lambda a, **kw: a.max(**kw),
    "min": lambda a, **kw: a.min(**kw),
    "argmax": lambda a, **kw: a.argmax(**kw),
    "var": lambda a, **kw: a.var(**_dims(kw)),
    "std": lambda a, **kw: a.std(**_dims(kw)),
    "logsumexp": lambda a, **kw: a.logsumexp(**_dims(kw)),
    "softmax": lambda a, dim: F.softmax(a, dim),
    "log_softmax": lambda a, dim: F.log_softmax(a, dim),
    "gelu": lambda a, approximate: F.gelu(a, approximate=approximate),
    "silu": F.silu,
    "leaky_relu": lambda a, negative_slope: F.leaky_relu(a, negative_slope),
    "linear": F.linear,
    "permute": lambda a, dims: a.permute(*dims),
    "transpose": lambda a, d0, d1: a.transpose(d0, d1),
    "reshape": lambda a, shape: a.reshape(*shape),
    "expand": lambda a, shape: a.expand(*shape),
    "narrow": lambda a, dim, start, length: a.narrow(dim, start, length),
    "cat": lambda *xs, dim: fg.cat(list(xs), dim),
    "stack": lambda *xs, dim: fg.stack(list(xs), dim),
    "where_pos": lambda a, b: fg.where(a > 0, a, b),
    "index_slices": lambda a: a[1:, ::2],
    "index_int": lambda a: a[:, 1],
}


LOSSES = {
    "cross_entropy": (F.cross_entropy, nn.CrossEntropyLoss),
    "nll_loss": (F.nll_loss, nn.NLLLoss),
    "mse_loss": (F.mse_loss, nn.MSELoss),
    "l1_loss": (F.l1_loss, nn.L1Loss),
    "smooth_l1_loss": (F.smooth_l1_loss, nn.SmoothL1Loss),
    "binary_cross_entropy": (F.binary_cross_entropy, nn.BCELoss),
    "binary_cross_entropy_with_logits": (F.binary_cross_entropy_with_logits, nn.BCEWithLogitsLoss),
}


def build(nn_mod, spec):
    """The same nested model specs as make_golden.build."""
    if spec[0] == "Sequential":
        return nn_mod.Sequential(*[build(nn_mod, s) for s in spec[1]])
    if spec[0] == "Custom":
        m = type(spec[1], (nn_mod.Module,), {})()
        for name, s in spec[2]:
            setattr(m, name, build(nn_mod, s))
        return m
    return getattr(nn_mod, spec[0])(*spec[1], **spec[2])


def T(data, grad=False):
    return fg.tensor(np.asarray(data, dtype=np.float64), requires_grad=grad)


def A(t):
    return t.detach().numpy() if isinstance(t, fg.Tensor) else np.asarray(t)


def dtype_name(dt) -> str:
    return str(dt).split(".")[-1]


def check(actual, expected, what, rtol=RTOL):
    """Same shape, and |a - e| <= rtol * |e| + (rtol / 100) * max(1, max|e|): relative, with an
    absolute floor for entries that are ~0 through cancellation (softmax gradients, say)."""
    if actual is None:
        raise AssertionError(f"{what}: ferrograd gave None, PyTorch gave a value")
    exp = np.asarray(expected, dtype=np.float64)
    act = A(actual)
    assert act.shape == exp.shape, f"{what}: shape {act.shape}, PyTorch {exp.shape}"
    scale = max(1.0, float(np.max(np.abs(exp)))) if exp.size else 1.0
    np.testing.assert_allclose(act, exp, rtol=rtol, atol=rtol * 1e-2 * scale, err_msg=what)


def test_golden_file_is_from_torch():
    assert GOLDEN["torch_version"] and GOLDEN["dtype"] == "float64"
    assert len(GOLDEN["ops"]) > 50 and len(GOLDEN["batchnorm"]) > 20
    assert set(OPS) >= {c["op"] for c in GOLDEN["ops"]}
    assert set(LOSSES) == {c["loss"] for c in GOLDEN["losses"]}
    assert {c["fn"] for c in GOLDEN["norms"]} == {"layer_norm", "group_norm"} and GOLDEN["embedding"]


# ---- ops ----------------------------------------------------------------------------------

@pytest.mark.parametrize("case", GOLDEN["ops"], ids=[c["id"] for c in GOLDEN["ops"]])
def test_op(case):
    xs = [T(x, grad=True) for x in case["inputs"]]
    out = OPS[case["op"]](*xs, **case["kwargs"])
    if "indices" in case:
        assert isinstance(out, tuple) and len(out) == 2, f"expected (values, indices), got {type(out).__name__}"
        assert out.indices.tolist() == case["indices"] and dtype_name(out.indices.dtype) == "int64"
        out = out.values
    assert dtype_name(out.dtype) == case["output_dtype"]
    if case["output_dtype"] != "float64":
        assert out.tolist() == case["output"]
        return
    check(out, case["output"], f"{case['id']} forward")
    (out * T(case["w"])).sum().backward()
    for i, (x, g) in enumerate(zip(xs, case["grads"])):
        check(x.grad, g, f"{case['id']} grad of input {i}")


# ---- Linear -------------------------------------------------------------------------------

@pytest.mark.parametrize("case", GOLDEN["linear"], ids=[c["id"] for c in GOLDEN["linear"]])
def test_linear(case):
    m = nn.Linear(case["in_features"], case["out_features"], bias=case["bias"], dtype=fg.float64)
    with fg.no_grad():
        m.weight.copy_(T(case["weight"]))
        if case["bias"]:
            m.bias.copy_(T(case["bias_value"]))
    x = T(case["x"], grad=True)
    out = m(x)
    check(out, case["output"], f"{case['id']} forward")
    (out * T(case["w"])).sum().backward()
    check(x.grad, case["grad_x"], f"{case['id']} grad x")
    check(m.weight.grad, case["grad_weight"], f"{case['id']} grad weight")
    if case["bias"]:
        check(m.bias.grad, case["grad_bias"], f"{case['id']} grad bias")
    else:
        assert m.bias is None


# ---- BatchNorm sequences ------------------------------------------------------------------

@pytest.mark.parametrize("case", GOLDEN["batchnorm"], ids=[c["id"] for c in GOLDEN["batchnorm"]])
def test_batchnorm_sequence(case):
    affine, track = case["affine"], case["track_running_stats"]
    m = getattr(nn, case["cls"])(case["num_features"], eps=case["eps"], momentum=case["momentum"], affine=affine,
                                 track_running_stats=track, dtype=fg.float64)
    if affine:
        with fg.no_grad():
            m.weight.copy_(T(case["weight"]))
            m.bias.copy_(T(case["bias"]))
    else:
        assert m.weight is None and m.bias is None
    if not track:
        assert m.running_mean is None and m.running_var is None and m.num_batches_tracked is None
    for i, step in enumerate(case["steps"]):
        where = f"{case['id']} step {i} ({step['mode']})"
        m.train(step["mode"] == "train")
        if affine:
            m.weight.grad = None
            m.bias.grad = None
        x = T(step["x"], grad=True)
        out = m(x)
        check(out, step["output"], f"{where} output")
        (out * T(step["w"])).sum().backward()
        check(x.grad, step["grad_x"], f"{where} grad x")
        if affine:
            check(m.weight.grad, step["grad_weight"], f"{where} grad weight")
            check(m.bias.grad, step["grad_bias"], f"{where} grad bias")
        if track:
            check(m.running_mean, step["running_mean"], f"{where} running_mean", RTOL_STATS)
            check(m.running_var, step["running_var"], f"{where} running_var", RTOL_STATS)
            assert int(m.num_batches_tracked.item()) == step["num_batches_tracked"], f"{where} num_batches_tracked"
            assert dtype_name(m.num_batches_tracked.dtype) == "int64"


# ---- losses -------------------------------------------------------------------------------

def loss_inputs(case):
    x = T(case["input"], grad=True)
    if case["target_dtype"] == "int64":
        t = fg.tensor(np.asarray(case["target"], dtype=np.int64))
    else:
        t = T(case["target"], grad=True)
    return x, t, {k: T(v) for k, v in case["tensor_kwargs"].items()}


@pytest.mark.parametrize("form", ["function", "module"])
@pytest.mark.parametrize("case", GOLDEN["losses"], ids=[c["id"] for c in GOLDEN["losses"]])
def test_loss(case, form):
    fn, mod = LOSSES[case["loss"]]
    x, t, tensors = loss_inputs(case)
    if form == "function":
        out = fn(x, t, **case["kwargs"], **tensors)
    else:
        out = mod(**case["kwargs"], **tensors)(x, t)
    assert dtype_name(out.dtype) == "float64"
    check(out, case["output"], f"{case['id']} {form} forward")
    (out * T(case["w"])).sum().backward()
    check(x.grad, case["grad_input"], f"{case['id']} {form} grad input")
    if "grad_target" in case:
        check(t.grad, case["grad_target"], f"{case['id']} {form} grad target")


# ---- layer_norm, group_norm, embedding ------------------------------------------------------

def norm_module(case):
    has_w, has_b = "weight" in case, "bias" in case
    if case["fn"] == "layer_norm":
        m = nn.LayerNorm(case["arg"], eps=case["eps"], elementwise_affine=has_w, bias=has_b, dtype=fg.float64)
    else:
        assert has_w == has_b
        m = nn.GroupNorm(case["arg"], len(case["x"][0]), eps=case["eps"], affine=has_w, dtype=fg.float64)
    with fg.no_grad():
        for name in ("weight", "bias"):
            if name in case:
                getattr(m, name).copy_(T(case[name]))
            else:
                assert getattr(m, name) is None, f"{name} should be None"
    return m


@pytest.mark.parametrize("form", ["function", "module"])
@pytest.mark.parametrize("case", GOLDEN["norms"], ids=[c["id"] for c in GOLDEN["norms"]])
def test_norm(case, form):
    x = T(case["x"], grad=True)
    if form == "function":
        params = {k: T(case[k], grad=True) if k in case else None for k in ("weight", "bias")}
        out = getattr(F, case["fn"])(x, case["arg"], params["weight"], params["bias"], case["eps"])
    else:
        m = norm_module(case)
        params = {"weight": m.weight, "bias": m.bias}
        out = m(x)
    check(out, case["output"], f"{case['id']} {form} forward")
    (out * T(case["w"])).sum().backward()
    check(x.grad, case["grad_x"], f"{case['id']} {form} grad x")
    for k in ("weight", "bias"):
        if k in case:
            check(params[k].grad, case[f"grad_{k}"], f"{case['id']} {form} grad {k}")


@pytest.mark.parametrize("form", ["function", "module"])
@pytest.mark.parametrize("case", GOLDEN["embedding"], ids=[c["id"] for c in GOLDEN["embedding"]])
def test_embedding(case, form):
    idx = fg.tensor(np.asarray(case["indices"], dtype=np.int64))
    if form == "function":
        w = T(case["weight"], grad=True)
        out = F.embedding(idx, w, padding_idx=case["padding_idx"])
    else:
        m = nn.Embedding.from_pretrained(T(case["weight"]), freeze=False, padding_idx=case["padding_idx"])
        w = m.weight
        out = m(idx)
    check(out, case["output"], f"{case['id']} {form} forward")
    (out * T(case["w"])).sum().backward()
    check(w.grad, case["grad_weight"], f"{case['id']} {form} grad weight")


# ---- state_dict and repr ------------------------------------------------------------------

@pytest.mark.parametrize("name", list(GOLDEN["state_dict"]))
def test_state_dict_keys(name):
    rec = GOLDEN["state_dict"][name]
    sd = build(nn, rec["spec"]).state_dict()
    assert list(sd) == rec["keys"]
    assert [list(v.shape) for v in sd.values()] == rec["shapes"]
    assert [dtype_name(v.dtype) for v in sd.values()] == rec["dtypes"]


@pytest.mark.parametrize("case", GOLDEN["reprs"], ids=[c["repr"].split("\n")[0] for c in GOLDEN["reprs"]])
def test_repr(case):
    assert repr(build(nn, case["spec"])) == case["repr"]
