"""numpy references for pooling over any number of spatial axes (the last `rank` axes of the
array), written from PyTorch's definitions window by window. Used by tests/test_pool_nd.py and
tests/op_rows_pool.py."""

import itertools
import math

import numpy as np


def pool_out(size, k, p, s, d, ceil):
    """PyTorch's pooling_output_shape."""
    out = (size + 2 * p - d * (k - 1) - 1 + (s - 1 if ceil else 0)) // s + 1
    if ceil and (out - 1) * s >= size + p:
        out -= 1
    return out


def np_max_pool(x, k, s, p, d, ceil=False):
    """Window by window, taps in row-major order: a NaN wins over any number (a later NaN over
    an earlier one), the first of equal maxima wins, and a window's index starts at its first
    tap past the leading padding (PyTorch's while-loop start), flat within each input volume.
    Returns (values, indices)."""
    rank = len(k)
    lead, size = x.shape[:-rank], x.shape[-rank:]
    out = [pool_out(size[i], k[i], p[i], s[i], d[i], ceil) for i in range(rank)]
    flat = x.reshape((-1,) + size)
    vals, idx = np.empty((flat.shape[0],) + tuple(out)), np.empty((flat.shape[0],) + tuple(out), dtype=np.int64)
    for o in itertools.product(*map(range, out)):
        starts = []
        for i in range(rank):
            st = o[i] * s[i] - p[i]
            while st < 0:
                st += d[i]
            starts.append(st)
        best, at = np.full(flat.shape[0], -np.inf), np.full(flat.shape[0], _flat_index(starts, size))
        for taps in itertools.product(*map(range, k)):
            c = [o[i] * s[i] - p[i] + taps[i] * d[i] for i in range(rank)]
            if all(0 <= c[i] < size[i] for i in range(rank)):
                v = flat[(slice(None),) + tuple(c)]
                take = (v > best) | np.isnan(v)
                best, at = np.where(take, v, best), np.where(take, _flat_index(c, size), at)
        vals[(slice(None),) + o], idx[(slice(None),) + o] = best, at
    return vals.reshape(lead + tuple(out)), idx.reshape(lead + tuple(out))


def _flat_index(c, size):
    f = 0
    for ci, si in zip(c, size):
        f = f * si + ci
    return f


def np_avg_pool(x, k, s, p, ceil=False, count_include_pad=True, divisor=None):
    rank = len(k)
    lead, size = x.shape[:-rank], x.shape[-rank:]
    out = [pool_out(size[i], k[i], p[i], s[i], 1, ceil) for i in range(rank)]
    res = np.zeros(lead + tuple(out))
    for o in itertools.product(*map(range, out)):
        lo = [o[i] * s[i] - p[i] for i in range(rank)]
        hi = [min(lo[i] + k[i], size[i] + p[i]) for i in range(rank)]
        padded = math.prod(hi[i] - lo[i] for i in range(rank))
        lo, hi = [max(v, 0) for v in lo], [min(hi[i], size[i]) for i in range(rank)]
        if any(a >= b for a, b in zip(lo, hi)):
            continue
        box = x[(...,) + tuple(slice(a, b) for a, b in zip(lo, hi))]
        inside = math.prod(b - a for a, b in zip(lo, hi))
        res[(...,) + o] = box.sum(axis=tuple(range(-rank, 0))) / (divisor or (padded if count_include_pad else inside))
    return res


def bins(i, size, out):
    return math.floor(i * size / out), math.ceil((i + 1) * size / out)


def np_adaptive(x, out, how):
    """Adaptive pooling: "avg" -> values; "max" -> (values, flat indices) with max_pool's rules."""
    rank = len(out)
    lead, size = x.shape[:-rank], x.shape[-rank:]
    flat = x.reshape((-1,) + size)
    vals, idx = np.zeros((flat.shape[0],) + tuple(out)), np.zeros((flat.shape[0],) + tuple(out), dtype=np.int64)
    for o in itertools.product(*map(range, out)):
        rng_ = [bins(o[i], size[i], out[i]) for i in range(rank)]
        box = flat[(slice(None),) + tuple(slice(a, b) for a, b in rng_)]
        if how == "avg":
            vals[(slice(None),) + o] = box.reshape(flat.shape[0], -1).mean(axis=1)
            continue
        best = np.full(flat.shape[0], -np.inf)
        at = np.full(flat.shape[0], _flat_index([a for a, _ in rng_], size))
        for c in itertools.product(*(range(a, b) for a, b in rng_)):
            v = flat[(slice(None),) + c]
            take = (v > best) | np.isnan(v)
            best, at = np.where(take, v, best), np.where(take, _flat_index(c, size), at)
        vals[(slice(None),) + o], idx[(slice(None),) + o] = best, at
    vals, idx = vals.reshape(lead + tuple(out)), idx.reshape(lead + tuple(out))
    return vals if how == "avg" else (vals, idx)


def np_unpool(x, idx, out_size):
    rank = len(out_size)
    lead = x.shape[:-rank]
    res = np.zeros((int(np.prod(lead)), math.prod(out_size)))
    for r, (xv, iv) in enumerate(zip(x.reshape(len(res), -1), idx.reshape(len(res), -1))):
        for v, i in zip(xv, iv):
            res[r, i] = v
    return res.reshape(lead + tuple(out_size))


def np_lp_pool(x, p, k, s, ceil=False):
    """PyTorch's formula: avg_pool(x^p) * prod(kernel), then sign(v) * relu(|v|), ^(1/p)."""
    v = np_avg_pool(np.power(x, p), k, s, (0,) * len(k), ceil) * math.prod(k)
    with np.errstate(invalid="ignore"):  # a negative sum to a fractional power: NaN, as in PyTorch
        return np.power(np.sign(v) * np.maximum(np.abs(v), 0), 1.0 / p)
