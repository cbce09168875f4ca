"""Regenerates tests/golden/grad_edge_golden.json from PyTorch (needs torch; CI does not run this).

    cd /work/main && PYTHONPATH=python /tmp/torchvenv/bin/python tests/golden/make_grad_edge_golden.py

The rows are tests/test_grad_edge_cases.py's CASES, each a call written once for both libraries;
this script runs them with `torch` and `torch.nn.functional` and records what PyTorch gives
(outputs, gradients, requires_grad, grad_fn name, and whether it warned), and PyTorch's own
float32 BatchNorm error against a float64 reference for the accuracy test. NaN and inf are stored
as JSON's non-standard NaN / Infinity, which Python's json reads back.
"""

from __future__ import annotations

import json
import os
import sys
import warnings

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
from test_grad_edge_cases import BN_CASES, CASES, GOLDEN_PATH, bn_errors, run_case  # noqa: E402


def main() -> None:
    golden = {}
    for case in CASES:
        torch.manual_seed(0)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            rec = run_case(torch, F, case)
        rec["warned"] = [str(w.message).split("\n")[0][:120] for w in caught]
        golden[case.name] = rec
    # PyTorch's own float32 BatchNorm error against the float64 reference, per case (y, dx, dw, db).
    golden["_batchnorm_torch_error"] = {
        f"{shape}-{offset:g}-{scale:g}": bn_errors(torch, F, shape, offset, scale).tolist() for shape, offset, scale in BN_CASES
    }
    golden["_meta"] = {"torch": torch.__version__}
    with open(GOLDEN_PATH, "w") as f:  # one record per line: short diffs when a row changes
        f.write("{\n" + ",\n".join(f"{json.dumps(k)}: {json.dumps(v)}" for k, v in sorted(golden.items())) + "\n}\n")
    print(f"wrote {len(CASES)} cases to {GOLDEN_PATH} (torch {torch.__version__})")


if __name__ == "__main__":
    main()
