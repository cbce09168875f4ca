"""Starting real MPI jobs from tests: ``python -m ferrograd.distributed.run`` (MPICH's gforker:
processes on this machine, loopback only), bounded by the launcher's --max-time, which ends every
rank of a stuck job, and by a subprocess timeout behind it."""

import os
import pathlib
import subprocess
import sys

import ferrograd.distributed as dist
import pytest
from ferrograd.distributed import run

ROOT = pathlib.Path(__file__).resolve().parent.parent
WORKERS = pathlib.Path(__file__).parent / "distributed_workers"

needs_mpi = pytest.mark.skipif(not dist.is_available() or run.launcher() is None,
                               reason="mpi4py and MPICH (ferrograd[mpi]) not installed")


def launch(script, n: int = 2, *args, max_time: int = 90) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "python"))
    cmd = [sys.executable, "-m", "ferrograd.distributed.run", "--max-time", str(max_time), "-n", str(n), str(script), *map(str, args)]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=max_time + 30)


def ranks_ok(r: subprocess.CompletedProcess, n: int) -> bool:
    """Every rank printed "rank i of n OK" (the launcher merges the ranks' output, which may
    interleave within a line, so the lines are searched, not compared)."""
    import re

    return sorted(re.findall(r"rank \d+ of \d+ OK", r.stdout)) == [f"rank {i} of {n} OK" for i in range(n)]
