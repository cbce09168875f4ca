"""The composite Tensor methods (python/ferrograd/_methods) against PyTorch on drawn inputs
(see cases_methods.py and cases_methods_more.py; harness.py says what is compared)."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")

from cases_methods import ALL as PART_ONE  # noqa: E402
from cases_methods_more import ALL as PART_TWO  # noqa: E402
from harness import check  # noqa: E402
from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from known_divergences import covered  # noqa: E402

ALL = PART_ONE + PART_TWO


@pytest.mark.parametrize("case", ALL, ids=[c.id for c in ALL])
@given(data=st.data())
def test_method_matches_torch(case, data):
    args = data.draw(case.args, label="args")
    covered(case, args, check)
