"""Runs every script in examples/pytorch_style/ (PyTorch scripts with only the import changed);
each asserts that its model learned. With PyTorch installed, also runs them under PyTorch, which
shows they are PyTorch code and not ferrograd dialect."""

from __future__ import annotations

import glob
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPTS = sorted(glob.glob(os.path.join(ROOT, "examples", "pytorch_style", "*.py")))


def _run(script: str, backend: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, EXAMPLE_BACKEND=backend, PYTHONPATH=os.path.join(ROOT, "python"))
    if backend == "torch":
        # PyTorch starts a thread per core for these tiny models, which only adds contention on a
        # small shared machine; one thread each unless the caller chose otherwise.
        env.setdefault("OMP_NUM_THREADS", "1")
        env.setdefault("MKL_NUM_THREADS", "1")
    return subprocess.run([sys.executable, script], env=env, capture_output=True, text=True, timeout=180)


@pytest.mark.parametrize("script", SCRIPTS, ids=[os.path.basename(s) for s in SCRIPTS])
def test_example_trains_under_ferrograd(script):
    r = _run(script, "ferrograd")
    assert r.returncode == 0, f"{os.path.basename(script)} failed:\n{r.stdout[-2000:]}\n{r.stderr[-4000:]}"


@pytest.mark.parametrize("script", SCRIPTS, ids=[os.path.basename(s) for s in SCRIPTS])
def test_example_is_pytorch_code(script):
    pytest.importorskip("torch")
    r = _run(script, "torch")
    assert r.returncode == 0, f"{os.path.basename(script)} failed under PyTorch:\n{r.stderr[-4000:]}"
