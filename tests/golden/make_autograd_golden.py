"""Regenerates tests/golden/autograd_golden.json from PyTorch (needs torch; CI does not run this).

    cd /work/main && PYTHONPATH=python /tmp/torchvenv/bin/python tests/golden/make_autograd_golden.py

The scenarios are the ones the tests run: tests/test_higher_order.py's SCENARIOS (WGAN-GP
gradient penalty, MAML inner step, Hessian-vector products, the tutorial's LegendrePolynomial3)
and tests/test_module_hooks.py's BACKWARD_SCENARIOS (full backward hooks). Each is written once
for both libraries and builds its inputs from numpy's RandomState, so this script only runs them
with `torch` and records what comes out. The file is written to a temporary name and renamed, so
an interrupted run leaves the old file whole.
"""

from __future__ import annotations

import json
import os
import sys
import warnings

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
from test_higher_order import GOLDEN_PATH, SCENARIOS  # noqa: E402
from test_module_hooks import BACKWARD_SCENARIOS  # noqa: E402


def main() -> None:
    golden = {}
    for name, scenario in {**SCENARIOS, **BACKWARD_SCENARIOS}.items():
        torch.manual_seed(0)  # nothing should depend on it; a fixed seed keeps reruns identical anyway
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            golden[name] = scenario(torch)
    golden["_meta"] = {"torch": torch.__version__, "script": "tests/golden/make_autograd_golden.py"}
    tmp = GOLDEN_PATH + ".tmp"
    with open(tmp, "w") as f:  # one record per line: short diffs when a scenario changes
        f.write("{\n" + ",\n".join(f"{json.dumps(k)}: {json.dumps(v)}" for k, v in sorted(golden.items())) + "\n}\n")
    os.replace(tmp, GOLDEN_PATH)
    print(f"wrote {len(golden) - 1} scenarios to {GOLDEN_PATH} (torch {torch.__version__})")


if __name__ == "__main__":
    main()
