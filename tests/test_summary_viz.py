"""fg.nn.utils.summary (torchinfo-style table from one state-preserving forward pass) and
fg.viz.graph (the autograd graph as DOT text, rendered with graphviz when installed)."""

import re
import shutil
import sys
import types
import warnings

import ferrograd as fg
import numpy as np
import pytest
from ferrograd import nn
from ferrograd.nn.utils import ModeWarning, StatsUpdateWithoutGradWarning, summary

# ---- summary: models -----------------------------------------------------------------------

def mlp():
    return nn.Sequential(nn.Linear(10, 20), nn.ReLU(), nn.Linear(20, 5))


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc, self.bn, self.drop = nn.Linear(8, 6), nn.BatchNorm1d(6), nn.Dropout(0.5)

    def forward(self, x):
        return self.drop(self.bn(self.fc(x)).relu())


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.scale, self.block, self.head = nn.Parameter(fg.ones(3)), Block(), nn.Linear(6, 3)

    def forward(self, x):
        return self.head(self.block(x)) * self.scale


def n_params(*modules):  # own parameters, counted by hand from the shapes
    return sum(int(np.prod(p.shape)) for m in modules for p in m._parameters.values() if p is not None)


def by_path(s):
    return {r.path: r for r in s.rows}


# ---- summary: shapes, counts, totals --------------------------------------------------------

def test_mlp_rows_shapes_and_counts():
    s = summary(mlp(), (4, 10))
    assert [(r.path, r.class_name, r.depth) for r in s.rows] == [
        ("", "Sequential", 0), ("0", "Linear", 1), ("1", "ReLU", 1), ("2", "Linear", 1)]
    assert [r.output_shape for r in s.rows] == [(4, 5), (4, 20), (4, 20), (4, 5)]
    assert [r.num_params for r in s.rows] == [0, 10 * 20 + 20, 0, 20 * 5 + 5]
    assert [r.trainable for r in s.rows] == [None, "all", None, "all"]
    assert not any(r.mode_dependent or r.mode for r in s.rows)
    total = 10 * 20 + 20 + 20 * 5 + 5
    assert (s.total_params, s.trainable_params, s.non_trainable_params) == (total, total, 0)
    text = str(s)
    assert all(col in text for col in ("Layer (path/type)", "Output Shape", "Param #", "Trainable", "Mode"))
    assert f"Total params: {total:,}" in text and f"Trainable params: {total:,}" in text
    assert "[4, 20]" in text and "Non-trainable params: 0" in text


def test_nested_model_own_params_and_depths():
    m = Net()
    s = summary(m, (7, 8))
    rows = by_path(s)
    assert list(rows) == ["", "block", "block.fc", "block.bn", "block.drop", "head"]
    assert [r.depth for r in s.rows] == [0, 1, 2, 2, 2, 1]
    assert rows[""].num_params == 3 and rows["block"].num_params == 0
    assert rows["block.fc"].num_params == n_params(m.block.fc) == 8 * 6 + 6
    assert rows["block.bn"].num_params == 12  # weight and bias; buffers are not parameters
    assert rows["head"].output_shape == (7, 3) and rows["block.drop"].output_shape == (7, 6)
    assert s.total_params == n_params(*m.modules()) == sum(p.numel() for p in m.parameters())


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_modes_reported(mode):
    m = Net()
    m.train(mode == "train")
    rows = by_path(summary(m, (4, 8)))
    assert rows["block.bn"].mode == rows["block.drop"].mode == mode
    assert rows["block.bn"].mode_dependent and rows["block.drop"].mode_dependent
    assert not rows["block.fc"].mode_dependent and rows["block.fc"].mode is None


def test_pinned_mode_reported():
    m = Net()
    m.block.bn.pin_mode("eval")
    s = summary(m.train(), (4, 8))
    rows = by_path(s)
    assert rows["block.bn"].mode == "eval (pinned)" and rows["block.bn"].pinned_by == "block.bn"
    assert rows["block.drop"].mode == "train" and rows["block.drop"].pinned_by is None
    assert "eval (pinned)" in next(line for line in str(s).splitlines() if "block.bn" in line)
    m.block.bn.unpin_mode()
    m.block.pin_mode("eval")  # the pin of a parent holds its children too
    rows = by_path(summary(m, (4, 8)))
    assert rows["block.drop"].mode == "eval (pinned)" and rows["block.drop"].pinned_by == "block"


def test_trainable_counts_after_freezing():
    m = Net()
    m.block.requires_grad_(False)
    s = summary(m, (4, 8))
    frozen = n_params(m.block.fc, m.block.bn)
    assert s.total_params == n_params(*m.modules())
    assert s.non_trainable_params == frozen and s.trainable_params == s.total_params - frozen
    rows = by_path(s)
    assert rows["block.fc"].trainable == "none" and rows["head"].trainable == "all"
    m.head.bias.requires_grad_(False)
    s = summary(m, (4, 8))
    assert by_path(s)["head"].trainable == "partial"
    assert s.non_trainable_params == frozen + 3
    assert f"Non-trainable params: {frozen + 3:,}" in str(s)


def test_shared_parameters_counted_once_and_repeated_calls():
    class Tied(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b, self.act = nn.Linear(5, 5), nn.Linear(5, 5, bias=False), nn.ReLU()
            self.b.weight = self.a.weight

        def forward(self, x):
            return self.act(self.b(self.act(self.a(x))))

    s = summary(Tied(), (2, 5))
    rows = by_path(s)
    assert rows["a"].num_params == 30 and rows["b"].num_params == 25  # each row counts its own
    assert s.total_params == 30 and "(recursive)" in str(s)  # the shared weight once
    assert [r.repeated for r in s.rows if r.path == "act"] == [False, True]


def test_multiple_inputs_and_integer_inputs():
    class Two(nn.Module):
        def __init__(self):
            super().__init__()
            self.f, self.g = nn.Linear(3, 4), nn.Linear(6, 4)

        def forward(self, x, y):
            return self.f(x) + self.g(y), y

    s = summary(Two(), [(2, 3), (2, 6)])
    assert s.input_shapes == [(2, 3), (2, 6)] and s.rows[0].output_shape == [(2, 4), (2, 6)]
    assert by_path(s)["g"].output_shape == (2, 4)
    s = summary(nn.Sequential(nn.Embedding(11, 4), nn.Flatten()), (3, 5), dtype=fg.int64)
    assert s.rows[0].output_shape == (3, 20) and s.total_params == 44
    with pytest.raises(TypeError):
        summary(mlp(), 10)


def test_batch_of_one_in_training_mode_and_forward_errors():
    m = Net().train()
    assert by_path(summary(m, (1, 8)))["head"].output_shape == (1, 3)
    with pytest.raises(RuntimeError, match=r"block\.fc"):
        summary(m, (4, 9))
    assert all(not mod._forward_hooks and not mod._forward_pre_hooks for mod in m.modules())
    assert all(mod.use_batch_stats is None for mod in m.modules() if isinstance(mod, nn.BatchNorm1d))


# ---- summary: changes no state ----------------------------------------------------------------

def snapshot(m):
    return {
        "training": [(name, mod.training) for name, mod in m.named_modules()],
        "state": {k: v.detach().numpy().copy() for k, v in m.state_dict().items()},
        "tracked": [int(mod.num_batches_tracked.item()) for mod in m.modules() if isinstance(mod, nn.BatchNorm1d)],
        "knobs": [(mod.use_batch_stats, mod.update_running_stats) for mod in m.modules() if isinstance(mod, nn.BatchNorm1d)],
        "grads": [p.grad is None for p in m.parameters()],
        "hooks": [(len(mod._forward_hooks), len(mod._forward_pre_hooks)) for mod in m.modules()],
        "rng": fg.get_rng_state(),
    }


def assert_same(a, b):
    assert a["state"].keys() == b["state"].keys()
    for name in a["state"]:
        np.testing.assert_array_equal(a["state"][name], b["state"][name], err_msg=name)
    assert {k: v for k, v in a.items() if k != "state"} == {k: v for k, v in b.items() if k != "state"}


def trained_net(mode):
    fg.manual_seed(3)
    m = Net()
    m.block.bn.momentum = 0.5
    for _ in range(2):  # non-trivial running stats
        m(fg.randn(16, 8)).sum().backward()
    m.zero_grad()
    if mode == "pinned":
        m.block.drop.pin_mode("eval")
    return m.train(mode != "eval")


@pytest.mark.parametrize("mode", ["train", "eval", "pinned", "fresh-eval"])
def test_summary_changes_no_state_and_warns_nothing(mode):
    m = Net().eval() if mode == "fresh-eval" else trained_net(mode)  # fresh-eval: untracked stats
    before = snapshot(m)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert summary(m, (5, 8)).rows[0].output_shape == (5, 3)
    assert [w for w in caught if issubclass(w.category, ModeWarning)] == []
    assert_same(before, snapshot(m))


def test_state_checks_detect_a_plain_forward():
    """Control: the same checks catch what a plain no_grad forward in training mode does."""
    m = trained_net("train")
    before = snapshot(m)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with fg.no_grad():
            m(fg.randn(5, 8))
    assert any(issubclass(w.category, StatsUpdateWithoutGradWarning) for w in caught)
    with pytest.raises(AssertionError):
        assert_same(before, snapshot(m))


# ---- viz -----------------------------------------------------------------------------------------

NODE_RE = re.compile(r'^\s*(\w+) \[label="((?:[^"\\]|\\.)*)"(.*)\];$')
EDGE_RE = re.compile(r"^\s*(\w+) -> (\w+);$")


def parse_dot(src):
    """{id: (label, attrs)}, [(src, dst)]; every line must be understood."""
    lines = src.strip().splitlines()
    assert re.fullmatch(r"digraph \w* ?\{", lines[0]) and lines[-1] == "}"
    nodes, edges = {}, []
    for line in lines[1:-1]:
        if line.strip().startswith(("graph [", "node [", "edge [")):
            continue
        if mn := NODE_RE.match(line):
            assert mn.group(1) not in nodes
            nodes[mn.group(1)] = (mn.group(2).replace("\\n", "\n"), mn.group(3))
        elif me := EDGE_RE.match(line):
            edges.append(me.groups())
        else:
            raise AssertionError(f"unparsed DOT line: {line!r}")
    assert all(s in nodes and d in nodes for s, d in edges)
    return nodes, edges


def find(nodes, prefix):
    return [i for i, (label, _) in nodes.items() if label.startswith(prefix)]


def test_small_graph_structure():
    a, b = fg.randn(2, 3, requires_grad=True), fg.randn(2, 3, requires_grad=True)
    y = (a * b + a).sum()
    g = fg.viz.graph(y)
    nodes, edges = parse_dot(str(g))
    assert len(nodes) == 6 and len(edges) == 6  # root, Sum, Add, Mul, 2 leaves
    assert str(g) == g.source and len(g.nodes) == 6 and g.edges == edges
    (s,), (ad,), (mu,) = find(nodes, "Sum"), find(nodes, "Add"), find(nodes, "Mul")
    (root,) = [n.id for n in g.nodes if n.kind == "root"]
    leaves = [i for i, (label, _) in nodes.items() if "requires_grad" in label and i != root]
    assert len(leaves) == 2 and all("(2, 3)" in nodes[i][0] for i in leaves)
    assert "()" in nodes[root][0]  # the sum is a scalar
    assert "(2, 3), (2, 3)" in nodes[mu][0] and "(2, 3)" in nodes[s][0]
    assert {(s, root), (ad, s), (mu, ad)} <= set(edges)
    out_deg = {leaf: sum(e[0] == leaf for e in edges) for leaf in leaves}
    assert sorted(out_deg.values()) == [1, 2]  # a feeds Add and Mul, b only Mul
    leaf_a = max(out_deg, key=out_deg.get)
    assert {(leaf_a, ad), (leaf_a, mu)} <= set(edges)


def test_leaf_names_repeated_inputs_and_constants():
    w = nn.Parameter(fg.randn(3))
    c = fg.randn(3)  # no grad: no edge, no node
    g = fg.viz.graph((w * w * c).sum(), params={"weight": w})
    nodes, edges = parse_dot(g.source)
    (leaf,) = find(nodes, "weight")
    assert sum(e[0] == leaf for e in edges) == 2  # w * w: one leaf node, two edges
    assert len(nodes) == 5 and len(edges) == 5  # root, Sum, Mul, Mul, leaf


def test_tensor_without_grad_fn():
    g = fg.viz.graph(fg.randn(3))
    nodes, edges = parse_dot(g.source)
    assert len(nodes) == 1 and edges == [] and "(3,)" in next(iter(nodes.values()))[0]
    nodes, _ = parse_dot(fg.viz.graph(fg.randn(2, 2, requires_grad=True)).source)
    assert "requires_grad" in next(iter(nodes.values()))[0]


def saved_ids(nodes):
    return {i for i, (_, attrs) in nodes.items() if "orange" in attrs}


def test_saved_tensor_marking_follows_backward():
    a, b = fg.randn(4, requires_grad=True), fg.randn(4, requires_grad=True)
    y = (a * b).exp().sum()
    expected, stack = 0, [y.grad_fn]  # walk ourselves: which ops hold saved tensors now
    while stack:
        n = stack.pop()
        expected += n.holds_saved_tensors
        stack += [c for c, _ in n.next_functions if c is not None]
    nodes, _ = parse_dot(fg.viz.graph(y).source)
    marked = saved_ids(nodes)
    assert expected >= 1 and len(marked) == expected
    assert find(nodes, "Mul")[0] in marked
    assert saved_ids(parse_dot(fg.viz.graph(y, show_saved=False).source)[0]) == set()
    y.backward()
    assert saved_ids(parse_dot(fg.viz.graph(y).source)[0]) == set()


def test_deep_graph_is_walked_iteratively():
    y = fg.randn(2, requires_grad=True)
    for _ in range(20_000):
        y = y * 1.0001
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(200)
    try:
        g = fg.viz.graph(y)
    finally:
        sys.setrecursionlimit(limit)
    assert len(g.nodes) == 20_002 and len(g.edges) == 20_001
    assert g.source.count(" -> ") == 20_001


@pytest.mark.parametrize("missing", ["package", "dot"])
def test_render_without_graphviz(monkeypatch, tmp_path, missing):
    if missing == "package":
        monkeypatch.setitem(sys.modules, "graphviz", None)  # makes `import graphviz` fail
    else:
        monkeypatch.setitem(sys.modules, "graphviz", types.ModuleType("graphviz"))
        monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None)
    g = fg.viz.graph((fg.randn(2, requires_grad=True) * 2).sum())
    with pytest.raises(RuntimeError, match="pip install graphviz") as e:
        g.render(tmp_path / "g.svg")
    assert "apt-get install graphviz" in str(e.value) and "`dot`" in str(e.value)
    assert ("not on PATH" in str(e.value)) == (missing == "dot")
    assert not (tmp_path / "g.svg").exists() and g._repr_svg_() is None
    with pytest.raises(ValueError):
        g.render(tmp_path / "g.jpg", format="jpg")


@pytest.mark.parametrize("fmt,magic", [("svg", b"<svg"), ("png", b"\x89PNG")])
def test_render_with_graphviz(tmp_path, fmt, magic):
    pytest.importorskip("graphviz")
    if shutil.which("dot") is None:
        pytest.skip("Graphviz's dot program is not installed")
    a = fg.randn(2, 3, requires_grad=True)
    g = fg.viz.graph((a * a).sum())
    assert magic in open(g.render(tmp_path / f"g.{fmt}", format=fmt), "rb").read()[:4096]
    assert fmt != "svg" or "MulBackward" in g._repr_svg_()
