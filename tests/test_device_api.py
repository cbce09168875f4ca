"""The device and misc API scripts call first: fg.backends, fg.accelerator, fg.amp (autocast and
GradScaler), fg.Size, the legacy constructors and Tensor.type / __format__, the default dtype,
determinism and thread switches.

Expected values are PyTorch 2.15's (CPU), from the calls written next to each test; where
PyTorch is installed, the tests marked "live" make the same calls on torch.
"""

from __future__ import annotations

import pickle
import warnings

import ferrograd as fg
import numpy as np
import pytest
from ferrograd._legacy import tensor_new
from ferrograd.amp import autocast_mode


@pytest.fixture
def torch():
    return pytest.importorskip("torch")


# ---- backends and accelerator -------------------------------------------------------------------


def test_backends_answer_for_a_cpu_only_build():
    assert fg.backends.mps.is_available() is False and fg.backends.mps.is_built() is False
    assert fg.backends.cudnn.is_available() is False and fg.backends.cudnn.version() is None
    assert fg.backends.cuda.is_built() is False
    assert fg.backends.mkldnn.is_available() is False and fg.backends.openmp.is_available() is False
    assert fg.accelerator.is_available() is False
    assert fg.accelerator.current_accelerator() is None and fg.accelerator.device_count() == 0
    assert fg.cuda.is_available() is False and fg.cuda.device_count() == 0 and fg.cuda.empty_cache() is None
    assert fg.cpu.is_available() and fg.cpu.device_count() == 1 and fg.cpu.current_device() == "cpu"


def test_cudnn_and_matmul_flags_have_pytorchs_defaults_and_are_stored():
    cudnn = fg.backends.cudnn
    # torch.backends.cudnn: enabled=True, benchmark=False, deterministic=False, allow_tf32=True;
    # torch.backends.cuda.matmul.allow_tf32=False.
    assert (cudnn.enabled, cudnn.benchmark, cudnn.deterministic, cudnn.allow_tf32) == (True, False, False, True)
    assert fg.backends.cuda.matmul.allow_tf32 is False
    try:
        cudnn.benchmark = True
        cudnn.deterministic = True
        fg.backends.cuda.matmul.allow_tf32 = True
        import ferrograd.backends.cudnn as again

        assert again.benchmark is True and again.deterministic is True and fg.backends.cuda.matmul.allow_tf32 is True
        with cudnn.flags(enabled=False, deterministic=False):
            assert cudnn.enabled is False and cudnn.deterministic is False and cudnn.benchmark is False
        assert cudnn.enabled is True and cudnn.benchmark is True and cudnn.deterministic is True
    finally:
        cudnn.benchmark, cudnn.deterministic, fg.backends.cuda.matmul.allow_tf32 = False, False, False


def test_cudnn_defaults_live(torch):
    c = torch.backends.cudnn
    assert (c.enabled, c.benchmark, c.deterministic, c.allow_tf32) == (True, False, False, True)
    assert torch.backends.cuda.matmul.allow_tf32 is False and torch.backends.mps.is_available() is False


# ---- autocast ------------------------------------------------------------------------------------


@pytest.fixture
def fresh_autocast(monkeypatch):
    monkeypatch.setattr(autocast_mode, "_warned", False)


def test_autocast_keeps_dtypes_and_warns_once(fresh_autocast):
    a = fg.ones(2, 2)
    with pytest.warns(UserWarning, match="autocast is a pass-through") as caught:
        with fg.autocast("cpu") as region:
            out = a @ a
        with fg.amp.autocast(device_type="cuda", dtype=fg.float32):
            out2 = a @ a
    assert len(caught) == 1 and isinstance(region, fg.amp.autocast)
    assert out.dtype == fg.float32 and out2.dtype == fg.float32
    np.testing.assert_array_equal(out.numpy(), np.full((2, 2), 2.0, np.float32))


def test_autocast_as_a_decorator_and_disabled(fresh_autocast):
    @fg.autocast("cpu", enabled=False)
    def double(x):
        """Doubles."""
        return x * 2

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert double(fg.tensor([1.0])).tolist() == [2.0]
    assert double.__name__ == "double" and double.__doc__ == "Doubles."
    assert fg.amp.custom_fwd(device_type="cuda")(double) is double and fg.amp.custom_bwd(double, device_type="cuda") is double


def test_autocast_checks_its_device_type():
    # torch.autocast(torch.device("cpu")) -> ValueError; torch.autocast("foo") -> RuntimeError.
    with pytest.raises(ValueError, match="Expected `device_type` of type `str`, got: `<class 'ferrograd._device.device'>`"):
        fg.autocast(fg.device("cpu"))
    with pytest.raises(RuntimeError, match="Expected one of cpu, cuda, .* device type at start of device string: foo"):
        fg.autocast("foo")


def test_deprecated_amp_spellings_warn_as_pytorch(fresh_autocast):
    with pytest.warns(FutureWarning, match=r"`fg.cuda.amp.autocast\(args...\)` is deprecated"):
        ac = fg.cuda.amp.autocast()
    assert ac.device == "cuda"
    with pytest.warns(FutureWarning, match=r"`fg.cpu.amp.autocast\(args...\)` is deprecated"):
        assert fg.cpu.amp.autocast().device == "cpu"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert fg.cuda.amp.GradScaler().is_enabled() is False  # and disables itself: no CUDA
    assert [w.category for w in caught] == [FutureWarning, UserWarning] and "Disabling" in str(caught[1].message)
    with pytest.warns(FutureWarning, match=r"`fg.cpu.amp.GradScaler\(args...\)` is deprecated"):
        assert fg.cpu.amp.GradScaler().is_enabled() is True  # torch.cpu.amp.GradScaler() is enabled too


# ---- GradScaler ------------------------------------------------------------------------------------


def _model():
    w = fg.nn.Parameter(fg.tensor([1.0, 2.0]))
    return w, fg.optim.SGD([w], lr=0.1)


def test_grad_scaler_for_cuda_disables_itself_as_pytorch():
    with pytest.warns(UserWarning, match="Disabling"):
        scaler = fg.amp.GradScaler()
    w, opt = _model()
    loss = (w * w).sum()
    assert scaler.scale(loss) is loss
    loss.backward()
    assert scaler.unscale_(opt) is None and scaler.step(opt) is None and scaler.update() is None
    np.testing.assert_allclose(w.detach().numpy(), [0.8, 1.6], rtol=1e-6)  # the step ran, unscaled
    assert scaler.get_scale() == 1.0 and scaler.state_dict() == {} and scaler.is_enabled() is False
    scaler.load_state_dict({})  # a disabled scaler ignores it, as PyTorch
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert fg.amp.GradScaler(enabled=False).is_enabled() is False


def test_grad_scaler_on_cpu_scales_as_pytorch():
    """The same calls in PyTorch 2.15 (torch.amp.GradScaler("cpu", init_scale=4.0, growth_interval=2),
    w = Parameter([1., 2.]), SGD lr=0.1, loss = (w * w).sum()) gave the values asserted here."""
    s = fg.amp.GradScaler("cpu", init_scale=4.0, growth_interval=2)
    w, opt = _model()
    scaled = s.scale((w * w).sum())
    assert scaled.item() == 20.0
    scaled.backward()
    assert w.grad.tolist() == [8.0, 16.0]
    s.step(opt)
    np.testing.assert_allclose(w.detach().numpy(), [0.8, 1.6], rtol=1e-6)
    assert w.grad.tolist() == [2.0, 4.0]
    s.update()
    assert s.get_scale() == 4.0
    assert s.state_dict() == {"scale": 4.0, "growth_factor": 2.0, "backoff_factor": 0.5, "growth_interval": 2, "_growth_tracker": 1}
    with pytest.raises(AssertionError, match="No inf checks were recorded prior to update."):
        s.update()

    opt.zero_grad()
    s.scale((w * w).sum()).backward()
    s.unscale_(opt)
    np.testing.assert_allclose(w.grad.numpy(), [1.6, 3.2], rtol=1e-6)
    with pytest.raises(RuntimeError, match=r"unscale_\(\) has already been called on this optimizer since the last update\(\)."):
        s.unscale_(opt)
    assert s.step(opt) is None
    with pytest.raises(RuntimeError, match=r"step\(\) has already been called since the last update\(\)."):
        s.step(opt)
    s.update()
    assert s.get_scale() == 8.0 and s.state_dict()["_growth_tracker"] == 0

    before = w.detach().numpy().copy()
    w.grad = fg.tensor([float("inf"), 1.0])
    assert s.step(opt) is None
    np.testing.assert_array_equal(w.detach().numpy(), before)  # the step was skipped
    s.update()
    assert s.get_scale() == 4.0 and s.state_dict()["_growth_tracker"] == 0

    nested = s.scale([fg.ones(1), (fg.ones(2),)])
    assert nested[0].tolist() == [4.0] and isinstance(nested[1], tuple) and nested[1][0].tolist() == [4.0, 4.0]
    with pytest.raises(ValueError, match="outputs must be a Tensor or an iterable of Tensors"):
        s.scale(3.0)
    s.update(16.0)
    assert s.get_scale() == 16.0
    with pytest.raises(RuntimeError, match="The source state dict is empty"):
        s.load_state_dict({})
    with pytest.raises(RuntimeError, match="Closure use is not currently supported if GradScaler is enabled."):
        s.step(opt, closure=lambda: None)
    other = fg.amp.GradScaler("cpu")
    other.load_state_dict(s.state_dict())
    assert other.state_dict() == s.state_dict() and other.get_growth_interval() == 2


# ---- Size ------------------------------------------------------------------------------------------


def test_size_is_a_tuple_printed_with_our_module_name():
    s = fg.Size([2, 3])
    # torch: repr(torch.Size([2, 3])) == "torch.Size([2, 3])"; numel() == 6; torch.Size([]).numel() == 1.
    assert repr(s) == str(s) == "ferrograd.Size([2, 3])" and repr(fg.Size([])) == "ferrograd.Size([])"
    assert s == (2, 3) and isinstance(s, tuple) and hash(s) == hash((2, 3))
    assert s.numel() == 6 and fg.Size([]).numel() == 1
    assert type(s[0:1]) is fg.Size and s[1] == 3
    assert type(s + (4,)) is fg.Size and type((4,) + s) is fg.Size and type(s * 2) is fg.Size
    assert (4,) + s == (4, 2, 3)
    assert fg.Size((fg.tensor(3), np.int64(2))) == (3, 2)
    assert pickle.loads(pickle.dumps(s)) == s and type(pickle.loads(pickle.dumps(s))) is fg.Size
    with pytest.raises(TypeError, match=r"ferrograd.Size\(\) takes an iterable of 'int' \(item 0 is 'float'\)"):
        fg.Size([2.5])
    with pytest.raises(TypeError):
        fg.Size(3)


def test_tensor_shape_is_a_size():
    t = fg.zeros(2, 3)
    assert type(t.shape) is fg.Size and type(t.size()) is fg.Size and t.size(1) == 3
    assert repr(t.shape) == "ferrograd.Size([2, 3])" and t.shape.numel() == 6


@pytest.mark.parametrize("shape", [(), (0,), (5,), (2, 0, 3), (4, 1, 6, 2)])
def test_size_subscripts_index_as_tuples_and_slice_to_sizes(shape):
    # The subscript is tuple's, in a C base (`_core._SizeBase`); a slice is retyped.
    s = fg.zeros(shape).shape
    ref = tuple(shape)
    for i in range(-len(ref), len(ref)):
        assert s[i] == ref[i] and type(s[i]) is int
    for sl in [slice(None), slice(1, None), slice(None, -1), slice(None, None, -1), slice(0, 0), slice(5, 9)]:
        assert type(s[sl]) is fg.Size and s[sl] == ref[sl]
    assert type(s[1:]) is fg.Size and s[1:].numel() == int(np.prod(ref[1:]))
    with pytest.raises(IndexError):
        s[len(ref)]
    with pytest.raises(TypeError, match="indices must be integers or slices"):
        s["a"]
    assert hash(s) == hash(ref) and {ref: 1}[s] == 1 and s == ref and list(s) == list(ref)
    assert isinstance(s, fg.Size) and isinstance(fg.Size(ref), type(s))


# ---- legacy constructors ----------------------------------------------------------------------------


def test_typed_constructors_take_data_or_sizes():
    # torch.FloatTensor([1, 2]) -> float32 [1., 2.]; torch.LongTensor([1.7, 2]) -> [1, 2];
    # torch.BoolTensor([1, 0, 2]) -> [True, False, True]; torch.LongTensor(2, 3) -> shape (2, 3).
    f = fg.FloatTensor([1, 2])
    assert f.dtype == fg.float32 and f.tolist() == [1.0, 2.0]
    assert fg.LongTensor([1.7, 2]).tolist() == [1, 2] and fg.LongTensor([1]).dtype == fg.int64
    assert fg.BoolTensor([1, 0, 2]).tolist() == [True, False, True]
    assert fg.DoubleTensor(np.array([1, 2])).dtype == fg.float64
    z = fg.LongTensor(2, 3)
    assert z.shape == (2, 3) and z.dtype == fg.int64 and z.tolist() == [[0, 0, 0], [0, 0, 0]]  # zero-filled
    assert fg.FloatTensor(fg.Size([2, 1])).shape == (2, 1) and fg.FloatTensor().shape == (0,)
    assert fg.DoubleTensor(2, device="cpu").shape == (2,)
    x = fg.tensor([1.0, 2.0])
    assert fg.FloatTensor(x) is x
    assert fg.FloatTensor((2, 3)).tolist() == [2.0, 3.0]  # a plain tuple is data, a Size is sizes


@pytest.mark.parametrize(
    "call, exc, message",
    [
        (lambda: fg.FloatTensor(fg.tensor([1, 2])), TypeError, r"expected ferrograd.float32 \(got ferrograd.int64\)"),
        (lambda: fg.FloatTensor(3.5), TypeError, r"new\(\): data must be a sequence \(got float\)"),
        (lambda: fg.FloatTensor(True), TypeError, r"new\(\): data must be a sequence \(got bool\)"),
        (lambda: fg.FloatTensor(np.float32(2)), TypeError, r"new\(\): data must be a sequence \(got numpy.float32\)"),
        (lambda: fg.FloatTensor("ab"), TypeError, r"new\(\): invalid data type 'str'"),
        (lambda: fg.FloatTensor(2.0, 3), TypeError, r"new\(\) received an invalid combination of arguments - got \(float, int\)"),
        (lambda: fg.FloatTensor([1, 2], dtype=fg.float64), TypeError, r"got \(list, dtype=ferrograd.dtype\)"),
        (lambda: fg.FloatTensor(-1), RuntimeError, "Trying to create tensor with negative dimension -1"),
        (lambda: fg.FloatTensor(2, device="cuda"), RuntimeError, "ferrograd runs on the CPU only"),
        (lambda: fg.FloatTensor([[1, 2], [3]]), ValueError, "could not build a tensor"),
    ],
)
def test_typed_constructor_errors_as_pytorch(call, exc, message):
    with pytest.raises(exc, match=message):
        call()


def test_isinstance_with_legacy_types():
    # torch: isinstance(torch.zeros(2), torch.FloatTensor) is True, for a long tensor False;
    # a Parameter counts; the types are not Tensor subclasses.
    assert isinstance(fg.zeros(2), fg.FloatTensor) and not isinstance(fg.zeros(2, dtype=fg.int64), fg.FloatTensor)
    assert isinstance(fg.nn.Parameter(fg.zeros(2)), fg.FloatTensor) and isinstance(fg.arange(3), fg.LongTensor)
    assert not isinstance([1.0], fg.FloatTensor) and not issubclass(fg.FloatTensor, fg.Tensor)
    assert repr(fg.FloatTensor) == "<class 'ferrograd.FloatTensor'>" and fg.LongTensor.dtype == fg.int64


def test_tensor_new_rules_for_fg_tensor():
    # torch.Tensor([1, 2]) -> float32; torch.Tensor(2, 3) -> shape (2, 3); torch.Tensor(long) keeps int64.
    assert tensor_new([1, 2]).dtype == fg.float32 and tensor_new([1, 2]).tolist() == [1.0, 2.0]
    assert tensor_new(2, 3).shape == (2, 3) and tensor_new().shape == (0,)
    assert tensor_new(fg.arange(3)).dtype == fg.int64
    with pytest.raises(TypeError, match="data must be a sequence"):
        tensor_new(3.5)


def test_tensor_legacy_constructor():
    assert fg.Tensor([1, 2]).tolist() == [1.0, 2.0] and fg.Tensor(2, 3).shape == (2, 3)
    assert isinstance(fg.Tensor([1.0]), fg.Tensor) and isinstance(fg.nn.Parameter(fg.zeros(2)), fg.nn.Parameter)


# ---- Tensor.type and __format__ ------------------------------------------------------------------------


def test_type_names_are_pytorchs():
    # torch: .type() of float32/int64/bool/float64 tensors.
    assert fg.zeros(2).type() == "torch.FloatTensor" and fg.zeros(2, dtype=fg.int64).type() == "torch.LongTensor"
    assert fg.zeros(2, dtype=fg.bool).type() == "torch.BoolTensor" and fg.zeros(2, dtype=fg.float64).type() == "torch.DoubleTensor"


def test_type_casts():
    t = fg.tensor([1.5, 2.0])
    assert t.type(fg.float32) is t and t.type("torch.FloatTensor") is t
    for target in (fg.float64, "torch.DoubleTensor", fg.DoubleTensor, "ferrograd.DoubleTensor"):
        assert t.type(target).dtype == fg.float64
    assert t.type(fg.int64).tolist() == [1, 2] and t.type(dtype=fg.LongTensor, non_blocking=True).dtype == fg.int64
    assert t.type("torch.Tensor") is t and t.type(fg.Tensor) is t
    x = fg.ones(2, requires_grad=True)
    y = x.type(fg.float64)
    y.sum().backward()
    assert y.requires_grad and x.grad.tolist() == [1.0, 1.0]


@pytest.mark.parametrize(
    "arg, exc, message",
    [
        ("FloatTensor", ValueError, "invalid type: 'FloatTensor'"),
        ("float64", ValueError, "invalid type: 'float64'"),
        ("torch.float64", ValueError, "invalid type: 'torch.float64'"),
        (float, ValueError, "invalid type: 'float'"),
        (np.float64, ValueError, "invalid type: 'numpy.float64'"),
        ("torch.cuda.FloatTensor", RuntimeError, "CPU only"),
    ],
)
def test_type_errors_as_pytorch(arg, exc, message):
    with pytest.raises(exc, match=message):
        fg.zeros(2).type(arg)


def test_format_spec_on_0d_tensors():
    # torch: f"{torch.tensor(1.23456):.3f}" == "1.235"; f"{torch.tensor(3):>5}" == "    3";
    # f"{torch.tensor([1.2]):.3f}" is a TypeError; f"{t}" is str(t); a 0-d Parameter with a spec is a TypeError.
    assert f"{fg.tensor(1.23456):.3f}" == "1.235" and f"{fg.tensor(3):>5}" == "    3"
    assert f"{fg.tensor(1.5, requires_grad=True):.2f}" == "1.50" and f"{fg.tensor(True)}" == "True"
    assert f"{fg.tensor(2.5)}" == "2.5" and f"{fg.tensor([1.0, 2.0])}" == "tensor([1., 2.])"
    with pytest.raises(TypeError, match="unsupported format string passed to ferrograd.Tensor.__format__|Tensor.__format__"):
        f"{fg.tensor([1.23456]):.3f}"
    with pytest.raises(TypeError, match="Parameter.__format__"):
        f"{fg.nn.Parameter(fg.tensor(2.5)):.1f}"


def test_type_and_format_live(torch):
    assert torch.zeros(2).type() == "torch.FloatTensor" and f"{torch.tensor(1.23456):.3f}" == "1.235"
    with pytest.raises(ValueError, match="invalid type: 'FloatTensor'"):
        torch.zeros(2).type("FloatTensor")


# ---- default dtype, determinism, threads, generators --------------------------------------------------


@pytest.fixture
def default_dtype():
    yield
    fg.set_default_dtype(fg.float32)


def test_default_dtype_follows_set_default_dtype(default_dtype):
    assert fg.get_default_dtype() == fg.float32
    fg.set_default_dtype(fg.float64)
    assert fg.get_default_dtype() == fg.float64
    assert fg.tensor([1.5]).dtype == fg.float64 and fg.zeros(2).dtype == fg.float64 and fg.rand(2).dtype == fg.float64
    assert fg.arange(0.0, 1.0, 0.5).dtype == fg.float64 and fg.full((2,), 1.5).dtype == fg.float64
    assert fg.nn.Linear(2, 3).weight.dtype == fg.float64 and fg.tensor([1]).dtype == fg.int64
    assert fg.FloatTensor([1]).dtype == fg.float32 and tensor_new([1]).dtype == fg.float64
    with pytest.raises(TypeError, match="only floating-point types are supported as the default type"):
        fg.set_default_dtype(fg.int64)


def test_python_float_dtype_is_double():
    # torch.zeros(2, dtype=float).dtype == torch.float64
    assert fg.zeros(2, dtype=float).dtype == fg.float64 and fg.zeros(2, dtype=int).dtype == fg.int64


def test_determinism_and_thread_switches():
    assert fg.are_deterministic_algorithms_enabled() is False
    try:
        fg.use_deterministic_algorithms(True, warn_only=True)
        assert fg.are_deterministic_algorithms_enabled() is True and fg.is_deterministic_algorithms_warn_only_enabled() is True
    finally:
        fg.use_deterministic_algorithms(False)
    n = fg.get_num_threads()
    assert isinstance(n, int) and n >= 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fg.set_num_threads(n)  # the current count: nothing to change, nothing to warn about
    with pytest.raises(RuntimeError, match="set_num_threads expects a positive integer"):
        fg.set_num_threads(0)


def test_generator_api():
    g = fg.Generator()
    assert g.initial_seed() == 67280421310721 and g.device == fg.device("cpu")  # PyTorch's default seed
    assert g.manual_seed(3) is g and g.initial_seed() == 3
    state = g.get_state()
    a = fg.randn(4, generator=g)
    g.set_state(state)
    assert fg.randn(4, generator=g).tolist() == a.tolist()
    fg.manual_seed(3)
    assert fg.randn(4).tolist() == a.tolist() and fg.initial_seed() == 3
    assert fg.Generator().manual_seed(-1).initial_seed() == 2**64 - 1
    assert fg.default_generator.manual_seed(9) is fg.default_generator and fg.initial_seed() == 9
    b = fg.rand(3, generator=fg.default_generator)
    fg.manual_seed(9)
    assert fg.rand(3).tolist() == b.tolist() and fg.default_generator.get_state() == fg.get_rng_state()
    with pytest.raises(TypeError, match="generator must be a ferrograd.Generator"):
        fg.rand(2, generator=object())
