"""The goals of `bench.py` over several runs: each goal's median ratio, its range, and how many
runs met it, per thread count. The issues ask for medians and ranges, and one run of a
memory-bound row on this shared 2-core machine can swing by a fifth either way.

    PYTHONPATH=python /tmp/torchvenv/bin/python bench/goals.py --runs 3 --threads 2,1 transcendental conv

Each run is a fresh `bench.py` process (sections as named, or all), so one run's warm caches or
allocator state do not carry into the next. The runs' full outputs go to `--log` (appended), and
the summary is printed at the end:

    2 threads, 3 runs
      GELU 4M  fg/torch  median 0.84x  (0.79-0.92)  met 1 of 3  (goal <= 0.8x)
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys

# A goal line of bench.py: "OK   softmax 4096 x 1024, last dim: fg/torch 0.76x (goal <= 0.8x)",
# or "MISS Conv2d train steps: fg/torch geometric mean 0.82x over 8 shapes (...) (goal <= 0.8x)".
# Goals without a ratio ("OK   MLP loop RSS growth 0.4 MiB (goal: flat, < 5 MiB)") are kept by
# their verdict alone.
VERDICT = re.compile(r"^(OK  |MISS) (?P<rest>.+)$")
RATIO = re.compile(r"^(?P<name>.+?): (?P<what>fg/\w+)\D*?(?P<ratio>\d+\.\d+)x.*\(goal (?P<goal>[<>]= [\d.]+x?[^)]*)\)")


def parse(output: str) -> dict:
    """{(goal name, what it compares): (ratio or None, goal text, met)} of every goal line in one
    run's output. A name can carry two goals (matmul: fg/numpy and fg/torch), hence the pair."""
    found = {}
    for line in output.splitlines():
        v = VERDICT.match(line)
        if not v:
            continue
        met, rest = v[1] == "OK  ", v["rest"]
        m = RATIO.match(rest)
        if m:
            found[(m["name"], m["what"])] = (float(m["ratio"]), m["goal"], met)
        else:
            found[(rest.split(":")[0].split(" (goal")[0], "")] = (None, rest[rest.find("(goal"):] if "(goal" in rest else "", met)
    return found


def summarise(runs: list[dict]) -> list[str]:
    """One line per goal, in the order the first run listed them: median ratio, range and how
    many runs met it (goals without a ratio: how many met it)."""
    keys = list(dict.fromkeys(k for r in runs for k in r))
    width = max((len(k[0]) for k in keys), default=0)
    lines = []
    for key in keys:
        seen = [r[key] for r in runs if key in r]
        met = sum(s[2] for s in seen)
        name, what = key[0].ljust(width), key[1] or "".ljust(8)
        ratios = [s[0] for s in seen if s[0] is not None]
        spread = (f"median {statistics.median(ratios):.2f}x  ({min(ratios):.2f}-{max(ratios):.2f})"
                  if ratios else "".ljust(26))
        lines.append(f"  {name}  {what}  {spread}  met {met} of {len(seen)}  {seen[0][1]}".rstrip())
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("sections", nargs="*", help="bench.py sections (default: all)")
    ap.add_argument("--runs", type=int, default=3, help="fresh bench.py processes per thread count")
    ap.add_argument("--threads", default="2,1", help="thread counts to run at, comma-separated")
    ap.add_argument("--bench-runs", type=int, default=10, help="bench.py's own --runs (turns per library; its default)")
    ap.add_argument("--log", default="bench-goals.log", help="file the runs' full outputs are appended to")
    args = ap.parse_args()
    try:
        threads_list = [int(t) for t in args.threads.split(",")]
    except ValueError:
        ap.error(f"--threads takes comma-separated counts (2,1), not {args.threads!r}")
    if args.runs < 1 or any(t < 1 for t in threads_list):
        ap.error("--runs and --threads must be at least 1")
    bench = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bench.py")
    report = []
    with open(args.log, "a") as log:
        for threads in threads_list:
            runs = []
            for k in range(args.runs):
                cmd = [sys.executable, bench, *args.sections, "--threads", str(threads), "--runs", str(args.bench_runs)]
                print(f"{threads} threads, run {k + 1} of {args.runs}", file=sys.stderr, flush=True)
                done = subprocess.run(cmd, capture_output=True, text=True)
                log.write(f"\n### {' '.join(cmd)} (exit {done.returncode})\n{done.stdout}{done.stderr}")
                log.flush()
                if done.returncode != 0:  # what finished is still worth printing
                    print("\n".join(report + [f"{threads} threads: {len(runs)} runs", *summarise(runs)]))
                    sys.exit(f"bench.py failed (exit {done.returncode}); its output is in {args.log}")
                runs.append(parse(done.stdout))
            report += [f"{threads} thread{'s' if threads > 1 else ''}, {args.runs} runs", *summarise(runs)]
    print("\n".join(report))


if __name__ == "__main__":
    main()
