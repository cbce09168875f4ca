"""python/ferrograd/_core.pyi against the compiled module: every name on one side is on the other,
properties are properties, setters exist where the module has them, and parameter names match.

The stub is read with `ast` (never imported). Stub-only helpers are allowed: `X: TypeAlias = ...`
and classes decorated with `@type_check_only`.
"""

from __future__ import annotations

import ast
import inspect
import types
from pathlib import Path

import ferrograd._core as core
import pytest

P = inspect.Parameter
STUB = Path(__file__).resolve().parents[1] / "python" / "ferrograd" / "_core.pyi"

# Names PyO3 adds as a side effect of a slot: defining __setitem__ fills mp_ass_subscript, which
# exposes __delitem__. It only ever raises, so the stub leaves it out (checked below).
NOT_STUBBED = {"Tensor": {"__delitem__"}}

MODULE_DUNDERS = set(dir(types.ModuleType("m"))) | {"__file__"}


def _is_dunder(name: str) -> bool:
    return name.startswith("__") and name.endswith("__")


def _decorators(node: ast.AST) -> set[str]:
    return {ast.unparse(d) for d in getattr(node, "decorator_list", [])}


class StubScope:
    """The names one scope (module or class body) of the stub declares."""

    def __init__(self, body: list[ast.stmt]):
        self.functions: dict[str, list[ast.FunctionDef]] = {}  # every overload
        self.properties: dict[str, bool] = {}  # name -> has a setter
        self.attributes: set[str] = set()
        self.classes: dict[str, ast.ClassDef] = {}
        self.assigned: dict[str, ast.expr] = {}
        for node in body:
            if isinstance(node, ast.FunctionDef):
                decs = _decorators(node)
                if "property" in decs:
                    self.properties[node.name] = False
                elif f"{node.name}.setter" in decs:
                    self.properties[node.name] = True
                else:
                    self.functions.setdefault(node.name, []).append(node)
            elif isinstance(node, ast.ClassDef) and "type_check_only" not in _decorators(node):
                self.classes[node.name] = node
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                if ast.unparse(node.annotation) != "TypeAlias":
                    self.attributes.add(node.target.id)
            elif isinstance(node, ast.Assign):
                for target in node.targets:
                    if isinstance(target, ast.Name):
                        self.assigned[target.id] = node.value

    def names(self) -> set[str]:
        return set(self.functions) | set(self.properties) | self.attributes | set(self.classes) | set(self.assigned)


@pytest.fixture(scope="module")
def stub() -> StubScope:
    return StubScope(ast.parse(STUB.read_text(), filename=str(STUB)).body)


def test_stub_classes_are_the_module_classes(stub):
    runtime = {n for n in dir(core) if isinstance(getattr(core, n), type)}
    assert set(stub.classes) == runtime


def test_module_names_match(stub):
    runtime = {n for n in dir(core) if n not in MODULE_DUNDERS}
    declared = stub.names()
    assert not runtime - declared, f"in ferrograd._core but not in the stub: {sorted(runtime - declared)}"
    assert not declared - runtime, f"in the stub but not in ferrograd._core: {sorted(declared - runtime)}"


def test_dunder_all_matches(stub):
    assert ast.literal_eval(stub.assigned["__all__"]) == list(core.__all__)


@pytest.mark.parametrize("cls_name", ["Tensor", "Node", "dtype"])
def test_class_members_match(stub, cls_name):
    cls = getattr(core, cls_name)
    scope = StubScope(stub.classes[cls_name].body)
    declared = scope.names()
    runtime = {n for n in dir(cls) if not (_is_dunder(n) and hasattr(object, n)) and not _attached_in_python(cls, n)}
    runtime -= NOT_STUBBED.get(cls_name, set())
    assert not runtime - declared, f"{cls_name}: not in the stub: {sorted(runtime - declared)}"
    extra = {n for n in declared - runtime if not hasattr(cls, n)}
    assert not extra, f"{cls_name}: in the stub but not in the module: {sorted(extra)}"


def _attached_in_python(cls, name: str) -> bool:
    """Methods the Python package attaches to the class (composite ops, `type`, `__format__`)
    are not part of the native module this stub describes."""
    return isinstance(inspect.getattr_static(cls, name), (types.FunctionType, property, staticmethod, classmethod))


def test_unstubbed_slot_names_are_inert():
    """If item deletion gets a real implementation, stub it."""
    t = core.full([2], 1.0, core.bool)
    with pytest.raises(NotImplementedError):
        del t[0]


def _sample(cls_name: str):
    t = core.full([2, 3], 1.0, core.float32)
    if cls_name == "Tensor":
        return t
    if cls_name == "dtype":
        return core.float32
    return (t.requires_grad_() * 2.0).grad_fn


@pytest.mark.parametrize("cls_name", ["Tensor", "Node", "dtype"])
def test_member_kinds_and_setters(stub, cls_name):
    """Stub properties are runtime getset descriptors (writable iff the stub has a setter);
    stub methods are runtime callables; stub attributes are plain class attributes."""
    cls = getattr(core, cls_name)
    scope = StubScope(stub.classes[cls_name].body)
    obj = _sample(cls_name)
    for name, has_setter in scope.properties.items():
        if not hasattr(cls, name):
            continue  # reported by test_class_members_match
        assert inspect.isdatadescriptor(inspect.getattr_static(cls, name)), f"{cls_name}.{name} is not a property"
        try:
            setattr(obj, name, getattr(obj, name))
            writable = True
        except AttributeError:
            writable = False
        assert writable == has_setter, f"{cls_name}.{name}: writable={writable} but stub setter={has_setter}"
    for name in (n for n in scope.functions if hasattr(cls, n)):
        assert callable(inspect.getattr_static(cls, name)), f"{cls_name}.{name} is not a method"
    for name in (n for n in scope.attributes if hasattr(cls, n)):
        value = inspect.getattr_static(cls, name)
        assert not callable(value) and not inspect.isdatadescriptor(value), f"{cls_name}.{name} is not a plain attribute"


def _stub_params(fn: ast.FunctionDef) -> tuple[list[ast.arg], list[ast.arg], dict[str, bool]]:
    """(positional params, keyword-usable params, name -> has default), without self/cls."""
    a = fn.args
    positional = a.posonlyargs + a.args
    defaults = [False] * (len(positional) - len(a.defaults)) + [True] * len(a.defaults)
    has_default = {p.arg: d for p, d in zip(positional, defaults)}
    has_default |= {p.arg: d is not None for p, d in zip(a.kwonlyargs, a.kw_defaults)}
    if positional and positional[0].arg in ("self", "cls"):
        positional = positional[1:]
    keyword = [p for p in a.args + a.kwonlyargs if p.arg not in ("self", "cls")]
    return positional, keyword, has_default


def _runtime_signature(owner, name: str) -> inspect.Signature | None:
    if name == "__new__":
        return inspect.signature(owner)  # PyO3 puts #[new]'s signature on the class
    attr = inspect.getattr_static(owner, name)
    if type(attr).__name__ == "wrapper_descriptor" or getattr(attr, "__text_signature__", None) is None:
        return None  # operator slots: positional-only, called by Python's operators
    return inspect.signature(getattr(owner, name))


def _signature_cases(stub: StubScope):
    yield from ((core, "module", name, fns) for name, fns in stub.functions.items())
    for cls_name, node in stub.classes.items():
        for name, fns in StubScope(node.body).functions.items():
            yield getattr(core, cls_name), cls_name, name, fns


def test_parameters_match(stub):
    """Keyword names in the stub are accepted by the module, defaults agree, positions agree,
    and every named parameter of the module appears in some overload."""
    problems = []
    for owner, where, name, overloads in _signature_cases(stub):
        sig = _runtime_signature(owner, name) if hasattr(owner, name) else None
        if sig is None:
            continue
        params = [p for p in sig.parameters.values() if p.name not in ("self", "cls")]
        kinds = {p.name: p.kind for p in params}
        by_keyword = {n for n, k in kinds.items() if k in (P.POSITIONAL_OR_KEYWORD, P.KEYWORD_ONLY)}
        any_keyword = P.VAR_KEYWORD in kinds.values()
        has_varargs = P.VAR_POSITIONAL in kinds.values()
        runtime_positional = [p.name for p in params if p.kind is P.POSITIONAL_OR_KEYWORD]
        covered: set[str] = set()
        for fn in overloads:
            positional, keyword, has_default = _stub_params(fn)
            for p in keyword:
                if p.arg not in by_keyword and not any_keyword:
                    problems.append(f"{where}.{name}: stub keyword {p.arg!r} is not a parameter of the module")
                elif p.arg in by_keyword and has_default[p.arg] and sig.parameters[p.arg].default is P.empty:
                    problems.append(f"{where}.{name}: stub gives {p.arg!r} a default, the module does not")
            for i, p in enumerate(positional):
                if p.arg in runtime_positional and not has_varargs and runtime_positional.index(p.arg) != i:
                    problems.append(f"{where}.{name}: {p.arg!r} is positional argument {i} in the stub")
                covered.add(p.arg)
                if p in fn.args.posonlyargs and i < len(runtime_positional):
                    covered.add(runtime_positional[i])
            covered |= {p.arg for p in keyword}
        for n, k in kinds.items():
            if k not in (P.VAR_POSITIONAL, P.VAR_KEYWORD) and n not in covered:
                problems.append(f"{where}.{name}: module parameter {n!r} is missing from the stub")
    assert not problems, "\n".join(problems)


# ---- the op-table section of the stub --------------------------------------------------
# The elementwise ops listed in rust/python/op_tables.rs get their stub lines from this
# generator, so adding an op there needs no hand edit here: `python tests/test_stubs.py --write`.
BEGIN, END = "    # BEGIN op tables\n", "    # END op tables\n"


def _table_stub_lines() -> str:
    lines = []
    for name in core._TABLE_FUNCTIONS:
        for method, returns in ((name, "Tensor"), (name + "_", "Self")):
            if not hasattr(core.Tensor, method):
                continue
            params = [p for p in inspect.signature(getattr(core.Tensor, method)).parameters.values() if p.name != "self"]
            args = "".join(f", {p.name}: _Operand" for p in params)
            lines.append(f"    def {method}(self{args}) -> {returns}: ...\n")
    return "".join(lines)


def _stub_with_table(text: str) -> str:
    head, rest = text.split(BEGIN)
    _, tail = rest.split(END)
    return head + BEGIN + _table_stub_lines() + END + tail


def test_op_table_section_is_generated():
    text = STUB.read_text()
    assert text == _stub_with_table(text), "the op-table section of _core.pyi is stale: run `python tests/test_stubs.py --write`"


if __name__ == "__main__":
    import sys

    if sys.argv[1:] == ["--write"]:
        STUB.write_text(_stub_with_table(STUB.read_text()))
