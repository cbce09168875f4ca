"""RNN (tanh, relu), LSTM (with and without proj_size), GRU, the three cells and the packing
utilities against PyTorch: tests/golden/rnn_golden.json, made by tests/golden/make_rnn_golden.py
from the cases in tests/golden/rnn_cases.py, which this file runs under ferrograd.

Each module case compares the output, the final states and the gradients of one scalar loss with
respect to every parameter, the input and the initial states: 1 and 2 layers, bidirectional,
batch_first, no bias, given and zero initial states, packed input (enforce_sorted True and False,
lengths with ties), unbatched input, inter-layer dropout in eval mode and dropout=1.0 in training
mode (the one train-mode dropout that is deterministic). float64 to 1e-9; float32 to 2e-5.
"""

from __future__ import annotations

import json
import os
import sys

import ferrograd as fg
import numpy as np
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden"))
import rnn_cases as C  # noqa: E402

GOLDEN = json.load(open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden", "rnn_golden.json")))


def _compare(got, want, tol, where):
    """Walks the result structure; every number must be within tol (absolute + relative)."""
    if want is None:
        assert got is None, f"{where}: expected None, got {got!r}"
        return
    if isinstance(want, dict):
        assert sorted(got) == sorted(want), f"{where}: keys {sorted(got)} != {sorted(want)}"
        for key in want:
            _compare(got[key], want[key], tol, f"{where}.{key}")
        return
    if isinstance(want, list) and want and (want[0] is None or isinstance(want[0], dict)
                                            or (isinstance(want[0], list) and _ragged(want))):
        assert len(got) == len(want), f"{where}: {len(got)} items, expected {len(want)}"
        for i, (g, w) in enumerate(zip(got, want)):
            _compare(g, w, tol, f"{where}[{i}]")
        return
    g, w = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    assert g.shape == w.shape, f"{where}: shape {g.shape}, expected {w.shape}"
    np.testing.assert_allclose(g, w, rtol=tol, atol=tol, err_msg=where)


def _ragged(items) -> bool:
    try:
        np.asarray(items, dtype=np.float64)
        return False
    except ValueError:
        return True


def test_golden_file_has_every_case():
    assert sorted(GOLDEN["modules"]) == sorted(c["id"] for c in C.MODULE_CASES)
    assert sorted(GOLDEN["second_order"]) == sorted(c["id"] for c in C.SECOND_ORDER_CASES)
    assert sorted(GOLDEN["cells"]) == sorted(c["id"] for c in C.CELL_CASES)
    assert sorted(GOLDEN["packing"]) == sorted(c["id"] for c in C.PACKING_CASES)


@pytest.mark.parametrize("case", C.MODULE_CASES, ids=[c["id"] for c in C.MODULE_CASES])
def test_module_matches_pytorch_float64(case):
    want = GOLDEN["modules"][case["id"]]
    got = C.run_module(fg, case)
    _compare(got, want, 1e-9, case["id"])
    # Every parameter gets a gradient that says something (dropout=1.0 zeroes layer 2's input
    # weights' gradient, as in PyTorch, and that zero is compared above).
    assert any(np.abs(np.asarray(g)).max() > 1e-3 for g in want["param_grads"].values())


@pytest.mark.parametrize("case", C.MODULE_CASES[::4], ids=[c["id"] for c in C.MODULE_CASES[::4]])
def test_module_matches_pytorch_float32(case):
    want = GOLDEN["modules"][case["id"]]
    got = C.run_module(fg, case, dtype="float32")
    _compare(got, want, 2e-5, case["id"] + " float32")


@pytest.mark.parametrize("case", C.SECOND_ORDER_CASES, ids=[c["id"] for c in C.SECOND_ORDER_CASES])
def test_second_derivatives_match_pytorch(case):
    # A gradient penalty through the layer: the fused backward reruns the layer in recorded ops
    # for create_graph=True (PyTorch's CPU LSTM, GRU and RNN are twice differentiable too).
    want = GOLDEN["second_order"][case["id"]]
    _compare(C.run_second_order(fg, case), want, 1e-9, case["id"] + " second order")
    assert np.abs(np.asarray(want["input_grad"])).max() > 1e-3


@pytest.mark.parametrize("case", C.CELL_CASES, ids=[c["id"] for c in C.CELL_CASES])
def test_cell_matches_pytorch(case):
    _compare(C.run_cell(fg, case), GOLDEN["cells"][case["id"]], 1e-9, case["id"])


@pytest.mark.parametrize("case", C.PACKING_CASES, ids=[c["id"] for c in C.PACKING_CASES])
def test_packing_matches_pytorch(case):
    _compare(C.run_packing(fg, case), GOLDEN["packing"][case["id"]], 1e-12, case["id"])
