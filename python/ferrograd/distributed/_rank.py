"""One process of a job started by ``python -m ferrograd.distributed.run`` (which runs it under
``python -m mpi4py``, so an uncaught exception aborts the whole job).

``python -m ferrograd.distributed._rank <status-dir> script.py [args ...]`` runs the script as
``python script.py`` would, then leaves a file in <status-dir> saying that this rank finished on
its own. MPICH's gforker reports exit code 0 for a rank killed by a signal; the launcher counts
these files to tell a job whose ranks all finished from one where a rank was killed.
"""

import os
import runpy
import sys


def main() -> None:
    status_dir, script, *args = sys.argv[1:]
    sys.argv[:] = [script, *args]
    sys.path[0] = os.path.dirname(os.path.realpath(script))
    try:
        runpy.run_path(script, run_name="__main__")
    except SystemExit as e:
        if e.code not in (None, 0):
            raise
    rank = os.environ.get("PMI_RANK", str(os.getpid()))
    with open(os.path.join(status_dir, f"rank{rank}.done"), "w") as f:
        f.write("finished\n")


if __name__ == "__main__":
    main()
