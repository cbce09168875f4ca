"""The AVX-512 and AVX2 copies of the vectorised kernels give the same bits (rust/simd.rs), but
for exact GELU's forward, whose AVX-512 kernel reads a table (rust/vmath_gelu.rs).

The widest copy the CPU runs is picked once per process, so each is run in a child process:
once as picked, once with FG_AVX512=0 (AVX2). On a CPU without AVX-512 both children run the
AVX2 copy and the comparison holds trivially; on one with it, every op below runs both copies.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np

CHILD = r"""
import sys
import numpy as np
import ferrograd as fg
F = fg.nn.functional
rng = np.random.default_rng(1)
# Values across the transcendental forms' ranges, NaN, infinities and a subnormal among them.
a = (rng.standard_normal((37, 1029)) * 4).astype(np.float32)
a.flat[:6] = [np.nan, np.inf, -np.inf, 1e-40, -100.0, 90.0]
x = fg.tensor(a, requires_grad=True)
outs = []
# Exact GELU apart: its forward on AVX-512 reads Phi from a table (see the test).
y = F.gelu(x)
(y * y).nan_to_num().sum().backward()
gelu = {"gelu_x": a, "gelu": y.detach().numpy(), "gelu_grad": x.grad.numpy()}
# float16 and bfloat16 compute in float32, so their GELU takes the table too.
for name in ("float16", "bfloat16"):
    gelu["gelu_" + name] = F.gelu(fg.tensor(a).to(getattr(fg, name))).float().numpy()
ops = [lambda t: t.exp(), lambda t: t.sigmoid(), F.silu, lambda t: F.gelu(t, approximate="tanh"),
       lambda t: t.tanh(), lambda t: t.erf(), lambda t: t.softmax(-1), lambda t: t.log_softmax(-1),
       lambda t: F.layer_norm(t, (1029,)), lambda t: t.sum(-1), lambda t: t.amax(-1), F.mish, F.softplus,
       F.elu, F.selu, F.hardswish, F.hardsigmoid, lambda t: t * 3 + t.exp() / 7, lambda t: t.clamp(-1, 1), lambda t: t.maximum(t.flip(0)),
       lambda t: F.rms_norm(t, (1029,)), lambda t: F.group_norm(t.reshape(37, 21, 49), 7),
       lambda t: F.batch_norm(t.reshape(37, 21, 49), None, None, training=True),
       lambda t: F.max_pool2d(t.reshape(1, 37, 21, 49), 3, 2, 1), lambda t: t.atan2(t.flip(0)), lambda t: fg.atan2(t, t.flip(1) * 1e-30)]
for f in ops:
    y = f(x)
    x.grad = None
    (y * y).nan_to_num().sum().backward()
    outs += [y.detach().numpy(), x.grad.numpy()]
m = fg.nn.LSTM(64, 128, 2)
o = m(fg.tensor(rng.standard_normal((9, 40, 64)).astype(np.float32)))[0]
o.square().sum().backward()
outs += [o.detach().numpy()] + [p.grad.numpy() for p in m.parameters()]
# The product kernels' 6 x 16 (AVX2) and 12 x 16 (AVX-512) blocks: a direct convolution (4 x 4
# maps), Winograd (16 x 16, 64 channels), im2col + the packed product (stride 2), each with both
# gradients, a 3-D direct one with a row count that is not a multiple of either block, and a
# direct one wider than a pass of channels.
for shape, conv in [((5, 48, 4, 4), fg.nn.Conv2d(48, 40, 3, padding=1)), ((3, 64, 16, 16), fg.nn.Conv2d(64, 64, 3, padding=1)),
                    ((3, 24, 17, 15), fg.nn.Conv2d(24, 36, 3, stride=2, padding=1)), ((7, 16, 3, 3, 3), fg.nn.Conv3d(16, 20, 3, padding=1)),
                    # past 256 input channels the direct kernel adds a second pass into its output
                    ((3, 300, 2, 3), fg.nn.Conv2d(300, 270, 3, padding=1)),
                    # depthwise: wide runs (stride 1) and rows (stride 2), with their 16-lane sums
                    ((3, 8, 19, 23), fg.nn.Conv2d(8, 16, 3, padding=1, groups=8)),
                    ((3, 8, 19, 23), fg.nn.Conv2d(8, 8, 5, stride=2, padding=2, groups=8)),
                    ((3, 8, 19, 23), fg.nn.Conv2d(8, 6, 3, padding=1, groups=2))]:
    xc = fg.tensor(rng.standard_normal(shape).astype(np.float32), requires_grad=True)
    yc = conv(xc)
    yc.square().sum().backward()
    outs += [yc.detach().numpy(), xc.grad.numpy(), conv.weight.grad.numpy()]
q = fg.tensor(rng.standard_normal((2, 4, 200, 32)).astype(np.float32))
outs.append(F.scaled_dot_product_attention(q, q * 0.5, q + 1, is_causal=True).numpy())
np.savez(sys.argv[1], *outs, **gelu)
"""


def _run(path, avx512: bool):
    env = dict(os.environ)
    env.pop("FG_AVX512", None)
    if not avx512:
        env["FG_AVX512"] = "0"
    subprocess.run([sys.executable, "-c", CHILD, str(path)], check=True, env=env, timeout=300)
    return np.load(path)


def test_avx512_and_avx2_copies_give_the_same_bits_but_for_gelu(tmp_path):
    wide, avx2 = _run(tmp_path / "wide.npz", True), _run(tmp_path / "avx2.npz", False)
    assert wide.files == avx2.files and len(wide.files) > 40
    differ = [k for k in wide.files if k.startswith("arr_") and not np.array_equal(wide[k], avx2[k], equal_nan=True)]
    assert not differ, f"outputs {differ} differ between the AVX-512 and the AVX2 copies"
    # The one exception: exact GELU's forward on AVX-512 takes Phi above -7.87 from a table of
    # polynomials (rust/vmath_gelu.rs), within 3.5 ulp where the AVX2 form is within 12; the
    # same bits outside, where both compute the form. Its gradient carries the difference.
    x = wide["gelu_x"]
    table = x >= -7.87
    for k in ("gelu", "gelu_grad"):
        np.testing.assert_allclose(wide[k][table], avx2[k][table], rtol=1e-6, err_msg=k)
        assert np.array_equal(wide[k][~table], avx2[k][~table], equal_nan=True), k
    # Rounded to a half type, the float32 results differ by at most one of its ulps.
    for k, ulp in (("gelu_float16", 2.0 ** -10), ("gelu_bfloat16", 2.0 ** -7)):
        w, v = wide[k], avx2[k]
        finite = np.isfinite(w)
        assert np.array_equal(w[~finite], v[~finite], equal_nan=True), k
        scale = np.maximum(np.abs(v[finite]), 2.0 ** -14)
        assert np.all(np.abs(w[finite] - v[finite]) <= ulp * scale), k
