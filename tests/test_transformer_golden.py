"""The Transformer layers against PyTorch 2.15's values (tests/golden/transformer_golden.json,
made by tests/golden/make_attention_golden.py): PyTorch's state_dicts load (same keys and
shapes), and outputs and the gradients of every input and parameter match in float64, with
masks, norm_first, gelu, batch_first, unbatched input, in training mode (dropout=0) and in eval
mode (dropout > 0, which must be off)."""

from __future__ import annotations

import json
import pathlib

import ferrograd as fg
import ferrograd.nn as nn
import pytest
from test_attention_golden import build_module, check_module, dec

# PyTorch warns the same way for a bool key_padding_mask beside a float attn_mask (golden cases do that).
pytestmark = pytest.mark.filterwarnings("ignore:Support for mismatched")
GOLDEN = json.loads((pathlib.Path(__file__).parent / "golden" / "transformer_golden.json").read_text())
LAYERS = {c["name"]: c for c in GOLDEN["layers"]}
STACKS = {c["name"]: c for c in GOLDEN["stacks"]}


@pytest.mark.parametrize("name", list(LAYERS))
def test_transformer_layer_matches_pytorch(name):
    case = LAYERS[name]
    check_module(case, build_module(case, getattr(nn, case["cls"])))


def _stack(name):
    d, h = 8, 2
    if name == "encoder_stack_causal":
        return nn.TransformerEncoder(nn.TransformerEncoderLayer(d, h, 16, 0.0), 2, nn.LayerNorm(d),
                                     enable_nested_tensor=False)
    if name == "encoder_stack_kpm":
        return nn.TransformerEncoder(nn.TransformerEncoderLayer(d, h, 16, 0.0), 3, enable_nested_tensor=False)
    return nn.TransformerDecoder(nn.TransformerDecoderLayer(d, h, 16, 0.0), 2, nn.LayerNorm(d))


@pytest.mark.parametrize("name", list(STACKS))
def test_transformer_stack_matches_pytorch(name):
    case = STACKS[name]
    module = _stack(name).double()
    check_module(case, build_module(case, module))


@pytest.mark.parametrize("name", list(LAYERS))
def test_transformer_state_dict_keys_are_pytorchs(name):
    case = LAYERS[name]
    fg.manual_seed(0)
    m = getattr(nn, case["cls"])(**case["ctor"])
    assert list(m.state_dict()) == list(case["state_dict"])
    for k, v in m.state_dict().items():
        assert list(v.shape) == case["state_dict"][k]["shape"], k


def test_generate_square_subsequent_mask_matches_pytorch():
    case = LAYERS["dec_layer_masks"]
    expected = dec(case["inputs"]["tgt_mask"])
    got = nn.Transformer.generate_square_subsequent_mask(4, dtype=fg.float64)
    assert got.dtype == fg.float64 and tuple(got.shape) == (4, 4)
    assert (got == expected).all().item()
    assert nn.Transformer.generate_square_subsequent_mask(3).dtype == fg.float32
