"""Regenerates tests/golden/grid_golden.json from PyTorch (needs torch; CI does not run this).

    cd /work/main && PYTHONPATH=python /tmp/torchvenv/bin/python tests/golden/make_grid_golden.py

Records torch.linspace (float32 and float64), F.affine_grid at the identity theta, and the
identity STN's theta gradient for tests/test_grid_golden.py's cases. float32 values are stored as
the float64 numbers they are, so they read back exactly.
"""

from __future__ import annotations

import json
import os
import sys
import warnings

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
from test_grid_golden import GOLDEN_PATH, GRIDS, LINSPACE, STN, grid_key, identity_theta, linspace_key, stn_theta_grad  # noqa: E402


def main() -> None:
    golden = {"linspace": {}, "grid": {}, "stn": {}}
    for start, end, steps in LINSPACE:
        for dtype in ("float32", "float64"):
            values = torch.linspace(start, end, steps, dtype=getattr(torch, dtype))
            golden["linspace"][linspace_key(start, end, steps, dtype)] = values.double().tolist()
    for size, ac in GRIDS:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            grid = torch.nn.functional.affine_grid(torch.tensor(identity_theta(len(size) - 2)), list(size), align_corners=ac)
        golden["grid"][grid_key(size, ac)] = grid.double().tolist()
    for shape, ac in STN:
        golden["stn"][grid_key(shape, ac)] = stn_theta_grad(torch, shape, ac).astype(float).tolist()
    golden["_meta"] = {"torch": torch.__version__}
    with open(GOLDEN_PATH, "w") as f:
        json.dump(golden, f, indent=0)
        f.write("\n")


if __name__ == "__main__":
    main()
