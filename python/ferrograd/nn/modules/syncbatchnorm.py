"""SyncBatchNorm: BatchNorm whose training statistics are those of the global batch, over every
process of the job (`fg.distributed`), as torch.nn.SyncBatchNorm.

When it communicates. Only when it normalises with batch statistics in training mode and a
process group of more than one process is initialised (PyTorch's rule). Otherwise it is exactly
a BatchNorm over its local input: in eval mode it uses the running statistics and sends nothing,
so one rank may evaluate alone; with `track_running_stats=False` in eval mode, or with the
`use_batch_stats` knob forced on in eval mode, it uses the local batch's statistics. Every rank
must therefore run the same synced forwards (and backwards) in the same order, as with any
collective.

Forward. Each rank sums its input per channel (sum and sum of squares in float64, and its count
of values per channel) into one buffer of 2C+1 values, all-reduced once; the global mean is
S/N and the biased variance SQ/N - mean^2 (float64 keeps this accurate). The running statistics
are blended with the global statistics (the variance unbiased by the global count N), so they
stay identical on every rank; a global batch with a single value per channel is an error on
every rank, while a local batch of one (or none) is fine.

Backward. Each rank sums dy and dy*(x - mean) per channel; the two sums are all-reduced
together (only when the input needs a gradient, as PyTorch) and give the input gradient of the
global normalisation. The weight and bias gradients are this rank's own sums, as PyTorch's:
DistributedDataParallel averages them across ranks, which makes them the gradient of the mean
loss over the global batch.

The first synced forward of each layer also compares num_features across the ranks (one small
all_gather), so layers of different widths raise a RuntimeError on every rank instead of
all-reducing buffers of different lengths.
"""

from __future__ import annotations

from ... import _core
from ... import distributed as dist
from ..._creation import tensor, zeros
from ...autograd.function import Function, once_differentiable
from ...autograd.grad_mode import no_grad
from ..module import _HOOK_TABLES, Module, module_path
from .batchnorm import _BatchNorm, _size

__all__ = ["SyncBatchNorm"]


class SyncBatchNorm(_BatchNorm):
    r"""Batch normalisation over (N, C, \*) inputs whose training statistics are computed over
    the batches of all processes (see the module docstring).

    Args:
        num_features: C of an input of shape (N, C, \*).
        eps: added to the variance for numerical stability. Default: 1e-5.
        momentum: weight of the batch's statistics in the running ones; None for a cumulative
            average. Default: 0.1.
        affine: learnable per-channel weight and bias. Default: True.
        track_running_stats: keep running statistics for eval mode. Default: True.
        process_group: the processes to synchronise over; only None (every process) is
            supported, as ferrograd has no subgroups yet.
        bias: (keyword) False for an affine layer without bias. Default: True.

    Shape:
        - Input: (N, C, \*), at least 2 dims. N may differ between ranks, and be 0 on some.
        - Output: the input's shape and dtype.

    Example::

        >>> model = fg.nn.SyncBatchNorm.convert_sync_batchnorm(model)
        >>> model = fg.nn.parallel.DistributedDataParallel(model)
    """

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
                 track_running_stats: bool = True, process_group=None, device=None, dtype=None, *,
                 bias: bool = True) -> None:
        _check_process_group(process_group)
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device, dtype, bias=bias)
        self.process_group = process_group

    def _check_input_dim(self, input) -> None:
        if input.ndim < 2:
            raise ValueError(f"expected at least 2D input (got {input.ndim}D input)")
        if input.shape[1] == 0:
            raise ValueError("SyncBatchNorm number of input channels should be non-zero")

    def _syncs(self, use_batch_stats: bool) -> bool:
        return use_batch_stats and self.training and dist.is_initialized() and dist.get_world_size() > 1

    def _mode_meaning(self) -> str:
        meaning = super()._mode_meaning()
        if self._syncs(self._effective_knobs()[0]):
            meaning = meaning.replace("batch statistics", f"batch statistics of all {dist.get_world_size()} processes", 1)
        return meaning

    def _check_batch_size(self, input, use_batch_stats: bool) -> None:
        if not self._syncs(use_batch_stats):
            super()._check_batch_size(input, use_batch_stats)
        # Synced, the count that matters is the global one, known after the all-reduce.

    def _normalize(self, input, use_batch_stats: bool, update: bool, momentum: float):
        if not self._syncs(use_batch_stats):
            return super()._normalize(input, use_batch_stats, update, momentum)
        for name in ("running_mean", "running_var", "weight", "bias"):  # the kernel's check, before communicating
            t = getattr(self, name)
            if t is not None and t.dtype != input.dtype:
                raise RuntimeError(f"batch_norm: {name} is {t.dtype} but the input is {input.dtype}; convert the module with .to(dtype)")
        self._check_same_width_on_every_rank()
        mean, var, count = _global_stats(input)
        if count <= 1:
            got = (f"{int(count)} value per channel in the global batch of {dist.get_world_size()} processes "
                   f"(this process's input size {_size(input.shape)})")
            raise ValueError(self._one_value_message(input, got))
        output = _SyncBatchNormFunction.apply(input, self.weight, self.bias, mean, var, float(self.eps), count)
        if update:
            with no_grad():
                _blend(self.running_mean, mean, momentum)
                _blend(self.running_var, var * (count / (count - 1.0)), momentum)
        return output

    def _check_same_width_on_every_rank(self) -> None:
        if self.__dict__.get("_width_checked"):
            return
        world = dist.get_world_size()
        mine = tensor([self.num_features])
        every = [zeros(1, dtype=mine.dtype) for _ in range(world)]
        dist.all_gather(every, mine)
        widths = [int(t.item()) for t in every]
        if len(set(widths)) > 1:
            path = module_path(self)
            where = f"SyncBatchNorm '{path}'" if path else "SyncBatchNorm"
            raise RuntimeError(f"{where}: the processes' layers have different num_features ("
                               + ", ".join(f"rank {r}: {w}" for r, w in enumerate(widths))
                               + "); their statistics cannot be synchronised")
        object.__setattr__(self, "_width_checked", True)

    @classmethod
    def convert_sync_batchnorm(cls, module: Module, process_group=None) -> Module:
        """Replaces every BatchNorm1d/2d/3d of `module` (recursively) by a SyncBatchNorm with the
        same hyperparameters, sharing its weight, bias and running-statistics tensors, and keeping
        its mode, pin, `use_batch_stats`/`update_running_stats` knobs and hooks. Returns `module`
        itself, or the new layer if `module` is a BatchNorm (as PyTorch)."""
        _check_process_group(process_group)
        return _convert(cls, module, process_group, "")


def _convert(cls, module: Module, process_group, path: str) -> Module:
    out = module
    if isinstance(module, _BatchNorm):
        has_placeholders = getattr(module, "has_uninitialized_params", None)
        if has_placeholders is not None and has_placeholders():
            where = f" '{path}'" if path else ""
            raise ValueError(f"convert_sync_batchnorm: {type(module).__name__}{where} is lazy and not materialised yet "
                             "(num_features unknown); run one forward or load a state_dict first")
        out = cls(module.num_features, module.eps, module.momentum, module.affine, module.track_running_stats,
                  process_group, bias=module.bias is not None)
        if module.affine:
            out.weight = module.weight
            if module.bias is not None:
                out.bias = module.bias
        for name in ("running_mean", "running_var", "num_batches_tracked"):
            out._buffers[name] = module._buffers[name]
        for name in ("training", "use_batch_stats", "update_running_stats", "_pinned_mode", "_stats_seen",
                     *_HOOK_TABLES, "_is_full_backward_hook"):
            if name in module.__dict__:
                # Shared, not copied: the hooks' RemovableHandles still remove them.
                object.__setattr__(out, name, module.__dict__[name])
    for name, child in module.named_children():
        out.add_module(name, _convert(cls, child, process_group, f"{path}.{name}" if path else name))
    return out


def _check_process_group(process_group) -> None:
    if process_group is not None:
        raise NotImplementedError(f"SyncBatchNorm: process_group={process_group!r} is not supported: ferrograd has only the "
                                  "default group of every process (no subgroups yet); pass process_group=None")


def _global_stats(input):
    """(mean, biased var) per channel as float64 tensors of shape (C,), and the global count of
    values per channel, over every rank's input: one all-reduce of (sum, sum of squares, count)."""
    c = input.shape[1]
    x = input.detach().to(_core.float64)
    dims = [0, *range(2, input.ndim)]
    count = tensor([float(input.numel() // c)], dtype=_core.float64)
    packed = _core.cat([x.sum(dim=dims), (x * x).sum(dim=dims), count], 0).contiguous()
    dist._all_reduce_unchecked(packed)
    n = float(packed[2 * c].item())
    mean = packed[:c] / max(n, 1.0)
    var = (packed[c:2 * c] / max(n, 1.0) - mean * mean).clamp(min=0.0)
    return mean, var, n


def _blend(running, stat, momentum: float) -> None:
    """running = (1 - momentum) * running + momentum * stat, in place, computed in float64."""
    running.copy_(((1.0 - momentum) * running.to(_core.float64) + momentum * stat).to(running.dtype))


def _per_channel(v, ndim: int):
    """A (C,) tensor as (1, C, 1, ...), to broadcast against an (N, C, ...) one."""
    return v.reshape([1, v.shape[0], *([1] * (ndim - 2))])


class _SyncBatchNormFunction(Function):
    """y = (x - mean) * invstd * weight + bias with the global statistics, and the backward whose
    per-channel sums are all-reduced (see the module docstring)."""

    @staticmethod
    def forward(ctx, input, weight, bias, mean, var, eps, count):
        invstd = (var + eps).rsqrt()
        ctx.save_for_backward(input, weight, mean, invstd)
        ctx.count = count
        ctx.has_bias = bias is not None
        # The fused kernel in its running-statistics mode, with the global statistics as them.
        # It takes them in the input's dtype, so the part of the mean lost by rounding it goes
        # into the bias, in float64 (as the kernel itself does with batch statistics): for data
        # far from zero (mean/std ~ 1e3) that part is most of the error of a float32 output.
        dtype = input.dtype
        center = mean.to(dtype)
        scale = invstd if weight is None else invstd * weight.detach().to(_core.float64)
        shift = -(mean - center.to(_core.float64)) * scale
        if bias is not None:
            shift = shift + bias.detach().to(_core.float64)
        return _core._batch_norm(input, weight, shift.to(dtype), center, var.to(dtype), False, False, 0.0, eps)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_output):
        input, weight, mean, invstd = ctx.saved_tensors
        needs = ctx.needs_input_grad
        c, nd, dtype, f64 = input.shape[1], input.ndim, input.dtype, _core.float64
        dims = [0, *range(2, nd)]
        # Elementwise work in the input's dtype, per-channel sums accumulated in float64. x is
        # centred on the mean rounded to that dtype, and the rounding's share (delta) is put back
        # per channel, in float64.
        center = mean.to(dtype)
        delta = mean - center.to(f64)
        xc = input - _per_channel(center, nd)
        sum_dy = grad_output.sum(dim=dims, dtype=f64)
        sum_dy_xmu = (grad_output * xc).sum(dim=dims, dtype=f64) - delta * sum_dy
        grad_weight = (sum_dy_xmu * invstd).to(weight.dtype) if weight is not None and needs[1] else None
        grad_bias = sum_dy.to(weight.dtype) if ctx.has_bias and needs[2] else None
        grad_input = None
        if needs[0]:
            packed = _core.cat([sum_dy, sum_dy_xmu], 0).contiguous()
            dist._all_reduce_unchecked(packed)
            n = ctx.count
            # dx = a * (dy - sum_dy/N - (x - mean) * invstd^2 * sum_dy_xmu/N) = a*dy + b*(x - mean) + c0
            #    = a*dy + b*xc + (c0 - b*delta), with the global sums.
            a = invstd if weight is None else invstd * weight.to(f64)
            b = -a * invstd * invstd * packed[c:] / n
            c0 = -a * packed[:c] / n - b * delta
            grad_input = grad_output * _per_channel(a.to(dtype), nd) + (xc * _per_channel(b.to(dtype), nd)
                                                                        + _per_channel(c0.to(dtype), nd))
        return grad_input, grad_weight, grad_bias, None, None, None, None
