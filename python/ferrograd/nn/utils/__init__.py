"""fg.nn.utils: gradient clipping, parameter flattening, parametrizations (weight and spectral
norm, also in their hook-based forms) with PyTorch's names; mode contexts
and reports, BatchNorm freezing and population statistics, mode warnings, and the model
summary."""

from . import parametrizations, parametrize, rnn
from .clip_grad import clip_grad_norm, clip_grad_norm_, clip_grad_value_, clip_grads_with_norm_, get_total_norm
from .convert_parameters import parameters_to_vector, vector_to_parameters
from .mode_warnings import (
    AttentionDropoutInEvalWarning,
    MixedModesWarning,
    ModeWarning,
    StatsUpdateWithoutGradWarning,
    UntrackedStatsWarning,
    set_mode_warnings,
)
from .modes import ModeReport, freeze_batchnorm, inference, mode_report
from .spectral_norm import remove_spectral_norm, spectral_norm
from .summary import ModelSummary, SummaryRow, summary
from .update_bn import update_bn
from .weight_norm import remove_weight_norm, weight_norm

__all__ = [
    "clip_grad_norm_", "clip_grad_norm", "clip_grad_value_", "get_total_norm", "clip_grads_with_norm_",
    "parameters_to_vector", "vector_to_parameters", "parametrize", "parametrizations", "weight_norm", "remove_weight_norm",
    "spectral_norm", "remove_spectral_norm", "rnn",
    "AttentionDropoutInEvalWarning", "MixedModesWarning", "ModeWarning", "StatsUpdateWithoutGradWarning", "UntrackedStatsWarning", "set_mode_warnings",
    "ModeReport", "freeze_batchnorm", "inference", "mode_report", "update_bn",
    "ModelSummary", "SummaryRow", "summary",
]
