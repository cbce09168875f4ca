"""The calls of tests/test_pytorch_call_forms.py against PyTorch itself: dtype, shape and values
(and the exception type where PyTorch raises)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import ferrograd as fg  # noqa: E402

X = np.array([[1.0, 0.0, -2.5], [2.0, 3.0, 0.5]], np.float32)
CALLS = {
    "tensor of np.float64": lambda L: L.tensor([np.float64(0.1), np.float64(0.2)]),
    "tensor of np.float32 and int": lambda L: L.tensor([np.float32(1.0), 2]),
    "tensor of np.float16 and float": lambda L: L.tensor([np.float16(1.0), 2.0]),
    "tensor of np.float16 and np.int64": lambda L: L.tensor([np.float16(1.0), np.int64(3)]),
    "tensor of np.int32 and int": lambda L: L.tensor([np.int32(3), 5]),
    "tensor of np.int8 and np.uint8": lambda L: L.tensor([np.int8(1), np.uint8(2)]),
    "nested np.float64": lambda L: L.tensor([[np.float64(1.0)], [2.0]]),
    "tensor of float64 tensor and float": lambda L: L.tensor([L.tensor(1.0, dtype=L.float64), 2.0]),
    "tensor of int32 tensor and int": lambda L: L.tensor([L.tensor(1, dtype=L.int32), 2]),
    "tensor of float16 tensor and int": lambda L: L.tensor([L.tensor(1.0, dtype=L.float16), 2]),
    "all dim=()": lambda L: L.tensor(X).all(dim=()),
    "any dim=[]": lambda L: L.tensor(X).any(dim=[]),
    "count_nonzero dim=()": lambda L: L.count_nonzero(L.tensor(X), dim=()),
    "sum dtype=int32": lambda L: L.tensor([2**31 - 1, 5, 7]).sum(dtype=L.int32),
    "0-d int32 sum": lambda L: L.tensor(3, dtype=L.int32).sum(),
    "0-d uint8 sum": lambda L: L.tensor(3, dtype=L.uint8).sum(),
    "mean dtype": lambda L: L.tensor(X).mean(1, dtype=L.float64),
    "softmax dtype": lambda L: L.tensor(X).softmax(1, dtype=L.float64),
    "log_softmax dtype": lambda L: L.tensor(X).log_softmax(0, dtype=L.float64),
    "half softmax dtype": lambda L: L.tensor(X).half().softmax(-1, dtype=L.float32),
    "flip varargs": lambda L: L.tensor(X).flip(0, 1),
    "broadcast_to varargs": lambda L: L.tensor(X)[0].broadcast_to(4, 3),
    "stride(dim)": lambda L: L.tensor(X).t().stride(1),
    "stride(-1)": lambda L: L.zeros(2, 3, 4).transpose(0, 2).stride(-1),
    "diagonal is a view": lambda L: (lambda y: (y.diagonal(1).fill_(7.0), y)[1])(L.tensor(X)),
    "unfold is a view": lambda L: (lambda y: (y.unfold(1, 1, 2).mul_(2.0), y)[1])(L.tensor(X)),  # windows apart
    "trace of expanded": lambda L: L.trace(L.tensor(X)[:1].expand(3, 3)),
    "div trunc int32": lambda L: L.div(L.tensor([7, -7, 9], dtype=L.int32), L.tensor([2, 2, -4], dtype=L.int32), rounding_mode="trunc"),
    "div trunc int8 edge": lambda L: L.div(L.tensor([-128, 5], dtype=L.int8), L.tensor([3, -2], dtype=L.int8), rounding_mode="trunc"),
    "div floor int16 by int": lambda L: L.div(L.tensor([7, -7], dtype=L.int16), 2, rounding_mode="floor"),
    "div trunc int by float": lambda L: L.div(L.tensor([3, -5]), 0.5, rounding_mode="trunc"),
    "fmod int32": lambda L: L.fmod(L.tensor([7, -7], dtype=L.int32), 2),
    "where 0-d int32 and int": lambda L: L.where(L.tensor([True, False]), L.tensor(3, dtype=L.int32), 2),
    "where int and 0-d uint8": lambda L: L.where(L.tensor([True, False]), 300, L.tensor(3, dtype=L.uint8)),
    "where float and int32": lambda L: L.where(L.tensor([True, False]), 2.5, L.tensor([3, 4], dtype=L.int32)),
    "cumsum dtype int32": lambda L: L.tensor([1, 2, 2**31 - 1]).cumsum(0, dtype=L.int32),
    "cumprod dtype int8": lambda L: L.tensor([3, 5, 9]).cumprod(0, dtype=L.int8),
    "prod dtype int32": lambda L: L.tensor([[1, 2], [3, 4]]).prod(1, dtype=L.int32),
    "uint8 any": lambda L: L.tensor([[1, 0], [2, 3]], dtype=L.uint8).any(),
    "uint8 all(1)": lambda L: L.tensor([[1, 0], [2, 3]], dtype=L.uint8).all(1),
    "uint8 any dim=()": lambda L: L.tensor([[1, 0], [2, 3]], dtype=L.uint8).any(dim=()),
    "prod int8 wraps": lambda L: L.tensor([100, 3], dtype=L.int8).prod(dtype=L.int8),
}


def _run(f, L):
    try:
        out = f(L)
    except Exception as e:  # noqa: BLE001 (the type is what is compared)
        return type(e).__name__
    if isinstance(out, int):
        return out
    return str(out.dtype).split(".")[-1], tuple(out.shape), out.detach().numpy()


@pytest.mark.parametrize("name", CALLS)
def test_call_matches_torch(name):
    theirs, ours = _run(CALLS[name], torch), _run(CALLS[name], fg)
    if isinstance(theirs, tuple) and isinstance(ours, tuple):
        assert ours[:2] == theirs[:2], name
        np.testing.assert_allclose(ours[2], theirs[2], rtol=1e-6, err_msg=name)
    else:
        assert ours == theirs, name


def test_as_tensor_shares_memory_as_torch_does():
    for L in (torch, fg):
        a = np.zeros(3, np.float32)
        t = L.as_tensor(a)
        a[0] = 5.0
        assert t[0].item() == 5.0, L.__name__


def test_clamp_tensor_bounds_values_and_gradient_shares_match_torch_over_every_order():
    """clamp(x, min, max) with tensor bounds over all 64 orders of 0, 1, 2 and NaN: the values
    and the three gradients (PyTorch splits ties and keeps a NaN x's share)."""
    import itertools

    rows = list(itertools.product([0.0, 1.0, 2.0, float("nan")], repeat=3))
    got = {}
    for L in (torch, fg):
        x, lo, hi = (L.tensor([r[i] for r in rows], dtype=L.float64, requires_grad=True) for i in range(3))
        y = L.clamp(x, lo, hi)
        y.sum().backward()
        got[L] = [t.detach().numpy() for t in (y, x.grad, lo.grad, hi.grad)]
    for name, theirs, ours in zip(("value", "x grad", "min grad", "max grad"), got[torch], got[fg]):
        np.testing.assert_array_equal(ours, theirs, err_msg=name)
