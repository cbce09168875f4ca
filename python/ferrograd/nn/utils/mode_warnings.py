"""Warnings for train/eval mistakes that are cheap to detect. Each is its own category, on by
default, and can be switched off with `set_mode_warnings(...)` or a standard warnings filter
(`warnings.filterwarnings("ignore", category=...)`). Each fires at most once per module, or for
the functional forms once per call site (the user's file and line)."""

from __future__ import annotations

import os
import sys
import threading
import warnings

__all__ = [
    "ModeWarning", "UntrackedStatsWarning", "StatsUpdateWithoutGradWarning", "MixedModesWarning",
    "AttentionDropoutInEvalWarning", "set_mode_warnings", "mode_warnings_enabled", "suppress_mode_warnings",
]


class ModeWarning(UserWarning):
    """Base class of ferrograd's train/eval warnings."""


class UntrackedStatsWarning(ModeWarning):
    """A BatchNorm in eval mode normalises with running statistics that were never updated."""


class StatsUpdateWithoutGradWarning(ModeWarning):
    """A BatchNorm in training mode updates its running statistics while grad is disabled:
    usually evaluation code that forgot model.eval()."""


class MixedModesWarning(ModeWarning):
    """Some mode-dependent modules of a model are in training mode and others in eval mode."""


class AttentionDropoutInEvalWarning(ModeWarning):
    """F.scaled_dot_product_attention was given dropout_p > 0 while grad is disabled or from inside
    a module in eval mode. Its dropout_p does not follow model.eval() (as in PyTorch), so attention
    weights are still being dropped: usually evaluation code whose module forgot
    `dropout_p=self.dropout if self.training else 0.0`."""


_enabled = {UntrackedStatsWarning: True, StatsUpdateWithoutGradWarning: True, MixedModesWarning: True,
            AttentionDropoutInEvalWarning: True}
_names = {"untracked_stats": UntrackedStatsWarning, "update_without_grad": StatsUpdateWithoutGradWarning,
          "mixed_modes": MixedModesWarning, "attention_dropout": AttentionDropoutInEvalWarning}
_local = threading.local()


def set_mode_warnings(**flags: bool) -> None:
    """`set_mode_warnings(untracked_stats=False, update_without_grad=True, mixed_modes=True,
    attention_dropout=True)`."""
    for name, on in flags.items():
        if name not in _names:
            raise ValueError(f"unknown mode warning {name!r}; known: {sorted(_names)}")
        _enabled[_names[name]] = bool(on)


def mode_warnings_enabled(category: type[ModeWarning]) -> bool:
    return _enabled.get(category, True) and not getattr(_local, "suppressed", 0)


class suppress_mode_warnings:
    """Silences the mode warnings on this thread inside the block (used by update_bn/summary)."""

    def __enter__(self):
        _local.suppressed = getattr(_local, "suppressed", 0) + 1

    def __exit__(self, *exc):
        _local.suppressed -= 1


_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _user_frame(depth: int):
    """(stacklevel, frame) of the first frame outside ferrograd (the user's line). The stacklevel
    counts from the function that calls warnings.warn, `depth` frames up (1: our caller)."""
    level, frame = 1, sys._getframe(depth)
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        frame, level = frame.f_back, level + 1
    return level, frame


def _user_stacklevel() -> int:
    """The stacklevel that points at the first frame outside ferrograd (the user's line)."""
    return _user_frame(2)[0]  # our caller (warn_once) calls warnings.warn


def warn_once(module, category: type[ModeWarning], message: str) -> None:
    key = f"_warned_{category.__name__}"
    if module.__dict__.get(key) or not mode_warnings_enabled(category):
        return
    object.__setattr__(module, key, True)
    warnings.warn(message, category, stacklevel=_user_stacklevel())


_warned_sites: set = set()


def warn_once_per_call_site(category: type[ModeWarning], message: str) -> None:
    """For a functional form, which has no module to remember it: once per (file, line) of the
    first frame outside ferrograd, i.e. the user's call."""
    if not mode_warnings_enabled(category):
        return
    level, frame = _user_frame(1)
    site = (category, frame.f_code.co_filename, frame.f_lineno) if frame is not None else (category, None, 0)
    if site in _warned_sites:
        return
    _warned_sites.add(site)
    warnings.warn(message, category, stacklevel=level)
