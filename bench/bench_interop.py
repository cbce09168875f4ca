"""Zero-copy interop figures: `from_numpy` + `.numpy()` on a 40 MB float32 array, and the DLPack
round trip, ferrograd beside PyTorch in one run.

    PYTHONPATH=python /tmp/torchvenv/bin/python bench/bench_interop.py   # with torch: the ratio
    .venv/bin/python bench/bench_interop.py                              # ferrograd alone

Each row is the median of `--repeat` timings of `--number` calls. A copy of 40 MB costs
milliseconds; sharing costs the wrapper objects only (microseconds), whatever the size.
"""

from __future__ import annotations

import argparse
import statistics
import timeit

import ferrograd as fg
import numpy as np

try:
    import torch
except ImportError:  # ferrograd's own venv has no torch: its column is left out
    torch = None


def median_us(fn, number: int, repeat: int) -> float:
    times = timeit.repeat(fn, number=number, repeat=repeat)
    return statistics.median(times) / number * 1e6


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--mb", type=float, default=40.0, help="array size in MB (float32)")
    p.add_argument("--number", type=int, default=20)
    p.add_argument("--repeat", type=int, default=7)
    args = p.parse_args()

    a = np.random.default_rng(0).standard_normal(int(args.mb * 2**20 / 4), dtype=np.float32)
    rows = {
        "from_numpy + .numpy()": {
            "fg": lambda: fg.from_numpy(a).numpy(),
            "torch": (lambda: torch.from_numpy(a).numpy()) if torch else None,
        },
        "from_numpy": {"fg": lambda: fg.from_numpy(a), "torch": (lambda: torch.from_numpy(a)) if torch else None},
        "np.from_dlpack(from_dlpack(a))": {
            "fg": lambda: np.from_dlpack(fg.from_dlpack(a)),
            "torch": (lambda: np.from_dlpack(torch.from_dlpack(a))) if torch else None,
        },
    }
    # Sharing, checked before timing: a write through the tensor shows in the array.
    t = fg.from_numpy(a)
    shared = np.shares_memory(t.numpy(), a)
    print(f"{args.mb:g} MB float32; fg.from_numpy(a).numpy() shares a's memory: {shared}")
    print(f"{'row':34s} {'ferrograd us':>13s} {'torch us':>10s} {'fg/torch':>9s}")
    for name, fns in rows.items():
        if "dlpack" in name and not hasattr(fg, "from_dlpack"):  # a build from before DLPack
            continue
        fg_us = median_us(fns["fg"], args.number, args.repeat)
        if fns["torch"] is None:
            print(f"{name:34s} {fg_us:13.2f} {'-':>10s} {'-':>9s}")
            continue
        th_us = median_us(fns["torch"], args.number, args.repeat)
        print(f"{name:34s} {fg_us:13.2f} {th_us:10.2f} {fg_us / th_us:9.2f}")


if __name__ == "__main__":
    main()
