"""InstanceNorm1d/2d/3d: per-sample, per-channel normalisation over the spatial dims.

With track_running_stats=False (the default) both modes normalise with each instance's own
statistics: the layer does not depend on train/eval, so `_mode_meaning()` is None and modes()
does not list it. With track_running_stats=True it is mode-dependent like BatchNorm: training
mode normalises with the instance statistics and blends their batch mean into the running ones
(unbiased variance, in place, off the graph); eval mode normalises with the running statistics.
Unlike BatchNorm, and as in PyTorch, num_batches_tracked is never incremented and momentum=None
means no update (PyTorch passes momentum 0.0).
"""

from __future__ import annotations

import warnings

from ...autograd.grad_mode import is_grad_enabled, no_grad
from .. import _functional_norm as FN
from .. import init
from ..module import Module, module_path
from ..utils.mode_warnings import StatsUpdateWithoutGradWarning, warn_once
from .batchnorm import _register_affine_and_stats

__all__ = ["InstanceNorm1d", "InstanceNorm2d", "InstanceNorm3d"]


class _InstanceNorm(Module):
    _no_batch_dim = 0  # the rank of an unbatched input

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = False,
                 track_running_stats: bool = False, device=None, dtype=None, *, bias: bool = True) -> None:
        super().__init__()
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        _register_affine_and_stats(self, num_features, affine, bias, track_running_stats, dtype, device)

    def reset_running_stats(self) -> None:
        if self.track_running_stats:
            with no_grad():
                self.running_mean.zero_()
                self.running_var.fill_(1.0)
                self.num_batches_tracked.zero_()

    def reset_parameters(self) -> None:
        self.reset_running_stats()
        if self.affine:
            init.ones_(self.weight)
            if self.bias is not None:
                init.zeros_(self.bias)

    def _check_input_dim(self, input) -> None:
        want = (self._no_batch_dim, self._no_batch_dim + 1)
        if input.ndim not in want:
            raise ValueError(f"expected {want[0]}D or {want[1]}D input (got {input.ndim}D input)")

    def _use_input_stats(self) -> bool:
        return self.training or not self.track_running_stats

    def forward(self, input):
        self._check_input_dim(input)
        feature_dim = input.ndim - self._no_batch_dim
        if input.shape[feature_dim] != self.num_features:
            if self.affine:
                raise ValueError(f"expected input's size at dim={feature_dim} to match num_features "
                                 f"({self.num_features}), but got: {input.shape[feature_dim]}.")
            warnings.warn(f"input's size at dim={feature_dim} does not match num_features. You can silence this "
                          "warning by not passing in num_features, which is not used because affine=False",
                          stacklevel=2)
        use_input_stats = self._use_input_stats()
        if use_input_stats and self.running_mean is not None and not is_grad_enabled():
            warn_once(self, StatsUpdateWithoutGradWarning,
                      f"{self._where()} (track_running_stats=True) is in training mode under no_grad: this forward "
                      "updates its running statistics. Evaluation code usually wants model.eval() "
                      "(or fg.inference(model)).")
        unbatched = input.ndim == self._no_batch_dim
        x = input.unsqueeze(0) if unbatched else input
        momentum = self.momentum if self.momentum is not None else 0.0
        out = FN.instance_norm(x, self.running_mean, self.running_var, self.weight, self.bias, use_input_stats,
                               momentum, self.eps)
        return out.squeeze(0) if unbatched else out

    def _mode_meaning(self) -> str | None:
        if self.running_mean is None:
            return None  # instance statistics in both modes: train/eval changes nothing
        if self._use_input_stats():
            return "normalises with instance statistics, updates running stats"
        return "normalises with running statistics, running stats frozen"

    def freeze_stats(self) -> "_InstanceNorm":
        """Eval behaviour that survives model.train() (see BatchNorm.freeze_stats)."""
        return self.pin_mode("eval")

    def _where(self) -> str:
        path = module_path(self)
        return f"{type(self).__name__} '{path}'" if path else type(self).__name__

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"bias={self.bias is not None}, track_running_stats={self.track_running_stats}")


class InstanceNorm1d(_InstanceNorm):
    """Over (N, C, L) or unbatched (C, L) inputs."""

    _no_batch_dim = 2


class InstanceNorm2d(_InstanceNorm):
    """Over (N, C, H, W) or unbatched (C, H, W) inputs."""

    _no_batch_dim = 3


class InstanceNorm3d(_InstanceNorm):
    """Over (N, C, D, H, W) or unbatched (C, D, H, W) inputs."""

    _no_batch_dim = 4
