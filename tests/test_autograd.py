"""Autograd engine and grad modes: the behaviours PyTorch documents (see shared reference)."""

import threading

import ferrograd as fg
import numpy as np
import pytest


def test_gradients_accumulate_across_backward_calls():
    x = fg.tensor([1.0, 2.0], requires_grad=True)
    (x * 3).sum().backward()
    (x * 3).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [6.0, 6.0])


def test_accumulation_in_place_sums_into_held_references_as_pytorch():
    # PyTorch's AccumulateGrad: off the graph the next gradient is added into .grad in place, so
    # a reference the caller holds sees the sum; with history (create_graph) the sum is new.
    x = fg.tensor(np.arange(40000, dtype=np.float32) / 7, requires_grad=True)
    for _ in range(3):
        (x * x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 6 * x.detach().numpy(), rtol=1e-6)
    held = x.grad
    before = held.numpy().copy()
    (x * 2).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), before + 2, rtol=1e-6)
    np.testing.assert_array_equal(held.numpy(), x.grad.numpy())
    held.zero_()
    assert not x.grad.numpy().any(), "held and x.grad are one tensor, as in PyTorch"

    w = fg.tensor([1.5, -2.0], dtype=fg.float64, requires_grad=True)
    (w ** 3).sum().backward(create_graph=True)
    first = w.grad
    (w ** 3).sum().backward(create_graph=True)
    assert w.grad.requires_grad
    np.testing.assert_allclose(first.detach().numpy(), 3 * w.detach().numpy() ** 2)
    (g2,) = fg.autograd.grad(w.grad.sum(), [w])
    np.testing.assert_allclose(g2.numpy(), 12 * w.detach().numpy())


def test_first_gradient_never_aliases_a_tensor_someone_else_holds():
    # The gradient passed to backward, one a rule hands to two inputs, and a view: .grad gets
    # its own copy, so writing into .grad (zero_, the next accumulation) changes nothing else.
    x = fg.ones(3, requires_grad=True)
    g = fg.full((3,), 2.0)
    x.backward(g)
    x.grad.zero_()
    np.testing.assert_array_equal(g.numpy(), [2.0, 2.0, 2.0])

    a, b = fg.ones(3, requires_grad=True), fg.ones(3, requires_grad=True)
    u = fg.full((3,), 5.0)
    (a + b).backward(u)
    a.grad.add_(1.0)
    np.testing.assert_array_equal(b.grad.numpy(), [5.0, 5.0, 5.0])
    np.testing.assert_array_equal(u.numpy(), [5.0, 5.0, 5.0])
    (a + b).backward(u)  # in place into each, still apart
    np.testing.assert_array_equal(a.grad.numpy(), [11.0, 11.0, 11.0])
    np.testing.assert_array_equal(b.grad.numpy(), [10.0, 10.0, 10.0])

    big = fg.arange(6.0)
    c = fg.ones(3, requires_grad=True)
    c.backward(big[1:4])
    c.grad.mul_(0.0)
    np.testing.assert_array_equal(big.numpy(), np.arange(6.0))


def test_shared_subexpression_gets_summed_gradient():
    x = fg.tensor([0.5, -1.5], dtype=fg.float64, requires_grad=True)
    y = x.exp()
    z = (y * y + y).sum()
    z.backward()
    e = np.exp([0.5, -1.5])
    np.testing.assert_allclose(x.grad.numpy(), 2 * e * e + e)


def test_backward_twice_through_freed_saved_tensors_raises():
    x = fg.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="Trying to backward through the graph a second time"):
        y.backward()


def test_retain_graph_allows_second_backward():
    x = fg.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), [4.0, 8.0])


def test_graph_without_saved_tensors_can_run_twice():
    v = fg.tensor([1.0, 2.0], requires_grad=True)
    y = (v + 1).sum()
    y.backward()
    y.backward()
    np.testing.assert_allclose(v.grad.numpy(), [2.0, 2.0])


def test_non_scalar_backward_needs_gradient():
    x = fg.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="grad can be implicitly created only for scalar outputs"):
        (x * 2).backward()
    (x * 2).backward(fg.tensor([1.0, 10.0]))
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 20.0])


def test_integer_tensors_cannot_require_grad():
    with pytest.raises(RuntimeError, match="Only Tensors of floating point"):
        fg.tensor([1, 2], requires_grad=True)
    with pytest.raises(RuntimeError, match="Only Tensors of floating point"):
        fg.arange(3).requires_grad_()


def test_grad_fn_names_and_leaf_flags():
    a = fg.tensor([1.0], requires_grad=True)
    b = a * 2
    assert a.is_leaf and a.grad_fn is None
    assert not b.is_leaf and b.grad_fn.name() == "MulBackward0"
    assert (a + b).grad_fn.name() == "AddBackward0"
    assert a.exp().grad_fn.name() == "ExpBackward0"
    (node, _), (none, _) = b.grad_fn.next_functions
    assert node.name() == "AccumulateGrad" and none is None


def test_detach_shares_storage_and_drops_history():
    x = fg.tensor([1.0, 2.0], requires_grad=True)
    d = (x * 1).detach()
    assert not d.requires_grad and d.grad_fn is None
    with fg.no_grad():
        x.add_(1.0)
    assert x.detach().numpy().tolist() == [2.0, 3.0]


def test_no_grad_results_do_not_require_grad_and_backward_fails():
    x = fg.tensor([1.0], requires_grad=True)
    with fg.no_grad():
        y = x * 2
        p = fg.zeros(2, requires_grad=True)
    assert not y.requires_grad and y.grad_fn is None
    assert p.requires_grad  # factories with requires_grad=True still require grad
    with pytest.raises(RuntimeError, match="element 0 of tensors does not require grad and does not have a grad_fn"):
        y.backward()


def test_grad_mode_restored_on_exception():
    assert fg.is_grad_enabled()
    with pytest.raises(ValueError):
        with fg.no_grad():
            raise ValueError("boom")
    assert fg.is_grad_enabled()


def test_enable_grad_inside_no_grad_records():
    x = fg.tensor([1.0], requires_grad=True)
    with fg.no_grad():
        with fg.enable_grad():
            y = x * 2
        z = x * 2
    assert y.requires_grad and not z.requires_grad


def test_no_grad_as_decorator_with_and_without_parentheses():
    x = fg.tensor([1.0], requires_grad=True)

    @fg.no_grad
    def f1():
        return x * 2

    @fg.no_grad()
    def f2():
        return x * 2

    assert not f1().requires_grad and not f2().requires_grad
    assert fg.is_grad_enabled()


def test_set_grad_enabled_function_context_and_type_check():
    fg.set_grad_enabled(False)
    try:
        assert not fg.is_grad_enabled()
    finally:
        fg.set_grad_enabled(True)
    with fg.set_grad_enabled(False):
        assert not fg.is_grad_enabled()
    assert fg.is_grad_enabled()
    with pytest.raises(TypeError):
        fg.set_grad_enabled(0)

    @fg.set_grad_enabled(False)
    def g():
        return fg.is_grad_enabled()

    assert fg.is_grad_enabled() and g() is False


def test_grad_mode_is_thread_local():
    seen = []
    with fg.no_grad():
        t = threading.Thread(target=lambda: seen.append(fg.is_grad_enabled()))
        t.start()
        t.join()
        assert not fg.is_grad_enabled()
    assert seen == [True]


def test_inference_mode_makes_inference_tensors_that_cannot_be_saved():
    w = fg.tensor([2.0], requires_grad=True)
    with fg.inference_mode():
        assert fg.is_inference_mode_enabled() and not fg.is_grad_enabled()
        x = fg.tensor([3.0]) * 1
        with fg.enable_grad():  # does not re-enable recording inside inference_mode
            y = w * 2
    assert x.is_inference() and not y.requires_grad
    assert fg.is_grad_enabled() and not fg.is_inference_mode_enabled()
    with pytest.raises(RuntimeError, match="Inference tensors cannot be saved for backward"):
        w * x
    with pytest.raises(RuntimeError, match="Inplace update to inference tensor outside InferenceMode"):
        x.add_(1.0)


def test_inference_mode_false_and_decorator():
    with fg.inference_mode():
        with fg.inference_mode(False):
            assert fg.is_grad_enabled() and not fg.is_inference_mode_enabled()
        assert fg.is_inference_mode_enabled()

    @fg.inference_mode
    def f():
        return fg.is_inference_mode_enabled()

    assert f() and not fg.is_inference_mode_enabled()


def test_inplace_on_leaf_requiring_grad():
    x = fg.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="a leaf Variable that requires grad is being used in an in-place operation"):
        x.add_(1.0)
    with pytest.raises(RuntimeError, match="a leaf Variable that requires grad"):
        x += 1
    with fg.no_grad():
        x.mul_(2.0)
    np.testing.assert_allclose(x.detach().numpy(), [2.0, 4.0])


def test_inplace_on_non_leaf_is_recorded():
    x = fg.tensor([1.0, 2.0], dtype=fg.float64, requires_grad=True)
    y = x * 3
    y.mul_(fg.tensor([2.0, 5.0], dtype=fg.float64))
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [6.0, 15.0])


def test_modifying_a_saved_tensor_is_detected():
    x = fg.tensor([1.0, 2.0], requires_grad=True)
    y = x.exp()
    z = y.sum()  # ExpBackward saved y
    with fg.no_grad():
        y.add_(1.0)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        z.backward()


def test_numpy_on_tensor_requiring_grad_raises():
    x = fg.tensor([1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match=r"Use tensor.detach\(\).numpy\(\) instead"):
        x.numpy()
    assert x.detach().numpy().tolist() == [1.0]


def test_autograd_grad_returns_without_touching_dot_grad():
    x = fg.tensor([1.0, 2.0], requires_grad=True)
    w = fg.tensor([3.0, 4.0], requires_grad=True)
    y = (x * w).sum()
    gx, gw = fg.autograd.grad(y, [x, w])
    np.testing.assert_allclose(gx.numpy(), [3.0, 4.0])
    np.testing.assert_allclose(gw.numpy(), [1.0, 2.0])
    assert x.grad is None and w.grad is None


def test_autograd_grad_unused_input():
    x = fg.tensor([1.0], requires_grad=True)
    u = fg.tensor([1.0], requires_grad=True)
    y = (x * 2).sum()
    with pytest.raises(RuntimeError, match="appears to not have been used"):
        fg.autograd.grad(y, [x, u], retain_graph=True)
    gx, gu = fg.autograd.grad(y, [x, u], allow_unused=True)
    assert gu is None and gx.numpy().tolist() == [2.0]


def test_autograd_grad_of_intermediate():
    x = fg.tensor([2.0], requires_grad=True)
    h = x * x
    y = h * 3
    (gh,) = fg.autograd.grad(y.sum(), h)
    assert gh.numpy().tolist() == [3.0]


def test_retain_grad_keeps_non_leaf_gradient():
    x = fg.tensor([2.0], requires_grad=True)
    h = x * x
    h.retain_grad()
    (h * 5).sum().backward()
    assert h.grad.numpy().tolist() == [5.0]
    assert x.grad.numpy().tolist() == [20.0]


def test_grad_assignment_and_reset():
    x = fg.tensor([1.0, 2.0], requires_grad=True)
    x.grad = fg.tensor([0.5, 0.5])
    (x * 2).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [2.5, 2.5])
    x.grad = None
    assert x.grad is None
    with pytest.raises(RuntimeError, match="different size"):
        x.grad = fg.tensor([1.0])


def test_grads_of_two_leaves_do_not_alias():
    a = fg.tensor([1.0], requires_grad=True)
    b = fg.tensor([1.0], requires_grad=True)
    (a + b).sum().backward()
    with fg.no_grad():
        a.grad.add_(10.0)
    assert b.grad.numpy().tolist() == [1.0]


def test_mixed_dtype_op_returns_grad_in_each_leaf_dtype():
    a = fg.tensor([1.0, 2.0], dtype=fg.float32, requires_grad=True)
    b = fg.tensor([3.0, 4.0], dtype=fg.float64, requires_grad=True)
    y = a * b
    assert y.dtype == fg.float64
    y.sum().backward()
    assert a.grad.dtype == fg.float32 and b.grad.dtype == fg.float64


def test_deep_graph_backward_and_free_do_not_overflow_the_stack():
    x = fg.tensor([1.0], requires_grad=True)
    y = x
    for _ in range(50_000):
        y = y + 1
    y.sum().backward()
    assert x.grad.numpy().tolist() == [1.0]
    del y  # dropping a 50k-node chain must not recurse


def test_gradcheck_catches_a_wrong_gradient():
    x = fg.tensor([0.3, 0.7], dtype=fg.float64, requires_grad=True)
    assert fg.autograd.gradcheck(lambda t: (t * t).sum(), (x,))
    # sqrt's gradient through abs is correct, but a function whose value is not what autograd
    # differentiates (detach in the middle) must fail.
    with pytest.raises(fg.autograd.GradcheckError):
        fg.autograd.gradcheck(lambda t: t * t.detach(), (x,))
