"""F.scaled_dot_product_attention and nn.MultiheadAttention against PyTorch 2.15's values
(tests/golden/attention_golden.json, made by tests/golden/make_attention_golden.py): outputs,
attention weights and the gradients of every float input and parameter, float64. Both SDPA
implementations are checked: the dispatching entry point and the composed reference."""

from __future__ import annotations

import json
import pathlib

import ferrograd as fg
import ferrograd.nn as nn
import ferrograd.nn.functional as F
import numpy as np
import pytest
from ferrograd.nn import _functional_attention as FA

# PyTorch warns the same way for a bool key_padding_mask beside a float attn_mask (golden cases do that).
pytestmark = pytest.mark.filterwarnings("ignore:Support for mismatched")
GOLDEN = pathlib.Path(__file__).parent / "golden"
ATTENTION = json.loads((GOLDEN / "attention_golden.json").read_text())
TOL = {"rtol": 1e-8, "atol": 1e-9}


def dec(d):
    if d is None:
        return None
    dtype = {"float64": fg.float64, "float32": fg.float32, "bool": fg.bool}[d["dtype"]]
    return fg.tensor(np.array(d["data"]).reshape(d["shape"]), dtype=dtype)


def close(actual, expected, what):
    if expected is None:
        assert actual is None, what
        return
    exp = np.array(expected["data"]).reshape(expected["shape"])
    assert tuple(actual.shape) == tuple(exp.shape), f"{what}: shape {tuple(actual.shape)} vs {exp.shape}"
    np.testing.assert_allclose(actual.detach().numpy(), exp, err_msg=what, **TOL)


def run_case(case, fn):
    """fn(**inputs) with the float inputs requiring grad; checks outputs and input gradients."""
    inputs = {k: dec(v) for k, v in case["inputs"].items()}
    leaves = {}
    for k, t in inputs.items():
        if t.dtype == fg.float64 and not k.endswith("mask"):
            leaves[k] = inputs[k] = t.requires_grad_(True)
    out = fn(**inputs)
    outs = list(out) if isinstance(out, tuple) else [out]
    for i, (o, e) in enumerate(zip(outs, case["outputs"])):
        close(o, e, f"{case['name']}: output {i}")
    loss = sum((o * dec(w)).sum() for o, w in zip(outs, case["weights"]) if o is not None)
    loss.backward()
    for k, t in leaves.items():
        close(t.grad, case["grads"][k], f"{case['name']}: grad of {k}")


SDPA = {c["name"]: c for c in ATTENTION["sdpa"]}
MHA = {c["name"]: c for c in ATTENTION["mha"]}


@pytest.mark.parametrize("name", list(SDPA))
def test_sdpa_matches_pytorch(name):
    case = SDPA[name]
    run_case(case, lambda **a: F.scaled_dot_product_attention(**a, **case["kwargs"]))


@pytest.mark.parametrize("name", list(SDPA))
def test_sdpa_composed_reference_matches_pytorch(name):
    case = SDPA[name]
    kw = case["kwargs"]
    run_case(case, lambda query, key, value, attn_mask=None: FA._sdpa_composed(
        query, key, value, attn_mask, 0.0, kw.get("is_causal", False), kw.get("scale"), kw.get("enable_gqa", False)))


def build_module(case, cls):
    fg.manual_seed(0)
    module = cls(**case["ctor"], dtype=fg.float64) if "ctor" in case else cls
    result = module.load_state_dict({k: dec(v) for k, v in case["state_dict"].items()})
    assert not result.missing_keys and not result.unexpected_keys
    if case.get("mode") == "eval":
        module.eval()
    return module


def check_module(case, module):
    run_case(case, lambda **a: module(**a, **case.get("call", {})))
    for name, p in module.named_parameters():
        close(p.grad, case["param_grads"][name], f"{case['name']}: grad of parameter {name}")


@pytest.mark.parametrize("name", list(MHA))
def test_multihead_attention_matches_pytorch(name):
    case = MHA[name]
    check_module(case, build_module(case, nn.MultiheadAttention))


def test_multihead_attention_state_dict_keys_are_pytorchs():
    for case in ATTENTION["mha"]:
        fg.manual_seed(0)
        m = nn.MultiheadAttention(**case["ctor"])
        assert list(m.state_dict()) == list(case["state_dict"]), case["name"]
        for k, v in m.state_dict().items():
            assert list(v.shape) == case["state_dict"][k]["shape"], (case["name"], k)
