"""DistributedDataParallel: real 2-process jobs (tests/distributed_workers/ddp_*.py) against one
process, and the constructor's errors here. The MPI jobs are skipped without ferrograd[mpi]."""

import ferrograd as fg
import pytest
from ferrograd.nn.parallel import DistributedDataParallel
from mpi_jobs import WORKERS, launch, needs_mpi, ranks_ok


@needs_mpi
def test_ddp_matches_one_process_and_handles_no_sync_unused_parameters_and_buffers():
    # MLP with Dropout under SGD+momentum and Adam, no_sync, find_unused_parameters, the
    # unfinished-reduction error, a model that differs across ranks, buffer broadcasts.
    r = launch(WORKERS / "ddp_equivalence.py", 2)
    assert r.returncode == 0 and ranks_ok(r, 2), r.stdout + r.stderr


@needs_mpi
def test_checkpoint_saved_by_rank_0_resumes_bit_exactly_on_every_rank(tmp_path):
    r = launch(WORKERS / "ddp_checkpoint.py", 2, tmp_path)
    assert r.returncode == 0 and ranks_ok(r, 2), r.stdout + r.stderr
    assert (tmp_path / "checkpoint.pt").exists()


def test_needs_an_initialised_process_group():
    with pytest.raises(RuntimeError, match="Default process group has not been initialized"):
        DistributedDataParallel(fg.nn.Linear(2, 2))


def test_is_fg_nn_parallel_with_pytorchs_signature():
    import inspect

    assert fg.nn.parallel.DistributedDataParallel is DistributedDataParallel
    params = inspect.signature(DistributedDataParallel).parameters
    assert list(params)[:8] == ["module", "device_ids", "output_device", "dim", "broadcast_buffers", "init_sync",
                                "process_group", "bucket_cap_mb"]
    assert params["bucket_cap_mb"].default is None and params["find_unused_parameters"].default is False
    assert params["broadcast_buffers"].default is None and params["forward_sync_buffers"].default is None


def test_buckets_follow_reverse_order_sizes_and_dtypes():
    from ferrograd.nn.parallel.distributed import _make_buckets, _MiB

    mb = _MiB // 4  # float32 elements in a MiB
    params = [fg.zeros(mb // 2), fg.zeros(mb), fg.zeros(10, dtype=fg.float64), fg.zeros(mb), fg.zeros(3 * mb)]
    buckets = _make_buckets(params, [_MiB, 2 * _MiB])
    # a bucket closes once it reaches its cap, and a dtype change closes it too
    assert [[id(p) for p in b.params] for b in buckets] == [
        [id(params[0]), id(params[1])], [id(params[2])], [id(params[3]), id(params[4])]]
    assert [b.flat.numel() for b in buckets] == [mb // 2 + mb, 10, 4 * mb]
    assert buckets[1].flat.dtype == fg.float64


@needs_mpi
def test_the_training_script_in_the_docs_runs_on_two_ranks(tmp_path):
    import re

    page = (WORKERS.parent.parent / "docs" / "distributed.md").read_text()
    script = re.search(r"^```py\n(.*?)^```", page, re.S | re.M).group(1)
    (tmp_path / "train.py").write_text(script.replace('"model.pt"', repr(str(tmp_path / "model.pt"))))
    r = launch(tmp_path / "train.py", 2)
    assert r.returncode == 0, r.stdout + r.stderr
    accuracies = re.findall(r"rank (\d): accuracy ([\d.]+)", r.stdout)
    assert sorted(a[0] for a in accuracies) == ["0", "1"], r.stdout
    # the replicas are one model: the same accuracy on the same data; and it learned
    assert accuracies[0][1] == accuracies[1][1] and float(accuracies[0][1]) > 0.9, r.stdout
    assert set(fg.load(tmp_path / "model.pt")) == {"0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean",
                                                   "1.running_var", "1.num_batches_tracked", "4.weight", "4.bias"}
