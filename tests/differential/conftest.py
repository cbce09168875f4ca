"""Differential tests: ferrograd against PyTorch on the same inputs (skipped without PyTorch).

Profiles (hypothesis settings):
  default   a few dozen examples per test, the whole directory in a few minutes;
  fuzz      thousands of examples per test: FERROGRAD_FUZZ=1 or HYPOTHESIS_PROFILE=fuzz.
The example database is committed (examples-db/ beside this file), so a failing input found once,
anywhere, is replayed first by every later run.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

# Without PyTorch (CI) every module here is skipped. The skip is caught here rather than left to
# propagate: pytest turns a skip raised by a conftest into a skipped directory when it meets the
# conftest during collection (`pytest` from the root), but into an error when the conftest is
# loaded up front (`pytest tests/differential`); each test module repeats the importorskip.
try:
    pytest.importorskip("torch")
    HAVE_TORCH = True
except pytest.skip.Exception:
    HAVE_TORCH = False

from hypothesis import HealthCheck, settings
from hypothesis.database import DirectoryBasedExampleDatabase

sys.path.insert(0, str(Path(__file__).parent))  # harness, cases and known_divergences

class AppendOnlyDatabase(DirectoryBasedExampleDatabase):
    """hypothesis deletes a saved example once it passes, and moves examples while shrinking; the
    committed database must keep every input that ever failed, so deletes are ignored and moves
    copy (a fixed bug's input keeps being replayed, and catches it coming back)."""

    def delete(self, key: bytes, value: bytes) -> None:
        pass

    def move(self, src: bytes, dest: bytes, value: bytes) -> None:
        self.save(dest, value)


_DB = AppendOnlyDatabase(str(Path(__file__).parent / "examples-db"))
_COMMON = {
    "database": _DB,
    "deadline": None,  # the first call of an op pays for lazy set-up in both libraries
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    "print_blob": True,
}
settings.register_profile("default", max_examples=int(os.environ.get("FERROGRAD_DIFF_EXAMPLES", "25")), **_COMMON)
settings.register_profile("fuzz", max_examples=int(os.environ.get("FERROGRAD_DIFF_EXAMPLES", "2000")), **_COMMON)
_profile = os.environ.get("HYPOTHESIS_PROFILE") or ("fuzz" if os.environ.get("FERROGRAD_FUZZ") == "1" else "default")
settings.load_profile(_profile)


def pytest_report_header(config):
    if not HAVE_TORCH:
        return "differential: PyTorch not importable, tests/differential skipped"
    return f"differential: hypothesis profile {_profile!r}, max_examples={settings.default.max_examples}"


def pytest_terminal_summary(terminalreporter):
    """Both libraries raised but with different exception types: recorded, not a failure."""
    if not HAVE_TORCH or "harness" not in sys.modules:
        return
    from harness import ERROR_TYPE_MISMATCHES, GRAD_FN_MISMATCHES

    if ERROR_TYPE_MISMATCHES:
        terminalreporter.section("differential: error types that differ (both raised)")
        for (case, fg_type, th_type), example in sorted(ERROR_TYPE_MISMATCHES.items()):
            terminalreporter.write_line(f"{case}: ferrograd {fg_type}, torch {th_type}   e.g. {example}")
    names = sorted({(f, t) for _, out, f, t in GRAD_FN_MISMATCHES if out.startswith("out")})
    if names:
        terminalreporter.section("differential: grad_fn names that differ from PyTorch's (recorded, not failed)")
        for f, t in names:
            cases = sorted({c for c, out, f2, t2 in GRAD_FN_MISMATCHES if (f2, t2) == (f, t) and out.startswith("out")})
            terminalreporter.write_line(f"ferrograd {f}, torch {t}: {', '.join(cases[:6])}")
