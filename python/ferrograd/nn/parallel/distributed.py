"""DistributedDataParallel: torch.nn.parallel.DistributedDataParallel over ``fg.distributed`` (MPI).

Every rank holds a replica; each step, each rank runs forward and backward on its share of the
batch and the gradients are averaged across ranks before the optimizer steps, so every replica
takes the same step. How:

- Construction checks that every rank holds the same parameters (names, shapes, dtypes; one
  allgather) and copies rank 0's parameters and buffers to every rank.
- The parameters that require grad are grouped into buckets in reverse registration order
  (roughly the order backward finishes them), up to ``bucket_cap_mb`` each (25 MiB; when left
  at its default the first bucket holds only 1 MiB, so communication starts early). Each parameter has a post-accumulate-grad hook;
  when a bucket's last gradient is final, the bucket goes to the communication thread
  (``fg.distributed``'s, which runs collectives in the order issued): it packs the gradients into
  one flat buffer, all-reduces it in place and writes the averages back. The engine runs backward
  without the GIL, so that all-reduce overlaps the rest of backward.
- Buckets are launched strictly in bucket order: MPI matches collectives by issue order, and two
  ranks launching same-sized buckets in different orders would add the wrong gradients silently.
- The hook that launches the last bucket waits for every bucket, so when ``backward()`` returns,
  every ``.grad`` holds the average.

Trap avoided: ``broadcast_buffers=True`` broadcasts rank 0's buffers at every forward (as
PyTorch), which is a collective: every rank must call forward. To evaluate on rank 0 alone, call
``ddp.module`` there, not ``ddp``.
"""

from __future__ import annotations

import contextlib
from concurrent.futures import Future

from ... import _core
from ... import distributed as dist
from ..._core import Tensor
from ..._creation import zeros
from ...autograd.grad_mode import is_grad_enabled, no_grad
from ..module import Module

__all__ = ["DistributedDataParallel"]

_MiB = 1024 * 1024
_FIRST_BUCKET_BYTES = _MiB  # PyTorch's dist._DEFAULT_FIRST_BUCKET_BYTES


def _key(t: Tensor) -> tuple:
    # A parameter seen through the graph (AccumulateGrad.variable) is a new Python object for the
    # same tensor; its storage address and shape name it.
    return (t.data_ptr(), tuple(t.shape))


class _Bucket:
    """Parameters whose gradients are all-reduced together, in one flat buffer of their dtype."""

    def __init__(self, params: list) -> None:
        self.params = params
        self.offsets = []
        n = 0
        for p in params:
            self.offsets.append(n)
            n += p.numel()
        self.flat = zeros(n, dtype=params[0].dtype)
        self.ready = 0

    def reduce(self, world: int, locally_used, globally_used) -> None:
        """On the communication thread: pack, all-reduce, average, unpack. ``locally_used`` and
        ``globally_used`` are None unless find_unused_parameters (then a set of indices / a
        function of one)."""
        with no_grad():
            for p, off in zip(self.params, self.offsets):
                piece = self.flat[off:off + p.numel()]
                if p.grad is None or (locally_used is not None and id(p) not in locally_used):
                    piece.zero_()
                else:
                    piece.copy_(p.grad.reshape(-1))
            dist._sum_in_place(self.flat)
            self.flat.div_(world)
            for p, off in zip(self.params, self.offsets):
                if globally_used is not None and not globally_used(p):
                    continue  # no rank used it: its .grad stays as it was, as PyTorch leaves it
                avg = self.flat[off:off + p.numel()].view(tuple(p.shape))
                if p.grad is None:
                    p.grad = avg.clone()
                else:
                    p.grad.copy_(avg)


class DistributedDataParallel(Module):
    """Data-parallel training: wrap the model on every rank after ``fg.distributed.init_process_group()``.

    The replicas must be built the same way on every rank; rank 0's parameters and buffers are
    copied to the others here. ``forward`` is the module's forward; the gradients of a backward
    through it are averaged across ranks when ``backward()`` returns. Inside ``no_sync()`` they
    are only accumulated locally, and the first synchronised backward after it averages the sums.
    Parameters not used by a forward make backward incomplete: PyTorch's error at the next forward
    names them, unless ``find_unused_parameters=True`` (which walks the autograd graph after every
    forward to find them; it costs a graph walk and one small all-reduce per step).

    ``state_dict()`` keys carry the ``module.`` prefix, as PyTorch's; save ``ddp.module.state_dict()``
    for a checkpoint that loads into the bare model.
    """

    def __init__(self, module: Module, device_ids=None, output_device=None, dim: int = 0, broadcast_buffers: bool | None = None,
                 init_sync: bool = True, process_group=None, bucket_cap_mb: float | None = None,
                 find_unused_parameters: bool = False, check_reduction: bool = False, gradient_as_bucket_view: bool = False,
                 static_graph: bool = False, delay_all_reduce_named_params=None, param_to_hook_all_reduce=None,
                 mixed_precision=None, device_mesh=None, skip_all_reduce_unused_params: bool = False,
                 bucket_cap_mb_list: list | None = None, batched_grad_copy: bool = False,
                 forward_sync_buffers: bool | None = None, lazy_bucket_allocation: bool = False) -> None:
        super().__init__()
        if not dist.is_initialized():
            raise RuntimeError("DistributedDataParallel: Default process group has not been initialized, "
                               "please make sure to call init_process_group.")
        if device_ids is not None or output_device is not None:
            raise ValueError("DistributedDataParallel device_ids and output_device arguments only work with GPU "
                             f"modules; ferrograd's modules are on the CPU, so pass neither (got device_ids={device_ids}, "
                             f"output_device={output_device})")
        for name, value in (("process_group", process_group), ("mixed_precision", mixed_precision),
                            ("device_mesh", device_mesh), ("delay_all_reduce_named_params", delay_all_reduce_named_params),
                            ("param_to_hook_all_reduce", param_to_hook_all_reduce)):
            if value is not None:
                raise NotImplementedError(f"DistributedDataParallel: {name} is not supported yet (the world is the only group)")
        # PyTorch 2.15's bucket sizes: 25 MiB, the first 1 MiB unless the user chose a size, or one
        # size per bucket (the last one repeating).
        caps_mb = list(bucket_cap_mb_list) if bucket_cap_mb_list else [25 if bucket_cap_mb is None else bucket_cap_mb]
        if any(c <= 0 for c in caps_mb):
            raise ValueError(f"DistributedDataParallel: bucket sizes must be positive, got {caps_mb} MiB")
        caps = [int(c * _MiB) for c in caps_mb]
        if bucket_cap_mb is None and not bucket_cap_mb_list:
            caps = [min(_FIRST_BUCKET_BYTES, caps[0]), caps[0]]
        # broadcast_buffers (deprecated in PyTorch 2.13 for forward_sync_buffers): False also keeps
        # the buffers out of the construction-time copy; forward_sync_buffers rules the forwards.
        sync_buffers_at_init = broadcast_buffers is not False
        self.module = module
        self.dim = dim
        self.broadcast_buffers = forward_sync_buffers if forward_sync_buffers is not None else broadcast_buffers is not False
        self.bucket_bytes_cap = caps[-1]
        self.find_unused_parameters = find_unused_parameters
        self.gradient_as_bucket_view = gradient_as_bucket_view
        self.static_graph = static_graph
        self.require_backward_grad_sync = True
        self.require_forward_param_sync = True
        self._world = dist.get_world_size()
        named = [(n, p) for n, p in module.named_parameters() if p.requires_grad]
        self._check_same_model(named)
        if init_sync:
            with no_grad():
                _broadcast_flat([p for _, p in module.named_parameters()])
                if sync_buffers_at_init:
                    _broadcast_flat(self._buffers_to_sync())
        self._names = {id(p): n for n, p in named}
        self._buckets = _make_buckets([p for _, p in reversed(named)], caps)
        self._bucket_of = {id(p): b for b in self._buckets for p in b.params}
        self._handles = [p.register_post_accumulate_grad_hook(self._grad_ready) for _, p in named]
        self._reset_iteration(armed=False)

    # -- the step's state machine: armed by forward, driven by the gradient hooks --

    def _reset_iteration(self, armed: bool) -> None:
        self._armed = armed
        self._started = False  # a gradient hook fired: backward began
        self._ready: set = set()
        self._next_bucket = 0
        self._futures: list[Future] = []
        self._locally_used: set | None = None
        self._used_counts: Tensor | None = None
        for b in self._buckets:
            b.ready = 0

    def _grad_ready(self, param: Tensor) -> None:
        if not self._armed:
            return  # a backward outside the synchronised step (no_sync, or a second backward)
        self._started = True
        self._mark_ready(param)
        self._launch_ready_buckets()

    def _mark_ready(self, param: Tensor) -> None:
        if id(param) not in self._ready:
            self._ready.add(id(param))
            self._bucket_of[id(param)].ready += 1

    def _launch_ready_buckets(self) -> None:
        """Launches the ready buckets in bucket order; once all are launched, waits for them
        (inside the last gradient hook, so backward returns with every gradient averaged)."""
        while self._next_bucket < len(self._buckets):
            b = self._buckets[self._next_bucket]
            if b.ready < len(b.params):
                return
            self._next_bucket += 1
            locally, globally = self._locally_used, None
            if self._used_counts is not None:
                def globally(p, used=self._used_counts, index=self._index):
                    return used[index[id(p)]].item() > 0
            self._futures.append(dist._submit(lambda b=b, lo=locally, gl=globally: b.reduce(self._world, lo, gl)))
        futures = self._futures
        self._reset_iteration(armed=False)
        for f in futures:
            f.result()  # re-raises a failure of the communication thread here, in backward

    def forward(self, *inputs, **kwargs):
        if self._started:
            unready = [self._names[id(p)] for b in self._buckets for p in b.params if id(p) not in self._ready]
            self._reset_iteration(armed=False)
            raise RuntimeError(
                "Expected to have finished reduction in the prior iteration before starting a new one. This error "
                "indicates that your module has parameters that were not used in producing loss. You can enable "
                "unused parameter detection by passing the keyword argument `find_unused_parameters=True` to "
                "`fg.nn.parallel.DistributedDataParallel`, and by making sure all `forward` function outputs "
                f"participate in calculating loss. Parameters whose gradients were not reduced: {unready}")
        if self.broadcast_buffers and self.require_forward_param_sync:
            with no_grad():
                _broadcast_flat(self._buffers_to_sync())
        out = self.module(*inputs, **kwargs)
        if is_grad_enabled() and self.require_backward_grad_sync:
            self._reset_iteration(armed=True)
            if self.find_unused_parameters:
                self._mark_unused(out)
        return out

    def _mark_unused(self, out) -> None:
        """Walks the autograd graph from the outputs; the parameters it does not reach get no
        gradient from this backward, so they count as ready now (contributing zeros)."""
        reached = _reachable_leaves(out)
        params = [p for b in self._buckets for p in b.params]
        self._index = {id(p): i for i, p in enumerate(params)}
        self._locally_used = {id(p) for p in params if _key(p) in reached}
        used = zeros(len(params), dtype=_core.int32)
        with no_grad():
            for p in params:
                if id(p) in self._locally_used:
                    used[self._index[id(p)]] = 1
        self._used_counts = used
        self._futures.append(dist._submit(lambda: dist._sum_in_place(used)))
        for p in params:
            if id(p) not in self._locally_used:
                self._mark_ready(p)
        self._launch_ready_buckets()

    @contextlib.contextmanager
    def no_sync(self):
        """Backward passes of forwards run inside accumulate gradients locally, without communication."""
        old = self.require_backward_grad_sync
        self.require_backward_grad_sync = False
        try:
            yield
        finally:
            self.require_backward_grad_sync = old

    def _buffers_to_sync(self) -> list:
        return [b for _, b in self.module.named_buffers() if b is not None]

    def _check_same_model(self, named: list) -> None:
        mine = [(n, tuple(p.shape), str(p.dtype)) for n, p in named]
        every = [None] * self._world
        dist.all_gather_object(every, mine)
        for r, theirs in enumerate(every):
            if theirs != mine:
                diff = next((f"{a} here, {b} on rank {r}" for a, b in zip(mine, theirs) if a != b),
                            f"{len(mine)} parameters here, {len(theirs)} on rank {r}")
                raise RuntimeError(f"DistributedDataParallel expects the same model on every rank: {diff}")

    def extra_repr(self) -> str:
        return f"world_size={self._world}, buckets={len(self._buckets)}, find_unused_parameters={self.find_unused_parameters}"


def _make_buckets(params: list, caps: list[int]) -> list[_Bucket]:
    """Groups consecutive parameters of one dtype; bucket i holds up to caps[i] bytes (the last
    cap repeats), closing once it reaches it."""
    buckets, current, size = [], [], 0
    for p in params:
        limit = caps[min(len(buckets), len(caps) - 1)]
        if current and (current[0].dtype != p.dtype or size >= limit):
            buckets.append(_Bucket(current))
            current, size = [], 0
        current.append(p)
        size += p.numel() * p.element_size()
    if current:
        buckets.append(_Bucket(current))
    return buckets


def _broadcast_flat(tensors: list) -> None:
    """Copies rank 0's tensors into every rank's: one broadcast per dtype, through a flat buffer."""
    by_dtype: dict = {}
    for t in tensors:
        by_dtype.setdefault(t.dtype, []).append(t)
    for group in by_dtype.values():
        flat = _core.cat([t.detach().reshape(-1) for t in group]).contiguous()
        dist._broadcast_unchecked(flat, 0)
        off = 0
        for t in group:
            t.copy_(flat[off:off + t.numel()].view(tuple(t.shape)))
            off += t.numel()


def _reachable_leaves(out) -> set:
    """The keys of the leaves whose gradients a backward from ``out``'s tensors would reach."""
    roots, stack = [], [out]
    while stack:
        x = stack.pop()
        if isinstance(x, Tensor):
            if x.grad_fn is not None:
                roots.append(x.grad_fn)
        elif isinstance(x, (list, tuple)):
            stack.extend(x)
        elif isinstance(x, dict):
            stack.extend(x.values())
    # grad_fn objects are made on each access but compare and hash by the node they show, so
    # `seen` holds each node once.
    reached, seen, todo = set(), set(), roots
    while todo:
        node = todo.pop()
        variable = node.variable
        if variable is not None:
            reached.add(_key(variable))
        for child, _ in node.next_functions:
            if child is not None and child not in seen:
                seen.add(child)
                todo.append(child)
    return reached
