"""float32 exp, tanh, sigmoid, erf, silu and GELU run on branch-free polynomials in vectorised
loops (rust/vmath.rs; exact GELU's forward on AVX-512 from a table of them, rust/vmath_gelu.rs); these check them, through the public ops and their gradients, against float64
references over the whole range: large and tiny values, subnormals, zeros of both signs,
+-inf and NaN. The bounds are in float32 ulps (rust/vmath.rs has the per-function ones)."""

import math

import ferrograd as fg
import numpy as np
import pytest

F = fg.nn.functional
TINY = np.float32(np.finfo(np.float32).tiny)


def inputs() -> np.ndarray:
    rng = np.random.default_rng(0)
    parts = [
        rng.standard_normal(20000) * 4,
        rng.uniform(-100, 100, 20000),
        np.geomspace(1e-44, 1e4, 3000),
        -np.geomspace(1e-44, 1e4, 3000),
        [0.0, -0.0, np.inf, -np.inf, 88.7, 88.73, -87.3, -87.4, 0.625, -0.625, 1.0, -1.0, 3.9, 4.0, 4.1],
    ]
    # length not a multiple of 8, so the vector loop's tail runs too
    return np.concatenate([np.asarray(p, np.float64) for p in parts]).astype(np.float32)[:-3]


def erf64(x):
    return np.vectorize(math.erf)(x)


def erfc64(x):
    return np.vectorize(math.erfc)(x)


REFERENCES = {
    "exp": (lambda t: t.exp(), np.exp, 2),
    # Over negative inputs too: NaN there, -inf at zero, as float64.
    "log": (lambda t: t.log(), np.log, 2),
    # musl's float kernels after a float64 reduction (libm past 8e5): within an ulp.
    "sin": (lambda t: t.sin(), np.sin, 1),
    "cos": (lambda t: t.cos(), np.cos, 1),
    "tanh": (lambda t: t.tanh(), np.tanh, 3),
    "sigmoid": (lambda t: t.sigmoid(), lambda x: 1 / (1 + np.exp(-x)), 3),
    "erf": (lambda t: fg.erf(t), erf64, 3),
    "silu": (lambda t: F.silu(t), lambda x: x / (1 + np.exp(-x)), 4),
    # References without the cancellation of 1 + erf and 1 + tanh for negative x.
    # One erfc form over the whole line (`vmath_phi::phi_pdf_f32`): a few ulp more near 0 than
    # the two-piece erf, for half the work per element; on AVX-512 the forward reads Phi from a
    # table of polynomials instead (`vmath_gelu`, within 3.5 ulp).
    "gelu": (lambda t: F.gelu(t), lambda x: 0.5 * x * erfc64(-x / math.sqrt(2)), 8),
    "gelu_tanh": (lambda t: F.gelu(t, approximate="tanh"),
                  lambda x: x / (1 + np.exp(-2 * math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3))), 6),
}


def ulps(got: np.ndarray, want: np.ndarray) -> np.ndarray:
    """|got - want| in float32 ulps at want's magnitude (normal range; TINY's below it)."""
    w32 = np.abs(want).astype(np.float32)
    spacing = np.maximum(np.spacing(w32).astype(np.float64), np.spacing(TINY))
    return np.abs(got.astype(np.float64) - want) / spacing


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_float32_forms_against_float64(name):
    op, ref, bound = REFERENCES[name]
    x = inputs()
    got = op(fg.tensor(x)).numpy()
    with np.errstate(all="ignore"):
        want = ref(x.astype(np.float64))
    finite = np.isfinite(want) & (np.abs(want) < 3.4e38)
    # Underflow: exp, sigmoid and silu are 0 where e^x is below float32's normal range
    # (x < -87.34; silu's x e^x is then under 1e-35), as PyTorch's vectorised forms are.
    underflows = name in ("exp", "sigmoid", "silu")
    normal = finite & ((np.abs(want) >= (1e-35 if underflows else 0)) | (want == 0))
    if name.startswith("gelu"):
        # The lower tail keeps its digits (PyTorch's formula cancels to 0 there): relative
        # error 1.5e-6 all the way down for the exact GELU (x^2 taken exactly in its Gaussian),
        # 4e-6 down to -5.6 for the tanh form and 3% below (values under 1e-7).
        tail = normal & (x < -1) & (np.abs(want) >= 1e-30)  # above subnormal products
        rel = np.abs(got[tail] / want[tail] - 1)
        if name == "gelu":
            assert np.max(rel) < 1.5e-6
        else:
            assert np.max(rel[x[tail] > -5.6]) < 4e-6 and np.max(rel) < 0.03
        deep = normal & (x < -1) & ~tail
        assert np.max(np.abs(got[deep]), initial=0) <= 1e-29
        normal &= ~(tail | deep)
    err = ulps(got[normal], want[normal])
    worst = int(np.argmax(err))
    assert err[worst] <= bound, f"{name}({x[normal][worst]!r}) = {got[normal][worst]!r}, want {want[normal][worst]!r}: {err[worst]:.1f} ulp"
    # Same non-finite pattern as float64 (overflow to inf, NaN only from NaN).
    nonfinite = ~np.isfinite(want)
    assert np.array_equal(np.isnan(got[nonfinite]), np.isnan(want[nonfinite]))
    assert np.array_equal(got[nonfinite & ~np.isnan(want)], want[nonfinite & ~np.isnan(want)].astype(np.float32))


def test_nan_passes_and_saturations_are_exact():
    x = fg.tensor(np.array([np.nan, -np.inf, np.inf, -200.0, 200.0], np.float32))
    for op in (lambda t: t.exp(), lambda t: t.tanh(), lambda t: t.sigmoid(), fg.erf, F.gelu, F.silu):
        assert np.isnan(op(x).numpy()[0])
    assert list(x.exp().numpy()[1:3]) == [0.0, np.inf]
    assert list(x.sigmoid().numpy()[1:]) == [0.0, 1.0, 0.0, 1.0]
    assert list(fg.erf(x).numpy()[1:]) == [-1.0, 1.0, -1.0, 1.0]
    assert list(x.tanh().numpy()[1:]) == [-1.0, 1.0, -1.0, 1.0]
    # Exact GELU is x Phi(x): inf at +inf in every dtype and length (PyTorch's float32 vectorised
    # path gives NaN there on an AVX-512 CPU from 2 elements up, inf for one element or float64;
    # the differential harness leaves that input out). -inf gives NaN (-inf * 0), as PyTorch.
    for dt in (np.float32, np.float64):
        g = F.gelu(fg.tensor(np.array([np.inf, -np.inf, 0.0], dt))).numpy()
        assert g[0] == np.inf and np.isnan(g[1]) and g[2] == 0.0


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_gradient_matches_float64_gradcheck_values(approximate):
    x = np.linspace(-6, 6, 1001)
    for dtype in (np.float32, np.float64):
        t = fg.tensor(x.astype(dtype), requires_grad=True)
        F.gelu(t, approximate=approximate).sum().backward()
        h = 1e-6
        xp, xm = fg.tensor(x + h), fg.tensor(x - h)
        numeric = (F.gelu(xp, approximate=approximate).numpy() - F.gelu(xm, approximate=approximate).numpy()) / (2 * h)
        tol = 1e-5 if dtype == np.float32 else 1e-8
        np.testing.assert_allclose(t.grad.numpy(), numeric, rtol=tol, atol=tol)


def test_expanded_operand_takes_the_single_value_path():
    # The gradient of a sum is one value expanded to the input's shape (all strides 0).
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    b = fg.tensor(np.float32(2.5)).expand(3, 4)
    np.testing.assert_array_equal((fg.tensor(a) * b).numpy(), a * 2.5)
    np.testing.assert_array_equal((b - fg.tensor(a)).numpy(), 2.5 - a)
    empty = fg.zeros(1).expand(0, 4)
    assert (fg.zeros(0, 4) + empty).shape == (0, 4)


@pytest.mark.parametrize("width", [1, 7, 8, 9, 33, 95, 1000])
def test_softmax_rows_and_columns_against_float64(width):
    rng = np.random.default_rng(width)
    x = (rng.standard_normal((7, width)) * 10).astype(np.float32)
    x[1, 0] = np.nan  # a NaN row stays NaN
    x[5, width // 2 + 1 if width > 2 else 0] = np.nan  # in whichever lane or the tail past them
    x[6, -1] = -np.inf  # a -inf entry is a zero probability
    x[2, :] = -np.inf  # an all -inf row is NaN, as PyTorch
    x[3, -1] = np.inf  # +inf makes x - max NaN: the row is NaN
    x[4, 0] = 80.0  # a large entry: the max is subtracted before exp
    x64 = x.astype(np.float64)
    with np.errstate(all="ignore"):
        m = np.max(x64, axis=1, keepdims=True)
        want_log = x64 - m - np.log(np.sum(np.exp(x64 - m), axis=1, keepdims=True))
    for log, want in ((False, np.exp(want_log)), (True, want_log)):
        t = fg.tensor(x)
        got = (fg.nn.functional.log_softmax(t, -1) if log else t.softmax(-1)).numpy()
        assert np.array_equal(np.isnan(got), np.isnan(want)), (log, width)
        ok = ~np.isnan(want)
        # x - max rounds in float32 before exp: relative error up to |x - max| * 6e-8.
        np.testing.assert_allclose(got[ok], want[ok], rtol=1e-5, atol=1e-5 if log else 1e-30)
        # The same rows as columns (softmax over dim 0 and a middle dim): a contiguous result.
        for dim, layout in ((0, x.T.copy()), (1, np.ascontiguousarray(x.T[None, :, :].repeat(2, 0)))):
            t = fg.tensor(layout)
            out = fg.nn.functional.log_softmax(t, dim) if log else t.softmax(dim)
            assert out.is_contiguous()
            cols = out.numpy() if dim == 0 else out.numpy()[1]
            np.testing.assert_array_equal(np.isnan(cols.T), np.isnan(want))
            np.testing.assert_allclose(cols.T[ok], want[ok], rtol=1e-5, atol=1e-5 if log else 1e-30)


_LAYER_NORM_THREADS = """
import hashlib, numpy as np, ferrograd as fg
rng = np.random.default_rng(0)
ln = fg.nn.LayerNorm(96)
x = fg.tensor(rng.standard_normal((300, 7, 96)).astype(np.float32), requires_grad=True)
y = ln(x)
(y * fg.tensor(rng.standard_normal(y.shape).astype(np.float32))).sum().backward()
h = hashlib.sha256()
for t in (y.detach(), x.grad, ln.weight.grad, ln.bias.grad):
    h.update(t.numpy().tobytes())
print(h.hexdigest())
"""


def test_layer_norm_bits_do_not_depend_on_the_thread_count():
    # Rows run in tasks of a fixed size and the weight gradient's partial sums are added in
    # task order, so 1 and 3 threads give the same bits (forward and every gradient).
    import os
    import subprocess
    import sys

    digests = set()
    for threads in ("1", "3"):
        env = dict(os.environ, RAYON_NUM_THREADS=threads)
        run = subprocess.run([sys.executable, "-c", _LAYER_NORM_THREADS], env=env, capture_output=True, text=True,
                             check=True, timeout=120)
        digests.add(run.stdout.strip())
    assert len(digests) == 1
