"""`fg.save` and `fg.load`: checkpoints in the safetensors format, and PyTorch's files read
without PyTorch.

`fg.save(obj, path)` writes a tensor, or nested dicts / lists / tuples of tensors and plain
values, as one safetensors file. Tensors are stored under their dotted paths (a state_dict's
keys stay exactly as they are, so other safetensors readers see the usual names); the
structure and the non-tensor values (int, float, str, bool, None, bytes) go into the header's
``__metadata__`` as JSON and come back with their types, key order and dict kinds
(dict / OrderedDict). The write is atomic: a save that fails or is killed leaves the previous
file intact.

`fg.load(path)` recognises the format from the file's first bytes, not its name:

* safetensors (8-byte little-endian header length, then ``{``): from `fg.save` the saved
  object comes back; from another writer (``safetensors.torch.save_file``) a flat dict of
  tensors. F16/BF16 load as float32 and I32/I16/I8/U8 as int64 (ferrograd has no narrower
  dtypes).
* PyTorch's zip format (``torch.save`` since 1.6, ``PK\\x03\\x04``): read weights-only by
  `_torch_zip` with a restricted unpickler; no code in the file ever runs.
* PyTorch's legacy formats and plain pickles: refused with an error saying how to convert.
"""

from __future__ import annotations

import base64
import json
import os
from collections import Counter, OrderedDict

from . import _core
from ._core import Tensor

__all__ = ["save", "load"]

# The __metadata__ key holding the JSON description of the saved object, and its version.
_META_KEY = "ferrograd"
_META_VERSION = 1
# A bare saved tensor is stored under this name.
_ROOT_NAME = "tensor"
# pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2): the first record of torch's legacy format.
_LEGACY_TORCH_MAGIC = b"\x80\x02\x8a\nl\xfc\x9cF\xf9 j\xa8P\x19."
_SUPPORTED = "tensors, dicts, lists and tuples of them, int, float, str, bool, None and bytes"


def save(obj, f) -> None:
    """Saves `obj` to the file `f` (a path) in the safetensors format, atomically.

    Args:
        obj: a Tensor, or (nested) dicts, lists and tuples of tensors and of int, float, str,
            bool, None and bytes values (a model's ``state_dict()``, or a checkpoint such as
            ``{"model": ..., "optimizer": ..., "epoch": 3, "rng": fg.get_rng_state()}``).
        f: a path (str or os.PathLike). Any file name works: ``"model.pt"`` is fine, since
            `fg.load` reads the format from the bytes.

    Tensors are copied to the file (views and non-contiguous tensors included); two entries
    that share storage are stored twice and load as separate tensors.

    Example:
        >>> fg.save(model.state_dict(), "model.pt")
        >>> model.load_state_dict(fg.load("model.pt"))
    """
    path = _path_arg(f, "save")
    tensors: list[tuple[list[str], Tensor]] = []
    tree = _encode(obj, [], tensors)
    names = _tensor_names([p for p, _ in tensors])
    meta = {"version": _META_VERSION, "tensors": names, "tree": tree}
    _core._save_safetensors(
        path,
        [(name, t) for name, (_, t) in zip(names, tensors)],
        {"format": "pt", _META_KEY: json.dumps(meta, ensure_ascii=False)},
    )


def load(f, map_location=None, weights_only: bool = True):
    """Loads an object saved by `fg.save`, a safetensors file from any writer, or a file written
    by ``torch.save`` (its zip format), without PyTorch.

    Args:
        f: a path (str or os.PathLike).
        map_location: accepted for PyTorch compatibility: None, ``"cpu"``, ``fg.device("cpu")``,
            a dict or a callable all load to the CPU; a non-CPU device is an error, as in
            PyTorch on a machine without that device.
        weights_only: ferrograd always loads weights only: tensors, containers and plain values.
            A PyTorch file whose pickle asks for anything else (a class, a function such as
            ``os.system``) is refused, whatever this argument says.

    Returns:
        The saved object (a dict of tensors for a state_dict).

    Raises:
        ValueError: the file is truncated, corrupt or hostile, or in a format ferrograd does not
            read; the message names the file and what is wrong.
        OSError: the file cannot be opened or read (FileNotFoundError ...).
    """
    path = _path_arg(f, "load")
    _check_map_location(map_location)
    with open(path, "rb") as fh:
        head = fh.read(512)
        size = fh.seek(0, os.SEEK_END)
    # safetensors first: byte 8 of a zip is its compression method (0, never "{"), but a
    # safetensors header length can begin with the bytes "PK".
    if head[8:9] != b"{":
        _check_not_safetensors(path, head, size)
        from . import _torch_zip

        return _torch_zip.load(path)
    pairs, metadata = _core._load_safetensors(path)
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
        raise ValueError(f"fg.load: '{path}': the ferrograd metadata in its header is malformed ({type(e).__name__}: {e})") from None


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
    if hasattr(f, "read") or hasattr(f, "write"):
        raise TypeError(
            f"fg.{op}: expected a path (str or os.PathLike), got a file object; ferrograd "
            + ("saves atomically by renaming a finished file over the target" if op == "save" else "reads files by path")
        )
    try:
        return os.fspath(f)
    except TypeError:
        raise TypeError(f"fg.{op}: expected a path (str or os.PathLike), got {type(f).__name__}") from None


def _check_map_location(map_location) -> None:
    if map_location is None or callable(map_location) or isinstance(map_location, dict):
        return
    from ._device import device

    device(map_location)  # raises for anything but the CPU, with the reason


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
                raise TypeError(f"fg.save: dict keys must be str, int, float, bool or None; got {type(k).__name__} at {_where(path)}")
            items.append([k, _encode(v, [*path, str(k)], tensors)])
        return {"D": items, "o": 1} if isinstance(value, OrderedDict) else {"D": items}
    if isinstance(value, (list, tuple)):
        items = [_encode(v, [*path, str(i)], tensors) for i, v in enumerate(value)]
        return {"L": items} if isinstance(value, list) else {"U": items}
    kind = type(value)
    name = kind.__qualname__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"
    hint = " (convert numpy arrays with fg.from_numpy)" if kind.__module__ == "numpy" else ""
    raise TypeError(f"fg.save: cannot save {name} at {_where(path)}: fg.save stores {_SUPPORTED}{hint}")


def _where(path: list[str]) -> str:
    return repr(".".join(path)) if path else "the top level"


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


def _tensor_names(paths: list[list[str]]) -> list[str]:
    """Dotted paths, as a state_dict names its entries. If two different paths would give the same
    name ({"a.b": t1, "a": {"b": t2}}), every name escapes the dots inside keys as "\\." (and "\\"
    as "\\\\"), which no two paths share; the metadata maps names back to places either way."""
    if paths == [[]]:
        return [_ROOT_NAME]
    names = [".".join(p) for p in paths]
    if len(set(names)) == len(names):
        return names
    return [".".join(k.replace("\\", "\\\\").replace(".", "\\.") for k in p) for p in paths]
