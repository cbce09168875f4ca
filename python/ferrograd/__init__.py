"""ferrograd: a small autograd deep-learning framework with a Rust core and PyTorch's API.

    import ferrograd as fg
    x = fg.randn(3, requires_grad=True)
    (x * x).sum().backward()
"""

import math as _math

from . import (
    _core,
    accelerator,
    amp,
    autograd,
    backends,
    cpu,
    cuda,
    distributed,
    distributions,
    linalg,
    nn,
    onnx,
    optim,
    serialization,
    special,
    utils,
    viz,
)
from ._core import Tensor, bfloat16, bool, dtype, float16, float32, float64, int8, int16, int32, int64, uint8  # noqa: A004 (PyTorch exports `bool` too)
from ._creation import (
    Generator,
    arange,
    as_tensor,
    default_generator,
    empty,
    empty_like,
    eye,
    from_dlpack,
    from_numpy,
    full,
    full_like,
    get_default_dtype,
    initial_seed,
    linspace,
    ones,
    ones_like,
    rand,
    rand_like,
    randint,
    randn,
    randn_like,
    randperm,
    seed,
    set_default_dtype,
    tensor,
    zeros,
    zeros_like,
)
from ._creation_windows import *  # noqa: F403 (hann_window ..., logspace, randint_like, empty_strided, scalar_tensor, asarray)
from ._device import device
from ._functions import *  # noqa: F403 (the function forms of tensor ops)
from ._functions import get_rng_state, set_rng_state
from ._legacy import *  # noqa: F403 (FloatTensor, LongTensor, ...: one per dtype the core has; attaches Tensor.type)
from ._memory_format import channels_last, channels_last_3d, contiguous_format, memory_format, preserve_format
from ._size import Size
from ._tensor_methods import *  # noqa: F403 (composite Tensor methods attached to fg.Tensor, and their function forms)
from ._tensor_str import set_printoptions
from ._type_info import can_cast, finfo, iinfo, layout, promote_types, result_type, strided
from .amp import autocast
from .autograd.anomaly_mode import is_anomaly_check_nan_enabled, is_anomaly_enabled, set_anomaly_enabled
from .autograd.grad_mode import enable_grad, inference_mode, is_grad_enabled, is_inference_mode_enabled, no_grad, set_grad_enabled
from .backends._runtime import (
    are_deterministic_algorithms_enabled,
    get_float32_matmul_precision,
    get_num_interop_threads,
    get_num_threads,
    is_deterministic_algorithms_warn_only_enabled,
    set_float32_matmul_precision,
    set_num_interop_threads,
    set_num_threads,
    use_deterministic_algorithms,
)
from .nn._torch_functions_layers import *  # noqa: F403 (torch.conv2d, torch.max_pool2d, ...: nn.functional's)
from .nn._torch_functions_norm import *  # noqa: F403 (torch.layer_norm, torch.instance_norm, ...: ATen signatures)
from .nn.utils.modes import inference
from .serialization import load, save

float = float32  # noqa: A001 (PyTorch's aliases)
double = float64
long = int64
half = float16
short = int16
int = int32  # noqa: A001 (torch.int is int32)

# PyTorch's constants (torch.pi in positional encodings, torch.inf in masks).
pi, e, inf, nan = _math.pi, _math.e, _math.inf, _math.nan
newaxis = None


def compile(model=None, **kwargs):  # noqa: A001 (PyTorch's name)
    """``torch.compile``, accepted: ferrograd has no graph compiler, and a compiled model gives
    the same results as the model, so ``model`` itself is returned (as a decorator,
    ``@compile`` and ``@compile(mode=...)`` return the function). ``kwargs`` (mode, fullgraph,
    dynamic, backend, options, disable) are accepted and change nothing."""
    if model is None:
        return lambda m: m
    return model


def get_default_device():
    """The device factories use: the CPU, ferrograd's only one."""
    return device("cpu")


def set_default_device(dev) -> None:
    """Accepts the CPU (or None); any other device is the error ``fg.device`` gives."""
    if dev is not None:
        device(dev)

__version__ = "0.1.0"
