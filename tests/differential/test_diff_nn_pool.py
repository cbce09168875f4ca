"""The pooling layers and functional forms of every rank against PyTorch (see cases_nn_pool.py)."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")

from cases_nn_pool import ALL
from harness import check
from hypothesis import given
from hypothesis import strategies as st
from known_divergences import covered


@pytest.mark.parametrize("case", ALL, ids=[c.id for c in ALL])
@given(data=st.data())
def test_pool_matches_torch(case, data):
    args = data.draw(case.args, label="args")
    covered(case, args, check)
