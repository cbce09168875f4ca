"""Mode contexts and the mode report: train/eval changes made visible and reversible."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from ..module import Module
from .mode_warnings import MixedModesWarning, warn_once

__all__ = ["ModeContext", "ModeEntry", "ModeReport", "mode_report", "is_mode_dependent", "inference", "freeze_batchnorm"]


class ModeContext:
    """`with model.mode("eval"):` — sets the mode and restores every submodule's own previous
    flag on exit, also when the block raises. Re-entrant: each `with` saves its own snapshot."""

    def __init__(self, module: Module, mode: str) -> None:
        if mode not in ("train", "eval"):
            raise ValueError(f"mode() expects 'train' or 'eval', got {mode!r}")
        self.module, self.mode_name = module, mode
        self._saved: list[list[tuple[Module, bool]]] = []

    def __enter__(self) -> Module:
        self._saved.append([(m, m.training) for m in self.module.modules()])
        self.module.train(self.mode_name == "train")
        return self.module

    def __exit__(self, *exc) -> None:
        for m, flag in self._saved.pop():
            object.__setattr__(m, "training", flag)

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with ModeContext(self.module, self.mode_name):
                return fn(*args, **kwargs)

        return wrapper


def is_mode_dependent(m: Module) -> bool:
    """True for a module whose behaviour depends on train/eval (its `_mode_meaning()` says what)."""
    return m._mode_meaning() is not None


@dataclass(frozen=True)
class ModeEntry:
    path: str
    cls: str
    mode: str
    pinned: str | None
    meaning: str


class ModeReport:
    """What `model.modes()` returns: the entries as data, and a tree when printed."""

    def __init__(self, root: Module, entries: list[ModeEntry]) -> None:
        self.root_mode = "train" if root.training else "eval"
        self.root_name = type(root).__name__
        self.entries = entries

    @property
    def mixed(self) -> bool:
        return len({e.mode for e in self.entries}) > 1

    def __iter__(self):
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    def __str__(self) -> str:
        lines = [f"{self.root_name} (mode: {self.root_mode})"]
        if not self.entries:
            lines.append("  no mode-dependent modules: train()/eval() change nothing here")
        width = max((len(e.path) for e in self.entries), default=0)
        for e in self.entries:
            pin = f" [pinned {e.pinned}]" if e.pinned else ""
            lines.append(f"  {e.path:<{width}}  {e.cls:<19} {e.mode:<5}{pin}  {e.meaning}")
        if self.mixed:
            lines.append("  note: mixed modes (some modules train, some eval)")
        return "\n".join(lines)

    __repr__ = __str__


def _governing_pins(model: Module) -> dict[str, str]:
    """path -> the mode pinned on it or on its nearest pinned ancestor."""
    pins: dict[str, str] = {}
    for path, m in model.named_modules():
        parent = path.rsplit(".", 1)[0] if "." in path else ("" if path else None)
        inherited = pins.get(parent) if parent is not None else None
        pin = m.pinned_mode or inherited
        if pin:
            pins[path] = pin
    return pins


def mode_report(model: Module, *, inference: bool = False) -> ModeReport:
    pins = _governing_pins(model)
    entries = [
        ModeEntry(path or "(root)", type(m).__name__, "train" if m.training else "eval", pins.get(path), m._mode_meaning())
        for path, m in model.named_modules()
        if is_mode_dependent(m)
    ]
    report = ModeReport(model, entries)
    root_mode = "train" if model.training else "eval"
    # Pins explain a difference; anything else is a mix the user may not know about. Under
    # fg.inference every mode-dependent module should be in eval mode, pinned or not.
    unexplained = any(e.mode != root_mode and not e.pinned for e in entries)
    training_in_inference = inference and any(e.mode == "train" for e in entries)
    if unexplained or training_in_inference:
        why = "still in training mode inside fg.inference (pinned?)" if training_in_inference else "in mixed modes"
        warn_once(model, MixedModesWarning, f"model has mode-dependent modules {why}:\n" + str(report))
    return report


class inference:
    """`with fg.inference(model):` — eval mode and inference mode together, both restored on
    exit (each submodule's own flag). Also a decorator: `@fg.inference(model)`.

    Escape hatch: `with fg.enable_grad():` inside it records again (and leaves inference mode
    for that block), for a local computation that needs gradients, e.g. a saliency map. PyTorch's
    inference_mode cannot be left this way."""

    def __init__(self, model: Module) -> None:
        if not isinstance(model, Module):
            raise TypeError(f"fg.inference() expects an nn.Module, got {type(model).__name__}")
        self.model = model
        self._stack: list[tuple[ModeContext, object]] = []

    def __enter__(self) -> Module:
        from ...autograd.grad_mode import _soft_inference_mode

        modes = ModeContext(self.model, "eval")
        modes.__enter__()
        guard = _soft_inference_mode()
        guard.__enter__()
        self._stack.append((modes, guard))
        mode_report(self.model, inference=True)  # warns if pins leave some modules training
        return self.model

    def __exit__(self, *exc) -> None:
        modes, guard = self._stack.pop()
        guard.__exit__(*exc)
        modes.__exit__(*exc)

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with inference(self.model):
                return fn(*args, **kwargs)

        return wrapper


def freeze_batchnorm(model: Module) -> Module:
    """Freezes every BatchNorm of `model` (see `_BatchNorm.freeze_stats`); returns the model."""
    for m in model.modules():
        freeze = getattr(m, "freeze_stats", None)  # BatchNorm's, and any layer with running stats
        if freeze is not None:
            freeze()
    return model
