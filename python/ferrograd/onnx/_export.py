"""One export: set the modes, trace the forward, build the graph, restore the model."""

from __future__ import annotations

import contextlib
import warnings

import numpy as np

from .. import _core
from ..autograd.grad_mode import no_grad
from ..nn._module_hooks import register_module_forward_hook, register_module_forward_pre_hook
from ._compare import compare
from ._composite import COMPOSITES
from ._fold import fold_batch_norms
from ._graph import Graph, TracedOp, live_nodes
from ._ops import TABLE, _dropout, _linear, _unary_table
from ._rnn import _KINDS, rnn_layer
from .errors import OnnxExporterError, UnsupportedOperatorError


def run_export(onnx, model, args, kwargs, *, opset, input_names, output_names, dynamic_axes, training, fold):
    from . import TrainingMode

    tensors = [a for a in args if isinstance(a, _core.Tensor)]
    if len(tensors) != len(args) or any(isinstance(v, _core.Tensor) for v in kwargs.values()):
        raise OnnxExporterError("fg.onnx.export: every positional argument must be a tensor (keyword arguments are passed as constants, not inputs)")
    input_names = list(input_names or (["input"] if len(args) == 1 else [f"input_{i}" for i in range(len(args))]))
    if len(input_names) != len(args):
        raise ValueError(f"fg.onnx.export: {len(input_names)} input_names for {len(args)} inputs")

    modules = list(model.named_modules()) if hasattr(model, "named_modules") else []
    if training == TrainingMode.EVAL:
        training_left_on = [name or type(m).__name__ for name, m in modules if m.training and m._mode_meaning() is not None]
        if training_left_on:
            warnings.warn(
                f"fg.onnx.export: the model is in training mode ({', '.join(training_left_on[:4])}{' ...' if len(training_left_on) > 4 else ''}); "
                "exporting its eval-mode graph (Dropout removed, BatchNorm with running statistics), as training=TrainingMode.EVAL asks. "
                "The model's modes are unchanged. Pass training=TrainingMode.PRESERVE to export each module in its current mode.",
                UserWarning, stacklevel=3)
    # A pinned module's pin is not consulted: the export's mode is the graph's, whatever the pin.
    target = {TrainingMode.EVAL: False, TrainingMode.TRAINING: True}.get(training)
    params = {}
    if hasattr(model, "state_dict"):
        for name, t in model.state_dict(keep_vars=True).items():
            params.setdefault(_core._trace_ids(t)[0], name)
    paths = {id(m): name for name, m in modules}
    dynamic = _dynamic(dynamic_axes)
    for t, name in zip(args, input_names):  # axes of inputs: in range, negative ones counted from the end
        if name in dynamic:
            if bad := [a for a in dynamic[name] if not -t.dim() <= a < t.dim()]:
                raise ValueError(f"fg.onnx.export: dynamic_axes {bad} of {name!r} are out of range for its {t.dim()} dims")
            dynamic[name] = {a % t.dim(): s for a, s in dynamic[name].items()}
    with _export_modes(modules, target) as reset:
        outputs, ops = _trace(model, args, kwargs, paths)
        if changed := reset.changed():
            raise OnnxExporterError(f"fg.onnx.export: the forward changed parameters in place ({', '.join(changed[:4])}), e.g. an "
                                    "Embedding with max_norm; a graph holds the weights as they are, so it would compute something else")
        flat = _flatten(outputs)
        # The extra traces (see _compare): twice with the inputs' elements shuffled (two draws
        # make a coincidence unlikely), and with every dynamic axis one longer.
        by_value = []
        for seed in (0, 1):
            reset()
            x = _shuffled(args, seed)
            out_s, ops_s = _trace(model, x, kwargs, paths)
            by_value.append(compare(ops, args, flat, ops_s, x, _flatten(out_s), "for different input values"))
        # Two lengths, so that a size-dependent number is checked against a rule at two
        # points (a chunk's split point is not an index from the end).
        by_size, grown_shapes = [], []
        for k in (1, 2) if any(dynamic.get(n) for n in input_names) else ():
            reset()
            grown = _grown(args, input_names, dynamic, k)
            grown_shapes.append([tuple(t.shape) for t in grown])
            out_g, ops_g = _trace(model, grown, kwargs, paths)
            by_size.append(compare(ops, args, flat, ops_g, grown, _flatten(out_g), "when a dynamic axis changes size"))
    output_names = list(output_names or (["output"] if len(flat) == 1 else [f"output_{i}" for i in range(len(flat))]))
    if len(output_names) != len(flat):
        raise ValueError(f"fg.onnx.export: {len(output_names)} output_names for {len(flat)} outputs")
    for name in dynamic:
        if name not in input_names and name not in output_names:
            raise ValueError(f"fg.onnx.export: dynamic_axes names {name!r}, which is not an input or output name ({input_names + output_names})")
    if clash := set(output_names) & set(input_names):
        raise ValueError(f"fg.onnx.export: {sorted(clash)} named both an input and an output")

    g = Graph(onnx, opset, params)
    g.value_dependent = by_value[0].tensors | by_value[1].tensors
    g.value_dependent_args = {k: by_value[0].args.get(k, set()) | by_value[1].args.get(k, set()) for k in {*by_value[0].args, *by_value[1].args}}
    if by_size:
        g.input_sizes = {(name, axis): [t.shape[axis], *(s[i][axis] for s in grown_shapes)]
                         for i, (t, name) in enumerate(zip(args, input_names)) for axis in dynamic.get(name, {})}
        g.shapes_grown = [c.shapes for c in by_size]
        g.size_dependent_values = by_size[0].tensors | by_size[1].tensors
        g.size_dependent_args = {k: by_size[0].args.get(k, set()) | by_size[1].args.get(k, set()) for k in {*by_size[0].args, *by_size[1].args}}
        g.counterpart = {k: [c.counterpart[k] for c in by_size if k in c.counterpart] for k in by_size[0].counterpart}
    for t, name in zip(args, input_names):
        g.add_input(t, name, dynamic.get(name, {}))
    exported_training = training != TrainingMode.EVAL
    problems = _build(g, ops, exported_training)
    for t, name in zip(flat, output_names):
        src = g.value(t)
        g.add("Identity", [src], [name])
        g.meta[name] = g.meta[src]
    g.nodes = live_nodes(g.nodes, output_names)  # before folding, so dead consumers do not count
    live = {v for n in g.nodes for v in [*n.output, *n.input]}
    for value, error in [*problems.items(), *g.size_dependent.items()]:
        if value in live:
            raise error
    if fold:
        fold_batch_norms(g)  # eval-form BatchNorms only (a training-form one has three outputs)
    proto = g.model(output_names, dynamic, producer=_version())
    return proto


@contextlib.contextmanager
def _export_modes(modules, target):
    """Every module in `target` mode (None: as they are) for the export's forwards; afterwards
    each module's own flag, its parameters and buffers (running statistics) and the RNG stream
    as they were. `reset()` puts them back between forwards; `changed()` names the parameters
    a forward changed in place."""
    saved_modes = [(m, m.training) for _, m in modules]
    state = [(f"{prefix}{'.' if prefix else ''}{name}", t, t.detach().clone()) for prefix, m in modules
             for name, t in [*m.named_parameters(recurse=False), *m.named_buffers(recurse=False)] if t is not None]
    rng = _core.get_rng_state()

    def reset():
        with no_grad():
            for _, t, old in state:
                t.copy_(old)
        _core.set_rng_state(rng)

    def changed():
        params = {id(p) for _, m in modules for p in m.parameters(recurse=False)}
        return [name for name, t, old in state if id(t) in params and not np.array_equal(t.detach().numpy(), old.numpy(), equal_nan=True)]

    reset.changed = changed

    try:
        if target is not None:
            for _, m in modules:
                object.__setattr__(m, "training", target)
        yield reset
    finally:
        for m, flag in saved_modes:
            object.__setattr__(m, "training", flag)
        reset()


def _trace(model, args, kwargs, paths):
    """The model's outputs and the trace of its forward, with marks where modules start and end."""
    hooks = [register_module_forward_pre_hook(lambda m, a: _core._trace_module(True, paths.get(id(m), type(m).__name__))),
             register_module_forward_hook(lambda m, a, o: _core._trace_module(False, ""), always_call=True)]
    try:
        with no_grad():
            _core._trace_begin()
            try:
                outputs = model(*args, **kwargs)
            finally:
                ops = _core._trace_end()
    finally:
        for h in hooks:
            h.remove()
    return outputs, ops


def _grown(args, input_names, dynamic, k: int):
    """The inputs with every dynamic axis longer (its first slice repeated, so indices and masks
    stay valid): the batch axis (0) k longer; any other k * 33 longer, so that a stride or pool of
    up to 33 along it still changes the sizes that follow it."""
    out = []
    for t, name in zip(args, input_names):
        a = t.detach().numpy()
        for axis in dynamic.get(name, {}):
            extra = k if axis == 0 else 33 * k
            a = np.concatenate([a] + [np.take(a, [0], axis=axis)] * extra, axis=axis)
        out.append(_core.from_numpy(np.ascontiguousarray(a)))
    return tuple(out)


def _shuffled(args, seed: int):
    """Each input with its elements in another order, floats also scaled by factors in [0.5, 1.5]
    and, for seed 1, negated: same shapes and dtypes (integers keep their values, so they stay
    valid indices)."""
    rng = np.random.default_rng(seed)
    out = []
    for t in args:
        a = t.detach().numpy()
        flat = a.reshape(-1)
        moved = flat[rng.permutation(flat.size)]
        if flat.size > 1 and np.array_equal(moved, flat, equal_nan=a.dtype.kind == "f"):
            moved = np.roll(flat, 1)
        if a.dtype.kind == "f":
            moved = (moved * rng.uniform(0.5, 1.5, moved.shape) * (-1 if seed == 1 else 1)).astype(a.dtype)
        out.append(_core.from_numpy(np.ascontiguousarray(moved.reshape(a.shape))))
    return tuple(out)


def _build(g: Graph, ops, training: bool) -> dict:
    """Appends every traced op's nodes. An op without a mapping poisons its outputs instead of
    failing at once: it may be one a fused op ran inside itself, which nothing uses."""
    stack, problems = [], {}
    for raw in ops:
        name, inputs, outputs, attrs = raw
        if name == "module_enter":
            stack.append(attrs["path"])
            continue
        if name == "module_exit":
            if stack:
                stack.pop()
            continue
        op = TracedOp(name, inputs, outputs, attrs, stack[-1] if stack else "")
        op.grown = g.counterpart.get(id(raw))
        if not any(g.is_dynamic(t) for t in [*inputs, *attrs.values()] if isinstance(t, _core.Tensor)) and \
                not (name == "ExpandBackward0" and any(_core._trace_ids(t)[0] in g.size_dependent_values for t in outputs)):
            # Nothing here depends on the graph's inputs or their sizes: its outputs are
            # constants, taken from the trace as they are (PyTorch's constant folding; zeros made
            # in a forward stay zeros, and a weight's transpose is stored transposed). A
            # parameter expanded to a size that follows a dynamic axis (a class token expanded
            # to the batch) is mapped instead.
            continue
        if name in COMPOSITES:
            # A Python function logged as a whole after its own ops: one node when it maps
            # exactly, else its ops stand (nothing to undo).
            try:
                names = COMPOSITES[name](g, op, training)
            except UnsupportedOperatorError:
                continue
            for t, n in zip(outputs, names):
                g.bind(t, n)
            continue
        handler = _handler(op)
        try:
            _check_arguments(g, op, id(raw))
            if handler is None:
                raise op.unsupported()
            names = handler(g, op, training)
        except OnnxExporterError as e:
            names = [None if t is None else g.add1("Unsupported", []) for t in outputs]
            for n in names:
                if n:
                    problems[n] = e
        for t, n in zip(outputs, names):
            if t is not None and n:
                g.bind(t, n)
    return problems


# Number arguments that an op's mapping computes when they follow a dynamic size (an index
# counted from the end of a dynamic dim).
_SIZED_ARGS = {"SelectBackward0": {"start"}, "SliceBackward0": {"start"}, "StdBackward0": {"kept_shape"},
               "VarBackward0": {"kept_shape"}, "LogsumexpBackward0": {"kept_shape"}}


def _check_arguments(g: Graph, op: TracedOp, key: int) -> None:
    """Refuses an op whose number arguments changed in the extra traces (see _compare)."""
    if varying := g.value_dependent_args.get(key):
        raise OnnxExporterError(f"ONNX export: argument {', '.join(sorted(varying))} of {op.name} {op.where()} depends on the inputs' values "
                                "(a number taken with .item(), float() or int() of a tensor); the graph would freeze it")
    if sized := g.size_dependent_args.get(key, set()) - _SIZED_ARGS.get(op.name, set()):
        raise OnnxExporterError(f"ONNX export: argument {', '.join(sorted(sized))} of {op.name} {op.where()} is made from the size of a "
                                "dynamic axis (x.size(1), x.shape[0]); the graph would keep the traced size")


def _handler(op: TracedOp):
    if "channel" in op.attrs and "p" in op.attrs:
        return _dropout
    if op.attrs.get("linear"):  # named AddmmBackward0 or MmBackward0, as PyTorch's
        return _linear
    if op.name in _KINDS:
        return rnn_layer
    if "op" in op.attrs:
        return _unary_table
    return TABLE.get(op.name)


def _flatten(out) -> list:
    if isinstance(out, _core.Tensor):
        return [out]
    if isinstance(out, (tuple, list)):
        return [t for o in out for t in _flatten(o)]
    if isinstance(out, dict):
        return [t for o in out.values() for t in _flatten(o)]
    if out is None:
        return []
    raise OnnxExporterError(f"fg.onnx.export: the model returned a {type(out).__name__}; outputs must be tensors or tuples, lists or dicts of them")


def _dynamic(spec) -> dict[str, dict[int, str]]:
    """{name: [axis, ...] or {axis: symbol}} -> {name: {axis: symbol}} (PyTorch's default symbols)."""
    out = {}
    for name, axes in spec.items():
        out[name] = dict(axes) if isinstance(axes, dict) else {int(a): f"{name}_dynamic_axes_{i + 1}" for i, a in enumerate(axes)}
    return out


def _version() -> str:
    from .. import __version__

    return __version__

