"""Run by tests/test_ddp.py on 2 MPI processes: DistributedDataParallel against one process.

Each rank holds half of a fixed batch. The single-process reference, computed on every rank,
trains an identical model on the whole batch; after several steps both hold the same parameters.
"""

import sys

import ferrograd as fg
import ferrograd.distributed as dist
import numpy as np
from ferrograd.nn.parallel import DistributedDataParallel as DDP

dist.init_process_group("mpi")
rank, world = dist.get_rank(), dist.get_world_size()
assert world == 2
B, STEPS = 8, 4
rng = np.random.default_rng(0)
X = fg.tensor(rng.standard_normal((B, 6)).astype(np.float32))
Y = fg.tensor(rng.standard_normal((B, 3)).astype(np.float32))
half = slice(rank * B // 2, (rank + 1) * B // 2)


def mlp(seed, p=0.25):
    fg.manual_seed(seed)
    return fg.nn.Sequential(fg.nn.Linear(6, 16), fg.nn.ReLU(), fg.nn.Dropout(p), fg.nn.Linear(16, 3))


def optimizer(kind, params):
    if kind == "sgd":
        return fg.optim.SGD(params, lr=0.1, momentum=0.9)
    return fg.optim.Adam(params, lr=0.01)


def assert_same_params(a, b, what, atol=2e-6):
    for (n, p), q in zip(a.named_parameters(), b.parameters()):
        np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), atol=atol, rtol=1e-5, err_msg=f"{what}: {n}")


# -- 1. The MLP with Dropout, SGD with momentum and Adam --------------------------------------
# The reference runs the batch as the two halves' forwards with the ranks' Dropout seeds: Dropout
# acts on each row alone, so this is the batch-B step with the same masks the ranks draw.
for kind in ("sgd", "adam"):
    ref = mlp(100)  # what rank 0 builds
    model = mlp(100 + rank)  # different on each rank: DDP copies rank 0's to every rank
    ddp = DDP(model)
    assert_same_params(ddp.module, ref, "after construction", atol=0)
    opt, ref_opt = optimizer(kind, ddp.parameters()), optimizer(kind, ref.parameters())
    for step in range(STEPS):
        opt.zero_grad()
        fg.manual_seed(1000 * step + rank)
        fg.nn.functional.mse_loss(ddp(X[half]), Y[half]).backward()
        opt.step()

        ref_opt.zero_grad()
        losses = []
        for r in range(world):
            fg.manual_seed(1000 * step + r)
            part = slice(r * B // 2, (r + 1) * B // 2)
            losses.append(fg.nn.functional.mse_loss(ref(X[part]), Y[part]))
        (sum(losses) / world).backward()
        ref_opt.step()
    assert_same_params(ddp.module, ref, f"MLP with Dropout, {kind}")
    # Every replica holds the same bits.
    every = [None] * world
    dist.all_gather_object(every, [p.detach().numpy().tobytes() for p in ddp.parameters()])
    assert every[0] == every[1], "the replicas differ"

# state_dict keys carry the module. prefix, as PyTorch's.
assert list(ddp.state_dict()) == ["module." + k for k in ddp.module.state_dict()]

# -- 2. no_sync: accumulate locally, average at the next synchronised backward -----------------
ref, model = mlp(0, p=0.0), mlp(0, p=0.0)
ddp = DDP(model, bucket_cap_mb=0.0001)  # several buckets
assert len(ddp._buckets) > 1
quarter = [slice(q * 2, q * 2 + 2) for q in range(4)]
with ddp.no_sync():
    fg.nn.functional.mse_loss(ddp(X[quarter[rank]]), Y[quarter[rank]]).backward()
local = [p.grad.clone() for p in ddp.parameters()]
every = [None] * world
dist.all_gather_object(every, [g.numpy().tobytes() for g in local])
assert every[0] != every[1], "no_sync communicated"
# The buckets are launched during backward, as their gradients become final, not all at its end:
# record how many gradients were still missing at each launch.
launched_with_missing = []
submit = dist._submit


def recording_submit(fn):
    if fn.__name__ == "<lambda>":
        launched_with_missing.append(sum(len(b.params) for b in ddp._buckets) - len(ddp._ready))
    return submit(fn)


dist._submit = recording_submit
fg.nn.functional.mse_loss(ddp(X[quarter[2 + rank]]), Y[quarter[2 + rank]]).backward()
dist._submit = submit
assert len(launched_with_missing) == len(ddp._buckets) and launched_with_missing[0] > 0, launched_with_missing
for q in quarter:  # the reference: the four quarters' gradients, averaged over the two ranks
    (fg.nn.functional.mse_loss(ref(X[q]), Y[q]) / world).backward()
for p, q in zip(ddp.parameters(), ref.parameters()):
    np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), atol=1e-6, rtol=1e-5)


# -- 3. Unused parameters ------------------------------------------------------------------------
class TwoHeads(fg.nn.Module):
    def __init__(self):
        super().__init__()
        fg.manual_seed(3)
        self.trunk = fg.nn.Linear(6, 4)
        self.a = fg.nn.Linear(4, 1)
        self.b = fg.nn.Linear(4, 1)
        self.never = fg.nn.Linear(4, 1)

    def forward(self, x, head):
        return getattr(self, head)(self.trunk(x))


net = TwoHeads()
ddp = DDP(net, find_unused_parameters=True)
for _ in range(2):  # the second iteration shows the first one finished
    ddp.zero_grad()
    ddp(X[half], "a" if rank == 0 else "b").sum().backward()
assert net.never.weight.grad is None, "a parameter no rank used got a gradient"
# head a: rank 0's gradient averaged with rank 1's zero; head b the other way round
solo = TwoHeads()
solo(X[: B // 2], "a").sum().backward()
solo(X[B // 2:], "b").sum().backward()
np.testing.assert_allclose(net.a.weight.grad.numpy(), solo.a.weight.grad.numpy() / 2, atol=1e-6)
np.testing.assert_allclose(net.b.weight.grad.numpy(), solo.b.weight.grad.numpy() / 2, atol=1e-6)
np.testing.assert_allclose(net.trunk.weight.grad.numpy(), solo.trunk.weight.grad.numpy() / 2, atol=1e-6)
every = [None] * world
dist.all_gather_object(every, [p.grad.numpy().tobytes() for p in net.parameters() if p.grad is not None])
assert every[0] == every[1]

# Without find_unused_parameters the unused heads leave the reduction unfinished: PyTorch's error
# at the next forward, naming them, instead of a hang.
ddp = DDP(TwoHeads())
ddp(X[half], "a").sum().backward()
try:
    ddp(X[half], "a")
except RuntimeError as e:
    assert "Expected to have finished reduction" in str(e) and "never.weight" in str(e), e
else:
    raise AssertionError("an unfinished reduction went unnoticed")
ddp(X[half], "a")  # after the error, training can go on (with find_unused_parameters set right)

# -- 4. A model that differs across ranks is refused at construction ---------------------------
try:
    DDP(fg.nn.Linear(3 + rank, 2))
except RuntimeError as e:
    assert "same model on every rank" in str(e), e
else:
    raise AssertionError("different models were accepted")

# -- 5. Buffers: rank 0's are broadcast at construction and at every forward -------------------
bn = fg.nn.Sequential(fg.nn.Linear(6, 4), fg.nn.BatchNorm1d(4))
with fg.no_grad():
    bn[1].running_mean.fill_(float(rank))
ddp = DDP(bn)
assert bn[1].running_mean.tolist() == [0.0] * 4
ddp(X[half])  # training: each rank blends its own half's mean into its running_mean
every = [None] * world
dist.all_gather_object(every, bn[1].running_mean.tolist())
assert every[0] != every[1]
ddp.eval()
with fg.no_grad():
    ddp(X[half])  # the forward starts by broadcasting rank 0's buffers
dist.all_gather_object(every, bn[1].running_mean.tolist() + [bn[1].num_batches_tracked.item()])
assert every[0] == every[1]

dist.barrier()
print(f"rank {rank} of {world} OK", flush=True)
sys.stdout.flush()
