"""scaled_dot_product_attention: ferrograd's fused kernel (`_core._sdpa`) beside PyTorch's
`F.scaled_dot_product_attention`, in one run, float32 on the CPU.

    PYTHONPATH=python /path/to/torch/venv/bin/python bench/bench_attention.py [--quick]

Prints median times and the ratio ferrograd / PyTorch (below 1: ferrograd is faster) for
forward, causal forward and forward+backward at batch 4, 8 heads, L = S = 1024, head dim 64
(the issue's goal: forward at most 0.8x PyTorch), a family of shapes (L 64 ... 2048, head dim
32/64, and a Transformer layer's d_model 128 / 4 heads at L 64), and peak memory: ferrograd's
tensor memory (fg.max_memory_allocated) and both libraries' peak resident set in a fresh
process per L (peak RSS growth during the call, VmHWM reset through /proc/self/clear_refs),
against the L^2 bytes a materialised float32 score matrix would take.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

import ferrograd as fg
import numpy as np
from ferrograd import _core

try:
    import torch
    import torch.nn.functional as F
except ImportError:  # ferrograd alone
    torch = None


def median_ms(f, repeat):
    f()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        f()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def inputs(B, H, L, D, grad=False):
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal((B, H, L, D)).astype(np.float32) for _ in range(3)]
    f = [fg.tensor(a).requires_grad_(grad) for a in arrays]
    t = [torch.tensor(a, requires_grad=grad) for a in arrays] if torch else None
    return f, t


def row(name, a, b):
    ratio = f"{a / b:6.2f}" if b else "   n/a"
    tb = f"{b:9.2f}" if b else "      n/a"
    print(f"{name:<44} {a:9.2f} {tb} {ratio}")


def time_case(B, H, L, D, repeat, causal=False, backward=False):
    (fq, fk, fv), tt = inputs(B, H, L, D, grad=backward)

    def fg_run():
        out = _core._sdpa(fq, fk, fv, is_causal=causal)
        if backward:
            out.sum().backward()

    def torch_run():
        out = F.scaled_dot_product_attention(*tt, is_causal=causal)
        if backward:
            out.sum().backward()

    if not torch:
        return median_ms(fg_run, repeat), 0.0
    # The libraries take turns, so a slow spell of this shared machine hits both alike rather
    # than one library's whole series; as bench.py's turns, each after a pause (the other's
    # spinning worker threads go idle) and an untimed call.
    fg_run(), torch_run()
    times = ([], [])
    for _ in range(repeat):
        for run, ts in zip((fg_run, torch_run), times):
            time.sleep(0.03)
            run()
            t0 = time.perf_counter()
            run()
            ts.append(time.perf_counter() - t0)
    return statistics.median(times[0]) * 1e3, statistics.median(times[1]) * 1e3


MEMORY_SNIPPET = """
import sys, numpy as np
lib, L = sys.argv[1], int(sys.argv[2])


def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) * 1024


def reset_peak():  # Linux: VmHWM back to the current RSS
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


a = np.random.default_rng(0).standard_normal((1, 1, L, 64)).astype(np.float32)
if lib == "fg":
    import ferrograd as fg
    from ferrograd import _core
    q = fg.tensor(a)
    _core._sdpa(q[:, :, :64], q[:, :, :64], q[:, :, :64])  # warm the pool
    fg.reset_peak_memory_stats(); base = fg.memory_allocated()
    reset_peak(); before = status("VmRSS")
    out = _core._sdpa(q, q, q)
    tensor_peak = fg.max_memory_allocated() - base
else:
    import torch, torch.nn.functional as F
    q = torch.tensor(a)
    F.scaled_dot_product_attention(q[:, :, :64], q[:, :, :64], q[:, :, :64])
    reset_peak(); before = status("VmRSS")
    out = F.scaled_dot_product_attention(q, q, q)
    tensor_peak = -1
print(status("VmHWM") - before, tensor_peak)
"""


def memory(lib, L):
    out = subprocess.run([sys.executable, "-c", MEMORY_SNIPPET, lib, str(L)], capture_output=True, text=True, check=True)
    rss, tensor_peak = out.stdout.split()
    return int(rss), int(tensor_peak)


def product_rate(n=2048, repeat=5):
    """The best float32 GFLOP/s either library reaches on an n^3 matmul here (the machine's
    product rate, against which the FLOP-bound forward goal is checked)."""
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((n, n), np.float32), rng.standard_normal((n, n), np.float32)
    pairs = [(fg.tensor(x), fg.tensor(y))] + ([(torch.tensor(x), torch.tensor(y))] if torch else [])
    return max(2 * n**3 / (min(median_ms(lambda a=a, b=b: a @ b, 1) for _ in range(repeat)) / 1e3) / 1e9 for a, b in pairs)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="fewer repeats and shapes")
    ap.add_argument("--json", help="write the figures here")
    args = ap.parse_args()
    rep = 3 if args.quick else 7
    figures = {}
    print(f"threads: ferrograd {fg.get_num_threads()}, torch {torch.get_num_threads() if torch else '-'}")
    print(f"{'case (float32, ms, median)':<44} {'ferrograd':>9} {'torch':>9} {'ratio':>6}")
    for name, kw in [("fwd B4 H8 L1024 D64", {}), ("fwd causal B4 H8 L1024 D64", dict(causal=True)),
                     ("fwd+bwd B4 H8 L1024 D64", dict(backward=True))]:
        a, b = time_case(4, 8, 1024, 64, rep, **kw)
        row(name, a, b)
        figures[name] = (a, b)
        if name == "fwd B4 H8 L1024 D64" and b:
            # Q K^T and P V are 4 B H L S D flops: how close each library comes to the machine's
            # product rate, and what the 0.8x goal would need.
            flop, rate = 4 * 4 * 8 * 1024 * 1024 * 64 / 1e9, product_rate()
            print(f"  ({flop:.1f} GFLOP of products: ferrograd {flop / a * 1e3:.0f}, torch {flop / b * 1e3:.0f} GFLOP/s; "
                  f"0.8x torch needs {flop / (0.8 * b) * 1e3:.0f}; a 2048^3 matmul here reaches {rate:.0f})")
    Ls = [64, 256, 1024] if args.quick else [64, 256, 1024, 2048]
    for D in (32, 64):
        for L in Ls:
            B = max(1, 4096 // L)
            name = f"fwd B{B} H8 L{L} D{D}"
            a, b = time_case(B, 8, L, D, rep)
            row(name, a, b)
            figures[name] = (a, b)
    for kw, tag in [({}, "fwd"), (dict(backward=True), "fwd+bwd")]:
        name = f"{tag} B32 H4 L64 D32 (d_model 128)"
        a, b = time_case(32, 4, 64, 32, rep * 3, **kw)
        row(name, a, b)
        figures[name] = (a, b)
    print()
    print(f"{'peak memory, B1 H1 D64, fresh process':<40} {'fg tensors':>11} {'fg peak RSS':>12} {'torch peak RSS':>15} {'L^2 f32':>10}")
    for L in ([1024, 4096] if args.quick else [1024, 2048, 4096, 8192]):
        rss_fg, tens = memory("fg", L)
        rss_t = memory("torch", L)[0] if torch else -1
        print(f"{'L = S = ' + str(L):<40} {tens / 2**20:10.2f}M {rss_fg / 2**20:11.1f}M {rss_t / 2**20:14.1f}M {L * L * 4 / 2**20:9.1f}M")
        figures[f"memory L{L}"] = dict(fg_tensor_bytes=tens, fg_rss_bytes=rss_fg, torch_rss_bytes=rss_t)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(figures, f, indent=1)


if __name__ == "__main__":
    main()
