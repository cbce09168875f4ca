"""Each known divergence's minimal repro, expected to fail until ferrograd is fixed (strict xfail:
once it passes, remove its row from known_divergences.KNOWN)."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")

from fixed_divergences import FIXED
from harness import check
from known_divergences import CLASSES, KNOWN
from triage import all_cases

CASES = {c.id: c for c in all_cases()}


@pytest.mark.parametrize(
    "known",
    [pytest.param(k, id=f"{k.case}-{i}", marks=pytest.mark.xfail(strict=True, reason=f"class {k.defect_class} "
                                                                  f"({CLASSES[k.defect_class]}): {k.summary}"))
     for i, k in enumerate(KNOWN)],
)
def test_known_divergence_still_diverges(known):
    check(CASES[known.case], known.repro, grad_fn_names=known.grad_fn_names)


def test_every_known_row_names_a_case():
    assert {k.case for k in KNOWN} <= set(CASES)


@pytest.mark.parametrize("fixed", [pytest.param(k, id=f"{k.case}-{i}") for i, k in enumerate(FIXED)])
def test_fixed_divergence_stays_fixed(fixed):
    check(CASES[fixed.case], fixed.repro, grad_fn_names=fixed.grad_fn_names)


def test_every_fixed_row_names_a_case():
    assert {k.case for k in FIXED} <= set(CASES)
