"""PyTorch's ``.pt``/``.pth`` files (the zip format of ``torch.save``) read without PyTorch,
weights only.

A torch.save zip holds ``<archive>/data.pkl`` (a pickle of the saved object in which every
tensor is a call to ``torch._utils._rebuild_tensor_v2`` on a persistent storage id) and one
``<archive>/data/<key>`` entry per storage, in the byte order named by ``<archive>/byteorder``.

The pickle is read by an Unpickler whose ``find_class`` admits only what
``torch.load(weights_only=True)`` admits for tensors and containers (the tensor and parameter
rebuild functions, storage types, dtypes, ``torch.Size``, ``torch.device``,
``collections.OrderedDict`` and builtin containers), each mapped to a local stand-in; any other
global (``os.system``, ``builtins.eval``, a class) is refused before it is even looked up, so a
malicious file never runs code. Before that, every opcode is scanned: lengths must fit in the
data, and opcodes torch never writes (INST, OBJ, EXT*, out-of-band buffers) are refused, and so are memo
indices beyond the entries stored so far (the C unpickler sizes its memo from the largest index:
a 375-byte file asking for entry 2**28 took 4 GB). Sizes read from the file (storage lengths,
tensor extents, the bytes all tensors take once copied) are checked against the zip entries and
the file's size before anything is allocated. The stand-ins handed to the pickle are immutable,
so a BUILD opcode cannot change them for later loads.

Entries are read by this module, not `zipfile` (which only parses the central directory): each
entry's local header must agree with its central record, the entry must be stored, unencrypted
and lie inside the file, and its CRC-32 must match (torch writes 0 when told not to compute it).
Every way a zip can be wrong is therefore a ValueError naming the entry and the problem.
"""

from __future__ import annotations

import io
import os
import pickle
import pickletools
import struct
import zipfile
import zlib
from collections import Counter, OrderedDict

import numpy as np

from . import _core


class UnpicklingError(pickle.UnpicklingError, ValueError):
    """A PyTorch file that asks for something weights-only loading refuses (a ValueError too)."""


class _Corrupt(ValueError):
    """A file whose contents contradict themselves; `load` adds the file's name."""


# Element type names (numpy's, plus "bfloat16") of torch's storage types and dtypes.
_STORAGE_KINDS = {
    "FloatStorage": "float32", "DoubleStorage": "float64", "HalfStorage": "float16", "BFloat16Storage": "bfloat16",
    "LongStorage": "int64", "IntStorage": "int32", "ShortStorage": "int16", "CharStorage": "int8",
    "ByteStorage": "uint8", "BoolStorage": "bool", "UntypedStorage": "uint8",
}  # fmt: skip
_DTYPE_KINDS = {
    "float32": "float32", "float": "float32", "float64": "float64", "double": "float64", "float16": "float16",
    "half": "float16", "bfloat16": "bfloat16", "int64": "int64", "long": "int64", "int32": "int32", "int": "int32",
    "int16": "int16", "short": "int16", "int8": "int8", "uint8": "uint8", "bool": "bool",
}  # fmt: skip
_ITEMSIZE = {"float32": 4, "float64": 8, "float16": 2, "bfloat16": 2, "int64": 8, "int32": 4, "int16": 2, "int8": 1, "uint8": 1, "bool": 1}
# numpy has no bfloat16: its elements pass through float32 (exactly) on the way to fg.bfloat16.
_LOADED_AS = {"bfloat16": "float32"}

# Opcodes of pickle protocols 2-5 that plain containers, numbers, strings and reduce calls use.
_OPCODES = frozenset(
    "PROTO FRAME STOP MARK POP POP_MARK DUP NONE NEWTRUE NEWFALSE INT BININT BININT1 BININT2 LONG LONG1 "
    "LONG4 STRING BINSTRING SHORT_BINSTRING BINBYTES SHORT_BINBYTES BINBYTES8 BYTEARRAY8 UNICODE BINUNICODE "
    "SHORT_BINUNICODE BINUNICODE8 FLOAT BINFLOAT EMPTY_LIST APPEND APPENDS LIST EMPTY_TUPLE TUPLE TUPLE1 "
    "TUPLE2 TUPLE3 EMPTY_DICT DICT SETITEM SETITEMS EMPTY_SET ADDITEMS FROZENSET GET BINGET LONG_BINGET PUT "
    "BINPUT LONG_BINPUT MEMOIZE GLOBAL STACK_GLOBAL REDUCE BUILD NEWOBJ NEWOBJ_EX BINPERSID".split()
)


def load(path: str):
    """The object in the torch.save zip at `path`, tensors as ferrograd tensors."""
    with open(path, "rb") as fh:
        try:
            zf = zipfile.ZipFile(fh)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError, struct.error, OverflowError, NotImplementedError, RuntimeError) as e:  # fmt: skip
            raise ValueError(f"fg.load: '{path}' starts like a zip (PyTorch's format) but is not a valid zip: {e}") from None
        try:
            archive = _Archive(zf, fh)
            data = archive.read_whole("data.pkl")
            _scan(data)
            return _Unpickler(data, archive).load()
        except UnpicklingError as e:
            raise UnpicklingError(f"fg.load: '{path}': {e}") from None
        except _Corrupt as e:
            raise ValueError(f"fg.load: '{path}': {e}") from None
        # (Not MemoryError: every size is bounded by the file's, so running out of memory means the
        # machine is too small for the file, not that the file is corrupt.)
        except (pickle.UnpicklingError, EOFError, ValueError, TypeError, KeyError, IndexError, AttributeError,
                RecursionError, OverflowError) as e:  # fmt: skip
            raise ValueError(f"fg.load: '{path}': data.pkl is corrupt ({type(e).__name__}: {e})") from None


# Local file header: signature, version, flags, method, time, date, CRC-32, compressed size,
# size, name length, extra length.
_LOCAL_HEADER = struct.Struct("<4s5H3L2H")
# General-purpose flag bits that change how an entry's bytes must be read; torch.save sets only
# bit 3 (sizes in a data descriptor) and bit 11 (UTF-8 names).
_UNREADABLE_FLAGS = {0x1: "encrypted", 0x20: "patched data", 0x40: "strongly encrypted", 0x2000: "masked (encrypted central directory)"}
_CRC_CHUNK = 1 << 20


class _Entry:
    """A checked zip entry: where its bytes are in the file, and how many."""

    __slots__ = ("name", "start", "size")

    def __init__(self, name: str, start: int, size: int):
        self.name, self.start, self.size = name, start, size


class _Archive:
    """The zip's entries, each checked before it is read: stored (torch.save never compresses, and
    a compressed entry could expand without bound), unencrypted, its local header in agreement
    with the central directory, its bytes inside the file and before the central directory, its
    CRC-32 right. Also keeps the budget of bytes the tensors may take once copied."""

    def __init__(self, zf: zipfile.ZipFile, fh):
        self.zf, self.fh, self.size = zf, fh, os.fstat(fh.fileno()).st_size
        self.entries: dict[str, _Entry] = {}
        names = zf.namelist()
        if len(set(names)) != len(names):
            twice = next(n for n in names if names.count(n) > 1)
            raise _Corrupt(f"the zip has two entries named '{twice}'")
        pkls = [n for n in names if n.endswith("/data.pkl") and n.count("/") == 1]
        if len(pkls) != 1:
            found = "no" if not pkls else f"{len(pkls)}"
            raise _Corrupt(f"not a torch.save file: the zip has {found} '<archive>/data.pkl' entries")
        self.prefix = pkls[0][: -len("data.pkl")]
        order = self.read_whole("byteorder") if self.prefix + "byteorder" in zf.NameToInfo else b"little"
        if order not in (b"little", b"big"):
            raise _Corrupt(f"unknown byte order {order[:16]!r}")
        self.endian = "<" if order == b"little" else ">"
        # Tensors are copied (views and expanded tensors become contiguous, storages shared by
        # several tensors are read once per tensor): the bytes that takes are bounded by the
        # file's size, generously enough for tied weights and small expanded tensors.
        self.budget = 4 * self.size + (8 << 20)

    def info(self, name: str) -> _Entry:
        full = self.prefix + name
        if full in self.entries:
            return self.entries[full]
        info = self.zf.NameToInfo.get(full)
        if info is None:
            raise _Corrupt(f"entry '{full}' is missing")
        what = [w for bit, w in _UNREADABLE_FLAGS.items() if info.flag_bits & bit]
        if what:
            raise _Corrupt(f"entry '{full}' is {' and '.join(what)} (flags 0x{info.flag_bits:04x}), which torch.save never writes")
        if info.compress_type != zipfile.ZIP_STORED:
            raise _Corrupt(f"entry '{full}' is compressed, which torch.save never does (method {info.compress_type})")
        if info.compress_size != info.file_size:
            raise _Corrupt(f"entry '{full}' is stored but its sizes differ ({info.compress_size} bytes stored, {info.file_size} claimed)")
        header = self.read_at(info.header_offset, _LOCAL_HEADER.size, full)
        sig, _, flags, method, _, _, crc, csize, size, name_len, extra_len = _LOCAL_HEADER.unpack(header)
        if sig != b"PK\x03\x04":
            raise _Corrupt(f"entry '{full}': no local file header at byte {info.header_offset}")
        if method != info.compress_type or (flags ^ info.flag_bits) & (0x1 | 0x8 | 0x20 | 0x40):
            raise _Corrupt(
                f"entry '{full}': its local header (method {method}, flags 0x{flags:04x}) disagrees with the central "
                f"directory (method {info.compress_type}, flags 0x{info.flag_bits:04x})"
            )
        local_name = self.read_at(info.header_offset + _LOCAL_HEADER.size, name_len, full)
        if local_name != info.orig_filename.encode("utf-8" if info.flag_bits & 0x800 else "cp437"):
            raise _Corrupt(f"entry '{full}': its local header names it {local_name[:80]!r}")
        # Without a data descriptor (flag bit 3) the local header carries the real CRC and sizes
        # (0xFFFFFFFF: the sizes are in a zip64 extra field instead).
        sizes_differ = 0xFFFFFFFF not in (csize, size) and (csize, size) != (info.compress_size, info.file_size)
        if not flags & 0x8 and (crc != info.CRC or sizes_differ):
            raise _Corrupt(
                f"entry '{full}': its local header (CRC {crc:08x}, {size} bytes) disagrees with the central directory "
                f"(CRC {info.CRC:08x}, {info.file_size} bytes)"
            )
        start = info.header_offset + _LOCAL_HEADER.size + name_len + extra_len
        if start + info.file_size > self.zf.start_dir:
            raise _Corrupt(
                f"entry '{full}' claims {info.file_size} bytes from byte {start}, past the start of the central directory "
                f"at byte {self.zf.start_dir} (truncated or corrupt file)"
            )
        entry = _Entry(full, start, info.file_size)
        self.check_crc(entry, info.CRC)
        self.entries[full] = entry
        return entry

    def check_crc(self, entry: _Entry, want: int) -> None:
        # torch.save(..., ) after torch.serialization.set_crc32_options(False) records 0.
        if want == 0:
            return
        crc, done = 0, 0
        while done < entry.size:
            n = min(_CRC_CHUNK, entry.size - done)
            crc = zlib.crc32(self.read_at(entry.start + done, n, entry.name), crc)
            done += n
        if crc != want:
            raise _Corrupt(f"entry '{entry.name}' fails its CRC-32 check (recorded {want:08x}, computed {crc:08x}): the file is corrupt")

    def read_whole(self, name: str) -> bytes:
        entry = self.info(name)
        return self.read(entry, 0, entry.size)

    def read(self, entry: _Entry, start: int, nbytes: int) -> bytes:
        if start + nbytes > entry.size:
            raise _Corrupt(f"bytes {start}..{start + nbytes} asked of entry '{entry.name}', which holds {entry.size}")
        return self.read_at(entry.start + start, nbytes, entry.name)

    def read_at(self, pos: int, nbytes: int, what: str) -> bytes:
        # Never allocates more than the file holds: the read size is checked first.
        if pos < 0 or pos + nbytes > self.size:
            raise _Corrupt(f"entry '{what}': bytes {pos}..{pos + nbytes} lie past the end of the file ({self.size} bytes)")
        self.fh.seek(pos)
        data = self.fh.read(nbytes)
        if len(data) != nbytes:
            raise _Corrupt(f"entry '{what}': the file ended at byte {pos + len(data)} (was it truncated while loading?)")
        return data

    def charge(self, nbytes: int, what: str) -> None:
        if nbytes > self.budget:
            raise _Corrupt(
                f"{what} takes {nbytes} bytes once copied, and with the tensors before it more than a file of {self.size} "
                f"bytes can justify (ferrograd copies every tensor, expanded and shared ones included, up to "
                f"4 x the file's size + 8 MiB); refusing to allocate it"
            )
        self.budget -= nbytes


def _scan(data: bytes) -> None:
    """Walks every opcode without executing any: lengths that run past the data, memo indices
    beyond the entries stored so far (the unpickler sizes its memo from the index) and opcodes
    torch never writes are refused before the real unpickler sees them."""
    stored = 0  # memo entries so far: a pickler numbers them 0, 1, 2 ... in order
    try:
        for op, arg, pos in pickletools.genops(data):
            name = op.name
            if name not in _OPCODES:
                raise UnpicklingError(f"data.pkl uses pickle opcode {name} (at byte {pos}), which torch.save never writes; refusing the file")
            if name == "MEMOIZE":
                stored += 1
            elif name in ("PUT", "BINPUT", "LONG_BINPUT"):
                if arg > stored:
                    raise _Corrupt(
                        f"data.pkl stores memo entry {arg} (at byte {pos}) when only {stored} entries exist; "
                        "a pickler numbers them in order (refused: the memo would be sized from it)"
                    )
                if arg == stored:
                    stored += 1
            elif name in ("GET", "BINGET", "LONG_BINGET") and not 0 <= arg < stored:
                raise _Corrupt(f"data.pkl reads memo entry {arg} (at byte {pos}) but only {stored} entries exist")
            elif name == "FRAME" and arg > len(data) - pos - 9:
                raise _Corrupt(f"data.pkl has a frame of {arg} bytes at byte {pos}, longer than the {len(data) - pos - 9} bytes after it")
    except (UnpicklingError, _Corrupt):
        raise
    except (ValueError, EOFError) as e:
        raise _Corrupt(f"data.pkl is corrupt or truncated ({e})") from None


class _Frozen:
    """Base of the stand-ins the pickle is handed. They are shared by every load, so they refuse
    changes: a BUILD opcode on one (which sets attributes) would otherwise change how every later
    file in the process loads."""

    __slots__ = ()

    def __setattr__(self, name, value):
        raise UnpicklingError(f"the pickle tries to set {name!r} on {self!r}; refusing the file")

    __delattr__ = __setattr__

    def __setstate__(self, state):
        raise UnpicklingError(f"the pickle tries to change {self!r} (BUILD); refusing the file")

    def _init(self, **fields):
        for k, v in fields.items():
            object.__setattr__(self, k, v)


class _Callable(_Frozen):
    """An admitted function or Python class, immutable (a BUILD on `collections.Counter` itself
    would otherwise replace its methods for the whole process)."""

    __slots__ = ("fn", "name")

    def __init__(self, fn, name: str):
        self._init(fn=fn, name=name)

    def __call__(self, *args, **kwargs):
        return self.fn(*args, **kwargs)

    def __repr__(self) -> str:
        return self.name


class _StorageType(_Frozen):
    """torch.FloatStorage & co., as named in a pickle."""

    __slots__ = ("name", "kind")

    def __init__(self, name: str):
        self._init(name=name, kind=_STORAGE_KINDS[name])

    def __repr__(self) -> str:
        return f"torch.{self.name}"


class _DType(_Frozen):
    """A torch dtype (torch.float32 ...), as named in a pickle."""

    __slots__ = ("name", "kind")

    def __init__(self, name: str):
        self._init(name=name, kind=_DTYPE_KINDS[name])

    def __repr__(self) -> str:
        return f"torch.{self.name}"


class _Storage(_Frozen):
    """A storage's zip entry and element type; bytes are read per tensor, when rebuilt."""

    __slots__ = ("archive", "info", "kind", "nbytes")

    def __init__(self, archive: _Archive, info: _Entry, kind: str, nbytes: int):
        self._init(archive=archive, info=info, kind=kind, nbytes=nbytes)

    def __repr__(self) -> str:
        return f"storage '{self.info.name}'"


class _TensorType(_Frozen):
    """torch.Tensor / torch.nn.Parameter, as _rebuild_from_type_v2 names them."""

    __slots__ = ("parameter",)

    def __init__(self, parameter: bool):
        self._init(parameter=parameter)

    def __repr__(self) -> str:
        return "torch.nn.Parameter" if self.parameter else "torch.Tensor"


def _rebuild(storage, offset, size, stride, kind: str | None, requires_grad):
    if not isinstance(storage, _Storage):
        raise UnpicklingError(f"a tensor's storage is a {type(storage).__name__}, not a storage")
    kind = kind or storage.kind
    item = _ITEMSIZE[kind]
    ok = isinstance(size, tuple) and isinstance(stride, tuple) and len(size) == len(stride)
    if not (ok and _nonneg_int(offset) and all(map(_nonneg_int, size + stride))):
        raise UnpicklingError(f"tensor with offset {offset!r}, size {size!r}, stride {stride!r}: expected non-negative ints")
    available = storage.nbytes // item
    numel = 1
    for n in size:
        numel *= n
    end = offset + sum((n - 1) * s for n, s in zip(size, stride)) + 1
    if numel and end > available:
        raise _Corrupt(
            f"a tensor of size {size}, stride {stride} and offset {offset} needs elements {offset}..{end - 1} "
            f"of a storage holding {available} {kind} elements ({storage.info.name})"
        )
    # Zero dims counted as 1 too: strides multiply the other dims (as for safetensors shapes).
    bound = item
    for n in size:
        bound *= max(n, 1)
    if bound > (1 << 63) - 1:
        raise _Corrupt(f"a tensor of size {size} holds more elements than any file can")
    # In the file's element size (each dtype loads as itself).
    storage.archive.charge(numel * item, f"a tensor of size {size} and stride {stride} ({kind})")
    if numel == 0:
        arr = np.zeros(size, dtype=_LOADED_AS.get(kind, kind))
    else:
        raw = storage.archive.read(storage.info, offset * item, (end - offset) * item)
        file_dtype = np.dtype("uint16" if kind == "bfloat16" else kind).newbyteorder(storage.archive.endian)
        flat = np.frombuffer(raw, dtype=file_dtype)
        arr = np.lib.stride_tricks.as_strided(flat, shape=size, strides=[s * item for s in stride], writeable=False)
        if kind == "bfloat16":
            arr = (arr.astype(np.uint32) << 16).view(np.float32)
        arr = np.array(arr, dtype=_LOADED_AS.get(kind, kind), order="C")  # (ascontiguousarray makes 0-d 1-d)
    t = _core.from_numpy(arr)
    if kind == "bfloat16":
        t = t.to(_core.bfloat16)
    if requires_grad and t.dtype.is_floating_point:
        t.requires_grad_(True)
    return t


def _nonneg_int(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool) and x >= 0


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None, metadata=None):
    return _rebuild(storage, storage_offset, size, stride, None, requires_grad)


def _rebuild_tensor_v3(storage, storage_offset, size, stride, requires_grad, backward_hooks, dtype, metadata=None):
    if not isinstance(dtype, _DType):
        raise UnpicklingError(f"_rebuild_tensor_v3 given dtype {dtype!r}")
    return _rebuild(storage, storage_offset, size, stride, dtype.kind, requires_grad)


def _rebuild_parameter(data, requires_grad, backward_hooks=None, state=None):
    from .nn.parameter import Parameter

    if not isinstance(data, _core.Tensor):
        raise UnpicklingError(f"a Parameter's data is a {type(data).__name__}, not a tensor")
    return Parameter(data, requires_grad=bool(requires_grad) and data.dtype.is_floating_point)


def _rebuild_from_type_v2(func, new_type, args, state):
    if not (isinstance(func, _Callable) and func.fn in _REBUILDERS) or not isinstance(new_type, _TensorType) or not isinstance(args, tuple):
        raise UnpicklingError(f"_rebuild_from_type_v2 given {func!r}, {new_type!r}")
    t = func(*args)
    return _rebuild_parameter(t, t.requires_grad) if new_type.parameter else t


def _encode(obj, encoding="utf-8", errors="strict"):
    # How protocol 2 pickles bytes: _codecs.encode(str, "latin1").
    if not isinstance(obj, str) or encoding not in ("latin1", "latin-1"):
        raise UnpicklingError(f"_codecs.encode given {type(obj).__name__}, {encoding!r}")
    return obj.encode("latin1")


def _bytearray(*args):
    if not all(isinstance(a, (bytes, str)) for a in args):  # bytearray(int) would allocate that many
        raise UnpicklingError("bytearray() given a length instead of data")
    return bytearray(*args)


_REBUILDERS = (_rebuild_tensor_v2, _rebuild_tensor_v3, _rebuild_parameter)
_FUNCTIONS = {
    ("collections", "Counter"): Counter,
    ("builtins", "bytearray"): _bytearray,
    ("_codecs", "encode"): _encode,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_tensor_v3"): _rebuild_tensor_v3,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
    ("torch._tensor", "_rebuild_from_type_v2"): _rebuild_from_type_v2,
    ("torch", "Size"): lambda dims=(): tuple(int(d) for d in dims),
    ("torch", "device"): lambda kind, index=None: str(kind) if index is None else f"{kind}:{index}",
}
_ALLOWED = {
    # Builtin (C) types: immutable already.
    ("collections", "OrderedDict"): OrderedDict,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("builtins", "complex"): complex,
    **{key: _Callable(fn, ".".join(key)) for key, fn in _FUNCTIONS.items()},
    ("torch", "Tensor"): _TensorType(parameter=False),
    ("torch.nn.parameter", "Parameter"): _TensorType(parameter=True),
    ("torch.storage", "UntypedStorage"): _StorageType("UntypedStorage"),
    **{("torch", name): _StorageType(name) for name in _STORAGE_KINDS},
    **{("torch", name): _DType(name) for name in _DTYPE_KINDS},
}


class _Unpickler(pickle.Unpickler):
    def __init__(self, data: bytes, archive: _Archive):
        super().__init__(io.BytesIO(data), encoding="utf-8")
        self.archive = archive

    def find_class(self, module: str, name: str):
        if module == "__builtin__":  # protocol 2's name for builtins (find_class sees it unmapped)
            module = "builtins"
        found = _ALLOWED.get((module, name))
        if found is None:
            raise UnpicklingError(
                f"the pickle asks for the global '{module}.{name}', which weights-only loading "
                "does not admit (only tensors, storages, dtypes, OrderedDict and builtin containers); refusing the file "
                "without running it"
            )
        return found

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] in ("storage", b"storage")):
            raise UnpicklingError(f"unexpected persistent id {str(pid)[:80]}")
        _, storage_type, key, _location, numel = pid
        if not isinstance(storage_type, _StorageType):
            raise UnpicklingError(f"persistent id names {storage_type!r}, not a storage type")
        key = key.decode("ascii") if isinstance(key, bytes) else key
        if not isinstance(key, str) or not _nonneg_int(numel):
            raise UnpicklingError(f"malformed storage id {str(pid)[:80]}")
        info = self.archive.info(f"data/{key}")
        nbytes = numel * _ITEMSIZE[storage_type.kind]
        if nbytes > info.size:
            raise _Corrupt(
                f"storage {key} declares {numel} {storage_type.kind} elements "
                f"({nbytes} bytes) but its entry holds {info.size} bytes"
            )
        return _Storage(self.archive, info, storage_type.kind, nbytes)
