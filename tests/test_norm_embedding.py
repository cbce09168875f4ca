"""LayerNorm, GroupNorm and Embedding against numpy references of PyTorch's definitions: forward,
float64 gradcheck (including weight and bias), train/eval invariance, parameters and state_dict,
and bad inputs."""

import ferrograd as fg
import ferrograd.nn as nn
import ferrograd.nn.functional as F
import numpy as np
import pytest

gradcheck = fg.autograd.gradcheck


def t64(a, grad=False):
    return fg.tensor(np.asarray(a, dtype=np.float64), requires_grad=grad)


def ti(a):
    return fg.tensor(np.asarray(a, dtype=np.int64))


def npa(t):
    return t.detach().numpy()


def close(out, ref, rtol=1e-10, atol=1e-12, what=""):
    ref = np.asarray(ref)
    assert tuple(out.shape) == ref.shape, f"{what}: shape {tuple(out.shape)} != reference {ref.shape}"
    np.testing.assert_allclose(npa(out), ref, rtol=rtol, atol=atol, err_msg=what)


def set_param(p, value):
    with fg.no_grad():
        p.copy_(fg.tensor(np.asarray(value), dtype=p.dtype))


def layer_norm_ref(x, k, w=None, b=None, eps=1e-5):
    """Normalise over the last k dims with the biased variance."""
    axes = tuple(range(x.ndim - k, x.ndim))
    y = (x - x.mean(axes, keepdims=True)) / np.sqrt(x.var(axes, keepdims=True) + eps)
    if w is not None:
        y = y * w
    if b is not None:
        y = y + b
    return y


def group_norm_ref(x, g, w=None, b=None, eps=1e-5):
    n, c = x.shape[:2]
    rows = x.reshape(n, g, -1)
    y = ((rows - rows.mean(2, keepdims=True)) / np.sqrt(rows.var(2, keepdims=True) + eps)).reshape(x.shape)
    shape = (1, c) + (1,) * (x.ndim - 2)
    if w is not None:
        y = y * w.reshape(shape)
    if b is not None:
        y = y + b.reshape(shape)
    return y


# ---- LayerNorm ----------------------------------------------------------------------------

LN_CASES = [((4, 5), (5,)), ((2, 3, 4), (3, 4)), ((2, 3, 4), (4,)), ((5,), (5,)), ((2, 2, 3, 2), (2, 3, 2))]
AFFINE = {"affine": dict(), "no_affine": dict(elementwise_affine=False), "no_bias": dict(bias=False)}


@pytest.mark.parametrize("eps", [1e-5, 0.3])
@pytest.mark.parametrize("mode", list(AFFINE))
@pytest.mark.parametrize("shape, normalized", LN_CASES, ids=[f"{s}-{n}" for s, n in LN_CASES])
def test_layer_norm_module_forward_matches_numpy(shape, normalized, mode, eps):
    r = np.random.default_rng(0)
    x = r.normal(1.0, 2.0, shape)
    m = nn.LayerNorm(normalized, eps=eps, dtype=fg.float64, **AFFINE[mode])
    w = b = None
    if mode != "no_affine":
        w = r.uniform(0.5, 2, normalized)
        set_param(m.weight, w)
        assert tuple(m.weight.shape) == normalized
    if mode == "affine":
        b = r.uniform(-1, 1, normalized)
        set_param(m.bias, b)
    else:
        assert m.bias is None
    if mode == "no_affine":
        assert m.weight is None and list(m.parameters()) == []
    exp = layer_norm_ref(x, len(normalized), w, b, eps)
    close(m(t64(x)), exp, what="module")
    ns = normalized[0] if len(normalized) == 1 else list(normalized)  # an int or a list both work
    close(F.layer_norm(t64(x), ns, None if w is None else t64(w), None if b is None else t64(b), eps), exp, what="F")
    out32 = m.float()(fg.tensor(x.astype(np.float32)))
    assert out32.dtype == fg.float32
    close(out32, exp, rtol=1e-5, atol=1e-5, what="float32")


@pytest.mark.parametrize("mode", ["x_w_b", "x_w", "x"])
@pytest.mark.parametrize("shape, normalized", LN_CASES[:3], ids=[f"{s}-{n}" for s, n in LN_CASES[:3]])
def test_layer_norm_gradcheck_including_weight_and_bias(shape, normalized, mode):
    r = np.random.default_rng(1)
    x, w, b = r.normal(size=shape), r.uniform(0.5, 2, normalized), r.uniform(-1, 1, normalized)
    if mode == "x_w_b":
        assert gradcheck(lambda a, c, d: F.layer_norm(a, normalized, c, d), [t64(x, True), t64(w, True), t64(b, True)])
    elif mode == "x_w":
        assert gradcheck(lambda a, c: F.layer_norm(a, normalized, c, None), [t64(x, True), t64(w, True)])
    else:
        assert gradcheck(lambda a: F.layer_norm(a, normalized), [t64(x, True)])
    # weight and bias need no grad of x (and vice versa)
    assert gradcheck(lambda c, d: F.layer_norm(t64(x), normalized, c, d), [t64(w, True), t64(b, True)])


def test_layer_norm_large_offset_and_constant_rows():
    x = 1e6 + np.random.default_rng(2).normal(size=(3, 8))
    close(F.layer_norm(t64(x), (8,)), layer_norm_ref(x, 1), rtol=1e-7, atol=1e-7)
    const = F.layer_norm(t64(np.full((2, 4), 3.0)), (4,))
    np.testing.assert_array_equal(npa(const), np.zeros((2, 4)))


# ---- GroupNorm ----------------------------------------------------------------------------

GN_CASES = [((2, 6, 3), 1), ((2, 6, 3), 2), ((2, 6, 3), 3), ((2, 6, 3), 6), ((3, 4, 2, 2), 2), ((4, 6), 3), ((1, 4, 2, 1, 3), 4)]


@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("shape, groups", GN_CASES, ids=[f"{s}-g{g}" for s, g in GN_CASES])
def test_group_norm_forward_matches_numpy(shape, groups, affine):
    r = np.random.default_rng(3)
    x = r.normal(0.5, 1.5, shape)
    c = shape[1]
    m = nn.GroupNorm(groups, c, affine=affine, dtype=fg.float64)
    w = b = None
    if affine:
        w, b = r.uniform(0.5, 2, c), r.uniform(-1, 1, c)
        set_param(m.weight, w)
        set_param(m.bias, b)
    else:
        assert m.weight is None and m.bias is None
    exp = group_norm_ref(x, groups, w, b)
    close(m(t64(x)), exp, what="module")
    close(F.group_norm(t64(x), groups, None if w is None else t64(w), None if b is None else t64(b)), exp, what="F")
    close(F.group_norm(t64(x), groups, eps=0.5), group_norm_ref(x, groups, eps=0.5), what="eps")


@pytest.mark.parametrize("shape, groups", [((2, 6, 3), 2), ((2, 4, 2, 2), 4), ((3, 4), 1)])
def test_group_norm_gradcheck_including_weight_and_bias(shape, groups):
    r = np.random.default_rng(4)
    c = shape[1]
    x, w, b = r.normal(size=shape), r.uniform(0.5, 2, c), r.uniform(-1, 1, c)
    assert gradcheck(lambda a, u, v: F.group_norm(a, groups, u, v), [t64(x, True), t64(w, True), t64(b, True)])
    assert gradcheck(lambda a: F.group_norm(a, groups), [t64(x, True)])
    # The weight alone and the bias alone (the fused node's gradient list has one or the other).
    assert gradcheck(lambda a, u: F.group_norm(a, groups, u), [t64(x, True), t64(w, True)])
    assert gradcheck(lambda a, v: F.group_norm(a, groups, None, v), [t64(x, True), t64(b, True)])


def test_group_norm_is_one_node_and_float32_matches_float64():
    # One fused node (PyTorch's name), and float32 through its vectorised passes within float32
    # rounding of the float64 result, at a size the parallel split takes.
    r = np.random.default_rng(5)
    x, w, b = r.normal(1.0, 2.0, (4, 12, 33, 17)), r.uniform(0.5, 2, 12), r.uniform(-1, 1, 12)
    out64 = F.group_norm(t64(x, True), 3, t64(w, True), t64(b, True))
    assert out64.grad_fn.name() == "NativeGroupNormBackward0"
    xs = [fg.tensor(v.astype(np.float32), requires_grad=True) for v in (x, w, b)]
    out32 = F.group_norm(xs[0], 3, xs[1], xs[2])
    np.testing.assert_allclose(out32.detach().numpy(), out64.detach().numpy(), rtol=1e-5, atol=2e-5)
    g = r.normal(size=x.shape)
    x64 = [t64(v, True) for v in (x, w, b)]
    F.group_norm(x64[0], 3, x64[1], x64[2]).backward(t64(g))
    (out32 * fg.tensor(g.astype(np.float32))).sum().backward()
    for a32, a64 in zip(xs, x64):
        np.testing.assert_allclose(a32.grad.numpy(), a64.grad.numpy(), rtol=2e-4, atol=2e-4)


def test_group_norm_with_one_group_per_channel_is_instance_norm_and_one_group_is_layer_norm():
    x = np.random.default_rng(5).normal(size=(2, 3, 4))
    close(F.group_norm(t64(x), 3), layer_norm_ref(x, 1))
    close(F.group_norm(t64(x), 1), layer_norm_ref(x, 2))


# ---- modes, parameters, state ---------------------------------------------------------------

@pytest.mark.parametrize("make, shape", [(lambda: nn.LayerNorm(4), (3, 4)), (lambda: nn.LayerNorm((2, 4)), (3, 2, 4)),
                                         (lambda: nn.GroupNorm(2, 4), (3, 4, 5))])
def test_same_output_in_train_and_eval_and_no_running_state(make, shape):
    m = make()
    x = fg.tensor(np.random.default_rng(6).normal(size=shape).astype(np.float32))
    with fg.no_grad():
        m.weight.copy_(fg.rand(*m.weight.shape) + 0.5)
        m.bias.copy_(fg.rand(*m.bias.shape))
    before = {k: npa(v).copy() for k, v in m.state_dict().items()}
    m.train()
    y_train = npa(m(x))
    m.eval()
    np.testing.assert_array_equal(npa(m(x)), y_train)
    assert list(m.buffers()) == []
    after = m.state_dict()
    assert list(after) == list(before) == ["weight", "bias"]
    for k in before:
        np.testing.assert_array_equal(npa(after[k]), before[k])


def test_parameters_state_dict_and_defaults():
    ln = nn.LayerNorm([2, 3])
    assert ln.normalized_shape == (2, 3) and ln.eps == 1e-5 and ln.weight.dtype == fg.float32
    np.testing.assert_array_equal(npa(ln.weight), np.ones((2, 3)))
    np.testing.assert_array_equal(npa(ln.bias), np.zeros((2, 3)))
    assert [n for n, _ in ln.named_parameters()] == ["weight", "bias"]
    assert list(nn.LayerNorm(3, bias=False).state_dict()) == ["weight"]
    assert list(nn.LayerNorm(3, elementwise_affine=False).state_dict()) == []
    gn = nn.GroupNorm(2, 4)
    assert list(gn.state_dict()) == ["weight", "bias"] and tuple(gn.weight.shape) == (4,)
    np.testing.assert_array_equal(npa(gn.weight), np.ones(4))
    np.testing.assert_array_equal(npa(gn.bias), np.zeros(4))
    assert list(nn.GroupNorm(2, 4, affine=False).state_dict()) == []
    emb = nn.Embedding(5, 3)
    assert list(emb.state_dict()) == ["weight"] and tuple(emb.weight.shape) == (5, 3)
    assert emb.weight.requires_grad and emb.weight.dtype == fg.float32


# ---- Embedding ------------------------------------------------------------------------------

def test_embedding_forward_is_numpy_indexing():
    r = np.random.default_rng(7)
    w = r.normal(size=(6, 3))
    idx = np.array([[0, 5, 2, 2], [1, 0, 5, 3]])
    m = nn.Embedding.from_pretrained(t64(w))
    close(m(ti(idx)), w[idx])
    close(F.embedding(ti(idx), t64(w)), w[idx])
    close(F.embedding(ti(4), t64(w)), w[4])  # a 0-d index gives one row
    out32 = nn.Embedding(6, 3)(ti(idx))
    assert out32.dtype == fg.float32 and tuple(out32.shape) == (2, 4, 3)


def test_embedding_of_empty_index_tensors():
    w = t64(np.ones((6, 3)))
    close(F.embedding(ti(np.zeros(0, np.int64)), w), np.zeros((0, 3)))
    close(F.embedding(ti(np.zeros((2, 0), np.int64)), w), np.zeros((2, 0, 3)))


def test_embedding_gradient_accumulates_over_repeated_indices():
    r = np.random.default_rng(8)
    w = r.normal(size=(6, 3))
    idx = np.array([[0, 5, 2, 2], [1, 0, 5, 2]])
    g = r.normal(size=idx.shape + (3,))
    wt = t64(w, grad=True)
    (F.embedding(ti(idx), wt) * t64(g)).sum().backward()
    exp = np.zeros_like(w)
    np.add.at(exp, idx, g)
    close(wt.grad, exp)
    assert gradcheck(lambda a: F.embedding(ti(idx), a), [t64(w, True)])


@pytest.mark.parametrize("padding_idx, row", [(2, 2), (-1, 5)])
def test_embedding_padding_idx_starts_at_zero_and_gets_no_gradient(padding_idx, row):
    fg.manual_seed(0)
    m = nn.Embedding(6, 3, padding_idx=padding_idx).double()
    assert m.padding_idx == row
    w = npa(m.weight).copy()
    np.testing.assert_array_equal(w[row], np.zeros(3))
    assert np.all(np.delete(w, row, axis=0) != 0)
    idx = np.array([[row, 1, row], [4, 1, 0]])
    g = np.random.default_rng(9).normal(size=idx.shape + (3,))
    out = m(ti(idx))
    close(out, w[idx])
    (out * t64(g)).sum().backward()
    exp = np.zeros((6, 3))
    np.add.at(exp, idx, g)
    exp[row] = 0.0
    close(m.weight.grad, exp)


def test_functional_embedding_negative_padding_idx_counts_from_the_end():
    # PyTorch's F.embedding normalises padding_idx=-1 to weight.size(0) - 1
    w = t64(np.arange(8.0).reshape(4, 2), grad=True)
    F.embedding(ti([3, 0, 3]), w, padding_idx=-1).sum().backward()
    close(w.grad, [[1, 1], [0, 0], [0, 0], [0, 0]])


@pytest.mark.parametrize("freeze", [True, False])
def test_embedding_from_pretrained(freeze):
    w = np.random.default_rng(10).normal(size=(4, 3))
    m = nn.Embedding.from_pretrained(t64(w), freeze=freeze)
    assert (m.num_embeddings, m.embedding_dim, m.padding_idx) == (4, 3, None)
    assert m.weight.requires_grad is (not freeze)
    assert isinstance(m.weight, nn.Parameter)
    np.testing.assert_array_equal(npa(m.weight), w)
    out = m(ti([1, 3]))
    close(out, w[[1, 3]])
    assert out.requires_grad is (not freeze)
    if not freeze:
        out.sum().backward()
        close(m.weight.grad, [[0, 0, 0], [1, 1, 1], [0, 0, 0], [1, 1, 1]])


def test_embedding_from_pretrained_padding_idx_keeps_the_row_but_blocks_its_gradient():
    w = np.random.default_rng(11).normal(size=(4, 2))
    m = nn.Embedding.from_pretrained(t64(w), freeze=False, padding_idx=1)
    np.testing.assert_array_equal(npa(m.weight), w)  # PyTorch does not zero a pretrained row
    m(ti([1, 2, 1])).sum().backward()
    close(m.weight.grad, [[0, 0], [0, 0], [1, 1], [0, 0]])


def test_embedding_default_init_is_standard_normal():
    fg.manual_seed(1)
    w = npa(nn.Embedding(200, 50).weight)
    assert abs(w.mean()) < 0.05 and abs(w.std() - 1) < 0.05


# ---- bad inputs ---------------------------------------------------------------------------

W43 = fg.zeros(4, 3)
BAD = [
    ("embedding index == num_embeddings", lambda: F.embedding(ti([0, 4]), W43), IndexError, r"4"),
    ("embedding negative index", lambda: F.embedding(ti([-1, 0]), W43), IndexError, r"-1"),
    ("Embedding module index out of range", lambda: nn.Embedding(3, 2)(ti([[3]])), IndexError, r"out of range"),
    ("embedding float indices", lambda: F.embedding(fg.tensor([0.0, 1.0]), W43), RuntimeError, r"int64"),
    ("embedding bool indices", lambda: F.embedding(fg.tensor([True]), W43), RuntimeError, r"int64"),
    ("Embedding padding_idx too large", lambda: nn.Embedding(3, 2, padding_idx=3), ValueError, r"[Pp]adding_idx"),
    ("Embedding padding_idx too small", lambda: nn.Embedding(3, 2, padding_idx=-4), ValueError, r"[Pp]adding_idx"),
    ("layer_norm trailing shape mismatch", lambda: F.layer_norm(fg.zeros(2, 3), (4,)), RuntimeError, r"normalized_shape"),
    ("LayerNorm module shape mismatch", lambda: nn.LayerNorm((3, 2))(fg.zeros(2, 3)), RuntimeError, r"normalized_shape"),
    ("layer_norm weight shape", lambda: F.layer_norm(fg.zeros(2, 3), (3,), fg.ones(2)), RuntimeError, r"weight"),
    ("group_norm groups do not divide C", lambda: F.group_norm(fg.zeros(2, 6, 3), 4), RuntimeError, r"divisible by num_groups"),
    ("group_norm 1-D input", lambda: F.group_norm(fg.zeros(6), 2), ValueError, r"\(N, C, \*\)"),
    ("GroupNorm groups do not divide C", lambda: nn.GroupNorm(4, 6), ValueError, r"divisible by num_groups"),
]


@pytest.mark.parametrize("name, call, exc, match", BAD, ids=[b[0] for b in BAD])
def test_bad_input_raises(name, call, exc, match):
    with pytest.raises(exc, match=match):
        call()
