"""Regenerates tests/golden/op_table_golden.json from PyTorch for the rows of tests/op_table.py.

    cd /work/main && PYTHONPATH=python /tmp/torchvenv/bin/python tests/golden/make_op_golden.py [ID_PREFIX ...]

With id prefixes, only the rows whose id starts with one of them are regenerated.

For every row with golden=True: the inputs (made by op_table.make_inputs, stored as they are),
PyTorch's outputs (dtype, shape, values; Python numbers and bools as themselves) and the
gradient of sum(out_i * W_i) over the float outputs that require grad, for a stored random W,
w.r.t. every input with requires_grad. tests/test_op_table.py replays them in ferrograd.
"""

from __future__ import annotations

import json
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
from op_table import ROWS, make_inputs  # noqa: E402

OUT = os.path.join(HERE, "op_table_golden.json")
TORCH_DTYPE = {"float64": torch.float64, "int64": torch.int64, "bool": torch.bool}


def flat_outputs(out) -> list:
    if isinstance(out, (tuple, list)) and not isinstance(out, torch.Size):
        items = []
        for o in out:
            items += flat_outputs(o)
        return items
    return [out]


def encode(o):
    if isinstance(o, torch.Tensor):
        return {"dtype": str(o.dtype).split(".")[-1], "shape": list(o.shape), "values": o.detach().numpy().tolist()}
    if isinstance(o, (bool, int, float)):
        return {"python": type(o).__name__, "value": o}
    raise TypeError(f"cannot store an output of type {type(o).__name__}")


def run(op) -> dict:
    arrays = make_inputs(op)
    leaves = []
    for spec, a in zip(op.inputs, arrays):
        t = torch.tensor(a)
        if spec.requires_grad:
            t.requires_grad_(True)
        leaves.append(t)
    out = flat_outputs(op.fn(torch, *leaves))
    rng = np.random.default_rng(len(op.id))
    weights, loss = [], None
    for o in out:
        if isinstance(o, torch.Tensor) and o.is_floating_point() and o.requires_grad:
            w = np.round(rng.uniform(-1, 1, tuple(o.shape)), 3)
            weights.append(w.tolist())
            term = (o * torch.tensor(w, dtype=o.dtype)).sum()
            loss = term if loss is None else loss + term
        else:
            weights.append(None)
    grads = [None] * len(leaves)
    if loss is not None:
        loss.backward()
        grads = [None if t.grad is None else t.grad.numpy().tolist() for t in leaves]
    return {
        "inputs": [{"dtype": str(a.dtype), "values": a.tolist()} for a in arrays],
        "outputs": [encode(o) for o in out],
        "weights": weights,
        "grads": grads,
    }


def main(prefixes: list[str]) -> None:
    """Regenerates every golden row, or with prefixes only the rows whose id starts with one of
    them (the others are kept from the current file; rows no longer in the table are dropped)."""
    ids = {op.id for op in ROWS if op.golden}
    table = {}
    if prefixes and os.path.exists(OUT):
        with open(OUT) as f:
            table = {k: v for k, v in json.load(f)["ops"].items() if k in ids}
    for op in ROWS:
        if op.golden and (not prefixes or op.id.startswith(tuple(prefixes))):
            table[op.id] = run(op)
    table = {op.id: table[op.id] for op in ROWS if op.id in table}  # table order, stable diffs
    doc = {"torch_version": torch.__version__, "script": "tests/golden/make_op_golden.py", "ops": table}
    tmp = f"{OUT}.{os.getpid()}.tmp"  # written whole, then renamed: a concurrent run never reads half a file
    with open(tmp, "w") as f:
        json.dump(doc, f, indent=None, separators=(",", ":"), allow_nan=True)
        f.write("\n")
    os.replace(tmp, OUT)
    print(f"wrote {len(table)} rows to {OUT}")


if __name__ == "__main__":
    main(sys.argv[1:])
