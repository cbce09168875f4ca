"""Run by tests/test_distributed.py on 2+ MPI processes: every collective against its closed form."""

import ferrograd as fg
import ferrograd.distributed as dist
import numpy as np

dist.init_process_group("mpi")
rank, world = dist.get_rank(), dist.get_world_size()
assert dist.is_initialized()

DTYPES = (fg.float32, fg.float64, fg.float16, fg.int64, fg.int32, fg.int16, fg.int8, fg.uint8)
for dtype in DTYPES:
    base = fg.arange(6, dtype=dtype).reshape(2, 3)
    expected = {
        dist.ReduceOp.SUM: sum((base + r).numpy() for r in range(world)),
        dist.ReduceOp.PRODUCT: np.prod([(base + r).numpy() for r in range(world)], axis=0),
        dist.ReduceOp.MIN: base.numpy(),
        dist.ReduceOp.MAX: (base + world - 1).numpy(),
    }
    for op, want in expected.items():
        t = base + rank
        ptr = t.data_ptr()
        dist.all_reduce(t, op=op)
        assert t.data_ptr() == ptr, "in place"
        np.testing.assert_array_equal(t.numpy(), want.astype(t.numpy().dtype), err_msg=f"{op} {dtype}")
    if dtype.is_floating_point:
        t = base + rank
        dist.all_reduce(t, op=dist.ReduceOp.AVG)
        np.testing.assert_allclose(t.numpy(), expected[dist.ReduceOp.SUM] / world, rtol=1e-3)
    else:
        try:
            dist.all_reduce(base + rank, op=dist.ReduceOp.AVG)
        except TypeError as e:
            assert "floating-point" in str(e)
        else:
            raise AssertionError("AVG of an integer tensor was accepted")

    t = fg.full((4,), float(rank), dtype=dtype)
    dist.broadcast(t, src=world - 1)
    np.testing.assert_array_equal(t.numpy(), np.full(4, world - 1, dtype=t.numpy().dtype))

    outs = [fg.zeros(3, dtype=dtype) for _ in range(world)]
    dist.all_gather(outs, fg.full((3,), rank * 10, dtype=dtype))
    for r, o in enumerate(outs):
        np.testing.assert_array_equal(o.numpy(), np.full(3, r * 10, dtype=o.numpy().dtype))

    out = fg.zeros(2, dtype=dtype)
    dist.reduce_scatter(out, [fg.full((2,), i + rank, dtype=dtype) for i in range(world)])
    np.testing.assert_array_equal(out.numpy(), np.full(2, sum(rank + r for r in range(world)), dtype=out.numpy().dtype))

# bool: PyTorch's SUM and MAX are OR, PRODUCT and MIN are AND
flags = fg.tensor([rank == 0, True, False])
for op, want in ((dist.ReduceOp.SUM, [True, True, False]), (dist.ReduceOp.MAX, [True, True, False]),
                 (dist.ReduceOp.PRODUCT, [world == 1, True, False]), (dist.ReduceOp.MIN, [world == 1, True, False])):
    t = flags.clone()
    dist.all_reduce(t, op=op)
    assert t.tolist() == want, (op, t.tolist())
t = fg.tensor([rank == 1, False])
dist.broadcast(t, src=1)
assert t.tolist() == [True, False]

# bfloat16 has no MPI datatype: a TypeError naming the op, before any communication
try:
    dist.all_reduce(fg.ones(2, dtype=fg.bfloat16))
except TypeError as e:
    assert "all_reduce" in str(e) and "bfloat16" in str(e), e
else:
    raise AssertionError("bfloat16 was accepted")

works = [dist.all_reduce(fg.ones(1000) * (rank + 1), async_op=True) for _ in range(3)]
t = fg.ones(5)
w = dist.all_reduce(t, async_op=True)
assert w.wait() and w.is_completed()
np.testing.assert_array_equal(t.numpy(), np.full(5, float(world)))
for w in works:
    w.wait()

# A shape mismatch across ranks is an error on every rank, not a hang or a wrong number.
try:
    dist.all_reduce(fg.ones(3 + rank))
except RuntimeError as e:
    assert "the ranks' tensors differ" in str(e), e
else:
    raise AssertionError("mismatched shapes were accepted")

try:
    dist.all_reduce(fg.ones(3, dtype=fg.float32 if rank == 0 else fg.float64))
except RuntimeError as e:
    assert "the ranks' tensors differ" in str(e) and "float64" in str(e), e
else:
    raise AssertionError("mismatched dtypes were accepted")

try:
    dist.all_reduce(fg.ones(4, 4).t())
except ValueError as e:
    assert "contiguous" in str(e)
else:
    raise AssertionError("a non-contiguous tensor was accepted")



def listening_addresses():
    """Local addresses of this process's listening TCP sockets (from /proc: no extra package)."""
    import os

    inodes = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            link = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes.add(link[8:-1])
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            for row in f.read().splitlines()[1:]:
                cols = row.split()
                if cols[3] == "0A" and cols[9] in inodes:  # 0A: LISTEN
                    found.append(cols[1].split(":")[0])
    return found


# Loopback only: 127.0.0.1 is 0100007F in /proc's byte order, ::1 is 0...01000000.
for addr in listening_addresses():
    assert addr in ("0100007F", "00000000000000000000000001000000"), f"rank {rank} listens on {addr}"

dist.barrier()
dist.destroy_process_group()
assert not dist.is_initialized()
print(f"rank {rank} of {world} OK", flush=True)
