"""Run by tests/test_syncbatchnorm.py on 2 MPI processes: SyncBatchNorm against a float64 numpy
BatchNorm over the global batch.

Every rank builds the same seeded global batch and takes its half (or an uneven share). Rank r's
loss is sum(G_r * y_r) for a fixed weight tensor G, so the sum of the ranks' losses is the global
loss sum(G * y): each rank's input gradient must be its rows of the global input gradient, and
the weight/bias gradients summed over the ranks the global ones. All-reduce calls are counted to
show when the layer communicates. Prints "rank r of 2 OK" at the end.
"""

import copy
import warnings

import ferrograd as fg
import ferrograd.distributed as dist
import numpy as np

dist.init_process_group("mpi")
rank, world = dist.get_rank(), dist.get_world_size()
assert world == 2, world
nn = fg.nn

calls = {"n": 0}
_real_all_reduce = dist._all_reduce_unchecked


def _counting_all_reduce(t, async_op=False):
    calls["n"] += 1
    return _real_all_reduce(t, async_op)


dist._all_reduce_unchecked = _counting_all_reduce


def count_calls(fn, *args):
    before = calls["n"]
    out = fn(*args)
    return out, calls["n"] - before


def bn_reference(x, w, b, eps, g):
    """float64 BatchNorm over the whole batch x: output, its gradients for the loss sum(g * y),
    and the batch's mean and biased variance."""
    dims = tuple(d for d in range(x.ndim) if d != 1)
    shape = [1, x.shape[1]] + [1] * (x.ndim - 2)
    mean, var = x.mean(axis=dims), x.var(axis=dims)
    invstd = 1.0 / np.sqrt(var + eps)
    xhat = (x - mean.reshape(shape)) * invstd.reshape(shape)
    y = xhat * w.reshape(shape) + b.reshape(shape)
    gxhat = g * w.reshape(shape)
    dx = invstd.reshape(shape) * (gxhat - gxhat.mean(axis=dims, keepdims=True)
                                  - xhat * (gxhat * xhat).mean(axis=dims, keepdims=True))
    return y, dx, (g * xhat).sum(axis=dims), g.sum(axis=dims), mean, var


def global_batch(seed, shape, offset=0.0):
    rng = np.random.default_rng(seed)
    c = shape[1]
    cshape = [1, c] + [1] * (len(shape) - 2)
    x = rng.normal(size=shape) * rng.uniform(0.5, 3.0, c).reshape(cshape) + rng.uniform(-4, 4, c).reshape(cshape) + offset
    return x, rng.normal(size=shape)


def shares(n, rank_rows):
    """Row ranges of the ranks: rank_rows[r] rows for rank r."""
    starts = np.cumsum([0, *rank_rows])
    assert starts[-1] == n
    return slice(starts[rank], starts[rank + 1])


def summed(t):
    t = t.detach().to(fg.float64).contiguous().clone()
    dist.all_reduce(t)
    return t.numpy()


def check_against_numpy(shape, dtype, momentum=0.1, rows=None, steps=3, offset=0.0, affine=True, bias=True,
                        channels_last=False):
    """`steps` training forwards and backwards of a SyncBatchNorm on this rank's share of a global
    batch of `shape`: outputs, gradients and running statistics against bn_reference.
    `channels_last` feeds a non-contiguous view (channels stored last)."""
    tol = 1e-5 if dtype == fg.float32 else 1e-10
    c = shape[1]
    rows = rows or [shape[0] // 2, shape[0] - shape[0] // 2]
    mine = shares(shape[0], rows)
    m = nn.SyncBatchNorm(c, momentum=momentum, dtype=dtype, affine=affine, bias=bias)
    rng = np.random.default_rng(7)
    w = rng.uniform(0.5, 2.0, c) if affine else np.ones(c)
    b = rng.normal(size=c) if affine and bias else np.zeros(c)
    with fg.no_grad():
        if affine:
            m.weight.copy_(fg.tensor(w, dtype=dtype))
            w = m.weight.detach().to(fg.float64).numpy()
        if affine and bias:
            m.bias.copy_(fg.tensor(b, dtype=dtype))
            b = m.bias.detach().to(fg.float64).numpy()
    rm, rv = np.zeros(c), np.ones(c)
    for step in range(steps):
        xg, gg = global_batch(100 * step + len(shape), shape, offset)
        xg = xg.astype(dtype.numpy_name).astype(np.float64)  # the reference sees the input the layer sees
        if channels_last:
            stored = fg.tensor(np.moveaxis(xg[mine], 1, -1).copy(), dtype=dtype, requires_grad=True)
            x = fg.movedim(stored, -1, 1)
            assert not x.is_contiguous()
        else:
            x = stored = fg.tensor(xg[mine], dtype=dtype, requires_grad=True)
        m.zero_grad()
        y, n = count_calls(m, x)
        assert n == 1, f"a training forward all-reduces once, got {n}"
        loss = (y * fg.tensor(gg[mine], dtype=dtype)).sum()
        _, n = count_calls(loss.backward)
        assert n == 1, f"a backward all-reduces once, got {n}"
        ry, rdx, rdw, rdb, mean, var = bn_reference(xg, w, b, m.eps, gg)
        where = f"{shape} {dtype} rows {rows} offset {offset} affine {affine} bias {bias} step {step}"
        grad = stored.grad if not channels_last else fg.movedim(stored.grad, -1, 1)
        assert y.dtype == dtype and grad.dtype == dtype and tuple(y.shape) == tuple(xg[mine].shape), where
        np.testing.assert_allclose(y.detach().to(fg.float64).numpy(), ry[mine], rtol=tol, atol=tol, err_msg=where)
        np.testing.assert_allclose(grad.to(fg.float64).numpy(), rdx[mine], rtol=tol, atol=tol, err_msg=where)
        if affine:
            np.testing.assert_allclose(summed(m.weight.grad), rdw, rtol=tol, atol=tol * 10, err_msg=where)
        if affine and bias:
            np.testing.assert_allclose(summed(m.bias.grad), rdb, rtol=tol, atol=tol * 10, err_msg=where)
        big_n = xg.size // c
        mom = momentum if momentum is not None else 1.0 / (step + 1)
        rm = (1 - mom) * rm + mom * mean
        rv = (1 - mom) * rv + mom * var * big_n / (big_n - 1)
        np.testing.assert_allclose(m.running_mean.to(fg.float64).numpy(), rm, rtol=tol, atol=tol, err_msg=where)
        np.testing.assert_allclose(m.running_var.to(fg.float64).numpy(), rv, rtol=tol, atol=tol, err_msg=where)
        assert m.num_batches_tracked.item() == step + 1, where
    return m


# Every input rank, both dtypes; the cumulative average; uneven and empty shares.
for shape in [(8, 3), (8, 3, 5), (6, 3, 4, 4), (4, 2, 3, 2, 3)]:
    for dtype in (fg.float32, fg.float64):
        check_against_numpy(shape, dtype)
check_against_numpy((8, 3, 4), fg.float64, momentum=None)
check_against_numpy((7, 3, 4), fg.float64, rows=[2, 5])
check_against_numpy((4, 3, 4), fg.float64, rows=[0, 4])
check_against_numpy((2, 3), fg.float32, rows=[1, 1])  # one sample per rank, two in all
# Data far from zero (mean/std ~ 1e3): the float64 sums keep the variance (float32 ones would not).
check_against_numpy((8, 2, 16), fg.float32, steps=1, offset=3000.0)
check_against_numpy((6, 3, 4), fg.float32, affine=False)
check_against_numpy((6, 3, 4), fg.float64, bias=False)
check_against_numpy((6, 3, 3, 4), fg.float32, channels_last=True)

# Finite differences of the global loss in float64: rank 0's input and the shared weight.
c, shape = 3, (6, 3, 4)
xg, gg = global_batch(5, shape)
mine = shares(shape[0], [3, 3])
m = nn.SyncBatchNorm(c, dtype=fg.float64, track_running_stats=False)
with fg.no_grad():
    m.weight.copy_(fg.tensor([0.7, 1.3, 2.0], dtype=fg.float64))


def global_loss(x, weight_shift=None):
    with fg.no_grad():
        if weight_shift is not None:
            m.weight.add_(fg.tensor(weight_shift, dtype=fg.float64))
        t = (m(fg.tensor(x, dtype=fg.float64)) * fg.tensor(gg[mine], dtype=fg.float64)).sum().reshape(1).contiguous()
        if weight_shift is not None:
            m.weight.sub_(fg.tensor(weight_shift, dtype=fg.float64))
    dist.all_reduce(t)
    return t.item()


x = fg.tensor(xg[mine], dtype=fg.float64, requires_grad=True)
(m(x) * fg.tensor(gg[mine], dtype=fg.float64)).sum().backward()
analytic_dx, analytic_dw = x.grad.numpy(), summed(m.weight.grad)
h = 1e-6
for idx in [(0, 0, 0), (1, 2, 3), (2, 1, 1)]:
    xp, xm = xg[mine].copy(), xg[mine].copy()
    if rank == 0:
        xp[idx] += h
        xm[idx] -= h
    numeric = (global_loss(xp) - global_loss(xm)) / (2 * h)
    if rank == 0:
        assert abs(numeric - analytic_dx[idx]) < 1e-6, (idx, numeric, analytic_dx[idx])
for ch in range(c):
    e = np.zeros(c)
    e[ch] = h
    numeric = (global_loss(xg[mine], e) - global_loss(xg[mine], -e)) / (2 * h)
    assert abs(numeric - analytic_dw[ch]) < 1e-6, (ch, numeric, analytic_dw[ch])

# modes() says which statistics: the global batch's in training mode, the running ones in eval.
m = nn.Sequential(nn.SyncBatchNorm(3))
assert "normalises with batch statistics of all 2 processes" in m.modes().entries[0].meaning, m.modes()
assert "normalises with running statistics" in m.eval().modes().entries[0].meaning

# Eval mode: running statistics, no communication. Rank 1 runs an extra eval forward that rank 0
# does not; the next collective still pairs up (a stray all-reduce would hang or fail the job).
m = nn.SyncBatchNorm(3)
m(fg.randn(4, 3))
m.eval()
if rank == 1:
    xe = fg.randn(5, 3, 2)
    y, n = count_calls(lambda: m(xe))
    assert n == 0, n
    expect = nn.functional.batch_norm(xe, m.running_mean, m.running_var, m.weight, m.bias)
    np.testing.assert_allclose(y.detach().numpy(), expect.detach().numpy())
dist.barrier()
# freeze_stats pins eval mode through model.train(); track_running_stats=False in eval mode uses
# the local batch, unsynced (PyTorch syncs only in training mode).
m.train()
m.freeze_stats()
_, n = count_calls(lambda: m(fg.randn(4, 3)))
assert n == 0 and not m.training, n
local = nn.SyncBatchNorm(3, track_running_stats=False).eval()
xl = fg.randn(4 + rank, 3)
yl, n = count_calls(lambda: local(xl))
assert n == 0, n
np.testing.assert_allclose(yl.detach().numpy(), nn.BatchNorm1d(3, track_running_stats=False)(xl).detach().numpy(), atol=1e-6)

# An input that needs no gradient: backward does not all-reduce (only the weight's local sums).
m = nn.SyncBatchNorm(3)
x = fg.randn(4, 3)
y, n = count_calls(m, x)
_, n = count_calls(lambda: (y * y).sum().backward())
assert n == 0 and m.weight.grad is not None, n

# A training forward under no_grad still syncs the statistics (and warns, as BatchNorm).
m = nn.SyncBatchNorm(2)
with warnings.catch_warnings(record=True) as caught, fg.no_grad():
    warnings.simplefilter("always")
    xg = np.arange(8.0).reshape(4, 2)
    m(fg.tensor(xg[2 * rank:2 * rank + 2], dtype=fg.float32))
assert any("under no_grad" in str(w.message) for w in caught), [str(w.message) for w in caught]
np.testing.assert_allclose(m.running_mean.numpy(), 0.1 * xg.mean(0), rtol=1e-6)

# A global batch of one value per channel is an error on every rank, and changes no state.
m = nn.SyncBatchNorm(3)
try:
    m(fg.randn(1 - rank, 3))
    raise AssertionError("expected a ValueError")
except ValueError as e:
    assert "Expected more than 1 value per channel when training" in str(e) and "global batch of 2 processes" in str(e), e
assert m.num_batches_tracked.item() == 0 and (m.running_mean.numpy() == 0).all() and (m.running_var.numpy() == 1).all()

# A module/input dtype mismatch is the kernel's error, raised before any communication.
m = nn.SyncBatchNorm(3)
before = calls["n"]
try:
    m(fg.randn(4, 3, dtype=fg.float64))
    raise AssertionError("expected a RuntimeError")
except RuntimeError as e:
    assert "running_mean is ferrograd.float32 but the input is ferrograd.float64" in str(e), e
assert calls["n"] == before and m.num_batches_tracked.item() == 0

# The backward is not itself differentiable (once_differentiable): a clear error, not zeros.
m = nn.SyncBatchNorm(3)
x = fg.randn(4, 3, requires_grad=True)
(gx,) = fg.autograd.grad((m(x) ** 3).sum(), x, create_graph=True)
try:
    gx.sum().backward()
    raise AssertionError("expected a RuntimeError")
except RuntimeError as e:
    assert "differentiate twice" in str(e), e

# Layers of different widths on the ranks: a clear error on every rank, nothing all-reduced.
m = nn.SyncBatchNorm(3 + rank)
try:
    _, n = count_calls(lambda: m(fg.randn(4, 3 + rank)))
    raise AssertionError("expected a RuntimeError")
except RuntimeError as e:
    assert "different num_features (rank 0: 3, rank 1: 4)" in str(e), e
assert m.num_batches_tracked.item() == 0

# A converted CNN on half the batch per rank equals the BatchNorm CNN on the whole batch.
fg.manual_seed(0)
cnn = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                    nn.Sequential(nn.Conv2d(4, 4, 3), nn.BatchNorm2d(4, momentum=None)), nn.Flatten(), nn.Linear(4 * 4 * 4, 3))
ref = copy.deepcopy(cnn)
synced = nn.SyncBatchNorm.convert_sync_batchnorm(cnn)
assert isinstance(synced[1], nn.SyncBatchNorm) and isinstance(synced[3][1], nn.SyncBatchNorm)
rng = np.random.default_rng(3)
for _ in range(2):
    xg, gg = rng.normal(size=(6, 2, 6, 6)) + 1.0, rng.normal(size=(6, 3))
    x_all = fg.tensor(xg, dtype=fg.float32, requires_grad=True)
    x = fg.tensor(xg[3 * rank:3 * rank + 3], dtype=fg.float32, requires_grad=True)
    ref.zero_grad()
    synced.zero_grad()
    (ref(x_all) * fg.tensor(gg, dtype=fg.float32)).sum().backward()
    out = synced(x)
    (out * fg.tensor(gg[3 * rank:3 * rank + 3], dtype=fg.float32)).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), x_all.grad.numpy()[3 * rank:3 * rank + 3], rtol=1e-4, atol=1e-5)
    for (name, p), q in zip(synced.named_parameters(), ref.parameters()):
        np.testing.assert_allclose(summed(p.grad), q.grad.numpy(), rtol=1e-4, atol=1e-4, err_msg=name)
    with fg.no_grad():
        for p, q in zip(synced.parameters(), ref.parameters()):
            g = fg.tensor(summed(p.grad), dtype=fg.float32)
            p.sub_(0.1 * g)
            q.sub_(0.1 * q.grad)
for (name, a), b in zip(synced.state_dict().items(), ref.state_dict().values()):
    np.testing.assert_allclose(a.to(fg.float64).numpy(), b.to(fg.float64).numpy(), rtol=1e-4, atol=1e-5, err_msg=name)

dist.barrier()
print(f"rank {rank} of {world} OK", flush=True)
