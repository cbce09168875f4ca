"""Module paths laid out as PyTorch's: `import torch.x.y` lines work with `torch` replaced by
`ferrograd`, and fg.utils.data behaves as torch.utils.data.

Golden values were made with PyTorch 2.15 (CPU) by GOLDEN_SCRIPT below, which
test_golden_values_match_pytorch re-runs where PyTorch is installed
(`PYTHONPATH=python /tmp/torchvenv/bin/python -m pytest tests/test_module_paths.py`). Random draws cannot match PyTorch's
numbers (a different generator), so samplers are checked for their distribution, for being
permutations where PyTorch's are, and for repeating under fg.manual_seed / fg.Generator.
"""

from __future__ import annotations

import ast
import collections
import functools
import importlib.util
import types
import warnings

import ferrograd as fg
import numpy as np
import pytest
from ferrograd.utils.data import (
    BatchSampler,
    ChainDataset,
    ConcatDataset,
    DataLoader,
    IterableDataset,
    RandomSampler,
    SequentialSampler,
    StackDataset,
    Subset,
    SubsetRandomSampler,
    TensorDataset,
    WeightedRandomSampler,
    default_collate,
    random_split,
)

# ---- import lines ---------------------------------------------------------------------------------

IMPORT_LINES = [
    "import torch.utils.data",
    "import torch.utils.data as data",
    "from torch.utils import data",
    "from torch.utils.data import DataLoader, Dataset, TensorDataset, IterableDataset, ConcatDataset, Subset, random_split",
    "from torch.utils.data import Sampler, SequentialSampler, RandomSampler, BatchSampler, SubsetRandomSampler, WeightedRandomSampler",
    "from torch.utils.data import default_collate, default_convert, get_worker_info, StackDataset, ChainDataset",
    "from torch.utils.data.dataset import Dataset, TensorDataset, IterableDataset, ConcatDataset, Subset, random_split",
    "from torch.utils.data.dataloader import DataLoader, default_collate, get_worker_info",
    "from torch.utils.data.sampler import Sampler, RandomSampler, WeightedRandomSampler, BatchSampler, SubsetRandomSampler",
    "from torch.utils.data._utils.collate import default_collate, default_collate_fn_map, collate, default_convert",
    "import torch.utils.data._utils.collate",
    "import torch.backends.cudnn as cudnn",
    "import torch.backends.mps",
    "from torch.backends import cudnn, mps, mkldnn, openmp",
    "from torch.backends.cuda import matmul",
    "import torch.accelerator",
    "from torch import autocast",
    "from torch.amp import autocast, GradScaler",
    "from torch.amp.grad_scaler import GradScaler",
    "from torch.amp.autocast_mode import autocast",
    "from torch.cuda.amp import GradScaler, autocast",
    "import torch.cuda.amp",
    "from torch.cpu.amp import autocast",
    "from torch import Generator, default_generator, Size, FloatTensor, LongTensor, DoubleTensor, BoolTensor",
    "from torch import get_default_dtype, set_default_dtype, use_deterministic_algorithms, get_num_threads, set_num_threads",
]


# What each path the lines import names in PyTorch 2.15 (test_import_line_is_a_pytorch_line
# re-derives it from PyTorch where it is installed): a module, a class, a function, or else the
# builtin container or "object".
PYTORCH_KINDS = {
    "module": ["torch.accelerator", "torch.backends.cudnn", "torch.backends.mkldnn", "torch.backends.mps",
               "torch.backends.openmp", "torch.cuda.amp", "torch.utils.data", "torch.utils.data._utils.collate"],
    "function": ["torch.get_default_dtype", "torch.get_num_threads", "torch.set_default_dtype", "torch.set_num_threads",
                 "torch.use_deterministic_algorithms", "torch.utils.data._utils.collate.collate",
                 "torch.utils.data._utils.collate.default_collate", "torch.utils.data._utils.collate.default_convert",
                 "torch.utils.data.dataloader.default_collate", "torch.utils.data.dataloader.get_worker_info",
                 "torch.utils.data.dataset.random_split", "torch.utils.data.default_collate",
                 "torch.utils.data.default_convert", "torch.utils.data.get_worker_info", "torch.utils.data.random_split"],
    "dict": ["torch.utils.data._utils.collate.default_collate_fn_map"],
    "object": ["torch.backends.cuda.matmul", "torch.default_generator"],
}  # fmt: skip
# Every other path the lines import is a class.
_PYTORCH_KIND = {path: kind for kind, paths in PYTORCH_KINDS.items() for path in paths}


def _kind(obj) -> str:
    if isinstance(obj, types.ModuleType):
        return "module"
    if isinstance(obj, type):
        return "class"
    if callable(obj):
        return "function"
    return type(obj).__name__ if type(obj).__module__ == "builtins" else "object"


def _imported(line: str) -> dict[str, object]:
    """Runs an import line and gives, for each path it names (`a.b.c` for `import a.b.c` and for
    `from a.b import c`), the object the line made reachable under its bound name."""
    ns: dict = {}
    exec(line, ns)
    node = ast.parse(line).body[0]
    out = {}
    for alias in node.names:
        if isinstance(node, ast.Import):
            head, *rest = alias.name.split(".")
            out[alias.name] = ns[alias.asname] if alias.asname else functools.reduce(getattr, rest, ns[head])
        else:
            out[f"{node.module}.{alias.name}"] = ns[alias.asname or alias.name]
    return out


def _check_kinds(imported: dict[str, object], lib: str) -> None:
    for path, obj in imported.items():
        torch_path = "torch" + path.removeprefix(lib)
        assert _kind(obj) == _PYTORCH_KIND.get(torch_path, "class"), f"{path} is {obj!r}"
        if _kind(obj) == "module":  # the real module, not an alias of another
            assert obj.__name__ == path


@pytest.mark.parametrize("line", IMPORT_LINES)
def test_import_line_works_with_ferrograd(line):
    _check_kinds(_imported(line.replace("torch", "ferrograd")), "ferrograd")


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="PyTorch not installed")
@pytest.mark.parametrize("line", IMPORT_LINES)
def test_import_line_is_a_pytorch_line(line):
    _check_kinds(_imported(line), "torch")


def test_data_exports_pytorchs_names():
    # sorted(torch.utils.data.__all__) in PyTorch 2.15, minus the DataPipe API (deprecated there),
    # DistributedSampler (needs torch.distributed) and _DatasetKind (private).
    torch_all = {
        "BatchSampler", "ChainDataset", "ConcatDataset", "DataLoader", "Dataset", "IterableDataset", "RandomSampler",
        "Sampler", "SequentialSampler", "StackDataset", "Subset", "SubsetRandomSampler", "TensorDataset",
        "WeightedRandomSampler", "default_collate", "default_convert", "get_worker_info", "random_split",
    }
    assert torch_all <= set(fg.utils.data.__all__)
    assert fg.utils.data.dataloader.DataLoader is DataLoader
    assert fg.utils.data.dataloader.default_collate is default_collate is fg.utils.data._utils.collate.default_collate


# ---- golden values ----------------------------------------------------------------------------------

GOLDEN_SCRIPT = """
import collections, warnings
import numpy as np
from torch.utils.data import (BatchSampler, ChainDataset, ConcatDataset, DataLoader, IterableDataset,
    SequentialSampler, StackDataset, TensorDataset, default_collate, random_split)
import torch

class Stream(IterableDataset):
    def __init__(self, n): self.n = n
    def __iter__(self): return iter(range(self.n))
    def __len__(self): return self.n

def split(n, fr):
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        s = random_split(range(n), list(fr))
    return [len(x) for x in s], [str(x.message) for x in w]

def batches(**kw):
    dl = DataLoader(Stream(10), **kw)
    return [b.tolist() if isinstance(b, torch.Tensor) else b for b in dl], len(dl)

c = ConcatDataset([range(3), range(10, 14)])
with warnings.catch_warnings(record=True) as pin:
    warnings.simplefilter("always")
    list(DataLoader(range(3), pin_memory=True))
out = {
    "batch_sampler": (list(BatchSampler(SequentialSampler(range(10)), 3, False)), list(BatchSampler(range(10), 3, True))),
    "chain": list(ChainDataset([Stream(2), Stream(3)])),
    "concat": (c.cumulative_sizes, [c[i] for i in range(len(c))], c[-1], c[-7]),
    "stack": (StackDataset(range(3), range(10, 13))[1], StackDataset(a=range(3), b=range(5, 8))[2]),
    "split": {k: split(*k) for k in SPLITS},
    "iterable": [(kw, batches(**kw)) for kw in ITERABLE_KWARGS],
    "loader_num_workers2": [b[0].tolist() for b in DataLoader(TensorDataset(torch.arange(7)), batch_size=3, num_workers=2)],
    "pin_memory_warning": str(pin[0].message),
}
"""

GOLDEN = {
    "batch_sampler": ([[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]], [[0, 1, 2], [3, 4, 5], [6, 7, 8]]),
    "chain": [0, 1, 0, 1, 2],
    "concat": ([3, 7], [0, 1, 2, 10, 11, 12, 13], 13, 0),
    "stack": ((1, 11), {"a": 2, "b": 7}),
    "split": {
        (10, (0.3, 0.3, 0.4)): ([3, 3, 4], []),
        (11, (0.5, 0.5)): ([6, 5], []),
        (3, (0.1, 0.1, 0.8)): ([1, 0, 2], ["Length of split at index 1 is 0. This might result in an empty dataset."]),
        (5, (2, 3)): ([2, 3], []),
        (7, (0.1, 0.9)): ([1, 6], []),
    },
    "iterable": [
        (dict(batch_size=4), ([[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]], 3)),
        (dict(batch_size=4, drop_last=True), ([[0, 1, 2, 3], [4, 5, 6, 7]], 2)),
        (dict(batch_size=None), ([0, 1, 2, 3, 4, 5, 6, 7, 8, 9], 10)),
        (dict(batch_size=5, num_workers=0), ([[0, 1, 2, 3, 4], [5, 6, 7, 8, 9]], 2)),
    ],
    "loader_num_workers2": [[0, 1, 2], [3, 4, 5], [6]],
    "pin_memory_warning": "'pin_memory' argument is set as true but no accelerator is found, then device pinned memory won't be used.",
}


def test_golden_values_match_pytorch():
    pytest.importorskip("torch")
    scope = {"SPLITS": list(GOLDEN["split"]), "ITERABLE_KWARGS": [kw for kw, _ in GOLDEN["iterable"]]}
    exec(GOLDEN_SCRIPT, scope)
    assert scope["out"] == GOLDEN


def test_batch_sampler_concat_chain_stack_as_pytorch():
    assert [list(BatchSampler(SequentialSampler(range(10)), 3, False)), list(BatchSampler(range(10), 3, True))] == list(GOLDEN["batch_sampler"])
    c = ConcatDataset([range(3), range(10, 14)])
    assert (c.cumulative_sizes, [c[i] for i in range(len(c))], c[-1], c[-7]) == GOLDEN["concat"]
    both = Subset(range(5), [4]) + Subset(range(5), [1, 2])
    assert isinstance(both, ConcatDataset) and [both[i] for i in range(3)] == [4, 1, 2]
    assert list(ChainDataset([Stream(2), Stream(3)])) == GOLDEN["chain"] and len(Stream(2) + Stream(3)) == 5
    assert (StackDataset(range(3), range(10, 13))[1], StackDataset(a=range(3), b=range(5, 8))[2]) == GOLDEN["stack"]


@pytest.mark.parametrize("n, fractions", list(GOLDEN["split"]))
def test_random_split_lengths_and_warnings_as_pytorch(n, fractions):
    want_lengths, want_warnings = GOLDEN["split"][(n, fractions)]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        parts = random_split(range(n), list(fractions))
    assert [len(p) for p in parts] == want_lengths
    assert [str(w.message) for w in caught] == want_warnings
    got = sorted(i for p in parts for i in p)
    assert got == list(range(n))  # disjoint and covering
    assert all(isinstance(p, Subset) for p in parts)


def test_random_split_follows_manual_seed_and_generator():
    def split(**kw):
        return [list(p) for p in random_split(range(20), [0.25, 0.75], **kw)]

    fg.manual_seed(5)
    a = split()
    fg.manual_seed(5)
    assert split() == a and a[0] != list(range(5))
    g1, g2 = fg.Generator().manual_seed(42), fg.Generator().manual_seed(42)
    assert split(generator=g1) == split(generator=g2)
    assert split(generator=g1) != split(generator=g2.manual_seed(43))
    fg.manual_seed(5)
    assert split(generator=fg.Generator().manual_seed(5)) == a  # the same stream as the global one with that seed


class Stream(IterableDataset):
    def __init__(self, n):
        self.n = n

    def __iter__(self):
        return iter(range(self.n))

    def __len__(self):
        return self.n


@pytest.mark.parametrize("kw, want", GOLDEN["iterable"], ids=lambda x: str(x) if isinstance(x, dict) else "")
def test_loader_over_an_iterable_dataset_as_pytorch(kw, want):
    loader = DataLoader(Stream(10), **kw)
    batches = [b.tolist() if isinstance(b, fg.Tensor) else b for b in loader]
    assert (batches, len(loader)) == want


def test_loader_with_two_workers_gives_pytorchs_batches():
    loader = DataLoader(TensorDataset(fg.arange(7)), batch_size=3, num_workers=2, persistent_workers=True, prefetch_factor=4, worker_init_fn=print)
    assert [b[0].tolist() for b in loader] == GOLDEN["loader_num_workers2"]
    assert loader.prefetch_factor == 4 and fg.utils.data.get_worker_info() is None
    assert DataLoader(range(3), num_workers=2).prefetch_factor == 2  # PyTorch's default with workers


def test_iterable_dataset_with_workers_is_read_once():
    """The documented difference: PyTorch gives every worker process a copy of an iterable dataset,
    so one that does not split itself by get_worker_info() is read once per worker
    ([[0..4], [0..4], [5..9], [5..9]] with two workers). ferrograd loads in-process, where
    get_worker_info() is None, so the stream is read once, as a splitting dataset would give."""
    loader = DataLoader(Stream(10), batch_size=5, num_workers=2)
    assert [b.tolist() for b in loader] == [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9]] and len(loader) == 2


def test_pin_memory_warns_as_pytorch_and_loads():
    with pytest.warns(UserWarning) as caught:
        assert [b.tolist() for b in DataLoader(range(3), pin_memory=True)] == [[0], [1], [2]]
    assert [str(w.message) for w in caught] == [GOLDEN["pin_memory_warning"]]


def test_iterator_has_len_and_next():
    it = iter(DataLoader(range(5), batch_size=2))
    assert len(it) == 3 and next(it).tolist() == [0, 1]


def test_loader_uses_getitems_for_whole_batches():
    class Batched(fg.utils.data.Dataset):
        calls = []

        def __len__(self):
            return 5

        def __getitem__(self, i):
            raise AssertionError("__getitems__ should be used")

        def __getitems__(self, indices):
            self.calls.append(list(indices))
            return [float(i) for i in indices]

    ds = Batched()
    assert [b.tolist() for b in DataLoader(Subset(ds, [4, 3, 2]), batch_size=2)] == [[4.0, 3.0], [2.0]]
    assert Batched.calls == [[4, 3], [2]]


def test_shuffle_with_generator_repeats_and_leaves_the_global_stream():
    ds = TensorDataset(fg.arange(10))

    def order(g):
        return [int(x) for b in DataLoader(ds, batch_size=4, shuffle=True, generator=g) for x in b[0].tolist()]

    fg.manual_seed(0)
    before = fg.rand(3).tolist()
    fg.manual_seed(0)
    g = fg.Generator().manual_seed(7)
    first, second = order(g), order(g)
    assert fg.rand(3).tolist() == before  # drawing from g did not move the global generator
    assert sorted(first) == list(range(10)) and first != second
    g.manual_seed(7)
    assert order(g) == first


# ---- samplers ------------------------------------------------------------------------------------


def test_random_sampler_without_replacement_is_a_permutation_each_pass():
    s = RandomSampler(range(10))
    fg.manual_seed(1)
    a, b = list(s), list(s)
    assert sorted(a) == sorted(b) == list(range(10)) and a != b and len(s) == 10
    fg.manual_seed(1)
    assert list(s) == a


def test_random_sampler_num_samples_chains_permutations():
    fg.manual_seed(2)
    out = list(RandomSampler(range(4), num_samples=10))
    assert len(out) == 10 and sorted(out[:4]) == sorted(out[4:8]) == [0, 1, 2, 3] and len(set(out[8:])) == 2
    short = list(RandomSampler(range(10), num_samples=3))
    assert len(short) == 3 and len(set(short)) == 3


def test_random_sampler_with_replacement_is_uniform():
    fg.manual_seed(3)
    n, draws = 5, 20000
    out = np.array(list(RandomSampler(range(n), replacement=True, num_samples=draws)))
    counts = np.bincount(out, minlength=n)
    assert out.min() >= 0 and out.max() < n and len(out) == draws
    chi2 = ((counts - draws / n) ** 2 / (draws / n)).sum()
    assert chi2 < 20.5  # chi-square, 4 degrees of freedom: p < 0.0004 for a uniform draw


def test_subset_random_sampler_permutes_its_indices():
    fg.manual_seed(4)
    s = SubsetRandomSampler([10, 20, 30, 40])
    a = list(s)
    assert sorted(a) == [10, 20, 30, 40] and len(s) == 4
    g = fg.Generator().manual_seed(1)
    assert list(SubsetRandomSampler([1, 2, 3], generator=g)) == list(SubsetRandomSampler([1, 2, 3], generator=fg.Generator().manual_seed(1)))


def test_weighted_sampler_with_replacement_follows_the_weights():
    fg.manual_seed(5)
    w = [1.0, 0.0, 3.0, 6.0]
    draws = 20000
    counts = np.bincount(list(WeightedRandomSampler(w, draws)), minlength=4)
    expected = np.array(w) / sum(w) * draws
    assert counts[1] == 0
    keep = expected > 0
    chi2 = ((counts[keep] - expected[keep]) ** 2 / expected[keep]).sum()
    assert chi2 < 18.5  # 2 degrees of freedom, p < 0.0001


def test_weighted_sampler_without_replacement():
    fg.manual_seed(6)
    firsts = [list(WeightedRandomSampler([1.0, 3.0], 2, replacement=False)) for _ in range(4000)]
    assert all(sorted(f) == [0, 1] for f in firsts)
    share = np.mean([f[0] == 1 for f in firsts])
    assert abs(share - 0.75) < 0.03  # the first draw is proportional to the weights
    # PyTorch: once the positive weights are drawn, zero weights follow in index order.
    assert list(WeightedRandomSampler([1.0, 0.0, 0.0], 2, replacement=False)) == [0, 1]
    out = list(WeightedRandomSampler([1.0, 0.0, 2.0, 0.0], 3, replacement=False))
    assert sorted(out[:2]) == [0, 2] and out[2] == 1


# (code, exception type, message): PyTorch 2.15's for the same code; test_errors_match_pytorch
# re-runs the code against torch.utils.data where PyTorch is installed.
ERRORS = [
    ("RandomSampler(range(3), replacement=1)", TypeError, "replacement should be a boolean value, but got replacement=1"),
    ("RandomSampler(range(3), num_samples=0)", ValueError, "num_samples should be a positive integer value, but got num_samples=0"),
    ("WeightedRandomSampler([1.0], 0)", ValueError, "num_samples should be a positive integer value, but got num_samples=0"),
    ("WeightedRandomSampler([1.0], 1, replacement=0)", ValueError, "replacement should be a boolean value, but got replacement=0"),
    ("WeightedRandomSampler([[1.0]], 1)", ValueError, "weights should be a 1d sequence but given weights have shape (1, 1)"),
    ("list(WeightedRandomSampler([1.0, 2.0], 3, replacement=False))", RuntimeError, "cannot sample n_sample > prob_dist.size(-1) samples without replacement"),
    ("list(WeightedRandomSampler([1.0, -2.0], 1))", RuntimeError, "probability tensor contains either `inf`, `nan` or element < 0"),
    ("list(WeightedRandomSampler([1.0, float('nan')], 1))", RuntimeError, "probability tensor contains either `inf`, `nan` or element < 0"),
    ("list(WeightedRandomSampler([0.0, 0.0], 1))", RuntimeError, "invalid multinomial distribution (sum of probabilities <= 0)"),
    ("random_split(range(5), [2, 2])", ValueError, "Sum of input lengths does not equal the length of the input dataset!"),
    ("random_split(range(5), [1.5, -0.5])", ValueError, "Fraction at index 0 is not between 0 and 1"),
    ("ConcatDataset([])", AssertionError, "datasets should not be an empty iterable"),
    ("ConcatDataset([Stream(2)])", AssertionError, "ConcatDataset does not support IterableDataset"),
    ("ConcatDataset([range(2)])[-3]", ValueError, "absolute value of index should not exceed dataset length"),
    ("StackDataset(range(2), range(3))", ValueError, "Size mismatch between datasets"),
    ("DataLoader(Stream(3), shuffle=True)", ValueError, "DataLoader with IterableDataset: expected unspecified shuffle option, but got shuffle=True"),
    ("DataLoader(Stream(3), sampler=[0])", ValueError, "DataLoader with IterableDataset: expected unspecified sampler option, but got sampler=[0]"),
    ("DataLoader(range(3), timeout=-1)", ValueError, "timeout option should be non-negative"),
    (
        "DataLoader(range(3), prefetch_factor=2)",
        ValueError,
        "prefetch_factor option could only be specified in multiprocessing.let num_workers > 0 to enable multiprocessing, otherwise set prefetch_factor to None.",
    ),
    ("DataLoader(range(3), persistent_workers=True)", ValueError, "persistent_workers option needs num_workers > 0"),
    ("setattr(DataLoader(range(3)), 'batch_size', 2)", ValueError, "batch_size attribute should not be set after DataLoader is initialized"),
    ("default_collate([[1, 2], [3]])", RuntimeError, "each element in list of batch should be of equal size"),
    ("default_collate([np.array(['a']), np.array(['b'])])", TypeError, "default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; found <U1"),
]


def _error_of(data_module, code):
    class Stream(data_module.IterableDataset):
        def __iter__(self):
            return iter(range(3))

    scope = {name: getattr(data_module, name) for name in data_module.__all__ if hasattr(data_module, name)}
    try:
        eval(code, {**scope, "Stream": lambda n: Stream(), "np": np})
    except Exception as e:  # noqa: BLE001 (the exception itself is what is compared)
        return type(e), str(e)
    return None


@pytest.mark.parametrize("code, exc, message", ERRORS, ids=[c for c, _, _ in ERRORS])
def test_errors_as_pytorch(code, exc, message):
    assert _error_of(fg.utils.data, code) == (exc, message)


@pytest.mark.parametrize("code, exc, message", ERRORS, ids=[c for c, _, _ in ERRORS])
def test_errors_match_pytorch(code, exc, message):
    torch = pytest.importorskip("torch")
    assert _error_of(torch.utils.data, code) == (exc, message)


# ---- default_collate -----------------------------------------------------------------------------

P = collections.namedtuple("P", "x y")
COLLATE_CASES = {
    "tensors": ([fg.tensor([1.0, 2.0]), fg.tensor([3.0, 4.0])], ("tensor", "float32", [2, 2], [[1.0, 2.0], [3.0, 4.0]])),
    "floats": ([1.5, 2.5], ("tensor", "float64", [2], [1.5, 2.5])),
    "ints": ([1, 2, 3], ("tensor", "int64", [3], [1, 2, 3])),
    "bools": ([True, False], ("tensor", "bool", [2], [True, False])),
    "strs": (["a", "b"], ["list", ["'a'", "'b'"]]),
    "np_arrays": ([np.array([1, 2]), np.array([3, 4])], ("tensor", "int64", [2, 2], [[1, 2], [3, 4]])),
    "np_float64": ([np.array([0.5]), np.array([1.5])], ("tensor", "float64", [2, 1], [[0.5], [1.5]])),
    "np_scalars": ([np.float64(1.0), np.float64(2.0)], ("tensor", "float64", [2], [1.0, 2.0])),
    "np_f32_scalars": ([np.float32(1.0), np.float32(2.0)], ("tensor", "float32", [2], [1.0, 2.0])),
    "tuples": ([(1, 2.0), (3, 4.0)], ["list", [("tensor", "int64", [2], [1, 3]), ("tensor", "float64", [2], [2.0, 4.0])]]),
    "lists": ([[1, 2], [3, 4]], ["list", [("tensor", "int64", [2], [1, 3]), ("tensor", "int64", [2], [2, 4])]]),
    "dicts": ([{"a": 1, "b": "x"}, {"a": 2, "b": "y"}], {"a": ("tensor", "int64", [2], [1, 2]), "b": ["list", ["'x'", "'y'"]]}),
    "namedtuples": ([P(1, 2.0), P(3, 4.0)], ("P", [("tensor", "int64", [2], [1, 3]), ("tensor", "float64", [2], [2.0, 4.0])])),
    "nested": (
        [{"img": np.zeros((2, 2), dtype=np.float32), "meta": (1, "s")}] * 2,
        {"img": ("tensor", "float32", [2, 2, 2], [[[0.0, 0.0], [0.0, 0.0]]] * 2), "meta": ["list", [("tensor", "int64", [2], [1, 1]), "('s', 's')"]]},
    ),
}


def _describe(x):
    """The form the golden script printed PyTorch's results in."""
    if isinstance(x, fg.Tensor):
        return ("tensor", repr(x.dtype).split(".")[-1], list(x.shape), x.tolist())
    if isinstance(x, dict):
        return {k: _describe(v) for k, v in x.items()}
    if isinstance(x, tuple) and hasattr(x, "_fields"):
        return (type(x).__name__, [_describe(v) for v in x])
    if isinstance(x, list):
        return ["list", [_describe(v) for v in x]]
    return repr(x)


@pytest.mark.parametrize("name", list(COLLATE_CASES))
def test_default_collate_as_pytorch(name):
    batch, want = COLLATE_CASES[name]
    assert _describe(default_collate(batch)) == want


@pytest.mark.parametrize("name", list(COLLATE_CASES))
def test_default_collate_golden_matches_pytorch(name):
    torch = pytest.importorskip("torch")
    batch, want = COLLATE_CASES[name]
    batch = [torch.tensor(b.tolist()) if isinstance(b, fg.Tensor) else b for b in batch]

    def describe(x):
        if isinstance(x, torch.Tensor):
            return ("tensor", str(x.dtype).replace("torch.", ""), list(x.shape), x.tolist())
        if isinstance(x, dict):
            return {k: describe(v) for k, v in x.items()}
        if isinstance(x, tuple) and hasattr(x, "_fields"):
            return (type(x).__name__, [describe(v) for v in x])
        if isinstance(x, list):
            return ["list", [describe(v) for v in x]]
        return repr(x)

    assert describe(torch.utils.data.default_collate(batch)) == want


def test_collate_fn_map_teaches_a_type():
    class Point:
        def __init__(self, v):
            self.v = v

    from ferrograd.utils.data._utils.collate import collate, default_collate_fn_map

    fn_map = {**default_collate_fn_map, Point: lambda batch, *, collate_fn_map=None: sum(p.v for p in batch)}
    assert collate([{"p": Point(1)}, {"p": Point(2)}], collate_fn_map=fn_map) == {"p": 3}
