"""fg.utils.data: TensorDataset, DataLoader batching, shuffling under fg.manual_seed, collation."""

from __future__ import annotations

import collections

import ferrograd as fg
import numpy as np
import pytest
from ferrograd.utils.data import DataLoader, Dataset, TensorDataset, default_collate

N = 10
X = np.arange(N * 3, dtype=np.float64).reshape(N, 3)
Y = np.arange(N, dtype=np.int64) * 10


def dataset():
    return TensorDataset(fg.tensor(X), fg.tensor(Y))


def test_tensor_dataset_indexes_every_tensor():
    ds = dataset()
    assert len(ds) == N
    x, y = ds[4]
    np.testing.assert_array_equal(x.numpy(), X[4])
    assert y.item() == 40 and y.dtype == fg.int64


def test_tensor_dataset_needs_a_common_first_dim():
    with pytest.raises(AssertionError, match="Size mismatch between tensors"):  # PyTorch raises AssertionError
        TensorDataset(fg.zeros(4, 2), fg.zeros(5))
    with pytest.raises(ValueError, match="0-d tensor"):
        TensorDataset(fg.tensor(1.0))


def test_dataset_base_needs_getitem():
    with pytest.raises(NotImplementedError, match="Subclasses of Dataset should implement __getitem__."):
        Dataset()[0]


@pytest.mark.parametrize("batch_size, drop_last, sizes", [(4, False, [4, 4, 2]), (4, True, [4, 4]), (5, True, [5, 5]), (1, False, [1] * N), (20, False, [N])])
def test_batches_in_order(batch_size, drop_last, sizes):
    loader = DataLoader(dataset(), batch_size=batch_size, drop_last=drop_last)
    batches = list(loader)
    assert len(loader) == len(sizes) and [b[0].shape[0] for b in batches] == sizes
    assert all(isinstance(b, list) and len(b) == 2 for b in batches)  # tuples collate to lists, as PyTorch
    xs = np.concatenate([b[0].numpy() for b in batches])
    ys = np.concatenate([b[1].numpy() for b in batches])
    np.testing.assert_array_equal(xs, X[: sum(sizes)])
    np.testing.assert_array_equal(ys, Y[: sum(sizes)])
    assert batches[0][0].dtype == fg.float64 and batches[0][1].dtype == fg.int64


def _order(loader):
    return np.concatenate([b[1].numpy() for b in loader]).tolist()


def test_shuffle_is_a_permutation_that_repeats_under_manual_seed():
    loader = DataLoader(dataset(), batch_size=3, shuffle=True)
    fg.manual_seed(123)
    first, second = _order(loader), _order(loader)
    fg.manual_seed(123)
    again = _order(loader)
    assert sorted(first) == Y.tolist() and first != Y.tolist()
    assert again == first
    assert second != first  # a new order each epoch
    assert len(loader) == 4


def test_shuffle_with_drop_last_drops_a_random_tail():
    loader = DataLoader(dataset(), batch_size=4, shuffle=True, drop_last=True)
    fg.manual_seed(0)
    seen = _order(loader)
    assert len(seen) == 8 and len(set(seen)) == 8 and len(loader) == 2


def test_batch_size_none_yields_single_samples():
    loader = DataLoader(dataset(), batch_size=None)
    samples = list(loader)
    assert len(loader) == N and len(samples) == N
    x, y = samples[7]
    assert x.shape == (3,) and y.item() == 70


def test_collate_numbers_dicts_and_namedtuples():
    Point = collections.namedtuple("Point", "x label")
    samples = [{"a": 1.5, "b": 2, "c": True, "p": Point(np.array([1.0, 2.0]), "s"), "n": np.float32(0.5)} for _ in range(3)]
    batch = default_collate(samples)
    assert batch["a"].dtype == fg.float64 and batch["a"].numpy().tolist() == [1.5] * 3
    assert batch["b"].dtype == fg.int64 and batch["b"].numpy().tolist() == [2] * 3
    assert batch["c"].dtype == fg.bool
    assert isinstance(batch["p"], Point) and batch["p"].x.shape == (3, 2) and batch["p"].label == ("s",) * 3  # the tuple zip makes, as PyTorch
    assert batch["n"].dtype == fg.float32 and batch["n"].shape == (3,)
    with pytest.raises(RuntimeError, match="each element in list of batch should be of equal size"):
        default_collate([[1, 2], [3]])
    with pytest.raises(TypeError, match="default_collate: batch must contain tensors"):
        default_collate([object(), object()])


def test_custom_dataset_and_collate_fn():
    class Squares(Dataset):
        def __len__(self):
            return 7

        def __getitem__(self, i):
            return fg.tensor([float(i)]), i * i

    loader = DataLoader(Squares(), batch_size=3, collate_fn=lambda batch: [s[1] for s in batch])
    assert list(loader) == [[0, 1, 4], [9, 16, 25], [36]]
    x, y = next(iter(DataLoader(Squares(), batch_size=2)))
    assert x.shape == (2, 1) and y.numpy().tolist() == [0, 1]


def test_loader_trains_a_linear_model():
    fg.manual_seed(0)
    w_true = np.array([[2.0], [-3.0]])
    xs = np.random.default_rng(0).normal(size=(64, 2))
    loader = DataLoader(TensorDataset(fg.tensor(xs, dtype=fg.float32), fg.tensor(xs @ w_true, dtype=fg.float32)), batch_size=16, shuffle=True)
    model = fg.nn.Linear(2, 1)
    opt = fg.optim.SGD(model.parameters(), lr=0.05, momentum=0.5)
    for _ in range(40):
        for xb, yb in loader:
            opt.zero_grad()
            ((model(xb) - yb) ** 2).mean().backward()
            opt.step()
    np.testing.assert_allclose(model.weight.detach().numpy(), w_true.T, atol=1e-3)


@pytest.mark.parametrize(
    "kw, message",
    [
        (dict(batch_size=0), "batch_size should be a positive integer value, but got batch_size=0"),
        (dict(batch_size=2.5), "batch_size should be a positive integer value, but got batch_size=2.5"),
        (dict(drop_last=1), "drop_last should be a boolean value, but got drop_last=1"),
        (dict(batch_size=None, drop_last=True), "batch_size=None option disables auto-batching and is mutually exclusive with drop_last"),
        (dict(sampler=[0, 1], shuffle=True), "sampler option is mutually exclusive with shuffle"),
        (dict(batch_sampler=[[0, 1]], batch_size=2), "batch_sampler option is mutually exclusive with batch_size"),
        (dict(num_workers=-1), "num_workers option should be non-negative"),
    ],
)
def test_bad_loader_arguments(kw, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        DataLoader(dataset(), **kw)


def test_sampler_and_batch_sampler():
    by_sampler = [b[1].numpy().tolist() for b in DataLoader(dataset(), batch_size=2, sampler=[9, 0, 5])]
    assert by_sampler == [[90, 0], [50]]
    by_batches = [b[1].numpy().tolist() for b in DataLoader(dataset(), batch_sampler=[[3], [1, 2]])]
    assert by_batches == [[30], [10, 20]]
