"""ferrograd benchmarks, side by side with numpy and (when importable) PyTorch.

    make bench                                                   # .venv: ferrograd and numpy
    PYTHONPATH=python /tmp/torchvenv/bin/python bench/bench.py   # a venv with torch: all three

Every section is a function taking the parsed args and returning a `Bench` table; add a new
one (BatchNorm, Dropout, MLP/CNN training steps, ...) by writing it and listing it in SECTIONS.
ferrograd and PyTorch share an API, so most sections are written once over `lib` (fg or torch).
Thread-count environment variables (OPENBLAS_*, OMP_*, RAYON_*) are left as the caller set them,
unless `--threads N` sets them all to N (the script then restarts itself: ferrograd's pool is sized
as it starts).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import resource
import statistics
import sys
import time
import timeit
import warnings

import ferrograd as fg
import numpy as np

# The eval benchmarks run freshly built models: their BatchNorm statistics were never updated,
# which ferrograd rightly warns about; timing does not care.
warnings.filterwarnings("ignore", category=fg.nn.utils.ModeWarning)

try:
    import torch
except ImportError:  # the .venv has no torch: its columns are left out
    torch = None

LIBS = ("fg", "numpy", "torch") if torch is not None else ("fg", "numpy")
GOALS: list[str] = []  # lines for the closing summary, filled in by the sections


class Bench:
    """A table of rows (name, unit, one value per library) with fg/other ratio columns."""

    def __init__(self, title: str):
        self.title, self.rows = title, []

    def add(self, name: str, unit: str, **values):
        """values: fg=..., numpy=..., torch=... (None or missing: not measured)."""
        self.rows.append((name, unit, {k: values.get(k) for k in LIBS}))
        return values

    def render(self) -> str:
        others = [k for k in LIBS if k != "fg"]
        head = ["", "unit", *LIBS, *(f"fg/{k}" for k in others)]
        lines = []
        for name, unit, v in self.rows:
            cells = [name, unit, *(_fmt(v[k]) for k in LIBS)]
            for k in others:
                ok = v["fg"] is not None and v[k] not in (None, 0)
                cells.append(f"{_mid(v['fg']) / _mid(v[k]):.2f}x" if ok else "-")
            lines.append(cells)
        widths = [max(len(str(r[i])) for r in [head, *lines]) for i in range(len(head))]
        out = [f"== {self.title} =="]
        for r in [head, *lines]:
            out.append("  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in enumerate(zip(r, widths))))
        return "\n".join(out)


def _fmt(x) -> str:
    if x is None:
        return "-"
    if isinstance(x, tuple):  # (median, min, max)
        return f"{_fmt(x[0])} ({_fmt(x[1])}-{_fmt(x[2])})"
    return f"{x:.0f}" if abs(x) >= 100 else f"{x:.3g}" if abs(x) >= 1 else f"{x:.3f}"


def _mid(x):
    """A table value's middle: the median of a (median, min, max) cell, else the value itself."""
    return x[0] if isinstance(x, tuple) else x


def best_times(fns: dict, runs: int, warmup: int = 2, pause: float = 0.03) -> dict:
    """Best wall time in seconds of each zero-arg callable in fns ({lib: fn}) over `runs` turns."""
    return {lib: min(ts) for lib, ts in turn_times(fns, runs, warmup, pause).items()}


def median_times(fns: dict, runs: int, warmup: int = 2, pause: float = 0.03) -> dict:
    """(median, min, max) wall time in seconds of each callable over `runs` turns, as the issues'
    goals ask for medians and the range rather than the best time."""
    return {lib: (statistics.median(ts), min(ts), max(ts)) for lib, ts in turn_times(fns, runs, warmup, pause).items()}


def scaled(times: dict, factor: float) -> dict:
    """median_times' (median, min, max) per library, each multiplied by factor (1e3: ms)."""
    return {lib: tuple(x * factor for x in ts) for lib, ts in times.items()}


# Untimed work at the start of each turn (see turn_times).
WARM_S = 0.002


def turn_times(fns: dict, runs: int, warmup: int = 2, pause: float = 0.03) -> dict:
    """Wall times in seconds ({lib: [2 * runs times]}) of each zero-arg callable in fns ({lib: fn})
    over `runs` turns of two calls each. The libraries take turns, so a slow spell of this (shared,
    virtual) machine hits them all alike rather than one library's whole series; the pause before
    each turn lets the previous library's worker threads (OpenBLAS, OpenMP and rayon spin a while
    after work) go idle instead of competing for the cores.

    Each turn starts with untimed calls, at least one and until WARM_S of the library's own
    work has passed: after the pause the cores sit idle and both libraries' first calls pay for
    waking them and their memory, while a training loop runs its ops back to back. An MLP step
    measured 1.7 ms cold against 0.9 ms warm for ferrograd, 2.7 against 1.3 ms for PyTorch; a
    BatchNorm2d eval forward (64 x 32 x 28 x 28, 1 thread) took 0.77, 0.45, 0.31, 0.27, 0.23 and
    0.21 ms over the six calls after a pause for ferrograd and 0.84, 0.50, 0.41, 0.38, 0.35 and
    0.35 for PyTorch, so one untimed call left sub-millisecond rows timing the machine's recovery
    (2 ms of busy-waiting in Python first did not shorten it; running the op did)."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times = {lib: [] for lib in fns}
    for _ in range(runs):
        for lib, fn in fns.items():
            time.sleep(pause)
            spent, calls = 0.0, 0
            while calls < 1 or (spent < WARM_S and calls < 50):
                t0 = time.perf_counter()
                fn()
                spent, calls = spent + time.perf_counter() - t0, calls + 1
            for _ in range(2):
                t0 = time.perf_counter()
                fn()
                times[lib].append(time.perf_counter() - t0)
    return times


def ns_per_op(stmts: dict, repeat: int) -> dict:
    """Median over `repeat` timeit repeats of each statement in stmts ({lib: (stmt, globals)}), in
    ns per execution (gc off, as timeit does). Libraries take turns repeat by repeat, as above."""
    timers, loops, ts = {}, {}, {lib: [] for lib in stmts}
    for lib, (stmt, env) in stmts.items():
        timers[lib] = timeit.Timer(stmt, globals=env)
        loops[lib] = max(1000, timers[lib].autorange()[0] // 20)  # ~10 ms per repeat
    for _ in range(repeat):
        for lib, t in timers.items():
            ts[lib].append(t.timeit(loops[lib]) / loops[lib] * 1e9)
    return {lib: statistics.median(v) for lib, v in ts.items()}


def to_lib(lib, arr: np.ndarray):
    """A numpy array as a tensor of lib (numpy itself: a copy)."""
    if lib == "numpy":
        return arr.copy()
    return (fg if lib == "fg" else torch).from_numpy(arr.copy())


def libmod(lib):
    return {"fg": fg, "torch": torch}[lib]


def cpu_snapshot() -> tuple[float, float, float, float]:
    """(steal, busy, total, own) CPU seconds: steal is time the hypervisor gave to other guests,
    busy is all non-idle time on the machine, own is this process's."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:9]]
    tck, t = os.sysconf("SC_CLK_TCK"), os.times()
    return v[7] / tck, (sum(v) - v[3] - v[4] - v[7]) / tck, sum(v) / tck, t.user + t.system


def load_note(before, after) -> str:
    """How much of the machine went to others while a section ran: other processes here (a build,
    tests) and other guests (steal). Above a few %, the numbers are not comparable: rerun."""
    d = [y - x for x, y in zip(before, after)]
    steal, others = 100 * d[0] / max(d[2], 1e-9), 100 * max(0.0, d[1] - d[3]) / max(d[2], 1e-9)
    warn = ": the machine was busy, rerun to compare" if steal + others >= 5 else ""
    return f"other processes {others:.0f}% of CPU, steal {steal:.0f}%{warn}"


def threads_label() -> str:
    """The thread counts the libraries run on, for table titles and goal lines."""
    def count(n):
        return f"{n} thread{'s' if n != 1 else ''}"
    n, t = fg.get_num_threads(), torch.get_num_threads() if torch is not None else None
    return count(n) if t in (None, n) else f"fg {count(n)}, torch {count(t)}"


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


# --------------------------------------------------------------------------- sections


def per_op_overhead(args) -> Bench:
    b = Bench("per-op overhead, 1-element float32 (median of timeit repeats; lower is better)")
    one = np.ones(1, np.float32)
    res = {}
    for case, stmt, rg in [("a + b", "a + b", False), ("a + b, a.requires_grad", "a + b", True),
                           ("a.numel() (binding baseline)", "a.numel()", False)]:
        stmts = {}
        for lib in LIBS:
            if rg and lib == "numpy":
                continue
            a, bb = to_lib(lib, one), to_lib(lib, one)
            if rg:
                a.requires_grad_(True)
            s = "a.size" if (lib == "numpy" and stmt == "a.numel()") else stmt  # numpy: a property
            stmts[lib] = (s, {"a": a, "b": bb})
        res[case] = b.add(case, "ns/op", **ns_per_op(stmts, args.repeat))
    # What model code does around the ops: shapes read in every forward, small tensors made.
    x = np.ones((2, 3), np.float32)
    for case, stmt in [("x.shape", "x.shape"), ("x.shape[0]", "x.shape[0]"), ("zeros(2, 3)", "m.zeros(2, 3)"),
                       ("zeros_like(x)", "m.zeros_like(x)"), ("tensor(3.0)", "m.tensor(3.0)"),
                       ("tensor([1.0, 2.0])", "m.tensor([1.0, 2.0])"), ("arange(10)", "m.arange(10)")]:
        stmts = {lib: (stmt, {"x": to_lib(lib, x), "m": libmod(lib)}) for lib in LIBS if lib != "numpy"}
        b.add(case, "ns/op", **ns_per_op(stmts, args.repeat))
    b.add("empty timeit loop (any lib)", "ns/op", fg=ns_per_op({"fg": ("pass", {})}, args.repeat)["fg"])
    if torch is not None:
        for case, limit in [("a + b", 0.2), ("a + b, a.requires_grad", 0.3)]:
            r = res[case]["fg"] / res[case]["torch"]
            GOALS.append(f"{'OK  ' if r <= limit else 'MISS'} {case}: fg/torch {r:.2f}x (goal <= {limit}x)")
    return b


def matmul(args) -> Bench:
    n = args.matmul_n
    b = Bench(f"matmul {n}x{n} @ {n}x{n} float32 (best of {2 * args.runs} calls; higher is better)")
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((n, n), np.float32), rng.standard_normal((n, n), np.float32)
    ops = {lib: (lambda a=to_lib(lib, x), c=to_lib(lib, y): a @ c) for lib in LIBS}
    vals = {lib: 2 * n**3 / t / 1e9 for lib, t in best_times(ops, args.runs).items()}
    b.add("a @ b", "GFLOP/s", **vals)
    for other in LIBS[1:]:
        r = vals["fg"] / vals[other]
        GOALS.append(f"{'OK  ' if r >= 0.85 else 'MISS'} matmul {n}: fg/{other} {r:.2f}x GFLOP/s (goal >= 0.85x)")
    return b


def elementwise_and_reductions(args) -> Bench:
    n = args.big_n
    b = Bench(f"memory-bound ops, float32 (median (min-max) of {2 * args.runs} calls; ms lower is better, GB/s higher)")
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal(n, np.float32), rng.standard_normal(n, np.float32)
    rows, cols = args.softmax_shape
    s = rng.standard_normal((rows, cols), np.float32)
    cases = [  # name, bytes moved, make (lib -> zero-arg callable)
        (f"add {n / 2**20:.0f}M + {n / 2**20:.0f}M", 3 * 4 * n,
         lambda lib: (lambda p=to_lib(lib, x), q=to_lib(lib, y): p + q)),
        (f"add in place, a += b ({n / 2**20:.0f}M)", 3 * 4 * n,  # no new output: kernel w/o page faults
         lambda lib: (lambda p=to_lib(lib, x), q=to_lib(lib, y): p.__iadd__(q))),
        (f"sum {n / 2**20:.0f}M", 4 * n, lambda lib: (lambda p=to_lib(lib, x): p.sum())),
        (f"softmax ({rows}, {cols}), dim=-1", 2 * 4 * rows * cols,
         lambda lib: (lambda p=to_lib(lib, s): np_softmax(p)) if lib == "numpy"
         else (lambda p=to_lib(lib, s): p.softmax(-1))),
    ]
    for name, nbytes, make in cases:
        t = median_times({lib: make(lib) for lib in LIBS}, args.runs)
        b.add(name, "ms", **scaled(t, 1e3))
        # GB/s of the median time, and of the slowest and fastest call
        bw = b.add("", "GB/s", **{k: tuple(nbytes / x / 1e9 for x in (v[0], v[2], v[1])) for k, v in t.items()})
        if name.startswith("add"):
            r = _mid(bw["fg"]) / _mid(bw["numpy"])
            GOALS.append(f"{'OK  ' if r >= 1.0 else 'MISS'} {name}: fg/numpy {r:.2f}x GB/s (goal >= 1.0x)")
    return b


def transcendental(args) -> Bench:
    """Elementwise and row ops on exp/tanh/erf (the SIMD issue's workloads, its shapes), forward
    and forward+backward, beside PyTorch; goal: fg/torch <= 0.8x."""
    b = Bench(f"transcendental ops, float32 (median (min-max) of {2 * args.runs} calls; ms, lower is better)")
    rng = np.random.default_rng(0)
    x = rng.standard_normal(4 * 2**20, np.float32)
    s = rng.standard_normal((4096, 1024), np.float32)
    xl = rng.standard_normal((64, 128, 512), np.float32)
    labels = rng.integers(0, 1024, 4096)
    libs = [lib for lib in LIBS if lib != "numpy"]

    def fwd_bwd(lib, fn, arr):
        def run(t=to_lib(lib, arr).requires_grad_()):
            t.grad = None
            fn(t).sum().backward()
        return run

    cases = [  # name, make (lib, module -> zero-arg callable)
        ("exp 4M", lambda lib, m: (lambda t=to_lib(lib, x): t.exp())),
        ("tanh 4M", lambda lib, m: (lambda t=to_lib(lib, x): t.tanh())),
        ("sigmoid 4M", lambda lib, m: (lambda t=to_lib(lib, x): t.sigmoid())),
        ("SiLU 4M", lambda lib, m: (lambda t=to_lib(lib, x): m.nn.functional.silu(t))),
        ("GELU 4M", lambda lib, m: (lambda t=to_lib(lib, x): m.nn.functional.gelu(t))),
        ("GELU(approximate='tanh') 4M", lambda lib, m: (lambda t=to_lib(lib, x): m.nn.functional.gelu(t, approximate="tanh"))),
        ("GELU 4M forward+backward", lambda lib, m: fwd_bwd(lib, m.nn.functional.gelu, x)),
        # The other activations the SIMD issue names (each was a composition of several passes).
        ("ELU 4M", lambda lib, m: (lambda t=to_lib(lib, x): m.nn.functional.elu(t))),
        ("Softplus 4M", lambda lib, m: (lambda t=to_lib(lib, x): m.nn.functional.softplus(t))),
        ("Mish 4M", lambda lib, m: (lambda t=to_lib(lib, x): m.nn.functional.mish(t))),
        ("Mish 4M forward+backward", lambda lib, m: fwd_bwd(lib, m.nn.functional.mish, x)),
        ("softmax 4096 x 1024, last dim", lambda lib, m: (lambda t=to_lib(lib, s): t.softmax(-1))),
        ("log_softmax 4096 x 1024, last dim", lambda lib, m: (lambda t=to_lib(lib, s): m.nn.functional.log_softmax(t, -1))),
        ("logsumexp 4096 x 1024, last dim", lambda lib, m: (lambda t=to_lib(lib, s): t.logsumexp(-1))),
        ("cross_entropy 4096 x 1024 forward+backward",
         lambda lib, m: fwd_bwd(lib, lambda t, y=to_lib(lib, labels): m.nn.functional.cross_entropy(t, y), s)),
        ("LayerNorm(512) forward+backward, 64 x 128 x 512", lambda lib, m: fwd_bwd(lib, m.nn.LayerNorm(512), xl)),
    ]
    for name, make in cases:
        v = b.add(name, "ms", **scaled(median_times({lib: make(lib, libmod(lib)) for lib in libs}, args.runs), 1e3))
        if "torch" in v:
            r = _mid(v["fg"]) / _mid(v["torch"])
            GOALS.append(f"{'OK  ' if r <= 0.8 else 'MISS'} {name}: fg/torch {r:.2f}x (goal <= 0.8x)")
    return b


def np_softmax(p: np.ndarray) -> np.ndarray:
    e = np.exp(p - p.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def mlp_memory(args) -> Bench:
    """A small MLP trained with manual SGD; RSS must stay flat while the loop runs."""
    b = Bench(f"MLP train loop, {args.mlp_iters} iterations (RSS from /proc/self/statm)")
    rng = np.random.default_rng(0)
    batch, d_in, hidden = 256, 64, 128
    xs = rng.standard_normal((batch, d_in), np.float32)
    ys = rng.standard_normal((batch, 1), np.float32)
    init = [rng.standard_normal((d_in, hidden), np.float32) * 0.1, np.zeros(hidden, np.float32),
            rng.standard_normal((hidden, 1), np.float32) * 0.1]
    rss50, rss_end, step_ms = {}, {}, {}
    for lib in LIBS:
        if lib == "numpy":
            continue
        m = libmod(lib)
        x, y = to_lib(lib, xs), to_lib(lib, ys)
        params = [to_lib(lib, p).requires_grad_(True) for p in init]
        w1, b1, w2 = params
        lr, t0 = 0.01, None
        for it in range(1, args.mlp_iters + 1):
            loss = (((x @ w1 + b1).relu() @ w2 - y) ** 2).mean()
            loss.backward()
            with m.no_grad():
                for p in params:
                    p -= lr * p.grad
            for p in params:
                p.grad = None
            if it == 50:
                rss50[lib], t0 = rss_mb(), time.perf_counter()
        step_ms[lib] = (time.perf_counter() - t0) / (args.mlp_iters - 50) * 1e3
        rss_end[lib] = rss_mb()
    b.add("RSS after iteration 50", "MiB", **rss50)
    b.add(f"RSS after iteration {args.mlp_iters}", "MiB", **rss_end)
    b.add("RSS growth 50 -> end", "MiB", **{k: rss_end[k] - rss50[k] for k in rss50})
    b.add("time per step (after 50)", "ms", **step_ms)
    growth = rss_end["fg"] - rss50["fg"]
    GOALS.append(f"{'OK  ' if growth < 5 else 'MISS'} MLP loop RSS growth {growth:.1f} MiB (goal: flat, < 5 MiB)")
    return b


def layers(args) -> Bench:
    """The fused nn kernels of the nn core issue: BatchNorm2d and BatchNorm1d in both modes, Dropout."""
    b = Bench(f"nn layers, float32 forward (median (min-max) of {2 * args.runs} calls; ms, lower is better)")
    rng = np.random.default_rng(0)
    xd = rng.standard_normal(args.big_n, np.float32)
    libs = [lib for lib in LIBS if lib != "numpy"]
    # The speed issue's BatchNorm2d rows: training forward at most 0.7x (kept from before it),
    # eval forward at most 0.8x (its table's 1.6x row). BatchNorm1d on (N, C), each channel's
    # values C apart, has no goal of the issue's: a shape whose per-channel walk once ran at
    # 7-10x PyTorch's time.
    for name, shape, goals in [("BatchNorm2d", (64, 32, 28, 28), {"train": 0.7, "eval": 0.8}), ("BatchNorm1d", (4096, 512), {})]:
        xbn = rng.standard_normal(shape, np.float32)
        for mode in ("train", "eval"):
            fns = {}
            for lib in libs:
                m, x = getattr(libmod(lib).nn, name)(shape[1]), to_lib(lib, xbn)
                m.train(mode == "train")
                fns[lib] = lambda m=m, x=x, lib=lib: _no_grad(lib, lambda: m(x))
            v = b.add(f"{name} {'x'.join(map(str, shape))}, {mode} mode", "ms", **scaled(median_times(fns, args.runs), 1e3))
            if "torch" in v and mode in goals:
                r, goal = _mid(v["fg"]) / _mid(v["torch"]), goals[mode]
                GOALS.append(f"{'OK  ' if r <= goal else 'MISS'} {name} {'training' if mode == 'train' else 'eval'} forward: "
                             f"fg/torch {r:.2f}x (goal <= {goal}x)")
    fns = {lib: (lambda d=libmod(lib).nn.Dropout(0.5), x=to_lib(lib, xd), lib=lib: _no_grad(lib, lambda: d(x))) for lib in libs}
    v = b.add(f"Dropout(0.5) {args.big_n / 2**20:.0f}M elements", "ns/elem", **scaled(median_times(fns, args.runs), 1e9 / args.big_n))
    if "torch" in v:
        r = _mid(v["fg"]) / _mid(v["torch"])
        GOALS.append(f"{'OK  ' if r <= 0.1 else 'MISS'} Dropout 16M forward: fg/torch {r:.2f}x (goal <= 0.1x)")
    return b


def _no_grad(lib, fn):
    with libmod(lib).no_grad():
        return fn()


def _mlp(nn):
    return nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Dropout(0.2), nn.Linear(256, 10))


def _cnn(nn):
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
        nn.Dropout2d(0.25), nn.Flatten(), nn.Linear(32 * 7 * 7, 10),
    )


def training(args) -> Bench:
    """Whole training steps and eval passes (the nn breadth issue's benchmarks)."""
    b = Bench(f"training steps and eval passes, float32 (median (min-max) of {2 * args.runs} calls; ms, lower is better)")
    rng = np.random.default_rng(0)
    libs = [lib for lib in LIBS if lib != "numpy"]
    cases = [  # name, model builder, input shape, optimizer, train?, goal
        ("MLP 784-256-10 train step, batch 64, SGD momentum", _mlp, (64, 784), "sgd", True, 0.8),
        ("MLP eval under no_grad, batch 1024", _mlp, (1024, 784), None, False, 1.0),
        ("CNN train step, batch 64, 28x28, Adam", _cnn, (64, 1, 28, 28), "adam", True, 0.8),
        ("CNN eval under no_grad, batch 256", _cnn, (256, 1, 28, 28), None, False, 1.0),
    ]
    for name, build, shape, opt_name, train, goal in cases:
        xs = rng.standard_normal(shape, np.float32)
        ys = rng.integers(0, 10, shape[0])
        fns = {}
        for lib in libs:
            m = libmod(lib)
            model, x, y = build(m.nn), to_lib(lib, xs), to_lib(lib, ys)
            if train:
                opt = (m.optim.SGD(model.parameters(), lr=0.01, momentum=0.9) if opt_name == "sgd"
                       else m.optim.Adam(model.parameters(), lr=1e-3))

                def step(model=model, opt=opt, x=x, y=y, m=m):
                    opt.zero_grad()
                    loss = m.nn.functional.cross_entropy(model(x), y)
                    loss.backward()
                    opt.step()

                fns[lib] = step
            else:
                model.eval()
                fns[lib] = lambda model=model, x=x, lib=lib: _no_grad(lib, lambda: model(x))
        v = b.add(name, "ms", **scaled(median_times(fns, args.runs), 1e3))
        if "torch" in v:
            r = _mid(v["fg"]) / _mid(v["torch"])
            GOALS.append(f"{'OK  ' if r <= goal else 'MISS'} {name}: fg/torch {r:.2f}x (goal <= {goal}x)")
    return b


# (batch, in_channels, spatial size, out_channels, kernel, stride, padding) per convolution train step
CONV1D_SHAPES = [(32, 16, 256, 32, 5, 1, 2), (64, 64, 128, 64, 3, 1, 1), (16, 32, 1024, 32, 9, 2, 4), (128, 4, 64, 16, 7, 1, 3)]
CONV3D_SHAPES = [(8, 1, 16, 8, 3, 1, 1), (8, 16, 8, 32, 3, 1, 1), (4, 8, 16, 16, 3, 2, 1), (16, 32, 4, 32, 3, 1, 1)]
# ResNet's convolutions, channels 64-512 at 7-56: the 3x3 stride-1 ones (Winograd where the batch
# has a tile per channel, im2col at 512 x 7 x 7), a stride-2 3x3, the stem and a 1x1 shortcut.
CONV2D_SHAPES = [(8, 64, 56, 64, 3, 1, 1), (8, 128, 28, 128, 3, 1, 1), (8, 256, 14, 256, 3, 1, 1), (8, 512, 7, 512, 3, 1, 1),
                 (16, 128, 8, 128, 3, 1, 1), (16, 64, 32, 128, 3, 2, 1), (16, 3, 64, 64, 7, 2, 3), (16, 64, 32, 128, 1, 2, 0)]


def conv(args) -> Bench:
    """One Conv1d, Conv2d or Conv3d layer's train step (forward, a mean-square loss, backward, SGD
    step) over a family of shapes; the goal is on the geometric mean of fg/torch per family."""
    b = Bench(f"Conv1d / Conv2d / Conv3d train steps, float32 (median (min-max) of {2 * args.runs} calls; ms, lower is better)")
    rng = np.random.default_rng(0)
    libs = [lib for lib in LIBS if lib != "numpy"]
    for dims, family in ((1, CONV1D_SHAPES), (2, CONV2D_SHAPES), (3, CONV3D_SHAPES)):
        ratios = []
        for n, cin, size, cout, k, stride, pad in family:
            xs = rng.standard_normal((n, cin) + (size,) * dims, np.float32)
            fns = {}
            for lib in libs:
                m = libmod(lib)
                layer = {1: m.nn.Conv1d, 2: m.nn.Conv2d, 3: m.nn.Conv3d}[dims](cin, cout, k, stride=stride, padding=pad)
                opt, x = m.optim.SGD(layer.parameters(), lr=0.01), to_lib(lib, xs)

                def step(layer=layer, opt=opt, x=x):
                    opt.zero_grad()
                    loss = layer(x).square().mean()
                    loss.backward()
                    opt.step()

                fns[lib] = step
            shape = "x".join(str(v) for v in (n, cin) + (size,) * dims)
            v = b.add(f"Conv{dims}d({cin}, {cout}, {k}, stride={stride}, padding={pad}) on {shape}", "ms",
                      **scaled(median_times(fns, args.runs), 1e3))
            if "torch" in v:
                ratios.append(_mid(v["fg"]) / _mid(v["torch"]))
        if ratios:
            gm = float(np.exp(np.mean(np.log(ratios))))
            GOALS.append(f"{'OK  ' if gm <= 0.8 else 'MISS'} Conv{dims}d train steps: fg/torch geometric mean {gm:.2f}x over "
                         f"{len(ratios)} shapes ({', '.join(f'{r:.2f}' for r in ratios)}) (goal <= 0.8x)")
    return b

# Sequence layers' train steps (forward, MSE to a fixed target, backward, Adam), batch-second
# (T, B, features) unless the name says batch_first. The first of each kind is the sequence
# issue's goal shape; the others show it is not a one-shape fast path.
SEQ_CASES = [  # name, builder(nn), input shape, goal on fg/torch (None: family)
    ("LSTM(256, 256, num_layers=2), T 64, batch 32", lambda nn: nn.LSTM(256, 256, num_layers=2), (64, 32, 256), 0.8),
    ("LSTM(64, 64), T 64, batch 32", lambda nn: nn.LSTM(64, 64), (64, 32, 64), None),
    ("LSTM(512, 512), T 32, batch 16", lambda nn: nn.LSTM(512, 512), (32, 16, 512), None),
    ("GRU(256, 256, num_layers=2), T 64, batch 32", lambda nn: nn.GRU(256, 256, num_layers=2), (64, 32, 256), None),
    ("LSTM(128, 128, bidirectional, batch_first), B 16, T 32",
     lambda nn: nn.LSTM(128, 128, bidirectional=True, batch_first=True), (16, 32, 128), None),
    ("TransformerEncoderLayer(128, 4, batch_first), B 32, T 64",
     lambda nn: nn.TransformerEncoderLayer(128, 4, batch_first=True), (32, 64, 128), 0.8),
    ("TransformerEncoderLayer(128, 4, norm_first, gelu), T 64, B 32",
     lambda nn: nn.TransformerEncoderLayer(128, 4, norm_first=True, activation="gelu"), (64, 32, 128), None),
    ("TransformerEncoderLayer(256, 8, 1024, batch_first), B 16, T 128",
     lambda nn: nn.TransformerEncoderLayer(256, 8, 1024, batch_first=True), (16, 128, 256), None),
]


def product_rate(runs: int, n: int = 2048) -> float:
    """The best float32 GFLOP/s either library reaches on an n^3 matmul here: the machine's
    product rate, against which a FLOP-bound goal can be checked."""
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((n, n), np.float32), rng.standard_normal((n, n), np.float32)
    ops = {lib: (lambda a=to_lib(lib, x), c=to_lib(lib, y): a @ c) for lib in LIBS if lib != "numpy"}
    return max(2 * n**3 / t / 1e9 for t in best_times(ops, runs).values())


def lstm_train_gflop(t: int, b: int, inp: int, hidden: int, layers: int) -> float:
    """Multiply-adds x 2 of an LSTM train step's products, the floor under its time. Forward per
    layer: x W_ih^T over all steps and h W_hh^T per step, (t b) x 4H x (I + H). Backward: dW_ih,
    dW_hh and the recurrent dh, and d input for every layer but the first (the input needs none)."""
    total = 0.0
    for layer in range(layers):
        i = inp if layer == 0 else hidden
        fwd_ih, fwd_hh = 2.0 * t * b * 4 * hidden * i, 2.0 * t * b * 4 * hidden * hidden
        total += (fwd_ih + fwd_hh) + (fwd_ih + 2 * fwd_hh) + (fwd_ih if layer > 0 else 0.0)
    return total / 1e9


def sequences(args) -> Bench:
    """Recurrent and Transformer layers' train steps (the sequence issue's benchmarks)."""
    b = Bench(f"sequence layers, float32 train steps with Adam (median (min-max) of {2 * args.runs} calls; ms, lower is better)")
    rng = np.random.default_rng(0)
    libs = [lib for lib in LIBS if lib != "numpy"]
    ratios = []
    for name, build, shape, goal in SEQ_CASES:
        xs = rng.standard_normal(shape, np.float32)
        fns = {}
        for lib in libs:
            m = libmod(lib)
            m.manual_seed(0)
            model, x = build(m.nn), to_lib(lib, xs)
            opt = m.optim.Adam(model.parameters(), lr=1e-3)

            def step(model=model, opt=opt, x=x):
                opt.zero_grad()
                out = model(x)
                out = out[0] if isinstance(out, tuple) else out
                loss = (out - 0.1).square().mean()
                loss.backward()
                opt.step()

            fns[lib] = step
        v = b.add(name, "ms", **scaled(median_times(fns, args.runs), 1e3))
        if "torch" in v:
            r = _mid(v["fg"]) / _mid(v["torch"])
            ratios.append(r)
            if goal is not None:
                GOALS.append(f"{'OK  ' if r <= goal else 'MISS'} {name} train step: fg/torch {r:.2f}x (goal <= {goal}x)")
            if goal is not None and name.startswith("LSTM"):
                # The goal shape is nearly all products: how close each library is to the rate
                # the machine reaches on a large matmul, and what the goal would need.
                flop = lstm_train_gflop(*shape[:2], model.input_size, model.hidden_size, model.num_layers)
                rate = product_rate(args.runs)
                fg_ms, torch_ms = _mid(v["fg"]), _mid(v["torch"])
                GOALS.append(f"     {name}: {flop:.1f} GFLOP of products; fg {flop / fg_ms * 1e3:.0f}, torch "
                             f"{flop / torch_ms * 1e3:.0f} GFLOP/s; the {goal}x goal needs "
                             f"{flop / (goal * torch_ms) * 1e3:.0f} GFLOP/s, and a 2048^3 matmul here reaches {rate:.0f}")
    if ratios:
        gm = float(np.exp(np.mean(np.log(ratios))))
        GOALS.append(f"     sequence layers: fg/torch geometric mean {gm:.2f}x over {len(ratios)} shapes "
                     f"({', '.join(f'{r:.2f}' for r in ratios)})")
    return b


EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples", "pytorch_style")


def _resnet_example():
    """examples/pytorch_style/resnet18.py as a module (its training script runs only as __main__)."""
    spec = importlib.util.spec_from_file_location("resnet18_example", os.path.join(EXAMPLES, "resnet18.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _transformer_block(lib, d: int = 128, heads: int = 4, p: float = 0.1):
    """A pre-norm Transformer encoder block written from primitives (nanoGPT's Block without the
    causal mask): x + Dropout(proj(attention(LayerNorm(x)))), then x + Dropout(MLP(LayerNorm(x))),
    MLP = Linear(d, 4d), GELU, Linear(4d, d); attention from one qkv Linear, heads split with view
    and transpose, batched matmuls, softmax and Dropout on the weights. Returns (module, forward)."""
    nn, F = lib.nn, lib.nn.functional
    m = nn.ModuleDict({"ln1": nn.LayerNorm(d), "qkv": nn.Linear(d, 3 * d), "proj": nn.Linear(d, d), "drop": nn.Dropout(p),
                       "ln2": nn.LayerNorm(d), "fc1": nn.Linear(d, 4 * d), "fc2": nn.Linear(4 * d, d)})

    def forward(x):
        B, T, _ = x.shape
        q, k, v = (t.view(B, T, heads, d // heads).transpose(1, 2) for t in m.qkv(m.ln1(x)).split(d, dim=-1))
        att = m.drop(((q @ k.transpose(-2, -1)) * (d // heads) ** -0.5).softmax(dim=-1))
        x = x + m.drop(m.proj((att @ v).transpose(1, 2).reshape(B, T, d)))
        return x + m.drop(m.fc2(F.gelu(m.fc1(m.ln2(x)))))

    return m, forward


def blocks(args) -> Bench:
    """Train steps of whole model blocks (the performance issue's workloads): a Transformer block
    from primitives, a ResNet basic block and ResNet-18 (examples/pytorch_style/resnet18.py), median
    and range; then ResNet-18's peak memory, each library in a fresh process of its own."""
    b = Bench(f"model blocks, float32 train steps, {threads_label()} (median (min-max) of {2 * args.runs} calls; ms, lower is better)")
    rng = np.random.default_rng(0)
    libs = [lib for lib in LIBS if lib != "numpy"]
    example = _resnet_example()

    def module(model):
        return model, model

    # name, build(lib module) -> (parameters' module, forward), input shape, classes (cross_entropy
    # on random labels; None: out.square().mean()), optimizer
    cases = [
        ("Transformer block from primitives (pre-norm, 4 heads), B 32, T 64, d 128, Adam", _transformer_block, (32, 64, 128), None, "adam"),
        ("ResNet BasicBlock(64, 64), 32 x 64 x 32 x 32, SGD momentum",
         lambda lib: module(example.resnet_classes(lib)[0](64, 64)), (32, 64, 32, 32), None, "sgd"),
        ("ResNet-18 (1000 classes), 16 x 3 x 64 x 64, SGD momentum",
         lambda lib: module(example.resnet18(lib)), (16, 3, 64, 64), 1000, "sgd"),
    ]
    for name, build, shape, classes, opt_name in cases:
        xs = rng.standard_normal(shape, np.float32)
        ys = rng.integers(0, classes or 1, shape[0])
        fns = {}
        for lib in libs:
            m = libmod(lib)
            m.manual_seed(0)
            params, forward = build(m)
            opt = (m.optim.SGD(params.parameters(), lr=0.01, momentum=0.9) if opt_name == "sgd"
                   else m.optim.Adam(params.parameters(), lr=1e-3))

            def step(forward=forward, opt=opt, x=to_lib(lib, xs), y=to_lib(lib, ys) if classes else None, m=m):
                opt.zero_grad()
                out = forward(x)
                loss = m.nn.functional.cross_entropy(out, y) if y is not None else out.square().mean()
                loss.backward()
                opt.step()

            fns[lib] = step
        t = median_times(fns, args.runs)
        v = b.add(name, "ms", **{k: tuple(x * 1e3 for x in ts) for k, ts in t.items()})
        if "torch" in v:
            r = v["fg"][0] / v["torch"][0]
            GOALS.append(f"{'OK  ' if r <= 0.8 else 'MISS'} {name}: fg/torch {r:.2f}x of medians "
                         f"(goal <= 0.8x, {threads_label()})")
    _resnet18_memory(b, libs, args.threads or 0)
    return b


# Run in a fresh interpreter per library (argv: lib, example file, steps, threads), so each has an
# RSS of its own; prints the figures as JSON. VmHWM is reset once the model, optimizer and batch
# exist, so the peak is the steps' own; the steps' first allocates SGD's momentum buffers.
_RESNET18_MEMORY_CHILD = r"""
import importlib.util, json, sys
lib_name, example, steps, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
if lib_name == "torch":
    import torch as lib
    if threads:
        lib.set_num_threads(threads)
else:
    import ferrograd as lib
spec = importlib.util.spec_from_file_location("resnet18_example", example)
ex = importlib.util.module_from_spec(spec)
spec.loader.exec_module(ex)

def status_mib(key):
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(key)) / 1024

lib.manual_seed(0)
model = ex.resnet18(lib)
opt = lib.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
x, y = lib.randn(16, 3, 64, 64), lib.randint(0, 1000, (16,))
res = {"rss_before": status_mib("VmRSS:")}
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # VmHWM := VmRSS
if lib_name == "fg":
    lib.reset_peak_memory_stats()
    res["alloc_before"] = lib.memory_allocated() / 2**20
for _ in range(steps):
    opt.zero_grad()
    lib.nn.functional.cross_entropy(model(x), y).backward()
    opt.step()
res["peak"], res["rss_after"] = status_mib("VmHWM:"), status_mib("VmRSS:")
if lib_name == "fg":
    res["alloc_peak"], res["alloc_after"] = lib.max_memory_allocated() / 2**20, lib.memory_allocated() / 2**20
print(json.dumps(res))
"""


def _resnet18_memory(b: Bench, libs, threads: int, steps: int = 3) -> None:
    """ResNet-18's train-step memory rows: RSS (both libraries; PyTorch has no CPU allocation
    counter short of its profiler) and ferrograd's own allocation counter. threads: PyTorch's
    set_num_threads in the child (0: its default); ferrograd's child inherits RAYON_NUM_THREADS."""
    import json
    import subprocess

    res = {}
    for lib in libs:
        env = dict(os.environ, EXAMPLE_BACKEND="torch" if lib == "torch" else "ferrograd")
        out = subprocess.run([sys.executable, "-c", _RESNET18_MEMORY_CHILD, lib, os.path.join(EXAMPLES, "resnet18.py"),
                              str(steps), str(threads)], env=env, capture_output=True, text=True, check=True).stdout
        res[lib] = json.loads(out.strip().splitlines()[-1])
    b.add("ResNet-18: RSS with model, optimizer, batch", "MiB", **{k: r["rss_before"] for k, r in res.items()})
    b.add(f"ResNet-18: peak RSS during {steps} steps", "MiB", **{k: r["peak"] for k, r in res.items()})
    growth = b.add("ResNet-18: peak RSS growth (peak - before)", "MiB", **{k: r["peak"] - r["rss_before"] for k, r in res.items()})
    b.add("ResNet-18: RSS growth kept after the steps", "MiB", **{k: r["rss_after"] - r["rss_before"] for k, r in res.items()})
    fgr = res["fg"]
    b.add("ResNet-18: fg.memory_allocated() before", "MiB", fg=fgr["alloc_before"])
    b.add("ResNet-18: fg.max_memory_allocated() growth", "MiB", fg=fgr["alloc_peak"] - fgr["alloc_before"])
    if "torch" in growth:
        ok = growth["fg"] <= growth["torch"]
        GOALS.append(f"{'OK  ' if ok else 'MISS'} ResNet-18 train step peak RSS growth: fg {growth['fg']:.0f} MiB, "
                     f"torch {growth['torch']:.0f} MiB (goal: fg <= torch, {threads_label()}); "
                     f"fg.max_memory_allocated() growth {fgr['alloc_peak'] - fgr['alloc_before']:.0f} MiB")


def footprint(args) -> Bench:
    """Wheel size and `import` time (the packaging issue's figures). The wheel is the newest one
    under target/wheels (`maturin build --release` makes it); import time is the best of several
    fresh interpreters, so nothing is cached in this process."""
    import glob
    import subprocess

    b = Bench("footprint (import: best of 5 fresh interpreters)")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    wheels = sorted(glob.glob(os.path.join(root, "target", "wheels", "ferrograd-*.whl")), key=os.path.getmtime)
    sizes = {"fg": os.path.getsize(wheels[-1]) / 2**20 if wheels else None}
    if torch is not None:
        tdir = os.path.dirname(torch.__file__)
        sizes["torch"] = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(tdir) for f in fs) / 2**20
    b.add("wheel (fg) / installed package (torch)", "MiB", **sizes)
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    times = {}
    for lib, mod in (("fg", "ferrograd"), ("numpy", "numpy"), ("torch", "torch")):
        if lib not in LIBS:
            continue
        code = f"import time; t = time.perf_counter(); import {mod}; print(time.perf_counter() - t)"
        runs = [float(subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                                     check=True).stdout) for _ in range(5)]
        times[lib] = min(runs) * 1e3
    b.add("import time", "ms", **times)
    if wheels:
        GOALS.append(f"{'OK  ' if sizes['fg'] <= 10 else 'MISS'} wheel size {sizes['fg']:.1f} MiB (goal <= 10 MiB)")
    if "torch" in times:
        r = times["fg"] / times["torch"]
        GOALS.append(f"{'OK  ' if r <= 0.15 else 'MISS'} import ferrograd: fg/torch {r:.2f}x (goal <= 0.15x)")
    return b


SECTIONS = {"overhead": per_op_overhead, "matmul": matmul, "memory-bound": elementwise_and_reductions,
            "transcendental": transcendental,
            "mlp": mlp_memory, "layers": layers, "training": training, "conv": conv, "sequences": sequences,
            "blocks": blocks, "footprint": footprint}


# --------------------------------------------------------------------------- main


def header() -> str:
    model = "?"
    try:
        with open("/proc/cpuinfo") as f:
            model = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    env = {k: v for k, v in os.environ.items() if k.split("_")[0] in ("OPENBLAS", "OMP", "MKL", "RAYON")}
    lines = [
        f"machine : {platform.machine()}, nproc {os.cpu_count()} (usable {len(os.sched_getaffinity(0))}), {model}",
        f"python  : {sys.version.split()[0]} ({sys.executable})",
        f"ferrograd {fg.__version__} ({fg._core.__file__}, built {time.ctime(os.path.getmtime(fg._core.__file__))}), "
        f"threads {fg.get_num_threads()}",
        f"numpy   : {np.__version__}, BLAS {_numpy_blas()}",
        f"torch   : {torch.__version__ + ', threads ' + str(torch.get_num_threads()) if torch else 'not importable: columns skipped'}",
        f"load    : {open('/proc/loadavg').read().split()[0]} (1-min average; a build or test run here skews every number)",
        f"env     : {' '.join(f'{k}={v}' for k, v in sorted(env.items())) or '(no OPENBLAS_/OMP_/MKL_/RAYON_ variables set)'}",
    ]
    return "\n".join(lines)


def _numpy_blas() -> str:
    try:
        cfg = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        return f"{cfg.get('name')} {cfg.get('version')}"
    except Exception:  # older numpy without mode="dicts"
        return "?"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("sections", nargs="*", help=f"sections to run, of {', '.join(SECTIONS)} (default: all)")
    ap.add_argument("--repeat", type=int, default=51, help="timeit repeats for per-op overhead")
    ap.add_argument("--runs", type=int, default=10, help="turns (of 2 timed calls) per library in the throughput sections")
    ap.add_argument("--matmul-n", type=int, default=1024)
    ap.add_argument("--big-n", type=int, default=16 * 2**20, help="elements for add/sum")
    ap.add_argument("--softmax-shape", type=int, nargs=2, default=(4096, 1024))
    ap.add_argument("--mlp-iters", type=int, default=300)
    ap.add_argument("--threads", type=int, help="run every library on N threads (sets RAYON_, OMP_, OPENBLAS_ and "
                    "MKL_NUM_THREADS and restarts itself; torch.set_num_threads(N))")
    args = ap.parse_args()
    if unknown := set(args.sections) - set(SECTIONS):
        ap.error(f"unknown sections {sorted(unknown)}; choose from {', '.join(SECTIONS)}")
    if args.threads is not None:
        if args.threads < 1:
            ap.error("--threads must be at least 1")
        n = str(args.threads)
        if os.environ.get("RAYON_NUM_THREADS") != n:
            # ferrograd sizes its thread pool once, from RAYON_NUM_THREADS, as it starts (set_num_threads
            # afterwards only warns): start this script over with the variables set.
            env = dict(os.environ, RAYON_NUM_THREADS=n, OMP_NUM_THREADS=n, OPENBLAS_NUM_THREADS=n, MKL_NUM_THREADS=n)
            sys.stdout.flush()
            os.execve(sys.executable, [sys.executable, *sys.argv], env)
        if torch is not None:
            torch.set_num_threads(args.threads)
    print(header(), flush=True)
    for name in args.sections or SECTIONS:
        t0, cpu0 = time.perf_counter(), cpu_snapshot()
        table = SECTIONS[name](args)
        note = load_note(cpu0, cpu_snapshot())
        print(f"\n{table.render()}\n({time.perf_counter() - t0:.1f} s; {note})", flush=True)
    print(f"\npeak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    if GOALS:
        print(f"\n== goals ({threads_label()}) ==\n" + "\n".join(GOALS))


if __name__ == "__main__":
    main()
