"""fg.load against truncated, corrupt and hostile files, and fg.save's atomicity.

Every bad file must raise a ValueError that names the problem: never a crash, never code from
the file run, never memory allocated from a size read in the file (one test runs the whole table
under an address-space limit). A save killed midway must leave the previous file intact.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import re
import signal
import struct
import subprocess
import sys
import textwrap
import time
import types
import zipfile
from collections import OrderedDict
from contextlib import contextmanager

import ferrograd as fg
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "fixtures")
F32x2 = {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}


def safetensors_bytes(header, data: bytes = b"", length: int | None = None) -> bytes:
    text = header if isinstance(header, (str, bytes)) else json.dumps(header)
    text = text.encode() if isinstance(text, str) else text
    return struct.pack("<Q", len(text) if length is None else length) + text + data


def valid_file() -> bytes:
    return safetensors_bytes({"w": F32x2}, struct.pack("<2f", 1.0, 2.0))


# ---- PyTorch-style zips, written without PyTorch ----------------------------------------------


@contextmanager
def fake_torch():
    """Stand-ins for torch.FloatStorage and torch._utils._rebuild_tensor_v2, so pickle writes the
    same globals torch.save does (restores sys.modules afterwards, real torch or not)."""
    torch, utils = types.ModuleType("torch"), types.ModuleType("torch._utils")
    storage = type("FloatStorage", (), {"__module__": "torch"})

    def _rebuild_tensor_v2(*args):
        raise AssertionError("never called when writing")

    _rebuild_tensor_v2.__module__, _rebuild_tensor_v2.__qualname__ = "torch._utils", "_rebuild_tensor_v2"
    torch.FloatStorage, torch._utils, utils._rebuild_tensor_v2 = storage, utils, _rebuild_tensor_v2
    saved = {k: sys.modules.get(k) for k in ("torch", "torch._utils")}
    sys.modules.update({"torch": torch, "torch._utils": utils})
    try:
        yield storage, _rebuild_tensor_v2
    finally:
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v


class _StorageRef:
    def __init__(self, key, numel):
        self.key, self.numel = key, numel


def torch_pickle(tensors: dict, numel: int = 4, protocol: int = 2) -> bytes:
    """data.pkl of {name: tensor}, each tensor (offset, size, stride) on storage '0' of `numel`
    float32 elements, as torch.save writes it."""
    with fake_torch() as (storage, rebuild):

        class Rebuild:
            def __init__(self, spec):
                self.spec = spec

            def __reduce__(self):
                return rebuild, (_StorageRef("0", numel), *self.spec, False, OrderedDict())

        class Pickler(pickle.Pickler):
            def persistent_id(self, obj):
                return ("storage", storage, obj.key, "cpu", obj.numel) if isinstance(obj, _StorageRef) else None

        buf = io.BytesIO()
        Pickler(buf, protocol=protocol).dump({k: Rebuild(v) for k, v in tensors.items()})
        return buf.getvalue()


def torch_zip(pkl: bytes, storages: dict | None = None, byteorder: bytes | None = b"little", compress: bool = False) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED) as z:
        z.writestr("archive/data.pkl", pkl)
        if byteorder is not None:
            z.writestr("archive/byteorder", byteorder)
        for key, data in (storages or {}).items():
            z.writestr(f"archive/data/{key}", data)
    return buf.getvalue()


FOUR = struct.pack("<4f", 1.0, 2.0, 3.0, 4.0)


def test_the_torch_zip_writer_makes_files_fg_load_reads(tmp_path):
    spec = {"w": (0, (2, 2), (2, 1)), "t": (0, (2, 2), (1, 2)), "tail": (1, (3,), (1,)), "s": (3, (), ())}
    (tmp_path / "ok.pt").write_bytes(torch_zip(torch_pickle(spec), {"0": FOUR}))
    got = fg.load(tmp_path / "ok.pt")
    assert got["w"].tolist() == [[1, 2], [3, 4]] and got["t"].tolist() == [[1, 3], [2, 4]]
    assert got["tail"].tolist() == [2, 3, 4] and got["s"].item() == 4.0
    big_endian = torch_zip(torch_pickle({"w": (0, (4,), (1,))}), {"0": struct.pack(">4f", 1, 2, 3, 4)}, byteorder=b"big")
    (tmp_path / "be.pt").write_bytes(big_endian)
    assert fg.load(tmp_path / "be.pt")["w"].tolist() == [1, 2, 3, 4]


class _RunsShell:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


class _Evals:
    def __reduce__(self):
        return eval, ("__import__('os').system('true')",)


def _hostile_pickles(marker: str) -> dict[str, tuple[bytes, str]]:
    """name -> (data.pkl, what the error must say)."""
    return {
        "os.system": (pickle.dumps({"w": _RunsShell(marker)}, protocol=2), r"GLOBAL (posix|nt|os)\.system whose module (posix|nt|os) is blocked"),
        "os.system protocol 4": (pickle.dumps(_RunsShell(marker), protocol=4), r"GLOBAL (posix|nt|os)\.system whose module"),
        "eval": (pickle.dumps(_Evals(), protocol=2), r"GLOBAL eval was not an allowed global"),
        "hand-written GLOBAL os.system": (b"\x80\x02cos\nsystem\nX\x04\x00\x00\x00trueq\x00\x85R.", r"GLOBAL os\.system whose module os is blocked"),
        "getattr": (b"\x80\x02cbuiltins\ngetattr\n.", r"GLOBAL getattr was not an allowed global"),
        "torch.load itself": (b"\x80\x02ctorch\nload\n.", r"GLOBAL torch\.load was not an allowed global"),
        "INST opcode (protocol 0)": (b"(S'true'\nios\nsystem\n.", "opcode INST"),
        "EXT1 opcode": (b"\x80\x02\x82\x01.", "opcode EXT1"),
        "bytes8 claiming 1 TB": (b"\x80\x04\x8e" + struct.pack("<Q", 1 << 40) + b"xx.", "corrupt or truncated"),
        "truncated pickle": (torch_pickle({"w": (0, (4,), (1,))})[:-9], "corrupt or truncated"),
        "bytearray of a huge length": (b"\x80\x02c__builtin__\nbytearray\nJ\x00\x00\x00\x7f\x85R.", "bytearray"),
        # The C unpickler sizes its memo from the index it is asked to store at: this one took 4 GB.
        "memo entry 2**28 (LONG_BINPUT)": (b"\x80\x02}r" + struct.pack("<I", 1 << 28) + b".", "stores memo entry 268435456 .* when only 0"),
        "memo entry 2**32-1 (LONG_BINPUT)": (b"\x80\x02}r\xff\xff\xff\xff.", "stores memo entry 4294967295"),
        "memo entry 10**12 (PUT)": (b"\x80\x02}p1000000000000\n.", "stores memo entry 1000000000000"),
        "memo entry skipped (BINPUT)": (b"\x80\x02}q\x00]q\x05\x86.", "stores memo entry 5 .* when only 1"),
        "memo entry never stored (BINGET)": (b"\x80\x02}q\x00h\x01\x86.", "reads memo entry 1 .* only 1"),
        "memo entry 2**31 (LONG_BINGET)": (b"\x80\x02j\x00\x00\x00\x80.", "reads memo entry 2147483648"),
        "frame of 1 TB": (b"\x80\x04\x95" + struct.pack("<Q", 1 << 40) + b"N.", "frame of 1099511627776 bytes"),
        "BINUNICODE claiming 4 GB": (b"\x80\x02X\xff\xff\xff\xffab.", "corrupt or truncated"),
        "BINBYTES claiming 4 GB": (b"\x80\x03B\xff\xff\xff\xffab.", "corrupt or truncated"),
        "BINUNICODE8 claiming 2**60": (b"\x80\x04\x8d" + struct.pack("<Q", 1 << 60) + b"ab.", "corrupt or truncated"),
        "LONG4 claiming 2 GB": (b"\x80\x02\x8b\xff\xff\xff\x7f\x01.", "corrupt or truncated"),
        # BUILD sets attributes: on a shared stand-in it would change every later load.
        "BUILD on torch.FloatStorage": (b"\x80\x02ctorch\nFloatStorage\n}X\x04\x00\x00\x00kindX\x05\x00\x00\x00uint8sb.", r"tries to change torch\.FloatStorage"),
        "BUILD on collections.Counter": (b"\x80\x02ccollections\nCounter\nN}X\x0b\x00\x00\x00most_commonK\x01s\x86b.", r"tries to change collections\.Counter"),
        "BUILD on a rebuild function": (
            b"\x80\x02ctorch._utils\n_rebuild_tensor_v2\nN}X\x0c\x00\x00\x00__defaults__)s\x86b.",
            r"tries to change torch\._utils\._rebuild_tensor_v2",
        ),
    }


def _hostile_zips(marker: str) -> dict[str, tuple[bytes, str]]:
    ok = torch_pickle({"w": (0, (4,), (1,))})
    cases = {f"pickle: {k}": (torch_zip(p, {"0": FOUR}), m) for k, (p, m) in _hostile_pickles(marker).items()}
    return cases | {
        "storage entry missing": (torch_zip(ok, {}), r"entry 'archive/data/0' is missing"),
        "storage shorter than declared": (torch_zip(ok, {"0": FOUR[:8]}), r"declares 4 float32 elements \(16 bytes\) but its entry holds 8"),
        "tensor past its storage": (torch_zip(torch_pickle({"w": (2, (2, 2), (2, 1))}), {"0": FOUR}), r"needs elements 2\.\.5 of a storage holding 4 float32"),
        "negative size": (torch_zip(torch_pickle({"w": (0, (-1,), (1,))}), {"0": FOUR}), "expected non-negative ints"),
        "huge size": (torch_zip(torch_pickle({"w": (0, (1 << 40, 1 << 40), (1, 1))}), {"0": FOUR}), "needs elements"),
        "storage claims 2**60 elements": (torch_zip(torch_pickle({"w": (0, (4,), (1,))}, numel=1 << 60), {"0": FOUR}), "declares"),
        "compressed entries": (torch_zip(ok, {"0": FOUR}, compress=True), "compressed, which torch.save never does"),
        "unknown byte order": (torch_zip(ok, {"0": FOUR}, byteorder=b"middle"), "unknown byte order"),
        "zip without data.pkl": (_zip_of({"notes.txt": b"hi"}), "not a torch.save file"),
        "truncated zip": (torch_zip(ok, {"0": FOUR})[:60], "not a valid zip"),
        **({} if SHARES_STORAGE else _copied_too_much()),
        "empty tensor whose other dims overflow": (torch_zip(torch_pickle({"w": (0, (0, 1 << 62, 1 << 62), (1, 1, 1))}), {"0": FOUR}), "more elements than any file"),
    } | _corrupt_zips()


# With as_strided in the core, tensors are views of storages read once; without it they are
# copied, and a file whose copies would take far more memory than its size is refused.
SHARES_STORAGE = hasattr(fg.Tensor, "as_strided")


def _copied_too_much() -> dict[str, tuple[bytes, str]]:
    return {
        # A few bytes of pickle that rebuild one 16 KB storage 20,000 times: 320 MB once copied.
        "one storage rebuilt 20000 times": (_rebuilt_many_times(20000), r"more than a file of \d+ bytes can justify"),
        "expanded to 2**28 elements": (_expanded(), "takes 1073741824 bytes once copied"),
    }


def _expanded() -> bytes:
    return torch_zip(torch_pickle({"w": (0, (1 << 14, 1 << 14), (0, 0))}), {"0": FOUR})


@pytest.mark.skipif(not SHARES_STORAGE, reason="needs Tensor.as_strided in the core")
def test_tensors_on_one_storage_are_views_of_it_not_copies(tmp_path):
    """What the copying loader had to refuse loads as views, without allocating their size."""
    (tmp_path / "many.pt").write_bytes(_rebuilt_many_times(20000))
    many = fg.load(tmp_path / "many.pt")
    assert len(many) == 20000 and many[0].shape == (4096,)
    many[0].add_(1.0)
    assert many[19999][0].item() == 1.0  # one storage
    (tmp_path / "expanded.pt").write_bytes(_expanded())
    w = fg.load(tmp_path / "expanded.pt")["w"]
    assert w.shape == (1 << 14, 1 << 14) and w.stride() == (0, 0) and w[5, 7].item() == 1.0


def _rebuilt_many_times(n: int) -> bytes:
    """[t, t, ...]: the rebuild function (memo 0) and its arguments (memo 1, storage '0' of 4096
    float32) stored once, then 5 bytes per tensor: BINGET 0, BINGET 1, REDUCE."""
    rebuild = b"ctorch._utils\n_rebuild_tensor_v2\nq\x00"
    pid = b"(X\x07\x00\x00\x00storagectorch\nFloatStorage\nX\x01\x00\x00\x000X\x03\x00\x00\x00cpuM\x00\x10tQ"
    args = b"(" + pid + b"K\x00M\x00\x10\x85K\x01\x85\x89ccollections\nOrderedDict\n)Rtq\x01"
    body = b"\x80\x02" + rebuild + args + b"0]q\x02(" + b"h\x00h\x01R" * n + b"e."
    return torch_zip(body, {"0": b"\x00" * 16384})


def _fields(data: bytes) -> dict[str, list[int]]:
    """Byte offsets of every local header ("local") and central directory record ("central")."""
    z = zipfile.ZipFile(io.BytesIO(data))
    local = [i.header_offset for i in z.infolist()]
    central, pos = [], z.start_dir
    while data[pos : pos + 4] == b"PK\x01\x02":
        central.append(pos)
        pos += 46 + sum(struct.unpack_from("<3H", data, pos + 28))
    return {"local": local, "central": central}


def _patched(data: bytes, where: str, entry: int, field: int, fmt: str, value: int) -> bytes:
    """`data` with one field of an entry's local header or central record set to `value`."""
    out = bytearray(data)
    struct.pack_into(fmt, out, _fields(data)[where][entry] + field, value)
    return bytes(out)


# Field offsets in a local header / a central directory record.
LOCAL = {"flags": (6, "<H"), "method": (8, "<H"), "crc": (14, "<L"), "csize": (18, "<L"), "size": (22, "<L")}
CENTRAL = {"flags": (8, "<H"), "method": (10, "<H"), "crc": (16, "<L"), "csize": (20, "<L"), "size": (24, "<L"), "offset": (42, "<L")}


def _both(data: bytes, entry: int, name: str, value: int) -> bytes:
    data = _patched(data, "central", entry, *CENTRAL[name], value)
    return _patched(data, "local", entry, *LOCAL[name], value)


def _corrupt_zips() -> dict[str, tuple[bytes, str]]:
    """Flag bits, methods, sizes, CRCs and offsets wrong in one place or two; entry 0 is
    data.pkl, 2 the storage."""
    ok = torch_zip(torch_pickle({"w": (0, (4,), (1,))}), {"0": FOUR})
    central = lambda e, name, v: _patched(ok, "central", e, *CENTRAL[name], v)  # noqa: E731
    local = lambda e, name, v: _patched(ok, "local", e, *LOCAL[name], v)  # noqa: E731
    renamed = bytearray(ok)
    renamed[_fields(ok)["local"][2] + 30 + len("archive/data/")] = ord("9")
    twice = io.BytesIO()
    with zipfile.ZipFile(twice, "w") as z, pytest.warns(UserWarning, match="Duplicate name"):
        for name, data in [("archive/data.pkl", torch_pickle({"w": (0, (4,), (1,))})), ("archive/data/0", FOUR), ("archive/data/0", FOUR)]:
            z.writestr(name, data)
    return {
        "zip: data.pkl encrypted (flag bit 0)": (_both(ok, 0, "flags", 0x1), r"data\.pkl' is encrypted"),
        "zip: storage encrypted in the central directory only": (central(2, "flags", 0x1), r"data/0' is encrypted"),
        "zip: storage encrypted in its local header only": (local(2, "flags", 0x1), "disagrees with the central directory"),
        "zip: strong encryption (flag bit 6)": (_both(ok, 2, "flags", 0x41), "encrypted and strongly encrypted"),
        "zip: patched data (flag bit 5)": (_both(ok, 0, "flags", 0x20), "patched data"),
        "zip: masked central directory (flag bit 13)": (_both(ok, 0, "flags", 0x2000), "masked"),
        "zip: data descriptor bit in one header only": (local(0, "flags", 0x8), "disagrees with the central directory"),
        "zip: method 99 (AES)": (_both(ok, 2, "method", 99), r"compressed, which torch\.save never does \(method 99\)"),
        "zip: method 12 (bzip2) in the central directory only": (central(0, "method", 12), r"method 12"),
        "zip: method 8 in the local header only": (local(2, "method", 8), "disagrees with the central directory"),
        "zip: CRC of the storage wrong": (_both(ok, 2, "crc", 0x12345678), "fails its CRC-32 check"),
        "zip: CRC of data.pkl wrong": (_both(ok, 0, "crc", 0x1234), "fails its CRC-32 check"),
        "zip: CRC differs between the headers": (local(2, "crc", 0x1234), "disagrees with the central directory"),
        "zip: local size differs": (local(2, "size", 15), "disagrees with the central directory"),
        "zip: storage size 4 GB": (_both(ok, 2, "size", 0xFFFFFFFE), r"sizes differ|past the start of the central directory"),
        "zip: both sizes 4 GB": (_both(_both(ok, 2, "size", 0xFFFFFFF0), 2, "csize", 0xFFFFFFF0), "past the start of the central directory"),
        "zip: stored size differs from the size": (central(2, "csize", 12), "sizes differ"),
        "zip: local header offset past the end": (central(2, "offset", 0x7FFFFFFF), "past the end of the file"),
        "zip: local header offset into another entry": (central(2, "offset", 0), "its local header names it"),
        "zip: local header offset at the central directory": (central(2, "offset", _fields(ok)["central"][0]), "no local file header"),
        "zip: local name differs": (bytes(renamed), "its local header names it"),
        "zip: two entries with one name": (twice.getvalue(), "two entries named 'archive/data/0'"),
        "zip: zip64 extra claiming 2**62 bytes": (_zip64_claiming(ok, 1 << 62), "disagrees with the central directory"),
        "zip: central directory offset wrong": (_end_record(ok, offset=3), "not a valid zip|past the end of the file"),
    }


def _end_record(data: bytes, offset: int) -> bytes:
    """`data` with the end record's central directory offset set to `offset`."""
    out = bytearray(data)
    struct.pack_into("<L", out, data.rindex(b"PK\x05\x06") + 16, offset)
    return bytes(out)


def _zip64_claiming(data: bytes, size: int) -> bytes:
    """The storage's central record with sizes 0xFFFFFFFF and a zip64 extra field holding `size`."""
    pos = _fields(data)["central"][2]
    name_len, extra_len, comment_len = struct.unpack_from("<3H", data, pos + 28)
    record = bytearray(data[pos : pos + 46 + name_len + extra_len + comment_len])
    struct.pack_into("<LL", record, 20, 0xFFFFFFFF, 0xFFFFFFFF)
    extra = struct.pack("<HHQQ", 1, 16, size, size)
    struct.pack_into("<H", record, 30, extra_len + len(extra))
    record[46 + name_len : 46 + name_len] = extra
    out = data[:pos] + bytes(record) + data[pos + 46 + name_len + extra_len + comment_len :]
    end = out.rindex(b"PK\x05\x06")
    size_cd = struct.unpack_from("<L", out, end + 12)[0]
    return out[: end + 12] + struct.pack("<L", size_cd + len(extra)) + out[end + 16 :]


def _zip_of(entries: dict) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for k, v in entries.items():
            z.writestr(k, v)
    return buf.getvalue()


def _bad_safetensors() -> dict[str, tuple[bytes, str]]:
    w = struct.pack("<2f", 1.0, 2.0)
    return {
        "empty file": (b"", "0 bytes"),
        "truncated header length": (b"\x10\x00\x00\x00\x00", "5 bytes"),
        "truncated header": (valid_file()[:20], r"header length \d+ is larger than the rest of the file"),
        "header length larger than the file": (safetensors_bytes({"w": F32x2}, w, length=1000), "larger than the rest of the file"),
        "absurd header length": (safetensors_bytes("{}", length=(1 << 63) + 5), "header length 9223372036854775813 is larger"),
        "invalid JSON": (safetensors_bytes('{"w": {"dtype": "F32",', w), "not valid JSON"),
        "header not UTF-8": (safetensors_bytes(b"{\xff\xfe}", w), "not UTF-8"),
        "header a list": (safetensors_bytes("[]"), "not a file fg.load can read"),
        "unknown dtype": (safetensors_bytes({"w": {**F32x2, "dtype": "F8_E4M3"}}, w), 'unsupported dtype "F8_E4M3"'),
        "made-up dtype": (safetensors_bytes({"w": {**F32x2, "dtype": "F128"}}, w), 'unsupported dtype "F128"'),
        "offsets out of range": (safetensors_bytes({"w": {**F32x2, "data_offsets": [0, 800]}}, w), "run past the end of the data section"),
        "offsets reversed": (safetensors_bytes({"w": {**F32x2, "data_offsets": [8, 0]}}, w), "end before they begin"),
        "overlapping tensors": (
            safetensors_bytes({"a": F32x2, "b": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}, w),
            'tensors "a" and "b" overlap',
        ),
        "span != shape x dtype size": (safetensors_bytes({"w": {**F32x2, "shape": [3]}}, w), r"takes 12 bytes but data_offsets \[0, 8\] span 8"),
        "negative shape": (safetensors_bytes({"w": {**F32x2, "shape": [-2]}}, w), "non-negative integers"),
        "huge shape": (safetensors_bytes({"w": {**F32x2, "shape": [1 << 62, 1 << 62]}}, w), "more elements than any file"),
        "data truncated": (valid_file()[:-3], "run past the end of the data section"),
        "trailing bytes": (valid_file() + b"\x00" * 8, "trailing bytes"),
        "gap between tensors": (safetensors_bytes({"w": {**F32x2, "shape": [1], "data_offsets": [4, 8]}}, w), "belong to no tensor"),
        "metadata not strings": (safetensors_bytes({"__metadata__": {"a": 1}}), "values must be strings"),
        # Each byte range belongs to exactly one tensor, and each tensor to one place in the object.
        "one name twice in the header": (
            safetensors_bytes('{"w": %s, "w": %s}' % (json.dumps(F32x2), json.dumps(F32x2)), w),
            'the header names tensor "w" twice',
        ),
        "one name twice, once escaped": (
            safetensors_bytes('{"w": %s, "\\u0077": %s}' % (json.dumps(F32x2), json.dumps({**F32x2, "data_offsets": [8, 16]})), w + w),
            'the header names tensor "w" twice',
        ),
        "a metadata key twice": (safetensors_bytes('{"__metadata__": {"format": "pt", "format": "np"}}'), 'the key "format" twice'),
        "ferrograd metadata lists a tensor twice": (_with_tree(["a", "a"], {"L": [{"T": 0}, {"T": 1}]}), r"names tensors twice: \['a'\]; .*leaves out tensors the file holds: \['b'\]"),
        "ferrograd metadata uses a tensor twice": (_with_tree(["a", "b"], {"L": [{"T": 0}, {"T": 0}]}), "tensor index 0 is used twice"),
        "ferrograd metadata leaves a tensor out": (_with_tree(["a", "b"], {"L": [{"T": 1}]}), "tensor 'a' is in the file but not in the saved object"),
        "ferrograd metadata broken": (
            safetensors_bytes({"__metadata__": {"ferrograd": '{"tensors": ["nope"], "tree": {"T": 0}}'}}),
            "ferrograd metadata in its header is malformed",
        ),
    }


def _with_tree(names: list, tree: dict) -> bytes:
    """A file holding float32 tensors "a" and "b", with fg.save's metadata listing `names` and
    describing the object as `tree`."""
    meta = json.dumps({"version": 1, "tensors": names, "tree": tree})
    header = {"__metadata__": {"format": "pt", "ferrograd": meta}, "a": F32x2, "b": {**F32x2, "data_offsets": [8, 16]}}
    return safetensors_bytes(header, struct.pack("<4f", 1, 2, 3, 4))


def _other_formats() -> dict[str, tuple[bytes, str]]:
    with open(os.path.join(FIXTURES, "legacy.pt"), "rb") as fh:
        legacy = fh.read()
    return {
        "legacy torch.save file": (legacy, "legacy serialization format"),
        "plain pickle": (pickle.dumps({"w": [1.0]}), "plain pickle"),
        "text": (b"hello, I am not a checkpoint at all", "not a file fg.load can read"),
    }


def all_cases(marker: str) -> dict[str, tuple[bytes, str]]:
    return _bad_safetensors() | _hostile_zips(marker) | _other_formats()


CASES = sorted(all_cases("MARKER"))


@pytest.mark.parametrize("name", CASES)
def test_bad_file_raises_a_value_error_naming_the_problem(name, tmp_path):
    marker = tmp_path / "pwned"
    data, message = all_cases(str(marker))[name]
    path = tmp_path / "bad.pt"
    path.write_bytes(data)
    with pytest.raises(ValueError, match=message) as info:
        fg.load(path)
    assert "bad.pt" in str(info.value)
    assert not marker.exists()



def test_a_refused_build_changes_nothing_for_later_loads(tmp_path):
    """BUILD on the shared stand-ins once made torch.FloatStorage read as uint8 for every later
    file in the process (and replaced collections.Counter.most_common for everyone)."""
    import collections

    most_common = collections.Counter.most_common
    pickles = _hostile_pickles("unused")
    for name in ("BUILD on torch.FloatStorage", "BUILD on collections.Counter", "BUILD on a rebuild function"):
        (tmp_path / "evil.pt").write_bytes(torch_zip(pickles[name][0], {"0": FOUR}))
        with pytest.raises(ValueError, match="tries to change"):
            fg.load(tmp_path / "evil.pt")
    (tmp_path / "ok.pt").write_bytes(torch_zip(torch_pickle({"w": (0, (4,), (1,))}), {"0": FOUR}))
    got = fg.load(tmp_path / "ok.pt")["w"]
    assert got.dtype == fg.float32 and got.tolist() == [1, 2, 3, 4] and not got.requires_grad
    assert collections.Counter.most_common is most_common

@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS and /proc are Linux's")
def test_no_bad_file_allocates_memory_it_was_told_to(tmp_path):
    """The whole table again in a child whose address space may grow by only 256 MB: a header
    or pickle that made fg.load allocate the size it claims would kill the child."""
    script = textwrap.dedent(
        f"""
        import os, re, resource, sys
        sys.path.insert(0, {HERE!r})
        import ferrograd as fg, test_io_hostile as t
        cases = t.all_cases(os.path.join({str(tmp_path)!r}, "pwned"))
        vm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmSize")) * 1024
        resource.setrlimit(resource.RLIMIT_AS, (vm + (256 << 20), resource.RLIM_INFINITY))
        path = os.path.join({str(tmp_path)!r}, "bad")
        for name, (data, message) in cases.items():
            with open(path, "wb") as f:
                f.write(data)
            try:
                fg.load(path)
            except ValueError as e:
                # The file's own problem, not a MemoryError the limit turned into a refusal.
                print("refused" if re.search(message, str(e)) else "WRONG REASON", name, "|", str(e)[-200:])
            else:
                print("LOADED", name)
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.splitlines()
    assert len(lines) == len(CASES) and all(line.startswith("refused") for line in lines), out.stdout


ZIP_FUZZER = """
import os, random, re, resource, struct, sys, traceback, zipfile
sys.path.insert(0, {here!r})
import ferrograd as fg, test_io_hostile as t
vm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmSize")) * 1024
resource.setrlimit(resource.RLIMIT_AS, (vm + (256 << 20), resource.RLIM_INFINITY))
base = t.torch_zip(t.torch_pickle({{"w": (0, (2, 2), (2, 1)), "v": (1, (3,), (1,))}}), {{"0": t.FOUR}})
fields = t._fields(base)
end = base.rindex(b"PK\\x05\\x06")
rng = random.Random({seed})
# Header fields, by (offset, size): flags, method, CRC, sizes, name/extra lengths, offsets.
LOCAL = [(6, 2), (8, 2), (14, 4), (18, 4), (22, 4), (26, 2), (28, 2)]
CENTRAL = [(8, 2), (10, 2), (16, 4), (20, 4), (24, 4), (28, 2), (30, 2), (42, 4)]
END = [(8, 2), (10, 2), (12, 4), (16, 4), (20, 2)]
SPECIAL = [0, 1, 0x8, 0x41, 0x808, 0x2000, 0xFFFF, 0xFFFFFFFF, 0x7FFFFFFF, 1 << 31, 99, 8, 12]
path = os.path.join({tmp!r}, "fuzz.pt")
outcomes = {{"loaded": 0, "refused": 0}}
for i in range({n}):
    data = bytearray(base)
    for _ in range(rng.choice([1, 1, 2, 3])):
        kind = rng.random()
        if kind < 0.75:
            where, table = rng.choice([("local", LOCAL), ("central", CENTRAL), ("end", END)])
            pos = end if where == "end" else rng.choice(fields[where])
            off, size = rng.choice(table)
            bits = size * 8
            value = rng.choice(SPECIAL + [rng.getrandbits(bits), 1 << rng.randrange(bits)])
            if rng.random() < 0.5:  # flip bits of the current value instead
                value ^= int.from_bytes(data[pos + off : pos + off + size], "little")
            data[pos + off : pos + off + size] = (value % (1 << bits)).to_bytes(size, "little")
        elif kind < 0.9:
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        else:
            del data[rng.randrange(len(data)):]
    with open(path, "wb") as f:
        f.write(data)
    try:
        fg.load(path)
        outcomes["loaded"] += 1
    except ValueError as e:
        outcomes["refused"] += 1
        if "fuzz.pt" not in str(e) or "MemoryError" in str(e):
            print("BAD MESSAGE", i, e)
            sys.exit(1)
    except BaseException:
        print("CASE", i, data.hex())
        traceback.print_exc()
        sys.exit(1)
print(outcomes)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS and /proc are Linux's")
def test_zip_fields_fuzzed_load_or_raise_value_error(tmp_path):
    """Random flag bits, methods, CRCs, sizes, name lengths and offsets in the local headers,
    the central directory and the end record (and bit flips and truncations anywhere): every
    file loads or is a ValueError naming it, in a child with 256 MB of address space to spare."""
    script = ZIP_FUZZER.format(here=HERE, tmp=str(tmp_path), seed=8, n=3000)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, (out.stdout[-3000:], out.stderr[-3000:])
    assert "'refused'" in out.stdout and "CASE" not in out.stdout


# ---- atomic save ------------------------------------------------------------------------------

SAVER = """
import sys, ferrograd as fg
fg.manual_seed(0)
big = {f"w{i}": fg.randn(1 << 20) for i in range(50)}  # 50 x 4 MiB = 200 MiB
print("ready", flush=True)
sys.stdin.readline()
fg.save(big, sys.argv[1])
print("saved", flush=True)
"""


def _written_bytes(entry: os.DirEntry) -> int:
    try:
        return entry.stat().st_blocks * 512  # the temporary file is preallocated sparse
    except FileNotFoundError:
        return 0


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses st_blocks and SIGKILL")
def test_save_killed_midway_leaves_the_old_file_intact(tmp_path):
    target = tmp_path / "ckpt.pt"
    old = {"w": fg.arange(5, dtype=fg.float64), "epoch": 1}
    fg.save(old, target)
    old_bytes = target.read_bytes()
    for _attempt in range(3):
        child = subprocess.Popen([sys.executable, "-c", SAVER, str(target)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert child.stdout.readline().strip() == "ready"
        child.stdin.write("go\n")
        child.stdin.flush()
        deadline, killed_mid_write = time.monotonic() + 60, False
        while child.poll() is None and time.monotonic() < deadline:
            partial = [e for e in os.scandir(tmp_path) if e.name != target.name and _written_bytes(e) > 32 << 20]
            if partial:
                os.kill(child.pid, signal.SIGKILL)
                killed_mid_write = True
                break
            time.sleep(0.0005)
        child.wait(timeout=60)
        child.stdout.close()
        child.stdin.close()
        leftovers = [e.name for e in os.scandir(tmp_path) if e.name != target.name]
        if killed_mid_write:
            break
        fg.save(old, target)  # the child finished first: put the old file back and retry
        old_bytes = target.read_bytes()
    assert killed_mid_write and child.returncode == -signal.SIGKILL
    assert target.read_bytes() == old_bytes
    loaded = fg.load(target)
    assert loaded["epoch"] == 1 and loaded["w"].tolist() == [0, 1, 2, 3, 4]
    # What a killed save leaves is one hidden temporary file, never the target's name (the
    # safetensors crate's writer used to add a second one of its own).
    assert len(leftovers) == 1 and leftovers[0].startswith(".ckpt.pt.") and leftovers[0].endswith(".tmp"), leftovers
    # Named for ferrograd, the target, this machine and the writer, so the next save knows it
    # for a stale temporary of its own (its writer is dead) and removes it.
    assert re.fullmatch(rf"\.ckpt\.pt\.ferrograd-{_host_tag()}-{child.pid}-[A-Za-z0-9]{{6}}\.tmp", leftovers[0]), leftovers
    fg.save(old, target)
    assert sorted(os.listdir(tmp_path)) == ["ckpt.pt"]


def _host_tag() -> str:
    """save.rs's name for this machine: FNV-1a of the host name, 8 hex digits."""
    with open("/proc/sys/kernel/hostname", "rb") as f:
        name = f.read().strip()
    h = 0x811C9DC5
    for b in name:
        h = ((h ^ b) * 0x01000193) & 0xFFFFFFFF
    return f"{h:08x}"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="judges pids through /proc")
def test_a_save_removes_only_stale_temporaries_of_its_own_target(tmp_path):
    tag, other_host = _host_tag(), "00000000" if _host_tag() != "00000000" else "11111111"
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    try:
        hour_ago = time.time() - 3700
        files = {
            f".ckpt.pt.ferrograd-{tag}-{dead.pid}-aB3dE9.tmp": (None, "removed"),  # its writer was killed
            f".ckpt.pt.ferrograd-{tag}-{live.pid}-aB3dE9.tmp": (None, "kept"),  # a save still running
            f".ckpt.pt.ferrograd-{tag}-{live.pid}-Zz9Zz9.tmp": (hour_ago, "removed"),  # untouched for an hour
            f".ckpt.pt.ferrograd-{other_host}-{dead.pid}-aB3dE9.tmp": (None, "kept"),  # a pid of another machine
            f".ckpt.pt.ferrograd-{other_host}-{dead.pid}-Qq1Qq1.tmp": (hour_ago, "removed"),
            f".other.pt.ferrograd-{tag}-{dead.pid}-aB3dE9.tmp": (None, "kept"),  # another target's
            ".ckpt.pt.aB3dE9.tmp": (hour_ago, "kept"),  # not named as ferrograd's
            ".tmpAbCdEf": (hour_ago, "kept"),
            "ckpt.pt.ferrograd-notes.txt": (hour_ago, "kept"),
        }
        for name, (mtime, _) in files.items():
            (tmp_path / name).write_bytes(b"partial")
            if mtime is not None:
                os.utime(tmp_path / name, (mtime, mtime))
        fg.save({"w": fg.ones(2)}, tmp_path / "ckpt.pt")
        want = sorted(["ckpt.pt", *(n for n, (_, what) in files.items() if what == "kept")])
        assert sorted(os.listdir(tmp_path)) == want
    finally:
        live.kill()
        live.wait()


CONCURRENT_SAVER = """
import sys, ferrograd as fg
value = float(sys.argv[2])
for _ in range(6):
    fg.save({"w": fg.full((1 << 21,), value)}, sys.argv[1])  # 8 MiB
"""


def test_two_processes_saving_to_one_target_both_succeed(tmp_path):
    """Each save cleans up stale temporaries; a concurrent save's file is not stale."""
    target = tmp_path / "ckpt.pt"
    children = [subprocess.Popen([sys.executable, "-c", CONCURRENT_SAVER, str(target), v], stderr=subprocess.PIPE, text=True) for v in ("1", "2")]
    errors = [c.communicate(timeout=300)[1] for c in children]
    assert [c.returncode for c in children] == [0, 0], errors
    w = fg.load(target)["w"]
    assert w.shape == (1 << 21,) and w[0].item() in (1.0, 2.0) and bool((w == w[0]).all())
    assert sorted(os.listdir(tmp_path)) == ["ckpt.pt"]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses RLIMIT_FSIZE")
def test_save_that_fails_midway_keeps_the_old_file_and_removes_its_temporaries(tmp_path):
    target = tmp_path / "ckpt.pt"
    fg.save({"w": fg.ones(3)}, target)
    old_bytes = target.read_bytes()
    script = textwrap.dedent(
        f"""
        import resource, signal, ferrograd as fg
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))
        try:
            fg.save({{"big": fg.zeros(1 << 20)}}, {str(target)!r})
        except OSError as e:
            print("OSError", e)
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.stdout.startswith("OSError") and "ckpt.pt" in out.stdout, (out.stdout, out.stderr)
    assert target.read_bytes() == old_bytes
    assert sorted(os.listdir(tmp_path)) == ["ckpt.pt"]


def test_save_refused_before_writing_keeps_the_old_file(tmp_path):
    target = tmp_path / "ckpt.pt"
    fg.save({"w": fg.ones(3)}, target)
    old_bytes = target.read_bytes()
    with pytest.raises(TypeError):
        fg.save({"w": fg.zeros(3), "bad": lambda: 0}, target)  # a lambda does not pickle
    with pytest.raises(OSError):
        fg.save({"w": fg.zeros(3)}, tmp_path)
    assert target.read_bytes() == old_bytes and sorted(os.listdir(tmp_path)) == ["ckpt.pt"]


@pytest.mark.skipif(not hasattr(os, "umask"), reason="POSIX modes")
def test_saved_files_get_the_usual_permissions(tmp_path):
    fg.save({"w": fg.ones(1)}, tmp_path / "m.pt")
    mask = os.umask(0)
    os.umask(mask)
    assert (tmp_path / "m.pt").stat().st_mode & 0o777 == 0o666 & ~mask
