"""Every row of tests/op_table.py: forward against its numpy reference, float64 gradcheck, and
PyTorch's recorded values (tests/golden/op_table_golden.json, made by
tests/golden/make_op_golden.py; this test needs neither torch nor that script)."""

from __future__ import annotations

import json
import os

import ferrograd as fg
import numpy as np
import pytest
from op_table import ROWS, make_inputs

GOLDEN_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden", "op_table_golden.json")
with open(GOLDEN_PATH) as _f:
    GOLDEN = json.load(_f)

RTOL = 1e-10  # float64 forwards and gradients against PyTorch
NP_DTYPES = {"float64": np.float64, "float32": np.float32, "int64": np.int64, "bool": np.bool_, "int32": np.int32}


def _flat(out) -> list:
    if isinstance(out, (tuple, list)):
        items = []
        for o in out:
            items += _flat(o)
        return items
    return [out]


def _tensors(op, arrays, dtype=np.float64):
    out = []
    for spec, a in zip(op.inputs, arrays):
        if a.dtype.kind == "f":
            a = a.astype(dtype)
        t = fg.tensor(a)
        if spec.requires_grad and a.dtype == np.float64:
            t.requires_grad_(True)
        out.append(t)
    return out


def _dtype_name(t) -> str:
    return str(t.dtype).split(".")[-1]


def _close(got: np.ndarray, exp: np.ndarray, rtol: float, atol: float, what: str) -> None:
    got, exp = np.asarray(got), np.asarray(exp)
    assert got.shape == exp.shape, f"{what}: shape {got.shape}, expected {exp.shape}"
    if exp.dtype.kind in "biu" and got.dtype.kind in "biu":
        np.testing.assert_array_equal(got, exp, err_msg=what)
        return
    g, e = got.astype(np.float64), exp.astype(np.float64)
    np.testing.assert_array_equal(np.isnan(g), np.isnan(e), err_msg=f"{what}: NaN positions")
    scale = max(1.0, float(np.max(np.abs(e[np.isfinite(e)])))) if np.isfinite(e).any() else 1.0
    np.testing.assert_allclose(g, e, rtol=rtol, atol=atol * scale, equal_nan=True, err_msg=what)


# ----------------------------------------------------------------------------- numpy references

WITH_REF = [op for op in ROWS if op.ref is not None]


@pytest.mark.parametrize("op", WITH_REF, ids=[op.id for op in WITH_REF])
def test_forward_matches_numpy_reference(op):
    arrays = make_inputs(op)
    out = _flat(op.fn(fg, *_tensors(op, arrays)))
    ref = _flat(op.ref(*[a.copy() for a in arrays]))
    assert len(out) == len(ref), f"{len(out)} outputs, the reference has {len(ref)}"
    for k, (o, r) in enumerate(zip(out, ref)):
        got = o.detach().numpy() if isinstance(o, fg.Tensor) else np.asarray(o)
        _close(got, np.asarray(r), 1e-9, op.atol, f"{op.id} output {k}")
    if op.f32 and any(a.dtype == np.float64 for a in arrays):
        out32 = _flat(op.fn(fg, *_tensors(op, arrays, np.float32)))
        ref32 = _flat(op.ref(*[a.astype(np.float32).astype(np.float64) if a.dtype.kind == "f" else a for a in arrays]))
        for k, (o, r) in enumerate(zip(out32, ref32)):
            got = o.detach().numpy() if isinstance(o, fg.Tensor) else np.asarray(o)
            _close(got, np.asarray(r), 1e-4, 1e-4, f"{op.id} float32 output {k}")


# ----------------------------------------------------------------------------- gradcheck

WITH_GRAD = [op for op in ROWS if op.grad and any(i.requires_grad for i in op.inputs)]


@pytest.mark.parametrize("op", WITH_GRAD, ids=[op.id for op in WITH_GRAD])
def test_gradient_matches_finite_differences(op):
    ts = _tensors(op, make_inputs(op))
    assert fg.autograd.gradcheck(lambda *xs: op.fn(fg, *xs), ts, atol=1e-6, rtol=1e-4)


# ----------------------------------------------------------------------------- PyTorch golden

WITH_GOLDEN = [op for op in ROWS if op.golden]


def test_golden_file_covers_the_table():
    assert GOLDEN["torch_version"], "the golden file must come from make_op_golden.py"
    missing = sorted({op.id for op in WITH_GOLDEN} - set(GOLDEN["ops"]))
    stale = sorted(set(GOLDEN["ops"]) - {op.id for op in WITH_GOLDEN})
    assert not missing, f"rows without PyTorch values (run tests/golden/make_op_golden.py): {missing}"
    assert not stale, f"golden rows no longer in the table: {stale}"


@pytest.mark.parametrize("op", WITH_GOLDEN, ids=[op.id for op in WITH_GOLDEN])
def test_matches_pytorch_golden(op):
    case = GOLDEN["ops"].get(op.id)
    if case is None:
        pytest.fail(f"{op.id}: not in {os.path.basename(GOLDEN_PATH)}; run tests/golden/make_op_golden.py")
    arrays = [np.asarray(i["values"], dtype=NP_DTYPES[i["dtype"]]) for i in case["inputs"]]
    np.testing.assert_array_equal(arrays[0], make_inputs(op)[0], err_msg="the table's inputs changed: regenerate the golden file")
    leaves = _tensors(op, arrays)
    out = _flat(op.fn(fg, *leaves))
    assert len(out) == len(case["outputs"]), f"{len(out)} outputs, PyTorch gave {len(case['outputs'])}"
    loss = None
    for k, (o, exp, w) in enumerate(zip(out, case["outputs"], case["weights"])):
        what = f"{op.id} output {k}"
        if "python" in exp:
            assert type(o).__name__ == exp["python"] and o == exp["value"], f"{what}: {o!r}, PyTorch {exp['value']!r}"
            continue
        assert isinstance(o, fg.Tensor), f"{what}: {type(o).__name__}, PyTorch gave a tensor"
        assert _dtype_name(o) == exp["dtype"], f"{what}: dtype {_dtype_name(o)}, PyTorch {exp['dtype']}"
        assert list(o.shape) == exp["shape"], f"{what}: shape {list(o.shape)}, PyTorch {exp['shape']}"
        _close(o.detach().numpy(), np.asarray(exp["values"], dtype=NP_DTYPES.get(exp["dtype"], np.float64)), RTOL, RTOL, what)
        if w is not None:
            assert o.requires_grad, f"{what}: does not require grad, PyTorch's does"
            term = (o * fg.tensor(np.asarray(w, dtype=np.float64)).to(o.dtype)).sum()
            loss = term if loss is None else loss + term
    if loss is None:
        return
    loss.backward()
    for k, (t, g) in enumerate(zip(leaves, case["grads"])):
        if g is None:
            continue
        assert t.grad is not None, f"{op.id} input {k}: no gradient, PyTorch has one"
        _close(t.grad.numpy(), np.asarray(g, dtype=np.float64), 1e-9, 1e-9, f"{op.id} gradient of input {k}")


def test_table_ids_are_unique_and_inputs_reproducible():
    assert len({op.id for op in ROWS}) == len(ROWS)
    for op in ROWS[:5]:
        for a, b in zip(make_inputs(op), make_inputs(op)):
            np.testing.assert_array_equal(a, b)
