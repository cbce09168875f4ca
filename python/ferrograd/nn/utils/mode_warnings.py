"""Warnings for train/eval mistakes that are cheap to detect. Each is its own category, on by
default, and can be switched off with `set_mode_warnings(...)` or a standard warnings filter
(`warnings.filterwarnings("ignore", category=...)`). Each fires at most once per module."""

from __future__ import annotations

import os
import sys
import threading
import warnings

__all__ = [
    "ModeWarning", "UntrackedStatsWarning", "StatsUpdateWithoutGradWarning", "MixedModesWarning",
    "set_mode_warnings", "mode_warnings_enabled", "suppress_mode_warnings",
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


_enabled = {UntrackedStatsWarning: True, StatsUpdateWithoutGradWarning: True, MixedModesWarning: True}
_names = {"untracked_stats": UntrackedStatsWarning, "update_without_grad": StatsUpdateWithoutGradWarning,
          "mixed_modes": MixedModesWarning}
_local = threading.local()


def set_mode_warnings(**flags: bool) -> None:
    """`set_mode_warnings(untracked_stats=False, update_without_grad=True, mixed_modes=True)`."""
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


def _user_stacklevel() -> int:
    """The stacklevel that points at the first frame outside ferrograd (the user's line)."""
    level, frame = 1, sys._getframe(1)
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        frame, level = frame.f_back, level + 1
    return level


def warn_once(module, category: type[ModeWarning], message: str) -> None:
    key = f"_warned_{category.__name__}"
    if module.__dict__.get(key) or not mode_warnings_enabled(category):
        return
    object.__setattr__(module, key, True)
    warnings.warn(message, category, stacklevel=_user_stacklevel())
