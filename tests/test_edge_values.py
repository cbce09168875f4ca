"""Edge values of elementwise and selection ops, each against numpy: subnormals and overflow in
frexp/ldexp, ldexp's promotion, and the rest of the third fuzzing round's findings."""

from __future__ import annotations

import ferrograd as fg
import numpy as np
import pytest


@pytest.mark.parametrize("dtype, values", [
    ("float32", [1e-40, 1e-45, 3e-39, -2.5e-42, 1.0, -3.0e38, 0.0]),
    ("float64", [1e-310, 5e-324, -2e-308, 1.5, 1e308, 0.0]),
])
def test_frexp_mantissa_of_subnormals_is_finite(dtype, values):
    # 2 ** -exponent of a subnormal does not fit the dtype: the mantissa was inf.
    a = np.array(values, dtype=dtype)
    m, e = fg.frexp(fg.tensor(a))
    want_m, want_e = np.frexp(a)
    np.testing.assert_array_equal(m.numpy(), want_m)
    np.testing.assert_array_equal(e.numpy(), want_e)
    x = fg.tensor(a, requires_grad=True)
    fg.frexp(x).mantissa.sum().backward()
    with np.errstate(over="ignore"):  # numpy's float32 2 ** 148 overflows, the product does not
        want_grad = (np.ldexp(np.ones_like(a, dtype=np.float64), -want_e)).astype(dtype)
    np.testing.assert_array_equal(x.grad.numpy(), want_grad)


def test_ldexp_is_exact_where_two_to_the_exponent_overflows():
    x = np.array([1e-30, 3.0, 1e-45, -2.0], np.float32)
    e = np.array([200, -140, 170, 127])
    got = fg.ldexp(fg.tensor(x), fg.tensor(e))
    assert got.dtype == fg.float32
    with np.errstate(over="ignore"):  # -2 * 2 ** 127 is -inf in both
        np.testing.assert_array_equal(got.numpy(), np.ldexp(x, e))
    # overflow is still inf
    assert fg.ldexp(fg.tensor([2.0]), fg.tensor([128])).item() == float("inf")


@pytest.mark.parametrize("a, b, want", [
    ("float32", "float64", "float64"), ("uint8", "float16", "float16"), ("bfloat16", "float16", "float32"),
    ("int32", "int64", "float32"), ("float16", "int64", "float16"),
])
def test_ldexp_promotes_both_operands(a, b, want):
    got = fg.ldexp(fg.tensor([1, 2]).to(getattr(fg, a)), fg.tensor([1, 3]).to(getattr(fg, b)))
    assert got.dtype == getattr(fg, want) and got.tolist() == [2.0, 16.0]


def test_ldexp_gradient_by_the_exponent_is_x_2_to_the_e_ln2():
    x = fg.tensor([0.5, -3.0, 2.0], dtype=fg.float64, requires_grad=True)
    e = fg.tensor([3.0, -2.0, 5.0], dtype=fg.float64, requires_grad=True)
    fg.ldexp(x, e).sum().backward()
    xs, es = np.array([0.5, -3.0, 2.0]), np.array([3.0, -2.0, 5.0])
    np.testing.assert_allclose(e.grad.numpy(), xs * 2**es * np.log(2), rtol=1e-14)
    np.testing.assert_allclose(x.grad.numpy(), 2**es, rtol=1e-14)
