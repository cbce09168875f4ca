"""Pointwise ops across sizes: where work is split across threads, and whether that pays.

    PYTHONPATH=python /path/to/torch/venv/bin/python bench/bench_sizes.py [--runs 15]

The SIMD issue asks for parallel granularity chosen by measured cost, not a fixed grain.
PyTorch (and ferrograd until then) split pointwise work at 32768 elements whatever it costs: an
add of 32K elements takes about as long as handing half of it to another thread, while GELU's
exact form of 16K elements, several times as long, stayed on one thread. This times cheap and
costly pointwise ops (add, scale, exp, sigmoid, tanh, exact GELU, GELU's backward) on float32
tensors of 2K to 1M elements, ferrograd beside PyTorch in one run, and prints median
microseconds per call and the ratio fg / torch per size, then the geometric mean of each op's
ratios. Calls run back to back in loops of 50, as a model's ops do (after a pause, either
library's first call waits for its threads to wake, on this VM up to milliseconds, which would
drown what is measured here); the libraries take turns loop by loop, with a pause and a few
untimed calls before each loop. Run it at 1 thread too
(RAYON_NUM_THREADS=1 and --threads 1) to see what splitting buys.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import statistics
import time

import ferrograd as fg
import numpy as np

try:
    import torch
except ImportError:  # ferrograd alone
    torch = None

SIZES = [2048, 4096, 8192, 16384, 32768, 65536, 131072, 1 << 20]


def ops(m):
    """{name: f(x, g) -> tensor} for library `m`: x the input, g a gradient of x's shape."""
    F = m.nn.functional
    return {
        "add": lambda x, g: x + g,
        "x * 2": lambda x, g: x * 2.0,
        "exp": lambda x, g: m.exp(x),
        "sigmoid": lambda x, g: m.sigmoid(x),
        "tanh": lambda x, g: m.tanh(x),
        "GELU": lambda x, g: F.gelu(x),
        "GELU backward": None,  # below: through autograd
    }


def gelu_backward(m, x, g):
    """GELU's backward alone: the graph is built once, each call runs backward through it."""
    leaf = x.detach().clone().requires_grad_(True)
    y = m.nn.functional.gelu(leaf)
    return lambda: m.autograd.grad(y, leaf, g, retain_graph=True)


def loop_times(fns: dict, runs: int, calls: int = 50, pause: float = 0.03) -> dict:
    """{lib: [seconds per call of each of `runs` loops of `calls` back-to-back calls]}, the
    libraries taking turns loop by loop. Before each loop: a pause, so the other library's
    threads stop spinning (OpenMP's spin after work and took the second core from the next
    library's helpers), then five untimed calls to wake this library's threads."""
    times = {lib: [] for lib in fns}
    for _ in range(runs):
        for lib, fn in fns.items():
            time.sleep(pause)
            for _ in range(5):
                fn()
            t0 = time.perf_counter()
            for _ in range(calls):
                fn()
            times[lib].append((time.perf_counter() - t0) / calls)
    return times


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=15, help="timed loops of 50 calls per library")
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (ferrograd: set RAYON_NUM_THREADS)")
    args = ap.parse_args()
    if torch is not None and args.threads:
        torch.set_num_threads(args.threads)
    print(f"threads: ferrograd {fg.get_num_threads()}" + (f", torch {torch.get_num_threads()}" if torch else ""))
    rng = np.random.default_rng(0)
    libs = {"fg": fg} | ({"torch": torch} if torch else {})
    ratios = {}
    print(f"{'op':<14} {'elements':>9} {'fg us':>9} {'torch us':>9} {'ratio':>6}")
    for name in ops(fg):
        for n in SIZES:
            x, g = rng.standard_normal(n, np.float32), rng.standard_normal(n, np.float32)
            fns = {}
            for lib, m in libs.items():
                xt, gt = m.from_numpy(x.copy()), m.from_numpy(g.copy())
                if name == "GELU backward":
                    fns[lib] = gelu_backward(m, xt, gt)
                else:
                    fns[lib] = (lambda f=ops(m)[name], xt=xt, gt=gt: f(xt, gt))
            # Forward ops under no_grad (no graph to record); the backward row needs grad mode.
            with contextlib.ExitStack() as stack:
                if name != "GELU backward":
                    for m in libs.values():
                        stack.enter_context(m.no_grad())
                times = loop_times(fns, args.runs)
            us = {lib: statistics.median(ts) * 1e6 for lib, ts in times.items()}
            r = us["fg"] / us["torch"] if "torch" in us else None
            if r is not None:
                ratios.setdefault(name, []).append(r)
            tcol = f"{us['torch']:9.1f}" if "torch" in us else f"{'-':>9}"
            print(f"{name:<14} {n:>9} {us['fg']:9.1f} {tcol} {r:6.2f}" if r else f"{name:<14} {n:>9} {us['fg']:9.1f} {tcol}")
    if ratios:
        print("geometric mean of fg/torch over the sizes:")
        for name, rs in ratios.items():
            print(f"  {name:<14} {math.exp(sum(map(math.log, rs)) / len(rs)):.2f}x")


if __name__ == "__main__":
    main()
