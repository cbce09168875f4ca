"""fg.onnx.export: the written models pass onnx's checker and ONNX Runtime computes what
ferrograd computes in eval mode (within 1e-5, at two batch sizes through a dynamic batch axis);
the train/eval trap (a model left in training mode exports its eval graph and keeps its modes);
errors that name the op and the module. The tracer itself is tested without onnx."""

from __future__ import annotations

import io
import os
import sys
import warnings

import ferrograd as fg
import numpy as np
import pytest
from ferrograd import _core, nn
from ferrograd.examples.digits import build_model

# ---------------------------------------------------------------------------- the tracer


def test_trace_logs_ops_with_grad_off_and_leaves_no_history():
    x = fg.randn(4, 6, requires_grad=True)
    with fg.no_grad():
        _core._trace_begin()
        try:
            y = (x * 2).softmax(1).transpose(0, 1)
        finally:
            ops = _core._trace_end()
    names = [o[0] for o in ops]
    assert names[-2:] == ["SoftmaxBackward0", "PermuteBackward0"]
    assert ops[-2][3] == {"dim": 1} and ops[-1][3] == {"perm": [1, 0]}
    assert _core._trace_ids(ops[-1][2][0])[0] == _core._trace_ids(y)[0]
    assert y.grad_fn is None and not y.requires_grad


def test_trace_with_grad_on_still_builds_the_graph():
    x = fg.randn(3, requires_grad=True)
    _core._trace_begin()
    try:
        y = (x.exp() * 3).sum()
    finally:
        ops = _core._trace_end()
    ops = [o for o in ops if o[0] not in ("ToCopyBackward0", "detach")]  # the scalar 3 made a float tensor, internal detaches
    assert [o[0] for o in ops] == ["ExpBackward0", "MulBackward0", "SumBackward0"]
    assert ops[0][3] == {"op": "exp"}
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), 3 * np.exp(x.detach().numpy()), rtol=1e-6)


def test_trace_refuses_an_inplace_write_into_a_view():
    x = fg.zeros(4, 4)
    _core._trace_begin()
    try:
        with pytest.raises(NotImplementedError, match="writes into a view"):
            x[1].add_(1.0)
    finally:
        _core._trace_end()
    assert float(x.sum()) == 0.0  # refused before writing


def test_traces_do_not_nest():
    _core._trace_begin()
    try:
        with pytest.raises(RuntimeError, match="already active"):
            _core._trace_begin()
    finally:
        _core._trace_end()


def test_export_without_onnx_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(ModuleNotFoundError, match=r"ferrograd\[onnx\]"):
        fg.onnx.export(nn.Linear(2, 2), fg.randn(1, 2), io.BytesIO())


# ---------------------------------------------------------------------------- models

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")


def _export(model, args, **kw) -> tuple[object, bytes]:
    buf = io.BytesIO()
    proto = fg.onnx.export(model, args, buf, **kw)
    onnx.checker.check_model(proto)
    return proto, buf.getvalue()


def _ops(proto) -> list[str]:
    return [n.op_type for n in proto.graph.node]


def _warm_up(model, make, n=3):
    """A few training-mode forwards, so BatchNorm's running statistics are not the defaults."""
    model.train()
    with fg.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(n):
            model(make(8))


def _check_dynamic_batch(model, make, batch_sizes=(3, 7), tol=1e-5):
    """Exported from a model left in training mode, with a dynamic batch axis; ONNX Runtime at
    two other batch sizes equals ferrograd's eval-mode output."""
    _warm_up(model, make)
    modes = [(m, m.training) for m in model.modules()]
    with pytest.warns(UserWarning, match="exporting its eval-mode graph"):
        proto, data = _export(model, (make(5),), input_names=["x"], output_names=["y"], dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}})
    assert [(m, m.training) for m in model.modules()] == modes, "export changed the model's modes"
    assert "Dropout" not in _ops(proto)
    session = ort.InferenceSession(data)
    model.eval()
    for b in batch_sizes:
        x = make(b)
        with fg.no_grad():
            ref = model(x)
        got = session.run(None, {"x": x.numpy()})[0]
        assert got.shape == tuple(ref.shape)
        np.testing.assert_allclose(got, ref.numpy(), rtol=tol, atol=tol)
    return proto


def test_mlp_with_dropout_and_batchnorm_exports_its_eval_graph():
    fg.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.5), nn.Linear(16, 3))
    proto = _check_dynamic_batch(model, lambda b: fg.randn(b, 8))
    # BatchNorm folded into the Linear before it; the weights keep their state_dict names.
    assert _ops(proto) == ["Gemm", "Relu", "Gemm", "Identity"]
    assert "4.weight" in {i.name for i in proto.graph.initializer}


def test_mlp_without_constant_folding_keeps_batchnorm():
    fg.manual_seed(1)
    model = nn.Sequential(nn.Linear(8, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 3))
    _warm_up(model, lambda b: fg.randn(b, 8))
    model.eval()
    proto, data = _export(model, fg.randn(4, 8), do_constant_folding=False)
    assert "BatchNormalization" in _ops(proto)
    x = fg.randn(4, 8)
    with fg.no_grad():
        ref = model(x).numpy()
    np.testing.assert_allclose(ort.InferenceSession(data).run(None, {"input": x.numpy()})[0], ref, rtol=1e-5, atol=1e-5)


def test_demo_cnn():
    fg.manual_seed(2)
    proto = _check_dynamic_batch(build_model(), lambda b: fg.randn(b, 1, 8, 8))
    assert "BatchNormalization" not in _ops(proto) and _ops(proto).count("Conv") == 2


def test_1d_cnn():
    fg.manual_seed(3)
    model = nn.Sequential(nn.Conv1d(3, 8, 5, padding=2), nn.ReLU(), nn.MaxPool1d(2), nn.Conv1d(8, 8, 3, stride=2, dilation=2),
                          nn.BatchNorm1d(8), nn.GELU(), nn.AvgPool1d(2), nn.AdaptiveAvgPool1d(1), nn.Flatten(), nn.Dropout(0.1), nn.Linear(8, 2))
    _check_dynamic_batch(model, lambda b: fg.randn(b, 3, 40))


class CharLM(nn.Module):
    def __init__(self, cell=nn.LSTM, **kw):
        super().__init__()
        self.emb = nn.Embedding(50, 16)
        self.rnn = cell(16, 24, num_layers=2, batch_first=True, dropout=0.2, **kw)
        width = 48 if kw.get("bidirectional") else 24
        self.out = nn.Linear(width, 50)

    def forward(self, x):
        h, _ = self.rnn(self.emb(x))
        return self.out(h).log_softmax(-1)


def test_lstm_language_model():
    fg.manual_seed(4)
    proto = _check_dynamic_batch(CharLM(), lambda b: fg.randint(0, 50, (b, 12)))
    assert _ops(proto).count("LSTM") == 2 and "Gather" in _ops(proto)


@pytest.mark.parametrize("cell", [nn.GRU, nn.RNN])
def test_bidirectional_gru_and_rnn(cell):
    fg.manual_seed(5)
    _check_dynamic_batch(CharLM(cell, bidirectional=True), lambda b: fg.randint(0, 50, (b, 9)))


def test_lstm_with_given_initial_state_and_all_outputs():
    fg.manual_seed(6)
    lstm = nn.LSTM(5, 7).eval()
    x, h0, c0 = fg.randn(6, 2, 5), fg.randn(1, 2, 7), fg.randn(1, 2, 7)

    class Wrap(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = lstm

        def forward(self, x, h, c):
            out, (h, c) = self.lstm(x, (h, c))
            return out, h, c

    proto, data = _export(Wrap(), (x, h0, c0), input_names=["x", "h0", "c0"])
    got = ort.InferenceSession(data).run(None, {"x": x.numpy(), "h0": h0.numpy(), "c0": c0.numpy()})
    with fg.no_grad():
        out, (h, c) = lstm(x, (h0, c0))
    for a, b in zip(got, (out, h, c)):
        np.testing.assert_allclose(a, b.numpy(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("norm_first,activation", [(False, "relu"), (True, "gelu")])
def test_transformer_encoder_layer(norm_first, activation):
    fg.manual_seed(7)
    layer = nn.TransformerEncoderLayer(32, 4, 64, dropout=0.1, activation=activation, batch_first=True, norm_first=norm_first)
    proto = _check_dynamic_batch(layer, lambda b: fg.randn(b, 10, 32))
    assert "LayerNormalization" in _ops(proto) and "Softmax" in _ops(proto)


def test_attention_masks():
    fg.manual_seed(8)

    class Attn(nn.Module):
        def forward(self, q, k, v):
            mask = fg.ones(6, 6, dtype=fg.bool).tril()
            a = nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
            b = nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=0.3)
            return a + b

    q, k, v = (fg.randn(2, 3, 6, 4) for _ in range(3))
    _, data = _export(Attn(), (q, k, v), input_names=["q", "k", "v"])
    got = ort.InferenceSession(data).run(None, {"q": q.numpy(), "k": k.numpy(), "v": v.numpy()})[0]
    with fg.no_grad():
        ref = Attn()(q, k, v).numpy()
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("opset,dtype,node", [(17, "float32", "Trilu"), (14, "int64", "Trilu"), (17, "bool", "Trilu"),
                                              (13, "float32", "Where"), (17, "int32", "Where")])
def test_tril_triu_export(opset, dtype, node):
    class Tri(nn.Module):
        def forward(self, x):
            return x.tril(1), fg.triu(x, -2), x.tril()

    x = fg.tensor((np.random.default_rng(5).standard_normal((2, 4, 6)) * 10).astype(dtype))
    dynamic = {"x": {0: "batch"}} if node == "Trilu" else None
    proto, data = _export(Tri(), (x,), input_names=["x"], opset_version=opset, dynamic_axes=dynamic)
    assert node in _ops(proto) and ("Trilu" not in _ops(proto) or node == "Trilu")
    session = ort.InferenceSession(data)
    for b in (2, 3) if dynamic else (2,):
        xb = fg.tensor((np.random.default_rng(b).standard_normal((b, 4, 6)) * 10).astype(dtype))
        got = session.run(None, {"x": xb.numpy()})
        for g, r in zip(got, Tri()(xb)):
            np.testing.assert_array_equal(g, r.numpy())

# ---------------------------------------------------------------------------- train/eval


def _mlp():
    return nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Dropout(0.3), nn.Linear(8, 2))


def test_export_restores_modes_pins_running_stats_and_rng():
    fg.manual_seed(9)
    model = _mlp()
    _warm_up(model, lambda b: fg.randn(b, 4))
    model[3].pin_mode("train")
    model.train()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    x = fg.randn(5, 4)
    rng = fg.get_rng_state()
    for training in fg.onnx.TrainingMode:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _export(model, x, training=training, input_names=["x"], dynamic_axes={"x": [0]})
        assert [m.training for m in model.modules()] == [True] * 6
        assert model[3].pinned_mode == "train"
        assert fg.get_rng_state() == rng
        for k, v in model.state_dict().items():
            assert np.array_equal(v.numpy(), state[k].numpy()), k


def test_pinned_train_module_is_still_exported_in_eval_mode():
    model = _mlp()
    _warm_up(model, lambda b: fg.randn(b, 4))
    model.eval()
    model[3].pin_mode("train")  # dropout pinned to train inside an eval model
    with pytest.warns(UserWarning, match="training mode"):
        proto, _ = _export(model, fg.randn(3, 4))
    assert "Dropout" not in _ops(proto)


def test_training_and_preserve_modes():
    fg.manual_seed(10)
    model = _mlp()
    _warm_up(model, lambda b: fg.randn(b, 4))
    proto, data = _export(model, fg.randn(5, 4), training=fg.onnx.TrainingMode.TRAINING, do_constant_folding=False)
    assert "Dropout" in _ops(proto)
    bn = next(n for n in proto.graph.node if n.op_type == "BatchNormalization")
    assert onnx.helper.get_attribute_value(next(a for a in bn.attribute if a.name == "training_mode")) == 1
    ort.InferenceSession(data)  # loads
    model.eval()
    proto, _ = _export(model, fg.randn(5, 4), training=fg.onnx.TrainingMode.PRESERVE)
    assert "Dropout" not in _ops(proto) and "BatchNormalization" not in _ops(proto)
    model.train()
    proto, _ = _export(model, fg.randn(5, 4), training=fg.onnx.TrainingMode.PRESERVE)
    assert "Dropout" in _ops(proto)


def test_untracked_batchnorm_warns_as_in_eval_mode():
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4)).eval()
    with pytest.warns(fg.nn.utils.UntrackedStatsWarning):
        _export(model, fg.randn(2, 3))


# ---------------------------------------------------------------------------- errors and files


class Inner(nn.Module):
    def forward(self, x):
        return x.cumprod(1)


def test_unsupported_op_names_the_op_and_the_module():
    model = nn.Sequential(nn.Linear(3, 3), nn.Sequential(nn.ReLU(), Inner()))
    with pytest.raises(fg.onnx.UnsupportedOperatorError, match=r"CumprodBackward0.*'1\.1'"):
        _export(model, fg.randn(2, 3))


def test_failed_export_leaves_an_existing_file_untouched(tmp_path):
    path = tmp_path / "model.onnx"
    _export(nn.Linear(3, 3), fg.randn(2, 3))
    fg.onnx.export(nn.Linear(3, 3), fg.randn(2, 3), str(path))
    before = path.read_bytes()
    with pytest.raises(fg.onnx.UnsupportedOperatorError):
        fg.onnx.export(nn.Sequential(Inner()), fg.randn(2, 3), str(path))
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["model.onnx"]
    onnx.checker.check_model(onnx.load(str(path)))


class BatchSizedZeros(nn.Module):
    def forward(self, x):
        return x + fg.zeros(x.shape[0], 1)


def test_a_constant_sized_by_the_dynamic_axis_is_an_error():
    with pytest.raises(fg.onnx.OnnxExporterError, match="size of a dynamic axis"):
        _export(BatchSizedZeros(), fg.randn(3, 2), input_names=["x"], dynamic_axes={"x": [0]})
    _export(BatchSizedZeros(), fg.randn(3, 2))  # a fixed batch is fine


def test_opset_18_reduce_mean_and_bad_opset():
    model = nn.Sequential(nn.Conv1d(2, 2, 3), nn.AdaptiveAvgPool1d(1))
    x = fg.randn(2, 2, 8)
    _, data = _export(model, x, opset_version=18)
    with fg.no_grad():
        ref = model(x).numpy()
    np.testing.assert_allclose(ort.InferenceSession(data).run(None, {"input": x.numpy()})[0], ref, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="opset_version"):
        fg.onnx.export(model, x, io.BytesIO(), opset_version=9)


# ---------------------------------------------------------------------------- op coverage


class Fn(nn.Module):
    def __init__(self, f):
        super().__init__()
        self.f = f

    def forward(self, x):
        return self.f(x)


F = nn.functional
class _FlipRoll(nn.Module):
    def forward(self, x):
        return x.flip((0, 1)) + x.roll((1, -2), (0, 1)) * 2


LAYERS = {
    "flip_roll": (_FlipRoll(), (3, 4)), "softplus_default": (nn.Softplus(), (2, 5)),
    "elu": (nn.ELU(), (2, 5)), "selu": (nn.SELU(), (2, 5)), "celu": (nn.CELU(), (2, 5)), "hardtanh": (nn.Hardtanh(), (2, 5)),
    "relu6": (nn.ReLU6(), (2, 5)), "softplus": (nn.Softplus(beta=2), (2, 5)), "mish": (nn.Mish(), (2, 5)),
    "hardswish": (nn.Hardswish(), (2, 5)), "hardsigmoid": (nn.Hardsigmoid(), (2, 5)), "prelu": (nn.PReLU(5), (2, 5)),
    "silu": (nn.SiLU(), (2, 5)), "gelu_tanh": (nn.GELU("tanh"), (2, 5)), "softsign": (nn.Softsign(), (2, 5)),
    "logsigmoid": (nn.LogSigmoid(), (2, 5)), "softmax0": (nn.Softmax(0), (3, 4)), "softmin": (nn.Softmin(1), (2, 5)),
    "glu": (nn.GLU(), (2, 6)), "hardshrink": (nn.Hardshrink(), (2, 5)), "threshold": (nn.Threshold(0.1, 20), (2, 5)),
    "rrelu_eval": (nn.RReLU(), (2, 5)), "instance_norm": (nn.InstanceNorm2d(3), (2, 3, 5, 5)),
    "instance_norm_tracked": (nn.InstanceNorm1d(3, affine=True, track_running_stats=True), (2, 3, 7)),
    "group_norm": (nn.GroupNorm(2, 4), (2, 4, 5)), "layer_norm_2d": (nn.LayerNorm([4, 5]), (2, 4, 5)), "rms_norm": (nn.RMSNorm(5), (2, 4, 5)),
    "pad_constant": (Fn(lambda x: F.pad(x, (1, 2, 0, 1), value=0.5)), (2, 3, 4, 4)),
    "pad_reflect": (Fn(lambda x: F.pad(x, (1, 1, 2, 2), mode="reflect")), (2, 3, 4, 4)),
    "pad_replicate": (Fn(lambda x: F.pad(x, (1, 1), mode="replicate")), (2, 3, 4)),
    "upsample_nearest": (nn.Upsample(scale_factor=2), (1, 2, 3, 3)),
    "upsample_bilinear": (nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False), (1, 2, 3, 3)),
    "interpolate_align_corners": (Fn(lambda x: F.interpolate(x, size=(5, 7), mode="bilinear", align_corners=True)), (1, 2, 3, 3)),
    "conv_transpose": (nn.ConvTranspose2d(3, 4, 3, stride=2, padding=1, output_padding=1), (2, 3, 4, 4)),
    "conv3d": (nn.Conv3d(2, 3, 3, padding=1), (1, 2, 4, 4, 4)), "grouped_conv": (nn.Conv2d(4, 8, 3, groups=2), (1, 4, 5, 5)),
    "max_pool_ceil": (nn.MaxPool2d(3, 2, ceil_mode=True), (1, 2, 7, 7)), "avg_pool_pad": (nn.AvgPool2d(3, 2, padding=1), (1, 2, 7, 7)),
    "avg_pool_exclude_pad": (nn.AvgPool2d(3, 2, padding=1, count_include_pad=False), (1, 2, 7, 7)),
    "adaptive_max": (nn.AdaptiveMaxPool2d((2, 2)), (1, 2, 6, 6)), "unflatten": (nn.Unflatten(1, (2, 6)), (2, 12)),
    "pixel_shuffle": (nn.PixelShuffle(2), (1, 8, 3, 3)), "mean_keepdim": (Fn(lambda x: x.mean((1, 2), keepdim=True)), (2, 3, 4)),
    "max_dim": (Fn(lambda x: x.max(1).values), (2, 3, 4)), "std": (Fn(lambda x: x.std(1)), (2, 3, 4)),
    "var_biased": (Fn(lambda x: x.var(1, unbiased=False)), (2, 3, 4)), "logsumexp": (Fn(lambda x: x.logsumexp(1)), (2, 5)),
    "clamp": (Fn(lambda x: x.clamp(-0.5, 0.5)), (2, 3)), "pow_div_rsqrt": (Fn(lambda x: x ** 2 + 1 / (x.abs() + 1) + (x.abs() + 1).rsqrt()), (2, 3)),
    "cat_stack": (Fn(lambda x: fg.stack([fg.cat([x, x * 2], 1), fg.cat([x, x], 1)], 0)), (2, 3)),
    "chunk_split_narrow": (Fn(lambda x: x.chunk(2, 1)[1] + x.split([1, 3], 1)[1][:, 1:] .sum() + x.narrow(1, 1, 2)), (2, 4)),
    "strided_index": (Fn(lambda x: x[:, ::2] + x[..., -1:]), (2, 5)), "gather_middle": (Fn(lambda x: x[:, fg.tensor([2, 0])]), (2, 3, 4)),
    "expand_t_bmm": (Fn(lambda x: (x[:, :1].expand(2, 5) * x).t() @ x), (2, 5)), "einsum": (Fn(lambda x: fg.einsum("bij,bkj->bik", x, x)), (2, 3, 4)),
    "where_masked_fill": (Fn(lambda x: fg.where(x > 0, x, x * 0.1).masked_fill(x < -1, 0.0)), (2, 5)),
    "logical": (Fn(lambda x: ((x > 0) & ~(x > 1) | (x == 0)).float()), (2, 5)),
    "inplace": (Fn(lambda x: F.relu((x * 1).add_(1), inplace=True)), (2, 5)), "cumsum": (Fn(lambda x: x.cumsum(1)), (2, 5)),
    "normalize_cosine": (Fn(lambda x: F.normalize(x, dim=1) + F.cosine_similarity(x, x * 2 + 1, dim=1)[:, None]), (2, 5)),
    "dtypes": (Fn(lambda x: x.double() * 2 + (x * 10).long()), (2, 3)),
    "rounding": (Fn(lambda x: (x * 3).floor() + (x * 3).ceil() + (x * 3).round() + x.sign() + (x * 3).trunc()), (4, 5)),
    "logs_exp2": (Fn(lambda x: (x.abs() + 1).log2() + (x.abs() + 1).log10() + x.exp2()), (4, 5)),
    "floor_divide_remainder": (Fn(lambda x: (x * 5) // 2 + (x * 5) % -1.5 + ((x * 5).long() % 3).float()), (4, 5)),
}


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_layer_matches_onnx_runtime(name):
    fg.manual_seed(11)
    model, shape = LAYERS[name]
    model.eval()
    x = fg.randn(*shape)
    _, data = _export(model, x)
    got = ort.InferenceSession(data).run(None, {"input": x.numpy()})[0]
    with fg.no_grad():
        ref = model(x).numpy()
    assert got.dtype == ref.dtype and got.shape == ref.shape
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("forward", [
    lambda x: x * (x.argmax(1, keepdim=True) == 0),  # argmax: no gradient, not traced
    lambda x: x * float(x.sum().item() > 0),  # a Python number from a value
    lambda x: x + fg.from_numpy(np.sort(x.numpy(), 1)),  # through numpy
])
def test_values_taken_outside_the_trace_are_an_error(forward):
    fg.manual_seed(12)
    with pytest.raises(fg.onnx.OnnxExporterError, match="depends on the inputs' values"):
        _export(Fn(forward), fg.randn(3, 4))


def test_control_flow_on_a_value_is_an_error():
    def forward(x):
        return x * 2 if float(x[0, 0]) > 0 else x.exp()

    x = fg.tensor([[1.0, -1.0], [-2.0, -3.0]])
    with pytest.raises(fg.onnx.OnnxExporterError, match="different ops for different input values"):
        _export(Fn(forward), x)


def test_a_batch_of_one_exports_a_dynamic_batch():
    """PyTorch's usual recipe: a dummy input of batch 1 with a dynamic batch axis. A copy that
    only changes the memory layout at one size and not the other does not stop it."""
    fg.manual_seed(13)
    model = CharLM().eval()
    _, data = _export(model, fg.randint(0, 50, (1, 12)), input_names=["x"], dynamic_axes={"x": [0]})
    x = fg.randint(0, 50, (4, 12))
    with fg.no_grad():
        ref = model(x).numpy()
    np.testing.assert_allclose(ort.InferenceSession(data).run(None, {"x": x.numpy()})[0], ref, rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------------------- one node for a Python function

RESAMPLING = [(mode, nd, ac, kw) for mode, nd in [("nearest", 4), ("nearest-exact", 4), ("bilinear", 4), ("bicubic", 4), ("linear", 3), ("trilinear", 5)]
              for ac in ([None] if "nearest" in mode else [False, True]) for kw in [{"scale_factor": 2}, {"size": 7}, {"size": 3}]]


@pytest.mark.parametrize("mode,nd,align_corners,kw", RESAMPLING)
def test_interpolate_is_one_resize(mode, nd, align_corners, kw):
    fg.manual_seed(14)
    model = Fn(lambda x: F.interpolate(x, mode=mode, align_corners=align_corners, **kw))
    x = fg.randn(2, 3, *(5,) * (nd - 2))
    proto, data = _export(model, x, input_names=["x"], dynamic_axes={"x": [0]})
    assert "Resize" in _ops(proto) and "Gather" not in _ops(proto)
    with fg.no_grad():
        ref = model(x).numpy()
    np.testing.assert_allclose(ort.InferenceSession(data).run(None, {"x": x.numpy()})[0], ref, rtol=1e-5, atol=1e-5)


def test_interpolate_that_resize_cannot_express_exports_its_ops():
    """scale_factor 1.5 on 5 pixels: PyTorch samples at 1/1.5 steps, Resize would at 5/7."""
    model = Fn(lambda x: F.interpolate(x, scale_factor=1.5, mode="bilinear"))
    x = fg.randn(1, 2, 5, 5)
    proto, data = _export(model, x)
    assert "Resize" not in _ops(proto)
    with fg.no_grad():
        ref = model(x).numpy()
    np.testing.assert_allclose(ort.InferenceSession(data).run(None, {"input": x.numpy()})[0], ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("mode,pad", [("constant", (1, 2, 2, 1)), ("reflect", (1, 2, 2, 1)), ("replicate", (2, 0, 1, 3)),
                                      ("circular", (1, 2, 2, 1)), ("constant", (-1, 2))])
def test_pad_is_one_pad(mode, pad):
    model = Fn(lambda x: F.pad(x, pad, mode=mode))
    x = fg.randn(2, 3, 5, 5)
    proto, data = _export(model, x, input_names=["x"], dynamic_axes={"x": [0]}, opset_version=19)
    assert _ops(proto) == ["Pad", "Identity"]
    x = fg.randn(4, 3, 5, 5)
    with fg.no_grad():
        ref = model(x).numpy()
    np.testing.assert_array_equal(ort.InferenceSession(data).run(None, {"x": x.numpy()})[0], ref)


def test_instance_norm_is_one_instance_normalization():
    fg.manual_seed(15)
    model = nn.InstanceNorm2d(3, affine=True)  # not mode-dependent: no warning to expect
    proto, data = _export(model, fg.randn(2, 3, 6, 6), input_names=["x"], dynamic_axes={"x": [0]})
    assert _ops(proto) == ["InstanceNormalization", "Identity"]
    x = fg.randn(5, 3, 6, 6)
    with fg.no_grad():
        ref = model(x).numpy()
    np.testing.assert_allclose(ort.InferenceSession(data).run(None, {"x": x.numpy()})[0], ref, rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------------------- what a trace cannot see (a review's cases)


def _check_sizes(model, shape, axes, sizes, make=fg.randn):
    """Exported with `axes` dynamic; ONNX Runtime at each of `sizes` (one tuple per call, a size
    per axis) equals ferrograd."""
    model.eval()
    _, data = _export(model, make(*shape), input_names=["x"], dynamic_axes={"x": list(axes)})
    session = ort.InferenceSession(data)
    for values in sizes:
        s = list(shape)
        for a, v in zip(axes, values):
            s[a] = v
        x = make(*s)
        with fg.no_grad():
            ref = model(x).numpy()
        got = session.run(None, {"x": x.numpy()})[0]
        assert got.shape == ref.shape
        np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("shape", [(2, 4), (2, 3, 4)])
def test_linear_without_bias(shape):
    """Its grad_fn is mm's name: the weight is still (out, in)."""
    fg.manual_seed(16)
    _check_sizes(Fn(nn.Linear(4, 4, bias=False)), shape, [0], [(3,), (5,)])
    _check_sizes(Fn(nn.Linear(4, 7, bias=False)), shape, [0], [(3,), (5,)])


@pytest.mark.parametrize("index", ["[:, -1]", "[:, -3:]", "[:, :-1]", "[:, ::2]", "[:, 1:]", "[:, 2]", "[:, 1:3]"])
def test_indexing_a_dynamic_axis_from_either_end(index):
    _check_sizes(Fn(eval(f"lambda x: x{index}")), (2, 6, 3), [1], [(4,), (9,)])


def test_index_of_a_dynamic_axis_that_is_neither_fixed_nor_from_the_end_is_an_error():
    with pytest.raises(fg.onnx.UnsupportedOperatorError, match="neither fixed nor from the end"):
        _export(Fn(lambda x: x.chunk(2, 1)[1]), fg.randn(2, 6, 3), input_names=["x"], dynamic_axes={"x": [1]})


@pytest.mark.parametrize("forward", [lambda x: x.sum(1) / x.size(1), lambda x: x * x.shape[1] ** -0.5])
def test_a_number_made_from_a_dynamic_size_is_an_error(forward):
    with pytest.raises(fg.onnx.OnnxExporterError, match="size of a dynamic axis"):
        _export(Fn(forward), fg.randn(2, 6, 3), input_names=["x"], dynamic_axes={"x": [1]})
    _export(Fn(forward), fg.randn(2, 6, 3))  # fine with fixed sizes


def test_fixed_size_interpolate_of_dynamic_height_and_width():
    for mode in ("nearest", "bilinear"):
        _check_sizes(Fn(lambda x, mode=mode: F.interpolate(x, size=(4, 4), mode=mode)), (1, 2, 6, 6), [2, 3], [(5, 5), (9, 7)])


def test_adaptive_pool_over_a_dynamic_axis_is_an_error_unless_global():
    with pytest.raises(fg.onnx.UnsupportedOperatorError, match="adaptive pooling"):
        _export(Fn(lambda x: F.adaptive_avg_pool2d(x, 2)), fg.randn(1, 2, 6, 6), input_names=["x"], dynamic_axes={"x": [2, 3]})
    _check_sizes(Fn(lambda x: F.adaptive_avg_pool2d(x, 1)), (1, 2, 6, 6), [2, 3], [(4, 4), (8, 5)])


@pytest.mark.parametrize("forward", [
    lambda x: x.argmax(1),  # an output the trace did not follow
    lambda x: x.max(-1)[1],
    lambda x: fg.from_numpy(x.numpy() * 2),
])
def test_outputs_taken_outside_the_trace_are_an_error(forward):
    fg.manual_seed(17)
    with pytest.raises(fg.onnx.OnnxExporterError, match="depends on the inputs' values"):
        _export(Fn(forward), fg.randn(3, 4))


@pytest.mark.parametrize("forward", [
    lambda x: x.clamp(min=x.mean().item()),
    lambda x: F.leaky_relu(x, float(x.abs().max())),
])
def test_number_arguments_taken_from_values_are_an_error(forward):
    fg.manual_seed(18)
    with pytest.raises(fg.onnx.OnnxExporterError, match="depends on the inputs' values"):
        _export(Fn(forward), fg.randn(3, 4))


def test_assignment_into_a_slice_is_refused_not_dropped():
    def forward(x):
        z = x.clone()
        z[:, 0] = 1.0
        return z

    with pytest.raises(fg.onnx.UnsupportedOperatorError):
        _export(Fn(forward), fg.randn(3, 4))


@pytest.mark.parametrize("conv,shape", [(nn.Conv2d(3, 4, 4, padding="same"), (1, 3, 8, 8)), (nn.Conv1d(3, 4, 4, padding="same"), (1, 3, 8)),
                                        (nn.Conv2d(3, 4, 3, stride=2, padding=1), (1, 3, 8, 8))])
def test_convolution_padding_after_from_the_output_size(conv, shape):
    fg.manual_seed(19)
    _check_sizes(conv, shape, [0], [(2,), (3,)])


def test_zeros_like_and_key_padding_masks_follow_a_dynamic_batch():
    fg.manual_seed(20)
    _check_sizes(Fn(lambda x: x + fg.zeros_like(x) + fg.full_like(x, 2.0)), (2, 4), [0], [(3,), (5,)])
    mha = nn.MultiheadAttention(8, 2, batch_first=True)

    def forward(x):
        return mha(x, x, x, key_padding_mask=x[:, :, 0] > 1.5, need_weights=False)[0]

    model = Fn(forward)
    model.mha = mha
    _check_sizes(model, (2, 5, 8), [0], [(3,), (4,)])


# ---------------------------------------------------------------------------- a second review's cases


def test_a_size_hidden_behind_a_stride_is_still_seen():
    """A pool of 3 maps widths 12, 13 and 14 to the same size: the longer traces grow a non-batch
    axis by 33 and 66, so the size it makes is still found to follow the axis."""
    with pytest.raises(fg.onnx.OnnxExporterError, match="size of a dynamic axis"):
        _export(Fn(lambda x: (lambda y: y / y.shape[-1])(F.avg_pool1d(x, 3))), fg.randn(1, 2, 12), input_names=["x"], dynamic_axes={"x": [2]})


def test_a_forward_that_changes_parameters_is_refused_and_they_are_restored():
    emb = nn.Embedding(10, 4, max_norm=1.0).eval()
    before = emb.weight.detach().numpy().copy()
    with pytest.raises(fg.onnx.OnnxExporterError, match="changed parameters in place"):
        _export(emb, fg.tensor([[1, 2, 3]]))
    np.testing.assert_array_equal(emb.weight.detach().numpy(), before)


def test_one_hot_without_num_classes_is_refused_while_tracing():
    with pytest.raises(RuntimeError, match="give num_classes"):
        _export(Fn(lambda x: F.one_hot(x).float()), fg.tensor([[0, 2, 1]]))
    _check_sizes(Fn(lambda x: F.one_hot(x, 4).float()), (2, 3), [0], [(3,), (5,)], make=lambda *s: fg.randint(0, 4, s))


def test_sum_of_a_mask_and_std_over_features_with_a_batch_of_one():
    _check_sizes(Fn(lambda x: (x > 0).sum(-1)), (2, 5), [0], [(3,), (4,)])
    _check_sizes(Fn(lambda x: (x - x.mean(-1, keepdim=True)) / x.std(-1, keepdim=True)), (1, 5, 6), [0], [(3,), (4,)])


def test_a_fused_step_with_missing_inputs_is_a_clear_error():
    target = fg.tensor([1, 0, 2])
    with pytest.raises(fg.onnx.UnsupportedOperatorError):
        _export(Fn(lambda x: F.cross_entropy(x, target, label_smoothing=0.1)), fg.randn(3, 4))


def test_class_token_expanded_to_a_dynamic_batch_and_attention_with_two_dynamic_axes():
    fg.manual_seed(21)

    class Cls(nn.Module):
        def __init__(self):
            super().__init__()
            self.cls = nn.Parameter(fg.randn(1, 1, 8))
            self.enc = nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2, 16, batch_first=True), 2)

        def forward(self, x):
            return self.enc(fg.cat([self.cls.expand(x.shape[0], -1, -1), x], 1))

    _check_sizes(Cls(), (2, 5, 8), [0, 1], [(3, 4), (6, 9)])
    _check_sizes(nn.TransformerEncoderLayer(8, 2, 16), (5, 2, 8), [0, 1], [(3, 4), (6, 9)])


def test_export_arguments_are_checked():
    x = fg.randn(2, 3)
    with pytest.raises(ValueError, match="out of range"):
        fg.onnx.export(nn.Linear(3, 3), x, io.BytesIO(), input_names=["x"], dynamic_axes={"x": [5]})
    with pytest.raises(ValueError, match="both an input and an output"):
        fg.onnx.export(nn.Linear(3, 3), x, io.BytesIO(), input_names=["x"], output_names=["x"])
    _check_sizes(nn.Linear(3, 3), (2, 3), [-2], [(4,)])  # a negative axis counts from the end


def test_export_to_a_missing_folder_names_the_path_and_files_get_the_usual_mode(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing"):
        fg.onnx.export(nn.Linear(3, 3), fg.randn(2, 3), str(tmp_path / "missing" / "m.onnx"))
    path = tmp_path / "m.onnx"
    fg.onnx.export(nn.Linear(3, 3), fg.randn(2, 3), str(path))
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask
