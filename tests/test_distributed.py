"""fg.distributed over MPI: collectives checked on a real 2-process job (started by
``python -m ferrograd.distributed.run``, MPICH's gforker launcher: loopback only, bounded in
time), and the API's errors in this process. Skipped when mpi4py/MPICH are not installed."""

import os
import subprocess
import sys

import ferrograd as fg
import ferrograd.distributed as dist
import pytest
from ferrograd.distributed import run
from mpi_jobs import ROOT, WORKERS, launch, needs_mpi, ranks_ok


@needs_mpi
@pytest.mark.parametrize("n", [2, 3])
def test_collectives_on_a_real_job(n):
    r = launch(WORKERS / "collectives.py", n)
    assert r.returncode == 0 and ranks_ok(r, n), r.stdout + r.stderr


@needs_mpi
def test_an_exception_on_one_rank_ends_the_job(tmp_path):
    script = tmp_path / "fails.py"
    script.write_text("import ferrograd.distributed as d\nd.init_process_group()\n"
                      "if d.get_rank() == 1:\n    raise ValueError('rank 1 fails')\nd.barrier()\n")
    r = launch(script, 2, max_time=60)
    assert r.returncode != 0 and "rank 1 fails" in r.stderr


@needs_mpi
def test_a_killed_rank_ends_the_job_with_an_error(tmp_path):
    # rank 0 waits in a collective that rank 1, killed, never joins: MPICH's launcher ends the
    # job, and run turns gforker's exit code 0 for a signalled rank into a failure.
    script = tmp_path / "killed.py"
    script.write_text("import os, signal, ferrograd as fg, ferrograd.distributed as d\nd.init_process_group()\n"
                      "if d.get_rank() == 1:\n    os.kill(os.getpid(), signal.SIGKILL)\nd.all_reduce(fg.ones(8))\n")
    r = launch(script, 2, max_time=60)
    assert r.returncode != 0 and "did not finish" in r.stderr, r.stdout + r.stderr


@needs_mpi
def test_a_stuck_job_ends_at_the_time_limit(tmp_path):
    # a collective only rank 0 calls: --max-time ends every rank (no orphans left running)
    script = tmp_path / "stuck.py"
    script.write_text("import ferrograd as fg, ferrograd.distributed as d\nd.init_process_group()\n"
                      "if d.get_rank() == 0:\n    d.all_reduce(fg.ones(8))\n")
    r = launch(script, 2, max_time=5)
    assert r.returncode != 0, r.stdout + r.stderr


@needs_mpi
def test_script_arguments_and_sys_path_are_the_scripts(tmp_path):
    (tmp_path / "helper_mod.py").write_text("VALUE = 7\n")
    script = tmp_path / "args.py"
    script.write_text("import sys, helper_mod\nassert sys.argv[1:] == ['a', '--b'], sys.argv\n"
                      "print(f'rank {0} of 1 OK' if helper_mod.VALUE == 7 else 'bad')\n")
    r = launch(script, 1, "a", "--b", max_time=60)
    assert r.returncode == 0 and ranks_ok(r, 1), r.stdout + r.stderr


def test_import_does_not_need_mpi_and_says_whether_it_is_there():
    assert isinstance(dist.is_available(), bool)
    assert fg.distributed is dist and not dist.is_initialized()
    code = "import sys, ferrograd; assert 'mpi4py' not in sys.modules and 'mpi4py.MPI' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, env=dict(os.environ, PYTHONPATH=str(ROOT / "python")))


def test_calls_before_init_and_other_backends_are_errors():
    for call in (dist.get_rank, dist.get_world_size, dist.barrier, lambda: dist.all_reduce(fg.ones(2))):
        with pytest.raises(RuntimeError, match="has not been initialized"):
            call()
    with pytest.raises(ValueError, match="over MPI"):
        dist.init_process_group("nccl")
    with pytest.raises(RuntimeError, match="has not been initialized"):
        dist.get_backend()
    with pytest.raises(NotImplementedError, match="subgroups"):
        dist.new_group([0])


def test_launcher_refuses_a_bad_process_count(capsys):
    with pytest.raises(SystemExit):
        run.main(["-n", "0", "x.py"])
    assert "-n must be at least 1" in capsys.readouterr().err


def _fake_job(monkeypatch, outcomes):
    """run.main over a fake launcher: each start leaves the status files and exit code of the
    next outcome, (files, code). Returns the list of starts made."""
    starts = []

    def call(cmd, env=None):
        status = cmd[cmd.index("ferrograd.distributed._rank") + 1]
        files, code = outcomes[len(starts)]
        starts.append(cmd)
        for f in files:
            open(os.path.join(status, f), "w").close()
        return code

    monkeypatch.setattr(run, "launcher", lambda: "/bin/true")
    monkeypatch.setattr(run.subprocess, "call", call)
    return starts


def test_a_job_whose_mpi_init_failed_before_any_rank_started_is_started_again(monkeypatch, capsys):
    ok = ["rank0.started", "rank1.started", "rank0.done", "rank1.done"]
    starts = _fake_job(monkeypatch, [([], 15), (ok, 0)])
    assert run.main(["-n", "2", "script.py"]) == 0
    assert len(starts) == 2 and "starting the job again" in capsys.readouterr().err


def test_a_job_that_started_its_script_is_never_started_again(monkeypatch):
    # A rank passed the barrier before the script: its failure is the script's, and a second
    # start could repeat what the script already did.
    starts = _fake_job(monkeypatch, [(["rank0.started", "rank1.started"], 1), (["rank0.done"], 0)])
    assert run.main(["-n", "2", "script.py"]) == 1 and len(starts) == 1
    starts = _fake_job(monkeypatch, [([], 15)] * run.START_ATTEMPTS + [([], 0)])
    assert run.main(["-n", "2", "script.py"]) == 15 and len(starts) == run.START_ATTEMPTS
