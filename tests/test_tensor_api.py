"""Tensor creation, dtypes, conversion, repr and the device API."""

import pickle

import ferrograd as fg
import numpy as np
import pytest


@pytest.mark.parametrize(
    "data,dtype",
    [
        (1.5, fg.float32),
        ([1.0, 2.0], fg.float32),
        ([1, 2], fg.int64),
        ([True, False], fg.bool),
        (np.array([1.0], dtype=np.float64), fg.float64),
        (np.array([1.0], dtype=np.float32), fg.float32),
        (np.array([1], dtype=np.int32), fg.int32),
        (np.array([1], dtype=np.uint8), fg.uint8),
        (np.array([1], dtype=np.int8), fg.int8),
        (np.array([1], dtype=np.int16), fg.int16),
        (np.array([1], dtype=np.uint16), fg.int64),  # ferrograd has no uint16
        (np.array([True]), fg.bool),
        (np.array([1.0], dtype=np.float16), fg.float16),
    ],
)
def test_tensor_dtype_inference_matches_pytorch(data, dtype):
    t = fg.tensor(data)
    assert t.dtype == dtype
    np.testing.assert_array_equal(t.numpy(), np.asarray(data).astype(t.numpy().dtype))


def test_scalar_tensor_is_zero_dimensional():
    t = fg.tensor(2.5)
    assert t.shape == () and t.ndim == 0 and t.numel() == 1 and t.item() == 2.5


def test_numpy_round_trip_keeps_values_and_shape():
    a = np.random.default_rng(0).standard_normal((3, 4, 5))
    t = fg.from_numpy(a)
    assert t.shape == (3, 4, 5) and t.size() == (3, 4, 5) and t.size(1) == 4 and len(t) == 3
    np.testing.assert_array_equal(t.numpy(), a)
    np.testing.assert_array_equal(np.asarray(t), a)
    # non-contiguous numpy input
    np.testing.assert_array_equal(fg.from_numpy(a.transpose(2, 0, 1)).numpy(), a.transpose(2, 0, 1))


@pytest.mark.parametrize("view", ["T", "fortran", "reversed", "stepped", "fortran_3d", "float32_T", "int64_T", "bool_T"])
def test_numpy_input_in_any_memory_order_keeps_its_logical_values(view):
    # A Fortran-ordered array (`w.T` of a C array) is contiguous too, in the other order: its
    # memory must not be taken as row-major (it once was, silently transposing the values).
    w = np.random.default_rng(1).uniform(-2, 2, (5, 3))
    a = {
        "T": w.T, "fortran": np.asfortranarray(w), "reversed": w[::-1], "stepped": w[::2, ::-1],
        "fortran_3d": np.asfortranarray(np.arange(24.0).reshape(2, 3, 4)),
        "float32_T": w.astype(np.float32).T, "int64_T": np.arange(15).reshape(5, 3).T, "bool_T": (w > 0).T,
    }[view]
    if view in ("reversed", "stepped"):  # negative strides: from_numpy refuses them, as PyTorch's
        with pytest.raises(ValueError, match="negative"):
            fg.from_numpy(a)
    for t in (fg.tensor(a), fg.as_tensor(a)) + (() if view in ("reversed", "stepped") else (fg.from_numpy(a),)):
        assert t.shape == a.shape
        np.testing.assert_array_equal(t.numpy(), a)


def test_tensor_copies_its_input():
    a = np.zeros(3, dtype=np.float32)
    t = fg.tensor(a)
    a[0] = 5
    assert t.numpy()[0] == 0


def test_item_tolist_and_python_conversions():
    t = fg.tensor([[1, 2], [3, 4]])
    assert t.tolist() == [[1, 2], [3, 4]]
    assert isinstance(fg.tensor([3]).item(), int)
    assert isinstance(fg.tensor([True]).item(), bool)
    assert float(fg.tensor(2.5)) == 2.5 and int(fg.tensor(7)) == 7
    assert [1, 2, 3][fg.tensor(1)] == 2  # __index__


@pytest.mark.parametrize("conv,dtype", [("float", fg.float32), ("double", fg.float64), ("long", fg.int64), ("bool", fg.bool)])
def test_dtype_conversions(conv, dtype):
    t = getattr(fg.tensor([0.0, 1.5, -2.0]), conv)()
    assert t.dtype == dtype
    np.testing.assert_array_equal(t.numpy(), np.array([0.0, 1.5, -2.0]).astype(t.numpy().dtype))


def test_to_accepts_dtype_device_and_tensor():
    t = fg.tensor([1.0])
    assert t.to(fg.float64).dtype == fg.float64
    assert t.to("cpu") is t or t.to("cpu").dtype == fg.float32
    assert t.to(fg.device("cpu"), fg.float64).dtype == fg.float64
    assert t.to(fg.tensor([1])).dtype == fg.int64
    assert t.to(dtype=fg.float64).dtype == fg.float64
    assert t.cpu().device == fg.device("cpu") and str(t.device) == "cpu"
    assert not fg.cuda.is_available()


def test_factories_shapes_dtypes_and_values():
    assert fg.zeros(2, 3).shape == (2, 3) and fg.zeros((2, 3)).numpy().sum() == 0
    assert fg.ones([4]).numpy().tolist() == [1.0] * 4
    assert fg.full((2,), 7).dtype == fg.int64 and fg.full((2,), 7.0).numpy().tolist() == [7.0, 7.0]
    np.testing.assert_array_equal(fg.arange(5).numpy(), np.arange(5))
    assert fg.arange(5).dtype == fg.int64 and fg.arange(0.0, 1.0, 0.25).dtype == fg.float32
    np.testing.assert_allclose(fg.arange(0, 1, 0.1).numpy(), np.arange(0, 1, 0.1, dtype=np.float32), rtol=1e-6)
    # PyTorch's linspace in float32 (one fused multiply-add per value): its middle is -3e-8, not 0.
    np.testing.assert_allclose(fg.linspace(-1, 1, 7).numpy(), np.linspace(-1, 1, 7), rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(fg.eye(3, 4).numpy(), np.eye(3, 4))
    x = fg.ones(2, 3, dtype=fg.float64, requires_grad=True)
    assert x.requires_grad and x.dtype == fg.float64
    for like in (fg.zeros_like, fg.ones_like, fg.empty_like, fg.rand_like, fg.randn_like):
        y = like(x)
        assert y.shape == x.shape and y.dtype == fg.float64 and not y.requires_grad


def test_manual_seed_repeats_random_tensors_exactly():
    fg.manual_seed(123)
    a = [fg.rand(1000).numpy(), fg.randn(3, 3).numpy(), fg.randint(0, 10, (50,)).numpy(), fg.randperm(20).numpy()]
    fg.manual_seed(123)
    b = [fg.rand(1000).numpy(), fg.randn(3, 3).numpy(), fg.randint(0, 10, (50,)).numpy(), fg.randperm(20).numpy()]
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    fg.manual_seed(124)
    assert not np.array_equal(fg.rand(1000).numpy(), a[0])


def test_rng_state_round_trip():
    fg.manual_seed(5)
    fg.rand(3)
    state = fg.get_rng_state()
    x = fg.randn(10).numpy()
    fg.set_rng_state(state)
    np.testing.assert_array_equal(fg.randn(10).numpy(), x)


def test_random_distributions_have_the_right_moments():
    fg.manual_seed(0)
    u = fg.rand(200_000, dtype=fg.float64).numpy()
    n = fg.randn(200_000, dtype=fg.float64).numpy()
    r = fg.randint(3, 7, (100_000,)).numpy()
    assert 0 <= u.min() and u.max() < 1 and abs(u.mean() - 0.5) < 0.005 and abs(u.var() - 1 / 12) < 0.002
    assert abs(n.mean()) < 0.01 and abs(n.std() - 1) < 0.01
    assert set(np.unique(r)) == {3, 4, 5, 6}
    assert sorted(fg.randperm(100).numpy().tolist()) == list(range(100))


def test_repr_matches_pytorch_format():
    assert repr(fg.tensor([1.0, 2.0])) == "tensor([1., 2.])"
    assert repr(fg.tensor([1, 2])) == "tensor([1, 2])"
    assert repr(fg.tensor([1.0], requires_grad=True)) == "tensor([1.], requires_grad=True)"
    assert repr(fg.tensor([1.0], dtype=fg.float64)) == "tensor([1.], dtype=ferrograd.float64)"
    assert repr(fg.tensor([True])) == "tensor([True])"
    x = fg.tensor([1.0], requires_grad=True)
    assert repr(x * 2) == "tensor([2.], grad_fn=<MulBackward0>)"


def test_views_share_storage_with_the_base():
    base = fg.zeros(3, 4)
    v = base.t()[1]
    v.fill_(5.0)
    assert base.numpy()[:, 1].tolist() == [5.0, 5.0, 5.0]
    base.reshape(12)[0:2].add_(1.0)
    assert base.numpy()[0, :2].tolist() == [1.0, 6.0]


def test_pickle_round_trip():
    t = fg.tensor([[1.0, 2.0]], requires_grad=True)
    u = pickle.loads(pickle.dumps(t))
    assert u.requires_grad and u.detach().numpy().tolist() == [[1.0, 2.0]]


def test_tensor_is_hashable_and_usable_in_sets():
    a, b = fg.ones(1), fg.ones(1)
    assert len({a, b}) == 2


def test_iteration_yields_rows():
    rows = list(fg.arange(6).reshape(3, 2))
    assert [r.tolist() for r in rows] == [[0, 1], [2, 3], [4, 5]]


def test_memory_counters_track_live_tensor_bytes_and_the_graph():
    import gc

    gc.collect()
    base = fg.memory_allocated()
    x = fg.ones(1000, 1000)  # 4 MB
    assert fg.memory_allocated() - base == 4_000_000
    del x
    gc.collect()
    assert fg.memory_allocated() == base
    w = fg.randn(500, 500, requires_grad=True)
    start = fg.memory_allocated()
    with fg.no_grad():
        y = ((w * 2).exp() * 3).sum()
    assert fg.memory_allocated() - start < 100  # only the scalar result survives
    del y
    y = ((w * 2).exp() * 3).sum()
    held = fg.memory_allocated() - start  # ExpBackward keeps exp's output for backward
    assert held >= 500 * 500 * 4
    y.backward()
    del y
    gc.collect()
    assert 500 * 500 * 4 <= fg.memory_allocated() - start < 500 * 500 * 4 + 100  # graph freed; w.grad remains
    fg.reset_peak_memory_stats()
    assert fg.max_memory_allocated() == fg.memory_allocated()


@pytest.mark.parametrize("np_dtype, fg_dtype", [(">f4", fg.float32), (">f8", fg.float64), (">i8", fg.int64), (">i4", fg.int32),
                                                (np.longlong, fg.int64), (np.intc, fg.int32), (np.uint16, fg.int64)])
def test_tensor_of_any_byte_order_or_alias_takes_the_values(np_dtype, fg_dtype):
    # The dtype is matched in C against ferrograd's own (not by its name): a big-endian array
    # keeps its dtype in native order (PyTorch refuses it), an alias of a native dtype is that dtype.
    a = np.arange(-2, 4).astype(np_dtype) if np.dtype(np_dtype).kind != "u" else np.arange(6).astype(np_dtype)
    t = fg.tensor(a)
    assert t.dtype == fg_dtype and t.tolist() == a.tolist()
