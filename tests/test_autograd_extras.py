"""Anomaly detection, Tensor.detach_, autograd.Variable and pin_memory, as PyTorch's. The anomaly
messages are PyTorch 2.15's for the same three graphs (printed with torch.autograd.detect_anomaly)."""

import warnings

import ferrograd as fg
import pytest
from ferrograd.autograd import Variable


@pytest.fixture(autouse=True)
def _anomaly_off_after():
    yield
    fg.set_anomaly_enabled(False)


CASES = [(lambda x: (x / x).sum(), "Function 'DivBackward0' returned nan values in its 1th output."),
         (lambda x: (x.sqrt() * 0).sum(), "Function 'SqrtBackward0' returned nan values in its 0th output."),
         (lambda x: (x * float("nan")).sum(), "Function 'MulBackward0' returned nan values in its 0th output.")]


@pytest.mark.parametrize("f, message", CASES)
def test_detect_anomaly_names_the_node_that_made_the_nan(f, message):
    x = fg.tensor([0.0, 1.0], requires_grad=True)
    with pytest.warns(UserWarning, match="Anomaly Detection has been enabled"):
        ctx = fg.autograd.detect_anomaly()
    with ctx:
        assert fg.is_anomaly_enabled()
        with pytest.raises(RuntimeError) as e:
            f(x).backward()
        assert str(e.value) == message
    assert not fg.is_anomaly_enabled()
    f(x).backward()  # off again: NaN gradients flow, as without anomaly mode
    assert x.grad.isnan().any().item()


def test_set_detect_anomaly_as_a_call_a_context_and_a_decorator():
    x = fg.tensor([0.0], requires_grad=True)
    fg.autograd.set_detect_anomaly(True)
    assert fg.is_anomaly_enabled() and fg.is_anomaly_check_nan_enabled()
    fg.autograd.set_detect_anomaly(False)
    with fg.autograd.set_detect_anomaly(True):
        assert fg.is_anomaly_enabled()
    assert not fg.is_anomaly_enabled()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")

        @fg.autograd.detect_anomaly()
        def step():
            (x / x).sum().backward()

    with pytest.raises(RuntimeError, match="DivBackward0"):
        step()
    assert not fg.is_anomaly_enabled()


def test_anomaly_flags_as_pytorch_reports_them():
    assert not fg.is_anomaly_enabled() and fg.is_anomaly_check_nan_enabled()
    x = fg.tensor([0.0], requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with fg.autograd.detect_anomaly(check_nan=False):
            assert fg.is_anomaly_enabled() and not fg.is_anomaly_check_nan_enabled()
            (x / x).sum().backward()  # no NaN check asked for
    assert not fg.is_anomaly_enabled() and fg.is_anomaly_check_nan_enabled()


def test_anomaly_mode_passes_finite_gradients():
    fg.set_anomaly_enabled(True)
    w = fg.randn(3, 3, requires_grad=True)
    (w @ w).tanh().sum().backward()
    assert fg.isfinite(w.grad).all().item()


def test_detach_in_place_makes_a_leaf():
    x = fg.ones(2, requires_grad=True)
    y = x * 2
    assert y.detach_() is y and not y.requires_grad and y.grad_fn is None and y.is_leaf
    z = y * 3  # y is now a constant for what follows
    assert not z.requires_grad
    with pytest.raises(RuntimeError, match="Can't detach views in-place"):
        x[:1].detach_()
    with pytest.raises(RuntimeError, match="Can't detach views in-place"):
        fg.ones(3)[1:].detach_()  # any view, as PyTorch


def test_variable_is_a_detached_leaf_sharing_memory():
    a = fg.ones(2)
    v = Variable(a, requires_grad=True)
    assert v is not a and v.requires_grad and not a.requires_grad and v.is_leaf and v.data_ptr() == a.data_ptr()
    b = fg.ones(2, requires_grad=True) * 2
    w = Variable(b)
    assert not w.requires_grad and w.grad_fn is None
    assert isinstance(a, Variable) and not isinstance(3, Variable)
    with pytest.warns(UserWarning, match="volatile"):
        Variable(a, volatile=True)


def test_pin_memory_is_the_tensor_itself():
    a = fg.ones(2)
    assert a.pin_memory() is a


@pytest.mark.parametrize("mode, inside", [(fg.no_grad, False), (lambda: fg.set_grad_enabled(False), False),
                                          (fg.inference_mode, False)])
def test_a_decorated_generator_holds_its_mode_only_while_it_runs(mode, inside):
    """`@no_grad()` on a generator: the caller's code between two items runs in the caller's
    mode (it ran with grad off, recording no graph, while the generator was paused)."""

    @mode()
    def items(x):
        seen = []
        for i in range(3):
            got = yield x * i, fg.is_grad_enabled()
            seen.append(got)
        return seen

    x = fg.ones(1, requires_grad=True)
    it = items(x)
    value, enabled = next(it)
    assert enabled is inside and not value.requires_grad
    assert fg.is_grad_enabled() and (x * 2).requires_grad  # the caller's mode, between items
    assert it.send("a")[1] is inside and fg.is_grad_enabled()
    with pytest.raises(StopIteration) as stop:
        it.send("b")
        it.send("c")
    assert stop.value.value == ["a", "b", "c"]
    # A throw reaches the generator in its mode; closing it leaves the caller's mode alone.
    it = items(x)
    next(it)
    with pytest.raises(KeyError):
        it.throw(KeyError("k"))
    assert fg.is_grad_enabled()
    it = items(x)
    next(it)
    it.close()
    assert fg.is_grad_enabled()
