"""ferrograd's thread pool and Python threads: the importing thread is one of the pool's workers,
so with RAYON_NUM_THREADS=1 it is the whole pool. Another thread's parallel ops must still run
while the importing thread waits for that thread (a DDP gradient hook waiting on the
communication thread, a Thread.join()); before, they waited for the pool forever."""

import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent

SCRIPT = """
import threading
import ferrograd as fg
import numpy as np

x = fg.ones(4_000_000)          # large enough for the parallel kernels
out = {}

def work():
    x.mul_(2.0)                  # in place
    out["sum"] = (x * 3.0).sum().item()
    y = fg.randn(512, 512, requires_grad=True)
    (y @ y).sum().backward()     # the engine and matmul, from this thread
    out["grad"] = y.grad.shape

t = threading.Thread(target=work)
t.start()
t.join()
assert out["sum"] == 24_000_000.0 and tuple(out["grad"]) == (512, 512), out
print("ok")
"""


@pytest.mark.parametrize("threads", ["1", "2"])
def test_another_threads_ops_run_while_the_importing_thread_waits(threads):
    env = dict(os.environ, PYTHONPATH=str(ROOT / "python"), RAYON_NUM_THREADS=threads)
    r = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stdout + r.stderr
