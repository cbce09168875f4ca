"""The recurrent and attention families (RNN/LSTM/GRU and cells, packed sequences, Embedding,
scaled_dot_product_attention, MultiheadAttention, Transformer layers) against PyTorch (see
cases_nn_seq.py and cases_nn_seq_attention.py)."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")

import warnings

import cases_nn_seq
import cases_nn_seq_attention
from harness import check
from hypothesis import given
from hypothesis import strategies as st
from known_divergences import covered

ALL = cases_nn_seq.ALL + cases_nn_seq_attention.ALL


@pytest.mark.parametrize("case", ALL, ids=[c.id for c in ALL])
@given(data=st.data())
def test_nn_seq_matches_torch(case, data):
    args = data.draw(case.args, label="args")
    with warnings.catch_warnings():
        # both libraries warn alike (dropout with one layer, mask types that differ); not compared
        warnings.simplefilter("ignore")
        covered(case, args, check)
