"""``python -m ferrograd.distributed.run -n 2 script.py [args ...]``: starts the script on N
processes of one MPI job, as ``torchrun --nproc-per-node`` does for PyTorch.

It runs MPICH's ``mpiexec.gforker`` (installed by ``pip install 'ferrograd[mpi]'``), which starts
the processes on this machine, with MPICH's transports held to the loopback interface, and with
``python -m mpi4py``, so an exception on one rank aborts the whole job instead of leaving the
others waiting in a collective.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile

# Starts of a job whose MPI_Init failed before any rank ran the script.
START_ATTEMPTS = 3


def launcher() -> str | None:
    """mpiexec.gforker next to this Python (a venv's bin), else on PATH."""
    here = os.path.join(os.path.dirname(sys.executable), "mpiexec.gforker")
    return here if os.access(here, os.X_OK) else shutil.which("mpiexec.gforker")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m ferrograd.distributed.run", description=__doc__.splitlines()[0])
    p.add_argument("-n", "--nproc-per-node", "--nproc_per_node", dest="n", type=int, default=1, help="number of processes")
    p.add_argument("script", help="the Python script to run on every process")
    p.add_argument("args", nargs=argparse.REMAINDER, help="the script's arguments")
    p.add_argument("--max-time", type=int, default=0, metavar="SECONDS",
                   help="end the whole job after this many seconds (0: no limit), as a hung collective would not")
    a = p.parse_args(argv)
    if a.n < 1:
        p.error(f"-n must be at least 1, got {a.n}")
    exe = launcher()
    if exe is None:
        sys.stderr.write("ferrograd.distributed.run: mpiexec.gforker not found; pip install 'ferrograd[mpi]' (mpich and mpi4py)\n")
        return 2
    # gforker starts every process here, so MPICH's network layers (UCX by default, or libfabric)
    # are told to use the loopback interface only; without this they also listen on the
    # machine's other interfaces. A caller's own settings win.
    env = dict(os.environ)
    for var in ("UCX_NET_DEVICES", "FI_TCP_IFACE", "FI_SOCKETS_IFACE"):
        env.setdefault(var, "lo")
    # All ranks share this machine's memory, so UCX needs no TCP transport at all: shared memory
    # only. Its TCP interface on loopback (whose speed is unknown) now and then packs a bandwidth
    # of 0 into the address the ranks exchange, and MPI_Init fails on the other rank with "failed
    # to unpack address, invalid bandwidth 0.00" (about 1 start in 40 here; pmodels/mpich#7417).
    env.setdefault("UCX_TLS", "self,sm")
    # N processes on this machine share its cores: each gets cores/N compute threads unless the
    # caller chose (torchrun sets OMP_NUM_THREADS=1 for the same reason). Oversubscribed threads
    # spin against each other and a step can take several times as long.
    if a.n > 1 and "RAYON_NUM_THREADS" not in env:
        per_rank = max(1, (os.cpu_count() or 1) // a.n)
        env["RAYON_NUM_THREADS"] = str(per_rank)
        env.setdefault("OMP_NUM_THREADS", str(per_rank))
        sys.stderr.write(f"ferrograd.distributed.run: {a.n} processes on {os.cpu_count()} cores: "
                         f"RAYON_NUM_THREADS={per_rank} compute threads each (set it to choose)\n")
    limit = ["-maxtime", str(a.max_time)] if a.max_time > 0 else []
    cmd = [exe, *limit, "-n", str(a.n), sys.executable, "-m", "mpi4py", "-m", "ferrograd.distributed._rank"]
    for attempt in range(1, START_ATTEMPTS + 1):
        with tempfile.TemporaryDirectory(prefix="fg-run-") as status:
            code = subprocess.call([*cmd, status, a.script, *a.args], env=env)
            finished = set(os.listdir(status))
        if code == 0 or any(f.endswith(".started") for f in finished) or attempt == START_ATTEMPTS:
            break
        # No rank passed the barrier before the script (_rank.py): MPI_Init failed somewhere, and
        # none of the script ran. With UCX on shared memory only it still did, rarely, with the
        # "invalid bandwidth 0.00" above (one CI run in about 35 failed on it).
        sys.stderr.write(f"ferrograd.distributed.run: MPI failed to start (attempt {attempt} of {START_ATTEMPTS}, "
                         "before any rank ran the script); starting the job again\n")
    if code == 0 and len([f for f in finished if f.endswith(".done")]) < a.n:
        # gforker reports 0 for a rank that a signal ended (killed, out of memory, -maxtime).
        missing = [r for r in range(a.n) if f"rank{r}.done" not in finished]
        sys.stderr.write(f"ferrograd.distributed.run: rank(s) {missing} of {a.n} did not finish "
                         "(ended by a signal: killed, out of memory, or the time limit)\n")
        return 1
    return code


if __name__ == "__main__":
    sys.exit(main())
