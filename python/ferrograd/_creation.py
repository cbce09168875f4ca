"""Tensor factories with PyTorch's signatures (the kernels are in Rust), the default dtype and
``Generator`` objects."""

from __future__ import annotations

import contextlib
import numbers
import os
import warnings

import numpy as np

from . import _core
from . import _memory_format as _mf
from ._core import Tensor
from ._device import check_device
from ._traced import traced

# What factories give when no dtype is asked for and the data does not decide (Python floats,
# sizes): torch.get_default_dtype(). Layers take it through _dtype_or_default too.
_default_dtype = _core.float32


def get_default_dtype():
    """The dtype of floating-point tensors made without an explicit dtype (float32 at start)."""
    return _default_dtype


def set_default_dtype(d) -> None:
    """Sets the dtype that factories (``tensor`` of Python floats, ``zeros``, ``rand``, ``arange``
    with float arguments, ...) and layer parameters use when no dtype is given.

    As in PyTorch only floating-point dtypes are accepted. Ops computed in the Rust core that
    promote integers to floating point (true division of integer tensors) still give float32.
    """
    global _default_dtype
    d = _dtype_arg(d)
    if d not in (_core.float32, _core.float64):
        raise TypeError("only floating-point types are supported as the default type")
    _default_dtype = d


def _dtype_or_default(dtype, default=None):
    if dtype is None:
        return _default_dtype if default is None else default
    return _dtype_arg(dtype)


_dtype_arg = _core.dtype._parse  # the one dtype parser (rust/python/convert.rs)


def _core_has(numpy_name: str) -> bool:
    return isinstance(getattr(_core, numpy_name, None), _core.dtype)


# The numpy dtypes ferrograd holds as they are (native byte order). Looked up by dtype, not by
# `dtype.name`: that is a Python property, and cost more than the rest of `fg.tensor([1.0])`.
_KEPT_DTYPES = frozenset(np.dtype(n) for n in ("bool", "uint8", "int8", "int16", "int32", "int64", "float16", "float32", "float64")
                         if _core_has(n))


def _normalise_array(arr: np.ndarray, from_python: bool) -> np.ndarray:
    """numpy dtype -> one of ferrograd's. Python floats become the default dtype (float32) and
    Python ints int64; an array keeps its dtype where ferrograd has it (float16/32/64, uint8,
    int8/16/32/64, bool: a uint8 image stays uint8, as in PyTorch); other integer kinds (uint16
    ...) become int64, other floats float32."""
    dt = arr.dtype
    if not dt.isnative:  # PyTorch refuses these; the values are plain, so they are taken natively
        arr = arr.astype(dt.newbyteorder("="))
        dt = arr.dtype
    kind = dt.kind
    if kind == "b":
        return arr
    if kind in "iu":
        if from_python or dt not in _KEPT_DTYPES:
            return arr.astype(np.int64, copy=False)
        return arr
    if kind == "f":
        if from_python and dt == np.float64:
            return arr.astype(_default_dtype.numpy_name)
        return arr if dt in _KEPT_DTYPES else arr.astype(np.float32)
    raise TypeError(f"tensor(): cannot build a tensor from numpy dtype {arr.dtype} (data of kind {kind!r})")


def _from_data(data, dtype=None) -> Tensor:
    if isinstance(data, Tensor):
        out = data.detach().clone()
    else:
        from_python = not isinstance(data, np.ndarray) and not isinstance(data, np.generic)
        typed = None
        if isinstance(data, (list, tuple)) and _has_typed(data):
            # Tensors and numpy scalars inside lists keep their dtype, with PyTorch's promotion
            # (`tensor([np.mean(a), ...])` is float64 there; numpy's array of the values has lost
            # which elements were Python numbers).
            typed = _typed_dtype(data)
            if _has_tensor(data):
                data = _tensors_to_lists(data)
        try:
            arr = np.asarray(data)
        except ValueError as e:
            raise ValueError(f"tensor(): could not build a tensor from {type(data).__name__}: {e}") from None
        if arr.dtype == object:
            raise TypeError(f"tensor(): could not infer dtype of {type(data).__name__} (ragged or non-numeric data)")
        if typed is not None and from_python and arr.dtype.kind in "fiu":
            arr, from_python = arr.astype(typed, copy=False), False
        if dtype is not None:
            # Straight to the requested dtype: a detour through float32 would round 0.1.
            _normalise_array(arr, from_python)  # validates the kind
            target = _dtype_arg(dtype)
            if from_python:
                _check_fits(arr, target)
            if target == _core.bfloat16:  # numpy has no bfloat16: through float64, rounded once
                return _core.from_numpy(arr.astype(np.float64)).to(target)
            return _core.from_numpy(arr.astype(target.numpy_name))
        out = _core.from_numpy(_normalise_array(arr, from_python))
    if dtype is not None:
        out = out.to(_dtype_arg(dtype))
    return out


def _has_typed(xs) -> bool:
    """Whether nested lists/tuples hold anything but Python numbers (a tensor, a numpy scalar):
    the usual all-numbers list is passed over by type alone."""
    for x in xs:
        t = type(x)
        if t is float or t is int or t is bool:
            continue
        if not isinstance(x, (list, tuple)) or _has_typed(x):
            return True
    return False


def _typed_dtype(xs) -> np.dtype | None:
    """The dtype PyTorch infers for nested lists holding tensors or numpy scalars: the promotion
    of their dtypes with the default dtype for Python floats and int64 for Python ints (None when
    nothing in them has a dtype numpy knows)."""
    found: set = set()
    python: set = set()

    def walk(items) -> None:
        for x in items:
            t = type(x)
            if t is float or t is int or t is bool:
                python.add(t)
            elif isinstance(x, (np.generic, np.ndarray)):
                found.add(x.dtype)
            elif isinstance(x, (list, tuple)):
                walk(x)
            elif isinstance(x, Tensor) and x.dtype != _core.bfloat16:  # numpy has no bfloat16
                found.add(np.dtype(x.dtype.numpy_name))

    walk(xs)
    if not found:
        return None
    dtypes = list(found)
    if float in python:
        dtypes.append(np.dtype(_default_dtype.numpy_name))
    if int in python:
        dtypes.append(np.dtype(np.int64))
    # PyTorch's promotion: the highest category (float, then integer, then bool) decides, and
    # only dtypes of that category are promoted with each other (float32 with int64 is float32).
    for kinds in ("f", "iu", "b"):
        top = [d for d in dtypes if d.kind in kinds]
        if top:
            out = top[0]
            for d in top[1:]:
                out = np.promote_types(out, d)
            return out
    return None


def _check_fits(arr: np.ndarray, dtype) -> None:
    """Python numbers must fit an integer dtype (PyTorch refuses `tensor([300], dtype=uint8)`)."""
    if dtype.is_floating_point or dtype == _core.bool or arr.size == 0 or arr.dtype.kind not in "iuf":
        return
    info = np.iinfo(dtype.numpy_name)
    # NaN and inf fail every comparison below, and fit no integer dtype either.
    if (arr.dtype.kind == "f" and not np.isfinite(arr).all()) or arr.min() < info.min or arr.max() > info.max:
        raise RuntimeError(f"value cannot be converted to type {dtype.numpy_name} without overflow")


def _has_tensor(xs) -> bool:
    """Whether nested lists/tuples hold a tensor (Python numbers are passed over by type first)."""
    for x in xs:
        t = type(x)
        if t is float or t is int or t is bool:
            continue
        if isinstance(x, (list, tuple)):
            if _has_tensor(x):
                return True
        elif isinstance(x, Tensor):
            return True
    return False


def _tensors_to_lists(xs):
    if isinstance(xs, Tensor):
        return xs.detach().tolist()
    if isinstance(xs, (list, tuple)):
        return [_tensors_to_lists(x) for x in xs]
    return xs


def tensor(data, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A new tensor holding a copy of `data` (a number, nested lists, a numpy array or a tensor).

    dtypes follow PyTorch: Python floats give the default dtype (float32), ints int64, bools bool; a
    numpy array keeps its dtype (uint8 images stay uint8) where ferrograd has it; other integer
    kinds become int64.
    """
    check_device(device)
    t = type(data)
    if dtype is None and (t is float or t is int or t is bool):
        # A Python number: straight to a 0-d tensor, without numpy (half of `fg.tensor(3.0)`'s time).
        out = _core.full([], data, _default_dtype if t is float else _core.int64 if t is int else _core.bool)
    else:
        out = _from_data(data, dtype)
    if requires_grad:
        out.requires_grad_(True)
    return out


def _rebuild(arr, requires_grad: bool) -> Tensor:
    """Unpickling target of Tensor.__reduce__."""
    return tensor(arr, requires_grad=requires_grad)


def as_tensor(data, dtype=None, device=None) -> Tensor:
    """`data` as a tensor without a copy where one is not needed: a tensor of the dtype asked for
    is returned as it is, and a numpy array of it shares its memory (`from_numpy`'s rules), so a
    later write to the array shows in the tensor, as in PyTorch. An array with negative strides
    (`a[::-1]`) is copied, where PyTorch raises ValueError: nothing could share it."""
    check_device(device)
    if isinstance(data, Tensor) and (dtype is None or data.dtype == _dtype_arg(dtype)):
        return data
    if isinstance(data, np.ndarray) and (dtype is None or _dtype_arg(dtype).numpy_name == data.dtype.name):
        if all(s >= 0 for s in data.strides):
            return from_numpy(data)
    return _from_data(data, dtype)


def from_numpy(arr: np.ndarray) -> Tensor:
    """A tensor sharing `arr`'s memory, as `torch.from_numpy`: a write through either shows in
    the other, and the tensor keeps the array alive. Strided arrays are shared with their
    strides; negative strides and non-native byte order are refused (ValueError) as in PyTorch.

    Where ferrograd differs: a non-writeable array is copied, with a UserWarning (PyTorch shares
    it and warns that writing is undefined behaviour); dtypes ferrograd lacks are converted, so
    copied (uint16/32/64 to int64, float128 to float32); an array whose data is not aligned for
    its dtype is copied.
    """
    shared = _core._share_numpy(arr)  # PyTorch's refusals, and the memory when it can be shared
    if shared is not None:
        return shared
    normalised = _normalise_array(arr, from_python=False)
    if normalised is not arr:  # a dtype ferrograd lacks: converted, so a copy anyway
        return _core.from_numpy(normalised)
    if not arr.flags.writeable:
        warnings.warn(
            "The given NumPy array is not writable, and ferrograd does not support non-writable tensors: its data "
            "was copied, so writes to the tensor will not show in the array (PyTorch shares it and calls writing "
            "undefined behavior). Copy the array or make it writable to share its memory.",
            UserWarning,
            stacklevel=2,
        )
    return _core.from_numpy(arr)  # read-only or misaligned: a copy


def from_dlpack(ext) -> Tensor:
    """A tensor over the memory of `ext`, an object with ``__dlpack__`` (a numpy array, a
    PyTorch or JAX tensor, ...) or a DLPack capsule, as `torch.from_dlpack`: no copy, except for
    memory its producer marks read-only (copied: ferrograd's tensors are writable). CPU only."""
    if isinstance(ext, Tensor):
        return _core._from_dlpack(ext.__dlpack__(max_version=(1, 0)))
    if hasattr(ext, "__dlpack__"):
        device = ext.__dlpack_device__() if hasattr(ext, "__dlpack_device__") else (1, 0)
        if int(device[0]) != 1:
            raise BufferError(f"from_dlpack: ferrograd runs on the CPU only; the tensor is on DLPack device {tuple(device)}")
        try:
            capsule = ext.__dlpack__(max_version=(1, 0))
        except TypeError:  # a producer from before DLPack 1.0 (no max_version): the legacy capsule
            capsule = ext.__dlpack__()
        return _core._from_dlpack(capsule)
    return _core._from_dlpack(ext)


def _shape(size) -> list[int]:
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = size[0]
    if len(size) == 1 and isinstance(size[0], Tensor):
        size = size[0].tolist()
    shape = []
    for s in size:
        # `type(s) is int` first: the ABC check alone made fg.zeros(2, 3) cost twice PyTorch's.
        if type(s) is not int:
            if not _is_int(s):
                raise TypeError(f"size must be a tuple of ints, but got element of type {type(s).__name__}")
            s = int(s)
        if s < 0:
            raise RuntimeError(f"Trying to create tensor with negative dimension {s}: {list(size)}")
        shape.append(s)
    return shape


def _is_integral(v) -> bool:
    """A number PyTorch infers an integer dtype from: an int (bool included) or an integer tensor."""
    if isinstance(v, Tensor):
        return not v.is_floating_point()
    return isinstance(v, numbers.Integral)


def _is_int(v) -> bool:
    """An integer that is not a bool (Python ints, numpy ints ...): what sizes and int dtypes take."""
    return type(v) is int or (isinstance(v, numbers.Integral) and not isinstance(v, bool))


def _finish(t: Tensor, requires_grad: bool, device) -> Tensor:
    check_device(device)
    if requires_grad:
        t.requires_grad_(True)
    return t


def full(size, fill_value, *, dtype=None, device=None, requires_grad=False) -> Tensor:
    if dtype is None:
        dtype = _core.bool if isinstance(fill_value, bool) else _core.int64 if _is_integral(fill_value) else _default_dtype
    # The value goes as it is: an int is stored exactly (float() would round 2**60 + 1).
    return _finish(_core.full(_shape((size,)), fill_value, _dtype_arg(dtype)), requires_grad, device)


def zeros(*size, dtype=None, device=None, requires_grad=False) -> Tensor:
    return _finish(_core.full(_shape(size), 0.0, _dtype_or_default(dtype)), requires_grad, device)


def ones(*size, dtype=None, device=None, requires_grad=False) -> Tensor:
    return _finish(_core.full(_shape(size), 1.0, _dtype_or_default(dtype)), requires_grad, device)


def empty(*size, dtype=None, device=None, requires_grad=False, memory_format=_mf.contiguous_format) -> Tensor:
    """Like PyTorch's empty, but zero-filled: uninitialised memory is never handed out."""
    out = _core.full(_shape(size), 0, _dtype_or_default(dtype))
    if memory_format is not _mf.contiguous_format:
        _mf._check(memory_format, "empty")
        if memory_format is _mf.preserve_format:
            raise RuntimeError("unsupported memory format Preserve")
        out = _mf.restrided(out, _mf.format_strides(out.shape, memory_format))
    return _finish(out, requires_grad, device)


def _laid_out_like(input: Tensor, out: Tensor, memory_format, fn: str) -> Tensor:
    """`out` (random values, made contiguous in input's shape) laid out as `memory_format` asks
    of a tensor made like `input` (preserve_format, the default: input's own strides when it is
    dense; `None` means it too)."""
    if memory_format is None:
        memory_format = _mf.preserve_format
    if memory_format is _mf.preserve_format and out.stride() == input.stride():
        return out
    strides = _mf.like_strides(input, memory_format, fn)
    return out if out.stride() == strides else _mf.restrided(out, strides)


def _like(input: Tensor, value, dtype, device, requires_grad, memory_format, fn: str) -> Tensor:
    dtype = None if dtype is None else _dtype_arg(dtype)
    if memory_format is None or memory_format is _mf.preserve_format:
        out = _core._full_like(input, value, dtype, True)  # PyTorch's preserving layout, in the core
    else:  # a constant in the layout asked for: one fill, whatever the strides
        strides = _mf.like_strides(input, memory_format, fn)
        out = _mf.filled(input.shape, strides, value, input.dtype if dtype is None else dtype)
    out = _finish(out, requires_grad, device)
    # Its shape follows the input's: a trace records that (ONNX's ConstantOfShape of Shape).
    return traced("full_like", [input], out, value=float(value))


def zeros_like(input: Tensor, *, dtype=None, device=None, requires_grad=False, memory_format=_mf.preserve_format) -> Tensor:
    return _like(input, 0, dtype, device, requires_grad, memory_format, "zeros_like")


def ones_like(input: Tensor, *, dtype=None, device=None, requires_grad=False, memory_format=_mf.preserve_format) -> Tensor:
    return _like(input, 1, dtype, device, requires_grad, memory_format, "ones_like")


def empty_like(input: Tensor, *, dtype=None, device=None, requires_grad=False, memory_format=_mf.preserve_format) -> Tensor:
    return _like(input, 0, dtype, device, requires_grad, memory_format, "empty_like")


def full_like(input: Tensor, fill_value, *, dtype=None, device=None, requires_grad=False,
              memory_format=_mf.preserve_format) -> Tensor:
    return _like(input, fill_value, dtype, device, requires_grad, memory_format, "full_like")


def rand_like(input: Tensor, *, dtype=None, device=None, requires_grad=False, memory_format=_mf.preserve_format) -> Tensor:
    out = _laid_out_like(input, rand(input.shape, dtype=dtype or input.dtype), memory_format, "rand_like")
    return _finish(out, requires_grad, device)


def randn_like(input: Tensor, *, dtype=None, device=None, requires_grad=False, memory_format=_mf.preserve_format) -> Tensor:
    out = _laid_out_like(input, randn(input.shape, dtype=dtype or input.dtype), memory_format, "randn_like")
    return _finish(out, requires_grad, device)


def arange(start, end=None, step=1, *, dtype=None, device=None, requires_grad=False) -> Tensor:
    if end is None:
        start, end = 0, start
    if dtype is None:
        dtype = _core.int64 if all(_is_integral(v) for v in (start, end, step)) else _default_dtype
    # As they are: integer bounds count in integers (in doubles 2**60 + 1 would round to 2**60).
    return _finish(_core.arange(start, end, step, _dtype_arg(dtype)), requires_grad, device)


def linspace(start, end, steps, *, dtype=None, device=None, requires_grad=False) -> Tensor:
    if steps < 0:
        raise RuntimeError(f"linspace: number of steps must be non-negative (got {steps})")
    return _finish(_core.linspace(float(start), float(end), int(steps), _dtype_or_default(dtype)), requires_grad, device)


def eye(n, m=None, *, dtype=None, device=None, requires_grad=False) -> Tensor:
    if n < 0 or (m is not None and m < 0):
        raise RuntimeError(f"eye: n and m must be non-negative (got n={n}, m={m})")
    return _finish(_core.eye(int(n), None if m is None else int(m), _dtype_or_default(dtype)), requires_grad, device)


def rand(*size, dtype=None, device=None, requires_grad=False, generator=None) -> Tensor:
    with _drawing_from(generator):
        t = _core.rand(_shape(size), _dtype_or_default(dtype))
    return _finish(t, requires_grad, device)


def randn(*size, dtype=None, device=None, requires_grad=False, generator=None) -> Tensor:
    with _drawing_from(generator):
        t = _core.randn(_shape(size), _dtype_or_default(dtype))
    return _finish(t, requires_grad, device)


def randint(low, high=None, size=None, *, dtype=None, device=None, requires_grad=False, generator=None) -> Tensor:
    """randint(high, size) or randint(low, high, size): integers uniform in [low, high)."""
    if size is None:
        if high is None or not isinstance(high, (tuple, list)):
            raise TypeError("randint() missing required argument 'size'")
        low, high, size = 0, low, high
    elif high is None:
        low, high = 0, low
    d = _dtype_or_default(dtype, _core.int64)
    _check_randint_bounds(int(low), int(high), d)
    with _drawing_from(generator):
        t = _core.randint(int(low), int(high), _shape((size,)), d)
    return _finish(t, requires_grad, device)


_C_NAMES = {"uint8": "unsigned char", "int8": "signed char", "int16": "short", "int32": "int", "int64": "long", "bool": "bool"}


def _check_randint_bounds(low: int, high: int, d) -> None:
    """PyTorch's refusal of a range the dtype cannot hold: values would wrap around (uint8 up to
    300 would fold 256..299 onto 0..43) and not be uniform."""
    if d.is_floating_point:
        return
    from ._type_info import iinfo

    lo, hi = (0, 1) if d == _core.bool else (iinfo(d).min, iinfo(d).max)
    if not lo <= low <= hi:
        raise RuntimeError(f"from is out of bounds for {_C_NAMES[d.numpy_name]}")
    if not lo <= high - 1 <= hi:
        raise RuntimeError(f"to - 1 is out of bounds for {_C_NAMES[d.numpy_name]}")


def randperm(n, *, dtype=None, device=None, requires_grad=False, generator=None) -> Tensor:
    n = int(n)
    if n < 0:
        raise RuntimeError(f"Trying to create tensor with negative dimension {n}: [{n}]")
    with _drawing_from(generator):
        t = _core.randperm(n)
    if dtype is not None:
        t = t.to(_dtype_arg(dtype))
    return _finish(t, requires_grad, device)


# ---- generators ---------------------------------------------------------------------------------

_DEFAULT_SEED = 67280421310721  # PyTorch's, and the Rust generator's before manual_seed
_U64 = 1 << 64


def _state_bytes(seed: int, counter: int = 0) -> bytes:
    return seed.to_bytes(8, "little") + counter.to_bytes(8, "little")


class Generator:
    """``torch.Generator``: a random stream of its own, for ``generator=`` arguments
    (``rand``, ``randn``, ``randint``, ``randperm``, ``random_split``, samplers, ``DataLoader``).

    ferrograd's Rust core has one global generator whose whole state is 16 bytes (seed and op
    counter). A Generator keeps its own 16 bytes and swaps them in for the duration of each draw,
    so drawing from it never moves the global stream and ``Generator().manual_seed(s)`` gives
    the same numbers as ``fg.manual_seed(s)`` followed by the same calls. The swap is not atomic
    with respect to random ops running at the same moment in another Python thread.
    """

    def __init__(self, device="cpu") -> None:
        check_device(device)
        self.device = _device_of(device)
        self._state = _state_bytes(_DEFAULT_SEED)

    def manual_seed(self, seed) -> Generator:
        """Seeds the stream and returns the generator (so ``Generator().manual_seed(0)`` works).
        Negative seeds wrap modulo 2**64 as in PyTorch."""
        seed = int(seed)
        if not -(1 << 63) <= seed < _U64:
            raise RuntimeError(f"Overflow when unpacking long long: seed {seed} is outside [-2**63, 2**64)")
        self._state = _state_bytes(seed % _U64)
        return self

    def initial_seed(self) -> int:
        return int.from_bytes(self._state[:8], "little")

    def seed(self) -> int:
        """Seeds the stream from the operating system's entropy and returns that seed."""
        s = int.from_bytes(os.urandom(8), "little")
        self.manual_seed(s)
        return s

    def get_state(self) -> bytes:
        """The 16-byte state, the same form ``fg.get_rng_state()`` returns."""
        return self._state

    def set_state(self, new_state) -> Generator:
        new_state = bytes(new_state.numpy().tobytes() if isinstance(new_state, Tensor) else new_state)
        if len(new_state) != 16:
            raise ValueError(f"Generator.set_state: expected the 16-byte state returned by get_state, got {len(new_state)} bytes")
        self._state = new_state
        return self

    def __repr__(self) -> str:
        return f"<ferrograd.Generator object at {id(self):#x}>"


class _DefaultGenerator(Generator):
    """``fg.default_generator``: the global stream itself, so seeding or saving it is seeding or
    saving ``fg.manual_seed``'s generator (``torch.default_generator`` likewise)."""

    def __init__(self) -> None:
        self.device = _device_of("cpu")

    @property
    def _state(self) -> bytes:
        return _core.get_rng_state()

    @_state.setter
    def _state(self, state: bytes) -> None:
        _core.set_rng_state(state)

    def __repr__(self) -> str:
        return "<ferrograd.default_generator>"


def _device_of(d):
    from ._device import device

    return device(d)


@contextlib.contextmanager
def _drawing_from(generator):
    """Runs the random ops of the body on ``generator``'s stream (the global one if None)."""
    if generator is None or generator is default_generator:
        yield
        return
    if not isinstance(generator, Generator):
        raise TypeError(f"generator must be a ferrograd.Generator, got {type(generator).__name__}")
    saved = _core.get_rng_state()
    _core.set_rng_state(generator._state)
    try:
        yield
    finally:
        generator._state = _core.get_rng_state()
        _core.set_rng_state(saved)


default_generator = _DefaultGenerator()


def initial_seed() -> int:
    """The seed of the global generator (set by ``fg.manual_seed``)."""
    return int.from_bytes(_core.get_rng_state()[:8], "little")


def seed() -> int:
    """Seeds the global generator from the operating system's entropy and returns the seed, as
    PyTorch's ``torch.seed()``."""
    s = int.from_bytes(os.urandom(8), "little") >> 1  # 63 bits: a seed PyTorch would accept too
    _core.manual_seed(s)
    return s
