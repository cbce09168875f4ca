"""Records torch.result_type for every pair of ferrograd's dtypes, as dimensioned tensors, 0-d
tensors and Python numbers, into the PROMOTION table of tests/test_dtypes_narrow.py (needs torch).

    cd /work/main && /tmp/torchvenv/bin/python tests/golden/make_promotion_golden.py [--write]

Keys are "left|right" with each side "dim:<dtype>" (a 1-d tensor), "zero:<dtype>" (a 0-d tensor)
or "py:int" / "py:float" / "py:bool" (a Python number); values are the result dtype's name.
"""

from __future__ import annotations

import pathlib
import re
import sys

import torch

TEST = pathlib.Path(__file__).resolve().parents[1] / "test_dtypes_narrow.py"
DTYPES = ["bool", "uint8", "int8", "int16", "int32", "int64", "float16", "bfloat16", "float32", "float64"]
NUMBERS = {"int": 3, "float": 2.5, "bool": True}


def operand(key: str):
    kind, name = key.split(":")
    if kind == "py":
        return NUMBERS[name]
    return torch.ones(2 if kind == "dim" else (), dtype=getattr(torch, name))


def keys():
    tensors = [f"{k}:{d}" for k in ("dim", "zero") for d in DTYPES]
    for a in tensors:
        for b in tensors:
            yield f"{a}|{b}"
        for n in NUMBERS:
            yield f"{a}|py:{n}"


def main() -> None:
    rows = []
    for key in keys():
        a, b = key.split("|")
        result = str(torch.result_type(operand(a), operand(b))).removeprefix("torch.")
        rows.append(f"    {key!r}: {result!r},")
    table = "PROMOTION = {\n" + "\n".join(rows) + "\n}\n"
    text = TEST.read_text()
    new = re.sub(r"(?s)(# BEGIN PROMOTION\n).*?(# END PROMOTION\n)", lambda m: m.group(1) + table + m.group(2), text)
    if "--write" in sys.argv:
        TEST.write_text(new)
        print(f"wrote {len(rows)} rows to {TEST} (torch {torch.__version__})")
    else:
        print(table)


if __name__ == "__main__":
    main()
