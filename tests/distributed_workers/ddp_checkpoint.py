"""Run by tests/test_ddp.py on 2 MPI processes: rank 0 saves a checkpoint with fg.save in the
middle of DDP training; every rank loads it into a fresh model and optimizer and continues,
bit-exactly as the run that never stopped. argv[1]: a directory both ranks can write."""

import pathlib
import sys

import ferrograd as fg
import ferrograd.distributed as dist
import numpy as np
from ferrograd.nn.parallel import DistributedDataParallel as DDP

dist.init_process_group("gloo")  # PyTorch CPU scripts ask for gloo: it runs on MPI
rank, world = dist.get_rank(), dist.get_world_size()
path = pathlib.Path(sys.argv[1]) / "checkpoint.pt"
rng = np.random.default_rng(1)
X = fg.tensor(rng.standard_normal((6, 16, 5)).astype(np.float32))  # 6 steps of a batch of 16
Y = fg.tensor(rng.integers(0, 3, (6, 16)))
half = slice(rank * 8, rank * 8 + 8)


def build():
    fg.manual_seed(0)
    model = fg.nn.Sequential(fg.nn.Linear(5, 12), fg.nn.BatchNorm1d(12), fg.nn.ReLU(), fg.nn.Dropout(0.2), fg.nn.Linear(12, 3))
    ddp = DDP(model)
    return ddp, fg.optim.Adam(ddp.parameters(), lr=0.01)


def step(ddp, opt, i):
    fg.manual_seed(50 + 10 * i + rank)  # Dropout's masks: same on both runs
    opt.zero_grad()
    fg.nn.functional.cross_entropy(ddp(X[i, half]), Y[i, half]).backward()
    opt.step()


ddp, opt = build()
for i in range(3):
    step(ddp, opt, i)
if rank == 0:
    fg.save({"model": ddp.module.state_dict(), "optimizer": opt.state_dict()}, path)
dist.barrier()
for i in range(3, 6):
    step(ddp, opt, i)
straight = {k: v.numpy().tobytes() for k, v in ddp.module.state_dict().items()}

ddp, opt = build()
with fg.no_grad():  # make sure what is loaded is the checkpoint, not the same initialisation
    for p in ddp.parameters():
        p.add_(1.0)
state = fg.load(path)
ddp.module.load_state_dict(state["model"])
opt.load_state_dict(state["optimizer"])
for i in range(3, 6):
    step(ddp, opt, i)
resumed = {k: v.numpy().tobytes() for k, v in ddp.module.state_dict().items()}
assert resumed.keys() == straight.keys()
for k in straight:
    assert resumed[k] == straight[k], f"rank {rank}: {k} differs after resuming"
# The parameters are the same on every rank. The BatchNorm buffers are not: each rank blends its
# own half-batch into them, and rank 0's are copied to the others at the start of each forward
# (PyTorch's broadcast_buffers); SyncBatchNorm is what keeps them equal.
every = [None] * world
params = {n: resumed[n] for n, _ in ddp.module.named_parameters()}
dist.all_gather_object(every, params)
assert every[0] == every[1], "the replicas' parameters differ"
print(f"rank {rank} of {world} OK", flush=True)
