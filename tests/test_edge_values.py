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


def test_ldexp_of_infinite_exponents():
    got = fg.ldexp(fg.tensor([1.0, 1.0, 0.0, 1.0]), fg.tensor([float("inf"), -float("inf"), 3.0, float("nan")]))
    assert got.tolist()[:3] == [float("inf"), 0.0, 0.0] and np.isnan(got.tolist()[3])


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


def test_clamp_takes_tensor_bounds_that_broadcast_and_promote():
    x = np.array([[-2.0, 0.0, 2.0], [5.0, -5.0, 0.5]], np.float32)
    lo, hi = np.array([-1.0, 0.5, -3.0], np.float32), np.array([[1.0], [0.0]], np.float32)
    got = fg.clamp(fg.tensor(x), fg.tensor(lo), fg.tensor(hi))
    np.testing.assert_array_equal(got.numpy(), np.minimum(np.maximum(x, lo), hi))
    assert fg.tensor(x).clamp(min=fg.tensor(lo)).tolist() == np.maximum(x, lo).tolist()
    assert fg.tensor(x).clip(max=fg.tensor(hi)).tolist() == np.minimum(x, hi).tolist()
    ints = fg.tensor([1, 5, 9])
    assert fg.clamp(ints, fg.tensor([2, 2, 2]), fg.tensor(6.5)).dtype == fg.float32
    assert fg.clamp(ints, 2, fg.tensor(6)).tolist() == [2, 5, 6]
    assert fg.clamp(ints.int(), fg.tensor(2)).dtype == fg.int32  # a 0-d bound does not widen
    y = fg.tensor([1.0, 5.0, 9.0])
    y.clamp_(fg.tensor([2.0, 2.0, 2.0]), fg.tensor(6.0))
    assert y.tolist() == [2.0, 5.0, 6.0]
    with pytest.raises(RuntimeError, match=r"clamp_: output with shape \[3\] doesn't match the broadcast shape \[2, 3\]"):
        y.clamp_(fg.tensor([[2.0], [3.0]]))
    with pytest.raises(TypeError, match="clamp: min and max must be numbers, tensors or None, not str"):
        y.clamp("1")


# (x, min, max) -> the shares of the gradient of x, min and max, as PyTorch 2.15 gives them
# (tests/differential/test_diff_call_forms.py compares all 64 orders of 0, 1, 2 and NaN).
NAN = float("nan")
CLAMP_SHARES = [
    ((0.0, 1.0, 2.0), (0.0, 1.0, 0.0)),  # below: the min
    ((1.5, 1.0, 2.0), (1.0, 0.0, 0.0)),  # inside: x
    ((3.0, 1.0, 2.0), (0.0, 0.0, 1.0)),  # above: the max
    ((1.0, 1.0, 2.0), (0.5, 0.5, 0.0)),  # on the min of a proper interval: halves
    ((2.0, 1.0, 2.0), (0.5, 0.0, 0.5)),
    ((1.0, 1.0, 1.0), (1.0, 0.0, 0.0)),  # min == max == x: x
    ((0.0, 1.0, 1.0), (0.0, 1.0, 0.0)),  # below min == max: the min
    ((1.5, 2.0, 1.0), (0.0, 0.0, 1.0)),  # min above max: the max, wherever x is
    ((NAN, 2.0, 1.0), (1.0, 0.0, 1.0)),  # ... and a NaN x keeps its share too
    ((NAN, 0.0, 1.0), (1.0, 0.0, 0.0)),
    ((1.0, NAN, 2.0), (1.0, 0.0, 0.0)),  # a NaN bound takes nothing
    ((3.0, NAN, 2.0), (0.0, 0.0, 0.0)),
    ((0.0, 1.0, NAN), (0.0, 0.0, 0.0)),
]


@pytest.mark.parametrize("xs, shares", CLAMP_SHARES)
def test_clamp_tensor_bounds_share_the_gradient_as_pytorch(xs, shares):
    x, lo, hi = (fg.tensor([v], dtype=fg.float64, requires_grad=True) for v in xs)
    fg.clamp(x, lo, hi).sum().backward()
    assert (x.grad.item(), lo.grad.item(), hi.grad.item()) == shares


def test_clamp_tensor_bounds_gradcheck_and_sum_to_the_bound_shapes():
    rng = np.random.default_rng(4)
    x = fg.tensor(rng.standard_normal((3, 4)), requires_grad=True)
    lo = fg.tensor(rng.standard_normal(4) - 0.5, requires_grad=True)
    hi = fg.tensor(rng.standard_normal((3, 1)) + 0.5, requires_grad=True)
    assert fg.autograd.gradcheck(lambda a, b, c: fg.clamp(a, b, c), (x, lo, hi))
    assert fg.autograd.gradgradcheck(lambda a, b, c: fg.clamp(a, b, c) ** 2, (x, lo, hi))
    fg.clamp(x, lo, hi).sum().backward()
    assert lo.grad.shape == (4,) and hi.grad.shape == (3, 1)


@pytest.mark.parametrize("values, want", [
    ([NAN, NAN, 1.5], NAN),  # NaNs count together (they were each a value of their own)
    ([NAN, 0.0, 0.0, NAN], 0.0),  # equally frequent: the smaller, NaN above every number
    ([5.0, NAN, 1.0, 1.0, NAN], 1.0),
    ([0.0, NAN, 1.5, 1.5], 1.5),
    ([3.0, 1.0, 2.0], 1.0),
])
def test_mode_counts_nans_as_one_value(values, want):
    got = fg.mode(fg.tensor(values)).values.item()
    assert got == want or (np.isnan(want) and np.isnan(got))


def test_diff_of_order_zero_is_the_input_without_prepend_or_append():
    x = fg.tensor([1.0, 2.0, 3.0])
    assert fg.diff(x, n=0, prepend=fg.tensor([5.0]), append=fg.tensor([7.0])).tolist() == [1.0, 2.0, 3.0]
    with pytest.raises(RuntimeError):  # but they are still checked, as PyTorch checks them
        fg.diff(x, n=0, prepend=fg.ones(2, 2))


def test_integer_products_keep_their_dtype_and_cast_a_float_alpha():
    ones = fg.ones(3, 2, 4, dtype=fg.int32)
    got = fg.addbmm(fg.ones(2, 2, dtype=fg.int32), ones, fg.ones(3, 4, 2, dtype=fg.int32))
    assert got.dtype == fg.int32 and got.tolist() == [[13, 13], [13, 13]]  # it was int64
    # a float alpha (or beta) on integers is cast toward zero, as PyTorch's kernels do
    got = fg.baddbmm(fg.zeros(1, 2, 2, dtype=fg.int32), ones[:1, :, :2], fg.ones(1, 2, 2, dtype=fg.int32), alpha=0.5)
    assert got.dtype == fg.int32 and got.tolist() == [[[0, 0], [0, 0]]]
    got = fg.zeros(3, dtype=fg.int32).index_add(0, fg.tensor([0, 0]), fg.tensor([1, 2], dtype=fg.int32), alpha=1.5)
    assert got.tolist() == [3, 0, 0]
    i = fg.ones(2, 2, dtype=fg.int64)
    assert fg.addmm(i, i, i, beta=0.5).tolist() == [[2, 2], [2, 2]]
    for kw in ({"alpha": 0.5}, {"beta": 0.5}):  # addr is elementwise in PyTorch: it refuses them
        with pytest.raises(RuntimeError, match=f"argument {next(iter(kw))} must not be a floating point number"):
            fg.addr(i, i[0], i[0], **kw)
    # a float input beside integer matrices is not cast (PyTorch refuses the mix)
    assert fg.addmm(fg.zeros(2, 2), i, i, alpha=0.5).tolist() == [[1.0, 1.0], [1.0, 1.0]]


def test_block_diag_promotes_a_0d_input_as_a_lower_priority_and_takes_no_inputs():
    got = fg.block_diag(fg.ones(1, 1, dtype=fg.uint8), fg.tensor(2.0, dtype=fg.float64), fg.ones(2, dtype=fg.float16))
    assert got.dtype == fg.float16  # the 0-d float64 does not widen the float16 (it gave float64)
    assert got.tolist() == [[1, 0, 0, 0], [0, 2, 0, 0], [0, 0, 1, 1]]
    assert fg.block_diag(fg.ones(2, dtype=fg.int32), fg.tensor(2.5, dtype=fg.float64)).dtype == fg.float64
    assert fg.block_diag().shape == (1, 0)


@pytest.mark.parametrize("dtype", ["int32", "int16", "uint8"])
def test_einsum_squeezes_labels_of_size_one_and_sums_the_rest_as_sum_does(dtype):
    # a summed-out label of size 1 made int32 operands an int64 partial sum, which the next
    # matmul refused; PyTorch squeezes it away. A real sum promotes to int64, as PyTorch's.
    dt = getattr(fg, dtype)
    got = fg.einsum("c,dbb,c->b", fg.ones(2, dtype=dt), fg.ones(1, 2, 2, dtype=dt), fg.ones(2, dtype=dt))
    assert got.dtype == dt and got.tolist() == [2, 2]
    got = fg.einsum("ab,->a", fg.ones(2, 2, dtype=dt), fg.tensor(3, dtype=dt))
    assert got.dtype == fg.int64 and got.tolist() == [6, 6]
    got = fg.einsum("ij->i", fg.full((2, 200), 2, dtype=dt))
    assert got.dtype == fg.int64 and got.tolist() == [400, 400]  # no wrapping


def test_einsum_sublist_form():
    rng = np.random.default_rng(6)
    a, b, c = rng.standard_normal((2, 3)), rng.standard_normal((3, 4)), rng.standard_normal((2, 2, 3))
    A, B, C = fg.tensor(a), fg.tensor(b), fg.tensor(c)
    np.testing.assert_allclose(fg.einsum(A, [0, 1], B, [1, 2], [0, 2]).numpy(), a @ b)
    np.testing.assert_allclose(fg.einsum(A, [0, 1], B, [1, 2]).numpy(), a @ b)  # implicit output
    np.testing.assert_allclose(fg.einsum(C, [..., 1], [...]).numpy(), c.sum(-1))
    np.testing.assert_allclose(fg.einsum(C, [0, 0, 51]).numpy(), np.einsum("iiZ->Z", c))
    with pytest.raises(ValueError, match=r"not within the valid range \[0, 52\)"):
        fg.einsum(A, [0, 52])


@pytest.mark.parametrize("name, call, shape", [
    ("searchsorted empty values", lambda: fg.searchsorted(fg.tensor([[1.0, 2.0], [3.0, 4.0]]), fg.zeros(2, 0)), (2, 0)),
    ("searchsorted empty boundaries", lambda: fg.searchsorted(fg.zeros(1, 0), fg.tensor([[1.0, 2.0, 3.0]])), (1, 3)),
    ("unique_consecutive dim of size 0", lambda: fg.unique_consecutive(fg.zeros(0), dim=0), (0,)),
    ("unique_consecutive beside size 0", lambda: fg.unique_consecutive(fg.zeros(2, 0), dim=1), (2, 0)),
    ("solve 0 x 0", lambda: fg.linalg.solve(fg.zeros(0, 0, dtype=fg.float64), fg.zeros(0, dtype=fg.float64)), (0,)),
    ("solve batched 0 x 0, left=False", lambda: fg.linalg.solve(fg.zeros(2, 0, 0), fg.zeros(2, 0, 0), left=False), (2, 0, 0)),
    ("quantile of no q", lambda: fg.quantile(fg.tensor([1.0, 2.0]), fg.tensor([])), (0,)),
    ("quantile of no q, dim, keepdim", lambda: fg.quantile(fg.ones(2, 3), fg.tensor([]), dim=0, keepdim=True), (0, 1, 3)),
])
def test_empty_inputs_give_empty_results(name, call, shape):
    # each raised a numpy ValueError (reshape(-1) beside a size 0, cat or stack of nothing)
    assert call().shape == shape, name


def test_unique_consecutive_refuses_rows_of_nothing_as_pytorch():
    with pytest.raises(RuntimeError, match="There are 0 sized dimensions, and they aren't selected"):
        fg.unique_consecutive(fg.zeros(3, 0), dim=0)


@pytest.mark.parametrize("exponent", [0.5, -0.5, 3.0, -2.0])
def test_pow_takes_the_sqrt_shortcut_only_for_a_python_number_on_float32_or_64(exponent):
    # PyTorch's pow_tensor_scalar: x ** 0.5 as sqrt (-inf ** 0.5 is NaN) for a Python number;
    # a tensor exponent, or a half tensor, goes through pow (-inf ** 0.5 is inf, as numpy)
    v = np.array([-np.inf, -0.0, 2.0, 1e-3], np.float32)

    def power(x):  # C's pow (numpy takes sqrt for a scalar 0.5 itself), in float64, rounded
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            return np.power(x.astype(np.float64), np.full(x.shape, exponent)).astype(x.dtype)

    want = power(v)
    got = (fg.tensor(v) ** fg.tensor(exponent)).numpy()
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal((fg.tensor(v) ** fg.tensor([exponent] * 4)).numpy(), want)
    half = fg.pow(fg.tensor(v, dtype=fg.float16), exponent)  # float16 goes to std::pow there
    np.testing.assert_array_equal(half.numpy(), power(v.astype(np.float16)))
    if exponent == 0.5:  # the shortcut, as PyTorch's: float32, and bfloat16 (computed in float32)
        assert np.isnan((fg.tensor(v) ** 0.5)[0].item())
        assert np.isnan((fg.tensor(v, dtype=fg.bfloat16) ** 0.5)[0].item())
        assert str((fg.tensor(v, dtype=fg.bfloat16) ** 0.5)[1].item()) == "-0.0"


@pytest.mark.parametrize("exponent, want", [(0.5, [-np.inf, np.nan]), (1.5, [-0.0, np.nan])])
def test_pow_gradient_takes_the_forwards_shortcut(exponent, want):
    # the gradient e * x ** (e - 1) through the same pow as the forward (rsqrt for 0.5), in the
    # fused backward and under create_graph alike
    for create_graph in (False, True):
        x = fg.tensor([-0.0, -np.inf], requires_grad=True)
        (g,) = fg.autograd.grad((x**exponent).sum(), x, create_graph=create_graph)
        np.testing.assert_array_equal(g.detach().numpy(), np.array(want, np.float32))


def test_nan_to_num_replacements_are_rounded_to_the_dtype_as_a_cast():
    x = fg.tensor([float("inf"), 1.0, -float("inf"), float("nan")], dtype=fg.float16)
    got = fg.nan_to_num(x, nan=1e5, posinf=1e30, neginf=-7e4)  # each overflowed float16 and raised
    assert got.dtype == fg.float16 and got.tolist() == [float("inf"), 1.0, -float("inf"), float("inf")]
    got = fg.nan_to_num(x, nan=65519.0, posinf=65510.0)  # within half an ulp of the max: the max
    assert got.tolist()[0] == 65504.0 and got.tolist()[3] == 65504.0
    top = float(np.finfo(np.float32).max)
    assert fg.nan_to_num(fg.tensor([float("inf")]), posinf=3.4028235e38).item() == top


def test_allclose_function_is_the_methods_rule():
    assert fg.allclose(fg.ones(3, dtype=fg.bfloat16), fg.ones(3, dtype=fg.bfloat16))  # TypeError before
    assert not fg.allclose(fg.tensor([1.0, float("nan")]), fg.tensor([1.0, float("nan")]))
    assert fg.allclose(fg.tensor([1.0, float("nan")]), fg.tensor([1.0, float("nan")]), equal_nan=True)
    with pytest.raises(RuntimeError, match="Float did not match Double"):  # numpy compared any two dtypes
        fg.allclose(fg.ones(3), fg.ones(3, dtype=fg.float64))


def test_tensordot_takes_dims_as_a_tensor():
    a, b = fg.ones(2, 3), fg.ones(3, 2)
    assert fg.tensordot(a, b, dims=fg.tensor(1)).tolist() == [[3.0, 3.0], [3.0, 3.0]]
    assert fg.tensordot(a, b, dims=fg.tensor([[1], [0]])).tolist() == [[3.0, 3.0], [3.0, 3.0]]


def test_half_dtype_arguments_are_rounded_as_pytorch_casts_them():
    x = np.array([5.5, 0.3, 7.7, 1000.1], np.float16)
    tenth = np.float32(np.float16(0.1))  # fmod and remainder round a Python number to float16 first
    for op, ref in (("fmod", np.fmod), ("remainder", np.mod)):
        got = getattr(fg, op)(fg.tensor(x), 0.1)
        np.testing.assert_array_equal(got.numpy(), ref(x.astype(np.float32), tenth).astype(np.float16), err_msg=op)
    # dtype= casts the input to float16 before the running sums and products
    assert fg.tensor([2049.0, 1.0]).cumsum(0, dtype=fg.float16).tolist() == [2048.0, 2048.0]
    assert fg.tensor([2049.0, 3.0]).prod(dtype=fg.float16).item() == 6144.0
    assert fg.tensor([2049.0, 3.0]).cumprod(0, dtype=fg.float16).tolist() == [2048.0, 6144.0]


def test_fmod_gradient_truncates_the_quotient_in_the_tensors_dtype():
    # -g * trunc(x / y) with x / y rounded in float32, as PyTorch's: 1 / 0.05 is 20 there (the
    # float64 quotient, 19.9999997, truncated to 19)
    x = fg.tensor([1.0, -1.0, 5.0])
    y = fg.tensor([0.05, 0.3, -0.7], requires_grad=True)
    fg.fmod(x, y).sum().backward()
    q = (x.numpy() / y.detach().numpy()).astype(np.float32)
    assert y.grad.tolist() == (-np.trunc(q)).tolist() and y.grad.tolist()[0] == -20.0
    a = fg.tensor([1.5, 2.5], dtype=fg.float64, requires_grad=True)
    b = fg.tensor([0.4, -0.7], dtype=fg.float64, requires_grad=True)
    assert fg.autograd.gradcheck(lambda p, q: fg.fmod(p, q), (a, b))
