"""Run by tests/test_syncbatchnorm.py on 2 MPI processes: a CNN converted with
convert_sync_batchnorm and wrapped in DistributedDataParallel, each rank on half of a fixed batch,
reaches after several steps of SGD with momentum and of Adam the parameters and running
statistics of the same CNN (plain BatchNorm) trained in one process on the whole batch. The same
run with plain BatchNorm under DDP does not, and this shows how it differs.
"""

import ferrograd as fg
import ferrograd.distributed as dist
import numpy as np
from ferrograd.nn.parallel import DistributedDataParallel as DDP

nn = fg.nn
dist.init_process_group("mpi")
rank, world = dist.get_rank(), dist.get_world_size()
assert world == 2
B, STEPS = 8, 4
rng = np.random.default_rng(0)
X = fg.tensor((rng.standard_normal((B, 2, 4, 4)) * 1.5 + 0.5).astype(np.float32))
Y = fg.tensor(rng.standard_normal((B, 3)).astype(np.float32))
half = slice(rank * B // 2, (rank + 1) * B // 2)


def cnn(seed):
    # No conv bias before a BatchNorm (the usual design): its gradient is zero up to rounding,
    # which Adam would scale up to full steps of noise.
    fg.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(2, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4), nn.ReLU(),
                         nn.Conv2d(4, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4, momentum=None), nn.ReLU(),
                         nn.Flatten(), nn.Linear(4 * 4 * 4, 3))


def optimizer(kind, params):
    return fg.optim.SGD(params, lr=0.05, momentum=0.9) if kind == "sgd" else fg.optim.Adam(params, lr=0.01)


def train(kind, convert):
    """(the DDP-trained model on this rank, the one-process reference on the whole batch)."""
    ref = cnn(100)  # what rank 0 builds
    model = cnn(100 + rank)  # DDP copies rank 0's parameters and buffers to every rank
    if convert:
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    ddp = DDP(model)
    opt, ref_opt = optimizer(kind, ddp.parameters()), optimizer(kind, ref.parameters())
    for _ in range(STEPS):
        opt.zero_grad()
        nn.functional.mse_loss(ddp(X[half]), Y[half]).backward()
        opt.step()
        ref_opt.zero_grad()
        nn.functional.mse_loss(ref(X), Y).backward()
        ref_opt.step()
    return model, ref


def largest_difference(a, b):
    return max(float(np.abs(x.detach().to(fg.float64).numpy() - y.detach().to(fg.float64).numpy()).max())
               for x, y in zip(a.state_dict().values(), b.state_dict().values()))


for kind in ("sgd", "adam"):
    model, ref = train(kind, convert=True)
    assert [type(m).__name__ for m in model.modules()].count("SyncBatchNorm") == 2
    for (name, a), b in zip(model.state_dict().items(), ref.state_dict().values()):
        np.testing.assert_allclose(a.to(fg.float64).numpy(), b.to(fg.float64).numpy(), rtol=1e-5, atol=1e-6,
                                   err_msg=f"{kind}: {name}")
    assert model[4].num_batches_tracked.item() == STEPS
    # Eval mode: the running statistics, no communication; the outputs are the reference's.
    model.eval()
    ref.eval()
    with fg.no_grad():
        np.testing.assert_allclose(model(X[half]).numpy(), ref(X[half]).numpy(), rtol=1e-5, atol=1e-6)

    # Plain BatchNorm under DDP normalises each half with the half's own statistics: the
    # gradients are those of another function, so the parameters drift from the reference, and
    # each rank's running statistics follow its own half (DDP's buffer broadcast then makes
    # rank 0's win at the next forward).
    plain, ref = train(kind, convert=False)
    drift = largest_difference(plain, ref)
    assert drift > 1e-3, f"{kind}: plain BatchNorm under DDP unexpectedly matched the one-process run ({drift})"
    every = [None] * world
    dist.all_gather_object(every, plain[1].running_mean.tolist())
    assert every[0] != every[1]

dist.barrier()
print(f"rank {rank} of {world} OK", flush=True)
