"""ferrograd: a small autograd deep-learning framework with a Rust core and PyTorch's API.

    import ferrograd as fg
    x = fg.randn(3, requires_grad=True)
    (x * x).sum().backward()
"""

from . import _core, accelerator, amp, autograd, backends, cpu, cuda, distributed, linalg, nn, onnx, optim, serialization, utils, viz
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
    set_default_dtype,
    tensor,
    zeros,
    zeros_like,
)
from ._device import device
from ._functions import *  # noqa: F403 (the function forms of tensor ops)
from ._functions import get_rng_state, set_rng_state
from ._legacy import *  # noqa: F403 (FloatTensor, LongTensor, ...: one per dtype the core has; attaches Tensor.type)
from ._size import Size
from ._tensor_methods import *  # noqa: F403 (composite Tensor methods attached to fg.Tensor, and their function forms)
from ._type_info import can_cast, finfo, iinfo, layout, promote_types, result_type, strided
from .amp import autocast
from .autograd.grad_mode import enable_grad, inference_mode, is_grad_enabled, is_inference_mode_enabled, no_grad, set_grad_enabled
from .backends._runtime import (
    are_deterministic_algorithms_enabled,
    get_num_threads,
    is_deterministic_algorithms_warn_only_enabled,
    set_num_threads,
    use_deterministic_algorithms,
)
from .nn._torch_functions_norm import *  # noqa: F403 (torch.layer_norm, torch.instance_norm, ...: ATen signatures)
from .nn.utils.modes import inference
from .serialization import load, save

float = float32  # noqa: A001 (PyTorch's aliases)
double = float64
long = int64
half = float16
short = int16
int = int32  # noqa: A001 (torch.int is int32)

__version__ = "0.1.0"
