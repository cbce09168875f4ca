"""Depthwise convolutions (groups = input channels; rust/nn/conv_depthwise.rs) beside PyTorch,
in one run, float32 on the CPU: MobileNet-style planes from 112 x 112 to 7 x 7, strides 1 and 2,
kernels 3 and 5, dilation, a channel multiplier of 2 and a Conv1d, eval forward under no_grad
and a train step (forward, .sum(), backward for input, weight and bias).

    PYTHONPATH=python /path/to/torch/venv/bin/python bench/bench_depthwise.py [--runs 7]

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

# (input shape, out channels, kernel, stride, padding, dilation)
SHAPES = [
    ((8, 32, 112, 112), 32, 3, 1, 1, 1),
    ((16, 128, 56, 56), 128, 3, 1, 1, 1),
    ((16, 128, 56, 56), 128, 3, 2, 1, 1),
    ((32, 64, 32, 32), 64, 3, 1, 1, 1),
    ((32, 64, 32, 32), 128, 3, 1, 1, 1),
    ((32, 64, 32, 32), 64, 3, 1, 2, 2),
    ((32, 96, 28, 28), 96, 5, 1, 2, 1),
    ((32, 256, 14, 14), 256, 3, 1, 1, 1),
    ((32, 256, 14, 14), 256, 3, 2, 1, 1),
    ((64, 512, 7, 7), 512, 3, 1, 1, 1),
    ((32, 64, 256), 64, 3, 1, 1, 1),
]


def case(m, shape, o, k, stride, padding, dilation, train):
    rng = np.random.default_rng(0)
    x = m.from_numpy(rng.standard_normal(shape).astype(np.float32)).requires_grad_(train)
    m.manual_seed(0)
    conv = (m.nn.Conv1d if len(shape) == 3 else m.nn.Conv2d)(shape[1], o, k, stride=stride, padding=padding, dilation=dilation, groups=shape[1])

    def step():
        if train:
            x.grad = conv.weight.grad = conv.bias.grad = None
            conv(x).sum().backward()
        else:
            with m.no_grad():
                conv(x)
    return step


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--pause", type=float, default=0.01)
    args = ap.parse_args()
    libs = {"fg": fg} | ({"torch": torch} if torch else {})
    print(f"ferrograd {fg.__version__}, {fg.get_num_threads()} threads" + (f"; torch {torch.__version__}, {torch.get_num_threads()} threads" if torch else ""))
    for train in (False, True):
        for shape, o, k, s, p, d in SHAPES:
            steps = {n: case(m, shape, o, k, s, p, d, train) for n, m in libs.items()}
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
            name = f"{'train' if train else 'eval'} {'x'.join(map(str, shape))} -> {o}, k{k} s{s} d{d}"
            extra = f"  torch {best['torch'] * 1e3:8.3f} ms  fg/torch {best['fg'] / best['torch']:5.2f}x" if torch else ""
            print(f"{name:42s} fg {best['fg'] * 1e3:8.3f} ms{extra}")


if __name__ == "__main__":
    main()
