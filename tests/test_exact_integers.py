"""Python ints reach integer tensors exactly: a double holds integers only up to 2^53, so a fill
value or an arange bound taken through float() would come out rounded with no error. The
references are Python's own integers; values a dtype cannot hold are refused, as in PyTorch."""

import ferrograd as fg
import numpy as np
import pytest

BIG = [2**53 + 1, 2**60 + 3, -(2**62) - 1, 2**63 - 1, -(2**63)]


@pytest.mark.parametrize("v", BIG)
def test_fills_store_the_exact_integer(v):
    x = fg.zeros(3, dtype=fg.int64)
    assert fg.full((2, 2), v).tolist() == [[v, v], [v, v]]
    assert fg.full((2,), v).dtype == fg.int64
    assert x.clone().fill_(v).tolist() == [v] * 3
    assert x.new_full((2,), v).tolist() == [v, v]
    assert fg.full_like(x, v).tolist() == [v] * 3
    assert x.masked_fill(x == 0, v).tolist() == [v] * 3
    assert fg.tensor(v).item() == v
    assert fg.full((2,), np.int64(v)).tolist() == [v, v]  # numpy ints through __index__
    assert x.clone().fill_(fg.tensor(v)).tolist() == [v] * 3  # a 0-d int tensor


def test_a_fill_with_history_is_exact_too():
    w = fg.zeros(2, dtype=fg.float64, requires_grad=True)
    y = w * 1  # fill_ of a tensor in a graph goes through the recorded path
    y.fill_(2**53 + 1)
    assert y.tolist() == [float(2**53 + 1)] * 2  # float64 rounds, once, as PyTorch's cast does
    assert y.grad_fn is not None


@pytest.mark.parametrize("dtype, bad", [(fg.uint8, 256), (fg.uint8, -256), (fg.uint8, -0.5), (fg.int8, 128), (fg.int16, -(2**15) - 1),
                                        (fg.int32, 2**31), (fg.int64, 2**63), (fg.int64, float("inf"))])
def test_values_a_dtype_cannot_hold_are_refused(dtype, bad):
    with pytest.raises(RuntimeError, match="without overflow"):
        fg.full((2,), bad, dtype=dtype)
    with pytest.raises(RuntimeError, match="fill_: value cannot be converted"):
        fg.zeros(2, dtype=dtype).fill_(bad)


@pytest.mark.parametrize("dtype, edge", [(fg.uint8, 255), (fg.int8, -128), (fg.int32, 2**31 - 1), (fg.int64, 2**63 - 1)])
def test_the_edges_of_each_range_fit(dtype, edge):
    assert fg.full((1,), edge, dtype=dtype).item() == edge
    assert fg.zeros(1, dtype=dtype).fill_(edge).item() == edge


def test_uint8_takes_negative_ints_wrapped_as_pytorch():
    assert fg.full((2,), -1, dtype=fg.uint8).tolist() == [255, 255]
    assert fg.zeros(1, dtype=fg.uint8).fill_(-255).tolist() == [1]


def test_a_tensor_of_an_int_beyond_int64_is_refused_not_wrapped():
    with pytest.raises(RuntimeError):
        fg.tensor(2**63)


def test_ints_beyond_64_bits_are_refused_as_pytorch_refuses_them():
    # Below int64's minimum a double would round -2**63 - 1 to -2**63, which int64 holds.
    with pytest.raises(OverflowError, match="can't convert negative int to unsigned"):
        fg.zeros(1, dtype=fg.int64).fill_(-(2**63) - 1)
    with pytest.raises(OverflowError, match="int too big to convert"):
        fg.full((1,), 2**64, dtype=fg.float32)
    assert fg.full((1,), 2**63, dtype=fg.float32).item() == 2.0**63  # uint64 range: a float dtype takes it
    with pytest.raises(RuntimeError, match="without overflow"):
        fg.zeros(1, dtype=fg.int64).fill_(2**63)


def test_integer_tensors_and_bools_infer_integer_dtypes():
    assert fg.arange(True).tolist() == [0] and fg.arange(True).dtype == fg.int64
    assert fg.arange(fg.tensor(2**60), fg.tensor(2**60 + 3)).tolist() == [2**60, 2**60 + 1, 2**60 + 2]
    assert fg.arange(fg.tensor(1), fg.tensor(5)).dtype == fg.int64 and fg.full((2,), fg.tensor(3)).dtype == fg.int64


@pytest.mark.parametrize("low, high, dtype, message", [(0, 300, fg.uint8, "to - 1 is out of bounds for unsigned char"),
                                                       (-1, 5, fg.uint8, "from is out of bounds for unsigned char"),
                                                       (0, 3, fg.bool, "to - 1 is out of bounds for bool"),
                                                       (-200, 0, fg.int8, "from is out of bounds for signed char")])
def test_randint_refuses_ranges_the_dtype_cannot_hold(low, high, dtype, message):
    with pytest.raises(RuntimeError, match=message):
        fg.randint(low, high, (2,), dtype=dtype)
    with pytest.raises(RuntimeError, match=message):
        fg.randint_like(fg.zeros(2, dtype=dtype), low, high)
    assert fg.randint(0, 256, (50,), dtype=fg.uint8).dtype == fg.uint8  # the full range is fine


@pytest.mark.parametrize("start, end, step", [(2**60, 2**60 + 7, 1), (2**60, 2**60 + 7, 3), (2**63 - 5, 2**63 - 1, 1),
                                              (-(2**62), -(2**62) - 9, -4), (0, 2**61, 2**59), (7, -8, -5), (3, 3, 1)])
def test_integer_arange_counts_in_integers(start, end, step):
    out = fg.arange(start, end, step)
    assert out.dtype == fg.int64
    assert out.tolist() == list(range(start, end, step))


@pytest.mark.parametrize("dtype", [fg.int32, fg.int16, fg.uint8])
def test_integer_arange_into_narrow_dtypes(dtype):
    assert fg.arange(1, 200, 7, dtype=dtype).tolist() == list(range(1, 200, 7))


def test_arange_direction_is_checked_as_pytorch_checks_it():
    with pytest.raises(RuntimeError, match="inconsistent with step sign"):
        fg.arange(5, 0)
    with pytest.raises(RuntimeError, match="step must be nonzero"):
        fg.arange(0, 5, 0)
    # Checked in doubles, counted in integers: both bounds round to 2^60, so it passes and is empty.
    assert fg.arange(2**60, 2**60 - 1, 3).tolist() == []
    with pytest.raises(RuntimeError, match="invalid size"):
        fg.arange(2**60, 2**60 - 5, 3)


def test_float_and_mixed_arange_keep_their_rules():
    assert fg.arange(0, 1, 0.25).tolist() == [0.0, 0.25, 0.5, 0.75]
    assert fg.arange(-1, 0, 0.5, dtype=fg.int64).tolist() == [-1, -1]  # the step truncates to 0, as PyTorch
    assert fg.arange(np.int64(3)).tolist() == [0, 1, 2]
    assert fg.arange(fg.tensor(4)).tolist() == [0, 1, 2, 3]


def test_python_number_tensors_take_pytorchs_dtypes():
    assert fg.tensor(3.5).dtype == fg.float32 and fg.tensor(3.5).shape == ()
    assert fg.tensor(3).dtype == fg.int64
    assert fg.tensor(True).dtype == fg.bool and fg.tensor(True).item() is True
    assert fg.tensor(0.1).item() == np.float32(0.1)
    assert fg.tensor(2.0, requires_grad=True).requires_grad
    fg.set_default_dtype(fg.float64)
    try:
        assert fg.tensor(0.1).item() == 0.1
    finally:
        fg.set_default_dtype(fg.float32)


def test_number_arguments_refuse_non_numbers():
    with pytest.raises(TypeError):
        fg.full((2,), "3")
    with pytest.raises(TypeError):
        fg.zeros(2).fill_("3")


@pytest.mark.parametrize("v", BIG)
def test_integer_clamp_bounds_are_exact(v):
    x = fg.tensor([v - 1 if v > -(2**63) else v, 0, v])
    ref = x.tolist()
    assert x.clamp(min=v).tolist() == [max(e, v) for e in ref]
    assert x.clamp(max=v).tolist() == [min(e, v) for e in ref]
    assert x.clone().clamp_(min=v).tolist() == [max(e, v) for e in ref]
    assert x.clamp(min=v, max=0).tolist() == [min(max(e, v), 0) for e in ref]  # max last: it wins, as PyTorch
    assert x.scatter(0, fg.tensor([1]), v).tolist() == [ref[0], v, ref[2]]


def test_narrow_integer_clamp_bounds_as_pytorch():
    x = fg.tensor([250, 3, 100], dtype=fg.uint8)
    assert x.clamp(0, 300).tolist() == [250, 3, 100]  # 300 is beyond uint8: clamps nothing
    assert x.clamp(min=-5).tolist() == [250, 3, 100]
    with pytest.raises(RuntimeError, match="Clamp min value 300 is outside the representable range of Byte"):
        x.clamp(min=300)
    with pytest.raises(RuntimeError, match="Clamp max value -1 is outside the representable range of Byte"):
        x.clamp(max=-1)
    with pytest.raises(RuntimeError, match="Clamp min value 2147483648 is outside the representable range of Int"):
        fg.tensor([1], dtype=fg.int32).clamp(min=2**31)
    assert x.clamp(min=200, max=50).tolist() == [50, 50, 50]
    assert x.clamp(True, 5).tolist() == [5, 3, 5]
    assert x.clamp(min=1.5).dtype == fg.float32  # a float bound promotes, as PyTorch
