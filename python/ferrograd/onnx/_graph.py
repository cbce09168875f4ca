"""The ONNX graph a trace becomes. Values are followed by tensor identity: graph inputs, then each
traced op's outputs; a tensor that is neither is a parameter or buffer (an initializer under its
state_dict name) or a constant. The op table (`_ops.py`) appends nodes through `Graph.add`."""

from __future__ import annotations

import numpy as np

from .. import _core
from .errors import OnnxExporterError, UnsupportedOperatorError


def _tid(t) -> int:
    return _core._trace_ids(t)[0]


class TracedOp:
    """One op of the trace: grad_fn name, inputs, outputs, attributes and the module it ran in."""

    __slots__ = ("name", "inputs", "outputs", "attrs", "path", "grown")

    def __init__(self, name, inputs, outputs, attrs, path):
        self.name, self.inputs, self.outputs, self.attrs, self.path = name, inputs, outputs, attrs, path
        self.grown = None  # the same op in the traces with the dynamic axes longer (a list)

    def where(self) -> str:
        return f"in module '{self.path}'" if self.path else "in the model's own forward"

    def unsupported(self, why: str = "") -> UnsupportedOperatorError:
        what = self.attrs.get("op", self.name)
        return UnsupportedOperatorError(f"ONNX export: op '{what}' ({self.name}) {self.where()} has no ONNX mapping{': ' + why if why else ''}")


class Graph:
    def __init__(self, onnx, opset: int, params: dict[int, str]):
        self.onnx, self.opset = onnx, opset
        self.nodes: list = []
        self.initializers: dict[str, np.ndarray] = {}
        self.inputs: list = []
        self.values: dict[int, str] = {}  # tensor identity -> its current value's name
        self.traced_storages: set[int] = set()  # storages of inputs and op outputs
        self.meta: dict[str, tuple[np.dtype, tuple]] = {}  # value name -> (dtype, shape)
        self.params = params
        self.used_names: set[str] = set(params.values())
        # Constants the graph must not use (name -> the error to raise if a live node does):
        # made from a dynamic size, or from values the trace did not follow.
        self.size_dependent: dict[str, OnnxExporterError] = {}
        # What the extra traces found (see _compare): tensors (identity) and op number arguments
        # (id of the traced op -> names) that changed with the inputs' values or with the dynamic
        # sizes, and each op's counterpart in the trace with the dynamic axes one longer.
        self.value_dependent: set[int] = set()
        self.value_dependent_args: dict[int, set[str]] = {}
        self.size_dependent_values: set[int] = set()
        self.size_dependent_args: dict[int, set[str]] = {}
        self.counterpart: dict[int, list[tuple]] = {}
        # (input name, dynamic axis) -> its size in each trace: where a size can be read from.
        self.input_sizes: dict[tuple[str, int], list[int]] = {}
        self.shapes_grown: list[dict[int, tuple]] = []  # tensor identity -> shape, per longer trace
        self._counter = 0
        self._sizes: dict[str, str] = {}

    # ---- names ---------------------------------------------------------------------------
    def fresh(self, hint: str) -> str:
        while True:
            self._counter += 1
            name = f"{hint}_{self._counter}"
            if name not in self.used_names:
                self.used_names.add(name)
                return name

    def bind(self, t, name: str) -> None:
        """From now on, tensor `t` is the value `name`."""
        tid, sid = _core._trace_ids(t)
        self.values[tid] = name
        self.traced_storages.add(sid)
        self.meta[name] = (np_dtype(t), tuple(t.shape))

    def dynamic_dims(self, t) -> list[int]:
        """The dims of `t` whose size follows a dynamic axis."""
        if hasattr(t, "_dyn"):
            return list(t._dyn)
        other = self.shapes_grown[0].get(_core._trace_ids(t)[0]) if self.shapes_grown else None
        if other is None or len(other) != t.dim():
            return []
        return [i for i, (a, b) in enumerate(zip(t.shape, other)) if a != b]

    def size_from_input(self, sizes: list[int]) -> str | None:
        """A 1-element int64 value holding a size that was `sizes` in the traces, read from the
        input axis that had exactly those sizes (Gather of Shape), or None if none had."""
        for (name, axis), have in self.input_sizes.items():
            if have == list(sizes):
                key = f"{name}#{axis}"
                if key not in self._sizes:
                    shape = self.add1("Shape", [name])
                    self._sizes[key] = self.add1("Gather", [shape, self.ints([axis])], axis=0)
                return self._sizes[key]
        return None

    def shapes_in_traces(self, t) -> list[tuple]:
        """`t`'s shape in each trace (the first, then each with the dynamic axes longer)."""
        tid = _core._trace_ids(t)[0]
        others = [s.get(tid) for s in self.shapes_grown]
        return [tuple(t.shape)] + ([] if None in others else others)

    def shape_value(self, parts: list) -> str:
        """A 1-D int64 shape from ints and 1-element values (a constant when all are ints)."""
        if all(isinstance(p, int) for p in parts):
            return self.ints(parts)
        return self.add1("Concat", [p if isinstance(p, str) else self.ints([p]) for p in parts], axis=0)

    def is_dynamic(self, t) -> bool:
        """Whether `t` is a graph input or computed from one."""
        return _core._trace_ids(t)[0] in self.values

    def add_input(self, t, name: str, dynamic: dict[int, str]) -> None:
        self.used_names.add(name)
        self.bind(t, name)
        self.inputs.append(self._value_info(name, dynamic))

    def value(self, t, op: TracedOp | None = None) -> str:
        """The name of `t`'s current value: a graph input, an op's output, a parameter or buffer
        (an initializer under its state_dict name), or else a constant."""
        tid, sid = _core._trace_ids(t)
        if tid in self.values:
            return self.values[tid]
        if tid in self.params:
            name = self.params[tid]
            if name not in self.initializers:
                self.initializers[name] = _numpy(t)
                self.meta[name] = (self.initializers[name].dtype, tuple(t.shape))
            return name
        if sid in self.traced_storages:
            where = f" ({op.name} {op.where()})" if op else ""
            raise OnnxExporterError(
                f"ONNX export: a tensor of shape {tuple(t.shape)}{where} shares memory with a traced value but was made by an op "
                "the trace cannot follow (an in-place write into a view, or a value taken through numpy); export would freeze it as a constant")
        name = self.const(_numpy(t), "const")
        if tid in self.value_dependent:
            where = f" by {op.name} {op.where()}" if op else " as a model output"
            self.size_dependent[name] = OnnxExporterError(
                f"ONNX export: a tensor of shape {tuple(t.shape)} used{where} depends on the inputs' values through an op the trace does not "
                "follow (argmax, sort, nonzero, .item(), .numpy() ...); the graph would freeze it as a constant")
        elif tid in self.size_dependent_values:
            where = f" by {op.name} {op.where()}" if op else " as a model output"
            self.size_dependent[name] = OnnxExporterError(
                f"ONNX export: a tensor of shape {tuple(t.shape)} used{where} is made from the size of a dynamic axis but not from the inputs' "
                "values (e.g. fg.zeros(x.shape[0], ...)); the graph would keep the traced size. Make it from the input (fg.zeros_like(x), "
                "x[:, :1] * 0) or export without that dynamic axis")
        return name

    def const(self, array, hint: str = "const") -> str:
        name = self.fresh(hint)
        array = np.asarray(array)
        self.initializers[name] = array
        self.meta[name] = (array.dtype, array.shape)
        return name

    def ints(self, values, hint: str = "shape") -> str:
        return self.const(np.asarray(list(values), dtype=np.int64), hint)

    def is_constant(self, name: str) -> bool:
        return name in self.initializers

    def constant_value(self, name: str) -> np.ndarray:
        return self.initializers[name]

    # ---- nodes ---------------------------------------------------------------------------
    def add(self, op_type: str, inputs: list[str], outputs: int | list[str] = 1, **attrs) -> list[str]:
        names = outputs if isinstance(outputs, list) else [self.fresh(op_type.lower()) for _ in range(outputs)]
        attrs = {k: v for k, v in attrs.items() if v is not None}
        self.nodes.append(self.onnx.helper.make_node(op_type, inputs, names, name=self.fresh(op_type), **attrs))
        return names

    def add1(self, op_type: str, inputs: list[str], **attrs) -> str:
        return self.add(op_type, inputs, 1, **attrs)[0]

    def cast(self, name: str, dtype) -> str:
        """`name` in `dtype` (a Cast node, or a converted copy of a constant)."""
        dtype = np.dtype(dtype)
        have = self.meta.get(name, (None,))[0]
        if have == dtype:
            return name
        if self.is_constant(name):
            out = self.const(self.constant_value(name).astype(dtype), "const")
            if name in self.size_dependent:
                self.size_dependent[out] = self.size_dependent[name]
            return out
        out = self.add1("Cast", [name], to=onnx_dtype(self.onnx, dtype))
        self.meta[out] = (dtype, self.meta.get(name, (None, None))[1])
        return out

    def _value_info(self, name: str, dynamic: dict[int, str], unknown: bool = False):
        dtype, shape = self.meta[name]
        dims = [None if unknown else dynamic.get(i, d) for i, d in enumerate(shape)]
        return self.onnx.helper.make_tensor_value_info(name, onnx_dtype(self.onnx, dtype), dims)

    # ---- the model -------------------------------------------------------------------------
    def model(self, output_names: list[str], dynamic: dict[str, dict[int, str]], producer: str):
        helper, numpy_helper = self.onnx.helper, self.onnx.numpy_helper
        nodes = live_nodes(self.nodes, output_names)
        used = {i for n in nodes for i in n.input}
        inits = []
        for name, array in self.initializers.items():
            if name not in used:
                continue
            t = numpy_helper.from_array(np.array(array, order="C"), name)  # (ascontiguousarray makes 0-d 1-d)
            inits.append(t)
        # An output without dynamic axes of its own has unknown dims when any input has dynamic
        # axes (its sizes may follow them); otherwise the traced ones.
        outputs = [self._value_info(n, dynamic.get(n, {}), unknown=bool(dynamic) and n not in dynamic) for n in output_names]
        graph = helper.make_graph(nodes, "main_graph", self.inputs, outputs, inits)
        model = helper.make_model(graph, producer_name="ferrograd", producer_version=producer,
                                  opset_imports=[helper.make_opsetid("", self.opset)])
        model.ir_version = min(model.ir_version, 8)
        return model


def live_nodes(nodes, outputs):
    """The nodes the outputs need, in their order (ops a fused op ran inside itself, and values
    computed but never used, are dropped)."""
    need = set(outputs)
    keep = []
    for n in reversed(nodes):
        if any(o in need for o in n.output):
            keep.append(n)
            need.update(i for i in n.input if i)
    return keep[::-1]


def np_dtype(t) -> np.dtype:
    """A tensor's dtype as numpy's (bfloat16, which numpy lacks, as the float32 it exports as)."""
    name = str(t.dtype).removeprefix("ferrograd.")
    return np.dtype(np.float32 if name == "bfloat16" else name)


def _numpy(t) -> np.ndarray:
    return np.array(t.detach().numpy(), copy=True)


def onnx_dtype(onnx, dtype) -> int:
    return onnx.helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
