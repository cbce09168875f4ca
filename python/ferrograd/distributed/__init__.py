"""``fg.distributed``: torch.distributed's API over MPI (mpi4py, the optional extra
``ferrograd[mpi]``). ``import ferrograd`` never imports MPI; ``init_process_group`` does.

Collectives run in place on the tensor's own memory through the buffer protocol (no copy into
numpy and back), so a tensor must be contiguous. Before each collective the ranks compare the
tensor's shape and dtype (one small allgather): a mismatch is a RuntimeError on every rank
instead of MPI reading past a buffer or hanging. ``async_op=True`` runs the collective on one
communication thread and returns a work handle whose ``wait()`` returns when it is done.

Launch with ``python -m ferrograd.distributed.run -n 2 script.py`` (as ``torchrun``).
"""

from __future__ import annotations

import importlib.util
import threading
from concurrent.futures import Future, ThreadPoolExecutor

from .. import _core, _creation
from .._core import Tensor
from ..autograd.grad_mode import no_grad

__all__ = [
    "ReduceOp", "Work", "is_available", "init_process_group", "is_initialized", "get_rank", "get_world_size",
    "destroy_process_group", "get_backend", "is_mpi_available", "is_gloo_available", "is_nccl_available", "new_group",
    "barrier", "broadcast", "all_reduce", "all_gather", "reduce_scatter", "all_gather_object",
    "broadcast_object_list",
]


class ReduceOp:
    """The reductions of ``all_reduce`` (torch.distributed.ReduceOp's names)."""

    SUM = "SUM"
    AVG = "AVG"
    PRODUCT = "PRODUCT"
    MIN = "MIN"
    MAX = "MAX"


_state: dict = {"comm": None, "pool": None}
_lock = threading.Lock()


def is_available() -> bool:
    """Whether mpi4py is installed (``pip install ferrograd[mpi]``); nothing is imported."""
    return importlib.util.find_spec("mpi4py") is not None


def init_process_group(backend: str | None = "mpi", init_method=None, timeout=None, world_size: int = -1, rank: int = -1,
                       store=None, group_name: str = "", pg_options=None, device_id=None) -> None:
    """Joins the job's processes (MPI_COMM_WORLD). ``world_size`` and ``rank``, when given, must be
    what the launcher started.

    ``backend="gloo"`` (PyTorch's CPU backend, what CPU DDP scripts ask for) is accepted and runs
    on MPI too, so such a script runs with its import changed; GPU backends are refused."""
    if backend not in _CPU_BACKENDS:
        raise ValueError(f"init_process_group: ferrograd runs on the CPU over MPI; backend={backend!r} is not available "
                         "(use 'mpi'; 'gloo' is accepted and runs on MPI)")
    if not is_available():
        raise RuntimeError("init_process_group: mpi4py is not installed; pip install 'ferrograd[mpi]' (mpi4py and mpich)")
    if _state["comm"] is not None:
        raise RuntimeError("trying to initialize the default process group twice!")
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    if world_size not in (-1, comm.Get_size()) or rank not in (-1, comm.Get_rank()):
        raise ValueError(f"init_process_group: world_size={world_size}, rank={rank} given, but the launcher started "
                         f"{comm.Get_size()} processes and this is rank {comm.Get_rank()}")
    _state["comm"] = comm


_CPU_BACKENDS = (None, "mpi", "gloo", "cpu:gloo", "cpu:mpi")


def get_backend(group=None) -> str:
    _comm("get_backend")
    return "mpi"


def is_mpi_available() -> bool:
    return is_available()


def is_gloo_available() -> bool:
    return False


def is_nccl_available() -> bool:
    return False


def new_group(ranks=None, timeout=None, backend=None, pg_options=None, use_local_synchronization=False, group_desc=None,
              device_id=None):
    raise NotImplementedError("new_group: ferrograd has no process subgroups yet; every collective runs over the whole job")


def is_initialized() -> bool:
    return _state["comm"] is not None


def _comm(op: str):
    comm = _state["comm"]
    if comm is None:
        raise RuntimeError(f"{op}: Default process group has not been initialized, please make sure to call init_process_group.")
    return comm


def get_rank(group=None) -> int:
    return _comm("get_rank").Get_rank()


def get_world_size(group=None) -> int:
    return _comm("get_world_size").Get_size()


def destroy_process_group(group=None) -> None:
    """Leaves the process group (MPI itself is finalized at exit by mpi4py)."""
    _comm("destroy_process_group")
    with _lock:
        pool, _state["pool"] = _state["pool"], None
    if pool is not None:
        pool.shutdown(wait=True)
    _state["comm"] = None


class Work:
    """The handle of an ``async_op=True`` collective."""

    def __init__(self, future: Future) -> None:
        self._future = future

    def wait(self, timeout=None) -> bool:
        self._future.result()
        return True

    def is_completed(self) -> bool:
        return self._future.done()


def _run(fn, async_op: bool):
    # Every collective, synchronous or not, runs on one communication thread: MPI matches
    # collectives by the order they are issued, which must be the same on every rank.
    future = _submit(fn)
    if async_op:
        return Work(future)
    future.result()
    return None


def _buffer(op: str, t: Tensor, comm) -> memoryview:
    if not isinstance(t, Tensor):
        raise TypeError(f"{op}: expected a Tensor, got {type(t).__name__}")
    if t.dtype == _core.bfloat16:
        raise TypeError(f"{op}: MPI has no bfloat16 datatype (tensor of shape {tuple(t.shape)}); "
                        "communicate t.float() and convert back")
    if not t.is_contiguous():
        raise ValueError(f"{op}: the tensor (shape {tuple(t.shape)}) must be contiguous; call .contiguous() first")
    mine = (tuple(t.shape), str(t.dtype))
    every = comm.allgather(mine)
    if any(x != mine for x in every):
        raise RuntimeError(f"{op}: the ranks' tensors differ: " + ", ".join(f"rank {r}: shape {s}, {d}" for r, (s, d) in enumerate(every)))
    return memoryview(t.detach())


def _mpi_op(op, dtype):
    from mpi4py import MPI

    table = {ReduceOp.SUM: MPI.SUM, ReduceOp.AVG: MPI.SUM, ReduceOp.PRODUCT: MPI.PROD, ReduceOp.MIN: MPI.MIN, ReduceOp.MAX: MPI.MAX}
    if op not in table:
        raise ValueError(f"all_reduce: unknown op {op!r}; use fg.distributed.ReduceOp.SUM, AVG, PRODUCT, MIN or MAX")
    if op == ReduceOp.AVG and not dtype.is_floating_point:
        raise TypeError(f"all_reduce: ReduceOp.AVG needs a floating-point tensor, got {dtype}")
    if dtype == _core.bool:
        # MPI defines no arithmetic on booleans; PyTorch's results are OR (SUM, MAX) and AND
        # (PRODUCT, MIN), which are MPI's logical reductions.
        return MPI.LOR if op in (ReduceOp.SUM, ReduceOp.MAX) else MPI.LAND
    return table[op]


def _sum_in_place(tensor: Tensor) -> None:
    """MPI SUM all-reduce of a contiguous tensor, in place, without the cross-rank shape check:
    for ferrograd's own layers (DDP's buckets, SyncBatchNorm's statistics), whose shapes are fixed
    by the model. Call it on the communication thread (from a function given to ``_submit``)."""
    from mpi4py import MPI

    _comm("all_reduce").Allreduce(MPI.IN_PLACE, memoryview(tensor.detach()), op=MPI.SUM)


def _submit(fn) -> Future:
    """Runs ``fn`` on the communication thread, after every collective issued before it."""
    _comm("collective")
    with _lock:
        if _state["pool"] is None:
            _state["pool"] = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fg-distributed")
        return _state["pool"].submit(fn)


def _all_reduce_unchecked(tensor: Tensor, async_op: bool = False):
    """SUM all-reduce in place without the cross-rank shape check (see ``_sum_in_place``)."""
    _comm("all_reduce")
    return _run(lambda: _sum_in_place(tensor), async_op)


def _broadcast_unchecked(tensor: Tensor, src: int = 0, async_op: bool = False):
    """``broadcast`` without the cross-rank shape check (see ``_all_reduce_unchecked``)."""
    comm = _comm("broadcast")
    return _run(lambda: comm.Bcast(memoryview(tensor.detach()), root=src), async_op)


def all_gather_object(object_list: list, obj, group=None) -> None:
    """Fills ``object_list`` (of world-size length) with every rank's picklable ``obj``, in rank order."""
    comm = _comm("all_gather_object")
    if len(object_list) != comm.Get_size():
        raise ValueError(f"all_gather_object: object_list has {len(object_list)} entries for a world of {comm.Get_size()}")
    gathered: list = []
    _run(lambda: gathered.extend(comm.allgather(obj)), False)
    object_list[:] = gathered


def broadcast_object_list(object_list: list, src: int = 0, group=None, device=None) -> None:
    """Replaces ``object_list``'s entries on every rank by rank ``src``'s (picklable objects)."""
    comm = _comm("broadcast_object_list")
    if not 0 <= src < comm.Get_size():
        raise ValueError(f"broadcast_object_list: src={src} is not a rank of a world of {comm.Get_size()}")
    got: list = []
    _run(lambda: got.append(comm.bcast(list(object_list), root=src)), False)
    if len(got[0]) != len(object_list):
        raise RuntimeError(f"broadcast_object_list: rank {src} sent {len(got[0])} objects into a list of {len(object_list)}")
    object_list[:] = got[0]


def barrier(group=None, async_op: bool = False, device_ids=None):
    comm = _comm("barrier")
    return _run(comm.Barrier, async_op)


def broadcast(tensor: Tensor, src: int, group=None, async_op: bool = False):
    """Copies rank ``src``'s tensor into every rank's, in place."""
    comm = _comm("broadcast")
    if not 0 <= src < comm.Get_size():
        raise ValueError(f"broadcast: src={src} is not a rank of a world of {comm.Get_size()}")
    return _run(lambda: comm.Bcast(_buffer("broadcast", tensor, comm), root=src), async_op)


def all_reduce(tensor: Tensor, op=ReduceOp.SUM, group=None, async_op: bool = False):
    """Reduces the tensor across ranks, in place on every rank."""
    comm = _comm("all_reduce")
    mpi_op = _mpi_op(op, tensor.dtype)

    def run():
        from mpi4py import MPI

        comm.Allreduce(MPI.IN_PLACE, _buffer("all_reduce", tensor, comm), op=mpi_op)
        if op == ReduceOp.AVG:
            with no_grad():
                tensor.div_(comm.Get_size())

    return _run(run, async_op)


def all_gather(tensor_list: list, tensor: Tensor, group=None, async_op: bool = False):
    """Fills ``tensor_list[r]`` with rank r's tensor (the list's tensors are written in place)."""
    comm = _comm("all_gather")
    if len(tensor_list) != comm.Get_size():
        raise ValueError(f"all_gather: tensor_list has {len(tensor_list)} tensors for a world of {comm.Get_size()}")
    for i, out in enumerate(tensor_list):
        if not isinstance(out, Tensor) or tuple(out.shape) != tuple(tensor.shape) or out.dtype != tensor.dtype:
            raise ValueError(f"all_gather: tensor_list[{i}] must be a tensor of shape {tuple(tensor.shape)} and dtype {tensor.dtype}")
    def run():
        buf = _buffer("all_gather", tensor, comm)
        gathered = _creation.empty((comm.Get_size(), *tensor.shape), dtype=tensor.dtype)
        comm.Allgather(buf, memoryview(gathered))
        with no_grad():
            for out, g in zip(tensor_list, gathered):
                out.copy_(g)

    return _run(run, async_op)


def reduce_scatter(output: Tensor, input_list: list, op=ReduceOp.SUM, group=None, async_op: bool = False):
    """Reduces ``input_list`` elementwise across ranks and leaves piece r in rank r's ``output``."""
    comm = _comm("reduce_scatter")
    if len(input_list) != comm.Get_size():
        raise ValueError(f"reduce_scatter: input_list has {len(input_list)} tensors for a world of {comm.Get_size()}")
    stacked = _core.stack([t.detach() for t in input_list]).contiguous()
    mpi_op = _mpi_op(op, output.dtype)

    def run():
        comm.Reduce_scatter_block(memoryview(stacked), _buffer("reduce_scatter", output, comm), op=mpi_op)
        if op == ReduceOp.AVG:
            with no_grad():
                output.div_(comm.Get_size())

    return _run(run, async_op)
