"""Embedding's options against numpy references of PyTorch's definitions (max_norm renormalises
the looked-up rows of the weight in place; scale_grad_by_freq divides each row's gradient by its
index's count; padding_idx blocks its row's gradient; from_pretrained shares the tensor), against
PyTorch's golden values (tests/golden/embedding_golden.json), and, where PyTorch is installed,
directly against it."""

from __future__ import annotations

import inspect
import json
import pathlib

import ferrograd as fg
import ferrograd.nn as nn
import ferrograd.nn.functional as F
import numpy as np
import pytest
from ferrograd.autograd import gradcheck

IDX = np.array([[0, 3, 3, 5], [1, 3, 0, 5]])


def t64(a, grad=False):
    return fg.tensor(np.asarray(a, np.float64), dtype=fg.float64, requires_grad=grad)


def renormed(w, idx, max_norm, p):
    """PyTorch's embedding_renorm_: each looked-up row with norm > max_norm is scaled by
    max_norm / (norm + 1e-7)."""
    w = w.copy()
    for r in np.unique(idx):
        norm = np.linalg.norm(w[r], ord=p)  # inf: the largest magnitude; 0: the non-zeros
        if norm > max_norm:
            w[r] *= max_norm / (norm + 1e-7)
    return w


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, float("inf"), 0.0])
def test_max_norm_renormalises_only_the_looked_up_rows_in_place(norm_type):
    w = np.random.default_rng(0).normal(size=(7, 4)) * 2
    weight = t64(w, grad=True)
    out = F.embedding(fg.tensor(IDX), weight, max_norm=1.5, norm_type=norm_type)
    expected = renormed(w, IDX, 1.5, norm_type)
    np.testing.assert_allclose(weight.detach().numpy(), expected, rtol=1e-12)   # in place
    np.testing.assert_array_equal(weight.detach().numpy()[[2, 4, 6]], w[[2, 4, 6]])  # untouched rows
    np.testing.assert_allclose(out.detach().numpy(), expected[IDX], rtol=1e-12)
    if norm_type:  # (scaling does not change a count of non-zeros)
        assert np.linalg.norm(out.detach().numpy(), ord=norm_type, axis=-1).max() <= 1.5 + 1e-6
    # the renormalisation is off the graph: the gradient is that of a plain lookup
    g = np.random.default_rng(1).normal(size=IDX.shape + (4,))
    (out * t64(g)).sum().backward()
    exp = np.zeros_like(w)
    np.add.at(exp, IDX, g)
    np.testing.assert_allclose(weight.grad.numpy(), exp, rtol=1e-12)


def test_max_norm_scale_is_computed_in_float64_as_pytorch():
    # float32's 4 + 1e-7 is 4: PyTorch's scale 1 / (4 + 1e-7) is taken in float64 and rounded
    w = fg.tensor([[0.5, -2.0], [3.0, 4.0]])
    F.embedding(fg.tensor([0, 1]), w, max_norm=1.0, norm_type=float("inf"))
    want = np.array([[0.5, -2.0], [3.0, 4.0]]) * np.array([[1 / (2 + 1e-7)], [1 / (4 + 1e-7)]])
    np.testing.assert_array_equal(w.numpy(), want.astype(np.float32))


def test_embedding_bag_max_sends_a_tied_gradient_to_the_first_row():
    w = fg.tensor([[1.0, 5.0], [1.0, 2.0], [0.0, 5.0]], requires_grad=True)
    F.embedding_bag(fg.tensor([[0, 1, 2]]), w, mode="max").sum().backward()
    assert w.grad.tolist() == [[1.0, 1.0], [0.0, 0.0], [0.0, 0.0]]


def test_embedding_module_max_norm_updates_its_weight():
    fg.manual_seed(0)
    m = nn.Embedding(10, 5, max_norm=1.0).double()
    before = m.weight.detach().numpy().copy()
    m(fg.tensor([2, 7]))
    after = m.weight.detach().numpy()
    np.testing.assert_allclose(after, renormed(before, np.array([2, 7]), 1.0, 2.0), rtol=1e-12)
    assert "max_norm=1.0" in repr(m)


def test_scale_grad_by_freq_divides_each_rows_gradient_by_its_count():
    w = np.random.default_rng(2).normal(size=(7, 3))
    weight = t64(w, grad=True)
    out = F.embedding(fg.tensor(IDX), weight, scale_grad_by_freq=True)
    np.testing.assert_array_equal(out.detach().numpy(), w[IDX])  # forward exactly a lookup
    g = np.random.default_rng(3).normal(size=IDX.shape + (3,))
    (out * t64(g)).sum().backward()
    counts = np.bincount(IDX.ravel(), minlength=7)
    exp = np.zeros_like(w)
    np.add.at(exp, IDX, g / counts[IDX][..., None])
    np.testing.assert_allclose(weight.grad.numpy(), exp, rtol=1e-12)


def test_scale_grad_by_freq_with_padding_idx():
    m = nn.Embedding(7, 3, padding_idx=3, scale_grad_by_freq=True).double()
    m(fg.tensor(IDX)).sum().backward()
    counts = np.bincount(IDX.ravel(), minlength=7)
    exp = np.zeros((7, 3))
    np.add.at(exp, IDX, 1.0 / counts[IDX][..., None])
    exp[3] = 0
    np.testing.assert_allclose(m.weight.grad.numpy(), exp, rtol=1e-12)


def test_gradcheck_with_max_norm_and_int32_indices():
    # padding_idx and scale_grad_by_freq are deliberately not the true derivative (checked against
    # numpy above); the lookup with a max_norm no row reaches is.
    w = np.random.default_rng(4).normal(size=(7, 2))
    idx = fg.tensor(IDX, dtype=fg.int32)
    assert gradcheck(lambda a: F.embedding(idx, a, max_norm=100.0), [t64(w, True)])


def test_padding_idx_row_gets_no_gradient_even_when_frequent():
    m = nn.Embedding(4, 2, padding_idx=0).double()
    m(fg.tensor([0, 0, 0, 1])).sum().backward()
    np.testing.assert_array_equal(m.weight.grad.numpy(), [[0, 0], [1, 1], [0, 0], [0, 0]])


def test_sparse_true_is_a_clear_not_implemented_error():
    m = nn.Embedding(4, 2, sparse=True)
    assert "sparse=True" in repr(m)
    with pytest.raises(NotImplementedError, match="sparse"):
        m(fg.tensor([1]))
    with pytest.raises(NotImplementedError, match="sparse"):
        F.embedding(fg.tensor([1]), fg.randn(4, 2), sparse=True)


def test_int32_indices_are_accepted():
    w = fg.randn(5, 2)
    np.testing.assert_array_equal(F.embedding(fg.tensor([4, 1], dtype=fg.int32), w).numpy(), w.numpy()[[4, 1]])


def test_signature_and_from_pretrained_options():
    params = list(inspect.signature(nn.Embedding).parameters)
    assert params == ["num_embeddings", "embedding_dim", "padding_idx", "max_norm", "norm_type", "scale_grad_by_freq",
                      "sparse", "_weight", "_freeze", "device", "dtype"]
    assert list(inspect.signature(nn.Embedding.from_pretrained).parameters) == [
        "embeddings", "freeze", "padding_idx", "max_norm", "norm_type", "scale_grad_by_freq", "sparse"]
    assert list(inspect.signature(F.embedding).parameters) == [
        "input", "weight", "padding_idx", "max_norm", "norm_type", "scale_grad_by_freq", "sparse"]
    m = nn.Embedding(10, 3, 0, 2.0)  # positional, as PyTorch: padding_idx then max_norm
    assert (m.padding_idx, m.max_norm) == (0, 2.0)
    w = fg.randn(6, 4, dtype=fg.float64) * 3
    e = nn.Embedding.from_pretrained(w, freeze=False, padding_idx=2, max_norm=1.0, norm_type=1.0,
                                     scale_grad_by_freq=True)
    assert (e.padding_idx, e.max_norm, e.norm_type, e.scale_grad_by_freq, e.sparse) == (2, 1.0, 1.0, True, False)
    assert e.weight.requires_grad
    assert repr(e) == "Embedding(6, 4, padding_idx=2, max_norm=1.0, norm_type=1.0, scale_grad_by_freq=True)"
    e(fg.tensor([0]))
    # the weight is the given tensor (PyTorch shares it), so the renormalisation shows in `w`
    np.testing.assert_allclose(np.abs(w.numpy()[0]).sum(), 1.0, rtol=1e-6)
    with pytest.raises(AssertionError, match="2-dimensional"):
        nn.Embedding.from_pretrained(fg.randn(3))
    assert not nn.Embedding(3, 2, _freeze=True).weight.requires_grad


def test_matches_pytorch_directly():
    torch = pytest.importorskip("torch")
    w = np.random.default_rng(5).normal(size=(7, 3)) * 2
    g = np.random.default_rng(6).normal(size=IDX.shape + (3,))
    kwargs = {"padding_idx": 3, "max_norm": 1.2, "norm_type": 1.5, "scale_grad_by_freq": True}
    tw = torch.tensor(w, requires_grad=True)
    tout = torch.nn.functional.embedding(torch.tensor(IDX), tw, **kwargs)
    (tout * torch.tensor(g)).sum().backward()
    fw = t64(w, grad=True)
    fout = F.embedding(fg.tensor(IDX), fw, **kwargs)
    (fout * t64(g)).sum().backward()
    np.testing.assert_allclose(fout.detach().numpy(), tout.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(fw.detach().numpy(), tw.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(fw.grad.numpy(), tw.grad.numpy(), rtol=1e-12)


GOLDEN = json.loads((pathlib.Path(__file__).parent / "golden" / "embedding_golden.json").read_text())["embedding"]


def _arr(d):
    return np.array(d["data"]).reshape(d["shape"])


@pytest.mark.parametrize("case", GOLDEN, ids=[c["name"] for c in GOLDEN])
def test_embedding_options_match_pytorch_golden(case):
    """tests/golden/embedding_golden.json, made by tests/golden/make_attention_golden.py."""
    weight = t64(_arr(case["weight"]), grad=True)
    out = F.embedding(fg.tensor(_arr(case["indices"]).astype(np.int64)), weight, **case["kwargs"])
    np.testing.assert_allclose(out.detach().numpy(), _arr(case["output"]), rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(weight.detach().numpy(), _arr(case["weight_after"]), rtol=1e-9, atol=1e-11)
    (out * t64(_arr(case["R"]))).sum().backward()
    np.testing.assert_allclose(weight.grad.numpy(), _arr(case["grad"]), rtol=1e-9, atol=1e-11)
