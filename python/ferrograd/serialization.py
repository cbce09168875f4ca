"""`fg.save` and `fg.load`: PyTorch's own file format, so checkpoints go both ways, and
safetensors.

`fg.save(obj, f)` writes what ``torch.save`` writes (PyTorch's zip format, see `_torch_save`):
a pickle of `obj` whose tensors point at raw storages, so ``torch.load(f, weights_only=True)``
reads a state_dict or checkpoint saved by ferrograd. `f` is a path, written atomically (a save
that fails or is killed leaves the previous file intact), or a binary file object. Like
torch.save it saves any picklable object; what weights-only loading reads back is tensors,
Parameters, dicts, OrderedDicts, lists, tuples, sets, int, float, complex, str, bytes, bool,
None, dtypes and devices. Tensors viewing one storage share it in the file, as in PyTorch
(once the core exposes storage offsets; until then each tensor is its own storage). What cannot
be pickled (a lambda, a local class) is a TypeError naming where it is (``obj['model']['act']``),
raised before anything is written.

A path ending in ``.safetensors`` gets the safetensors format instead: tensors under their
dotted paths (a state_dict's keys stay as they are), the structure and the non-tensor values
(int, float, str, bool, None, bytes) in the header's ``__metadata__`` as JSON, so they come back
with their types, key order and dict kinds.

`fg.load(f)` takes a path or a binary file object and recognises the format from its bytes:

* PyTorch's zip format (``PK\\x03\\x04``), from `fg.save` or ``torch.save``: read weights-only
  by `_torch_zip` (a restricted unpickler: no code in the file runs). A file that needs any
  other class is refused with PyTorch's message: pass ``weights_only=False`` (full unpickling,
  for trusted files only) or allow the classes with `add_safe_globals` / `safe_globals`.
* safetensors (8-byte little-endian header length, then ``{``): from `fg.save` the saved
  object; from another writer (``safetensors.torch.save_file``) a flat dict of tensors. Every
  dtype ferrograd has loads as itself (float16, bfloat16 and the narrow ints included); the
  others (uint16 ... uint64, the float8 types) are refused with an error naming the dtype.
* PyTorch's legacy formats and plain pickles: refused with an error saying how to convert.
"""

from __future__ import annotations

import base64
import io
import json
import os
import pickle
import random
import shutil
import tempfile
import time
from collections import Counter, OrderedDict

from . import _core
from ._core import Tensor

__all__ = ["save", "load", "add_safe_globals", "get_safe_globals", "clear_safe_globals", "safe_globals"]

# The __metadata__ key holding the JSON description of the saved object, and its version.
_META_KEY = "ferrograd"
_META_VERSION = 1
# A bare saved tensor is stored under this name.
_ROOT_NAME = "tensor"
# pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2): the first record of torch's legacy format.
_LEGACY_TORCH_MAGIC = b"\x80\x02\x8a\nl\xfc\x9cF\xf9 j\xa8P\x19."
_SUPPORTED = "tensors, dicts, lists and tuples of them, int, float, str, bool, None and bytes"


def save(obj, f, pickle_module=None, pickle_protocol: int = 2, _use_new_zipfile_serialization: bool = True,
         _disable_byteorder_record: bool = False) -> None:  # fmt: skip
    """Saves `obj` to `f` in PyTorch's format (``.safetensors`` paths: safetensors).

    Args:
        obj: what to save: a ``state_dict()``, a checkpoint such as ``{"model": ...,
            "optimizer": ..., "epoch": 3, "rng": fg.get_rng_state()}``, a tensor, or any
            picklable object (a whole Module; loading that needs ``weights_only=False``).
        f: a path (str or os.PathLike), written atomically, or a binary file object (written
            from its current position). Paths ending in ``.safetensors`` (any case) get the
            safetensors format, which holds tensors, containers and plain values only.
        pickle_module: None or the ``pickle`` module (ferrograd writes PyTorch's pickle itself).
        pickle_protocol: 2 (PyTorch's default) to 5.

    Raises:
        TypeError: part of `obj` cannot be saved; the message says where (``obj['model']['w']``).
            Nothing has been written.
        OSError: the file cannot be written; a previous file at the path is left as it was.

    Example:
        >>> fg.save(model.state_dict(), "model.pt")    # torch.load("model.pt") reads it too
        >>> model.load_state_dict(fg.load("model.pt"))
    """
    from . import _torch_save

    if pickle_module is not None and pickle_module is not pickle:
        raise ValueError(f"fg.save: pickle_module must be None or pickle, got {pickle_module!r}")
    if not _use_new_zipfile_serialization:
        raise ValueError("fg.save: PyTorch's legacy format (_use_new_zipfile_serialization=False) is not supported; ferrograd writes the zip format every PyTorch since 1.6 reads")
    path = None if hasattr(f, "write") else _path_arg(f, "save")
    if path is None or not path.lower().endswith(".safetensors"):
        data_pkl, storages = _torch_save.dump(obj, pickle_protocol)  # raises before writing anything

        def write(fh, folder: str) -> None:
            _torch_save.write_zip(fh, folder, data_pkl, storages, byteorder_record=not _disable_byteorder_record)

        if path is None:
            write(f, "archive")
            getattr(f, "flush", lambda: None)()
        else:
            _write_atomically(path, lambda fh: write(fh, _torch_save.archive_name(path)))
    else:
        tensors: list[tuple[list, Tensor]] = []
        tree = _encode(obj, [], tensors)
        names = _tensor_names([p for p, _ in tensors])
        meta = {"version": _META_VERSION, "tensors": names, "tree": tree}
        metadata = {"format": "pt", _META_KEY: json.dumps(meta, ensure_ascii=False)}
        _core._save_safetensors(path, [(name, t) for name, (_, t) in zip(names, tensors)], metadata)


def load(f, map_location=None, pickle_module=None, *, weights_only: bool | None = None, mmap: bool | None = None, **pickle_load_args):
    """Loads what `fg.save` or ``torch.save`` saved (their zip format), or a safetensors file, without
    PyTorch.

    Args:
        f: a path (str or os.PathLike) or a binary file object (read from its current position).
        map_location: None, ``"cpu"``, ``fg.device("cpu")``, a dict or a callable: everything
            loads to the CPU. A non-CPU device is an error, as in PyTorch on a machine without it.
        pickle_module: None or the ``pickle`` module.
        weights_only: True (the default, as in PyTorch): tensors, containers, numbers, strings,
            dtypes and devices, plus the classes allowed by `add_safe_globals`; a file that asks
            for anything else (a class, ``os.system``) is refused without running it. False:
            full unpickling (a whole saved Module); code in the file can run, so only for files
            from a trusted source.
        mmap: accepted for PyTorch compatibility (paths only, as PyTorch); ferrograd reads the
            file into memory either way.

    Returns:
        The saved object. Tensors saved as views of one storage come back as views of one
        storage.

    Raises:
        pickle.UnpicklingError: weights-only loading refused the file (also a ValueError).
        ValueError: the file is truncated, corrupt or hostile, or in a format ferrograd does not
            read; the message names the file and what is wrong.
        OSError: the file cannot be opened or read (FileNotFoundError ...).
    """
    _check_map_location(map_location)
    if pickle_module is not None and pickle_module is not pickle:
        raise ValueError(f"fg.load: pickle_module must be None or pickle, got {pickle_module!r}")
    unknown = set(pickle_load_args) - {"encoding"}
    if unknown:
        raise TypeError(f"fg.load() got an unexpected keyword argument {sorted(unknown)[0]!r}")
    weights_only = True if weights_only is None else bool(weights_only)
    if hasattr(f, "read"):
        if mmap:
            raise ValueError("fg.load: f must be a file path in order to use the mmap argument")
        name = str(getattr(f, "name", f"<{type(f).__name__}>"))
        seekable = getattr(f, "seekable", lambda: False)()
        return _load(f if seekable else io.BytesIO(f.read()), name, None, weights_only)
    path = _path_arg(f, "load")
    with open(path, "rb") as fh:
        return _load(fh, path, path, weights_only)


def _load(fh, name: str, path: str | None, weights_only: bool):
    start = fh.tell()
    head = fh.read(512)
    size = fh.seek(0, os.SEEK_END) - start
    fh.seek(start)
    # safetensors first: byte 8 of a zip is its compression method (0, never "{"), but a
    # safetensors header length can begin with the bytes "PK".
    if head[8:9] != b"{":
        _check_not_safetensors(name, head, size)
        from . import _torch_zip

        return _torch_zip.load(fh, name, weights_only, _allowed_globals())
    pairs, metadata = _core._load_safetensors(path) if path is not None else _safetensors_from_file_object(fh, name)
    if _META_KEY not in metadata:
        # Another writer's file (safetensors.torch.save_file ...): a flat dict, keys sorted as
        # safetensors' own loaders return them.
        return dict(sorted(pairs, key=lambda kv: kv[0]))
    try:
        meta = json.loads(metadata[_META_KEY])
        by_name = dict(pairs)
        names = meta["tensors"]
        # Each tensor in the file appears exactly once in the object: a name listed twice would
        # alias two entries and drop another tensor without a word.
        counts = Counter(names)
        if counts != Counter(by_name.keys()):
            problems = {
                "names tensors twice": [n for n, c in counts.items() if c > 1],
                "names tensors the file does not hold": [n for n in counts if n not in by_name],
                "leaves out tensors the file holds": [n for n in by_name if n not in counts],
            }
            raise ValueError("its tensor list " + "; ".join(f"{what}: {found[:3]}" for what, found in problems.items() if found))
        used = [False] * len(names)
        obj = _decode(meta["tree"], [by_name[name] for name in names], used)
        if not all(used):
            raise ValueError(f"tensor {names[used.index(False)]!r} is in the file but not in the saved object")
        return obj
    except (ValueError, KeyError, TypeError, IndexError, AttributeError, RecursionError) as e:
        raise ValueError(f"fg.load: '{name}': the ferrograd metadata in its header is malformed ({type(e).__name__}: {e})") from None


def _safetensors_from_file_object(fh, name: str):
    """The native reader takes paths: a file object's bytes go through a temporary file."""
    with tempfile.TemporaryDirectory(prefix="ferrograd-load-") as folder:
        temp = os.path.join(folder, "f.safetensors")
        with open(temp, "wb") as out:
            shutil.copyfileobj(fh, out, 1 << 20)
        try:
            return _core._load_safetensors(temp)
        except ValueError as e:
            raise ValueError(str(e).replace(temp, name)) from None


def _check_not_safetensors(path: str, head: bytes, size: int) -> None:
    """Refuses, with the reason, every file that is neither safetensors nor a zip."""
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return
    if head.startswith(_LEGACY_TORCH_MAGIC):
        raise ValueError(
            f"fg.load: '{path}' is in PyTorch's legacy serialization format (torch.save with "
            "_use_new_zipfile_serialization=False, or PyTorch before 1.6), which ferrograd does not "
            "support. Convert it where PyTorch is installed: torch.save(torch.load(path), new_path)"
        )
    if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        raise ValueError(
            f"fg.load: '{path}' is a plain pickle, which ferrograd does not load (unpickling can run "
            "arbitrary code); save tensors with fg.save or torch.save instead"
        )
    if head[257:262] == b"ustar":
        raise ValueError(f"fg.load: '{path}' is a tar archive (PyTorch's pre-0.4 format), which ferrograd does not support")
    raise ValueError(
        f"fg.load: '{path}' is not a file fg.load can read ({size} bytes, starting {head[:12]!r}): expected "
        "safetensors (an 8-byte header length, then '{') or PyTorch's zip format (starting 'PK\\x03\\x04')"
    )


def _path_arg(f, op: str) -> str:
    try:
        return os.fsdecode(os.fspath(f))
    except TypeError:
        raise TypeError(f"fg.{op}: expected a path (str or os.PathLike) or a binary file object, got {type(f).__name__}") from None


def _check_map_location(map_location) -> None:
    if map_location is None or callable(map_location) or isinstance(map_location, dict):
        return
    from ._device import device

    device(map_location)  # raises for anything but the CPU, with the reason


# ---- atomic writes of PyTorch's format (safetensors: rust/io/save.rs) -------------------------
# Temporary files are named as save.rs names those of safetensors saves, so either writer
# recognises and removes the other's stale ones.

_STALE_AFTER = 3600.0
_TAG = "ferrograd-"
_ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


def _write_atomically(path: str, write) -> None:
    """Calls `write(file)` on a temporary file in `path`'s folder, fsyncs it and renames it over
    `path`: a save that fails or is killed leaves the previous file as it was."""
    folder = os.path.dirname(path) or "."
    ours = f".{os.path.basename(path)[:64]}.{_TAG}"
    _remove_stale_temporaries(folder, ours)
    prefix = f"{ours}{_host_tag()}-{os.getpid()}-"
    rng = random.SystemRandom()
    for _ in range(100):
        temp = os.path.join(folder, prefix + "".join(rng.choices(_ALNUM, k=6)) + ".tmp")
        try:
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
            break
        except FileExistsError:
            continue
        except OSError as e:
            raise type(e)(e.errno, f"fg.save: '{path}': {e.strerror}") from None
    else:
        raise FileExistsError(f"fg.save: '{path}': could not create a temporary file next to it")
    try:
        with open(fd, "wb", buffering=1 << 20) as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())  # before the rename, or a crash could leave the name on lost data
        os.replace(temp, path)
    except BaseException as e:
        try:
            os.unlink(temp)
        except OSError:
            pass
        if isinstance(e, OSError) and path not in str(e):
            raise type(e)(e.errno, f"fg.save: '{path}': {e.strerror}") from None
        raise
    try:  # the rename is durable once the folder is synced (not possible everywhere)
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:
        pass


def _remove_stale_temporaries(folder: str, ours: str) -> None:
    """Removes temporaries of earlier saves to this target whose writer is gone (same machine,
    pid no longer running) or that nobody has written for an hour; nothing else."""
    try:
        names = os.listdir(folder)
    except OSError:
        return
    host, me, now = _host_tag(), os.getpid(), time.time()
    for name in names:
        if not (name.startswith(ours) and name.endswith(".tmp")):
            continue
        parts = name[len(ours) : -len(".tmp")].split("-")
        if len(parts) != 3 or len(parts[0]) != 8 or not parts[1].isdigit() or len(parts[2]) != 6:
            continue
        if not (all(c in "0123456789abcdefABCDEF" for c in parts[0]) and all(c in _ALNUM for c in parts[2])):
            continue
        full = os.path.join(folder, name)
        try:
            age = now - os.stat(full).st_mtime
        except OSError:
            continue
        pid = int(parts[1])
        dead = parts[0] == host and pid != me and os.path.exists("/proc/self") and not os.path.exists(f"/proc/{pid}")
        if dead or age > _STALE_AFTER:
            try:
                os.unlink(full)
            except OSError:
                pass


def _host_tag() -> str:
    """8 hex digits naming this machine (FNV-1a of its host name), as save.rs computes them."""
    try:
        with open("/proc/sys/kernel/hostname", "rb") as f:
            name = f.read()
    except OSError:
        name = os.environ.get("HOSTNAME", "").encode()
    h = 0x811C9DC5
    for b in name.strip():
        h = ((h ^ b) * 0x01000193) & 0xFFFFFFFF
    return f"{h:08x}"


# ---- the allowlist of weights-only loading (PyTorch's torch.serialization API) -----------------

_safe_globals: set = set()


def add_safe_globals(safe_globals: list) -> None:
    """Marks classes and functions as safe for weights-only loading (`fg.load`'s default): a
    file may then construct these classes, call these functions and set the state of instances
    of these classes. Each item is the class or function, or ``(it, "module.name")`` when the
    file names it differently from its ``__module__.__qualname__``.

    Example:
        >>> fg.serialization.add_safe_globals([MyConfig])
        >>> ckpt = fg.load("ckpt.pt")             # a checkpoint holding a MyConfig
    """
    global _safe_globals
    _safe_globals = _safe_globals | set(safe_globals)


def get_safe_globals() -> list:
    """The classes and functions `add_safe_globals` allowed."""
    return list(_safe_globals)


def clear_safe_globals() -> None:
    """Forgets every class and function `add_safe_globals` allowed."""
    global _safe_globals
    _safe_globals = set()


class safe_globals:
    """``with fg.serialization.safe_globals([MyConfig]): fg.load(...)``: allows these classes and
    functions (as `add_safe_globals`) inside the block only."""

    def __init__(self, safe_globals: list):
        self.safe_globals = safe_globals

    def __enter__(self) -> None:
        add_safe_globals(self.safe_globals)

    def __exit__(self, *exc) -> None:
        global _safe_globals
        _safe_globals = _safe_globals - set(self.safe_globals)


def _allowed_globals() -> dict:
    """The globals the user allowed, by the name a pickle gives them (checked as PyTorch checks them)."""
    allowed = {}
    for item in _safe_globals:
        if isinstance(item, tuple):
            if len(item) != 2:
                raise ValueError(f"Expected tuple of length 2 (global, str of callable full path), but got tuple of length: {len(item)}")
            if type(item[1]) is not str:
                raise TypeError(f"Expected second item in tuple to be str of callable full path, but got: {type(item[1])}")
            allowed[item[1]] = item[0]
        else:
            allowed[f"{item.__module__}.{item.__qualname__}"] = item
    return allowed


# ---- the saved object <-> JSON tree -----------------------------------------------------------
# Primitives are stored as themselves (JSON keeps int/float/bool/None/str apart); everything
# else is a one-key tagged object: {"T": index} tensor (plus "P": 1 for a Parameter and "g": 1
# when it requires grad), {"D": [[key, value], ...], "o": 1?} dict (OrderedDict with "o"),
# {"L": [...]} list, {"U": [...]} tuple, {"B": base64} bytes.


def _encode(value, path: list[str], tensors: list) -> object:
    if isinstance(value, Tensor):
        from .nn.parameter import Parameter

        node = {"T": len(tensors)}
        if isinstance(value, Parameter):
            node["P"] = 1
        if value.requires_grad:
            node["g"] = 1
        tensors.append((path, value.detach()))
        return node
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (bytes, bytearray)):
        return {"B": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, dict):
        items = []
        for k, v in value.items():
            if not (k is None or isinstance(k, (bool, int, float, str))):
                raise TypeError(f"fg.save: a .safetensors file needs dict keys that are str, int, float, bool or None; got {type(k).__name__} at {_where(path)}")
            items.append([k, _encode(v, [*path, k], tensors)])
        return {"D": items, "o": 1} if isinstance(value, OrderedDict) else {"D": items}
    if isinstance(value, (list, tuple)):
        items = [_encode(v, [*path, i], tensors) for i, v in enumerate(value)]
        return {"L": items} if isinstance(value, list) else {"U": items}
    kind = type(value)
    name = kind.__qualname__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"
    hint = " (convert numpy arrays with fg.from_numpy)" if kind.__module__ == "numpy" else ""
    raise TypeError(f"fg.save: cannot save {name} at {_where(path)}: a .safetensors file stores {_SUPPORTED}{hint}")


def _where(path: list) -> str:
    """`obj['model']['w']`: where in the saved object a value is."""
    return "obj" + "".join(f"[{k!r}]" for k in path)


_TAGS = frozenset("TDLUB")


def _decode(node, tensors: list, used: list[bool]):
    if not isinstance(node, dict):
        if isinstance(node, list):
            raise ValueError("a bare JSON list where a tagged node was expected")
        return node
    (tag,) = [k for k in node if k in _TAGS]
    body = node[tag]
    if tag == "T":
        if not isinstance(body, int) or body < 0:
            raise ValueError(f"tensor index {body!r}")
        t = tensors[body]
        if used[body]:
            raise ValueError(f"tensor index {body} is used twice")
        used[body] = True
        if node.get("P"):
            from .nn.parameter import Parameter

            return Parameter(t, requires_grad=bool(node.get("g")))
        return t.requires_grad_() if node.get("g") else t
    if tag == "D":
        pairs = ((k, _decode(v, tensors, used)) for k, v in body)
        return OrderedDict(pairs) if node.get("o") else dict(pairs)
    if tag == "L":
        return [_decode(v, tensors, used) for v in body]
    if tag == "U":
        return tuple(_decode(v, tensors, used) for v in body)
    return base64.b64decode(body, validate=True)


def _tensor_names(paths: list[list]) -> list[str]:
    """Dotted paths, as a state_dict names its entries. If two different paths would give the same
    name ({"a.b": t1, "a": {"b": t2}}), every name escapes the dots inside keys as "\\." (and "\\"
    as "\\\\"), which no two paths share; the metadata maps names back to places either way."""
    if paths == [[]]:
        return [_ROOT_NAME]
    paths = [[str(k) for k in p] for p in paths]
    names = [".".join(p) for p in paths]
    if len(set(names)) == len(names):
        return names
    return [".".join(k.replace("\\", "\\\\").replace(".", "\\.") for k in p) for p in paths]
