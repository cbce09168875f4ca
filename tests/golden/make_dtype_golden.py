"""Records PyTorch's answers for tests/test_dtype_semantics.py (needs torch; CI does not run this).

    cd /work/main && PYTHONPATH=python /tmp/torchvenv/bin/python tests/golden/make_dtype_golden.py [test file] [--write]

The test file is tests/test_dtype_semantics.py unless named (tests/test_dtypes_narrow.py keeps
its VALUES table the same way; a file may leave out the GRADS table).

The test file holds two tables between `# BEGIN <name>` / `# END <name>` markers:

- VALUES: `(expression, expected)`. The expression is evaluated with `T` bound to the library
  (torch here, ferrograd in the test), `nan`/`inf`, and `ip(t, "__iadd__", x)` (runs an in-place
  method and returns t). expected is `(dtype, values)` for a tensor, `("py", value)` for a Python
  number, or `("raises", ExceptionName, message)`.
- GRADS: `(function, inputs, expected_output, expected_grads)`. function is a lambda source
  `"lambda T, x, y: ..."` taking float64 leaf tensors made from the input lists (a number stays a
  number); the gradients are those of `output.sum()`.

This script reads the expressions and functions from the test file, evaluates them under PyTorch
and prints both tables with PyTorch's answers; `--write` puts them back into the test file. So an
entry is added by writing its expression with any expectation and running the script.
"""

from __future__ import annotations

import math
import pathlib
import re
import sys

import torch

_FILES = [a for a in sys.argv[1:] if not a.startswith("--")]
TEST = pathlib.Path(_FILES[0]) if _FILES else pathlib.Path(__file__).resolve().parents[1] / "test_dtype_semantics.py"
nan, inf = math.nan, math.inf


def ip(t, name, *args, **kwargs):
    getattr(t, name)(*args, **kwargs)
    return t


def fmt(v):
    """A Python literal for v that keeps nan/inf readable (the test defines nan and inf)."""
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, (list, tuple)):
        inner = ", ".join(fmt(x) for x in v)
        return f"[{inner}]"
    return repr(v)


def value(expr: str):
    try:
        r = eval(expr, {"T": torch, "nan": nan, "inf": inf, "ip": ip})
    except Exception as e:  # noqa: BLE001 - the exception is the answer
        return f'("raises", {type(e).__name__!r}, {str(e).splitlines()[0]!r})'
    if isinstance(r, torch.Tensor):
        return f"({str(r.dtype).removeprefix('torch.')!r}, {fmt(r.tolist())})"
    return f'("py", {fmt(r)})'


def grad(src: str, inputs: list):
    f = eval(src, {"nan": nan, "inf": inf})
    leaves = [torch.tensor(x, dtype=torch.float64, requires_grad=True) if isinstance(x, list) else x for x in inputs]
    out = f(torch, *leaves)
    out.sum().backward()
    grads = [t.grad.tolist() for t in leaves if isinstance(t, torch.Tensor)]
    return fmt(out.tolist()), fmt(grads)


ROW = re.compile(r"^    \(.*\),$")


def rewrite(text: str, name: str, answer) -> str:
    """The table `name` with each one-line row `(key, ...)` replaced by `answer(row)`; comments and
    blank lines stay."""
    m = re.search(rf"^# BEGIN {name}\n(.*?)^# END {name}\n", text, re.S | re.M)
    assert m, f"no {name} table in {TEST}"
    lines = []
    for line in m.group(1).splitlines():
        if ROW.match(line):
            row = eval(line.strip().rstrip(","), {"nan": nan, "inf": inf})  # our own file
            line = f"    {answer(row)},"
        lines.append(line)
    return text[: m.start(1)] + "\n".join(lines) + "\n" + text[m.end(1) :]


def main() -> None:
    text = TEST.read_text()
    text = rewrite(text, "VALUES", lambda row: f"({row[0]!r}, {value(row[0])})")

    def grad_row(row):
        src, inputs = row[0], row[1]
        out, grads = grad(src, inputs)
        return f"({src!r}, {fmt(inputs)}, {out}, {grads})"

    last = "VALUES"
    if "# BEGIN GRADS" in text:
        text = rewrite(text, "GRADS", grad_row)
        last = "GRADS"
    if "--write" in sys.argv:
        TEST.write_text(text)
        print(f"wrote {TEST} (torch {torch.__version__})")
    else:
        print(text[text.index("# BEGIN VALUES") : text.index(f"# END {last}")])


if __name__ == "__main__":
    main()
