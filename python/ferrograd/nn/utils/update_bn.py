"""update_bn: exact population statistics for every BatchNorm of a model, in one pass."""

from __future__ import annotations

import numpy as np

from ..._core import Tensor
from ...autograd.grad_mode import no_grad
from ..module import Module
from .mode_warnings import suppress_mode_warnings

__all__ = ["update_bn"]


class _Pooled:
    """Per-channel count, mean and sum of squared deviations, merged batch by batch with Chan's
    parallel formula in float64: exact up to rounding, whatever the batch sizes."""

    def __init__(self, c: int) -> None:
        self.n = 0
        self.mean = np.zeros(c)
        self.m2 = np.zeros(c)

    def add(self, x: np.ndarray) -> None:
        c = x.shape[1]
        v = np.moveaxis(x, 1, -1).reshape(-1, c).astype(np.float64)
        nb = v.shape[0]
        mb = v.mean(0)
        m2b = ((v - mb) ** 2).sum(0)
        n = self.n + nb
        delta = mb - self.mean
        self.mean = self.mean + delta * nb / n
        self.m2 = self.m2 + m2b + delta**2 * self.n * nb / n
        self.n = n


def update_bn(loader, model: Module) -> Module:
    """Recomputes every BatchNorm's running statistics from one pass over `loader` (an iterable
    of input tensors, or of tuples/lists whose first item is the input).

    The result is exact: running_mean is the mean and running_var the unbiased variance of
    everything each BatchNorm saw, pooled over all batches (PyTorch's swa_utils.update_bn
    averages per-batch variances instead, which is biased for small batches). During the pass
    BatchNorms normalise with batch statistics as in training (a batch with one value per
    channel, e.g. a last batch of 1, with the current running statistics instead), Dropout is off
    as at test time, no gradient is recorded, and afterwards every module's mode is restored.
    """
    from ..modules.batchnorm import _BatchNorm
    from ..modules.dropout import _DropoutNd

    bns = [m for m in model.modules() if isinstance(m, _BatchNorm) and m.running_mean is not None]
    if not bns:
        return model
    pooled = {id(m): _Pooled(m.num_features) for m in bns}
    batches = {id(m): 0 for m in bns}
    saved_modes = [(m, m.training) for m in model.modules()]
    saved_knobs = [(m, m.use_batch_stats, m.update_running_stats) for m in bns]

    def collect(m, args):
        x = args[0]
        pooled[id(m)].add(x.detach().numpy())
        batches[id(m)] += 1
        # One value per channel has no batch variance: normalise this batch with the current
        # running statistics instead (its values still count in the pooled statistics).
        m.use_batch_stats = x.numel() // max(x.shape[1], 1) > 1

    def reset(m, args, out):
        m.use_batch_stats = True

    handles = [m.register_forward_pre_hook(collect) for m in bns] + [m.register_forward_hook(reset) for m in bns]
    try:
        for m in model.modules():
            if isinstance(m, _DropoutNd):
                object.__setattr__(m, "training", False)
            elif isinstance(m, _BatchNorm):
                m.use_batch_stats, m.update_running_stats = True, False
        with no_grad(), suppress_mode_warnings():
            for batch in loader:
                x = batch[0] if isinstance(batch, (tuple, list)) else batch
                if not isinstance(x, Tensor):
                    raise TypeError(f"update_bn: expected batches of tensors (or tuples starting with one), got {type(x).__name__}")
                model(x)
    finally:
        for h in handles:
            h.remove()
        for m, flag in saved_modes:
            object.__setattr__(m, "training", flag)
        for m, use, upd in saved_knobs:
            m.use_batch_stats, m.update_running_stats = use, upd
    from ..._creation import tensor

    with no_grad():
        for m in bns:
            p = pooled[id(m)]
            if p.n < 2:
                raise ValueError(f"update_bn: {type(m).__name__} saw {p.n} value(s) per channel; need at least 2")
            m.running_mean.copy_(tensor(p.mean))
            m.running_var.copy_(tensor(p.m2 / (p.n - 1)))
            m.num_batches_tracked.fill_(batches[id(m)])
    return model
