"""Known ferrograd bugs found by the differential harness: one row per divergence.

Each row names the case (its id in a cases table), a minimal repro (concrete Args run through the
same check), the defect class of issue 11 it belongs to, and `when`, a predicate on drawn Args
that says which inputs trigger it. test_diff_known.py runs every repro as
`xfail(strict=True)`: when someone fixes the bug the repro passes, the run fails, and the row must
be removed. While a row is here, property tests on inputs matching `when` are not failed for it.

Documented deliberate differences (README "Where PyTorch has a known trap", "Limitations") are
not here: the cases that would hit them are skipped or not drawn, with a comment at that place.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from harness import Args, Divergence, T

CLASSES = {
    1: "the interpreter dies (allocation / size overflow)",
    2: "PanicException reaches Python",
    3: "wrong gradients under threads",
    4: "indexing follows PyTorch, not numpy",
    5: "dtype semantics as PyTorch",
    6: "gradient edge cases as PyTorch",
    7: "refusals PyTorch does not make",
    8: "loading is safe against every file",
    9: "small API truths",
}


@dataclass(frozen=True)
class Known:
    case: str  # Case.id
    repro: Args
    defect_class: int
    summary: str  # ferrograd result vs PyTorch result
    when: Callable[[Args], bool] = lambda a: False
    cases: tuple = ()  # other case ids whose drawn inputs `when` also describes ("*": every case)
    grad_fn_names: bool = False  # the repro compares grad_fn names too (they are only recorded elsewhere)

    def covers(self, case_id: str) -> bool:
        return case_id == self.case or case_id in self.cases or "*" in self.cases


def _f(*xs, dtype=np.float32):
    return np.array(xs, dtype=dtype)


def _has(a: Args, pred) -> bool:
    """pred holds for some T among the inputs (or inside a list input)."""
    for x in a.inputs:
        for e in (x if isinstance(x, list) else [x]):
            if isinstance(e, T) and pred(e):
                return True
    return False


def _nonfinite(a: Args) -> bool:
    return _has(a, lambda t: t.base.dtype.kind == "f" and not np.isfinite(t.base).all())


def _dtype(a: Args, kind: str) -> bool:
    return _has(a, lambda t: t.base.dtype.kind == kind)


def _view_shape(t: T) -> tuple:
    import torch

    return tuple(t.build(torch)[1].shape)


def _empty(a: Args) -> bool:
    return _has(a, lambda t: 0 in t.base.shape or 0 in _view_shape(t))


def _tiny(a: Args) -> bool:
    """A nonzero float whose square underflows."""
    def tiny(t):
        if t.base.dtype.kind != "f":
            return False
        limit = np.sqrt(np.finfo(t.base.dtype).tiny) * 4
        return bool(((np.abs(t.base) < limit) & (t.base != 0)).any())

    return _has(a, tiny)


def _empty_offset_view(a: Args) -> bool:
    """An empty view that starts past its (empty) storage, e.g. zeros(1, 0)[1:]."""
    return _has(a, lambda t: any(v[0] in ("offset", "step") for v in t.view) and 0 in t.base.shape)


def _bool_or_int(a: Args) -> bool:
    return _dtype(a, "b") or _dtype(a, "i") or any(isinstance(x, bool) for x in a.inputs)


def _zero_d(a: Args) -> bool:
    return _has(a, lambda t: t.base.ndim == 0 or (t.view and t.view[0][0] == "expand" and not t.view[0][1]))


def _no_dof(a: Args) -> bool:
    """var/std whose reduction has no more elements than the correction."""
    shape = _view_shape(a.inputs[0])
    dim = a.kw.get("dim")
    dims = range(len(shape)) if dim is None else ([dim] if isinstance(dim, int) else list(dim))
    try:
        n = int(np.prod([shape[d] for d in dims]))
    except IndexError:
        return False
    corr = a.kw.get("correction", 1 if a.kw.get("unbiased", True) else 0)
    return n <= corr


def _empty_index_result(a: Args) -> bool:
    """x[idx] (as torch computes it) has no elements, or x itself has none."""
    import torch

    if _empty(a):
        return True
    parts = [p.build(torch)[1] if isinstance(p, T) else p for p in a.inputs[1:]]
    x = a.inputs[0].build(torch)[1]
    try:
        return x[parts[0] if a.kw.get("single") else tuple(parts)].numel() == 0
    except (IndexError, RuntimeError, TypeError, ValueError):
        return False


def _legacy_empty_in_cat(a: Args) -> bool:
    return any(isinstance(t, T) and _view_shape(t) == (0,) for t in a.inputs[0])


def _always(a: Args) -> bool:
    return True


def _torch_output_nan(case_id: str):
    """`when` for a layer case: PyTorch's output has a NaN (its inputs being finite), e.g. where a
    mask forbids every key of a query row."""

    def when(a: Args) -> bool:
        import torch
        from harness import _flat, _run
        from triage import all_cases

        case = next(c for c in all_cases() if c.id == case_id)
        out, _, err = _run(case.fn, torch, a)
        out = getattr(out, "out", out)
        return err is None and any(isinstance(t, torch.Tensor) and t.is_floating_point() and bool(t.isnan().any())
                                   for _, t in _flat(out))

    return when


_BOOL_ARITH = ["__add__", "__radd__", "__mul__", "__rmul__", "__sub__", "__rsub__", "__pos__", "fg.add", "Tensor.add", "fg.mul", "Tensor.mul", "fg.sub", "Tensor.sub", "fg.maximum", "Tensor.maximum", "fg.minimum", "Tensor.minimum", "fg.max(a,", "b)", "fg.min(a,", "b)", "fg.relu", "Tensor.relu", "relu(F)", "add_(clone)", "add_(no", "grad)", "sub_(clone)", "sub_(no", "grad)", "mul_(clone)", "mul_(no", "grad)", "div_(clone)", "div_(no", "grad)", "__iadd__(clone)", "__iadd__(no", "grad)", "__isub__(clone)", "__isub__(no", "grad)", "__imul__(clone)", "__imul__(no", "grad)", "__itruediv__(clone)", "__itruediv__(no", "grad)", "Tensor.clamp", "fg.clamp(min=)", "Tensor.clip", "clamp_(clone)", "copy_(clone)", "copy_(no", "grad)", "add(alpha)", "sub(alpha)", "fg.pow", "Tensor.pow", "__pow__", "__rpow__", "__truediv__", "__rtruediv__", "fg.div", "Tensor.div"]
_BITWISE = ["__and__", "__rand__", "__or__", "__ror__", "__xor__", "__rxor__", "__invert__"]
_NAN_GRAD = ["fg.relu", "Tensor.relu", "relu(F)", "Tensor.max()", "Tensor.min()", "fg.maximum", "Tensor.maximum", "fg.minimum", "Tensor.minimum", "fg.max(a,", "b)", "fg.min(a,", "b)", "Tensor.max(dim)", "Tensor.min(dim)", "fg.max(dim)", "Tensor.clamp", "fg.clamp(min=)", "Tensor.clip", "clamp_(clone)"]
_POW = ["__pow__", "__rpow__", "fg.pow", "Tensor.pow"]
_SOFTMAX = ["Tensor.softmax", "Tensor.log_softmax", "fg.softmax", "fg.log_softmax", "F.softmax", "F.log_softmax", "Tensor.logsumexp", "fg.logsumexp"]
_FILL_GRAPH = ["Tensor.zero_", "Tensor.fill_", "copy_(clone)"]
_ALL = "*"

KNOWN: list[Known] = [
    Known("F.linear", Args([T(np.zeros((0, 0), np.float32)), T(np.zeros((0,), np.float32)),
                            T(np.array(0.0, np.float32))]), 9,
          "F.linear(zeros(0, 0), zeros(0), tensor(0.)) succeeds, torch raises 'addmm: mat2 must be a matrix, "
          "got 1-D tensor' (fires only when the input is 2-D and the bias is given)", _always),
    Known("__pow__", Args([T(np.array([-1.0], np.float32)), 1.9999999999999996]), 5,
          "tensor([-1.]) ** 1.9999999999999996 is 1, torch nan: the Python float exponent is rounded to float32 (2.) "
          "before the power, so a negative base to a non-integer power is taken as an integer power (same root "
          "cause as the 1.6e-220 row below)", lambda a: any(
              isinstance(x, float) and x != round(x) and float(np.float32(x)) == round(float(np.float32(x)))
              for x in a.inputs), _POW),
    Known("__pow__", Args([T(np.array(np.nan, np.float32)), 1.6204876237323019e-220]), 5,
          "tensor(nan) ** 1.6e-220 is 1, torch nan: a Python float below float32's range is rounded to 0. before the "
          "op (torch computes with the double), so nan ** 0. = 1",
          lambda a: any(isinstance(x, float) and x != 0 and abs(x) < 1e-37 for x in a.inputs), ("*",)),
    Known("Tensor.var", Args([T(np.array([np.nan], np.float32), grad=True)], {"dim": 0, "keepdim": False}), 6,
          "var/std with no degrees of freedom (one NaN element with correction 1, or [0.] with correction=2): "
          "gradient inf (or finite), torch nan", lambda a: _nonfinite(a) or _no_dof(a),
          ("Tensor.std", "fg.var()", "fg.std()")),
    Known("nn.BatchNorm1d(nonfinite)", Args([T(np.array([[[np.nan, 0.0]]], np.float32))],
                                            {"train": True, "ctor": {"num_features": 1, "eps": 1e-5, "momentum": 0.1,
                                                                     "affine": False, "track_running_stats": True},
                                             "seed": 0, "calls": 1}), 6,
          "BatchNorm in train mode on a batch with NaN: running_var stays finite (0.9), torch NaN; with inf "
          "(x = [[inf], [0.]]): running_mean nan (torch inf) and running_var 0.9 (torch nan). The running "
          "statistics hide a corrupted batch that torch's carry into eval", _nonfinite,
          ("nn.BatchNorm2d(nonfinite)",)),
    Known("fg.pow", Args([T(np.array(np.nan, np.float32), grad=True), False]), 6,
          "d/dx x**False at x=nan is 0, torch nan (torch differentiates a bool exponent as 0 * x**-1; x**0.0 "
          "agrees, 0)", lambda a: _dtype(a, "b") or any(isinstance(x, bool) for x in a.inputs), tuple(_POW)),
    Known("nn.MultiheadAttention", Args([T(np.array([[0.0]], np.float32)), None, None, T(np.array([True])), None],
                                        {"train": False, "ctor": {"embed_dim": 1, "num_heads": 1, "bias": False,
                                                                  "add_bias_kv": False, "add_zero_attn": False,
                                                                  "batch_first": False, "dtype": "float32",
                                                                  "dropout": 0.0},
                                         "seed": 0, "need_weights": True, "average_attn_weights": False,
                                         "self_attention": True}), 9,
          "deliberate, documented in F.multi_head_attention_forward's docstring: a query row whose keys are all "
          "masked (key_padding_mask all True here) gives output 0 and weights 0 with need_weights=True, torch NaN "
          "(torch gives zeros on its need_weights=False path, and so does ferrograd on both; PyTorch's own "
          "scaled_dot_product_attention gives zeros too)", _torch_output_nan("nn.MultiheadAttention")),
]


def by_case(case_id: str) -> list[Known]:
    return [k for k in KNOWN if k.covers(case_id)]


def covered(case, args: Args, check) -> None:
    """check(case, args), except that a divergence on inputs a KNOWN row describes is not failed."""
    try:
        check(case, args)
    except Divergence:
        if any(k.when(args) for k in by_case(case.id)):
            return
        raise
