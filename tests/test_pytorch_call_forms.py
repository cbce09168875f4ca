"""Call forms and dtype rules of PyTorch that a differential fuzzing run found ferrograd missing or
getting wrong (numpy references; tests/differential/test_diff_call_forms.py replays the same calls
against PyTorch): numpy scalars inside lists, as_tensor sharing memory, stride(dim), reductions
over `dim=()`, integer sums with `dtype=`, `dtype=` on mean/softmax/log_softmax, the varargs
forms of flip and broadcast_to, and integer dtypes kept by rounded division, fmod, where, cumsum,
cumprod and prod."""

from __future__ import annotations

import ferrograd as fg
import numpy as np
import pytest


@pytest.mark.parametrize(
    "data, dtype",
    [
        ([np.float64(0.1), np.float64(0.2)], fg.float64),  # tensor([np.mean(a), ...])
        ((np.float64(1.0),), fg.float64),
        ([[np.float64(1.0)], [2.0]], fg.float64),
        ([np.float32(1.0), 2], fg.float32),  # float beats int whatever their widths
        ([np.float16(1.0), 2.0], fg.float32),  # a Python float is the default dtype
        ([np.float16(1.0), np.int64(3)], fg.float16),
        ([np.int32(3), 5], fg.int64),  # a Python int is int64
        ([np.int8(1), np.uint8(2)], fg.int16),
        ([np.int32(1), np.int32(2)], fg.int32),
        ([fg.tensor(1.0, dtype=fg.float64), 2.0], fg.float64),  # tensors count by their dtype too
        ([fg.tensor(1, dtype=fg.int32), 2], fg.int64),
        ([fg.tensor(1.0, dtype=fg.float16), 2], fg.float16),
        ([0.1, 0.2], fg.float32),  # Python numbers alone: as before
        ([1, 2], fg.int64),
    ],
)
def test_numpy_scalars_in_lists_keep_their_dtype(data, dtype):
    t = fg.tensor(data)
    assert t.dtype == dtype
    plain = [[float(v) for v in x] if isinstance(x, list) else float(x) for x in data]
    np.testing.assert_array_equal(t.numpy(), np.asarray(plain, dtype=t.numpy().dtype))
    if dtype == fg.float64:
        assert t.reshape(-1)[0].item() == np.asarray(plain).reshape(-1)[0]  # not rounded to float32


def test_as_tensor_shares_a_numpy_arrays_memory():
    a = np.zeros(3, np.float32)
    t = fg.as_tensor(a)
    a[0] = 5.0
    assert t[0].item() == 5.0
    b = np.zeros((4, 3))[:, ::2]  # strided: shared with its strides
    s = fg.as_tensor(b, dtype=fg.float64)
    b[1, 1] = 2.0
    assert s[1, 1].item() == 2.0
    c = np.zeros(3)
    copied = fg.as_tensor(c, dtype=fg.float32)  # another dtype: a copy
    c[0] = 1.0
    assert copied[0].item() == 0.0
    r = np.arange(3.0)[::-1]  # negative strides: copied (PyTorch raises)
    np.testing.assert_array_equal(fg.as_tensor(r).numpy(), r)


def test_stride_of_one_dim():
    x = fg.zeros(2, 3, 4).transpose(0, 2)
    assert [x.stride(d) for d in range(3)] == list(x.stride()) == [1, 4, 12]
    assert x.stride(-1) == 12
    with pytest.raises(IndexError):
        x.stride(3)


def test_reductions_over_no_dims():
    a = np.array([[1.0, 0.0], [2.0, np.nan]], np.float32)
    x = fg.tensor(a)
    for dim in ((), []):
        np.testing.assert_array_equal(x.all(dim=dim).numpy(), a != 0)  # nothing reduced
        np.testing.assert_array_equal(x.any(dim=dim).numpy(), a != 0)
        assert fg.count_nonzero(x, dim=dim).item() == 3  # everything counted
    assert x.all().item() is False and x.any().item() is True
    u = fg.tensor((a == a).astype(np.uint8) * 2)  # uint8 answers in uint8, as PyTorch's
    assert u.any().dtype == u.all(1).dtype == u.any(dim=()).dtype == fg.uint8
    np.testing.assert_array_equal(u.all(1).numpy(), [1, 0])  # the NaN row holds a 0


def test_integer_sums_and_the_dtype_argument():
    a = np.array([2**31 - 1, 5, 7], np.int64)
    x = fg.tensor(a)
    s = x.sum(dtype=fg.int32)
    assert s.dtype == fg.int32 and s.item() == int(np.sum(a.astype(np.int32), dtype=np.int32))  # wraps
    assert x.to(fg.int8).sum(dtype=fg.int8).dtype == fg.int8
    for dt in (fg.int8, fg.int16, fg.int32, fg.uint8, fg.bool):
        zero_d = fg.tensor(3, dtype=dt)
        assert zero_d.sum().dtype == fg.int64 and zero_d.sum().item() == (1 if dt == fg.bool else 3)
    assert fg.tensor(3.0).sum().dtype == fg.float32


def test_dtype_argument_of_mean_and_softmax():
    a = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)
    x = fg.tensor(a)
    m = x.mean(dtype=fg.float64)
    assert m.dtype == fg.float64 and m.item() == pytest.approx(a.astype(np.float64).mean(), rel=1e-12)
    np.testing.assert_allclose(x.mean(1, dtype=fg.float64).numpy(), a.astype(np.float64).mean(1), rtol=1e-12)
    e = np.exp(a.astype(np.float64))
    sm = x.softmax(1, dtype=fg.float64)
    assert sm.dtype == fg.float64
    np.testing.assert_allclose(sm.numpy(), e / e.sum(1, keepdims=True), rtol=1e-12)
    np.testing.assert_allclose(x.log_softmax(0, dtype=fg.float64).numpy(), np.log(e / e.sum(0, keepdims=True)), rtol=1e-12)
    h = fg.tensor(a).half()
    assert h.softmax(-1, dtype=fg.float32).dtype == fg.float32


def test_varargs_forms_of_flip_and_broadcast_to():
    a = np.arange(6.0).reshape(2, 3)
    x = fg.tensor(a)
    np.testing.assert_array_equal(x.flip(0, 1).numpy(), a[::-1, ::-1])
    np.testing.assert_array_equal(x.flip((0, 1)).numpy(), a[::-1, ::-1])
    np.testing.assert_array_equal(x.flip(dims=[1]).numpy(), a[:, ::-1])
    np.testing.assert_array_equal(fg.flip(x, [0]).numpy(), a[::-1])
    with pytest.raises(TypeError):
        x.flip()
    assert x[0].broadcast_to(2, 3).shape == (2, 3) and x[0].broadcast_to((4, 3)).shape == (4, 3)
    assert fg.broadcast_to(x[0], size=(2, 3)).shape == (2, 3)


def test_integer_division_and_remainder_keep_the_operands_dtype():
    a, b = np.array([7, -7, 9, -128], np.int8), np.array([2, 2, -4, 3], np.int8)
    x, y = fg.tensor(a), fg.tensor(b)
    trunc = fg.div(x, y, rounding_mode="trunc")
    assert trunc.dtype == fg.int8
    np.testing.assert_array_equal(trunc.numpy(), np.trunc(a.astype(np.float64) / b).astype(np.int8))
    floor = fg.div(x.to(fg.int16), 2, rounding_mode="floor")
    assert floor.dtype == fg.int16
    np.testing.assert_array_equal(floor.numpy(), a.astype(np.int16) // 2)
    r = fg.fmod(x.to(fg.int32), 2)
    assert r.dtype == fg.int32
    np.testing.assert_array_equal(r.numpy(), np.fmod(a.astype(np.int32), 2))
    q = fg.div(fg.tensor([3, -5]), 0.5, rounding_mode="trunc")  # a Python float: the default dtype
    assert q.dtype == fg.float32 and q.tolist() == [6.0, -10.0]


def test_where_numbers_do_not_widen_a_0d_tensor():
    c = fg.tensor([True, False])
    assert fg.where(c, fg.tensor(3, dtype=fg.int32), 2).dtype == fg.int32
    w = fg.where(c, 200, fg.tensor(3, dtype=fg.uint8))
    assert w.dtype == fg.uint8 and w.tolist() == [200, 3]
    with pytest.raises(RuntimeError, match="overflow"):  # as PyTorch: 300 is no uint8
        fg.where(c, 300, fg.tensor(3, dtype=fg.uint8))
    assert fg.where(c, 2, 3).dtype == fg.int64
    assert fg.where(c, 2.5, fg.tensor([3, 4], dtype=fg.int32)).dtype == fg.float32


def test_scans_and_products_in_a_narrower_integer_dtype():
    a = np.array([1, 2, 2**31 - 1], np.int64)
    s = fg.tensor(a).cumsum(0, dtype=fg.int32)
    assert s.dtype == fg.int32
    np.testing.assert_array_equal(s.numpy(), np.cumsum(a.astype(np.int32), dtype=np.int32))
    p = fg.tensor([3, 5, 9]).cumprod(0, dtype=fg.int8)
    np.testing.assert_array_equal(p.numpy(), np.cumprod(np.array([3, 5, 9], np.int8), dtype=np.int8))
    m = fg.tensor([[1, 2], [3, 4]]).prod(1, dtype=fg.int32)
    assert m.dtype == fg.int32 and m.tolist() == [2, 12]
    assert fg.tensor([100, 3], dtype=fg.int8).prod(dtype=fg.int8).item() == int(np.prod(np.array([100, 3], np.int8), dtype=np.int8))
