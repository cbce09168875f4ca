"""fg.nn.utils: mode contexts and reports, BatchNorm freezing and population statistics,
mode warnings, and the model summary."""

from .mode_warnings import (
    MixedModesWarning,
    ModeWarning,
    StatsUpdateWithoutGradWarning,
    UntrackedStatsWarning,
    set_mode_warnings,
)
from .modes import ModeReport, freeze_batchnorm, inference, mode_report
from .summary import ModelSummary, SummaryRow, summary
from .update_bn import update_bn

__all__ = [
    "MixedModesWarning", "ModeWarning", "StatsUpdateWithoutGradWarning", "UntrackedStatsWarning", "set_mode_warnings",
    "ModeReport", "freeze_batchnorm", "inference", "mode_report", "update_bn",
    "ModelSummary", "SummaryRow", "summary",
]
