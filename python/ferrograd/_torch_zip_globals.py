"""What the pickle of a PyTorch ``.pt`` file may name, and how its tensors are rebuilt.

Each global that weights-only loading admits maps to a local stand-in (``_ALLOWED``): PyTorch's
rebuild functions, storage types, dtypes, ``torch.Size`` and ``torch.device``, and the builtin
containers. The stand-ins are frozen, as every load shares them. A storage's bytes are read from
its zip entry when a tensor needs them, and each tensor's size, stride and offset are checked
against the storage before anything is allocated.
"""

from __future__ import annotations

import pickle
from collections import Counter, OrderedDict

import numpy as np

from . import _core
from ._torch_zip_archive import _Archive, _Corrupt, _Entry


class UnpicklingError(pickle.UnpicklingError, ValueError):
    """A PyTorch file that asks for something weights-only loading refuses (a ValueError too)."""


# Every dtype of PyTorch's format ferrograd reads and writes: its torch storage class and the
# numpy dtype of its bytes in a little-endian file (bfloat16, which numpy lacks, as raw uint16).
# A dtype is one line here; _WIDENED is the exact wider type a dtype is read through where numpy
# or from_numpy takes no array of it.
DTYPES = {
    "float32": ("FloatStorage", "<f4"),
    "float64": ("DoubleStorage", "<f8"),
    "float16": ("HalfStorage", "<f2"),
    "bfloat16": ("BFloat16Storage", "<u2"),
    "int64": ("LongStorage", "<i8"),
    "int32": ("IntStorage", "<i4"),
    "int16": ("ShortStorage", "<i2"),
    "int8": ("CharStorage", "|i1"),
    "uint8": ("ByteStorage", "|u1"),
    "bool": ("BoolStorage", "|b1"),
}
_WIDENED = {"float16": "float32", "bfloat16": "float32", "int32": "int64", "int16": "int64", "int8": "int64", "uint8": "int64"}
_STORAGE_KINDS = {storage: kind for kind, (storage, _) in DTYPES.items()} | {"UntypedStorage": "uint8"}
_ITEMSIZE = {kind: np.dtype(numpy_dtype).itemsize for kind, (_, numpy_dtype) in DTYPES.items()}
# torch dtype names, aliases included, and the dtype each names.
_DTYPE_KINDS = {name: name for name in DTYPES} | {
    "float": "float32", "double": "float64", "half": "float16", "long": "int64", "int": "int32", "short": "int16",
}  # fmt: skip


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
    """A torch dtype the core lacks (torch.float16 ...), as named in a pickle; the dtypes the core
    has load as ferrograd's own (fg.float32 ...)."""

    __slots__ = ("name", "kind")

    def __init__(self, name: str):
        self._init(name=name, kind=_DTYPE_KINDS[name])

    def __repr__(self) -> str:
        return f"torch.{self.name}"


def _dtype_global(name: str):
    found = getattr(_core, _DTYPE_KINDS[name], None)
    return found if type(found) is _core.dtype else _DType(name)


class _Storage(_Frozen):
    """A storage's zip entry and element type; its bytes are read when a tensor needs them."""

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


def _as_tensor(arr: np.ndarray, kind: str) -> _core.Tensor:
    """Values of dtype `kind` read from a file (in `kind`'s numpy dtype; bfloat16 as uint16 bit
    patterns) as a tensor of that dtype, through an exact wider one where from_numpy takes no
    array of it."""
    if kind == "bfloat16":
        arr = (arr.astype(np.uint32) << 16).view(np.float32)
    target = getattr(_core, kind, None)
    if type(target) is not _core.dtype:
        return _core.from_numpy(np.array(arr, dtype=_WIDENED.get(kind, kind), order="C"))
    try:
        t = _core.from_numpy(np.array(arr, dtype=arr.dtype.newbyteorder("="), order="C"))
    except (TypeError, ValueError, RuntimeError):  # a dtype from_numpy does not take yet
        t = _core.from_numpy(np.array(arr, dtype=_WIDENED.get(kind, kind), order="C"))
    return t if t.dtype == target else t.to(target)


def _file_dtype(kind: str, endian: str) -> np.dtype:
    return np.dtype(DTYPES[kind][1]).newbyteorder(endian)


def _storage_tensor(storage: _Storage) -> _core.Tensor:
    """The whole storage as a 1-d tensor, read from the file once per load."""
    archive, key = storage.archive, (storage.info.name, storage.kind)
    t = archive.storages.get(key)
    if t is None:
        archive.charge(storage.nbytes, f"storage '{storage.info.name}'")
        raw = archive.read(storage.info, 0, storage.nbytes)
        t = archive.storages[key] = _as_tensor(np.frombuffer(raw, dtype=_file_dtype(storage.kind, archive.endian)), storage.kind)
    return t


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
    if numel and kind == storage.kind:
        t = _storage_tensor(storage).as_strided(size, stride, offset)
    else:
        # In the file's element size.
        storage.archive.charge(numel * item, f"a tensor of size {size} and stride {stride} ({kind})")
        if numel == 0:
            t = _as_tensor(np.zeros(size, dtype=DTYPES[kind][1]), kind)
        else:
            raw = storage.archive.read(storage.info, offset * item, (end - offset) * item)
            flat = np.frombuffer(raw, dtype=_file_dtype(kind, storage.archive.endian))
            t = _as_tensor(np.lib.stride_tricks.as_strided(flat, shape=size, strides=[s * item for s in stride], writeable=False), kind)
    if requires_grad and t.dtype.is_floating_point:
        t.requires_grad_(True)
    return t


def _nonneg_int(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool) and x >= 0


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None, metadata=None):
    return _rebuild(storage, storage_offset, size, stride, None, requires_grad)


def _rebuild_tensor_v3(storage, storage_offset, size, stride, requires_grad, backward_hooks, dtype, metadata=None):
    kind = dtype.kind if isinstance(dtype, _DType) else str(dtype).rsplit(".", 1)[-1] if type(dtype) is _core.dtype else None
    if kind not in DTYPES:
        raise UnpicklingError(f"_rebuild_tensor_v3 given dtype {dtype!r}")
    return _rebuild(storage, storage_offset, size, stride, kind, requires_grad)


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


def _size(dims=()):
    import ferrograd

    return getattr(ferrograd, "Size", tuple)(int(d) for d in dims)


def _device(kind, index=None):
    name = str(kind) if index is None else f"{kind}:{index}"
    if name.partition(":")[0] != "cpu":
        return name  # a string: ferrograd's devices are the CPU's
    from ._device import device

    return device(name)


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
    ("torch", "Size"): _size,
    ("torch", "device"): _device,
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
    **{("torch", name): _dtype_global(name) for name in _DTYPE_KINDS},
}
# Modules whose globals no allowlist admits (as PyTorch's weights-only unpickler).
_BLOCKED = ("sys", "os", "posix", "nt")
