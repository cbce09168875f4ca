"""Zero-copy interop: from_numpy / .numpy() / np.asarray sharing memory, the buffer protocol,
DLPack with numpy (always) and PyTorch (when installed), and the storage rules behind them
(lifetimes, 64-byte alignment). numpy is the oracle: np.shares_memory and writes through one
side read back through the other."""

import ctypes
import gc
import sys
import threading

import ferrograd as fg
import numpy as np
import pytest

DTYPES = ["bool", "uint8", "int8", "int16", "int32", "int64", "float16", "float32", "float64"]
needs_buffer = pytest.mark.skipif(
    not fg._core._HAS_BUFFER_PROTOCOL, reason="built without the buffer-protocol feature (abi3 below CPython 3.11)"
)


def address(arr: np.ndarray) -> int:
    return arr.__array_interface__["data"][0]


# ---- from_numpy ------------------------------------------------------------------------------


def test_from_numpy_shares_memory_both_ways():
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    t = fg.from_numpy(a)
    t[0, 0] = 100.0
    assert a[0, 0] == 100.0
    a[2, 3] = -7.0
    assert t[2, 3].item() == -7.0
    t.mul_(2)
    np.testing.assert_array_equal(a.ravel()[:3], [200.0, 2.0, 4.0])


@pytest.mark.parametrize("dtype", DTYPES)
def test_from_numpy_shares_every_dtype(dtype):
    a = (np.arange(70) % 3).astype(dtype)
    t = fg.from_numpy(a)
    assert t.dtype == getattr(fg, dtype)
    assert np.shares_memory(t.numpy(), a)
    a[5] = 1
    assert t[5].item() == 1


def test_from_numpy_keeps_the_array_alive():
    a = np.arange(1000, dtype=np.float64)
    t = fg.from_numpy(a)
    del a
    gc.collect()
    assert t.sum().item() == 999 * 1000 / 2


def test_from_numpy_releases_the_array_from_another_thread():
    a = np.ones(100, dtype=np.float32)
    refs = sys.getrefcount(a)
    box = [fg.from_numpy(a)]
    assert sys.getrefcount(a) == refs + 1  # the storage holds one reference
    th = threading.Thread(target=box.clear)
    th.start()
    th.join()
    gc.collect()
    assert sys.getrefcount(a) == refs


def test_from_numpy_strided_views_share_with_strides():
    b = np.arange(24, dtype=np.float64).reshape(4, 6)
    v = fg.from_numpy(b[1:, 1::2])
    assert v.shape == (3, 3)
    assert v.stride() == (6, 2)
    assert not v.is_contiguous()
    b[1, 1] = 77.0
    assert v[0, 0].item() == 77.0
    np.testing.assert_array_equal(v.numpy(), b[1:, 1::2])
    assert np.shares_memory(v.numpy(), b)
    f = fg.from_numpy(np.asfortranarray(np.arange(6.0).reshape(2, 3)))
    assert f.stride() == (1, 2)


def test_from_numpy_refuses_negative_strides_and_foreign_byte_order():
    with pytest.raises(ValueError, match="negative"):
        fg.from_numpy(np.arange(5.0)[::-1])
    with pytest.raises(ValueError, match="byte order"):
        fg.from_numpy(np.arange(3, dtype=">f4"))
    with pytest.raises(TypeError):
        fg.from_numpy([1.0, 2.0])
    with pytest.raises(TypeError):
        fg.from_numpy(np.array(["a"]))


def test_from_numpy_copies_a_read_only_array_with_a_warning():
    a = np.arange(4.0)
    a.flags.writeable = False
    with pytest.warns(UserWarning, match="not writable"):
        t = fg.from_numpy(a)
    t[0] = 5.0
    assert a[0] == 0.0
    np.testing.assert_array_equal(t.numpy()[1:], a[1:])


def test_from_numpy_converts_dtypes_ferrograd_lacks():
    t = fg.from_numpy(np.arange(3, dtype=np.uint16))
    assert t.dtype == fg.int64 and t.tolist() == [0, 1, 2]


def test_memory_allocated_does_not_count_foreign_memory():
    before = fg.memory_allocated()
    a = np.ones(1 << 16, dtype=np.float32)
    t = fg.from_numpy(a)
    assert fg.memory_allocated() == before
    del t
    assert fg.memory_allocated() == before


# ---- numpy() / __array__ ------------------------------------------------------------------------


def test_numpy_shares_memory_and_outlives_the_tensor():
    t = fg.arange(6.0).reshape(2, 3)
    n = t.numpy()
    n[1, 2] = 42.0
    assert t[1, 2].item() == 42.0
    t.add_(1)
    assert n[0, 0] == 1.0
    del t
    gc.collect()
    assert n.sum() == 1 + 2 + 3 + 4 + 5 + 43


def test_numpy_of_views_uses_byte_strides():
    t = fg.arange(12.0, dtype=fg.float32).reshape(3, 4)
    tt = t.t()
    n = tt.numpy()
    assert n.strides == (4, 16)
    np.testing.assert_array_equal(n, np.arange(12.0).reshape(3, 4).T)
    s = t[1:, 2:]
    ns = s.numpy()
    assert address(ns) - address(t.numpy()) == (1 * 4 + 2) * 4
    ns[0, 0] = -1.0
    assert t[1, 2].item() == -1.0


def test_numpy_of_a_huge_expanded_view_allocates_nothing():
    n = fg.ones(1).expand(2**34).numpy()  # as PyTorch's: stride 0 over the one element
    assert n.shape == (2**34,) and n.strides == (0,)
    assert n[2**34 - 1] == 1.0


def test_numpy_refuses_requires_grad_unless_forced():
    x = fg.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match=r"Can't call numpy\(\) on Tensor that requires grad"):
        x.numpy()
    assert np.shares_memory(x.numpy(force=True), x.detach().numpy())


def test_numpy_refuses_bfloat16():
    with pytest.raises(TypeError, match="BFloat16"):
        fg.ones(2, dtype=fg.bfloat16).numpy()


def test_asarray_is_zero_copy_unless_asked():
    t = fg.arange(4.0)
    assert np.shares_memory(np.asarray(t), t.numpy())
    assert not np.shares_memory(np.array(t, copy=True), t.numpy())
    assert np.shares_memory(np.asarray(t, dtype=np.float32), t.numpy())  # the same dtype
    c = np.asarray(t, dtype=np.float64)
    assert c.dtype == np.float64 and not np.shares_memory(c, t.numpy())
    with pytest.raises(ValueError):
        t.__array__(np.float64, copy=False)
    # requires grad: np.asarray is the explicit way out of the graph (as detach().numpy()).
    np.testing.assert_array_equal(np.asarray(fg.ones(2, requires_grad=True)), [1.0, 1.0])


@pytest.mark.parametrize("dtype", DTYPES)
def test_fresh_tensors_are_64_byte_aligned(dtype):
    d = getattr(fg, dtype)
    for n in (1, 3, 17, 1000, 1 << 18):
        assert address(fg.zeros(n, dtype=d).numpy()) % 64 == 0, n
    assert address((fg.ones(5, dtype=fg.float32) * 2).numpy()) % 64 == 0
    assert address(fg.tensor(3.0).numpy()) % 64 == 0
    assert address(fg.zeros(0).numpy()) % 64 == 0


# ---- buffer protocol ------------------------------------------------------------------------------


@needs_buffer
@pytest.mark.parametrize(
    "dtype,fmt",
    [("bool", "?"), ("uint8", "B"), ("int8", "b"), ("int16", "h"), ("int32", "i"), ("int64", "q"),
     ("float16", "e"), ("float32", "f"), ("float64", "d")],
)
def test_memoryview_describes_the_tensor(dtype, fmt):
    t = fg.zeros(2, 3, dtype=getattr(fg, dtype))
    m = memoryview(t)
    size = t.element_size()
    assert (m.format, m.shape, m.strides, m.itemsize, m.readonly) == (fmt, (2, 3), (3 * size, size), size, False)
    assert m.nbytes == 6 * size


@needs_buffer
def test_buffer_is_writable_and_shared():
    t = fg.zeros(4)
    np.frombuffer(t, dtype=np.float32)[:] = 3.0
    assert t.tolist() == [3.0] * 4
    m = memoryview(t[2:])  # contiguous with an offset
    m.cast("B")[:4] = np.float32(9.0).tobytes()
    assert t[2].item() == 9.0
    del t
    gc.collect()
    assert m.tolist() == [9.0, 3.0]  # the view keeps the storage alive


@needs_buffer
def test_buffer_refuses_non_contiguous_requires_grad_and_bfloat16():
    with pytest.raises(BufferError, match="not contiguous"):
        memoryview(fg.ones(2, 3).t())
    with pytest.raises(BufferError, match="require gradient"):
        memoryview(fg.ones(2, requires_grad=True))
    with pytest.raises(BufferError, match="bfloat16"):
        memoryview(fg.ones(2, dtype=fg.bfloat16))
    # numpy falls back to __array__ when the buffer is refused: a strided tensor still converts.
    np.testing.assert_array_equal(np.asarray(fg.arange(6.0).reshape(2, 3).t()), np.arange(6.0).reshape(2, 3).T)


# ---- DLPack ---------------------------------------------------------------------------------------


def test_dlpack_device_and_capsule_kinds():
    t = fg.ones(3)
    assert tuple(t.__dlpack_device__()) == (1, 0)
    assert "dltensor_versioned" in repr(t.__dlpack__(max_version=(1, 0)))
    assert '"dltensor"' in repr(t.__dlpack__())
    assert '"dltensor"' in repr(t.__dlpack__(max_version=(0, 8)))
    assert '"dltensor"' in repr(fg.utils.dlpack.to_dlpack(t))


def test_dlpack_refuses_requires_grad_and_other_devices():
    with pytest.raises(BufferError, match="Can't export tensors that require gradient, use tensor.detach()"):
        fg.ones(2, requires_grad=True).__dlpack__()
    with pytest.raises(BufferError):
        fg.ones(2).__dlpack__(dl_device=(2, 0))
    with pytest.raises(BufferError):
        fg.ones(2).__dlpack__(stream=1)


@pytest.mark.parametrize("dtype", DTYPES)
def test_dlpack_round_trips_with_numpy_sharing_memory(dtype):
    t = fg.arange(6).to(getattr(fg, dtype)).reshape(2, 3)
    n = np.from_dlpack(t)
    assert n.dtype == np.dtype(dtype) and np.shares_memory(n, t.numpy())
    a = (np.arange(6) % 2).astype(dtype).reshape(3, 2)
    back = fg.from_dlpack(a)
    assert back.dtype == getattr(fg, dtype)
    assert np.shares_memory(back.numpy(), a)
    np.testing.assert_array_equal(back.numpy(), a)


def test_dlpack_writes_show_both_ways_and_views_keep_strides():
    t = fg.arange(12.0).reshape(3, 4)
    n = np.from_dlpack(t.t())
    assert n.strides == (4, 16)  # float32: byte strides
    n[0, 1] = -1.0
    assert t[1, 0].item() == -1.0
    a = np.arange(10.0)
    u = fg.from_dlpack(a[2::2])
    assert u.stride() == (2,)
    u[0] = 50.0
    assert a[2] == 50.0
    del a
    gc.collect()
    assert u.tolist() == [50.0, 4.0, 6.0, 8.0]


def test_dlpack_copy_flag_and_read_only_import():
    t = fg.zeros(3)
    c = np.from_dlpack(t, copy=True)
    c[0] = 1.0
    assert t[0].item() == 0.0
    ro = np.arange(3.0)
    ro.flags.writeable = False
    r = fg.from_dlpack(ro)  # read-only memory is copied: ferrograd's tensors are writable
    r[0] = 5.0
    assert ro[0] == 0.0


def test_dlpack_capsule_is_used_once_and_freed_when_unused():
    cap = fg.ones(2).__dlpack__(max_version=(1, 0))
    fg.from_dlpack(cap)
    with pytest.raises(ValueError, match="already consumed"):
        fg.from_dlpack(cap)
    gc.collect()
    before = fg.memory_allocated()
    unused = fg.ones(1 << 16).__dlpack__()
    assert fg.memory_allocated() == before + (4 << 16)  # the capsule holds the storage
    del unused
    gc.collect()
    assert fg.memory_allocated() == before  # and releases it when nobody consumed it
    with pytest.raises(TypeError):
        fg.from_dlpack(object())


def _versioned_header(capsule):
    """(address, version, flags) of a "dltensor_versioned" capsule's DLManagedTensorVersioned, read with
    ctypes: {u32 major, u32 minor}, manager_ctx, deleter, then the u64 flags at byte 24."""
    get = ctypes.pythonapi.PyCapsule_GetPointer
    get.restype, get.argtypes = ctypes.c_void_p, [ctypes.py_object, ctypes.c_char_p]
    p = get(capsule, b"dltensor_versioned")
    return p, (ctypes.c_uint32.from_address(p).value, ctypes.c_uint32.from_address(p + 4).value), ctypes.c_uint64.from_address(p + 24).value


def test_dlpack_versioned_capsule_declares_1_0_and_flags_only_a_copy():
    _, version, flags = _versioned_header(fg.ones(2).__dlpack__(max_version=(1, 0)))
    assert version == (1, 0) and flags == 0  # writable, shared
    _, version, flags = _versioned_header(fg.ones(2).__dlpack__(max_version=(1, 0), copy=True))
    assert version == (1, 0) and flags == 2  # DLPack's IS_COPIED


def test_dlpack_refuses_other_major_versions_and_foreign_capsules():
    cap = fg.ones(2).__dlpack__(max_version=(1, 0))
    p, _, _ = _versioned_header(cap)
    ctypes.c_uint32.from_address(p).value = 2  # what a DLPack 2.x producer would declare
    with pytest.raises(BufferError, match="from_dlpack: .*DLPack.* version"):
        fg.from_dlpack(cap)
    new = ctypes.pythonapi.PyCapsule_New
    new.restype, new.argtypes = ctypes.py_object, [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p]
    cell = ctypes.c_int(0)
    with pytest.raises(ValueError, match="not a DLPack tensor"):
        fg.from_dlpack(new(ctypes.addressof(cell), b"something_else", None))


def test_dlpack_round_trip_with_fg_itself():
    t = fg.arange(5.0)
    u = fg.from_dlpack(t)
    u[0] = 9.0
    assert t[0].item() == 9.0


def test_dlpack_with_torch_both_ways():
    torch = pytest.importorskip("torch")
    x = torch.arange(6.0).reshape(2, 3)
    f = fg.from_dlpack(x)
    f[0, 0] = 50.0
    assert x[0, 0].item() == 50.0
    g = fg.arange(6.0).reshape(2, 3)
    tt = torch.from_dlpack(g.t())
    assert tt.stride() == (1, 3)
    tt[2, 1] = -1.0
    assert g[1, 2].item() == -1.0
    assert torch.from_dlpack(fg.ones(2, dtype=fg.bfloat16)).dtype == torch.bfloat16
    assert fg.from_dlpack(torch.ones(2, dtype=torch.bfloat16)).dtype == fg.bfloat16
    legacy = fg.utils.dlpack.from_dlpack(torch.utils.dlpack.to_dlpack(x))
    assert legacy.tolist() == x.tolist()
    with pytest.raises(BufferError, match="Can't export tensors that require gradient"):
        torch.ones(2, requires_grad=True).__dlpack__()  # the message ferrograd copies
