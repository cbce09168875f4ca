"""PyTorch's ``.pt``/``.pth`` files (the zip format of ``torch.save``) read without PyTorch.

The zip holds ``<archive>/data.pkl`` (a pickle of the object, each tensor a call to
``torch._utils._rebuild_tensor_v2`` on a persistent storage id) and one ``<archive>/data/<key>``
entry per storage, in the byte order named by ``<archive>/byteorder``. Each storage is read once
and its tensors come back as views of it (``as_strided``), sharing memory as they did when saved
(a tensor whose dtype differs from its storage's, or that is empty, is copied out instead).

Weights-only loading (the default) admits the globals ``torch.load(weights_only=True)`` admits
(rebuild functions, storage types, dtypes, ``torch.Size``, ``torch.device``, ``OrderedDict``,
builtin containers: each mapped to a local stand-in) and those allowed with
``fg.serialization.add_safe_globals``; any other global (``os.system``, a class) is refused
before it is looked up, so a malicious file never runs code. Every opcode is scanned first:
lengths must fit in the data, opcodes torch never writes (INST, OBJ, EXT*, out-of-band buffers)
are refused, and so are memo indices beyond the entries stored so far (the C unpickler sizes its
memo from the index: a 375-byte file asking for entry 2**28 took 4 GB). BUILD never applies to
a class, an allowed function or a shared stand-in, so no file changes how later files load. Sizes read from the file are checked against the zip entries and
the file's size before anything is allocated. ``weights_only=False`` unpickles everything
(PyTorch's tensor globals still map to ferrograd's): for trusted files only.

The zip container's checks live in `_torch_zip_archive`, the stand-ins for torch's globals and
the tensor rebuilders in `_torch_zip_globals`; this module scans the pickle and unpickles it.
"""

from __future__ import annotations

import io
import pickle
import pickletools
import struct
import zipfile
from collections import OrderedDict

from ._torch_zip_archive import _Archive, _Corrupt
from ._torch_zip_globals import _ALLOWED, _BLOCKED, _ITEMSIZE, UnpicklingError, _nonneg_int, _Storage, _StorageType

# Opcodes of pickle protocols 2-5 that plain containers, numbers, strings and reduce calls use.
_OPCODES = frozenset(
    "PROTO FRAME STOP MARK POP POP_MARK DUP NONE NEWTRUE NEWFALSE INT BININT BININT1 BININT2 LONG LONG1 "
    "LONG4 STRING BINSTRING SHORT_BINSTRING BINBYTES SHORT_BINBYTES BINBYTES8 BYTEARRAY8 UNICODE BINUNICODE "
    "SHORT_BINUNICODE BINUNICODE8 FLOAT BINFLOAT EMPTY_LIST APPEND APPENDS LIST EMPTY_TUPLE TUPLE TUPLE1 "
    "TUPLE2 TUPLE3 EMPTY_DICT DICT SETITEM SETITEMS EMPTY_SET ADDITEMS FROZENSET GET BINGET LONG_BINGET PUT "
    "BINPUT LONG_BINPUT MEMOIZE GLOBAL STACK_GLOBAL REDUCE BUILD NEWOBJ NEWOBJ_EX BINPERSID".split()
)


def load(fh, name: str, weights_only: bool = True, safe_globals: dict | None = None):
    """The object in the torch.save zip read from the seekable binary file `fh`, tensors as
    ferrograd tensors. `name` names the file in errors; `safe_globals` maps "module.name" to the
    classes and functions the user allowed (weights-only loads)."""
    try:
        zf = zipfile.ZipFile(fh)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError, struct.error, OverflowError, NotImplementedError, RuntimeError) as e:  # fmt: skip
        raise ValueError(f"fg.load: '{name}' starts like a zip (PyTorch's format) but is not a valid zip: {e}") from None
    try:
        archive = _Archive(zf, fh)
        data = archive.read_whole("data.pkl")
        if not weights_only:
            return _FullUnpickler(data, archive).load()
        _scan(data)
        return (_CheckedUnpickler if safe_globals else _Unpickler)(data, archive, safe_globals or {}).load()
    except UnpicklingError as e:
        raise UnpicklingError(f"fg.load: '{name}': {e}") from None
    except _Corrupt as e:
        raise ValueError(f"fg.load: '{name}': {e}") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, KeyError, IndexError, AttributeError,
            RecursionError, OverflowError) as e:  # fmt: skip
        if not weights_only and not isinstance(e, (pickle.UnpicklingError, EOFError)):
            raise  # the saved classes' own errors (a missing attribute ...), as pickle raises them
        # (Not MemoryError: every size is bounded by the file's, so running out of memory means the
        # machine is too small for the file, not that the file is corrupt.)
        raise ValueError(f"fg.load: '{name}': data.pkl is corrupt ({type(e).__name__}: {e})") from None

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

class _Storages:
    """persistent_load for both unpicklers: a storage id names a zip entry, checked here."""

    archive: _Archive

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


class _WeightsOnly(_Storages):
    """find_class of weights-only loading: PyTorch's globals as stand-ins, the user's allowlist."""

    def __init__(self, data: bytes, archive: _Archive, safe_globals: dict):
        super().__init__(io.BytesIO(data), encoding="utf-8")
        self.archive, self.safe_globals = archive, safe_globals
        self.safe_classes = {v for v in safe_globals.values() if isinstance(v, type)}

    def find_class(self, module: str, name: str):
        if module == "__builtin__":  # protocol 2's name for builtins (find_class sees it unmapped)
            module = "builtins"
        found = _ALLOWED.get((module, name))
        if found is not None:
            return found
        full = f"{module}.{name}"
        if module in _BLOCKED:
            raise UnpicklingError(
                f"Weights only load failed: unsupported GLOBAL {full} whose module {module} is blocked (no allowlist admits it); "
                "refusing the file without running it"
            )
        if full in self.safe_globals:
            return self.safe_globals[full]
        shown = name if module == "builtins" else full
        raise UnpicklingError(
            "Weights only load failed. This file can still be loaded, to do so you have two options, do those steps only "
            "if you trust the source of the checkpoint.\n\t(1) Re-running `fg.load` with `weights_only` set to `False` will "
            "likely succeed, but it can result in arbitrary code execution. Do it only if you got the file from a trusted "
            "source.\n\t(2) Alternatively, to load with `weights_only=True` please check the recommended steps in the "
            f"following error message.\n\tWeightsUnpickler error: Unsupported global: GLOBAL {shown} was not an allowed "
            f"global by default. Please use `fg.serialization.add_safe_globals([{shown}])` or the "
            f"`fg.serialization.safe_globals([{shown}])` context manager to allowlist this global if you trust this "
            "class/function."
        )



class _Unpickler(_WeightsOnly, pickle.Unpickler):
    """The C unpickler, used while the user allows nothing: no BUILD can change what find_class
    hands out (the stand-ins are frozen, builtin types refuse attributes)."""


class _CheckedUnpickler(_WeightsOnly, pickle._Unpickler):
    """The pure-Python unpickler, used once the user allowed classes or functions: its BUILD
    applies only to an OrderedDict or an instance of an allowed class. (The C one would set the
    attributes of an allowed class or function itself, for every later use in the process.)"""

    def load_build(self):
        inst = self.stack[-2] if len(self.stack) >= 2 else OrderedDict()  # (too short: pickle's error)
        if not (type(inst) is OrderedDict or type(inst) in self.safe_classes):
            raise UnpicklingError(f"the pickle tries to change {inst!r} (BUILD); refusing the file")
        pickle._Unpickler.load_build(self)

    dispatch = {**pickle._Unpickler.dispatch, pickle.BUILD[0]: load_build}


class _FullUnpickler(_Storages, pickle.Unpickler):
    """weights_only=False: PyTorch's tensor, storage, dtype, device and Size globals map to
    ferrograd's; any other global is imported, as pickle does."""

    def __init__(self, data: bytes, archive: _Archive):
        super().__init__(io.BytesIO(data), encoding="utf-8")
        self.archive = archive

    def find_class(self, module: str, name: str):
        found = _ALLOWED.get((module, name)) if module.startswith("torch") else None
        return found if found is not None else super().find_class(module, name)
