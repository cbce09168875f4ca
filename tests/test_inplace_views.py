"""In-place ops on views of tensors in the graph (PyTorch's CopySlices): the base's history is
rewritten, so gradients through the base, the view and every other view of it are right. Checked
against float64 finite differences (gradcheck, gradgradcheck), closed forms, and PyTorch when it
is installed."""

import ferrograd as fg
import numpy as np
import pytest
from ferrograd.autograd import gradcheck, gradgradcheck


def leaf(*shape, seed=0):
    rng = np.random.default_rng(seed)
    return fg.tensor(rng.standard_normal(shape), dtype=fg.float64, requires_grad=True)


# ----------------------------------------------------------------------------- the issue's example


def test_issue_example_add_to_a_column():
    a = leaf(3, 4)
    x = a * 2
    x[:, 0] += 1
    x.sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), np.full((3, 4), 2.0))
    np.testing.assert_allclose(x.detach().numpy(), a.detach().numpy() * 2 + np.eye(1, 4).repeat(3, 0))


def test_multiplying_a_column_scales_its_gradient():
    a = leaf(3, 4)
    x = a * 2
    x[:, 0] *= 3
    (x * x).sum().backward()
    expected = 2 * x.detach().numpy() * 2  # d(x^2)/dx * dx/da, the column has dx/da = 6
    expected[:, 0] *= 3
    np.testing.assert_allclose(a.grad.numpy(), expected)


def test_grad_fn_names_as_pytorch():
    a = leaf(3, 4)
    x = a * 2
    v = x[1]
    v.mul_(3)
    assert x.grad_fn.name() == "CopySlices"
    assert v.grad_fn.name() == "AsStridedBackward0"
    assert not x.is_leaf and not v.is_leaf


# ----------------------------------------------------------------------------- finite differences


def _slice_mul(a, w):
    x = a * 1.5
    x[:, 1:3].mul_(w)
    return (x * x.sin()).sum()


def _select_add_then_exp(a, w):
    x = a.sin()  # (not exp: exp saves its output, which the writes below would change)
    x[0].add_(w * w)
    v = x[1:]
    v[0].exp_()
    return x.sum() + (x[2] * w).sum()


def _chain_of_views(a, w):
    x = a * 1.0
    v = x.view(-1)[2:8].view(2, 3)
    v.t()[1].copy_(w[:2])
    return (x * x).sum()


def _index_assign_mask(a, w):
    x = a * 2
    m = fg.tensor([[True, False, True, False]] * 3)
    x[m] = w.repeat(2)[: int(m.sum())]
    return (x**2).sum()


def _index_assign_into_view(a, w):
    x = a + 0
    row = x[1]
    row[fg.tensor([0, 2])] = w[:2] * 3
    return (x * a).sum()


CASES = {
    "slice_mul": (_slice_mul, (3, 4), (3, 2)),
    "select_add_then_exp": (_select_add_then_exp, (3, 4), (4,)),
    "chain_of_views": (_chain_of_views, (3, 4), (3,)),
    "index_assign_mask": (_index_assign_mask, (3, 4), (3,)),
    "index_assign_into_view": (_index_assign_into_view, (3, 4), (3,)),
}


@pytest.mark.parametrize("name", CASES)
def test_gradcheck(name):
    fn, sa, sw = CASES[name]
    assert gradcheck(fn, (leaf(*sa, seed=1), leaf(*sw, seed=2)))


@pytest.mark.parametrize("name", ["slice_mul", "select_add_then_exp", "chain_of_views", "index_assign_into_view"])
def test_gradgradcheck(name):
    fn, sa, sw = CASES[name]
    assert gradgradcheck(fn, (leaf(*sa, seed=3), leaf(*sw, seed=4)))


# ----------------------------------------------------------------------------- bases off the graph


def test_assigning_into_a_buffer_gives_it_a_history():
    x = leaf(2, 3)
    buf = fg.zeros(4, 3, dtype=fg.float64)
    buf[1:3] = x * 2
    assert buf.requires_grad and buf.grad_fn.name() == "CopySlices"
    (buf * fg.arange(12, dtype=fg.float64).reshape(4, 3)).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), 2 * np.arange(3, 9).reshape(2, 3))


def test_strided_base_from_numpy():
    arr = np.zeros((4, 3)).T  # a transposed (non-contiguous) array: the base is strided
    buf = fg.from_numpy(arr)
    w = leaf(4)
    buf[1].copy_(w)
    (buf * buf).sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), 2 * w.detach().numpy())
    np.testing.assert_allclose(arr[1], w.detach().numpy())  # written through the shared memory


# ----------------------------------------------------------------------------- other views


def test_a_view_taken_before_the_base_changed_in_place_sees_the_change():
    a = leaf(3, 4)
    x = a * 1.0
    v = x[0]
    x.mul_(2)  # in place on the base: v's values doubled
    v.sum().backward()
    expected = np.zeros((3, 4))
    expected[0] = 2
    np.testing.assert_array_equal(a.grad.numpy(), expected)


def test_sibling_views_after_a_write_through_one_of_them():
    a = leaf(2, 4)
    x = a * 1.0
    left, overlap = x[:, :2], x[:, 1:3]
    left.mul_(5)
    # overlap[:, 0] is x[:, 1], which the write changed; overlap[:, 1] is untouched.
    overlap.sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), np.array([[0, 5, 1, 0]] * 2, dtype=float))


def test_view_made_before_the_buffer_joined_the_graph():
    w = leaf(2)
    buf = fg.zeros(4, dtype=fg.float64)
    early = buf[1:3]  # made while buf had no history
    buf[:2] = w
    assert early.requires_grad
    (early * 3).sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), [0.0, 3.0])


def test_retain_grad_follows_the_base_onto_its_new_history():
    a = leaf(2, 3)
    x = a * 2
    x.retain_grad()
    x[0].mul_(3)
    (x * 4).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.full((2, 3), 4.0))


# ----------------------------------------------------------------------------- what stays refused


def test_saved_tensor_changed_through_a_view_is_caught():
    a = leaf(3)
    x = a * 1.0
    y = x.sin()  # saves x
    x[0] += 1
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()


def test_view_of_a_leaf_that_requires_grad():
    w = leaf(3)
    with pytest.raises(RuntimeError, match="a view of a leaf Variable that requires grad"):
        w[0] += 1
    with fg.no_grad():
        w[0] += 1  # allowed off the graph, as PyTorch


def test_view_made_under_no_grad_modified_with_grad_mode_on():
    a = leaf(3)
    x = a * 2
    with fg.no_grad():
        v = x[:2]
    with pytest.raises(RuntimeError, match="created in no_grad mode"):
        v.mul_(a[:2])


def test_output_of_a_function_aliasing_its_input():
    class Identity(fg.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x.view_as(x)

        @staticmethod
        def backward(ctx, g):
            return g

    a = leaf(3)
    y = Identity.apply(a * 2)
    with pytest.raises(RuntimeError, match="Output 0 of IdentityBackward is a view and is being modified inplace"):
        y.add_(1)


# ----------------------------------------------------------------------------- layers with inplace=True


@pytest.mark.parametrize("layer", [fg.nn.ReLU(inplace=True), fg.nn.LeakyReLU(0.2, inplace=True), fg.nn.Hardtanh(inplace=True), fg.nn.ELU(inplace=True)])
def test_inplace_activation_on_a_view(layer):
    a = leaf(3, 4)
    x = a * 1.0
    out = layer(x[:, 1:])
    assert out.data_ptr() == x[:, 1:].data_ptr()
    (x * fg.arange(12, dtype=fg.float64).reshape(3, 4)).sum().backward()
    got = a.grad.numpy().copy()

    a.grad = None
    layer.inplace = False
    ref = fg.cat([a[:, :1] * 1.0, layer(a[:, 1:] * 1.0)], dim=1)
    (ref * fg.arange(12, dtype=fg.float64).reshape(3, 4)).sum().backward()
    layer.inplace = True
    np.testing.assert_allclose(got, a.grad.numpy())


def test_inplace_dropout_on_a_view_matches_its_mask():
    fg.manual_seed(0)
    a = leaf(4, 6)
    x = a * 1.0
    v = x[1:3]
    fg.nn.functional.dropout(v, 0.5, training=True, inplace=True)
    kept = (v.detach() != 0).numpy()
    x.sum().backward()
    expected = np.ones((4, 6))
    expected[1:3] = kept * 2.0
    np.testing.assert_array_equal(a.grad.numpy(), expected)


# ----------------------------------------------------------------------------- against PyTorch


def _scenarios(lib):
    """The same in-place-on-view programs for ferrograd and PyTorch; returns the leaves' grads."""
    out = {}
    rng = np.random.default_rng(7)
    A, W = rng.standard_normal((4, 5)), rng.standard_normal(5)

    def leaves():
        return lib.tensor(A, dtype=lib.float64, requires_grad=True), lib.tensor(W, dtype=lib.float64, requires_grad=True)

    a, w = leaves()
    x = a * 2
    x[:, 0] += 1
    x[1].mul_(w)
    x[2:, 1:3].exp_()
    (x * x).sum().backward()
    out["mixed"] = (a.grad.numpy(), w.grad.numpy())

    a, w = leaves()
    x = a.sin() * 1.0  # (tanh would save its output, which the writes below change)
    v = x.t()[1:4]
    v[0].copy_(w[:4])
    x[x > 0.5] = 0.25
    (x.cos() * a).sum().backward()
    out["transposed_copy_and_mask"] = (a.grad.numpy(), w.grad.numpy())

    a, w = leaves()
    x = a * 1
    s = x[1:3]
    x.add_(w)  # the base, with a view alive
    (s * s).sum().backward()
    out["stale_view"] = (a.grad.numpy(), w.grad.numpy())

    a, w = leaves()
    x = a * 1
    g = lib.autograd.grad((x * x).sum(), a, create_graph=True)[0]
    g[0].mul_(w)
    (g * g).sum().backward()
    out["double_backward"] = (a.grad.numpy(), w.grad.numpy())
    return out


def test_matches_pytorch():
    torch = pytest.importorskip("torch")
    ours, theirs = _scenarios(fg), _scenarios(torch)
    for name in theirs:
        for o, t in zip(ours[name], theirs[name]):
            np.testing.assert_allclose(o, t, rtol=1e-12, atol=1e-12, err_msg=name)


# ----------------------------------------------------------------------------- as_strided on the graph


def _sliding_windows(a):
    x = a * 1.0
    w = x.as_strided((4, 3), (2, 1))  # overlapping windows of a length-9 signal
    return (w.sin() * fg.arange(12, dtype=fg.float64).reshape(4, 3)).sum()


def test_as_strided_gradcheck_with_overlapping_windows():
    assert gradcheck(_sliding_windows, (leaf(9, seed=5),))
    assert gradgradcheck(_sliding_windows, (leaf(9, seed=6),))


def test_as_strided_matches_pytorch():
    torch = pytest.importorskip("torch")
    values = np.random.default_rng(3).standard_normal(12)

    def run(lib):
        a = lib.tensor(values, dtype=lib.float64, requires_grad=True)
        x = (a * 2).reshape(3, 4).t()
        y = x.as_strided((2, 5), (1, 2), 1)
        (y.exp() * y).sum().backward()
        return a.grad.numpy()

    np.testing.assert_allclose(run(fg), run(torch), rtol=1e-12)


def test_as_strided_outside_the_tensor_is_refused_on_the_graph():
    a = leaf(6)
    x = (a * 1.0)[2:]
    with pytest.raises(RuntimeError, match="reaches memory outside the tensor"):
        x.as_strided((2,), (1,), 0)


# ----------------------------------------------------------------------------- diagonal and unfold are views


def test_diagonal_and_unfold_write_through_to_their_base():
    """`cov.diagonal().add_(eps)` and `x.unfold(...).mul_(...)` change the base, as in PyTorch (they
    were copies once, and the write was silently lost)."""
    a = np.arange(24.0).reshape(2, 3, 4)
    x = fg.tensor(a)
    x.diagonal(1, 0, 2).add_(100.0)
    expected = a.copy()
    for j in range(3):
        for i in range(2):
            expected[i, j, i + 1] += 100.0
    np.testing.assert_array_equal(x.numpy(), expected)
    y = fg.zeros(6)
    y.unfold(0, 2, 3).fill_(1.0)  # windows [0, 1] and [3, 4]
    np.testing.assert_array_equal(y.numpy(), [1, 1, 0, 1, 1, 0])
    t = fg.tensor(a).transpose(0, 2)  # a non-contiguous base
    np.testing.assert_array_equal(t.diagonal(-1, 1, 2).numpy(), np.diagonal(a.transpose(2, 1, 0), -1, 1, 2))
    np.testing.assert_array_equal(t.unfold(1, 2, 1).numpy(), np.lib.stride_tricks.sliding_window_view(a.transpose(2, 1, 0), 2, axis=1))
    assert fg.zeros(2, 3).diagonal(5).shape == (0,)
    m = fg.zeros(3, 3)
    fg.diag(m).fill_(1.0)  # diag stays a copy, as PyTorch's
    assert m.sum().item() == 0.0


def test_writes_through_diagonal_and_unfold_reach_the_gradient():
    x = fg.ones(3, 3, dtype=fg.float64, requires_grad=True)
    y = x.clone()
    y.diagonal().mul_(3.0)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), 1 + 2 * np.eye(3))
    x = fg.ones(3, 3, requires_grad=True)
    y = x.clone()
    d = y.diagonal()
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        d.mul_(d)  # d is saved for the product's backward, then written
        y.sum().backward()
    assert gradcheck(lambda t: (t * 1).diagonal(1).sin().sum() + (t * 1).unfold(1, 2, 1).exp().sum(), (leaf(3, 4, seed=7),))
    assert gradgradcheck(lambda t: ((t * 1).unfold(0, 3, 2) ** 2).sum(), (leaf(7, seed=8),))


def test_unfold_and_diagonal_of_overlapping_windows_keep_their_gradient():
    """Patches as `x.unfold(2, k, 1).unfold(3, k, 1)`: the second unfold reads overlapping windows,
    which a view cannot be recorded over, so it copies (and the gradient counts each window)."""
    x = fg.ones(1, 1, 5, 5, requires_grad=True)
    x.unfold(2, 3, 1).unfold(3, 3, 1).sum().backward()
    counts = np.minimum(np.minimum(np.arange(5), np.arange(5)[::-1]) + 1, 3)
    np.testing.assert_array_equal(x.grad[0, 0].numpy(), np.outer(counts, counts))
    y = fg.arange(6.0, requires_grad=True)
    d = (y * 1).unfold(0, 3, 1).diagonal()
    np.testing.assert_array_equal(d.detach().numpy(), [0, 2, 4])
    d.sum().backward()
    np.testing.assert_array_equal(y.grad.numpy(), [1, 0, 1, 0, 1, 0])
    assert gradcheck(lambda t: ((t * 1).unfold(0, 3, 1).unfold(1, 2, 1) ** 2).sum(), (leaf(5, 4, seed=9),))
