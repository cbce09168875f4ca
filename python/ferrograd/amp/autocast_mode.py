"""``fg.autocast`` / ``fg.amp.autocast``: accepted, and computing in full precision."""

from __future__ import annotations

import functools
import warnings

from .. import _core

# The device types PyTorch's device parser knows; anything else is its RuntimeError.
_DEVICE_TYPES = (
    "cpu", "cuda", "ipu", "xpu", "mkldnn", "opengl", "opencl", "ideep", "hip", "ve", "fpga", "maia", "xla",
    "lazy", "vulkan", "mps", "meta", "hpu", "mtia", "privateuseone",
)
_warned = False


def _warn_once() -> None:
    global _warned
    if not _warned:
        _warned = True
        warnings.warn(
            "ferrograd autocast is a pass-through: ferrograd has no float16/bfloat16 kernels, so ops "
            "inside the region run in their input dtype (float32) and results keep that dtype",
            UserWarning,
            stacklevel=3,
        )


def is_autocast_available(device_type: str) -> bool:
    """Whether ``autocast(device_type)`` can be entered: True for the device types PyTorch knows
    (the region is a pass-through on all of them here)."""
    return device_type in _DEVICE_TYPES


class autocast:  # noqa: N801 (PyTorch's name)
    """``autocast(device_type, dtype=None, enabled=True, cache_enabled=None)``: a context manager
    and decorator, as ``torch.autocast``.

    In PyTorch an autocast region runs selected ops (matmul, conv, linear) in a lower precision,
    float16 on GPUs and bfloat16 on the CPU, for speed and memory. ferrograd runs on the CPU in
    float32 and has no reduced-precision kernels, so entering the region changes nothing: every op
    runs as it would outside, in full float32, and tensors keep their dtypes (code that checks
    ``out.dtype == torch.float16`` inside a region sees float32). Results are at least as accurate
    as PyTorch's autocast results. An enabled region warns once per process that it does nothing,
    so a speed-up expected from it is not silently missing. Arguments are checked as PyTorch does:
    ``device_type`` must be a device type string such as ``"cpu"`` or ``"cuda"``.
    """

    def __init__(self, device_type: str, dtype=None, enabled: bool = True, cache_enabled: bool | None = None) -> None:
        if not isinstance(device_type, str):
            raise ValueError(f"Expected `device_type` of type `str`, got: `{type(device_type)}`")
        if device_type.split(":")[0] not in _DEVICE_TYPES:
            raise RuntimeError(
                f"Expected one of {', '.join(_DEVICE_TYPES)} device type at start of device string: {device_type}"
            )
        if dtype is not None and not isinstance(dtype, _core.dtype):
            raise TypeError(f"autocast(): dtype must be a ferrograd dtype, got {type(dtype).__name__}")
        self.device = device_type
        self.fast_dtype = dtype
        self._enabled = bool(enabled)
        self._cache_enabled = cache_enabled

    def __enter__(self) -> autocast:
        if self._enabled:
            _warn_once()
        return self

    def __exit__(self, exc_type, exc_value, traceback) -> bool:
        return False

    def __call__(self, func):
        @functools.wraps(func)
        def decorate_autocast(*args, **kwargs):
            with self:
                return func(*args, **kwargs)

        return decorate_autocast


def custom_fwd(fwd=None, *, device_type: str, cast_inputs=None):
    """Decorator for a custom autograd Function's ``forward``: returned unchanged, since autocast
    never lowers precision here (``cast_inputs`` would have nothing to undo)."""
    if fwd is None:
        return functools.partial(custom_fwd, device_type=device_type, cast_inputs=cast_inputs)
    return fwd


def custom_bwd(bwd=None, *, device_type: str):
    """Decorator for a custom autograd Function's ``backward``: returned unchanged (see ``custom_fwd``)."""
    if bwd is None:
        return functools.partial(custom_bwd, device_type=device_type)
    return bwd
