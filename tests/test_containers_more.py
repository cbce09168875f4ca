"""ParameterList, ParameterDict, Container, nn.Buffer, Bilinear and EmbeddingBag: PyTorch's
registration, state_dict keys, repr and errors; numpy references and float64 gradcheck."""

import ferrograd as fg
import ferrograd.nn as nn
import ferrograd.nn.functional as F
import numpy as np
import pytest
from norm_reference import np_bilinear, np_embedding_bag

R = np.random.default_rng(0)


def T(a, **kw):
    return fg.tensor(np.asarray(a, dtype=np.float64), **kw)


# ---- ParameterList ---------------------------------------------------------------------------------

def test_parameterlist_registers_wraps_and_indexes():
    p0 = nn.Parameter(fg.ones(2))
    pl = nn.ParameterList([p0, fg.zeros(3)])
    assert len(pl) == 2 and pl[0] is p0 and type(pl[1]) is nn.Parameter and pl[-1] is pl[1]
    assert list(dict(pl.named_parameters())) == ["0", "1"] and list(pl.state_dict()) == ["0", "1"]
    pl.append(fg.ones(1, 1))
    pl.extend([fg.ones(4)])
    pl += [fg.ones(5)]
    assert [tuple(p.shape) for p in pl] == [(2,), (3,), (1, 1), (4,), (5,)]
    sub = pl[1:3]
    assert isinstance(sub, nn.ParameterList) and sub[0] is pl[1]
    pl[0] = fg.full((2,), 7.0)
    assert pl[0].tolist() == [7.0, 7.0] and type(pl[0]) is nn.Parameter
    with pytest.raises(IndexError, match="index 5 is out of range"):
        pl[5]
    with pytest.raises(RuntimeError, match="ParameterList should not be called."):
        pl(1)


def test_parameterlist_keeps_other_objects_and_repr():
    pl = nn.ParameterList([nn.Parameter(fg.ones(2)), "text"])
    assert pl[1] == "text" and len(list(pl.parameters())) == 1
    assert repr(nn.ParameterList([nn.Parameter(fg.ones(2)), fg.zeros(3)])) == (
        "ParameterList(\n    (0): Parameter containing: [ferrograd.float32 of size 2]\n"
        "    (1): Parameter containing: [ferrograd.float32 of size 3]\n)")


def test_parameterlist_in_a_module_trains():
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.ws = nn.ParameterList([nn.Parameter(fg.ones(2)) for _ in range(3)])

    m = M()
    assert list(m.state_dict()) == ["ws.0", "ws.1", "ws.2"]
    opt = fg.optim.SGD(m.parameters(), lr=0.5)
    sum((w * w).sum() for w in m.ws).backward()
    opt.step()
    assert m.ws[2].tolist() == [0.0, 0.0]


# ---- ParameterDict ---------------------------------------------------------------------------------

def test_parameterdict_dict_api():
    pd = nn.ParameterDict({"b": fg.zeros(3), "a": nn.Parameter(fg.ones(2))})
    assert list(pd) == ["a", "b"]  # a plain dict is sorted, as PyTorch does
    assert type(pd["b"]) is nn.Parameter and "a" in pd and len(pd) == 2
    pd["c"] = fg.ones(1)
    assert list(pd.keys()) == ["a", "b", "c"] and list(pd.state_dict()) == ["a", "b", "c"]
    assert pd.get("zz") is None and pd.setdefault("d", fg.ones(4)).shape == (4,)
    assert pd.pop("d").shape == (4,) and "d" not in pd
    k, v = pd.popitem()
    assert k == "c" and v.shape == (1,)
    del pd["a"]
    assert list(pd) == ["b"] and list(dict(pd.named_parameters())) == ["b"]
    merged = pd | nn.ParameterDict({"z": fg.ones(1)})
    assert list(merged) == ["b", "z"] and merged["b"] is pd["b"]
    pd.update([("x", fg.ones(2))])
    assert list(pd) == ["b", "x"]
    pd.clear()
    assert len(pd) == 0 and list(pd.parameters()) == []
    with pytest.raises(TypeError, match="not a string"):
        pd[1] = fg.ones(1)
    with pytest.raises(ValueError, match="has length 3; 2 is required"):
        pd.update([("a", fg.ones(1), 3)])


def test_parameterdict_repr():
    pd = nn.ParameterDict({"a": nn.Parameter(fg.ones(2)), "b": fg.zeros(3, dtype=fg.float64)})
    assert repr(pd) == ("ParameterDict(\n    (a): Parameter containing: [torch.FloatTensor of size 2]\n"
                        "    (b): Parameter containing: [torch.DoubleTensor of size 3]\n)")


def test_container_is_deprecated_but_registers_children():
    with pytest.warns(FutureWarning, match="nn.Container is deprecated"):
        c = nn.Container(lin=nn.Linear(2, 3))
    assert list(c.state_dict()) == ["lin.weight", "lin.bias"]


# ---- nn.Buffer ---------------------------------------------------------------------------------------

def test_buffer_shares_storage_and_keeps_flags():
    t = fg.ones(3)
    b = nn.Buffer(t, persistent=False)
    assert isinstance(b, nn.Buffer) and isinstance(b, fg.Tensor) and not b.persistent
    with fg.no_grad():
        b.add_(1.0)
    assert t.tolist() == [2.0, 2.0, 2.0]
    assert nn.Buffer(fg.ones(2)).persistent


def test_buffer_assigned_as_attribute_registers_a_buffer():
    m = nn.Module()
    m.stats = nn.Buffer(fg.zeros(2))
    m.scratch = nn.Buffer(fg.zeros(1), persistent=False)
    assert list(m.state_dict()) == ["stats"] and set(dict(m.named_buffers())) == {"stats", "scratch"}


# ---- Bilinear ----------------------------------------------------------------------------------------

def test_bilinear_layer_init_repr_and_numpy():
    fg.manual_seed(0)
    m = nn.Bilinear(3, 4, 5).double()
    assert repr(m) == "Bilinear(in1_features=3, in2_features=4, out_features=5, bias=True)"
    assert m.weight.shape == (5, 3, 4) and list(m.state_dict()) == ["weight", "bias"]
    assert np.abs(m.weight.detach().numpy()).max() <= 1 / np.sqrt(3)
    a, b = R.normal(size=(2, 6, 3)), R.normal(size=(2, 6, 4))
    exp = np_bilinear(a, b, m.weight.detach().numpy(), m.bias.detach().numpy())
    np.testing.assert_allclose(m(T(a), T(b)).detach().numpy(), exp, atol=1e-12)
    assert nn.Bilinear(2, 2, 2, bias=False).bias is None


def test_bilinear_gradcheck_and_errors():
    a, b = T(R.normal(size=(3, 2)), requires_grad=True), T(R.normal(size=(3, 4)), requires_grad=True)
    w, c = T(R.normal(size=(2, 2, 4)), requires_grad=True), T(R.normal(size=2), requires_grad=True)
    assert fg.autograd.gradcheck(F.bilinear, (a, b, w, c))
    with pytest.raises(RuntimeError, match="input batch dimensions do not match at dim 0: got 2 and 3"):
        F.bilinear(fg.randn(2, 3), fg.randn(3, 4), fg.randn(5, 3, 4))
    with pytest.raises(RuntimeError, match="input2 size does not match weight size: got 4 but expected 3"):
        F.bilinear(fg.randn(2, 3), fg.randn(2, 4), fg.randn(5, 3, 3))
    with pytest.raises(RuntimeError, match="bias size does not match weight size: got 4 but expected 5"):
        F.bilinear(fg.randn(2, 3), fg.randn(2, 4), fg.randn(5, 3, 4), fg.randn(4))


# ---- EmbeddingBag ------------------------------------------------------------------------------------

IDX = np.array([1, 2, 4, 5, 4, 3, 2, 9])
OFFS = np.array([0, 4, 4])


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
@pytest.mark.parametrize("padding_idx", [None, 4])
def test_embedding_bag_matches_numpy(mode, padding_idx):
    w = R.normal(size=(10, 3))
    got = F.embedding_bag(fg.tensor(IDX), T(w), fg.tensor(OFFS), mode=mode, padding_idx=padding_idx)
    np.testing.assert_allclose(got.numpy(), np_embedding_bag(IDX, w, OFFS, mode, padding_idx=padding_idx), atol=1e-12)


def test_embedding_bag_gradcheck_weight_and_per_sample_weights():
    w = T(R.normal(size=(10, 2)), requires_grad=True)
    p = T(R.normal(size=8), requires_grad=True)
    assert fg.autograd.gradcheck(lambda w, p: F.embedding_bag(fg.tensor(IDX), w, fg.tensor(OFFS), mode="sum",
                                                              per_sample_weights=p), (w, p))
    assert fg.autograd.gradcheck(lambda w: F.embedding_bag(fg.tensor(IDX), w, fg.tensor(OFFS), mode="mean",
                                                           padding_idx=2), (w,))


def test_embedding_bag_2d_input_and_include_last_offset():
    w = R.normal(size=(10, 3))
    idx2 = IDX.reshape(2, 4)
    np.testing.assert_allclose(F.embedding_bag(fg.tensor(idx2), T(w), mode="sum").numpy(),
                               np_embedding_bag(idx2, w, mode="sum"), atol=1e-12)
    offs = np.array([0, 3, 8])
    np.testing.assert_allclose(
        F.embedding_bag(fg.tensor(IDX), T(w), fg.tensor(offs), mode="max", include_last_offset=True).numpy(),
        np_embedding_bag(IDX, w, offs, "max", include_last_offset=True), atol=1e-12)


def test_embedding_bag_errors_as_pytorch():
    w = fg.randn(10, 3)
    with pytest.raises(ValueError, match="offsets has to be a 1D Tensor but got None"):
        F.embedding_bag(fg.tensor([1, 2]), w)
    with pytest.raises(ValueError, match="if input is 2D, then offsets has to be None"):
        F.embedding_bag(fg.tensor([[1, 2]]), w, fg.tensor([0]))
    with pytest.raises(RuntimeError, match="offsets\\[0\\] has to be 0"):
        F.embedding_bag(fg.tensor([1, 2]), w, fg.tensor([1]))
    with pytest.raises(NotImplementedError, match="per_sample_weights is only supported for mode='sum'"):
        F.embedding_bag(fg.tensor([1, 2]), w, fg.tensor([0]), mode="max", per_sample_weights=fg.ones(2))
    with pytest.raises(ValueError, match="mode has to be one of sum, mean or max"):
        F.embedding_bag(fg.tensor([1, 2]), w, fg.tensor([0]), mode="foo")
    with pytest.raises(RuntimeError, match=r"Index 1 of input takes value 20 which is not in the valid range \[0, 10\)"):
        F.embedding_bag(fg.tensor([1, 20]), w, fg.tensor([0]))
    with pytest.raises(RuntimeError, match="Expected tensor for argument #1 'indices'"):
        F.embedding_bag(fg.tensor([1.0, 2.0]), w, fg.tensor([0]))


def test_embeddingbag_layer():
    fg.manual_seed(0)
    m = nn.EmbeddingBag(10, 3, mode="sum", padding_idx=0)
    assert repr(m) == "EmbeddingBag(10, 3, mode='sum', padding_idx=0)"
    assert repr(nn.EmbeddingBag(10, 3)) == "EmbeddingBag(10, 3, mode='mean')"
    assert m.weight[0].tolist() == [0.0, 0.0, 0.0] and list(m.state_dict()) == ["weight"]
    out = m(fg.tensor(IDX), fg.tensor(OFFS))
    exp = np_embedding_bag(IDX, m.weight.detach().numpy(), OFFS, "sum", padding_idx=0)
    np.testing.assert_allclose(out.detach().numpy(), exp, rtol=1e-6)
    out.sum().backward()
    assert m.weight.grad[0].tolist() == [0.0, 0.0, 0.0]
    pre = nn.EmbeddingBag.from_pretrained(fg.ones(4, 2), mode="max")
    assert not pre.weight.requires_grad and pre(fg.tensor([[0, 1]])).tolist() == [[1.0, 1.0]]


def test_embedding_bag_scale_grad_by_freq_and_max_norm():
    w = T(np.arange(12.0).reshape(4, 3), requires_grad=True)
    y = F.embedding_bag(fg.tensor([1, 1, 2, 3]), w, fg.tensor([0, 2]), mode="sum", scale_grad_by_freq=True)
    assert y.tolist() == [[6.0, 8.0, 10.0], [15.0, 17.0, 19.0]]
    y.sum().backward()
    assert w.grad.tolist() == [[0.0] * 3, [1.0] * 3, [1.0] * 3, [1.0] * 3]  # index 1's two rows: 2 / 2
    with pytest.raises(RuntimeError, match="max mode does not support scaling the gradient by the frequency"):
        F.embedding_bag(fg.tensor([1]), w, fg.tensor([0]), mode="max", scale_grad_by_freq=True)
    table = np.arange(12.0).reshape(4, 3)
    w2 = T(table)
    F.embedding_bag(fg.tensor([1, 2]), w2, fg.tensor([0]), max_norm=2.0)
    norms = np.linalg.norm(table, axis=1)
    exp = table.copy()
    exp[1:3] *= (2.0 / (norms[1:3] + 1e-7))[:, None]  # only the rows looked up are renormalised
    np.testing.assert_allclose(w2.numpy(), exp, rtol=1e-12)
