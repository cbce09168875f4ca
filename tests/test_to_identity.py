"""A conversion that changes nothing returns the tensor itself, as in PyTorch: `t.to(t.dtype) is t`,
`t.float() is t` for float32, `t.contiguous() is t` when contiguous; a real conversion and
`copy=True` give a new tensor.

PYTORCH_IS_SELF was made with PyTorch 2.15 (CPU) by running CASES with `lib = torch`, which
test_table_is_pytorchs re-runs where PyTorch is installed
(`PYTHONPATH=python /tmp/torchvenv/bin/python -m pytest tests/test_to_identity.py`).
"""

from __future__ import annotations

import ferrograd as fg
import numpy as np
import pytest


def _float(lib, dtype=None):
    return lib.tensor([1.5, -2.0, 3.25], dtype=dtype or lib.float32)


def _ints(lib, dtype=None):
    return lib.tensor([0, 1, 2], dtype=dtype or lib.int64)


# Each case gives (input, what the conversion returned), for `lib` = ferrograd or torch.
CASES = {
    "to(own dtype)": lambda lib: (t := _float(lib), t.to(t.dtype)),
    "to(float32)": lambda lib: (t := _float(lib), t.to(lib.float32)),
    "to('cpu')": lambda lib: (t := _float(lib), t.to("cpu")),
    "to(device('cpu'))": lambda lib: (t := _float(lib), t.to(lib.device("cpu"))),
    "to('cpu', float32)": lambda lib: (t := _float(lib), t.to("cpu", lib.float32)),
    "to(dtype=float32)": lambda lib: (t := _float(lib), t.to(dtype=lib.float32)),
    "to(device='cpu')": lambda lib: (t := _float(lib), t.to(device="cpu")),
    "to()": lambda lib: (t := _float(lib), t.to()),
    "to(float32 tensor)": lambda lib: (t := _float(lib), t.to(lib.zeros(2))),
    "to(float32, non_blocking=True)": lambda lib: (t := _float(lib), t.to(lib.float32, non_blocking=True)),
    "to(float32, copy=False)": lambda lib: (t := _float(lib), t.to(lib.float32, copy=False)),
    "to(float32) with grad": lambda lib: (t := _float(lib).requires_grad_(), t.to(lib.float32)),
    "to(float32) of a non-leaf": lambda lib: (t := _float(lib).requires_grad_() * 2, t.to(lib.float32)),
    "to(float64)": lambda lib: (t := _float(lib), t.to(lib.float64)),
    "to(float64 tensor)": lambda lib: (t := _float(lib), t.to(lib.zeros(2, dtype=lib.float64))),
    "to(float32, copy=True)": lambda lib: (t := _float(lib), t.to(lib.float32, copy=True)),
    "to('cpu', copy=True)": lambda lib: (t := _float(lib), t.to("cpu", copy=True)),
    "float() of float32": lambda lib: (t := _float(lib), t.float()),
    "float() of float64": lambda lib: (t := _float(lib, lib.float64), t.float()),
    "double() of float64": lambda lib: (t := _float(lib, lib.float64), t.double()),
    "double() of float32": lambda lib: (t := _float(lib), t.double()),
    "half() of float16": lambda lib: (t := _float(lib, lib.float16), t.half()),
    "bfloat16() of bfloat16": lambda lib: (t := _float(lib, lib.bfloat16), t.bfloat16()),
    "long() of int64": lambda lib: (t := _ints(lib), t.long()),
    "int() of int32": lambda lib: (t := _ints(lib, lib.int32), t.int()),
    "int() of int64": lambda lib: (t := _ints(lib), t.int()),
    "short() of int16": lambda lib: (t := _ints(lib, lib.int16), t.short()),
    "char() of int8": lambda lib: (t := _ints(lib, lib.int8), t.char()),
    "byte() of uint8": lambda lib: (t := _ints(lib, lib.uint8), t.byte()),
    "bool() of bool": lambda lib: (t := _ints(lib) > 0, t.bool()),
    "type(float32)": lambda lib: (t := _float(lib), t.type(lib.float32)),
    "type('torch.FloatTensor')": lambda lib: (t := _float(lib), t.type("torch.FloatTensor")),
    "type(float64)": lambda lib: (t := _float(lib), t.type(lib.float64)),
    "type_as(float32 tensor)": lambda lib: (t := _float(lib), t.type_as(lib.zeros(1))),
    "type_as(float64 tensor)": lambda lib: (t := _float(lib), t.type_as(lib.zeros(1, dtype=lib.float64))),
    "cpu()": lambda lib: (t := _float(lib), t.cpu()),
    "contiguous() of a contiguous tensor": lambda lib: (t := _float(lib), t.contiguous()),
    "contiguous() of a transpose": lambda lib: (t := lib.zeros(2, 3).t(), t.contiguous()),
    "float() of a float32 Parameter": lambda lib: (p := lib.nn.Parameter(_float(lib)), p.float()),
    "to(float32) of a float32 Parameter": lambda lib: (p := lib.nn.Parameter(_float(lib)), p.to(lib.float32)),
}

# `output is input` for each case, in PyTorch 2.15.
PYTORCH_IS_SELF = {
    "to(own dtype)": True, "to(float32)": True, "to('cpu')": True, "to(device('cpu'))": True,
    "to('cpu', float32)": True, "to(dtype=float32)": True, "to(device='cpu')": True, "to()": True,
    "to(float32 tensor)": True, "to(float32, non_blocking=True)": True, "to(float32, copy=False)": True,
    "to(float32) with grad": True, "to(float32) of a non-leaf": True,
    "to(float64)": False, "to(float64 tensor)": False, "to(float32, copy=True)": False, "to('cpu', copy=True)": False,
    "float() of float32": True, "float() of float64": False, "double() of float64": True, "double() of float32": False,
    "half() of float16": True, "bfloat16() of bfloat16": True, "long() of int64": True, "int() of int32": True,
    "int() of int64": False, "short() of int16": True, "char() of int8": True, "byte() of uint8": True,
    "bool() of bool": True,
    "type(float32)": True, "type('torch.FloatTensor')": True, "type(float64)": False,
    "type_as(float32 tensor)": True, "type_as(float64 tensor)": False,
    "cpu()": True, "contiguous() of a contiguous tensor": True, "contiguous() of a transpose": False,
    "float() of a float32 Parameter": True, "to(float32) of a float32 Parameter": True,
}  # fmt: skip


@pytest.mark.parametrize("case", list(CASES))
def test_conversion_returns_self_exactly_when_pytorch_does(case):
    t, out = CASES[case](fg)
    assert (out is t) == PYTORCH_IS_SELF[case], f"{case}: `out is t` is {out is t}, PyTorch's is {PYTORCH_IS_SELF[case]}"
    # Whatever the object, the values are the input's.
    np.testing.assert_array_equal(out.detach().float().numpy(), t.detach().float().numpy())


def test_table_is_pytorchs():
    torch = pytest.importorskip("torch")
    got = {}
    for case, run in CASES.items():
        t, out = run(torch)
        got[case] = out is t
    assert got == PYTORCH_IS_SELF


@pytest.mark.parametrize("convert", [lambda t: t.to(t.dtype, copy=True), lambda t: t.to("cpu", copy=True),
                                     lambda t: t.to(fg.float64).to(fg.float32)], ids=["dtype", "device", "round trip"])  # fmt: skip
def test_a_copy_has_its_own_storage(convert):
    t = _float(fg)
    out = convert(t)
    assert out is not t and out.dtype == t.dtype
    out.add_(1.0)
    np.testing.assert_array_equal(t.numpy(), np.array([1.5, -2.0, 3.25], dtype=np.float32))


def test_same_object_keeps_autograd_identity():
    x = _float(fg).requires_grad_()
    y = x * 2
    z = y.to(fg.float32).float().contiguous()
    assert z is y
    z.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.full(3, 2.0, dtype=np.float32))


def test_arguments_are_still_checked_when_nothing_changes():
    t = _float(fg)
    with pytest.raises((RuntimeError, ValueError, TypeError)):
        t.to(t.dtype, device="cuda")
    with pytest.raises(TypeError):
        t.type_as([1.0])


def test_wrappers_keep_the_native_names_and_signatures():
    import inspect

    for name in ("to", "float", "long", "contiguous", "type_as"):
        method = getattr(fg.Tensor, name)
        assert method.__name__ == name and method.__doc__ == method.__wrapped__.__doc__
        assert inspect.signature(method) == inspect.signature(method.__wrapped__)
