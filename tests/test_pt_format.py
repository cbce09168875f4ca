"""fg.save in PyTorch's zip format and fg.load of it: round trips of every object kind and dtype,
storages shared by views, file objects, atomicity, weights-only refusal and safe globals, and
the exact bytes torch.save writes. The last class runs only where PyTorch is installed: it
reads ferrograd's files with torch.load(weights_only=True) and PyTorch's with fg.load.
"""

from __future__ import annotations

import hashlib
import io
import math
import os
import pickle
import struct
import zipfile
from collections import OrderedDict

import ferrograd as fg
import ferrograd.nn as nn
import numpy as np
import pytest
from ferrograd import _torch_save
from ferrograd import serialization as S

SHARES_STORAGE = hasattr(fg.Tensor, "storage_offset") and hasattr(fg.Tensor, "as_strided")
NEEDS_VIEWS = pytest.mark.skipif(not SHARES_STORAGE, reason="needs Tensor.storage_offset and as_strided (request in /work/notes/requests.md)")
# Every dtype the core has that PyTorch's format can hold.
DTYPES = [getattr(fg, name) for name in _torch_save.DTYPES if isinstance(getattr(fg, name, None), fg.dtype)]


def bits(t) -> np.ndarray:
    """A tensor's values with floats as their bit patterns, so -0.0 and NaN payloads count."""
    t = t.detach()
    if str(t.dtype) == "ferrograd.bfloat16":
        t = t.float()
    a = t.numpy()
    return a.view(f"u{a.itemsize}") if a.dtype.kind == "f" else a


def assert_same(a, b, where="obj"):
    """Same types all the way down (dict vs OrderedDict, list vs tuple, int vs bool, Tensor vs
    Parameter), same dict key order, tensors equal bit for bit with dtype, shape, strides and
    requires_grad."""
    assert type(a) is type(b), (where, type(a), type(b))
    if isinstance(a, fg.Tensor):
        assert (a.dtype, tuple(a.shape), a.requires_grad) == (b.dtype, tuple(b.shape), b.requires_grad), where
        if SHARES_STORAGE:
            assert a.stride() == b.stride(), where
        np.testing.assert_array_equal(bits(a), bits(b), err_msg=where)
    elif isinstance(a, dict):
        assert list(a) == list(b), where
        for k in a:
            assert_same(a[k], b[k], f"{where}[{k!r}]")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{where}[{i}]")
    elif isinstance(a, float) and math.isnan(a):
        assert math.isnan(b), where
    else:
        assert a == b, where
        if isinstance(a, float):
            assert math.copysign(1, a) == math.copysign(1, b), where


def round_trip(obj, **load_args):
    buf = io.BytesIO()
    fg.save(obj, buf)
    buf.seek(0)
    return fg.load(buf, **load_args)


# ---- round trips ------------------------------------------------------------------------------


def test_every_kind_of_value_round_trips_with_its_type():
    p, frozen = nn.Parameter(fg.randn(2, 3)), nn.Parameter(fg.arange(3.0), requires_grad=False)
    obj = OrderedDict(
        state=OrderedDict(w=fg.randn(3, 4), b=fg.zeros(4, dtype=fg.int64), m=fg.tensor([True, False])),
        params={"p": p, "frozen": frozen, "grad": fg.ones(2, requires_grad=True), "nonleaf": fg.ones(2, requires_grad=True) * 2},
        numbers=[0, -1, 2**70, -(2**80), 1.5, -0.0, float("inf"), float("nan"), True, False, None, 1 + 2j],
        text=("naïve ✓ \"quoted\" \n", "", "\x00"),
        raw=[b"\x00\xffbytes", b"", bytearray(b"ab")],
        sets=({1, 2, 3}, set(), {"a"}),
        keys={0: "int", -7: "neg", (1, "t"): "tuple", None: "none", 2.5: "float", True: "bool", "": "empty"},
        nested={"a": [{"b": ({"c": [fg.tensor(3.0)]},)}]},
        empty=(OrderedDict(), {}, [], ()),
        dtypes=[fg.float32, fg.int64, fg.bool, fg.float64, fg.float32],
        device=fg.device("cpu"),
    )
    if hasattr(fg, "Size"):
        obj["size"] = fg.Size([2, 3])  # written as torch.Size
    back = round_trip(obj)
    expected = OrderedDict(obj)
    expected["params"] = dict(obj["params"], nonleaf=obj["params"]["nonleaf"].detach().requires_grad_())
    assert_same(back, expected)
    assert type(back["params"]["p"]) is nn.Parameter and back["params"]["p"].requires_grad
    assert type(back["params"]["frozen"]) is nn.Parameter and not back["params"]["frozen"].requires_grad
    assert back["params"]["grad"].is_leaf and back["params"]["nonleaf"].is_leaf
    assert back["dtypes"][0] is fg.float32 and back["device"] == fg.device("cpu")


def test_a_value_saved_twice_is_one_object_after_loading():
    t, shared = fg.ones(2), [1, 2]
    back = round_trip({"a": t, "b": t, "l1": shared, "l2": shared})
    assert back["a"] is back["b"] and back["l1"] is back["l2"]


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_every_dtype_round_trips_bit_for_bit(dtype):
    values = {
        "float": [1.5, -0.0, float("nan"), float("inf"), -float("inf"), 1e-45, 3.0e38, -2.5],
        "int": [-(2**63), -1, 0, 1, 2**63 - 1] if str(dtype) == "ferrograd.int64" else [-3, -1, 0, 1, 7],
        "bool": [True, False, True],
    }
    kind = "bool" if dtype == fg.bool else "float" if dtype.is_floating_point else "int"
    if str(dtype) == "ferrograd.uint8":
        values["int"] = [0, 1, 7, 255]
    t = fg.tensor(values[kind], dtype=dtype)
    obj = {"t": t, "scalar": t[1], "empty": t[:0], "matrix": fg.stack([t, t]).t()}
    assert_same(round_trip(obj), obj)


def test_zero_dim_empty_and_non_contiguous_tensors_round_trip():
    base = fg.arange(24, dtype=fg.float64).reshape(4, 6) / 7
    obj = {
        "scalar": fg.tensor(2.5),
        "empty": fg.zeros(0, 3, dtype=fg.int64),
        "empty_3d": fg.ones(2, 0, 5),
        "transposed": base.t(),
        "sliced": base[1:, ::2],
        "column": base[:, 4],
        "expanded": fg.tensor([[1.0], [2.0]]).expand(2, 5),
        "permuted": fg.arange(24.0).reshape(2, 3, 4).permute(2, 0, 1),
    }
    back = round_trip(obj)
    for k in obj:  # the values; strides too where the core exposes storages
        assert_same(back[k], obj[k], k)


@NEEDS_VIEWS
def test_views_saved_together_share_one_storage_after_loading():
    w = fg.arange(12.0).reshape(3, 4)
    obj = {"w": w, "t": w.t(), "row": w[1], "col": w[:, 2], "tail": w.reshape(-1)[5:]}
    buf = io.BytesIO()
    fg.save(obj, buf)
    assert [n for n in zipfile.ZipFile(buf).namelist() if "/data/" in n] == ["archive/data/0"]
    back = fg.load(io.BytesIO(buf.getvalue()))
    assert back["t"].stride() == (1, 4) and back["col"].stride() == (4,)
    back["w"].add_(100.0)  # one storage: every view sees it
    assert back["t"][2, 1].item() == 106.0 and back["row"][0].item() == 104.0 and back["tail"][0].item() == 105.0


@NEEDS_VIEWS
def test_a_view_saved_alone_keeps_its_strides_and_only_the_span_it_needs():
    big = fg.arange(10000.0).reshape(100, 100)
    view = big[50:52, ::10]
    buf = io.BytesIO()
    fg.save(view, buf)
    assert zipfile.ZipFile(buf).getinfo("archive/data/0").file_size == (100 + 90 + 1) * 4
    back = fg.load(io.BytesIO(buf.getvalue()))
    assert back.stride() == (100, 10) and back.tolist() == view.tolist()


def _spy(data_pkl: bytes) -> dict:
    """{name: (storage key, offset, size, stride)} of a saved dict of tensors, read from data.pkl."""

    class Spy(pickle.Unpickler):
        def find_class(self, module, name):
            return OrderedDict if name == "OrderedDict" else lambda storage, *args: (storage, *args[:3])

        def persistent_load(self, pid):
            return pid[2]

    return Spy(io.BytesIO(data_pkl)).load()


def test_views_of_one_storage_are_written_once_with_their_offsets_and_strides():
    """The writer's half of storage sharing (every tensor here views `base`)."""
    base = fg.arange(24.0).reshape(4, 6)
    obj = {"t": base.t(), "row": base[2], "cols": base[1:, 1::2], "last": base[3, 5]}
    buf = io.BytesIO()
    fg.save(obj, buf)
    z = zipfile.ZipFile(buf)
    assert [n for n in z.namelist() if "/data/" in n] == ["archive/data/0"]
    assert z.read("archive/data/0") == np.arange(24, dtype="<f4").tobytes()
    assert _spy(z.read("archive/data.pkl")) == {
        "t": ("0", 0, (6, 4), (1, 6)), "row": ("0", 12, (6,), (1,)), "cols": ("0", 7, (3, 3), (6, 2)), "last": ("0", 23, (), ()),
    }  # fmt: skip
    assert_same(fg.load(io.BytesIO(buf.getvalue())), obj)
    # Only the span the saved tensors need is written, the storage's own elements between them
    # included (as_strided reads them).
    buf = io.BytesIO()
    fg.save({"a": base[1, :2], "b": base[2, 4:]}, buf)
    z = zipfile.ZipFile(buf)
    assert z.read("archive/data/0") == np.arange(6, 18, dtype="<f4").tobytes()
    assert _spy(z.read("archive/data.pkl")) == {"a": ("0", 0, (2,), (1,)), "b": ("0", 10, (2,), (1,))}


def test_a_whole_state_dict_loads_into_a_fresh_model(tmp_path):
    fg.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 2))
    model(fg.randn(16, 4))
    model.eval()
    fg.save(model.state_dict(), tmp_path / "model.pt")
    fresh = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 2))
    fresh.load_state_dict(fg.load(tmp_path / "model.pt"))
    fresh.eval()
    x = fg.randn(5, 4)
    assert_same(fresh(x), model(x))
    assert_same(fresh.state_dict(), model.state_dict())


# ---- the file ---------------------------------------------------------------------------------


def test_the_zip_is_laid_out_as_torch_save_lays_it_out(tmp_path):
    fg.save({"w": fg.ones(3), "i": fg.arange(2)}, tmp_path / "my.model.pt")
    data = (tmp_path / "my.model.pt").read_bytes()
    z = zipfile.ZipFile(io.BytesIO(data))
    names = ["data.pkl", ".format_version", ".storage_alignment", "byteorder", "data/0", "data/1", "version", ".data/serialization_id"]
    assert z.namelist() == ["my.model/" + n for n in names]
    assert [z.read("my.model/" + n) for n in names[1:4] + names[6:7]] == [b"1", b"64", b"little", b"3\n"]
    for info in z.infolist():
        assert info.compress_type == zipfile.ZIP_STORED and info.flag_bits == 0x808
        start = info.header_offset + 30 + sum(struct.unpack_from("<HH", data, info.header_offset + 26))
        assert start % 64 == 0 and data[start : start + info.file_size] == z.read(info)
    assert z.read("my.model/data/1") == np.arange(2, dtype="<i8").tobytes()
    assert data.endswith(b"PK\x05\x06" + bytes(4) + struct.pack("<HH", 8, 8) + data[-10:])
    assert b"PK\x06\x06" in data and b"PK\x06\x07" in data  # zip64 end records, always written by PyTorch
    assert z.read("my.model/data.pkl")[:2] == b"\x80\x02"  # pickle protocol 2


def test_the_folder_is_archive_for_file_objects_and_names_pytorch_cannot_use(tmp_path):
    buf = io.BytesIO()
    fg.save(fg.ones(1), buf)
    assert zipfile.ZipFile(buf).namelist()[0] == "archive/data.pkl"
    for name, folder in [("modèle.pt", "archive"), (".pt", "archive"), ("weights", "weights"), ("a.b.pth", "a.b")]:
        fg.save(fg.ones(1), tmp_path / name)
        assert zipfile.ZipFile(tmp_path / name).namelist()[0] == f"{folder}/data.pkl", name
        assert fg.load(tmp_path / name).tolist() == [1.0]


def test_the_bytes_are_torch_saves():
    """The digest of what PyTorch 2.15 writes for the same object (TestWithPyTorch compares the
    bytes directly), made with:

        import hashlib, numpy as np, torch
        torch.save(golden_object(torch, torch.nn), "/tmp/golden/model.pt")
        print(hashlib.sha256(open("/tmp/golden/model.pt", "rb").read()).hexdigest())
    """
    saved = _saved_as(golden_object(fg, nn), "model.pt")
    assert hashlib.sha256(saved).hexdigest() == "b442563e7bc513eaf4a66e502d796ef745dd761f105bcfeadd2c6d6db93598dc"


def golden_object(lib, nn_module):
    t = lambda a: lib.from_numpy(np.array(a))  # noqa: E731
    w = np.arange(12, dtype=np.float32).reshape(3, 4) / 7
    return {
        "model": OrderedDict(w=t(w), b=t(np.arange(3)), m=t([True, False]), d=t(np.linspace(0, 1, 5)), p=nn_module.Parameter(t(w[0]))),
        "epoch": 3,
        "cfg": {"lr": 0.1, "name": "x", "betas": (0.9, 0.99), "raw": b"\x00\xff", "none": None, "big": 2**70, "set": {1, 2}, "c": 1 + 2j},
        "scalar": t(np.float32(2.5)),
        "empty": lib.zeros(0, 3),
        "list": [t(np.ones(2)), -1.5],
    }


def _saved_as(obj, name: str) -> bytes:
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        fg.save(obj, os.path.join(folder, name))
        with open(os.path.join(folder, name), "rb") as f:
            return f.read()


def test_the_serialization_id_hashes_names_in_libstdcxx_unordered_set_order():
    """Golden values from libstdc++ (g++ 12), for the records of files with n storages:

        std::unordered_set<std::string> s(names...);  size_t h = 0;
        for (auto& n : s) h = h ^ (std::hash<std::string>{}(n) + 0x9e3779b9 + (h << 6) + (h >> 2));
        printf("%020zu", h);
    """
    golden = {0: "02908468677762923104", 1: "15728199511854643026", 2: "05611085236196705294", 12: "13069572823877178827",
              13: "06903490997831443750", 40: "15065861001111053755", 200: "03369029643746416174"}  # fmt: skip
    for n, want in golden.items():
        names = ["data.pkl", ".format_version", ".storage_alignment", "byteorder", *[f"data/{i}" for i in range(n)], "version"]
        assert _torch_save._serialization_id(names, 7) == want + "00000000000000000007"


def test_entries_past_4_gib_get_zip64_fields(monkeypatch):
    monkeypatch.setattr(_torch_save, "_ZIP64_FROM", 100)  # as if every entry past byte 100 were past 4 GiB
    obj = {"a": fg.arange(10.0), "b": fg.arange(100.0), "c": [fg.ones(3, dtype=fg.int64)]}
    buf = io.BytesIO()
    fg.save(obj, buf)
    infos = zipfile.ZipFile(buf).infolist()
    assert all(i.extra[:2] == b"\x01\x00" for i in infos[1:]) and infos[-1].header_offset > 1000  # zip64 fields
    assert_same(fg.load(io.BytesIO(buf.getvalue())), obj)


def test_file_objects_save_and_load_in_both_formats(tmp_path):
    obj = {"w": fg.randn(3), "n": [1, "x"]}
    with open(tmp_path / "f.bin", "wb") as f:
        f.write(b"header")  # a zip after other bytes: offsets are relative to where it starts
        fg.save(obj, f)
    with open(tmp_path / "f.bin", "rb") as f:
        assert f.read(6) == b"header"
        assert_same(fg.load(f), obj)
    fg.save(obj, tmp_path / "x.safetensors")
    with open(tmp_path / "x.safetensors", "rb") as f:
        assert_same(fg.load(f), obj)

    class Stream:  # read() only: not seekable
        def __init__(self, data):
            self.data = data

        def read(self, n=-1):
            out, self.data = (self.data, b"") if n < 0 else (self.data[:n], self.data[n:])
            return out

    assert_same(fg.load(Stream((tmp_path / "x.safetensors").read_bytes())), obj)
    with pytest.raises(ValueError, match="<BytesIO>.*not a file fg.load can read"):
        fg.load(io.BytesIO(b"not a checkpoint, just text"))


# ---- atomicity and refusals -------------------------------------------------------------------


def test_a_save_failing_midway_keeps_the_previous_file(tmp_path, monkeypatch):
    target = tmp_path / "ckpt.pt"
    fg.save({"w": fg.ones(3)}, target)
    before = target.read_bytes()
    real = _torch_save._storage_array
    calls = []

    def fail_on_second(ref):
        calls.append(ref.key)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        return real(ref)

    monkeypatch.setattr(_torch_save, "_storage_array", fail_on_second)
    with pytest.raises(OSError, match="ckpt.pt.*No space left"):
        fg.save({"a": fg.zeros(1000), "b": fg.zeros(1000)}, target)
    assert len(calls) == 2 and target.read_bytes() == before and os.listdir(tmp_path) == ["ckpt.pt"]


def test_what_cannot_be_pickled_is_named_before_anything_is_written(tmp_path):
    model = nn.Sequential(nn.Linear(2, 2), nn.ReLU())
    model[1].hook = lambda x: x
    cases = [
        ({"model": model}, r"cannot save function at obj\['model'\]\._modules\['1'\]\.hook"),
        ({"a": [1, {"gen": (i for i in range(3))}]}, r"cannot save generator at obj\['a'\]\[1\]\['gen'\]"),
        (lambda: 0, r"cannot save function at obj:"),
    ]
    for obj, message in cases:
        with pytest.raises(TypeError, match=message):
            fg.save(obj, tmp_path / "x.pt")
        with pytest.raises(TypeError, match=message):
            fg.save(obj, io.BytesIO())
    assert os.listdir(tmp_path) == []


def test_a_whole_module_needs_weights_only_false(tmp_path):
    fg.manual_seed(1)
    model = nn.Sequential(nn.Linear(3, 5), nn.BatchNorm1d(5), nn.Tanh(), nn.Linear(5, 1))
    model(fg.randn(8, 3))
    fg.save(model, tmp_path / "whole.pt")
    with pytest.raises(pickle.UnpicklingError, match=r"(?s)weights_only.*False.*fg\.serialization\.add_safe_globals\(\[ferrograd\.nn\.modules\.container\.Sequential\]\)"):
        fg.load(tmp_path / "whole.pt")
    with pytest.raises(ValueError):  # also a ValueError, as every refusal of fg.load
        fg.load(tmp_path / "whole.pt", weights_only=True)
    back = fg.load(tmp_path / "whole.pt", weights_only=False)
    assert type(back) is nn.Sequential and [type(m) for m in back] == [type(m) for m in model]
    model.eval()
    back.eval()
    x = fg.randn(4, 3)
    assert_same(back(x), model(x))
    assert all(type(p) is nn.Parameter and p.requires_grad for p in back.parameters())


class Config:  # a class a checkpoint may hold (module level, so pickle finds it)
    def __init__(self, lr, layers):
        self.lr, self.layers = lr, layers


def make_config(lr):
    return Config(lr, [1])


def test_safe_globals_admit_the_classes_the_user_trusts(tmp_path):
    fg.save({"cfg": Config(0.1, [4, 8]), "w": fg.ones(2)}, tmp_path / "c.pt")
    S.clear_safe_globals()
    with pytest.raises(pickle.UnpicklingError, match=rf"GLOBAL {__name__}\.Config was not an allowed global"):
        fg.load(tmp_path / "c.pt")
    with S.safe_globals([Config]):
        assert S.get_safe_globals() == [Config]
        cfg = fg.load(tmp_path / "c.pt")["cfg"]
        assert type(cfg) is Config and (cfg.lr, cfg.layers) == (0.1, [4, 8])
    assert S.get_safe_globals() == []
    S.add_safe_globals([(Config, f"{__name__}.Config")])
    try:
        assert fg.load(tmp_path / "c.pt")["cfg"].lr == 0.1
    finally:
        S.clear_safe_globals()
    with pytest.raises(pickle.UnpicklingError):
        fg.load(tmp_path / "c.pt")


def test_safe_globals_never_let_build_change_the_allowed_class_itself(tmp_path):
    """BUILD with (None, {name: value}) sets attributes on whatever is on the stack: on the
    allowed class itself it would change it for the whole process."""
    name = f"{__name__}\nConfig\n".encode()
    evil = b"\x80\x02c" + name + b"N}X\x02\x00\x00\x00lrK\x07s\x86b."
    with zipfile.ZipFile(tmp_path / "evil.pt", "w") as z:
        z.writestr("archive/data.pkl", evil)
    with S.safe_globals([Config]), pytest.raises(pickle.UnpicklingError, match="tries to change .*Config"):
        fg.load(tmp_path / "evil.pt")
    assert not hasattr(Config, "lr")
    with S.safe_globals([make_config]):  # an allowed function is called, not changed
        with zipfile.ZipFile(tmp_path / "fn.pt", "w") as z:
            z.writestr("archive/data.pkl", b"\x80\x02c" + f"{__name__}\nmake_config\n".encode() + b"G?\xb9\x99\x99\x99\x99\x99\x9a\x85R.")
        assert fg.load(tmp_path / "fn.pt").lr == 0.1


def test_blocked_modules_stay_refused_whatever_the_allowlist(tmp_path):
    with zipfile.ZipFile(tmp_path / "evil.pt", "w") as z:
        z.writestr("archive/data.pkl", b"\x80\x02cos\nsystem\nX\x04\x00\x00\x00trueq\x00\x85R.")
    with S.safe_globals([os.system]), pytest.raises(pickle.UnpicklingError, match="GLOBAL os.system whose module os is blocked"):
        fg.load(tmp_path / "evil.pt")


def test_load_accepts_pytorchs_arguments(tmp_path):
    fg.save({"w": fg.ones(2)}, tmp_path / "w.pt")
    for loc in (None, "cpu", fg.device("cpu"), {"cuda:0": "cpu"}, lambda storage, loc: storage):
        assert fg.load(tmp_path / "w.pt", map_location=loc, mmap=True, weights_only=True)["w"].tolist() == [1, 1]
    with pytest.raises(RuntimeError, match="CPU only"):
        fg.load(tmp_path / "w.pt", map_location="cuda:0")
    with pytest.raises(ValueError, match="mmap"), open(tmp_path / "w.pt", "rb") as f:
        fg.load(f, mmap=True)
    with pytest.raises(TypeError, match="unexpected keyword argument 'nope'"):
        fg.load(tmp_path / "w.pt", nope=1)
    with pytest.raises(ValueError, match="legacy format"):
        fg.save({}, tmp_path / "old.pt", _use_new_zipfile_serialization=False)


# ---- PyTorch itself ---------------------------------------------------------------------------


def _torch_value(value, torch):
    """`value` with ferrograd's tensors, Parameters, dtypes and devices as PyTorch's."""
    if isinstance(value, fg.Tensor):
        t = torch.from_numpy(np.ascontiguousarray(value.detach().numpy()))
        if isinstance(value, nn.Parameter):
            return torch.nn.Parameter(t, requires_grad=value.requires_grad)
        return t.requires_grad_(value.requires_grad)
    if isinstance(value, fg.dtype):
        return getattr(torch, str(value).rsplit(".", 1)[1])
    if isinstance(value, fg.device):
        return torch.device(str(value))
    if type(value).__name__ == "Size":
        return torch.Size(value)
    if isinstance(value, dict):
        return type(value)((k, _torch_value(v, torch)) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return type(value)(_torch_value(v, torch) for v in value)
    return value


def assert_matches_torch(ours, theirs, torch, where="obj"):
    if isinstance(theirs, torch.Tensor):
        assert isinstance(ours, fg.Tensor), where
        assert type(ours) is (nn.Parameter if isinstance(theirs, torch.nn.Parameter) else fg.Tensor), where
        assert str(ours.dtype).rsplit(".", 1)[1] == str(theirs.dtype).rsplit(".", 1)[1], where
        assert (tuple(ours.shape), ours.requires_grad) == (tuple(theirs.shape), theirs.requires_grad), where
        if SHARES_STORAGE:
            assert ours.stride() == theirs.stride(), where
        t = theirs.detach().numpy()
        np.testing.assert_array_equal(bits(ours), t.view(f"u{t.itemsize}") if t.dtype.kind == "f" else t, err_msg=where)
    elif isinstance(theirs, torch.dtype):
        assert isinstance(ours, fg.dtype) and str(ours).rsplit(".")[1] == str(theirs).rsplit(".")[1], where
    elif isinstance(theirs, torch.device):
        assert ours == fg.device(str(theirs)), where
    elif isinstance(theirs, torch.Size):
        assert type(ours) is fg.Size and tuple(ours) == tuple(theirs), where
    elif isinstance(theirs, dict):
        assert type(ours) is type(theirs) and list(ours) == list(theirs), where
        for k in theirs:
            assert_matches_torch(ours[k], theirs[k], torch, f"{where}[{k!r}]")
    elif isinstance(theirs, (list, tuple)):
        assert type(ours) is type(theirs) and len(ours) == len(theirs), where
        for i, (a, b) in enumerate(zip(ours, theirs)):
            assert_matches_torch(a, b, torch, f"{where}[{i}]")
    elif isinstance(theirs, float) and math.isnan(theirs):
        assert math.isnan(ours), where
    else:
        assert type(ours) is type(theirs) and ours == theirs, where


def checkpoint():
    fg.manual_seed(3)
    base = fg.randn(5, 7, dtype=fg.float64)
    return OrderedDict(
        model=OrderedDict(w=fg.randn(3, 4), b=fg.zeros(4, dtype=fg.int64), m=fg.tensor([True, False, True])),
        params=[nn.Parameter(fg.randn(2)), nn.Parameter(fg.ones(3), requires_grad=False)],
        views={"base": base, "t": base.t(), "rows": base[1:4:2], "col": base[:, 3], "scalar": base[4, 6]},
        plain={"epoch": 2, "betas": (0.9, 0.99), "name": "ckpt ✓", "none": None, "flag": True, 7: b"raw", "nan": float("nan")},
        extra=[{1, 2}, 3 - 1j, bytearray(b"xy"), fg.float64, fg.device("cpu"), fg.tensor(1.5, requires_grad=True)],
        **({"size": fg.Size([4, 5])} if hasattr(fg, "Size") else {}),
    )


class TestWithPyTorch:
    """Runs where PyTorch is installed (CI relies on the golden digest above)."""

    @pytest.fixture(autouse=True)
    def torch(self):
        return pytest.importorskip("torch")

    def test_torch_load_weights_only_reads_fg_save(self, torch, tmp_path):
        obj = checkpoint()
        fg.save(obj, tmp_path / "fg.pt")
        theirs = torch.load(tmp_path / "fg.pt", weights_only=True)
        assert_matches_torch(obj, theirs, torch)
        if SHARES_STORAGE:  # views share one storage in PyTorch too
            views = theirs["views"]
            assert len({v.untyped_storage().data_ptr() for v in views.values()}) == 1

    def test_fg_load_reads_torch_save(self, torch, tmp_path):
        theirs = _torch_value(checkpoint(), torch)
        v = theirs["views"]
        v["t"], v["rows"], v["col"], v["scalar"] = v["base"].t(), v["base"][1:4:2], v["base"][:, 3], v["base"][4, 6]
        torch.save(theirs, tmp_path / "torch.pt")
        ours = fg.load(tmp_path / "torch.pt")
        assert_matches_torch(ours, theirs, torch)
        assert_matches_torch(fg.load(tmp_path / "torch.pt", weights_only=False), theirs, torch)  # PyTorch's globals map the same
        if SHARES_STORAGE:
            ours["views"]["base"].add_(1.0)
            assert ours["views"]["t"][6, 4].item() == ours["views"]["scalar"].item() == theirs["views"]["scalar"].item() + 1

    def test_the_same_object_gives_torch_saves_bytes(self, torch, tmp_path):
        (tmp_path / "t").mkdir()
        (tmp_path / "f").mkdir()
        torch.save(golden_object(torch, torch.nn), tmp_path / "t" / "model.pt")
        fg.save(golden_object(fg, nn), tmp_path / "f" / "model.pt")
        assert (tmp_path / "t" / "model.pt").read_bytes() == (tmp_path / "f" / "model.pt").read_bytes()
        ours, theirs = io.BytesIO(), io.BytesIO()
        fg.save(golden_object(fg, nn), ours)
        torch.save(golden_object(torch, torch.nn), theirs)
        assert ours.getvalue() == theirs.getvalue()

    def test_views_written_together_are_views_of_one_storage_in_torch(self, torch):
        base = fg.arange(24.0).reshape(4, 6)
        obj = {"t": base.t(), "row": base[2], "cols": base[1:, 1::2]}
        buf = io.BytesIO()
        fg.save(obj, buf)
        buf.seek(0)
        theirs = torch.load(buf, weights_only=True)
        assert len({v.untyped_storage().data_ptr() for v in theirs.values()}) == 1
        assert {k: (v.stride(), v.storage_offset()) for k, v in theirs.items()} == {"t": ((1, 6), 0), "row": ((1,), 12), "cols": ((6, 2), 7)}
        for k in obj:
            np.testing.assert_array_equal(theirs[k].numpy(), obj[k].numpy())

    def test_zip64_entries_load_in_torch(self, torch, tmp_path, monkeypatch):
        monkeypatch.setattr(_torch_save, "_ZIP64_FROM", 100)
        fg.save({"a": fg.arange(10.0), "b": fg.arange(100.0)}, tmp_path / "z.pt")
        assert torch.load(tmp_path / "z.pt", weights_only=True)["b"].tolist() == list(map(float, range(100)))

    def test_an_fg_state_dict_loads_into_the_torch_model(self, torch, tmp_path):
        fg.manual_seed(5)
        ours = nn.Sequential(nn.Linear(6, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 3))
        ours(fg.randn(32, 6))  # running statistics move
        ours.eval()
        fg.save(ours.state_dict(), tmp_path / "model.pt")
        theirs = torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.BatchNorm1d(16), torch.nn.ReLU(), torch.nn.Linear(16, 3))
        theirs.load_state_dict(torch.load(tmp_path / "model.pt", weights_only=True))
        theirs.eval()
        x = np.random.default_rng(0).standard_normal((5, 6)).astype(np.float32)
        with torch.no_grad():
            want = theirs(torch.from_numpy(x)).numpy()
        np.testing.assert_allclose(ours(fg.tensor(x)).detach().numpy(), want, rtol=1e-5, atol=1e-6)
        # and back: PyTorch's state_dict into a fresh ferrograd model
        torch.save(theirs.state_dict(), tmp_path / "back.pt")
        fresh = nn.Sequential(nn.Linear(6, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 3))
        fresh.load_state_dict(fg.load(tmp_path / "back.pt"))
        fresh.eval()
        assert_same(fresh(fg.tensor(x)), ours(fg.tensor(x)))
