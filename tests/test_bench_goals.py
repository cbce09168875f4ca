"""bench/goals.py: its reading of bench.py's goal lines and its summary over runs."""

import importlib.util
import os

import pytest

_PATH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bench", "goals.py")
_spec = importlib.util.spec_from_file_location("bench_goals", _PATH)
goals = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(goals)

RUN = """== goals (2 threads) ==
OK   exp 4M: fg/torch 0.46x (goal <= 0.8x)
MISS GELU 4M: fg/torch {gelu}x (goal <= 0.8x)
OK   Conv2d train steps: fg/torch geometric mean 0.73x over 8 shapes (0.63, 0.39, 0.99) (goal <= 0.8x)
OK   matmul 1024: fg/numpy 1.10x GFLOP/s (goal >= 0.85x)
OK   matmul 1024: fg/torch 0.95x GFLOP/s (goal >= 0.85x)
     LSTM(256, 256, num_layers=2), T 64, batch 32: 11.8 GFLOP of products; fg 181, torch 169 GFLOP/s
OK   ResNet-18 train step peak RSS growth: fg 10 MiB, torch 20 MiB (goal: fg <= torch)
OK   ResNet-18 (1000 classes), 16 x 3 x 64 x 64: fg/torch 0.79x of medians (goal <= 0.8x, 2 threads)
"""


def test_parse_reads_every_goal_and_keeps_two_of_one_name():
    found = goals.parse(RUN.format(gelu="0.89"))
    assert found == {
        ("exp 4M", "fg/torch"): (0.46, "<= 0.8x", True),
        ("GELU 4M", "fg/torch"): (0.89, "<= 0.8x", False),
        # the first ratio on the line, not the per-shape ones after it
        ("Conv2d train steps", "fg/torch"): (0.73, "<= 0.8x", True),
        # one name, two goals: neither overwrites the other
        ("matmul 1024", "fg/numpy"): (1.10, ">= 0.85x", True),
        ("matmul 1024", "fg/torch"): (0.95, ">= 0.85x", True),
        # a goal without a ratio keeps its verdict
        ("ResNet-18 train step peak RSS growth", ""): (None, "(goal: fg <= torch)", True),
        ("ResNet-18 (1000 classes), 16 x 3 x 64 x 64", "fg/torch"): (0.79, "<= 0.8x, 2 threads", True),
    }


@pytest.mark.parametrize("gelus, median, lo, hi", [(["0.89", "0.74", "0.81"], "0.81", "0.74", "0.89"),
                                                    (["1.02"], "1.02", "1.02", "1.02")])
def test_summary_gives_median_range_and_count(gelus, median, lo, hi):
    runs = [goals.parse(RUN.format(gelu=g).replace("MISS GELU", "OK   GELU" if float(g) <= 0.8 else "MISS GELU"))
            for g in gelus]
    lines = goals.summarise(runs)
    assert len(lines) == 7
    gelu = next(line for line in lines if line.strip().startswith("GELU"))
    met = sum(float(g) <= 0.8 for g in gelus)
    assert f"median {median}x  ({lo}-{hi})  met {met} of {len(gelus)}  <= 0.8x" in gelu
    rss = next(line for line in lines if "RSS" in line)
    assert f"met {len(gelus)} of {len(gelus)}  (goal: fg <= torch)" in rss


def test_threads_are_comma_separated(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("sys.argv", ["goals.py", "--threads", "2 1", "conv"])
    with pytest.raises(SystemExit):
        goals.main()
    assert "comma-separated" in capsys.readouterr().err
