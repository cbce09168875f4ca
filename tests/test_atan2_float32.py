"""float32 atan2 through the vectorised form (rust/vmath_atan.rs) against float64 numpy: within
1.5 ulp over random magnitudes of both signs, subnormals and near-equal pairs included, and the
IEEE special cases (signed zeros, infinities, NaN) exactly as numpy gives them."""

import ferrograd as fg
import numpy as np

rng = np.random.default_rng(3)


def ulps(got, want):
    w = want.astype(np.float32)
    ulp = np.spacing(np.abs(w)).astype(np.float64)
    return np.abs(got.astype(np.float64) - want) / np.maximum(ulp, np.float64(2.0 ** -149))


def test_within_one_and_a_half_ulp():
    y = (rng.standard_normal(200_000) * 10.0 ** rng.uniform(-44, 38, 200_000)).astype(np.float32)
    x = (rng.standard_normal(200_000) * 10.0 ** rng.uniform(-44, 38, 200_000)).astype(np.float32)
    x[::3] = (y[::3] * np.float32(1.0001)) * np.where(rng.random(x[::3].size) < 0.5, -1, 1).astype(np.float32)
    ok = np.isfinite(x) & np.isfinite(y)
    got = fg.atan2(fg.tensor(y), fg.tensor(x)).numpy()
    err = ulps(got[ok], np.arctan2(y[ok].astype(np.float64), x[ok].astype(np.float64)))
    assert err.max() <= 1.5, (err.max(), y[ok][err.argmax()], x[ok][err.argmax()])


def test_special_cases_match_numpy():
    v = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1.0, -1.0, 1e-45, -3e38], dtype=np.float32)
    y, x = np.meshgrid(v, v, indexing="ij")
    got = fg.atan2(fg.tensor(y), fg.tensor(x)).numpy()
    want = np.arctan2(y, x)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    keep = ~np.isnan(want)
    np.testing.assert_array_equal(np.signbit(got[keep]), np.signbit(want[keep]))
    assert ulps(got[keep], want[keep].astype(np.float64)).max() <= 1.0
