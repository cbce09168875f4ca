"""Differential runs against PyTorch itself (skipped without torch): random combinations of every
RNN/LSTM/GRU option beyond the fixed golden cases, through the same case runner
(tests/golden/rnn_cases.py), outputs, final states and all gradients compared in float64, and for
those without dropout the second derivatives of a gradient penalty."""

from __future__ import annotations

import os
import random
import sys

import ferrograd as fg
import numpy as np
import pytest

torch = pytest.importorskip("torch")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden"))
import rnn_cases as C  # noqa: E402


def _random_case(seed: int) -> dict:
    r = random.Random(seed)
    cls = r.choice(["RNN", "LSTM", "GRU"])
    kw = {"num_layers": r.choice([1, 2, 3]), "bias": r.random() < 0.7, "batch_first": r.random() < 0.5,
          "bidirectional": r.random() < 0.5}
    if cls == "RNN":
        kw["nonlinearity"] = r.choice(["tanh", "relu"])
    if cls == "LSTM" and r.random() < 0.5:
        kw["proj_size"] = r.choice([1, 2, 3])
    if kw["num_layers"] > 1 and r.random() < 0.5:
        kw["dropout"] = r.choice([0.2, 0.5])
    layout = r.choice(["padded", "packed", "packed", "unbatched"])
    case = {"id": f"random-{seed}", "seed": 5000 + seed, "cls": cls, "kw": kw, "layout": layout,
            "state": r.random() < 0.6, "training": False}
    if layout == "packed":
        lengths = [r.randint(1, C.T) for _ in range(C.B)]
        lengths[r.randrange(C.B)] = C.T  # pad_packed_sequence pads to the longest length
        enforce = r.random() < 0.3
        case.update(lengths=sorted(lengths, reverse=True) if enforce else lengths, enforce_sorted=enforce)
    return case


CASES = [_random_case(seed) for seed in range(40)]


def _compare(got, want, where):
    for key, w in want.items():
        _compare_value(got[key], w, f"{where}.{key}")


def _compare_value(g, w, where):
    if w is None:
        assert g is None, where
    elif isinstance(w, dict):
        _compare(g, w, where)
    elif isinstance(w, list) and w and isinstance(w[0], list) and len({np.shape(v) for v in w}) > 1:
        assert len(g) == len(w), where  # a list of arrays of different shapes (the first gradients)
        for i, (gi, wi) in enumerate(zip(g, w)):
            _compare_value(gi, wi, f"{where}[{i}]")
    else:
        np.testing.assert_allclose(np.asarray(g, dtype=np.float64), np.asarray(w, dtype=np.float64),
                                   rtol=1e-9, atol=1e-9, err_msg=where)


@pytest.mark.parametrize("case", CASES, ids=[f"{c['id']}-{c['cls']}-{c['layout']}" for c in CASES])
def test_random_configuration_matches_pytorch(case):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # oneDNN's note on LSTM projections
        want = C.run_module(torch, case)
    _compare(C.run_module(fg, case), want, case["id"])


SECOND_ORDER = [c for c in CASES if not c["kw"].get("dropout")][:16]


@pytest.mark.parametrize("case", SECOND_ORDER, ids=[f"{c['id']}-{c['cls']}-{c['layout']}" for c in SECOND_ORDER])
def test_random_configuration_second_derivatives_match_pytorch(case):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = C.run_second_order(torch, case)
    _compare(C.run_second_order(fg, case), want, case["id"])
