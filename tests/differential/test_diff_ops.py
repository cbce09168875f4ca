"""Every tensor op in ferrograd against PyTorch on drawn inputs (see harness.py for what is compared)."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")

from cases_ops import ALL
from harness import check
from hypothesis import given
from hypothesis import strategies as st
from known_divergences import covered


@pytest.mark.parametrize("case", ALL, ids=[c.id for c in ALL])
@given(data=st.data())
def test_op_matches_torch(case, data):
    args = data.draw(case.args, label="args")
    covered(case, args, check)
