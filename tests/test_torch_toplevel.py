"""PyTorch's top-level names that scripts use around the model: constants, torch.compile,
set_printoptions, the matmul-precision and inter-op settings, seed, the signal windows and a few
factories, and the top-level forms of layer functions. Windows are checked against their
formulas in float64 and, where PyTorch is installed, against it; printed forms against PyTorch's,
printed by it for the same values (PyTorch 2.15)."""

import math

import ferrograd as fg
import numpy as np
import pytest


def test_constants():
    assert (fg.pi, fg.e, fg.inf) == (math.pi, math.e, math.inf) and math.isnan(fg.nan) and fg.newaxis is None
    assert fg.ones(3)[fg.newaxis].shape == (1, 3)


def test_compile_returns_the_model_and_works_as_a_decorator():
    m = fg.nn.Linear(2, 2)
    assert fg.compile(m) is m and fg.compile(m, mode="reduce-overhead", fullgraph=True) is m

    @fg.compile
    def f(x):
        return x * 2

    @fg.compile(mode="max-autotune")
    def g(x):
        return x + 1

    assert f(fg.ones(1)).item() == 2 and g(fg.ones(1)).item() == 2
    before = m(fg.ones(2))
    assert m.compile(mode="max-autotune") is None and fg.equal(m(fg.ones(2)), before)  # Module.compile, in place


# (values, PyTorch's repr): printed by PyTorch 2.15 with torch.tensor(values).
REPRS = [([0.0, 0.5, 1.0], "tensor([0.0000, 0.5000, 1.0000])"), ([1.0, 2.0], "tensor([1., 2.])"),
         ([1.5, float("nan")], "tensor([1.5000,    nan])"), ([0.1, 0.25], "tensor([0.1000, 0.2500])"),
         ([1e-5, 1.0], "tensor([1.0000e-05, 1.0000e+00])"), ([123456.0, 0.5], "tensor([1.2346e+05, 5.0000e-01])"),
         ([1e10, 1.0], "tensor([1.0000e+10, 1.0000e+00])"), ([1.0, 2000.0], "tensor([1.0000e+00, 2.0000e+03])"),
         ([-0.5, 2.25], "tensor([-0.5000,  2.2500])"), ([1e8], "tensor([100000000.])"),
         ([1.5, float("nan")], "tensor([1.5000,    nan])"), ([float("inf"), 1.0], "tensor([inf, 1.])"), ([[0.5, 1.0], [2.0, 3.0]], "tensor([[0.5000, 1.0000],\n        [2.0000, 3.0000]])")]


@pytest.mark.parametrize("values, expected", REPRS)
def test_float_tensors_print_as_pytorch_prints_them(values, expected):
    assert repr(fg.tensor(values)) == expected


def test_set_printoptions():
    try:
        fg.set_printoptions(precision=2)
        assert repr(fg.tensor([1.23456, 2.0])) == "tensor([1.23, 2.00])"
        fg.set_printoptions(profile="default")
        assert repr(fg.tensor([1.23456, 2.0])) == "tensor([1.2346, 2.0000])"
        fg.set_printoptions(threshold=5)
        assert repr(fg.arange(10.0)) == "tensor([0., 1., 2.,  ..., 7., 8., 9.])"
        fg.set_printoptions(profile="default", sci_mode=True)
        assert repr(fg.tensor([1.5])) == "tensor([1.5000e+00])"
        fg.set_printoptions(sci_mode=None)
        fg.set_printoptions(profile="default", sci_mode=False)
        assert repr(fg.tensor([1e10, 1.5])) == "tensor([10000000000.0000,           1.5000])"
        fg.set_printoptions(profile="default", sci_mode=None, precision=0)
        assert repr(fg.tensor([0.5, 1.25])) == "tensor([0, 1])"
        fg.set_printoptions(profile="full")
        assert "..." not in repr(fg.arange(2000))
        with pytest.raises(ValueError):
            fg.set_printoptions(profile="long")
    finally:
        fg.set_printoptions(profile="default")


def test_runtime_settings_are_kept_and_checked():
    assert fg.get_float32_matmul_precision() == "highest"
    try:
        fg.set_float32_matmul_precision("high")
        assert fg.get_float32_matmul_precision() == "high"
        with pytest.raises(RuntimeError):
            fg.set_float32_matmul_precision("low")
    finally:
        fg.set_float32_matmul_precision("highest")
    fg.set_num_interop_threads(fg.get_num_interop_threads())
    with pytest.raises(RuntimeError):
        fg.set_num_interop_threads(0)
    assert fg.get_default_device() == fg.device("cpu")
    fg.set_default_device("cpu")
    with pytest.raises(RuntimeError):
        fg.set_default_device("cuda")


def test_seed_reseeds_the_global_generator():
    s = fg.seed()
    assert fg.initial_seed() == s
    a = fg.rand(4)
    fg.manual_seed(s)
    assert fg.equal(a, fg.rand(4))


def _formula(name, n_len, periodic, **kw):
    if n_len <= 1:
        return np.ones(n_len)
    n = np.arange(n_len, dtype=np.float64)
    N = n_len if periodic else n_len - 1
    x = 2 * np.pi * n / N
    return {"hann_window": lambda: 0.5 - 0.5 * np.cos(x),
            "hamming_window": lambda: 0.54 - 0.46 * np.cos(x),
            "blackman_window": lambda: 0.42 - 0.5 * np.cos(x) + 0.08 * np.cos(2 * x),
            "bartlett_window": lambda: 1 - np.abs(2 * n / N - 1),
            "kaiser_window": lambda: np.i0(12.0 * np.sqrt(1 - (2 * n / N - 1) ** 2)) / np.i0(12.0)}[name]()


WINDOWS = ["hann_window", "hamming_window", "blackman_window", "bartlett_window", "kaiser_window"]


@pytest.mark.parametrize("name", WINDOWS)
@pytest.mark.parametrize("n_len", [0, 1, 2, 7, 64])
@pytest.mark.parametrize("periodic", [True, False])
def test_windows_follow_their_formulas(name, n_len, periodic):
    w = getattr(fg, name)(n_len, periodic, dtype=fg.float64)
    assert w.dtype == fg.float64 and w.shape == (n_len,)
    np.testing.assert_allclose(w.numpy(), _formula(name, n_len, periodic), rtol=1e-12, atol=1e-15)
    assert getattr(fg, name)(n_len).dtype == fg.float32


@pytest.mark.parametrize("name", WINDOWS)
def test_windows_match_pytorch(name):
    torch = pytest.importorskip("torch")
    for n_len, periodic in [(1, True), (8, True), (9, False), (400, True)]:
        ours, theirs = getattr(fg, name)(n_len, periodic), getattr(torch, name)(n_len, periodic)
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=2e-6, atol=2e-7)


def test_windows_refuse_integer_dtypes_and_negative_lengths():
    with pytest.raises(RuntimeError, match="floating point"):
        fg.hann_window(4, dtype=fg.int64)
    with pytest.raises(RuntimeError, match="non-negative"):
        fg.hann_window(-1)


def test_logspace_and_small_factories():
    np.testing.assert_allclose(fg.logspace(0, 2, 3).numpy(), [1.0, 10.0, 100.0])
    np.testing.assert_allclose(fg.logspace(0, 3, 4, base=2, dtype=fg.float64).numpy(), [1.0, 2.0, 4.0, 8.0])
    r = fg.randint_like(fg.ones(50, dtype=fg.int32), 3, 7)
    assert r.dtype == fg.int32 and r.shape == (50,) and 3 <= r.min().item() and r.max().item() < 7
    assert fg.randint_like(fg.ones(3), 5).dtype == fg.float32
    e = fg.empty_strided((2, 3), (3, 1))
    assert e.shape == (2, 3) and e.abs().sum().item() == 0 and e.is_contiguous()
    # The strides are kept, as PyTorch's: a column-major (2, 3) and one with gaps between rows.
    t = fg.empty_strided((2, 3), (1, 2), dtype=fg.float64, requires_grad=True)
    assert t.stride() == (1, 2) and not t.is_contiguous() and t.dtype == fg.float64 and t.is_leaf and t.requires_grad
    g = fg.empty_strided((2, 2), (4, 1))
    assert g.stride() == (4, 1) and g.shape == (2, 2) and g.abs().sum().item() == 0
    g.fill_(1.0)
    assert g.sum().item() == 4.0
    assert fg.ones(2, dtype=fg.int32).new_empty_strided((3, 2), (1, 3)).stride() == (1, 3)
    assert fg.empty_strided((0, 3), (3, 1)).shape == (0, 3)
    with pytest.raises(RuntimeError, match="mismatch in length"):
        fg.empty_strided((2, 3), (1,))
    with pytest.raises(TypeError, match="stride"):
        fg.empty_strided((2,), (1.5,))
    s = fg.scalar_tensor(3)
    assert s.shape == () and s.dtype == fg.float32 and s.item() == 3.0
    assert fg.scalar_tensor(2**40, dtype=fg.int64).item() == 2**40


def test_asarray_shares_what_it_can():
    a = np.ones(3, np.float32)
    t = fg.asarray(a)
    a[0] = 5
    assert t[0].item() == 5  # shares the array's memory
    assert fg.asarray(a, copy=True)[0].item() == 5 and not np.shares_memory(a, fg.asarray(a, copy=True).numpy())
    x = fg.ones(2)
    assert fg.asarray(x) is x and fg.asarray(x, copy=True) is not x
    assert fg.asarray([1, 2]).dtype == fg.int64 and fg.asarray([1.0]).dtype == fg.float32
    with pytest.raises(ValueError, match="copy=False"):
        fg.asarray([1, 2], copy=False)
    with pytest.raises(ValueError, match="copy=False"):
        fg.asarray(x, dtype=fg.float64, copy=False)


def test_top_level_layer_functions_are_nn_functionals():
    F = fg.nn.functional
    x, w = fg.randn(1, 4, 8, 8), fg.randn(3, 4, 3, 3)
    assert fg.equal(fg.conv2d(x, w, None, 1, 1), F.conv2d(x, w, None, 1, 1))
    assert fg.equal(fg.max_pool2d(x, 2), F.max_pool2d(x, 2))
    assert fg.pixel_shuffle(fg.randn(1, 4, 2, 2), 2).shape == (1, 1, 4, 4)
    for name in ["conv1d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d", "cosine_similarity",
                 "pairwise_distance", "pixel_unshuffle", "channel_shuffle", "selu", "celu", "max_pool1d", "max_pool3d",
                 "avg_pool1d", "adaptive_avg_pool1d"]:
        assert getattr(fg, name) is getattr(F, name)
