"""fg.distributed over MPI: collectives checked on a real 2-process job (started by
``python -m ferrograd.distributed.run``, MPICH's gforker launcher: loopback only, bounded in
time), and the API's errors in this process. Skipped when mpi4py/MPICH are not installed."""

import os
import pathlib
import re
import subprocess
import sys

import ferrograd as fg
import ferrograd.distributed as dist
import pytest
from ferrograd.distributed import run

ROOT = pathlib.Path(__file__).resolve().parent.parent
WORKERS = pathlib.Path(__file__).parent / "distributed_workers"

needs_mpi = pytest.mark.skipif(not dist.is_available() or run.launcher() is None, reason="mpi4py and MPICH (ferrograd[mpi]) not installed")


def _launch(script, n=2, timeout=120):
    env = dict(os.environ, PYTHONPATH=str(ROOT / "python"))
    return subprocess.run([sys.executable, "-m", "ferrograd.distributed.run", "-n", str(n), str(script)], env=env,
                          capture_output=True, text=True, timeout=timeout)


@needs_mpi
@pytest.mark.parametrize("n", [2, 3])
def test_collectives_on_a_real_job(n):
    r = _launch(WORKERS / "collectives.py", n)
    assert r.returncode == 0, r.stdout + r.stderr
    # (the ranks' output is merged by the launcher and may interleave within a line)
    assert sorted(re.findall(r"rank \d+ of \d+ OK", r.stdout)) == [f"rank {i} of {n} OK" for i in range(n)]


@needs_mpi
def test_an_exception_on_one_rank_ends_the_job(tmp_path):
    script = tmp_path / "fails.py"
    script.write_text("import ferrograd.distributed as d\nd.init_process_group()\n"
                      "if d.get_rank() == 1:\n    raise ValueError('rank 1 fails')\nd.barrier()\n")
    r = _launch(script, 2, timeout=60)
    assert r.returncode != 0 and "rank 1 fails" in r.stderr


def test_import_does_not_need_mpi_and_says_whether_it_is_there():
    assert isinstance(dist.is_available(), bool)
    assert fg.distributed is dist and not dist.is_initialized()
    code = "import sys, ferrograd; assert 'mpi4py' not in sys.modules and 'mpi4py.MPI' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, env=dict(os.environ, PYTHONPATH=str(ROOT / "python")))


def test_calls_before_init_and_other_backends_are_errors():
    for call in (dist.get_rank, dist.get_world_size, dist.barrier, lambda: dist.all_reduce(fg.ones(2))):
        with pytest.raises(RuntimeError, match="has not been initialized"):
            call()
    with pytest.raises(ValueError, match="MPI only"):
        dist.init_process_group("nccl")


def test_launcher_refuses_a_bad_process_count(capsys):
    with pytest.raises(SystemExit):
        run.main(["-n", "0", "x.py"])
    assert "-n must be at least 1" in capsys.readouterr().err
