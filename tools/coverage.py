"""How much of PyTorch's API ferrograd has: counts the names in tools/pytorch_names/ (made once
from PyTorch by make_pytorch_names.py) that ferrograd defines.

    python tools/coverage.py            # one line per list: "Tensor methods: 117 / 604 (19%)"
    python tools/coverage.py --missing  # and then the names ferrograd lacks, list by list

A name counts when ``hasattr`` finds it where PyTorch has it: on ``fg.Tensor``, ``fg.nn``,
``fg.nn.functional`` or ``fg``. That says the name exists, not that it behaves as PyTorch's;
the tests and the differential harness check behaviour. Needs ferrograd only, not PyTorch.
"""

from __future__ import annotations

import argparse
import pathlib
import re
import sys

NAMES = pathlib.Path(__file__).resolve().parent / "pytorch_names"

# (label, list file, where the name must be found in ferrograd)
LISTS = [
    ("Tensor methods", "tensor_methods", "fg.Tensor"),
    ("nn classes", "nn_classes", "fg.nn"),
    ("nn.functional functions", "nn_functional", "fg.nn.functional"),
    ("torch functions", "torch_functions", "fg"),
]


def read_names(stem: str) -> tuple[list[str], str]:
    """The names in a list file and its header (the comment lines)."""
    lines = (NAMES / f"{stem}.txt").read_text().splitlines()
    header = "\n".join(line for line in lines if line.startswith("#"))
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")], header


def import_ferrograd():
    try:
        import ferrograd
    except ImportError:  # run from a checkout without installing: use its python/ folder
        sys.path.insert(0, str(NAMES.parent.parent / "python"))
        import ferrograd
    return ferrograd


def namespaces(fg) -> dict[str, object]:
    return {"fg.Tensor": fg.Tensor, "fg.nn": fg.nn, "fg.nn.functional": fg.nn.functional, "fg": fg}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--missing", action="store_true", help="also list the names ferrograd lacks")
    args = parser.parse_args(argv)

    fg = import_ferrograd()
    where = namespaces(fg)
    made_from = re.search(r"from torch (\S+)", read_names(LISTS[0][1])[1])
    version = made_from.group(1) if made_from else "?"
    print(f"ferrograd {getattr(fg, '__version__', '?')} against the names of torch {version} (tools/pytorch_names/)")
    missing: dict[str, list[str]] = {}
    for label, stem, ns in LISTS:
        names, _ = read_names(stem)
        lacking = [n for n in names if not hasattr(where[ns], n)]
        have = len(names) - len(lacking)
        print(f"{label}: {have} / {len(names)} ({100 * have / len(names):.0f}%)")
        missing[label] = lacking
    if args.missing:
        for label, _, ns in LISTS:
            print(f"\nMissing {label} ({ns}), {len(missing[label])}:")
            print("\n".join(f"  {n}" for n in missing[label]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
