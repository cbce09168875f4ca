"""Function forms of tensor methods (`fg.exp(x)`, `fg.matmul(a, b)` ...), as PyTorch has them."""

from __future__ import annotations

from . import _core, _memory_format
from ._core import Tensor
from ._creation import as_tensor

# Unbound Rust methods are already functions of the tensor: no Python frame per call. The
# elementwise ops come from the binding's op tables (rust/python/op_tables.rs); the rest are
# methods with their own bindings.
for _name in _core._TABLE_FUNCTIONS:
    globals()[_name] = getattr(Tensor, _name)
del _name

matmul = Tensor.matmul
flatten = Tensor.flatten
reshape = Tensor.reshape
squeeze = Tensor.squeeze
unsqueeze = Tensor.unsqueeze
transpose = Tensor.transpose
t = Tensor.t
permute = Tensor.permute
narrow = Tensor.narrow
split = Tensor.split
chunk = Tensor.chunk
unbind = Tensor.unbind
clamp = Tensor.clamp
clip = Tensor.clip
sum = Tensor.sum
mean = Tensor.mean
max = Tensor.max
min = Tensor.min
argmax = Tensor.argmax
argmin = Tensor.argmin
var = Tensor.var
std = Tensor.std
logsumexp = Tensor.logsumexp
softmax = Tensor.softmax
log_softmax = Tensor.log_softmax
all = Tensor.all
any = Tensor.any
mul = Tensor.mul
div = Tensor.div
divide = Tensor.divide
add = Tensor.add
sub = Tensor.sub


def clone(input: Tensor, *, memory_format=_memory_format.preserve_format) -> Tensor:
    return input.clone(memory_format=memory_format)


numel = Tensor.numel
detach = Tensor.detach
round = Tensor.round
cumsum = Tensor.cumsum
cumprod = Tensor.cumprod
prod = Tensor.prod
logit = Tensor.logit


def polygamma(n: int, input: Tensor) -> Tensor:
    """``torch.polygamma(n, input)``: the n-th derivative of digamma (n >= 0); the order comes
    first, as in PyTorch (the method is ``input.polygamma(n)``)."""
    return input.polygamma(n)


cat = _core.cat
concat = _core.cat
stack = _core.stack
manual_seed = _core.manual_seed
memory_allocated = _core.memory_allocated
max_memory_allocated = _core.max_memory_allocated
reset_peak_memory_stats = _core.reset_peak_memory_stats


def _binary(method, reflected, name):
    """A function form `f(input, other)` that also takes a Python number as `input`, as PyTorch's
    `torch.pow(2, t)` and `torch.bitwise_and(5, t)` do (the tensor's reflected operator runs)."""

    def f(input, other):
        if isinstance(input, Tensor):
            return method(input, other)
        if isinstance(other, Tensor):
            return reflected(other, input)
        raise TypeError(f"{name}(): expected a Tensor as input or other, got {type(input).__name__} and {type(other).__name__}")

    f.__name__ = f.__qualname__ = name
    return f


bitwise_and = _binary(Tensor.bitwise_and, Tensor.__rand__, "bitwise_and")
bitwise_or = _binary(Tensor.bitwise_or, Tensor.__ror__, "bitwise_or")
bitwise_xor = _binary(Tensor.bitwise_xor, Tensor.__rxor__, "bitwise_xor")
bitwise_left_shift = _binary(Tensor.bitwise_left_shift, Tensor.__rlshift__, "bitwise_left_shift")
bitwise_right_shift = _binary(Tensor.bitwise_right_shift, Tensor.__rrshift__, "bitwise_right_shift")
floor_divide = _binary(Tensor.floor_divide, Tensor.__rfloordiv__, "floor_divide")
remainder = _binary(Tensor.remainder, Tensor.__rmod__, "remainder")


def pow(input, exponent) -> Tensor:
    """`input ** exponent`; either may be a Python number (`fg.pow(2, t)`), as in PyTorch."""
    if isinstance(input, Tensor):
        return input.pow(exponent)
    if isinstance(exponent, Tensor):
        return exponent.__rpow__(input)
    raise TypeError(f"pow(): expected a Tensor as input or exponent, got {type(input).__name__} and {type(exponent).__name__}")


def where(condition: Tensor, input, other) -> Tensor:
    """Elements of `input` where `condition` is true, else of `other`. Numbers become 0-d tensors,
    which (as in PyTorch) do not widen the other operand's dtype within the same category."""
    return _core.where(condition, _operand(input, other), _operand(other, input))


def _operand(value, other) -> Tensor:
    """A number next to a tensor of its category or a higher one is made in that tensor's dtype,
    as PyTorch's wrapped numbers never widen it: `where(c, int32 0-d tensor, 2)` is int32 (a 0-d
    int64 tensor would have made it int64), and float64 results keep every digit of a float."""
    if isinstance(value, Tensor):
        return value
    if isinstance(other, Tensor) and not isinstance(value, bool):
        if other.is_floating_point():
            return _core.full([], float(value), other.dtype)
        if isinstance(value, int) and other.dtype != _core.bool:
            return _core.full([], value, other.dtype)
    return as_tensor(value)


def is_tensor(obj) -> bool:
    return isinstance(obj, Tensor)


def is_floating_point(input: Tensor) -> bool:
    return input.is_floating_point()


def allclose(input: Tensor, other: Tensor, rtol: float = 1e-5, atol: float = 1e-8, equal_nan: bool = False) -> bool:
    """Tensor.allclose's rule (isclose everywhere): bfloat16 too, and PyTorch's error for two
    dtypes (a numpy comparison here took bfloat16 for no dtype and any two dtypes as alike)."""
    return input.allclose(other, rtol, atol, equal_nan)


def equal(input: Tensor, other: Tensor) -> bool:
    return tuple(input.shape) == tuple(other.shape) and bool((input == other).all())


def get_rng_state() -> bytes:
    """The global generator state (16 bytes), for exact checkpoint/resume."""
    return _core.get_rng_state()


def set_rng_state(state: bytes) -> None:
    _core.set_rng_state(bytes(state))
