"""fg.viz: draw a tensor's autograd graph as Graphviz DOT text (like torchviz's make_dot).

    y = model(x).sum()
    g = fg.viz.graph(y)
    print(g)                 # the DOT source; no dependency needed
    g.render("graph.svg")    # needs `pip install graphviz` and Graphviz's `dot` program

Nodes: the root (the tensor, labelled with its shape), one box per autograd Node (its op name
and input shapes) and one per leaf (an AccumulateGrad node, drawn as the leaf tensor it feeds:
shape and requires_grad). Edges follow `next_functions` and point the way data flows, from an
op's inputs to the op, ending at the root. With show_saved=True, ops that still hold saved
tensors (memory kept for backward) are filled orange; backward() releases them.

The walk is iterative, so graphs tens of thousands of ops deep are fine.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field

from ._core import Tensor

__all__ = ["Graph", "GraphNode", "graph"]

_INSTALL_HINT = (
    "install the Python package with `pip install graphviz` and the Graphviz `dot` program "
    "(e.g. `apt-get install graphviz`, `brew install graphviz` or `conda install graphviz`)"
)
_FORMATS = ("svg", "png", "pdf")

_ROOT_STYLE = 'style="filled", fillcolor="darkolivegreen1"'
_LEAF_STYLE = 'style="filled", fillcolor="lightblue"'
_SAVED_STYLE = 'style="filled", fillcolor="orange"'


@dataclass(frozen=True)
class GraphNode:
    """One node of the drawing: `kind` is "root", "op" or "leaf"; `saved` is True for an op that
    still holds saved tensors (only computed when show_saved)."""

    id: str
    kind: str
    label: str
    saved: bool = False


@dataclass
class Graph:
    """What `fg.viz.graph` returns: `.nodes` and `.edges` (pairs of node ids, input -> consumer)
    as data, `.source` as DOT text, `render()` to a file, and an SVG repr in notebooks."""

    nodes: list[GraphNode] = field(default_factory=list)
    edges: list[tuple[str, str]] = field(default_factory=list)

    @property
    def source(self) -> str:
        lines = [
            "digraph autograd {",
            '  graph [rankdir="TB"];',
            '  node [shape="box", fontname="monospace", fontsize="10"];',
        ]
        for n in self.nodes:
            style = {"root": _ROOT_STYLE, "leaf": _LEAF_STYLE}.get(n.kind, _SAVED_STYLE if n.saved else "")
            attrs = f'label="{_escape(n.label)}"' + (f", {style}" if style else "")
            lines.append(f"  {n.id} [{attrs}];")
        for src, dst in self.edges:
            lines.append(f"  {src} -> {dst};")
        lines.append("}")
        return "\n".join(lines) + "\n"

    def __str__(self) -> str:
        return self.source

    def __repr__(self) -> str:
        return f"<fg.viz.Graph: {len(self.nodes)} nodes, {len(self.edges)} edges>"

    def pipe(self, format: str = "svg") -> bytes:
        """The rendered image as bytes (needs graphviz and dot, like render())."""
        if format not in _FORMATS:
            raise ValueError(f"render: format must be one of {_FORMATS}, got {format!r}")
        graphviz = _require_graphviz()
        try:
            return graphviz.Source(self.source).pipe(format=format)
        except graphviz.ExecutableNotFound as e:  # dot vanished or is not runnable
            raise RuntimeError(f"fg.viz could not run Graphviz's `dot` program ({e}); {_INSTALL_HINT}") from e

    def render(self, path, format: str = "svg") -> str:
        """Writes the graph to exactly `path` as svg, png or pdf; returns the path as a string.
        Raises RuntimeError saying what to install when graphviz or dot is missing."""
        data = self.pipe(format)
        path = str(path)
        with open(path, "wb") as f:
            f.write(data)
        return path

    def _repr_svg_(self) -> str | None:
        try:
            return self.pipe("svg").decode("utf-8")
        except RuntimeError:
            return None  # no graphviz: the notebook falls back to the text repr


def _require_graphviz():
    try:
        import graphviz
    except ImportError as e:
        raise RuntimeError(f"fg.viz.Graph.render needs the `graphviz` Python package, which is not installed: {_INSTALL_HINT}. "
                           "Without them, str(graph) gives the DOT source.") from e
    if shutil.which("dot") is None:
        raise RuntimeError(f"fg.viz.Graph.render needs Graphviz's `dot` program, which is not on PATH: {_INSTALL_HINT}. "
                           "Without it, str(graph) gives the DOT source.")
    return graphviz


def _escape(s: str) -> str:
    return s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _shape(s) -> str:
    return str(tuple(int(d) for d in s))


def _leaf_label(var: Tensor | None, fallback_shape, names: dict) -> str:
    if var is None:
        return f"leaf {_shape(fallback_shape)}\nrequires_grad"
    name = names.get((var.data_ptr(), tuple(var.shape)))
    head = f"{name}\n" if name else ""
    return f"{head}{_shape(var.shape)}\nrequires_grad"


def graph(tensor: Tensor, show_saved: bool = True, *, params=None) -> Graph:
    """The autograd graph that produced `tensor`, as a `Graph` (DOT text in `.source`).

    `params`: optional {name: tensor} (e.g. `dict(model.named_parameters())`) to name the leaf
    nodes. A tensor without grad_fn gives a one-node graph.
    """
    if not isinstance(tensor, Tensor):
        raise TypeError(f"fg.viz.graph expects a Tensor, got {type(tensor).__name__}")
    names = {}
    for name, p in (dict(params) if params is not None else {}).items():
        names[(p.data_ptr(), tuple(p.shape))] = name
    g = Graph()
    root_label = f"output\n{_shape(tensor.shape)}"
    if tensor.requires_grad and tensor.grad_fn is None:
        root_label += "\nrequires_grad"
    g.nodes.append(GraphNode("n0", "root", root_label))
    fn = tensor.grad_fn
    if fn is None:
        return g

    ids = {fn: "n1"}  # Node compares (and hashes) by the identity of the underlying op
    g.edges.append(("n1", "n0"))
    stack = [fn]
    while stack:
        node = stack.pop()
        nid = ids[node]
        name = node.name()
        if name == "AccumulateGrad":
            shapes = node.input_shapes
            g.nodes.append(GraphNode(nid, "leaf", _leaf_label(node.variable, shapes[0] if shapes else (), names)))
        else:
            ins = ", ".join(_shape(s) for s in node.input_shapes)
            saved = bool(show_saved and node.holds_saved_tensors)
            g.nodes.append(GraphNode(nid, "op", f"{name}\n{ins}", saved))
        for child, _ in node.next_functions:
            if child is None:
                continue  # that input does not require grad
            cid = ids.get(child)
            if cid is None:
                cid = ids[child] = f"n{len(ids) + 1}"
                stack.append(child)
            g.edges.append((cid, nid))
    g.nodes.sort(key=lambda n: int(n.id[1:]))
    return g
