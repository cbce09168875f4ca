"""One process of a job started by ``python -m ferrograd.distributed.run`` (which runs it under
``python -m mpi4py``, so an uncaught exception aborts the whole job).

``python -m ferrograd.distributed._rank <status-dir> script.py [args ...]`` runs the script as
``python script.py`` would, then leaves a file in <status-dir> saying that this rank finished on
its own. MPICH's gforker reports exit code 0 for a rank killed by a signal; the launcher counts
these files to tell a job whose ranks all finished from one where a rank was killed.

Before the script, every rank waits in a barrier and then leaves a "started" file: the barrier
is passed only once every rank's MPI_Init has succeeded, so a job with no "started" file failed
before any rank ran any of the script, and the launcher may start it again (see run.py).
"""

import os
import runpy
import sys


def main() -> None:
    from mpi4py import MPI

    status_dir, script, *args = sys.argv[1:]
    rank = os.environ.get("PMI_RANK", str(os.getpid()))
    MPI.COMM_WORLD.Barrier()
    with open(os.path.join(status_dir, f"rank{rank}.started"), "w") as f:
        f.write("started\n")
    sys.argv[:] = [script, *args]
    sys.path[0] = os.path.dirname(os.path.realpath(script))
    try:
        runpy.run_path(script, run_name="__main__")
    except SystemExit as e:
        if e.code not in (None, 0):
            raise
    with open(os.path.join(status_dir, f"rank{rank}.done"), "w") as f:
        f.write("finished\n")


if __name__ == "__main__":
    main()
