"""fg.save / fg.load: round trips of every dtype and nested structure, checkpoints that resume
training exactly, and PyTorch's files (tests/fixtures, made once by make_fixtures.py with
PyTorch) loading into the equivalent ferrograd models with PyTorch's outputs.

Corrupt and hostile files, and atomicity under a killed save, are in test_io_hostile.py.
"""

from __future__ import annotations

import math
import os
from collections import OrderedDict

import ferrograd as fg
import ferrograd.nn as nn
import ferrograd.nn.functional as F
import numpy as np
import pytest
from ferrograd import _core

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")
EXPECTED = np.load(os.path.join(FIXTURES, "expected.npz"))


def fixture(name: str) -> str:
    return os.path.join(FIXTURES, name)


def assert_same_tensor(a, b):
    assert isinstance(a, fg.Tensor) and isinstance(b, fg.Tensor)
    assert (a.dtype, tuple(a.shape)) == (b.dtype, tuple(b.shape))
    x, y = a.detach().numpy(), b.detach().numpy()
    if x.dtype.kind == "f":  # bit for bit, so -0.0 and NaN count too
        x, y = x.view(f"u{x.itemsize}"), y.view(f"u{y.itemsize}")
    np.testing.assert_array_equal(x, y)


def assert_same(a, b):
    """Equal values of identical types all the way down (dict vs OrderedDict, list vs tuple, int
    vs float vs bool), with dict key order."""
    assert type(a) is type(b), (a, b)
    if isinstance(a, fg.Tensor):
        assert_same_tensor(a, b)
    elif isinstance(a, dict):
        assert list(a) == list(b)
        for k in a:
            assert_same(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            assert_same(x, y)
    elif isinstance(a, float) and math.isnan(a):
        assert math.isnan(b)
    else:
        assert a == b and (not isinstance(a, float) or math.copysign(1, a) == math.copysign(1, b))


# ---- round trips ------------------------------------------------------------------------------


def test_every_dtype_and_layout_round_trips_bit_for_bit(tmp_path):
    base = fg.arange(24, dtype=fg.float64).reshape(4, 6) / 7
    obj = {
        "float32": fg.tensor([1.5, -0.0, float("nan"), float("inf"), 1e-45, -3.4e38]),
        "float64": base,
        "int64": fg.tensor([-(2**63), -1, 0, 2**63 - 1]),
        "bool": fg.tensor([[True, False], [False, True]]),
        "scalar": fg.tensor(2.5),
        "empty": fg.zeros(0, 3, dtype=fg.int64),
        "transposed": base.t(),
        "sliced": base[1:, ::2],
    }
    fg.save(obj, tmp_path / "all.safetensors")
    back = fg.load(tmp_path / "all.safetensors")
    assert_same(back, obj)


def test_nested_structures_and_plain_values_keep_their_types(tmp_path):
    obj = OrderedDict(
        z_first={"w": fg.ones(2), "deeper": {"b": fg.zeros(1, dtype=fg.bool), "n": 0}},
        a_list=[fg.ones(1), 1, 1.0, True, None, "s", [2, (3, "x")], {}],
        a_tuple=(0.1, -0.0, float("inf"), float("nan"), 2**70),
        text="naïve ✓ \"quoted\" \n",
        raw=b"\x00\xffbytes",
        empty_dict=OrderedDict(),
        empty_list=[],
    )
    obj["int_keys"] = {0: fg.full((2,), 3.0), 1: {"step": 5}, -7: "neg"}
    obj["odd_keys"] = {None: 1, True: 2, 2.5: 3, "": fg.ones(1)}
    path = tmp_path / "nested.safetensors"
    fg.save(obj, path)
    assert_same(fg.load(path), obj)


def test_state_dict_keys_are_the_tensor_names_in_the_file(tmp_path):
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))
    fg.save(model.state_dict(), tmp_path / "model.safetensors")
    names = [n for n, _ in _core._load_safetensors(tmp_path / "model.safetensors")[0]]
    assert sorted(names) == sorted(model.state_dict())


def test_dotted_keys_that_would_collide_are_escaped_and_round_trip(tmp_path):
    obj = {"a.b": fg.ones(1), "a": {"b": fg.zeros(1), "c\\.d": fg.full((1,), 2.0)}}
    fg.save(obj, tmp_path / "dots.safetensors")
    names = {n for n, _ in _core._load_safetensors(tmp_path / "dots.safetensors")[0]}
    assert names == {"a\\.b", "a.b", "a.c\\\\\\.d"}
    assert_same(fg.load(tmp_path / "dots.safetensors"), obj)


def test_bare_tensor_parameters_and_requires_grad_round_trip(tmp_path):
    fg.save(fg.arange(3), tmp_path / "t.safetensors")
    assert_same(fg.load(tmp_path / "t.safetensors"), fg.arange(3))
    p = nn.Parameter(fg.randn(2, 2))
    frozen = nn.Parameter(fg.randn(2), requires_grad=False)
    fg.save({"p": p, "frozen": frozen, "leaf": fg.ones(2, requires_grad=True)}, tmp_path / "p.safetensors")
    back = fg.load(tmp_path / "p.safetensors")
    assert type(back["p"]) is nn.Parameter and back["p"].requires_grad
    assert type(back["frozen"]) is nn.Parameter and not back["frozen"].requires_grad
    assert type(back["leaf"]) is fg.Tensor and back["leaf"].requires_grad
    assert_same_tensor(back["p"], p)


def test_state_dict_saved_as_model_pt_loads_back_into_a_fresh_model(tmp_path):
    fg.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 2))
    model(fg.randn(16, 4))  # running stats move away from their initial values
    model.eval()
    fg.save(model.state_dict(), str(tmp_path / "model.pt"))
    fresh = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 2))
    fresh.load_state_dict(fg.load(str(tmp_path / "model.pt")))
    fresh.eval()
    x = fg.randn(5, 4)
    assert_same_tensor(fresh(x), model(x))
    assert_same(fresh.state_dict(), model.state_dict())


def test_what_fg_save_cannot_store_is_a_type_error_naming_where(tmp_path):
    # safetensors holds tensors, containers and plain values only.
    with pytest.raises(TypeError, match=r"cannot save numpy\.ndarray at obj\['model'\]\['w'\].*fg\.from_numpy"):
        fg.save({"model": {"w": np.ones(2)}}, tmp_path / "x.safetensors")
    with pytest.raises(TypeError, match=r"cannot save object at obj\[0\]"):
        fg.save([object()], tmp_path / "x.safetensors")
    with pytest.raises(TypeError, match="dict keys that are str"):
        fg.save({(1, 2): 3}, tmp_path / "x.safetensors")
    # PyTorch's format pickles whatever pickles (tests/test_pt_format.py); the rest is named.
    with pytest.raises(TypeError, match=r"cannot save function at obj\['model'\]\['act'\]"):
        fg.save({"model": {"act": lambda x: x}}, tmp_path / "x.pt")
    with pytest.raises(TypeError, match="expected a path .* or a binary file object, got int"):
        fg.save({}, 3)
    assert list(tmp_path.iterdir()) == []


def test_map_location_accepts_the_cpu_and_refuses_other_devices(tmp_path):
    fg.save({"w": fg.ones(2)}, tmp_path / "w.pt")
    for loc in (None, "cpu", fg.device("cpu"), {"cuda:0": "cpu"}, lambda storage, loc: storage):
        assert_same_tensor(fg.load(tmp_path / "w.pt", map_location=loc)["w"], fg.ones(2))
    with pytest.raises(RuntimeError, match="CPU only"):
        fg.load(tmp_path / "w.pt", map_location="cuda")


def test_numpy_reads_tensors_through_array():
    t = fg.arange(6, dtype=fg.float64).reshape(2, 3).t()
    np.testing.assert_array_equal(np.asarray(t), np.arange(6.0).reshape(2, 3).T)
    assert np.asarray(fg.tensor([True])).dtype == np.bool_


# ---- resuming training exactly ----------------------------------------------------------------


def _model():
    return nn.Sequential(nn.Linear(5, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 3))


def _train(model, momentum, losses, steps, checkpoint_at=None, path=None):
    """SGD with momentum on fresh random batches: the data, the dropout masks and so the losses
    all depend on the global RNG, so a resumed run matches only if every piece of state does."""
    for step in range(len(losses), steps):
        if step == checkpoint_at:
            ckpt = {"model": model.state_dict(), "momentum": momentum, "rng": fg.get_rng_state(), "losses": list(losses)}
            fg.save(ckpt, path)
        x, y = fg.randn(8, 5), fg.randint(0, 3, (8,))
        model.train()
        loss = F.cross_entropy(model(x), y)
        model.zero_grad()
        loss.backward()
        with fg.no_grad():
            for p, buf in zip(model.parameters(), momentum):
                buf.mul_(0.9).add_(p.grad)
                p -= 0.05 * buf
        losses.append(loss.item())


def test_resuming_from_a_checkpoint_reproduces_the_losses_bit_for_bit(tmp_path):
    path = tmp_path / "ckpt.pt"
    fg.manual_seed(7)
    model = _model()
    momentum = [fg.zeros_like(p) for p in model.parameters()]
    losses: list[float] = []
    _train(model, momentum, losses, steps=12, checkpoint_at=5, path=path)

    fg.manual_seed(12345)  # a different run: other initial weights, other RNG position
    resumed = _model()
    ckpt = fg.load(path)
    resumed.load_state_dict(ckpt["model"])
    fg.set_rng_state(ckpt["rng"])
    resumed_losses = ckpt["losses"]
    assert len(resumed_losses) == 5
    _train(resumed, ckpt["momentum"], resumed_losses, steps=12)

    assert resumed_losses == losses  # floats compared exactly
    assert_same(resumed.state_dict(), model.state_dict())


# ---- PyTorch's files --------------------------------------------------------------------------


def _mlp():
    return nn.Sequential(nn.Linear(6, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 3))


class TinyNet(nn.Module):
    """make_fixtures.TinyNet, attribute for attribute."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.BatchNorm2d(2), nn.Flatten(), nn.Linear(2 * 4 * 4, 24), nn.LayerNorm(24), nn.GELU())
        self.drop = nn.Dropout(0.25)
        self.head = nn.Linear(24, 5)

    def forward(self, x):
        return self.head(self.drop(self.features(x)))


@pytest.mark.parametrize("file", ["mlp.safetensors", "mlp.pt", "tinynet.safetensors", "tinynet.pt"])
def test_pytorch_state_dicts_give_pytorchs_eval_outputs(file):
    name = file.split(".")[0]
    model = _mlp() if name == "mlp" else TinyNet()
    sd = fg.load(fixture(file))
    assert model.load_state_dict(sd) is not None
    model.eval()
    with fg.no_grad():
        out = model(fg.tensor(EXPECTED[f"{name}/x"])).numpy()
    np.testing.assert_allclose(out, EXPECTED[f"{name}/out"], rtol=1e-5, atol=1e-6)
    bn = "1" if name == "mlp" else "features.0"
    assert sd[f"{bn}.num_batches_tracked"].dtype == fg.int64 and sd[f"{bn}.num_batches_tracked"].item() > 0


def test_pytorch_checkpoint_dict_loads_with_its_python_values():
    ckpt = fg.load(fixture("mlp_checkpoint.pt"))
    assert list(ckpt) == ["model", "optimizer", "epoch", "losses", "config"]
    assert type(ckpt["model"]) is OrderedDict and ckpt["epoch"] == 3
    assert ckpt["losses"] == EXPECTED["mlp/losses"].tolist()
    assert_same(ckpt["config"], {"lr": 0.01, "name": "mlp", "betas": (0.9, 0.999), "amsgrad": False, "scheduler": None})
    opt = ckpt["optimizer"]
    assert sorted(opt["state"]) == list(range(6)) and opt["param_groups"][0]["params"] == list(range(6))
    assert opt["state"][0]["step"].item() == 20.0
    assert tuple(opt["state"][0]["exp_avg"].shape) == (16, 6)
    model = _mlp()
    model.load_state_dict(ckpt["model"])
    model.eval()
    with fg.no_grad():
        out = model(fg.tensor(EXPECTED["mlp/x"])).numpy()
    np.testing.assert_allclose(out, EXPECTED["mlp/out"], rtol=1e-5, atol=1e-6)


def _loaded_dtype(name: str, expected: np.ndarray):
    """ferrograd's dtype for the PyTorch tensor `name` whose values make_fixtures stored as
    `expected`: its own (float16/bfloat16 are stored as float32 in the npz, named by the entry)."""
    if name in ("float16", "bfloat16"):
        return getattr(fg, name)
    if name == "bf16_slice":
        return fg.bfloat16
    return getattr(fg, expected.dtype.name)


@pytest.mark.parametrize("file", ["dtypes.safetensors", "dtypes.pt"])
def test_pytorch_dtypes_and_views_load_exactly(file):
    got = fg.load(fixture(file))
    want = {k.split("/", 1)[1]: EXPECTED[k] for k in EXPECTED.files if k.startswith("dtypes/")}
    if file.endswith(".safetensors"):  # safetensors holds no views
        want = {k: v for k, v in want.items() if k in got}
    assert set(got) == set(want) and len(got) >= 12
    for name, w in want.items():
        assert got[name].dtype == _loaded_dtype(name, w), name
        t = got[name].float() if got[name].dtype in (fg.float16, fg.bfloat16) else got[name]
        np.testing.assert_array_equal(t.numpy(), w, err_msg=name)


def test_pytorch_and_ferrograd_name_state_dict_entries_alike():
    names = sorted(n for n, _ in _core._load_safetensors(fixture("mlp.safetensors"))[0])
    assert names == sorted(_mlp().state_dict())


def _torch_to_numpy(t):
    return (t.float() if str(t.dtype) in ("torch.float16", "torch.bfloat16") else t).numpy()


def _assert_matches_torch(got, want):
    if type(want).__module__.startswith("torch"):  # a tensor
        # bfloat16 has no numpy dtype in either library (.numpy() raises, as PyTorch's does).
        assert str(got.dtype).split(".")[-1] == str(want.dtype).split(".")[-1]
        np.testing.assert_array_equal((got.float() if got.dtype == fg.bfloat16 else got).numpy(), _torch_to_numpy(want))
    elif isinstance(want, dict):
        assert type(got) is type(want) and list(got) == list(want)
        for k in want:
            _assert_matches_torch(got[k], want[k])
    elif isinstance(want, (list, tuple)):
        assert type(got) is type(want) and len(got) == len(want)
        for g, w in zip(got, want):
            _assert_matches_torch(g, w)
    else:
        assert type(got) is type(want) and got == want


def test_torch_zip_files_load_as_torch_load_reads_them(tmp_path):
    """The direct oracle, where PyTorch is installed (CI relies on the committed fixtures)."""
    torch = pytest.importorskip("torch")
    g = torch.Generator().manual_seed(0)
    base = torch.randn(5, 7, generator=g, dtype=torch.float64)
    obj = {
        "sd": OrderedDict(w=torch.randn(3, 4, generator=g), i=torch.arange(6, dtype=torch.int32).reshape(2, 3)),
        "views": [base.t(), base[2:, 1::3], base[0], base[4, 6]],
        "narrow": (torch.randn(4, generator=g).half(), torch.randn(4, generator=g).bfloat16(), torch.tensor([-3], dtype=torch.int8)),
        "mask": torch.rand(3, generator=g) > 0.5,
        "meta": {"epoch": 2, "betas": (0.9, 0.99), "name": "x", "none": None, "flag": True, 7: b"raw", "set": {1, 2}},
    }
    torch.save(obj, tmp_path / "t.pt")
    _assert_matches_torch(fg.load(tmp_path / "t.pt"), torch.load(tmp_path / "t.pt", weights_only=True))


def test_pytorch_file_saved_without_crc32_loads():
    """torch.serialization.set_crc32_options(False) records every CRC-32 as 0; torch.load reads
    such files, and so does fg.load (a non-zero CRC-32 is checked: test_io_hostile.py)."""
    got = fg.load(fixture("nocrc.pt"))
    assert_same(got, {"w": fg.arange(6.0).reshape(2, 3)})


SAVE_ONCE = """
import sys, ferrograd as fg
from collections import OrderedDict
fg.manual_seed(0)
obj = {"model": OrderedDict(w=fg.randn(3, 4), b=fg.zeros(4, dtype=fg.int64), m=fg.tensor([True, False])),
       "epoch": 3, "cfg": {"lr": 0.1, "name": "x", "betas": (0.9, 0.99), "raw": b"\\x00"}}
for path in sys.argv[1:]:
    fg.save(obj, path)
"""


def test_the_same_save_gives_the_same_bytes_in_any_process(tmp_path):
    """The safetensors header's __metadata__ was written from a Rust HashMap, in an order that
    changed from process to process (and from call to call). PyTorch's format is checked too
    (same file name: the name of the zip's folder is the file's)."""
    import subprocess
    import sys

    files = []
    # Eight processes: a random order of two keys comes out the same in all of them 1 time in 128.
    for i, seed in enumerate(map(str, range(8))):
        (tmp_path / str(i)).mkdir()
        paths = [tmp_path / str(i) / "ckpt.safetensors", tmp_path / str(i) / "ckpt.pt"]
        env = {**os.environ, "PYTHONHASHSEED": seed}
        subprocess.run([sys.executable, "-c", SAVE_ONCE, *map(str, paths)], check=True, env=env, timeout=120)
        files.append([p.read_bytes() for p in paths])
    obj = {"w": fg.arange(6.0), "n": 1, "s": "x"}
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        fg.save(obj, tmp_path / folder / "x.safetensors")
        fg.save(obj, tmp_path / folder / "x.pt")
    assert all(f == files[0] for f in files)
    for name in ("x.safetensors", "x.pt"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
