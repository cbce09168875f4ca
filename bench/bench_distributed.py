"""Data-parallel figures on 2 local ranks, ferrograd (MPI) beside PyTorch (gloo) in one run:

- all-reduce of a 40 MB float32 tensor: median time and bus bandwidth;
- a DistributedDataParallel train step against the same step without communication (``no_sync``),
  and the share of the all-reduce time that backward hides.

    PYTHONPATH=python /tmp/torchvenv/bin/python bench/bench_distributed.py   # with torch (needs mpich + mpi4py there too)
    .venv/bin/python bench/bench_distributed.py                              # ferrograd alone

It starts itself on 2 processes through ``python -m ferrograd.distributed.run``. Each rank runs one
compute thread (2 ranks on 2 cores). PyTorch's process group uses gloo over a file store, with
GLOO_SOCKET_IFNAME=lo: like ferrograd's job, it talks over the loopback interface only.

hidden = (t_no_sync + t_allreduce(all gradients) - t_ddp) / t_allreduce(all gradients), the share of
the communication that ran while backward computed (1.0: all of it; 0: none).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time


def timed(fn, number: int, repeat: int, barrier) -> float:
    """Median over ``repeat`` runs of the time per call of ``number`` calls, in seconds (ranks start together)."""
    fn()
    out = []
    for _ in range(repeat):
        barrier()
        t = time.perf_counter()
        for _ in range(number):
            fn()
        out.append((time.perf_counter() - t) / number)
    return statistics.median(out)


def models(lib):
    nn = lib.nn
    return {
        "MLP 784-2048-2048-10, batch 64/rank": (
            lambda: nn.Sequential(nn.Linear(784, 2048), nn.ReLU(), nn.Linear(2048, 2048), nn.ReLU(), nn.Linear(2048, 10)),
            (64, 784), 10),
        "CNN 3x(conv3x3 64)+BN, 32x32, batch 16/rank": (
            lambda: nn.Sequential(nn.Conv2d(3, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.Conv2d(64, 64, 3, padding=1),
                                  nn.BatchNorm2d(64), nn.ReLU(), nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(),
                                  nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10)),
            (16, 3, 32, 32), 10),
    }


def measure(lib, name, ddp_cls, all_reduce, barrier, args) -> dict:
    rows = {}
    x = lib.ones(int(args.mb * 2**20 / 4))
    rows["all-reduce 40 MB"] = timed(lambda: all_reduce(x), args.number, args.repeat, barrier)
    for label, spec in models(lib).items():
        rows.update(measure_model(lib, label, spec, ddp_cls, all_reduce, barrier, args))
    return rows


def measure_model(lib, label, spec, ddp_cls, all_reduce, barrier, args) -> dict:
    build, shape, classes = spec
    lib.manual_seed(0)
    model = ddp_cls(build())
    opt = lib.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    data, target = lib.randn(*shape), lib.randint(0, classes, (shape[0],))

    def step():
        opt.zero_grad()
        lib.nn.functional.cross_entropy(model(data), target).backward()
        opt.step()

    def local_step():
        with model.no_sync():
            step()

    def forward_only():
        with model.no_sync():
            lib.nn.functional.cross_entropy(model(data), target)

    grads = lib.zeros(sum(p.numel() for p in model.parameters()))
    return {
        f"{label}: forward only": timed(forward_only, args.steps, args.repeat, barrier),
        f"{label}: DDP step": timed(step, args.steps, args.repeat, barrier),
        f"{label}: step, no communication": timed(local_step, args.steps, args.repeat, barrier),
        f"{label}: all-reduce of its gradients ({grads.numel() * 4 / 2**20:.1f} MB)":
            timed(lambda: all_reduce(grads), args.steps, args.repeat, barrier),
    }


def hidden(rows, label) -> float:
    ddp = rows[f"{label}: DDP step"]
    local = rows[f"{label}: step, no communication"]
    ar = next(v for k, v in rows.items() if k.startswith(f"{label}: all-reduce"))
    return max(0.0, min(1.0, (local + ar - ddp) / ar))


def worker(args) -> None:
    import ferrograd as fg
    import ferrograd.distributed as dist

    dist.init_process_group("mpi")
    rank = dist.get_rank()
    results = {"ferrograd": measure(fg, "ferrograd", fg.nn.parallel.DistributedDataParallel, dist.all_reduce, dist.barrier, args)}
    try:
        import torch
        import torch.distributed as tdist
    except ImportError:
        torch = None
    if torch is not None:
        torch.set_num_threads(1)
        os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")
        store = [tempfile.mktemp(prefix="fg-bench-store-") if rank == 0 else None]
        dist.broadcast_object_list(store)
        tdist.init_process_group("gloo", init_method=f"file://{store[0]}", rank=rank, world_size=dist.get_world_size())
        results["torch"] = measure(torch, "torch", torch.nn.parallel.DistributedDataParallel, tdist.all_reduce, tdist.barrier, args)
        tdist.destroy_process_group()
    if rank == 0:
        report(results, args)


def report(results, args) -> None:
    fg_rows, torch_rows = results["ferrograd"], results.get("torch")
    print(f"2 ranks on {os.cpu_count()} cores, 1 compute thread each; median of {args.repeat} runs")
    print(f"{'':<74} {'ferrograd':>10} {'torch':>10} {'fg/torch':>8}")
    for k, v in fg_rows.items():
        t = torch_rows[k] if torch_rows else None
        ratio = f"{v / t:8.2f}" if t else ""
        tcol = f"{t * 1e3:8.2f}ms" if t else ""
        print(f"{k:<74} {v * 1e3:8.2f}ms {tcol:>10} {ratio}")
    gb = args.mb * 2**20 / 1e9
    for lib, rows in results.items():
        t = rows["all-reduce 40 MB"]
        # ring all-reduce bus bandwidth: each rank sends and receives 2(n-1)/n of the data
        print(f"{lib}: all-reduce 40 MB in {t * 1e3:.1f} ms: {gb / t:.2f} GB/s algorithm bandwidth, "
              f"{gb / t * 2 * (2 - 1) / 2:.2f} GB/s bus bandwidth")
        for label in models_labels():
            print(f"{lib}: {label}: {hidden(rows, label) * 100:.0f}% of the all-reduce hidden behind backward")
    for label in models_labels():
        scaling_table(fg_rows, label, args)


def scaling_table(rows, label, args) -> None:
    """Expected step time on p machines (one rank each, batch per rank fixed) from the measured
    compute times and the ring all-reduce cost model T(p) = 2(p-1)/p * S/B + 2(p-1) * a, between
    no overlap (T added to the step) and full overlap with backward (only T beyond backward)."""
    local = rows[f"{label}: step, no communication"]
    backward = max(local - rows[f"{label}: forward only"], 0.0)
    size = float(next(k for k in rows if k.startswith(f"{label}: all-reduce")).rsplit("(", 1)[1].split(" MB")[0]) * 2**20
    bw, alpha = args.net_gbps * 1e9 / 8, args.latency_us * 1e-6
    print(f"\nScaling on paper, {label}: S = {size / 2**20:.1f} MB of gradients, compute {local * 1e3:.1f} ms "
          f"(backward + step {backward * 1e3:.1f} ms), network {args.net_gbps:g} Gb/s, latency {args.latency_us:g} us")
    print(f"{'ranks':>6} {'all-reduce':>11} {'step (no overlap)':>18} {'step (overlap)':>15} {'efficiency':>14}")
    for p in (2, 8, 64):
        t = 2 * (p - 1) / p * size / bw + 2 * (p - 1) * alpha
        worst, best = local + t, local + max(0.0, t - backward)
        print(f"{p:>6} {t * 1e3:>9.1f}ms {worst * 1e3:>16.1f}ms {best * 1e3:>13.1f}ms {local / worst:>6.0%}-{local / best:.0%}")


def models_labels():
    return ["MLP 784-2048-2048-10, batch 64/rank", "CNN 3x(conv3x3 64)+BN, 32x32, batch 16/rank"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--mb", type=float, default=40.0, help="all-reduce size in MB (float32)")
    p.add_argument("--number", type=int, default=5, help="all-reduces per timing")
    p.add_argument("--steps", type=int, default=5, help="train steps per timing")
    p.add_argument("--repeat", type=int, default=7)
    p.add_argument("--net-gbps", type=float, default=10.0, help="network bandwidth for the scaling table (Gb/s)")
    p.add_argument("--latency-us", type=float, default=50.0, help="per-message latency for the scaling table (us)")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        worker(args)
        return
    cmd = [sys.executable, "-m", "ferrograd.distributed.run", "--max-time", "900", "-n", "2", __file__, "--worker",
           *sys.argv[1:]]
    sys.exit(subprocess.call(cmd))


if __name__ == "__main__":
    main()
