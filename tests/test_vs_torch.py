"""ferrograd side by side with PyTorch on random inputs (skipped when torch is not installed).

Forward and backward of many ops, Linear and BatchNorm1d/2d/3d over several train/eval steps with
the weights copied across, Dropout statistics, state_dict keys, and loading a PyTorch state_dict
(as numpy arrays) into the equivalent ferrograd model.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import ferrograd as fg  # noqa: E402
import ferrograd.nn as fnn  # noqa: E402
import ferrograd.nn.functional as FF  # noqa: E402
import torch.nn.functional as TF  # noqa: E402

LIBS = {"torch": (torch, torch.nn, TF), "fg": (fg, fnn, FF)}
DT = {"float64": (torch.float64, fg.float64, 1e-10, 1e-10), "float32": (torch.float32, fg.float32, 2e-5, 1e-4)}


def arr(r, shape, kind="u"):
    if kind == "u":
        return r.uniform(-2, 2, shape)
    if kind == "pos":
        return r.uniform(0.5, 2, shape)
    if kind == "nz":
        return r.uniform(0.2, 2, shape) * r.choice([-1.0, 1.0], shape)
    if kind == "distinct":
        return r.permutation(np.linspace(-2, 2, int(np.prod(shape)))).reshape(shape)
    raise ValueError(kind)


def np_of(t):
    return t.detach().numpy() if t is not None else None


def close(a, e, rtol, what=""):
    a, e = np.asarray(a, dtype=np.float64), np.asarray(e, dtype=np.float64)
    assert a.shape == e.shape, f"{what}: shape {a.shape} vs torch {e.shape}"
    scale = max(1.0, float(np.max(np.abs(e)))) if e.size else 1.0
    np.testing.assert_allclose(a, e, rtol=rtol, atol=rtol * 1e-2 * scale, err_msg=what)


# (name, fn(L, F, *xs), [input shape sets], input kinds). L is torch or fg, F its functional.
OPS = [
    ("add", lambda L, F, a, b: a + b, [((2, 3, 4), (3, 1)), ((4, 1), (1, 5)), ((), (3,))], "uu"),
    ("sub", lambda L, F, a, b: a - b, [((2, 1, 4), (3, 1)), ((3,), (2, 3))], "uu"),
    ("mul", lambda L, F, a, b: a * b, [((2, 3, 1), (1, 4)), ((5,), ())], "uu"),
    ("div", lambda L, F, a, b: a / b, [((3, 4), (4,)), ((2, 1, 3), (4, 1))], "un"),
    ("pow", lambda L, F, a, b: a**b, [((3, 4), (4,))], "pu"),
    ("scalar_mix", lambda L, F, a: (2.5 - a) * 0.5 / (a + 3.0) + a**3, [((3, 4),), ((2, 2, 2),)], "u"),
    ("maximum", lambda L, F, a, b: L.maximum(a, b), [((3, 4), (4,))], "dd"),
    ("minimum", lambda L, F, a, b: L.minimum(a, b), [((2, 3), (2, 3))], "dd"),
    ("matmul", lambda L, F, a, b: L.matmul(a, b),
     [((3, 4), (4, 2)), ((2, 3, 4), (2, 4, 5)), ((2, 1, 3, 4), (3, 4, 2)), ((4,), (2, 4, 3)), ((2, 3, 4), (4,)), ((5,), (5,))], "uu"),
    ("exp_log", lambda L, F, a: L.log(a) + L.exp(a) * L.sqrt(a), [((3, 4),)], "p"),
    ("trig", lambda L, F, a: L.sin(a) * L.cos(a) - a.abs() + (-a), [((4, 5),)], "n"),
    ("activations", lambda L, F, a: L.tanh(a) + L.sigmoid(a) * F.relu(a) + F.silu(a), [((4, 5),), ((2, 3, 4),)], "n"),
    ("gelu", lambda L, F, a: F.gelu(a), [((4, 5),)], "u"),
    ("gelu_tanh", lambda L, F, a: F.gelu(a, approximate="tanh"), [((4, 5),)], "u"),
    ("leaky_relu", lambda L, F, a: F.leaky_relu(a, 0.1) + F.leaky_relu(a), [((4, 5),)], "n"),
    ("clamp", lambda L, F, a: a.clamp(-1.01, 0.99) + a.clamp(min=0.03), [((5, 6),)], "d"),
    ("sum_mean", lambda L, F, a: a.sum(1, keepdim=True) * a.mean((0, 2), keepdim=True) + a.sum(), [((2, 3, 4),)], "u"),
    ("max_dim", lambda L, F, a: a.max(1).values.unsqueeze(1) + a.min(0, keepdim=True).values, [((4, 5),)], "d"),
    ("max_all", lambda L, F, a: a.max() * a + a.min(), [((3, 4),)], "d"),
    ("var_std", lambda L, F, a: a.var(1, correction=0) + a.std(1) + a.var(1, correction=2), [((3, 6),)], "u"),
    ("var_std_dims", lambda L, F, a: a.var((0, 2), keepdim=True) * a.std(None, unbiased=False), [((2, 3, 4),)], "u"),
    ("logsumexp", lambda L, F, a: a.logsumexp(1) + a.logsumexp((0, 2), keepdim=True).sum(), [((2, 3, 4),)], "u"),
    ("softmax", lambda L, F, a: F.softmax(a, dim=-1) * F.log_softmax(a, dim=0), [((3, 5),), ((2, 3, 4),)], "u"),
    ("linear", lambda L, F, a, w, b: F.linear(a, w, b), [((5, 4), (3, 4), (3,)), ((2, 3, 4), (2, 4), (2,))], "uuu"),
    ("shape_ops", lambda L, F, a: a.permute(2, 0, 1).reshape(4, -1).t().flatten().narrow(0, 2, 10), [((2, 3, 4),)], "u"),
    ("transpose_expand", lambda L, F, a: a.transpose(0, 1).unsqueeze(0).expand(2, 3, 2) * 1.5, [((2, 3),)], "u"),
    ("cat_stack", lambda L, F, a, b: L.cat([a, b], 1).sum(0) + L.stack([a, a * b], 0).sum((0, 1)).sum(), [((2, 3), (2, 3))], "uu"),
    ("where_index", lambda L, F, a, b: L.where(a > 0, a, b)[1:, ::2] + a[1:, 1].unsqueeze(1), [((3, 4), (3, 4))], "nu"),
]
KIND = {"u": "u", "n": "nz", "p": "pos", "d": "distinct"}


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name,fn,shape_sets,kinds", OPS, ids=[o[0] for o in OPS])
def test_op_forward_backward(name, fn, shape_sets, kinds, dtype):
    tdt, fdt, rtol, grtol = DT[dtype]
    for k, shapes in enumerate(shape_sets):
        for seed in range(2):
            r = np.random.default_rng(1000 * k + seed)
            xs = [arr(r, s, KIND[c]).astype(dtype) for s, c in zip(shapes, kinds)]
            ts = [torch.tensor(x, dtype=tdt, requires_grad=True) for x in xs]
            fs = [fg.tensor(x, dtype=fdt, requires_grad=True) for x in xs]
            to, fo = fn(torch, TF, *ts), fn(fg, FF, *fs)
            close(np_of(fo), np_of(to), rtol, f"{name} {shapes} forward")
            assert str(fo.dtype).split(".")[-1] == dtype
            w = r.uniform(-1, 1, tuple(to.shape)).astype(dtype)
            (to * torch.tensor(w)).sum().backward()
            (fo * fg.tensor(w)).sum().backward()
            for i, (t, f) in enumerate(zip(ts, fs)):
                close(np_of(f.grad), np_of(t.grad), grtol, f"{name} {shapes} grad {i}")


# ---- Linear -------------------------------------------------------------------------------

def copy_params(tmod, fmod, fdt):
    """Copies every parameter and buffer of a torch module into the ferrograd twin."""
    with fg.no_grad():
        for k, v in tmod.state_dict().items():
            target = fmod.state_dict()[k]
            target.copy_(fg.tensor(v.numpy()).to(target.dtype))


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("xshape", [(6, 5), (2, 3, 5), (5,)])
def test_linear(xshape, bias, dtype):
    tdt, fdt, rtol, grtol = DT[dtype]
    torch.manual_seed(0)
    tm = torch.nn.Linear(5, 4, bias=bias, dtype=tdt)
    fm = fnn.Linear(5, 4, bias=bias, dtype=fdt)
    copy_params(tm, fm, fdt)
    r = np.random.default_rng(1)
    x = arr(r, xshape).astype(dtype)
    tx, fx = torch.tensor(x, requires_grad=True), fg.tensor(x, requires_grad=True)
    to, fo = tm(tx), fm(fx)
    close(np_of(fo), np_of(to), rtol, "forward")
    w = r.uniform(-1, 1, tuple(to.shape)).astype(dtype)
    (to * torch.tensor(w)).sum().backward()
    (fo * fg.tensor(w)).sum().backward()
    close(np_of(fx.grad), np_of(tx.grad), grtol, "grad x")
    close(np_of(fm.weight.grad), np_of(tm.weight.grad), grtol, "grad weight")
    if bias:
        close(np_of(fm.bias.grad), np_of(tm.bias.grad), grtol, "grad bias")


def test_linear_default_init_range():
    fm = fnn.Linear(50, 40)
    bound = 1 / np.sqrt(50)
    for p in (fm.weight, fm.bias):
        v = np_of(p)
        assert v.min() >= -bound and v.max() <= bound and v.std() > bound / 2.5


# ---- BatchNorm ----------------------------------------------------------------------------

BN_SHAPES = [("BatchNorm1d", (8, 3)), ("BatchNorm1d", (5, 3, 4)), ("BatchNorm2d", (4, 3, 3, 5)), ("BatchNorm3d", (2, 3, 2, 3, 4))]
BN_STEPS = ["train", "train", "train_nograd", "eval", "train", "eval", "eval_nograd", "train"]


def run_bn_sequence(cls, shape, momentum, affine, track, dtype, eps=1e-5, seed=0):
    tdt, fdt, rtol, grtol = DT[dtype]
    srtol = 1e-12 if dtype == "float64" else 1e-6
    c = shape[1]
    tm = getattr(torch.nn, cls)(c, eps=eps, momentum=momentum, affine=affine, track_running_stats=track, dtype=tdt)
    fm = getattr(fnn, cls)(c, eps=eps, momentum=momentum, affine=affine, track_running_stats=track, dtype=fdt)
    r = np.random.default_rng(seed)
    if affine:
        with torch.no_grad():
            tm.weight.copy_(torch.tensor(arr(r, (c,), "pos")))
            tm.bias.copy_(torch.tensor(arr(r, (c,))))
    copy_params(tm, fm, fdt)
    assert list(fm.state_dict()) == list(tm.state_dict())
    for i, mode in enumerate(BN_STEPS):
        where = f"step {i} ({mode})"
        tm.train(mode.startswith("train"))
        fm.train(mode.startswith("train"))
        x = (arr(r, shape) * 1.5 + 0.7).astype(dtype)
        if mode.endswith("nograd"):
            with torch.no_grad():
                to = tm(torch.tensor(x))
            with fg.no_grad():
                fo = fm(fg.tensor(x))
            assert not fo.requires_grad
            close(np_of(fo), np_of(to), rtol, f"{where} output")
        else:
            tx, fx = torch.tensor(x, requires_grad=True), fg.tensor(x, requires_grad=True)
            to, fo = tm(tx), fm(fx)
            close(np_of(fo), np_of(to), rtol, f"{where} output")
            assert fo.requires_grad == to.requires_grad
            w = r.uniform(-1, 1, shape).astype(dtype)
            tm.zero_grad()
            fm.zero_grad()
            (to * torch.tensor(w)).sum().backward()
            (fo * fg.tensor(w)).sum().backward()
            close(np_of(fx.grad), np_of(tx.grad), grtol, f"{where} grad x")
            if affine:
                close(np_of(fm.weight.grad), np_of(tm.weight.grad), grtol, f"{where} grad weight")
                close(np_of(fm.bias.grad), np_of(tm.bias.grad), grtol, f"{where} grad bias")
        if track:
            close(np_of(fm.running_mean), np_of(tm.running_mean), srtol, f"{where} running_mean")
            close(np_of(fm.running_var), np_of(tm.running_var), srtol, f"{where} running_var")
            assert int(fm.num_batches_tracked.item()) == int(tm.num_batches_tracked.item()), where
        else:
            assert fm.running_mean is None and fm.num_batches_tracked is None


@pytest.mark.parametrize("track", [True, False])
@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("momentum", [0.1, None, 0.3, 0.0, 1.0])
@pytest.mark.parametrize("cls,shape", BN_SHAPES, ids=[f"{c}-{len(s)}d" for c, s in BN_SHAPES])
def test_batchnorm_steps(cls, shape, momentum, affine, track):
    run_bn_sequence(cls, shape, momentum, affine, track, "float64")


@pytest.mark.parametrize("cls,shape", BN_SHAPES, ids=[f"{c}-{len(s)}d" for c, s in BN_SHAPES])
def test_batchnorm_float32_and_eps(cls, shape):
    run_bn_sequence(cls, shape, 0.1, True, True, "float32", seed=3)
    run_bn_sequence(cls, shape, None, True, True, "float64", eps=1e-2, seed=4)


def test_batchnorm_bias_false_kwarg():
    """PyTorch 2.15 added BatchNorm(..., *, bias=True): bias=False keeps the weight, drops the bias."""
    tm = torch.nn.BatchNorm1d(3, bias=False)
    fm = fnn.BatchNorm1d(3, bias=False)
    assert list(fm.state_dict()) == list(tm.state_dict())
    assert repr(fm) == repr(tm)


# ---- Dropout ------------------------------------------------------------------------------

@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_dropout_statistics(p):
    n = 200_000
    x = np.random.default_rng(0).uniform(0.5, 2.0, n)
    tm, fm = torch.nn.Dropout(p), fnn.Dropout(p)
    tx, fx = torch.tensor(x, requires_grad=True), fg.tensor(x, requires_grad=True)
    to, fo = tm(tx), fm(fx)
    t_out, f_out = np_of(to), np_of(fo)
    sigma = np.sqrt(p * (1 - p) / n)
    for out in (t_out, f_out):
        assert abs((out == 0).mean() - p) < 5 * sigma
    kept = f_out != 0
    # PyTorch's rule: kept elements are x * (1 / (1 - p)); compare with torch's own kept values.
    both = kept & (t_out != 0)
    np.testing.assert_array_equal(f_out[both], t_out[both])
    np.testing.assert_allclose(f_out[kept], x[kept] / (1 - p), rtol=1e-15)
    w = np.random.default_rng(1).uniform(-1, 1, n)
    (to * torch.tensor(w)).sum().backward()
    (fo * fg.tensor(w)).sum().backward()
    f_grad, t_grad = np_of(fx.grad), np_of(tx.grad)
    assert (f_grad[~kept] == 0).all()
    np.testing.assert_array_equal(f_grad[both], t_grad[both])
    # a fresh mask each call
    assert (np_of(fm(fx)) != f_out).any()
    # eval: the input object itself, as in PyTorch
    tm.eval(), fm.eval()
    assert tm(tx) is tx and fm(fx) is fx


def test_dropout_edge_p():
    x = np.random.default_rng(0).uniform(0.5, 2.0, (4, 5))
    fx, tx = fg.tensor(x), torch.tensor(x)
    assert fnn.Dropout(0.0)(fx) is fx and torch.nn.Dropout(0.0)(tx) is tx
    np.testing.assert_array_equal(np_of(fnn.Dropout(1.0)(fx)), np_of(torch.nn.Dropout(1.0)(tx)))
    for bad in (-0.1, 1.5):
        with pytest.raises(ValueError):
            torch.nn.Dropout(bad)
        with pytest.raises(ValueError):
            fnn.Dropout(bad)


@pytest.mark.parametrize("cls,shape", [("Dropout1d", (64, 40, 7)), ("Dropout2d", (64, 40, 3, 4)), ("Dropout3d", (32, 40, 2, 2, 3))])
def test_channel_dropout_statistics(cls, shape):
    p = 0.4
    x = np.random.default_rng(0).uniform(0.5, 2.0, shape)
    for lib_nn, mk in ((torch.nn, torch.tensor), (fnn, fg.tensor)):
        out = np_of(getattr(lib_nn, cls)(p)(mk(x))).reshape(shape[0], shape[1], -1)
        zero = (out == 0).all(axis=2)
        assert ((out == 0).any(axis=2) == zero).all(), f"{lib_nn.__name__}: channels are not dropped whole"
        n = zero.size
        assert abs(zero.mean() - p) < 5 * np.sqrt(p * (1 - p) / n)
        kept = ~zero
        np.testing.assert_allclose(out[kept], x.reshape(out.shape)[kept] / (1 - p), rtol=1e-15)


def test_alpha_dropout_matches_torch_transform():
    p, n = 0.2, 100_000
    x = np.random.default_rng(0).standard_normal(n)
    t_out = np_of(TF.alpha_dropout(torch.tensor(x), p, training=True))
    f_out = np_of(FF.alpha_dropout(fg.tensor(x), p, training=True))
    # torch: kept -> a * x + b, dropped -> a * alpha' + b; recover (a, b) and the dropped value.
    vals, counts = np.unique(t_out, return_counts=True)
    t_drop_val = vals[counts.argmax()]
    assert counts.max() > n * p / 2
    t_kept = t_out != t_drop_val
    a, b = np.polyfit(x[t_kept], t_out[t_kept], 1)
    f_drop = np.isclose(f_out, t_drop_val, rtol=0, atol=1e-12)
    assert abs(f_drop.mean() - p) < 5 * np.sqrt(p * (1 - p) / n)
    np.testing.assert_allclose(f_out[~f_drop], a * x[~f_drop] + b, rtol=1e-10, atol=1e-12)
    assert abs(f_out.mean()) < 0.02 and abs(f_out.std() - 1) < 0.02


# ---- state_dict and loading ---------------------------------------------------------------

def make_net(nn_mod, with_dropout=True):
    class Net(nn_mod.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn_mod.Linear(4, 8)
            self.bn1 = nn_mod.BatchNorm1d(8)
            self.drop = nn_mod.Dropout(0.3 if with_dropout else 0.0)
            self.fc2 = nn_mod.Linear(8, 6, bias=False)
            self.head = nn_mod.Sequential(
                nn_mod.Linear(6, 6), nn_mod.ReLU(),
                nn_mod.Sequential(nn_mod.BatchNorm1d(6, affine=False, momentum=None), nn_mod.Linear(6, 3)),
            )
            self.blocks = nn_mod.ModuleList([nn_mod.Linear(3, 3), nn_mod.Tanh()])

        def forward(self, x):
            x = self.drop(self.bn1(self.fc1(x)).relu())
            x = self.head(self.fc2(x))
            for b in self.blocks:
                x = b(x)
            return x

    return Net()


ARCHS = {
    "mlp": lambda m: m.Sequential(m.Linear(4, 8), m.BatchNorm1d(8), m.ReLU(), m.Dropout(0.2), m.Linear(8, 2)),
    "net": make_net,
    "conv_free_2d": lambda m: m.Sequential(m.BatchNorm2d(3), m.Flatten(), m.Linear(12, 4), m.GELU(), m.BatchNorm1d(4, track_running_stats=False)),
    "bn3d": lambda m: m.Sequential(m.BatchNorm3d(2, affine=False), m.Dropout3d(0.1), m.Identity()),
    "moduledict": lambda m: m.ModuleDict({"enc": m.Linear(3, 4), "norm": m.BatchNorm1d(4), "act": m.SiLU()}),
}


@pytest.mark.parametrize("arch", list(ARCHS))
def test_state_dict_keys_identical(arch):
    tsd, fsd = ARCHS[arch](torch.nn).state_dict(), ARCHS[arch](fnn).state_dict()
    assert list(fsd) == list(tsd)
    assert [tuple(v.shape) for v in fsd.values()] == [tuple(v.shape) for v in tsd.values()]
    assert [str(v.dtype).split(".")[-1] for v in fsd.values()] == [str(v.dtype).split(".")[-1] for v in tsd.values()]
    assert [n for n, _ in ARCHS[arch](fnn).named_parameters()] == [n for n, _ in ARCHS[arch](torch.nn).named_parameters()]
    assert [n for n, _ in ARCHS[arch](fnn).named_buffers()] == [n for n, _ in ARCHS[arch](torch.nn).named_buffers()]


def _trained_torch_net(dtype, with_dropout=True):
    torch.manual_seed(0)
    tm = make_net(torch.nn, with_dropout).to(dtype)
    r = np.random.default_rng(5)
    for _ in range(4):  # move the weights and the running statistics away from their initial values
        tm.zero_grad()
        tm(torch.tensor(arr(r, (16, 4)) * 2 + 1, dtype=dtype)).pow(2).sum().backward()
        with torch.no_grad():
            for p in tm.parameters():
                p -= 0.05 * p.grad
    return tm


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_load_torch_state_dict_same_eval_outputs(dtype):
    tdt, fdt, rtol, _ = DT[dtype]
    tm = _trained_torch_net(tdt)
    fm = make_net(fnn).to(fdt)
    res = fm.load_state_dict({k: v.numpy() for k, v in tm.state_dict().items()})
    assert list(res.missing_keys) == [] and list(res.unexpected_keys) == []
    assert int(fm.bn1.num_batches_tracked.item()) == 4
    tm.eval(), fm.eval()
    x = arr(np.random.default_rng(9), (7, 4)).astype(dtype)
    tx, fx = torch.tensor(x, requires_grad=True), fg.tensor(x, requires_grad=True)
    to, fo = tm(tx), fm(fx)
    close(np_of(fo), np_of(to), rtol, "eval output after load")
    # eval mode does not disable autograd, in either library
    to.sum().backward()
    fo.sum().backward()
    close(np_of(fx.grad), np_of(tx.grad), rtol * 10, "eval grad after load")
    # a batch of one is fine in eval
    close(np_of(fm(fg.tensor(x[:1]))), np_of(tm(torch.tensor(x[:1]))), rtol, "batch of one")


def test_training_loop_matches_torch():
    """Five manual SGD steps on a model with BatchNorm (no dropout): parameters and buffers track."""
    tm = _trained_torch_net(torch.float64, with_dropout=False)
    fm = make_net(fnn, with_dropout=False).double()
    fm.load_state_dict({k: v.numpy() for k, v in tm.state_dict().items()})
    r = np.random.default_rng(11)
    for step in range(5):
        x = arr(r, (10, 4))
        tm.zero_grad(), fm.zero_grad()
        tm(torch.tensor(x)).pow(2).mean().backward()
        (fm(fg.tensor(x)) ** 2).mean().backward()
        with torch.no_grad():
            for p in tm.parameters():
                p -= 0.1 * p.grad
        with fg.no_grad():
            for p in fm.parameters():
                p.sub_(p.grad * 0.1)
        for (k, tv), (k2, fv) in zip(tm.state_dict().items(), fm.state_dict().items()):
            assert k == k2
            close(np_of(fv), tv.numpy(), 1e-9, f"step {step} {k}")
