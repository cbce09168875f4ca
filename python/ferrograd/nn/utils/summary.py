"""summary: a torchinfo-style table of a model, from one forward pass that changes nothing.

    print(fg.nn.utils.summary(model, (32, 784)))

The pass runs under no_grad on a random input (zeros for integer dtypes) with forward hooks on
every module. It leaves the model and the global RNG exactly as they were: training flags,
parameters, BatchNorm running statistics and num_batches_tracked (each BatchNorm is told not to
update them, and to normalise with its running statistics when it has some, so a batch of one
works in training mode too; its knobs are restored afterwards), the RNG state (Dropout in
training mode draws from it) and the once-per-module mode warnings (suppressed during the pass).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..._core import Tensor
from ...autograd.grad_mode import no_grad
from ..module import Module
from .mode_warnings import suppress_mode_warnings
from .modes import is_mode_dependent

__all__ = ["ModelSummary", "SummaryRow", "summary"]


@dataclass
class SummaryRow:
    """One module call. `output_shape`: a tuple for a tensor output, a list of such for a
    tuple/list/dict output, None if no tensor came out (or the call failed). `num_params` counts
    the module's own parameters (not its children's); `trainable` is "all", "partial" or "none"
    for them, None without own parameters. `mode` ("train", "eval", "eval (pinned)") is set only
    for mode-dependent modules (Dropout, BatchNorm); `pinned_by` is the path of the module whose
    pin holds it (itself or an ancestor). `repeated`: a later call of an already listed module."""

    path: str
    class_name: str
    depth: int
    output_shape: tuple | list | None
    num_params: int
    trainable: str | None
    mode_dependent: bool
    mode: str | None
    pinned_by: str | None = None
    repeated: bool = False


class ModelSummary:
    """What `summary` returns: `.rows`, the totals (shared parameters counted once) and the table
    when printed."""

    def __init__(self, model: Module, rows: list[SummaryRow], input_shapes: list[tuple]) -> None:
        self.model_name = type(model).__name__
        self.rows = rows
        self.input_shapes = input_shapes
        params = list(model.parameters())  # deduplicated by identity
        self.total_params = sum(p.numel() for p in params)
        self.trainable_params = sum(p.numel() for p in params if p.requires_grad)

    @property
    def non_trainable_params(self) -> int:
        return self.total_params - self.trainable_params

    def __iter__(self):
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    def __str__(self) -> str:
        header = ("Layer (path/type)", "Output Shape", "Param #", "Trainable", "Mode")
        body = [(_layer(r), _fmt_shape(r.output_shape), _fmt_params(r), r.trainable or "--", r.mode or "--")
                for r in self.rows]
        widths = [max(len(row[i]) for row in [header, *body]) for i in range(len(header))]

        def line(cells):
            return "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()

        rule_len = max(len(line(header)), 40)
        thick, thin = "=" * rule_len, "-" * rule_len
        out = [thick, line(header), thick, *(line(b) for b in body), thick]
        shapes = ", ".join(_fmt_shape(s) for s in self.input_shapes)
        out += [
            f"Total params: {self.total_params:,}",
            f"Trainable params: {self.trainable_params:,}",
            f"Non-trainable params: {self.non_trainable_params:,}",
            thin,
            f"Input shape{'s' if len(self.input_shapes) > 1 else ''}: {shapes}",
        ]
        modes = [r.mode.split()[0] for r in self.rows if r.mode and not r.repeated]
        if modes:
            counts = ", ".join(f"{m}: {modes.count(m)}" for m in ("train", "eval") if m in modes)
            out.append(f"Mode-dependent modules: {len(modes)} ({counts})")
        out.append(thick)
        return "\n".join(out)

    __repr__ = __str__


def _layer(r: SummaryRow) -> str:
    name = f"{r.path} ({r.class_name})" if r.path else r.class_name
    return name if r.depth == 0 else "  " * (r.depth - 1) + "├─" + name


def _fmt_shape(s) -> str:
    if s is None:
        return "--"
    if isinstance(s, tuple):
        return "[" + ", ".join(str(d) for d in s) + "]"
    return ", ".join(_fmt_shape(x) for x in s) if s else "--"


def _fmt_params(r: SummaryRow) -> str:
    if r.repeated:
        return "(recursive)"
    return f"{r.num_params:,}" if r.num_params else "--"


def _shapes_of(out):
    """The shapes of the tensors in a module's output (nested tuples/lists/dicts kept nested)."""
    if isinstance(out, Tensor):
        return tuple(int(d) for d in out.shape)
    if isinstance(out, dict):
        out = list(out.values())
    if isinstance(out, (list, tuple)):
        shapes = [s for s in (_shapes_of(o) for o in out) if s is not None]
        return shapes or None
    return None


def _parse_shapes(input_shape) -> list[tuple]:
    def is_shape(s):
        return isinstance(s, (tuple, list)) and all(isinstance(d, int) and not isinstance(d, bool) for d in s)

    if is_shape(input_shape) and len(input_shape) > 0:
        shapes = [input_shape]
    elif isinstance(input_shape, (tuple, list)) and input_shape and all(is_shape(s) and len(s) > 0 for s in input_shape):
        shapes = list(input_shape)
    else:
        raise TypeError("summary: input_shape must be a shape including the batch dimension, e.g. (32, 784), "
                        f"or a list of such shapes for a model with several inputs; got {input_shape!r}")
    for s in shapes:
        if any(d < 0 for d in s):
            raise ValueError(f"summary: negative dimension in input shape {tuple(s)}")
    return [tuple(s) for s in shapes]


def _make_input(shape: tuple, dtype):
    from ..._creation import randn, zeros

    return randn(shape, dtype=dtype) if dtype.is_floating_point else zeros(shape, dtype=dtype)


def _own_trainable(m: Module) -> tuple[int, str | None]:
    params = [p for p in m._parameters.values() if p is not None]
    if not params:
        return 0, None
    n_train = sum(p.requires_grad for p in params)
    return sum(p.numel() for p in params), "all" if n_train == len(params) else ("none" if n_train == 0 else "partial")


def _pins(model: Module) -> dict[int, str]:
    """id(module) -> path of the nearest pinned module at or above it ("" is the root)."""
    out: dict[int, str] = {}
    stack = [(model, "", None)]
    seen = set()
    while stack:
        m, path, pin = stack.pop()
        if id(m) in seen:
            continue
        seen.add(id(m))
        if m.pinned_mode is not None:
            pin = path
        if pin is not None:
            out[id(m)] = pin
        for name, child in m.named_children():
            stack.append((child, f"{path}.{name}" if path else name, pin))
    return out


def summary(model: Module, input_shape, dtype=None) -> ModelSummary:
    """A torchinfo-style summary of `model` for inputs of `input_shape` (batch dimension
    included; a list of shapes for several inputs, passed positionally). `dtype`: the inputs'
    dtype, fg.float32 by default, or a list with one per input. Changes no state (see the module
    docstring); print the result for the table, or read `.rows` and the totals."""
    from ... import _core
    from ..._functions import get_rng_state, set_rng_state
    from ..modules.batchnorm import _BatchNorm

    if not isinstance(model, Module):
        raise TypeError(f"summary expects an nn.Module, got {type(model).__name__}")
    shapes = _parse_shapes(input_shape)
    dtypes = dtype if isinstance(dtype, (list, tuple)) else [dtype] * len(shapes)
    if len(dtypes) != len(shapes):
        raise ValueError(f"summary: {len(shapes)} input shape(s) but {len(dtypes)} dtype(s)")
    dtypes = [_core.float32 if d is None else d for d in dtypes]

    paths: dict[int, str] = {}
    for path, m in model.named_modules():
        paths.setdefault(id(m), path)
    pins = _pins(model)
    rows: list[SummaryRow] = []
    open_rows: list[SummaryRow] = []
    called: set[int] = set()

    def pre_hook(m, args):
        n, trainable = _own_trainable(m)
        dep = is_mode_dependent(m)
        mode = None
        if dep:
            mode = ("train" if m.training else "eval") + (" (pinned)" if id(m) in pins else "")
        row = SummaryRow(paths[id(m)], type(m).__name__, len(open_rows), None, n, trainable, dep, mode,
                         pins.get(id(m)), id(m) in called)
        called.add(id(m))
        rows.append(row)
        open_rows.append(row)

    def hook(m, args, out):
        open_rows.pop().output_shape = _shapes_of(out)

    modules = list(model.modules())
    saved_flags = [(m, m.training) for m in modules]
    bns = [m for m in modules if isinstance(m, _BatchNorm)]
    saved_knobs = [(m, m.use_batch_stats, m.update_running_stats) for m in bns]
    rng = get_rng_state()
    handles = []
    try:
        for m in modules:
            handles.append(m.register_forward_pre_hook(pre_hook))
            handles.append(m.register_forward_hook(hook))
        for m in bns:
            m.update_running_stats = False
            if m.running_mean is not None:
                m.use_batch_stats = False  # shapes only: lets a batch of one through
        with no_grad(), suppress_mode_warnings():
            inputs = [_make_input(s, d) for s, d in zip(shapes, dtypes)]
            try:
                model(*inputs)
            except Exception as e:
                where = open_rows[-1] if open_rows else None
                at = f" in '{where.path or '(root)'}' ({where.class_name})" if where else ""
                raise RuntimeError(f"summary: the forward pass of {type(model).__name__} on input shape(s) "
                                   f"{', '.join(map(str, shapes))} failed{at}: {type(e).__name__}: {e}") from e
    finally:
        for h in handles:
            h.remove()
        for m, flag in saved_flags:
            object.__setattr__(m, "training", flag)
        for m, use, upd in saved_knobs:
            m.use_batch_stats, m.update_running_stats = use, upd
        set_rng_state(rng)
    return ModelSummary(model, rows, shapes)
