"""Regenerates tests/golden/optim_more_golden.json from PyTorch (needs torch; CI does not run this).

    cd /work/main && PYTHONPATH=python:tests /tmp/torchvenv/bin/python tests/golden/make_optim_more_golden.py

Runs every case of tests/optim_more_cases.py (NAdam, RAdam, Adamax, ASGD and Rprop trajectories
with their final state, LBFGS closures, scheduler lr/momentum sequences) under PyTorch and stores
the results with the PyTorch version; tests/test_optim_more.py and
tests/test_lr_scheduler_more.py run the same cases under ferrograd and compare.
"""

from __future__ import annotations

import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import optim_more_cases as C  # noqa: E402
import torch  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "optim_more_golden.json")


def main() -> None:
    torch.set_default_dtype(torch.float32)  # step counters and scalar state stay float32, as by default
    golden = {
        "torch_version": torch.__version__,
        "optimizers": {C.case_id(name, kw): C.run_optimizer(torch, name, kw) for name, kw in C.OPTIMIZER_CASES},
        "optimizers_float32": {C.case_id(name, kw): C.run_optimizer(torch, name, kw, dtype="float32")
                               for name, kw in C.OPTIMIZER_CASES[::3]},
        "lbfgs": {C.case_id("LBFGS", kw): C.run_lbfgs(torch, kw) for kw in C.LBFGS_CASES},
        "schedulers": {C.sched_case_id(case): C.run_scheduler(torch, case) for case in C.SCHEDULER_CASES},
    }
    tmp = OUT + ".tmp"
    with open(tmp, "w") as f:
        json.dump(golden, f, indent=0, sort_keys=True)
    os.replace(tmp, OUT)
    print(f"wrote {OUT}: {len(golden['optimizers'])} optimizer, {len(golden['lbfgs'])} LBFGS and "
          f"{len(golden['schedulers'])} scheduler cases")


if __name__ == "__main__":
    main()
