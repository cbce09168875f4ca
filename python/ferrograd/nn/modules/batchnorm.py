"""BatchNorm1d/2d/3d.

Two separate knobs decide what forward does, each following the mode unless set:
`use_batch_stats` (normalise with the batch's statistics, else the running ones) and
`update_running_stats` (blend the batch's statistics into the running ones). By default both
are True in training mode and False in eval mode, exactly as PyTorch.

Training mode: normalise with the batch's statistics (biased variance) and blend them into the
running ones (unbiased variance), counting the batch in num_batches_tracked, also under no_grad.
Eval mode: normalise with the running statistics and update nothing. With
track_running_stats=False there are no running statistics and both modes use the batch's.
The update runs in Rust, in place, off the autograd graph.
"""

from __future__ import annotations

from ... import _core
from ..._creation import _dtype_or_default, ones, tensor, zeros
from ...autograd.grad_mode import is_grad_enabled, no_grad
from .. import init
from ..module import Module, module_path
from ..parameter import Parameter
from ..utils.mode_warnings import StatsUpdateWithoutGradWarning, UntrackedStatsWarning, warn_once

__all__ = ["BatchNorm1d", "BatchNorm2d", "BatchNorm3d"]


class _BatchNorm(Module):
    _expected: tuple[int, ...] = ()

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
                 track_running_stats: bool = True, device=None, dtype=None, *, bias: bool = True) -> None:
        super().__init__()
        if not (isinstance(eps, (int, float)) and eps > 0):
            raise ValueError(f"{type(self).__name__}: eps must be a positive number, got {eps!r}")
        if momentum is not None and not (0.0 <= momentum <= 1.0):
            raise ValueError(f"{type(self).__name__}: momentum must be in [0, 1] or None (cumulative average), got {momentum!r}")
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        # None: follow the mode (see the module docstring).
        self.use_batch_stats: bool | None = None
        self.update_running_stats: bool | None = None
        _register_affine_and_stats(self, num_features, affine, bias, track_running_stats, dtype, device)

    def reset_running_stats(self) -> None:
        self.__dict__.pop("_stats_seen", None)
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
        if input.ndim not in self._expected:
            want = " or ".join(f"{d}D" for d in self._expected)
            raise ValueError(f"expected {want} input (got {input.ndim}D input)")

    def forward(self, input):
        self._check_input_dim(input)
        if input.shape[1] != self.num_features:
            raise RuntimeError(
                f"{type(self).__name__}({self.num_features}) got an input with {input.shape[1]} channels "
                f"(shape {tuple(input.shape)}): running_mean should contain {input.shape[1]} elements not {self.num_features}"
            )
        use_batch_stats, update = self._effective_knobs()
        # Checked before the warnings; no state changes until _normalize has succeeded.
        self._check_batch_size(input, use_batch_stats)
        if update and not is_grad_enabled():
            warn_once(self, StatsUpdateWithoutGradWarning,
                      f"{self._where()} is in training mode under no_grad: this forward updates its running statistics. "
                      "Evaluation code usually wants model.eval() (or fg.inference(model)).")
        elif not use_batch_stats and self.num_batches_tracked is not None and not self.__dict__.get("_stats_seen") \
                and not self._stats_updated():
            warn_once(self, UntrackedStatsWarning,
                      f"{self._where()} is in eval mode but its running statistics were never updated "
                      "(num_batches_tracked=0): it normalises with mean 0 and variance 1. Train it first, load a "
                      "state_dict, or compute them with fg.nn.utils.update_bn(loader, model).")
        momentum = 0.0 if self.momentum is None else self.momentum
        if update and self.momentum is None:  # cumulative moving average, this batch included
            momentum = 1.0 / (float(self.num_batches_tracked.item()) + 1.0)
        output = self._normalize(input, use_batch_stats, update, momentum)
        if update:  # counted only once the normalisation succeeded (a subclass's may fail late)
            with no_grad():
                self.num_batches_tracked.add_(1)
        return output

    def _check_batch_size(self, input, use_batch_stats: bool) -> None:
        if use_batch_stats and input.numel() // max(input.shape[1], 1) <= 1:
            raise ValueError(self._one_value_message(input))

    def _normalize(self, input, use_batch_stats: bool, update: bool, momentum: float):
        """The normalisation itself (SyncBatchNorm replaces it): with the batch's statistics or the
        running ones, blending the batch's into the running ones with `momentum` when `update`."""
        return _core._batch_norm(
            input, self.weight, self.bias, self.running_mean, self.running_var,
            use_batch_stats, update, momentum, float(self.eps),
        )

    def _stats_updated(self) -> bool:
        """Whether num_batches_tracked > 0; once seen, cached so eval forwards skip the read
        (reset_running_stats clears the cache)."""
        seen = self.num_batches_tracked.item() > 0
        if seen:
            object.__setattr__(self, "_stats_seen", True)
        return seen

    def _effective_knobs(self) -> tuple[bool, bool]:
        """(use_batch_stats, update_running_stats) after applying the mode to unset knobs."""
        tracked = self.running_mean is not None
        use = self.use_batch_stats if self.use_batch_stats is not None else (self.training or not tracked)
        update = self.update_running_stats if self.update_running_stats is not None else self.training
        if not use and not tracked:
            raise RuntimeError(f"{type(self).__name__}: use_batch_stats=False needs running statistics, "
                               "but track_running_stats=False")
        return use, update and tracked

    def _mode_meaning(self) -> str:
        tracked = self.running_mean is not None
        use_batch, update = self._effective_knobs()
        stats = "batch statistics" if use_batch else "running statistics"
        if tracked:
            n = int(self.num_batches_tracked.item())
            upd = "updates running stats" if update else "running stats frozen"
            note = f"num_batches_tracked={n}" + (": never updated" if n == 0 and not use_batch else "")
            return f"normalises with {stats}, {upd}, {note}"
        return f"normalises with {stats} (track_running_stats=False: no running stats)"

    def freeze_stats(self) -> "_BatchNorm":
        """Eval behaviour that survives model.train(): pins eval mode, so it normalises with the
        running statistics and never updates them (undo with unpin_mode())."""
        return self.pin_mode("eval")

    def _where(self) -> str:
        path = module_path(self)
        return f"{type(self).__name__} '{path}'" if path else type(self).__name__

    def _one_value_message(self, input, got: str | None = None) -> str:
        """The error for a batch with at most one value per channel; `got` says what was counted
        (by default the input's size)."""
        path = module_path(self)
        where = f" (module '{path}', {type(self).__name__})" if path else f" ({type(self).__name__})"
        got = f"input size {_size(input.shape)}" if got is None else got
        return (
            f"Expected more than 1 value per channel when training, got {got}{where}. "
            "Batch statistics need at least 2 values per channel. Fixes: drop the last incomplete batch "
            "(DataLoader(..., drop_last=True)); call model.eval() for inference, which uses the running statistics; "
            "or use GroupNorm/LayerNorm, which do not depend on the batch."
        )

    def extra_repr(self) -> str:
        # PyTorch 2.15's format (it added the keyword-only `bias` switch).
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"bias={self.bias is not None}, track_running_stats={self.track_running_stats}")


def _register_affine_and_stats(m: Module, num_features: int, affine: bool, bias: bool, track_running_stats: bool,
                               dtype, device) -> None:
    """weight/bias parameters (or None) and running_mean/running_var/num_batches_tracked buffers (or
    None), with PyTorch's names: shared by BatchNorm and InstanceNorm (PyTorch's _NormBase)."""
    dt = _dtype_or_default(dtype)
    if affine:
        m.weight = Parameter(ones(num_features, dtype=dt, device=device))
        if bias:
            m.bias = Parameter(zeros(num_features, dtype=dt, device=device))
        else:
            m.register_parameter("bias", None)
    else:
        m.register_parameter("weight", None)
        m.register_parameter("bias", None)
    stats = (zeros(num_features, dtype=dt), ones(num_features, dtype=dt), tensor(0)) if track_running_stats else (None,) * 3
    for name, value in zip(("running_mean", "running_var", "num_batches_tracked"), stats):
        m.register_buffer(name, value)


def _size(shape) -> str:
    return f"ferrograd.Size({list(shape)})"


class BatchNorm1d(_BatchNorm):
    """Over (N, C) or (N, C, L) inputs."""

    _expected = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Over (N, C, H, W) inputs."""

    _expected = (4,)


class BatchNorm3d(_BatchNorm):
    """Over (N, C, D, H, W) inputs."""

    _expected = (5,)
