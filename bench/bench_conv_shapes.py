"""Convolutions off ResNet's beaten path beside PyTorch, in one run, float32 on the CPU: dilated
3x3 (DeepLab-style dilations 2 to 6, maps from 17 x 17 to 56 x 56), grouped (ResNeXt-style, 2 to
32 groups of 8 to 128 channels) and transposed (stride 2 upsampling, 4 x 4 and 3 x 3 kernels, and
stride 1). Each is timed as a train step: forward, .sum(), backward for input, weight and bias.
bench_depthwise.py has the depthwise family.

    PYTHONPATH=python /path/to/torch/venv/bin/python bench/bench_conv_shapes.py [--runs 7]

Each row is the best of `--runs` calls per library, taking turns with a pause as bench_ops.py
does, sorted worst ratio first; the ratio is ferrograd / PyTorch (below 1: ferrograd is faster).
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_ops import compare  # noqa: E402  (bench/ is not a package)

# (kind, input shape, out channels, kernel, stride, padding, dilation, groups)
SHAPES = [
    ("dilated", (32, 64, 32, 32), 64, 3, 1, 2, 2, 1),
    ("dilated", (8, 64, 56, 56), 64, 3, 1, 2, 2, 1),
    ("dilated", (8, 128, 28, 28), 128, 3, 1, 4, 4, 1),
    ("dilated", (4, 256, 33, 33), 256, 3, 1, 6, 6, 1),
    ("dilated", (16, 32, 17, 17), 32, 3, 1, 3, 3, 1),
    ("grouped", (32, 64, 32, 32), 64, 3, 1, 1, 1, 8),
    ("grouped", (32, 64, 32, 32), 64, 3, 1, 1, 1, 2),
    ("grouped", (16, 128, 28, 28), 128, 3, 1, 1, 1, 4),
    ("grouped", (16, 256, 14, 14), 256, 3, 1, 1, 1, 32),
    ("grouped", (16, 256, 28, 28), 256, 3, 2, 1, 1, 32),
    ("grouped", (8, 512, 14, 14), 512, 3, 1, 1, 1, 32),
    ("grouped", (8, 1024, 7, 7), 1024, 3, 1, 1, 1, 32),
    ("grouped", (8, 256, 28, 28), 256, 3, 1, 1, 1, 2),
    ("transposed", (32, 64, 32, 32), 32, 4, 2, 1, 1, 1),
    ("transposed", (16, 128, 16, 16), 64, 4, 2, 1, 1, 1),
    ("transposed", (8, 256, 8, 8), 128, 4, 2, 1, 1, 1),
    ("transposed", (16, 64, 28, 28), 64, 3, 2, 1, 1, 1),
    ("transposed", (16, 64, 32, 32), 64, 3, 1, 1, 1, 1),
]


def cases(m):
    """{name: zero-arg train step} for library `m`, on the same values."""
    rng = np.random.default_rng(0)
    m.manual_seed(0)
    steps = {}
    for kind, shape, o, k, stride, padding, dilation, groups in SHAPES:
        x = m.from_numpy(rng.standard_normal(shape).astype(np.float32)).requires_grad_(True)
        layer = m.nn.ConvTranspose2d if kind == "transposed" else m.nn.Conv2d
        conv = layer(shape[1], o, k, stride=stride, padding=padding, dilation=dilation, groups=groups)

        def step(x=x, conv=conv):
            x.grad = conv.weight.grad = conv.bias.grad = None
            conv(x).sum().backward()
        steps[f"{kind} {'x'.join(map(str, shape))} -> {o}, k{k} s{stride} d{dilation} g{groups}"] = step
    return steps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--pause", type=float, default=0.01, help="seconds between one library's turn and the next's")
    args = ap.parse_args()
    compare(cases, args.runs, args.pause, grad=True, what="convolutions")


if __name__ == "__main__":
    main()
