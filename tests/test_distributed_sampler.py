"""DistributedSampler: shards disjoint and covering, padded or cut as PyTorch's, one shuffle per
epoch shared by every rank; against PyTorch's own sampler when it is installed."""

import warnings
from collections import Counter

import ferrograd as fg
import pytest
from ferrograd.utils.data.distributed import DistributedSampler

SIZES = [(10, 3), (12, 4), (5, 8), (1, 2), (0, 3), (7, 1)]


def shards(n, replicas, **kw):
    return [list(DistributedSampler(range(n), num_replicas=replicas, rank=r, **kw)) for r in range(replicas)]


@pytest.mark.parametrize("n, replicas", SIZES)
@pytest.mark.parametrize("shuffle", [False, True])
def test_shards_cover_the_dataset_padded_by_its_start(n, replicas, shuffle):
    parts = shards(n, replicas, shuffle=shuffle, seed=3)
    per_rank = -(-n // replicas)
    assert all(len(p) == per_rank for p in parts)
    counts = Counter(i for p in parts for i in p)
    assert set(counts) == set(range(n))
    # padding repeats some indices; nothing is seen more than the padding requires
    assert sum(counts.values()) == per_rank * replicas
    assert all(c <= -(-per_rank * replicas // max(n, 1)) for c in counts.values())


@pytest.mark.parametrize("n, replicas", SIZES)
@pytest.mark.parametrize("shuffle", [False, True])
def test_drop_last_shards_are_disjoint(n, replicas, shuffle):
    parts = shards(n, replicas, shuffle=shuffle, drop_last=True)
    flat = [i for p in parts for i in p]
    assert len(flat) == len(set(flat)) == (n // replicas) * replicas
    assert all(len(p) == len(DistributedSampler(range(n), num_replicas=replicas, rank=0, drop_last=True)) for p in parts)


def test_unshuffled_order_is_strided():
    assert shards(10, 3, shuffle=False) == [[0, 3, 6, 9], [1, 4, 7, 0], [2, 5, 8, 1]]


def test_shuffle_changes_with_the_epoch_and_is_shared_by_every_rank():
    s0 = [DistributedSampler(range(20), num_replicas=2, rank=r, seed=5) for r in range(2)]
    first = [list(s) for s in s0]
    assert sorted(first[0] + first[1]) == list(range(20))  # one permutation split, not two
    for s in s0:
        s.set_epoch(1)
    second = [list(s) for s in s0]
    assert sorted(second[0] + second[1]) == list(range(20))
    assert second != first
    again = DistributedSampler(range(20), num_replicas=2, rank=0, seed=5)
    assert list(again) == first[0]  # seed + epoch decide the order


def test_reusing_an_epoch_warns():
    s = DistributedSampler(range(8), num_replicas=2, rank=0)
    list(s)
    with pytest.warns(UserWarning, match="set_epoch"):
        list(s)
    s.set_epoch(1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        list(s)


def test_bad_rank_and_missing_process_group():
    with pytest.raises(ValueError, match=r"Invalid rank 3, rank should be in the interval \[0, 2\]"):
        DistributedSampler(range(4), num_replicas=3, rank=3)
    # without mpi4py PyTorch's "not available"; with it, the process group is not initialized here
    with pytest.raises(RuntimeError, match="distributed package|has not been initialized"):
        DistributedSampler(range(4))


def test_feeds_a_dataloader():
    data = fg.utils.data.TensorDataset(fg.arange(10))
    loader = fg.utils.data.DataLoader(data, batch_size=2, sampler=DistributedSampler(data, num_replicas=2, rank=1, shuffle=False))
    got = [b[0].tolist() for b in loader]
    assert got == [[1, 3], [5, 7], [9]]


@pytest.mark.parametrize("n, replicas", SIZES)
@pytest.mark.parametrize("drop_last", [False, True])
def test_unshuffled_matches_pytorch(n, replicas, drop_last):
    torch = pytest.importorskip("torch")
    from torch.utils.data.distributed import DistributedSampler as TorchSampler

    for r in range(replicas):
        ours = DistributedSampler(range(n), num_replicas=replicas, rank=r, shuffle=False, drop_last=drop_last)
        theirs = TorchSampler(range(n), num_replicas=replicas, rank=r, shuffle=False, drop_last=drop_last)
        assert list(ours) == list(theirs) and len(ours) == len(theirs)
    assert torch.utils.data.DistributedSampler is TorchSampler and fg.utils.data.DistributedSampler is DistributedSampler
