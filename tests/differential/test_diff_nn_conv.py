"""The convolution family (conv/conv_transpose in 1 to 3 dims, fold, unfold and their layers)
against PyTorch (see cases_nn_conv.py)."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")

from cases_nn_conv import ALL
from harness import check
from hypothesis import given
from hypothesis import strategies as st
from known_divergences import covered


@pytest.mark.parametrize("case", ALL, ids=[c.id for c in ALL])
@given(data=st.data())
def test_nn_conv_matches_torch(case, data):
    args = data.draw(case.args, label="args")
    covered(case, args, check)
