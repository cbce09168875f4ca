"""F.grid_sample bilinear on 4-D input (rust/nn/grid_sample.rs) beside PyTorch, in one run,
float32 on the CPU: a spatial transformer's 64 channels at 32 x 32, RGB images at 224 x 224,
16 channels at 28 x 28, and 256 channels of 14 x 14 upsampled to 56 x 56 (a flow warp), each
with zeros and border padding; forward under no_grad, and forward + backward for the input and
the grid.

    PYTHONPATH=python /path/to/torch/venv/bin/python bench/bench_grid_sample.py [--runs 7]

Each row is the best of `--runs` calls per library, taking turns with a pause (bench_ops.py's
`compare`), worst ratio first; the ratio is ferrograd / PyTorch (below 1: ferrograd is faster).
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_ops import compare  # noqa: E402  (bench/ is not a package)

# (input shape, output height and width)
SHAPES = [((16, 64, 32, 32), (32, 32)), ((4, 3, 224, 224), (224, 224)), ((64, 16, 28, 28), (28, 28)), ((2, 256, 14, 14), (56, 56))]


def case(m, shape, out_hw, padding_mode, train):
    rng = np.random.default_rng(0)
    x = m.from_numpy(rng.standard_normal(shape).astype(np.float32)).requires_grad_(train)
    # points spread over the input and a little beyond it (padding matters there)
    grid = m.from_numpy((rng.random((shape[0], *out_hw, 2)) * 2.2 - 1.1).astype(np.float32)).requires_grad_(train)
    F = m.nn.functional

    def step():
        if train:
            x.grad = grid.grad = None
            F.grid_sample(x, grid, padding_mode=padding_mode, align_corners=False).sum().backward()
        else:
            with m.no_grad():
                F.grid_sample(x, grid, padding_mode=padding_mode, align_corners=False)
    return step


def cases(m):
    """{name: zero-arg step} for library `m`, every shape, padding and mode."""
    return {
        f"{'train' if train else 'eval'} {'x'.join(map(str, shape))} -> {hw[0]}x{hw[1]} {pm}": case(m, shape, hw, pm, train)
        for train in (False, True) for shape, hw in SHAPES for pm in ("zeros", "border")
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--pause", type=float, default=0.01)
    args = ap.parse_args()
    compare(cases, args.runs, args.pause, grad=True, what="cases")


if __name__ == "__main__":
    main()
