"""Convolutions off ResNet's beaten path beside PyTorch, in one run, float32 on the CPU: dilated
3x3 (DeepLab-style dilations 2 to 6, maps from 17 x 17 to 56 x 56), grouped (ResNeXt-style, 2 to
32 groups of 4 to 32 channels) and transposed (stride 2 upsampling, 4 x 4 and 3 x 3 kernels, and
stride 1). Each is timed as a train step: forward, .sum(), backward for input, weight and bias.
bench_depthwise.py has the depthwise family.

    PYTHONPATH=python /path/to/torch/venv/bin/python bench/bench_conv_shapes.py [--runs 7]

Each row is the best of `--runs` calls per library, taking turns with a pause as bench_ops.py
does; the ratio is ferrograd / PyTorch (below 1: ferrograd is faster).
"""

from __future__ import annotations

import argparse
import time

import ferrograd as fg
import numpy as np

try:
    import torch
except ImportError:  # ferrograd's times alone
    torch = None

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
    ("transposed", (32, 64, 32, 32), 32, 4, 2, 1, 1, 1),
    ("transposed", (16, 128, 16, 16), 64, 4, 2, 1, 1, 1),
    ("transposed", (8, 256, 8, 8), 128, 4, 2, 1, 1, 1),
    ("transposed", (16, 64, 28, 28), 64, 3, 2, 1, 1, 1),
    ("transposed", (16, 64, 32, 32), 64, 3, 1, 1, 1, 1),
]


def case(m, kind, shape, o, k, stride, padding, dilation, groups):
    rng = np.random.default_rng(0)
    x = m.from_numpy(rng.standard_normal(shape).astype(np.float32)).requires_grad_(True)
    m.manual_seed(0)
    layer = m.nn.ConvTranspose2d if kind == "transposed" else m.nn.Conv2d
    conv = layer(shape[1], o, k, stride=stride, padding=padding, dilation=dilation, groups=groups)

    def step():
        x.grad = conv.weight.grad = conv.bias.grad = None
        conv(x).sum().backward()
    return step


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--pause", type=float, default=0.01)
    args = ap.parse_args()
    libs = {"fg": fg} | ({"torch": torch} if torch else {})
    print(f"ferrograd {fg.__version__}, {fg.get_num_threads()} threads" + (f"; torch {torch.__version__}, {torch.get_num_threads()} threads" if torch else ""))
    for kind, shape, o, k, s, p, d, g in SHAPES:
        steps = {n: case(m, kind, shape, o, k, s, p, d, g) for n, m in libs.items()}
        best = {}
        for n, f in steps.items():
            f()
            best[n] = float("inf")
        for _ in range(args.runs):
            for n, f in steps.items():
                time.sleep(args.pause)
                f()
                t0 = time.perf_counter()
                f()
                best[n] = min(best[n], time.perf_counter() - t0)
        name = f"{kind} {'x'.join(map(str, shape))} -> {o}, k{k} s{s} d{d} g{g}"
        extra = f"  torch {best['torch'] * 1e3:8.3f} ms  fg/torch {best['fg'] / best['torch']:5.2f}x" if torch else ""
        print(f"{name:46s} fg {best['fg'] * 1e3:8.3f} ms{extra}")


if __name__ == "__main__":
    main()
