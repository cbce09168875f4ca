"""Regenerates tests/golden/rnn_golden.json from PyTorch (needs torch; CI does not run this).

    cd /work/main && PYTHONPATH=python:tests/golden /tmp/torchvenv/bin/python tests/golden/make_rnn_golden.py

Runs every case of tests/golden/rnn_cases.py (RNN tanh/relu, LSTM with and without proj_size and
GRU in 11 configurations each; the three cells; the packing utilities) under PyTorch in float64
and stores outputs, final states and all gradients with the PyTorch version, and for four
configurations of each kind the second derivatives of a gradient penalty (run_second_order).
Also saves a bidirectional two-layer LSTM with projections with torch.save (rnn_lstm_state_dict.pt)
and its output, which ferrograd must reproduce after fg.load + load_state_dict.
tests/test_rnn_golden.py runs the same cases under ferrograd and compares.
"""

from __future__ import annotations

import json
import os
import sys
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import rnn_cases as C  # noqa: E402
import torch  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "rnn_golden.json")
STATE_DICT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "rnn_lstm_state_dict.pt")


def saved_state_dict() -> dict:
    """A float32 LSTM(3, 4, num_layers=2, bidirectional=True, proj_size=2) from PyTorch's own
    initialisation, saved with torch.save; returns its output on a fixed input (from numpy)."""
    torch.manual_seed(0)
    model = torch.nn.LSTM(3, 4, num_layers=2, bidirectional=True, proj_size=2)
    torch.save(model.state_dict(), STATE_DICT)
    x = torch.tensor(C.saved_input())
    with torch.no_grad():
        output, (h_n, c_n) = model(x)
    return {"keys": list(model.state_dict()), "output": output.tolist(), "h_n": h_n.tolist(), "c_n": c_n.tolist()}


def main() -> None:
    warnings.filterwarnings("ignore", message=".*oneDNN.*")  # LSTM with projections: a note, not a change
    golden = {
        "torch_version": torch.__version__,
        "modules": {case["id"]: C.run_module(torch, case) for case in C.MODULE_CASES},
        "second_order": {case["id"]: C.run_second_order(torch, case) for case in C.SECOND_ORDER_CASES},
        "cells": {case["id"]: C.run_cell(torch, case) for case in C.CELL_CASES},
        "packing": {case["id"]: C.run_packing(torch, case) for case in C.PACKING_CASES},
        "torch_save": saved_state_dict(),
    }
    tmp = OUT + ".tmp"
    with open(tmp, "w") as f:
        json.dump(golden, f, sort_keys=True, separators=(",", ":"))
    os.replace(tmp, OUT)
    print(f"wrote {OUT}: {len(golden['modules'])} module, {len(golden['second_order'])} second-order, "
          f"{len(golden['cells'])} cell and "
          f"{len(golden['packing'])} packing cases")


if __name__ == "__main__":
    main()
