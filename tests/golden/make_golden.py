"""Regenerates tests/golden/torch_golden.json from PyTorch (needs torch; CI does not run this).

    cd /work/main && PYTHONPATH=python /tmp/torchvenv/bin/python tests/golden/make_golden.py

Everything is float64. Inputs come from a fixed numpy seed, are rounded to a few decimals (short
JSON, still exact doubles) and are stored next to PyTorch's results, so the test that reads the
file (tests/test_torch_golden.py) needs neither torch nor this script. Gradients are those of
sum(output * W) for a stored random W of the output's shape.

Op and model names here are a small shared vocabulary: the test maps each `op` name to the
ferrograd call and builds models from the same nested specs.
"""

from __future__ import annotations

import json
import os

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

SEED = 20240607
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "torch_golden.json")
R = np.random.default_rng(SEED)


def arr(shape, kind="u"):
    """A rounded random float64 array: u uniform [-2, 2); pos [0.5, 2); nz |x| in [0.2, 2);
    distinct: a permuted grid (no ties, for max/min); w: gradient weights; p [0.05, 0.95);
    big [-1e4, 1e4); sat |x| in [90, 110); edge from {0, 1, 0.25, 0.75}; zero; 01 [0, 1); bin 0 or 1."""
    n = int(np.prod(shape))
    if kind == "u":
        a = R.uniform(-2, 2, shape)
    elif kind == "pos":
        a = R.uniform(0.5, 2, shape)
    elif kind == "nz":
        a = R.uniform(0.2, 2, shape) * R.choice([-1.0, 1.0], shape)
    elif kind == "distinct":
        a = R.permutation(np.linspace(-2, 2, n)).reshape(shape)
    elif kind == "w":
        return np.round(R.uniform(-1, 1, shape), 3)
    elif kind == "p":  # probabilities for binary_cross_entropy
        a = R.uniform(0.05, 0.95, shape)
    elif kind == "big":  # logits far beyond exp's range
        a = R.uniform(-1e4, 1e4, shape)
    elif kind == "sat":  # saturated logits, |x| in [90, 110)
        a = R.uniform(90, 110, shape) * R.choice([-1.0, 1.0], shape)
    elif kind == "edge":  # probabilities exactly 0 or 1, and some inside
        return R.choice([0.0, 1.0, 0.25, 0.75], shape)
    elif kind == "01":
        a = R.uniform(0, 1, shape)
    elif kind == "bin":
        return R.integers(0, 2, shape).astype(np.float64)
    elif kind == "zero":
        return np.zeros(shape)
    else:
        raise ValueError(kind)
    return np.round(a, 4)


def L(t):
    """Nested lists of a tensor or array (a float for 0-d)."""
    if isinstance(t, torch.Tensor):
        t = t.detach().numpy()
    return np.asarray(t).tolist()


def T(a, grad=True):
    return torch.tensor(np.asarray(a), dtype=torch.float64, requires_grad=grad)


def _dims(kw):
    return {k: tuple(v) if isinstance(v, list) else v for k, v in kw.items()}


# name -> torch implementation; every op takes its input tensors positionally and the JSON kwargs.
OPS = {
    "add": lambda a, b: a + b,
    "add_alpha": lambda a, b, alpha: torch.add(a, b, alpha=alpha),
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
    "pow": lambda a, b: a**b,
    "pow_scalar": lambda a, e: a**e,
    "rsub_scalar": lambda a, s: s - a,
    "mul_scalar": lambda a, s: a * s,
    "rdiv_scalar": lambda a, s: s / a,
    "maximum": torch.maximum,
    "minimum": torch.minimum,
    "matmul": torch.matmul,
    "mm": torch.mm,
    "exp": torch.exp, "log": torch.log, "sqrt": torch.sqrt, "abs": torch.abs, "neg": torch.neg,
    "sin": torch.sin, "cos": torch.cos, "tanh": torch.tanh, "sigmoid": torch.sigmoid, "relu": torch.relu,
    "clamp": lambda a, **kw: a.clamp(**kw),
    "sum": lambda a, **kw: a.sum(**_dims(kw)),
    "mean": lambda a, **kw: a.mean(**_dims(kw)),
    "max": lambda a, **kw: a.max(**kw),
    "min": lambda a, **kw: a.min(**kw),
    "argmax": lambda a, **kw: a.argmax(**kw),
    "var": lambda a, **kw: a.var(**_dims(kw)),
    "std": lambda a, **kw: a.std(**_dims(kw)),
    "logsumexp": lambda a, **kw: a.logsumexp(**_dims(kw)),
    "softmax": lambda a, dim: F.softmax(a, dim),
    "log_softmax": lambda a, dim: F.log_softmax(a, dim),
    "gelu": lambda a, approximate: F.gelu(a, approximate=approximate),
    "silu": F.silu,
    "leaky_relu": lambda a, negative_slope: F.leaky_relu(a, negative_slope),
    "linear": F.linear,
    "permute": lambda a, dims: a.permute(*dims),
    "transpose": lambda a, d0, d1: a.transpose(d0, d1),
    "reshape": lambda a, shape: a.reshape(*shape),
    "expand": lambda a, shape: a.expand(*shape),
    "narrow": lambda a, dim, start, length: a.narrow(dim, start, length),
    "cat": lambda *xs, dim: torch.cat(xs, dim),
    "stack": lambda *xs, dim: torch.stack(xs, dim),
    "where_pos": lambda a, b: torch.where(a > 0, a, b),
    "index_slices": lambda a: a[1:, ::2],
    "index_int": lambda a: a[:, 1],
}

# (id, op, [(shape, kind), ...], kwargs)
CASES = [
    ("add_bcast", "add", [((2, 3, 4), "u"), ((3, 1), "u")], {}),
    ("add_bcast_both", "add", [((4, 1), "u"), ((1, 3), "u")], {}),
    ("add_alpha", "add_alpha", [((3, 4), "u"), ((4,), "u")], {"alpha": 2.5}),
    ("sub_bcast", "sub", [((2, 1, 4), "u"), ((3, 1), "u")], {}),
    ("mul_bcast", "mul", [((2, 3, 1), "u"), ((1, 4), "u")], {}),
    ("mul_0d", "mul", [((3, 2), "u"), ((), "u")], {}),
    ("div_bcast", "div", [((3, 4), "u"), ((4,), "nz")], {}),
    ("div_bcast_num", "div", [((3,), "u"), ((2, 3), "nz")], {}),
    ("pow_tensor", "pow", [((3, 4), "pos"), ((4,), "u")], {}),
    ("pow_scalar", "pow_scalar", [((3, 4), "pos")], {"e": 2.5}),
    ("pow_square", "pow_scalar", [((5,), "u")], {"e": 2.0}),
    ("rsub_scalar", "rsub_scalar", [((3, 2), "u")], {"s": 1.5}),
    ("mul_scalar", "mul_scalar", [((3, 2), "u")], {"s": -0.75}),
    ("rdiv_scalar", "rdiv_scalar", [((3, 2), "nz")], {"s": 3.0}),
    ("maximum_bcast", "maximum", [((3, 4), "distinct"), ((4,), "distinct")], {}),
    ("minimum_bcast", "minimum", [((2, 3), "distinct"), ((3,), "distinct")], {}),
    ("matmul_2d", "matmul", [((3, 4), "u"), ((4, 2), "u")], {}),
    ("matmul_batched", "matmul", [((2, 3, 4), "u"), ((2, 4, 2), "u")], {}),
    ("matmul_batched_bcast", "matmul", [((2, 1, 3, 4), "u"), ((3, 4, 2), "u")], {}),
    ("matmul_batched_2d", "matmul", [((2, 3, 4), "u"), ((4, 5), "u")], {}),
    ("matmul_vec_mat", "matmul", [((4,), "u"), ((4, 3), "u")], {}),
    ("matmul_mat_vec", "matmul", [((3, 4), "u"), ((4,), "u")], {}),
    ("matmul_batched_vec", "matmul", [((2, 3, 4), "u"), ((4,), "u")], {}),
    ("matmul_dot", "matmul", [((5,), "u"), ((5,), "u")], {}),
    ("mm", "mm", [((2, 3), "u"), ((3, 4), "u")], {}),
    ("exp", "exp", [((3, 4), "u")], {}),
    ("log", "log", [((3, 4), "pos")], {}),
    ("sqrt", "sqrt", [((3, 4), "pos")], {}),
    ("abs", "abs", [((3, 4), "nz")], {}),
    ("neg", "neg", [((3, 4), "u")], {}),
    ("sin", "sin", [((3, 4), "u")], {}),
    ("cos", "cos", [((3, 4), "u")], {}),
    ("tanh", "tanh", [((3, 4), "u")], {}),
    ("sigmoid", "sigmoid", [((3, 4), "u")], {}),
    ("relu", "relu", [((3, 4), "nz")], {}),
    ("clamp", "clamp", [((4, 5), "distinct")], {"min": -0.95, "max": 1.05}),
    ("clamp_min", "clamp", [((4, 5), "distinct")], {"min": 0.05}),
    ("sum_all", "sum", [((3, 4), "u")], {}),
    ("sum_dim", "sum", [((2, 3, 4), "u")], {"dim": 1}),
    ("sum_dims_keep", "sum", [((2, 3, 4), "u")], {"dim": [0, 2], "keepdim": True}),
    ("mean_all", "mean", [((3, 4), "u")], {}),
    ("mean_dim_neg", "mean", [((2, 3, 4), "u")], {"dim": -1}),
    ("mean_dims_keep", "mean", [((2, 3, 4), "u")], {"dim": [0, 1], "keepdim": True}),
    ("max_dim", "max", [((3, 5), "distinct")], {"dim": 1}),
    ("max_dim0_keep", "max", [((2, 4, 3), "distinct")], {"dim": 0, "keepdim": True}),
    ("min_dim", "min", [((3, 5), "distinct")], {"dim": -1}),
    ("max_all", "max", [((3, 5), "distinct")], {}),
    ("min_all", "min", [((2, 3, 2), "distinct")], {}),
    ("argmax_dim", "argmax", [((4, 5), "distinct")], {"dim": 1}),
    ("argmax_all", "argmax", [((4, 5), "distinct")], {}),
    ("var_all", "var", [((3, 5), "u")], {}),
    ("var_dim_c0", "var", [((3, 5), "u")], {"dim": 1, "correction": 0}),
    ("var_dim_c2_keep", "var", [((4, 5), "u")], {"dim": 0, "correction": 2, "keepdim": True}),
    ("var_dims_unbiased_false", "var", [((2, 3, 4), "u")], {"dim": [0, 2], "unbiased": False}),
    ("var_dims_c1", "var", [((2, 3, 4), "u")], {"dim": [1, 2], "correction": 1}),
    ("std_all", "std", [((3, 5), "u")], {}),
    ("std_dim_c0", "std", [((3, 5), "u")], {"dim": 1, "correction": 0}),
    ("std_dim_c2_keep", "std", [((4, 5), "u")], {"dim": -1, "correction": 2, "keepdim": True}),
    ("std_dims", "std", [((2, 3, 4), "u")], {"dim": [0, 2]}),
    ("logsumexp_dim", "logsumexp", [((3, 5), "u")], {"dim": 1}),
    ("logsumexp_dim0_keep", "logsumexp", [((3, 5), "u")], {"dim": 0, "keepdim": True}),
    ("logsumexp_dims", "logsumexp", [((2, 3, 4), "u")], {"dim": [0, 2]}),
    ("logsumexp_large", "logsumexp", [((2, 3), "u")], {"dim": 1, "offset": 800.0}),
    ("softmax_last", "softmax", [((3, 5), "u")], {"dim": -1}),
    ("softmax_dim0", "softmax", [((2, 3, 4), "u")], {"dim": 0}),
    ("softmax_mid", "softmax", [((2, 3, 4), "u")], {"dim": 1}),
    ("log_softmax_last", "log_softmax", [((3, 5), "u")], {"dim": -1}),
    ("log_softmax_mid", "log_softmax", [((2, 3, 4), "u")], {"dim": 1}),
    ("gelu_exact", "gelu", [((3, 5), "u")], {"approximate": "none"}),
    ("gelu_tanh", "gelu", [((3, 5), "u")], {"approximate": "tanh"}),
    ("silu", "silu", [((3, 5), "u")], {}),
    ("leaky_relu_default", "leaky_relu", [((3, 5), "nz")], {"negative_slope": 0.01}),
    ("leaky_relu_0p2", "leaky_relu", [((3, 5), "nz")], {"negative_slope": 0.2}),
    ("linear_bias", "linear", [((5, 4), "u"), ((3, 4), "u"), ((3,), "u")], {}),
    ("linear_batched_nobias", "linear", [((2, 3, 4), "u"), ((2, 4), "u")], {}),
    ("permute", "permute", [((2, 3, 4), "u")], {"dims": [2, 0, 1]}),
    ("transpose", "transpose", [((2, 3, 4), "u")], {"d0": 0, "d1": 2}),
    ("reshape", "reshape", [((2, 3, 4), "u")], {"shape": [4, -1]}),
    ("expand", "expand", [((3, 1), "u")], {"shape": [2, 3, 4]}),
    ("narrow", "narrow", [((4, 5), "u")], {"dim": 1, "start": 1, "length": 3}),
    ("cat_dim1", "cat", [((2, 3), "u"), ((2, 2), "u")], {"dim": 1}),
    ("stack_dim0", "stack", [((2, 3), "u"), ((2, 3), "u"), ((2, 3), "u")], {"dim": 0}),
    ("stack_last", "stack", [((2, 3), "u"), ((2, 3), "u")], {"dim": -1}),
    ("where_pos", "where_pos", [((3, 4), "nz"), ((3, 4), "u")], {}),
    ("index_slices", "index_slices", [((4, 5), "u")], {}),
    ("index_int", "index_int", [((3, 4), "u")], {}),
]


def op_case(cid, op, specs, kwargs):
    xs = [arr(s, k) for s, k in specs]
    kw = dict(kwargs)
    if "offset" in kw:  # a stability case: add a large constant to the input itself
        xs[0] = xs[0] + kw.pop("offset")
    ts = [T(x) for x in xs]
    out = OPS[op](*ts, **kw)
    rec = {"id": cid, "op": op, "kwargs": kw, "inputs": [L(x) for x in xs]}
    if isinstance(out, tuple):  # values, indices
        rec["indices"] = L(out[1])
        out = out[0]
    rec["output"] = L(out)
    rec["output_dtype"] = str(out.dtype).replace("torch.", "")
    if out.is_floating_point():
        w = arr(tuple(out.shape), "w")
        (out * T(w, False)).sum().backward()
        rec["w"] = L(w)
        rec["grads"] = [L(t.grad) for t in ts]
    return rec


def linear_case(cid, fin, fout, bias, xshape):
    m = nn.Linear(fin, fout, bias=bias, dtype=torch.float64)
    wv, bv = arr((fout, fin)), arr((fout,)) if bias else None
    with torch.no_grad():
        m.weight.copy_(torch.from_numpy(wv))
        if bias:
            m.bias.copy_(torch.from_numpy(bv))
    x = arr(xshape)
    xt = T(x)
    out = m(xt)
    w = arr(tuple(out.shape), "w")
    (out * T(w, False)).sum().backward()
    rec = {"id": cid, "in_features": fin, "out_features": fout, "bias": bias, "weight": L(wv), "x": L(x),
           "w": L(w), "output": L(out), "grad_x": L(xt.grad), "grad_weight": L(m.weight.grad)}
    if bias:
        rec.update(bias_value=L(bv), grad_bias=L(m.bias.grad))
    return rec


def bn_case(cls_name, shape, momentum, affine, track, modes):
    c = shape[1]
    m = getattr(nn, cls_name)(c, momentum=momentum, affine=affine, track_running_stats=track, dtype=torch.float64)
    rec = {"id": f"{cls_name}_{'x'.join(map(str, shape))}_m{momentum}_a{int(affine)}_t{int(track)}",
           "cls": cls_name, "num_features": c, "momentum": momentum, "affine": affine, "track_running_stats": track,
           "eps": m.eps, "steps": []}
    if affine:
        wv, bv = arr((c,), "pos"), arr((c,))
        with torch.no_grad():
            m.weight.copy_(torch.from_numpy(wv))
            m.bias.copy_(torch.from_numpy(bv))
        rec.update(weight=L(wv), bias=L(bv))
    for mode in modes:
        m.train(mode == "train")
        x = arr(shape)
        xt = T(x)
        out = m(xt)
        w = arr(shape, "w")
        if affine:
            m.weight.grad = m.bias.grad = None
        (out * T(w, False)).sum().backward()
        step = {"mode": mode, "x": L(x), "w": L(w), "output": L(out), "grad_x": L(xt.grad)}
        if affine:
            step.update(grad_weight=L(m.weight.grad), grad_bias=L(m.bias.grad))
        if track:
            step.update(running_mean=L(m.running_mean), running_var=L(m.running_var),
                        num_batches_tracked=int(m.num_batches_tracked))
        rec["steps"].append(step)
    return rec


# ---- losses, layer_norm, group_norm, embedding ---------------------------------------------

def target(spec):
    """("cls", shape, C[, ignore]): int64 classes in [0, C), every third one `ignore` if given;
    ("prob", shape, dim): positive, summing to 1 along dim; else an arr() spec (shape, kind)."""
    if spec[0] == "cls":
        t = R.integers(0, spec[2], spec[1])
        if len(spec) > 3:
            t.reshape(-1)[::3] = spec[3]
        return t
    if spec[0] == "prob":
        p = R.uniform(0.1, 1, spec[1])
        return np.round(p / p.sum(spec[2], keepdims=True), 6)
    return arr(*spec)


W4, NONE, SUM = {"weight": ((4,), "pos")}, {"reduction": "none"}, {"reduction": "sum"}
CE, BCE, BCEL = "cross_entropy", "binary_cross_entropy", "binary_cross_entropy_with_logits"
X54, X64, C5, C6I = ((5, 4), "u"), ((6, 4), "u"), ("cls", (5,), 4), ("cls", (6,), 4, -100)
X34, P34, Y01, YBIN = ((3, 4), "u"), ((3, 4), "p"), ((3, 4), "01"), ((3, 4), "bin")
LS2, PW4, W31 = {"label_smoothing": 0.2}, {"pos_weight": ((4,), "pos")}, {"weight": ((3, 1), "pos")}
# (id, loss, input (shape, kind), target spec, kwargs, tensor kwargs {name: (shape, kind)})
LOSS_CASES = [
    ("ce_nc", CE, X54, C5, {}, {}), ("ce_nc_none", CE, X54, C5, NONE, {}), ("ce_nc_sum", CE, X54, C5, SUM, {}),
    ("ce_ignore_class_1", CE, X64, ("cls", (6,), 4, 1), {"ignore_index": 1}, {}), ("ce_weight_ignore", CE, X64, C6I, {}, W4),
    ("ce_weight_ignore_ls", CE, X64, C6I, LS2, W4), ("ce_weight_ignore_ls_none", CE, X64, C6I, {**LS2, **NONE}, W4),
    ("ce_weight_ignore_ls_sum", CE, X64, C6I, {**LS2, **SUM}, W4), ("ce_ls_ignore", CE, X64, C6I, {"label_smoothing": 0.35}, {}),
    ("ce_spatial_weight_ignore_ls", CE, ((2, 4, 3, 2), "u"), ("cls", (2, 3, 2), 4, -100), {"label_smoothing": 0.1}, W4),
    ("ce_spatial_none", CE, ((2, 4, 3), "u"), ("cls", (2, 3), 4), NONE, {}),
    ("ce_unbatched_ls", CE, ((5,), "u"), ("cls", (), 5), {"label_smoothing": 0.1}, {}),
    ("ce_large_logits", CE, ((4, 3), "big"), ("cls", (4,), 3), {"label_smoothing": 0.1}, {}),
    ("ce_prob", CE, ((4, 3), "u"), ("prob", (4, 3), 1), {}, {}),
    ("ce_prob_weight_ls", CE, ((4, 4), "u"), ("prob", (4, 4), 1), {"label_smoothing": 0.3}, W4),
    ("ce_prob_spatial_none", CE, ((2, 3, 2, 2), "u"), ("prob", (2, 3, 2, 2), 1), NONE, {}),
    ("ce_prob_unbatched_sum", CE, ((4,), "u"), ("prob", (4,), 0), SUM, W4),
    ("nll", "nll_loss", X54, C5, {}, {}), ("nll_weight_ignore", "nll_loss", X64, C6I, {}, W4),
    ("nll_weight_ignore_none", "nll_loss", X64, C6I, NONE, W4), ("nll_unbatched_sum", "nll_loss", ((4,), "u"), ("cls", (), 4), SUM, W4),
    ("mse", "mse_loss", X34, X34, {}, {}), ("mse_none", "mse_loss", ((2, 3, 2), "u"), ((2, 3, 2), "u"), NONE, {}),
    ("mse_sum", "mse_loss", ((5,), "u"), ((5,), "u"), SUM, {}), ("l1", "l1_loss", X34, X34, {}, {}),
    ("l1_none", "l1_loss", X34, X34, NONE, {}), ("smooth_l1", "smooth_l1_loss", X34, X34, {}, {}),
    ("smooth_l1_beta0.5_none", "smooth_l1_loss", X34, X34, {"beta": 0.5, **NONE}, {}),
    ("smooth_l1_beta2_sum", "smooth_l1_loss", X34, X34, {"beta": 2.0, **SUM}, {}),
    ("smooth_l1_beta0", "smooth_l1_loss", X34, X34, {"beta": 0.0}, {}),
    ("bce", BCE, P34, Y01, {}, {}), ("bce_weight_none", BCE, P34, Y01, NONE, W4), ("bce_weight_sum", BCE, P34, YBIN, SUM, W31),
    ("bce_saturated", BCE, ((3, 4), "edge"), YBIN, NONE, {}), ("bce_logits", BCEL, X34, Y01, {}, {}),
    ("bce_logits_pos_weight_sum", BCEL, X34, YBIN, SUM, PW4), ("bce_logits_both_weights_none", BCEL, X34, Y01, NONE, {**W31, **PW4}),
    ("bce_logits_saturated", BCEL, ((3, 4), "sat"), YBIN, NONE, PW4), ("bce_logits_zero", BCEL, ((3, 4), "zero"), Y01, {}, PW4),
]


def backward_w(out):
    w = arr(tuple(out.shape), "w")
    (out * T(w, False)).sum().backward()
    return w


def loss_case(cid, loss, xspec, tspec, kwargs, tkw):
    x, tv, extra = arr(*xspec), target(tspec), {k: arr(*v) for k, v in tkw.items()}
    is_float = tv.dtype.kind == "f"
    xt, tt = T(x), T(tv) if is_float else torch.tensor(tv, dtype=torch.int64)
    out = getattr(F, loss)(xt, tt, **kwargs, **{k: T(v, False) for k, v in extra.items()})
    w = backward_w(out)
    rec = {"id": cid, "loss": loss, "kwargs": kwargs, "input": L(x), "target": L(tv),
           "target_dtype": "float64" if is_float else "int64", "tensor_kwargs": {k: L(v) for k, v in extra.items()},
           "output": L(out), "w": L(w), "grad_input": L(xt.grad)}
    # PyTorch's target gradient of BCE at an input of exactly 0 or 1 is -inf (that backward does not
    # clamp the logs the way the forward does): a quirk, not recorded.
    if is_float and torch.isfinite(tt.grad).all():
        rec["grad_target"] = L(tt.grad)
    return rec


# layer_norm: (id, x (shape, kind), normalized_shape, weight, bias, eps); group_norm: num_groups, affine
NORM_CASES = [
    ("ln_last", "layer_norm", ((4, 5), "u"), [5], True, True, 1e-5), ("ln_1d", "layer_norm", ((6,), "u"), [6], True, True, 1e-5),
    ("ln_two_dims", "layer_norm", ((2, 3, 4), "u"), [3, 4], True, True, 1e-5),
    ("ln_no_affine", "layer_norm", ((3, 4), "u"), [4], False, False, 1e-5),
    ("ln_weight_only_eps", "layer_norm", ((2, 3, 4), "u"), [4], True, False, 0.1),
    ("gn_g2", "group_norm", ((2, 4, 3), "u"), 2, True, True, 1e-5), ("gn_2d_eps", "group_norm", ((4, 6), "u"), 3, True, True, 0.01),
    ("gn_g1_4d", "group_norm", ((2, 4, 2, 2), "u"), 1, True, True, 1e-5),
    ("gn_g4_no_affine", "group_norm", ((3, 4, 5), "u"), 4, False, False, 1e-5),
]


def norm_case(cid, fn, xspec, arg, has_w, has_b, eps):
    x = arr(*xspec)
    pshape = tuple(arg) if fn == "layer_norm" else (xspec[0][1],)
    wv, bv = arr(pshape, "pos") if has_w else None, arr(pshape) if has_b else None
    xt, wt, bt = T(x), T(wv) if has_w else None, T(bv) if has_b else None
    out = getattr(F, fn)(xt, arg, wt, bt, eps)
    rec = {"id": cid, "fn": fn, "arg": arg, "eps": eps, "x": L(x), "w": L(backward_w(out)), "output": L(out),
           "grad_x": L(xt.grad)}
    if has_w:
        rec.update(weight=L(wv), grad_weight=L(wt.grad))
    if has_b:
        rec.update(bias=L(bv), grad_bias=L(bt.grad))
    return rec


# (id, num_embeddings, embedding_dim, index shape, padding_idx)
EMBEDDING_CASES = [("emb_2d", 6, 3, (2, 4), None), ("emb_pad", 5, 2, (3, 3), 2), ("emb_pad_negative", 5, 2, (7,), -1),
                   ("emb_0d_index", 4, 3, (), None)]


def embedding_case(cid, n, d, ishape, padding_idx):
    wv, idx = arr((n, d)), R.integers(0, n, ishape)
    if padding_idx is not None:  # the padding row is used, repeatedly
        idx.reshape(-1)[::3] = padding_idx % n
    wt = T(wv)
    out = F.embedding(torch.tensor(idx, dtype=torch.int64), wt, padding_idx=padding_idx)
    w = backward_w(out)
    return {"id": cid, "padding_idx": padding_idx, "weight": L(wv), "indices": L(idx), "w": L(w), "output": L(out),
            "grad_weight": L(wt.grad)}


def build(nn_mod, spec):
    """Nested specs: ["Sequential", [specs]], ["Custom", class name, [[attr, spec], ...]],
    or [layer name, args, kwargs]. The test has the same function for ferrograd.nn."""
    if spec[0] == "Sequential":
        return nn_mod.Sequential(*[build(nn_mod, s) for s in spec[1]])
    if spec[0] == "Custom":
        m = type(spec[1], (nn_mod.Module,), {})()
        for name, s in spec[2]:
            setattr(m, name, build(nn_mod, s))
        return m
    return getattr(nn_mod, spec[0])(*spec[1], **spec[2])


MLP = ["Sequential", [["Linear", [4, 8], {}], ["BatchNorm1d", [8], {}], ["ReLU", [], {}],
                      ["Dropout", [0.2], {}], ["Linear", [8, 2], {}]]]
NET = ["Custom", "Net", [
    ["fc1", ["Linear", [4, 8], {}]],
    ["bn1", ["BatchNorm1d", [8], {}]],
    ["fc2", ["Linear", [8, 3], {"bias": False}]],
    ["head", ["Sequential", [["Linear", [3, 3], {}], ["ReLU", [], {}],
                             ["Sequential", [["BatchNorm1d", [3], {"affine": False}], ["Linear", [3, 1], {}]]]]]],
]]
STATE_DICT_MODELS = {
    "mlp": MLP,
    "net": NET,
    "bn1d_affine_false": ["BatchNorm1d", [3], {"affine": False}],
    "bn2d_no_track": ["BatchNorm2d", [3], {"track_running_stats": False}],
    "bn3d_neither": ["BatchNorm3d", [2], {"affine": False, "track_running_stats": False}],
    "linear_nobias": ["Linear", [3, 2], {"bias": False}],
    "layernorm": ["LayerNorm", [[2, 3]], {}], "layernorm_nobias": ["LayerNorm", [4], {"bias": False}],
    "layernorm_no_affine": ["LayerNorm", [4], {"elementwise_affine": False}], "groupnorm": ["GroupNorm", [2, 4], {}],
    "groupnorm_no_affine": ["GroupNorm", [2, 4], {"affine": False}], "embedding_pad": ["Embedding", [5, 3], {"padding_idx": 0}],
    "emb_ln_head": ["Sequential", [["Embedding", [10, 4], {}], ["LayerNorm", [4], {}], ["GroupNorm", [2, 4], {}],
                                   ["Linear", [4, 2], {}]]],
    "losses": ["Sequential", [["CrossEntropyLoss", [], {}], ["NLLLoss", [], {}], ["MSELoss", [], {}], ["L1Loss", [], {}],
                              ["SmoothL1Loss", [], {}], ["BCELoss", [], {}], ["BCEWithLogitsLoss", [], {}]]],
}
REPR_SPECS = [
    ["Dropout", [], {}], ["Dropout", [0.25], {}], ["Dropout", [0.1], {"inplace": True}],
    ["Dropout2d", [0.3], {}], ["AlphaDropout", [0.2], {}],
    ["BatchNorm2d", [16], {}], ["BatchNorm1d", [4], {"momentum": None, "affine": False}],
    ["BatchNorm3d", [2], {"eps": 0.001, "momentum": 0.3, "track_running_stats": False}],
    ["Linear", [4, 3], {}], ["Linear", [4, 3], {"bias": False}],
    ["ReLU", [], {}], ["LeakyReLU", [], {}], ["LeakyReLU", [0.2], {}], ["GELU", [], {}], ["GELU", [], {"approximate": "tanh"}],
    ["SiLU", [], {}], ["Sigmoid", [], {}], ["Tanh", [], {}], ["Softmax", [], {"dim": 1}], ["LogSoftmax", [], {"dim": -1}],
    ["Flatten", [], {}], ["Identity", [], {}],
    MLP, NET,
    ["LayerNorm", [4], {}], ["LayerNorm", [[2, 3]], {"eps": 0.001, "bias": False}],
    ["LayerNorm", [4], {"elementwise_affine": False}], ["GroupNorm", [2, 4], {}], ["GroupNorm", [1, 3], {"eps": 0.01, "affine": False}],
    ["Embedding", [10, 3], {}], ["Embedding", [10, 3], {"padding_idx": 0}], ["Embedding", [10, 3], {"padding_idx": -1}],
    ["CrossEntropyLoss", [], {}], ["CrossEntropyLoss", [], {"label_smoothing": 0.1, "reduction": "sum"}], ["NLLLoss", [], {}],
    ["MSELoss", [], {}], ["L1Loss", [], {}], ["SmoothL1Loss", [], {"beta": 0.5}], ["BCELoss", [], {}],
    ["BCEWithLogitsLoss", [], {}],
]


def main():
    torch.manual_seed(0)
    golden = {"torch_version": torch.__version__, "numpy_seed": SEED, "dtype": "float64"}
    golden["ops"] = [op_case(*c) for c in CASES]
    golden["linear"] = [linear_case("linear_2d", 4, 3, True, (5, 4)), linear_case("linear_3d", 4, 3, True, (2, 3, 4)),
                        linear_case("linear_nobias", 3, 2, False, (4, 3)), linear_case("linear_1d_input", 3, 2, True, (3,))]
    train3_eval = ["train", "train", "train", "eval"]
    bns = []
    for momentum in (0.1, None, 0.3):
        for affine in (True, False):
            for track in (True, False):
                bns.append(bn_case("BatchNorm1d", (4, 3), momentum, affine, track, train3_eval))
    longer = ["train", "train", "train", "eval", "train", "eval"]
    for momentum in (0.1, None, 0.3):
        bns.append(bn_case("BatchNorm1d", (3, 2, 2), momentum, True, True, train3_eval))
        bns.append(bn_case("BatchNorm2d", (3, 2, 2, 2), momentum, True, True, longer))
        bns.append(bn_case("BatchNorm3d", (2, 2, 2, 1, 2), momentum, True, True, train3_eval))
    bns.append(bn_case("BatchNorm2d", (2, 2, 2, 2), 0.1, False, True, train3_eval))
    bns.append(bn_case("BatchNorm2d", (2, 2, 2, 2), 0.3, True, False, train3_eval))
    bns.append(bn_case("BatchNorm3d", (2, 2, 1, 2, 2), None, False, False, train3_eval))
    bns.append(bn_case("BatchNorm1d", (2, 3), 0.0, True, True, train3_eval))
    golden["batchnorm"] = bns
    golden["losses"] = [loss_case(*c) for c in LOSS_CASES]
    golden["norms"] = [norm_case(*c) for c in NORM_CASES]
    golden["embedding"] = [embedding_case(*c) for c in EMBEDDING_CASES]
    golden["state_dict"] = {}
    for name, spec in STATE_DICT_MODELS.items():
        sd = build(nn, spec).state_dict()
        golden["state_dict"][name] = {"spec": spec, "keys": list(sd),
                                      "shapes": [list(v.shape) for v in sd.values()],
                                      "dtypes": [str(v.dtype).replace("torch.", "") for v in sd.values()]}
    golden["reprs"] = [{"spec": s, "repr": repr(build(nn, s))} for s in REPR_SPECS]
    text = json.dumps(golden, separators=(",", ":"))
    with open(OUT, "w") as f:
        f.write(text + "\n")
    print(f"wrote {OUT}: {len(text) / 1024:.1f} KB, {len(golden['ops'])} ops, {len(bns)} batchnorm sequences, "
          f"{len(golden['losses'])} losses, {len(golden['norms'])} norms, {len(golden['embedding'])} embeddings")


if __name__ == "__main__":
    main()
