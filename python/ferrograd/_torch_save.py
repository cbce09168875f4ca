"""`fg.save` in PyTorch's own format: the zip file ``torch.save`` writes, byte for byte.

The zip holds, in this order (every entry stored uncompressed, its data 64-byte aligned by an
"FB" padding field in its local header, sizes and CRC-32 in a data descriptor after it):

* ``<archive>/data.pkl``: a protocol-2 pickle of the object. A tensor is
  ``torch._utils._rebuild_tensor_v2(storage, offset, size, stride, requires_grad, OrderedDict())``
  and a Parameter ``torch._utils._rebuild_parameter(tensor, requires_grad, OrderedDict())``; each
  storage is the persistent id ``("storage", torch.FloatStorage, key, "cpu", numel)`` (LongStorage,
  BoolStorage ... by dtype). ferrograd's dtypes, devices and ``fg.Size`` are written as
  ``torch.float32``, ``torch.device("cpu")`` and ``torch.Size``. (One departure from
  torch.save's bytes: ``b""`` is written as ``_codecs.encode("", "latin1")``, as every other
  bytes value is, since PyTorch's weights-only loader refuses the ``bytes()`` pickle writes.)
* ``.format_version`` ("1"), ``.storage_alignment`` ("64"), ``byteorder`` ("little").
* ``data/<key>``: each storage's bytes, little-endian, keys "0", "1" ... in order of first use.
* ``version`` ("3\\n") and ``.data/serialization_id``, derived as PyTorch derives it.

``<archive>`` is the target's file name without its extension, or "archive" for a file object or
a non-ASCII name, as PyTorch names it. The end of the zip is the zip64 end record, its locator
and the classic end record, which PyTorch's writer always writes.

Storages follow PyTorch's semantics: tensors that view one storage (a tensor and its transpose,
tied weights) share one storage in the file and come back as views of one storage; a
non-contiguous view keeps its strides. The file holds the part of a storage its tensors span
(PyTorch writes the whole storage), found with ``Tensor.storage_offset`` and read with
``Tensor.as_strided``.
"""

from __future__ import annotations

import codecs
import io
import pickle
import struct
import zlib
from collections import OrderedDict

import numpy as np

from . import _core
from ._torch_zip_globals import DTYPES

# ---- the pickle -------------------------------------------------------------------------------


class _Global:
    """A PyTorch global as the pickle names it (GLOBAL torch FloatStorage); PyTorch need not be
    installed, since it is written by name and never looked up."""

    __slots__ = ("module", "name")

    def __init__(self, module: str, name: str):
        self.module, self.name = module, name

    def __call__(self, *args):  # pickle's save_reduce insists on a callable
        raise TypeError(f"{self.module}.{self.name} is only named in a pickle, never called")


_REBUILD_TENSOR = _Global("torch._utils", "_rebuild_tensor_v2")
_REBUILD_PARAMETER = _Global("torch._utils", "_rebuild_parameter")
_TORCH_DEVICE, _TORCH_SIZE = _Global("torch", "device"), _Global("torch", "Size")
_STORAGE_TYPES = {kind: _Global("torch", storage) for kind, (storage, _) in DTYPES.items()}
_TORCH_DTYPES: dict[str, _Global] = {}


class _StorageRef:
    """One storage of the file: `numel` elements of `kind` from element `start` of a ferrograd
    storage, written from `members` (tensors viewing it)."""

    __slots__ = ("key", "kind", "numel", "start", "members")

    def __init__(self, key: str, kind: str, numel: int, start: int = 0):
        self.key, self.kind, self.numel, self.start = key, kind, numel, start
        self.members: list = []


def _kind(t) -> str:
    name = str(t.dtype).rsplit(".", 1)[-1]
    if name not in DTYPES:
        raise TypeError(f"fg.save cannot write tensors of dtype {name} in PyTorch's format (it writes {', '.join(DTYPES)})")
    return name


class _Storages:
    """Places every tensor in a storage of the file. Pickling runs twice: the planning pass finds
    the span of each ferrograd storage its tensors use, the second writes offsets into it."""

    def __init__(self):
        self.planning = True
        self.spans: dict[tuple, list[int]] = {}
        self.by_group: dict[tuple, _StorageRef] = {}
        self.refs: list[_StorageRef] = []  # in key order

    def reduce(self, t):
        from .nn.parameter import Parameter

        if isinstance(t, Parameter):
            data = t.detach()
            return (_planned, (data,)) if self.planning else (_REBUILD_PARAMETER, (data, t.requires_grad, OrderedDict()))
        ref, offset, stride = self.place(t)
        if self.planning:
            return _planned, ()
        return _REBUILD_TENSOR, (ref, offset, tuple(t.shape), stride, t.requires_grad, OrderedDict())

    def place(self, t) -> tuple[_StorageRef, int, tuple]:
        kind = _kind(t)
        shape, stride = tuple(t.shape), tuple(t.stride())
        numel = 1
        for n in shape:
            numel *= n
        offset = t.storage_offset()
        if numel == 0:
            return self.new(kind, 0), 0, stride
        lo, hi = offset, offset + 1 + sum((n - 1) * s for n, s in zip(shape, stride))
        group = (t.data_ptr() - offset * t.element_size(), kind)
        if self.planning:
            span = self.spans.setdefault(group, [lo, hi])
            span[0], span[1] = min(span[0], lo), max(span[1], hi)
            return _PLANNED, offset, stride
        span = self.spans.get(group)
        if span is None or lo < span[0] or hi > span[1]:  # made during pickling, after the plan
            ref = self.new(kind, hi - lo, start=lo, member=t)
            return ref, 0, stride
        ref = self.by_group.get(group)
        if ref is None:
            ref = self.by_group[group] = self.new(kind, span[1] - span[0], start=span[0])
        ref.members.append((t, offset))
        return ref, offset - span[0], stride

    def new(self, kind: str, numel: int, start: int = 0, member=None) -> _StorageRef:
        if self.planning:
            return _PLANNED
        ref = _StorageRef(str(len(self.refs)), kind, numel, start)
        if member is not None:
            ref.members.append((member, start))
        self.refs.append(ref)
        return ref


_PLANNED = _StorageRef("0", "float32", 0)


def _planned(*args):
    """What the planning pass writes for tensors and PyTorch's globals (thrown away)."""


_PLAIN = frozenset({str, int, float, bool, type(None), tuple, list, dict, bytes})


class _Pickler(pickle._Pickler):
    """The pure-Python pickler: it lets `save` write PyTorch's globals by name (the C pickler
    insists on importing them). Its output is the C pickler's, so data.pkl is torch.save's."""

    def __init__(self, file, protocol: int, storages: _Storages):
        super().__init__(file, protocol)
        self.storages = storages

    def persistent_id(self, obj):
        if type(obj) is _StorageRef:
            return ("storage", _STORAGE_TYPES[obj.kind], obj.key, "cpu", obj.numel)
        return None

    def reducer_override(self, obj):
        if isinstance(obj, _core.Tensor):
            return self.storages.reduce(obj)
        kind = type(obj)
        if kind.__module__.startswith("ferrograd") and kind.__name__ == "device":
            return _TORCH_DEVICE, (obj.type,) if obj.index is None else (obj.type, obj.index)
        if kind.__module__.startswith("ferrograd") and kind.__name__ == "Size":
            return _TORCH_SIZE, (tuple(obj),)
        return NotImplemented

    def save(self, obj, save_persistent_id=True):
        kind = type(obj)
        if kind is bytes and not obj and self.proto < 3:
            # pickle writes b"" as bytes(), which PyTorch's weights-only unpickler refuses; this
            # is how it writes every other bytes value.
            self.save_reduce(codecs.encode, ("", "latin1"), obj=obj)
            return
        if kind in _PLAIN:  # what the base class does, without asking persistent_id and reducer_override
            memo = self.memo.get(id(obj))
            if memo is not None:
                self.write(self.get(memo[0]))
            else:
                self.dispatch[kind](self, obj)
            return
        if kind is _core.dtype:
            name = str(obj).rsplit(".", 1)[-1]
            obj = _TORCH_DTYPES.setdefault(name, _Global("torch", name))
        if type(obj) is not _Global:
            return super().save(obj, save_persistent_id)
        self.framer.commit_frame()
        memo = self.memo.get(id(obj))
        if memo is not None:
            self.write(self.get(memo[0]))
            return
        if self.proto >= 4:
            self.save(obj.module)
            self.save(obj.name)
            self.write(pickle.STACK_GLOBAL)
        else:
            self.write(pickle.GLOBAL + f"{obj.module}\n{obj.name}\n".encode())
        self.memoize(obj)


class _Planner(pickle.Pickler):
    """The planning pass: the C pickler (fast), visiting every tensor as the second pass will,
    writing importable stand-ins instead of PyTorch's globals. It also finds what does not pickle."""

    def __init__(self, protocol: int, storages: _Storages):
        super().__init__(_Discard(), protocol)
        self.storages = storages

    def reducer_override(self, obj):
        if isinstance(obj, _core.Tensor):
            return self.storages.reduce(obj)
        if type(obj) is _core.dtype or _Pickler.reducer_override(self, obj) is not NotImplemented:
            return _planned, ()
        return NotImplemented


class _Discard:
    def write(self, data) -> int:
        return len(data)


_PICKLE_ERRORS = (pickle.PicklingError, TypeError, AttributeError)


def dump(obj, protocol: int = 2) -> tuple[bytes, list[_StorageRef]]:
    """data.pkl for `obj` and the storages it names. What cannot be pickled is a TypeError that
    says where it is, raised before anything is written."""
    if not (isinstance(protocol, int) and 2 <= protocol <= pickle.HIGHEST_PROTOCOL):
        raise ValueError(f"fg.save: pickle_protocol must be 2 to {pickle.HIGHEST_PROTOCOL} (PyTorch's default is 2), got {protocol!r}")
    storages = _Storages()
    try:
        _Planner(protocol, storages).dump(obj)
    except _PICKLE_ERRORS as e:
        where, culprit = _find_unpicklable(obj, protocol, "obj", {id(obj)})
        raise TypeError(f"fg.save: cannot save {_type_name(culprit)} at {where}: {e}") from None
    storages.planning = False
    out = io.BytesIO()
    _Pickler(out, protocol, storages).dump(obj)
    return out.getvalue(), storages.refs


def _pickles(obj, protocol: int) -> bool:
    try:
        _Planner(protocol, _Storages()).dump(obj)
    except _PICKLE_ERRORS:
        return False
    return True


def _find_unpicklable(obj, protocol: int, where: str, seen: set) -> tuple[str, object]:
    """The path to, and the value of, the innermost part of `obj` that does not pickle."""
    if isinstance(obj, dict):
        children = ((f"[{k!r}]", v) for k, v in obj.items())
    elif isinstance(obj, (list, tuple)):
        children = ((f"[{i}]", v) for i, v in enumerate(obj))
    elif isinstance(obj, (set, frozenset)):
        children = ((f" (an element {v!r})", v) for v in obj)
    elif isinstance(getattr(obj, "__dict__", None), dict) and not isinstance(obj, type):
        children = ((f".{k}", v) for k, v in vars(obj).items())
    else:
        children = iter(())
    for key, child in children:
        if id(child) not in seen and not _pickles(child, protocol):
            seen.add(id(child))
            return _find_unpicklable(child, protocol, where + key, seen)
    return where, obj


def _type_name(obj) -> str:
    kind = type(obj)
    return kind.__qualname__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"


# ---- storage bytes ----------------------------------------------------------------------------


def _file_array(t, kind: str) -> np.ndarray:
    """The values of `t` (any layout) as the file stores them: C order, little-endian."""
    t = t.detach()
    if kind == "bfloat16":  # numpy has no bfloat16; its bit patterns are float32's top halves
        return (t.float().numpy().view(np.uint32) >> 16).astype("<u2")
    try:
        arr = t.numpy()
    except (TypeError, RuntimeError):  # a dtype numpy() does not hand out: widen exactly, then narrow
        arr = (t.double() if t.is_floating_point() else t.long()).numpy()
    return arr.astype(DTYPES[kind][1], copy=False)


def _storage_array(ref: _StorageRef) -> np.ndarray:
    if ref.numel == 0:
        return np.empty(0, DTYPES[ref.kind][1])
    first = ref.members[0][0]
    # The storage's own bytes, gaps between the tensors included.
    return _file_array(first.detach().as_strided((ref.numel,), (1,), ref.start), ref.kind)


# ---- the zip ----------------------------------------------------------------------------------

_LOCAL = struct.Struct("<4s5H3L2H")
_CENTRAL = struct.Struct("<4s6H3L5H2L")
_ALIGNMENT = 64
_U32 = 0xFFFFFFFF  # a 32-bit field that says "see the zip64 extra field"
_ZIP64_FROM = _U32  # sizes and offsets from which an entry needs zip64 fields (lowered in a test)
_MASK64 = (1 << 64) - 1


class _ZipWriter:
    """Writes entries one after the other (never seeking back) as PyTorch's writer (miniz with
    zip64 on) lays them out."""

    def __init__(self, out, archive: str):
        self.out, self.prefix, self.pos = out, archive + "/", 0
        self.central: list[bytes] = []
        self.names: list[str] = []
        self.crcs = 0  # PyTorch combines every data descriptor's CRC into the serialization id

    def _write(self, data) -> None:
        self.out.write(data)
        self.pos += len(data)

    def record(self, name: str, data) -> None:
        data = memoryview(data).cast("B")
        size, offset, full = len(data), self.pos, (self.prefix + name).encode()
        big_size, big_offset = size >= _ZIP64_FROM, offset >= _ZIP64_FROM
        fields = (struct.pack("<QQ", size, 0) if big_size else b"") + (struct.pack("<Q", offset) if big_offset else b"")
        zip64 = struct.pack("<HH", 1, len(fields)) + fields if fields else b""
        pad = -(offset + _LOCAL.size + len(full) + len(zip64) + 4) % _ALIGNMENT
        extra = zip64 + b"FB" + struct.pack("<H", pad) + b"Z" * pad
        # Sizes and CRC-32 follow the data in a descriptor (flag bit 3), except for empty entries.
        flags = 0x808 if size else 0x800
        self._write(_LOCAL.pack(b"PK\x03\x04", 0, flags, 0, 0, 0, 0, 0, 0, len(full), len(extra)) + full + extra)
        crc = zlib.crc32(data)
        if size:
            self._write(data)
            if size >= 8 and data[:4] == b"PK\x07\x08":  # PyTorch takes such data for a descriptor too
                self.crcs = _hash_combine(self.crcs, int.from_bytes(data[4:8], "little"))
            sizes = struct.pack("<QQ", size, size) if fields else struct.pack("<LL", size, size)
            self._write(b"PK\x07\x08" + struct.pack("<L", crc) + sizes)
            self.crcs = _hash_combine(self.crcs, crc)
        fields = (struct.pack("<QQ", size, size) if big_size else b"") + (struct.pack("<Q", offset) if big_offset else b"")
        zip64 = struct.pack("<HH", 1, len(fields)) + fields if fields else b""
        self.central.append(
            _CENTRAL.pack(b"PK\x01\x02", 0, 0, flags, 0, 0, 0, crc, *[_U32 if big_size else size] * 2, len(full), len(zip64), 0, 0, 0, 0, _U32 if big_offset else offset)
            + full
            + zip64
        )
        self.names.append(name)

    def finish(self) -> None:
        self.record(".data/serialization_id", _serialization_id(self.names, self.crcs).encode())
        start, count = self.pos, len(self.central)
        for record in self.central:
            self._write(record)
        size, end64 = self.pos - start, self.pos
        self._write(struct.pack("<4sQ2H2L4Q", b"PK\x06\x06", 44, 0x031E, 0x2D, 0, 0, count, count, size, start))
        self._write(struct.pack("<4sLQL", b"PK\x06\x07", 0, end64, 1))
        self._write(struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, min(count, 0xFFFF), min(count, 0xFFFF), min(size, _U32), min(start, _U32), 0))


def write_zip(out, archive: str, data_pkl: bytes, refs: list[_StorageRef], byteorder_record: bool = True) -> None:
    """The whole file, into the binary file object `out`."""
    z = _ZipWriter(out, archive)
    z.record("data.pkl", data_pkl)
    z.record(".format_version", b"1")
    z.record(".storage_alignment", str(_ALIGNMENT).encode())
    if byteorder_record:
        z.record("byteorder", b"little")
    for ref in refs:
        z.record(f"data/{ref.key}", _storage_array(ref))
    z.record("version", b"3\n")
    if not byteorder_record:  # PyTorch's writer adds it at the end when Python did not
        z.record("byteorder", b"little")
    z.finish()


def archive_name(path: str) -> str:
    """PyTorch's folder name for a file: its name without directories and extension ("archive"
    where PyTorch's writer would refuse an empty one)."""
    base = path.replace("\\", "/").rsplit("/", 1)[-1]
    stem = base.rsplit(".", 1)[0] if "." in base else base
    # PyTorch opens a path with a non-ASCII character through Python, which names it "archive".
    return stem if stem and path.isascii() else "archive"


# PyTorch's serialization id is 20 digits of a hash over the record names, as iterated from a
# libstdc++ unordered_set of them, then 20 of the CRC-32s combined in write order. The set's
# order is reproduced below: libstdc++ hashes strings with its _Hash_bytes (MurmurHash64A-like,
# seed 0xc70f6907) and keeps buckets in one singly linked list, growing from 13 buckets to the
# smallest prime of its table at least twice as large (these, up to 2**33).
_BUCKETS = (13, 29, 59, 127, 257, 541, 1109, 2357, 5087, 10273, 20753, 42043, 85229, 172933, 351061, 712697, 1447153,
            2938679, 5967347, 12117689, 24607243, 49969847, 101473717, 206062531, 418451333, 849749479, 1725587117,
            3504151727, 8589934583)  # fmt: skip
_MURMUR = 0xC6A4A7935BD1E995


def _hash_combine(seed: int, value: int) -> int:
    return (seed ^ ((value + 0x9E3779B9 + (seed << 6) + (seed >> 2)) & _MASK64)) & _MASK64


def _std_hash(data: bytes) -> int:
    def mix(v: int) -> int:
        return v ^ (v >> 47)

    h = (0xC70F6907 ^ (len(data) * _MURMUR)) & _MASK64
    whole = len(data) & ~7
    for i in range(0, whole, 8):
        h = ((h ^ (mix(int.from_bytes(data[i : i + 8], "little") * _MURMUR & _MASK64) * _MURMUR & _MASK64)) * _MURMUR) & _MASK64
    if len(data) & 7:
        h = ((h ^ int.from_bytes(data[whole:], "little")) * _MURMUR) & _MASK64
    return mix(mix(h) * _MURMUR & _MASK64)


def _unordered_set_order(codes: list[int]) -> list[int]:
    """Indices of `codes` (inserted in order) in the order libstdc++'s unordered_set visits them."""
    head, nxt, first_of = -1, {-1: None}, {}  # node -> next; bucket -> node before its first
    buckets = 0
    for i, code in enumerate(codes):
        if i + 1 > buckets:  # rehash: relink every node, bucket by bucket
            buckets = next(b for b in _BUCKETS if b > i)
            p, nxt[head], first_of, begin_bucket = nxt[head], None, {}, 0
            while p is not None:
                after, b = nxt[p], codes[p] % buckets
                if b in first_of:
                    nxt[p], nxt[first_of[b]] = nxt[first_of[b]], p
                else:
                    nxt[p], nxt[head], first_of[b] = nxt[head], p, head
                    if nxt[p] is not None:
                        first_of[begin_bucket] = p
                    begin_bucket = b
                p = after
        b = code % buckets
        if b in first_of:
            nxt[i], nxt[first_of[b]] = nxt[first_of[b]], i
        else:
            nxt[i], nxt[head] = nxt[head], i
            if nxt[i] is not None:
                first_of[codes[nxt[i]] % buckets] = i
            first_of[b] = head
    order, p = [], nxt[head]
    while p is not None:
        order.append(p)
        p = nxt[p]
    return order


def _serialization_id(names: list[str], crcs: int) -> str:
    codes = [_std_hash(n.encode()) for n in names]
    combined = 0
    for i in _unordered_set_order(codes):
        combined = _hash_combine(combined, codes[i])
    return f"{combined:020d}{crcs:020d}"
