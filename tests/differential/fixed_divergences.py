"""Divergences the harness found and that were fixed: each row's minimal repro must keep agreeing
with PyTorch. A row leaves known_divergences.KNOWN for here when its bug is fixed, so an input
that failed once is replayed by every run, whatever hypothesis's example database keeps.
(The `when` predicates and `summary` texts are kept as they were: they say what the bug was.
Rows the harness dropped as PyTorch artifacts rather than fixed, such as tiny float64 divisors
whose square underflows, are not here.)
"""

from __future__ import annotations

import known_divergences as _known
import numpy as np
from harness import Args, T
from known_divergences import Known

# The rows' `when` predicates use known_divergences' helpers (_dtype, _has, _view_shape ...); a
# fixed row never filters a property test, so they only need to exist.
globals().update({n: getattr(_known, n) for n in dir(_known) if n.startswith("_") and not n.startswith("__")})

# ruff: noqa: F821 (helpers from globals().update above)
FIXED: list[Known] = [
    Known("clamp(tensor bounds)", Args([T(np.ones(2, np.float32)), T(np.zeros(1, np.float32)),
                                        T(np.ones(1, np.float32))]), 9,
          "clamp with tensor min/max: 0-d bounds raise TypeError, one-element bounds are read as numbers (no "
          "broadcasting, no gradient to the bounds); torch broadcasts tensor bounds", _always),
    Known("__setitem__", Args([T(np.array([False])), None], {"single": False, "value": 2.8e-48}), 5,
          "x = tensor([False]); x[None] = 2.8e-48 leaves False, torch True (nonzero casts to True); and "
          "int64 x[None, []] = float tensor succeeds, torch raises 'Index put requires the source and destination "
          "dtypes match'", lambda a: _dtype(a, "b") or (
              isinstance(a.kw.get("value"), T) and a.kw["value"].base.dtype != a.inputs[0].base.dtype)),
    Known("copy_(clone)", Args([T(np.array(False)), 2.0532527478343248e-185]), 5,
          "tensor(False).clone().copy_(2e-185) (a Python float too small for float32) leaves False, torch True: the "
          "number is rounded to float32 (0.) before the cast to bool", lambda a: _dtype(a, "b") and any(
              isinstance(x, float) and x != 0 and abs(x) < 1e-37 for x in a.inputs), ("copy_(no grad)",)),
    Known("Tensor.sum()", Args([T(np.array(True))]), 5,
          "sum() of a 0-d bool tensor is bool, torch int64 (1-D bool sums are int64 already)",
          lambda a: _dtype(a, "b"), ("Tensor.sum(dim)", "fg.sum")),
    Known("nn.GroupNorm", Args([T(np.array([[0.0]], np.float32))],
                               {"train": True, "ctor": {"num_groups": 1, "per": 1, "eps": 1e-5, "affine": False},
                                "seed": 0}), 9,
          "GroupNorm(1, 1) on a (1, 1) input succeeds, torch raises ValueError 'Expected more than 1 value per "
          "channel when training'",
          lambda a: a.kw["ctor"]["per"] * int(np.prod(_view_shape(a.inputs[0])[2:])) == 1,
          ("nn.GroupNorm(nonfinite)",)),
    Known("F.group_norm", Args([T(np.array([[0.0]], np.float32)), 1, None, None], {"eps": 1e-5}), 9,
          "F.group_norm(zeros(1, 1), 1) succeeds, torch raises ValueError 'Expected more than 1 value per channel "
          "when training'",
          lambda a: int(np.prod(_view_shape(a.inputs[0])[1:])) // a.inputs[1] == 1),
    Known("fg.arange", Args([], {"args": (-1, 0, 0.5), "dtype": "int64"}), 5,
          "arange(-1, 0, 0.5, dtype=int64) is [-1, 0], torch [-1, -1] (torch steps in int64 after casting the "
          "step: every element is the start)", lambda a: a.kw.get("dtype") == "int64" and any(
              isinstance(v, float) and v != int(v) for v in a.kw["args"])),
    Known("__getitem__", Args([T(np.zeros((0, 1, 0), np.int64)), slice(None), 0, [0]], {"single": False}), 4,
          "zeros(0, 1, 0)[:, 0, [0]] succeeds (empty result), torch raises IndexError 'index is out of bounds for "
          "dimension with size 0' (torch checks an index into a size-0 dim even when nothing is gathered). Came with "
          "the fix that stopped checking indices when the result is empty", _empty_index_result, ("__setitem__",)),
    Known("Tensor.meta", Args([T(np.zeros(2, np.float32), view=(("expand", (2,)),), grad=True)]), 9,
          "x.expand(x.shape) returns x itself: zeros(2, requires_grad=True).expand(2).is_leaf is True, torch "
          "False (a view with ExpandBackward0)", lambda a: _has(
              a, lambda t: bool(t.view) and t.view[0][0] == "expand" and tuple(t.view[0][1]) == t.base.shape),
          ("Tensor.backward(gradient)",)),
    Known("fg.full", Args([], {"size": (), "as_tuple": True, "dtype": "int64", "fill": float("nan")}), 5,
          "fg.full((), nan, dtype=int64) (and as_tensor(nan, dtype=int64), inf likewise) succeeds, torch raises "
          "'value cannot be converted to type int64_t without overflow'",
          lambda a: a.kw.get("dtype") == "int64" and any(
              isinstance(v, float) and not np.isfinite(v) for v in np.ravel(np.array(
                  a.kw.get("fill", a.kw.get("data")), dtype=object)).tolist()), ("fg.as_tensor", "fg.tensor")),
    Known("add_(no grad)", Args([T(np.array(1.0, np.float32)), T(np.array(2.0, np.float32), grad=True)]), 7,
          "x = fg.tensor(1.); x.detach().add_(y) with y requiring grad raises 'in-place operation on a view (shape "
          "[]) with an operand that requires grad is not supported', torch succeeds (x is in no graph; detach() "
          "is not a view of a graph tensor). Also `+=`, `-=`, `*=`, `/=`, copy_. Came with the fix for "
          "b[::2].add_(y) (row leaf.add_(grad)), which now raises instead of losing the gradient",
          lambda a: isinstance(a.inputs[1], T) and a.inputs[1].grad,
          ("copy_(no grad)", "__iadd__(no grad)", "__isub__(no grad)", "__imul__(no grad)", "__itruediv__(no grad)",
           "sub_(no grad)", "mul_(no grad)", "div_(no grad)")),
    Known("__setitem__", Args([T(np.zeros((0, 0), np.float32)), slice(None), [0]],
                              {"single": False, "value": 0.0}), 4,
          "x = zeros(0, 0); x[:, [0]] = 0. raises IndexError 'index 0 is out of bounds for dimension 1 with size "
          "0', torch succeeds (nothing to write: dim 0 is empty); getitem likewise: zeros(0, 2, 1)[:, ..., [1]] "
          "raises IndexError, torch gives an empty (0, 2, 1) result (torch checks no index into an empty tensor)",
          _empty_index_result, ("__getitem__",)),
    Known("__setitem__", Args([T(np.array([[0.0]]), view=(("expand", (1, 2)),))],
                              {"single": False, "value": T(np.array([1.0, 2.0]))}), 7,
          "x = zeros(1, 1).expand(1, 2); x[()] = tensor([1., 2.]) writes through the self-overlapping view (x ends "
          "[[2., 2.]]), torch raises 'unsupported operation: more than one element of the written-to tensor refers "
          "to a single memory location' (found by the fuzz profile; copy_ into such views was fixed)",
          lambda a: _has(a, lambda t: bool(t.view) and t.view[0][0] == "expand"
                         and int(np.prod(_view_shape(t))) > t.base.size)),
    Known("Tensor.t", Args([T(np.zeros((2, 3), np.float32), grad=True)]), 9,
          "grad_fn names (README: 'grad_fn names as PyTorch's'): x.t() PermuteBackward0, torch TBackward0; "
          "x.transpose(0, 1) PermuteBackward0 / TransposeBackward0; stack CatBackward0 / StackBackward0; "
          "split/chunk SliceBackward0 / SplitBackward0; unsqueeze ViewBackward0 / UnsqueezeBackward0; unbind "
          "SelectBackward0 / UnbindBackward0; embedding IndexBackward0 / EmbeddingBackward0; GroupNorm AddBackward0 "
          "/ NativeGroupNormBackward0. Every run prints the full list at its end",
          lambda a: False, grad_fn_names=True),
    Known("fg.concat", Args([[T(np.zeros((0,), np.float32))]], {"dim": 1}), 9,
          "fg.cat([fg.zeros(0)], dim=1) raises IndexError 'dimension out of range', torch returns the empty tensor "
          "(torch's legacy rule: 1-D empty tensors are skipped by cat, whatever the dim)", _legacy_empty_in_cat,
          ("fg.cat",)),
    Known("__pos__", Args([T(np.array(False))]), 5,
          "+tensor(False) succeeds, torch raises NotImplementedError 'The `+` operator, on a bool tensor is not "
          "supported'", lambda a: _dtype(a, "b")),
    Known("sub_(clone)", Args([T(np.array([1.0], np.float32)), False]), 5,
          "x.sub_(False) / x -= False (a bool operand in an in-place subtraction) succeeds, torch raises "
          "NotImplementedError 'Subtraction, the `-` operator, with a bool tensor is not supported' (the out-of-place "
          "form was fixed and raises)", lambda a: _dtype(a, "b") or any(isinstance(x, bool) for x in a.inputs),
          ("sub_(no grad)", "__isub__(clone)", "__isub__(no grad)")),
    Known("copy_(no grad)", Args([T(np.zeros((1, 0), np.float32), view=(("expand", (2, 0)),)), 0.0]), 7,
          "zeros(1, 0).expand(2, 0).copy_(tensor(0.)) raises the self-overlap error, torch succeeds (an empty "
          "tensor has no overlapping elements)", lambda a: _empty(a) and _has(
              a, lambda t: bool(t.view) and t.view[0][0] == "expand"), ("*",)),
    Known("copy_(clone)", Args([T(np.array(0.0, np.float32), grad=True), T(np.array(0.0, np.float32), grad=True)]),
          6, "a.clone().copy_(b) then backward: a.grad is None, torch zeros (a is in the graph)",
          lambda a: isinstance(a.inputs[0], T) and a.inputs[0].grad),
    Known("F.binary_cross_entropy_with_logits", Args([T(np.zeros((2, 3), np.float32), grad=True),
                                                      T(np.zeros((2, 3), np.float32))], {"reduction": "mean"}), 9,
          "grad_fn names: binary_cross_entropy_with_logits is MeanBackward0, torch "
          "BinaryCrossEntropyWithLogitsBackward0 (mse_loss MeanBackward0 / MseLossBackward0, the same for l1, "
          "smooth_l1, bce); x.t() PermuteBackward0 / TBackward0; x.transpose(0, 1) PermuteBackward0 / "
          "TransposeBackward0; split/chunk SliceBackward0 / SplitBackward0; stack CatBackward0 / StackBackward0; "
          "unbind SelectBackward0 / UnbindBackward0; embedding IndexBackward0 / EmbeddingBackward0. The "
          "terminal summary of a run lists all of them", lambda a: False, grad_fn_names=True),
    Known("fg.cat", Args([[T(np.zeros((0,), np.float32)), T(np.zeros((0,), np.float32), grad=True)]],
                         {"dim": 0}), 6,
          "cat of empty tensors, one requiring grad: result requires_grad False, torch True; empty tensors do "
          "not take part in cat's type promotion", _empty, ("fg.concat", "fg.stack")),
    Known("Tensor.softmax", Args([T(np.array(0.0, np.float32))], {"dim": 1}), 9,
          "softmax/log_softmax of a 0-d tensor accept dim=1 (and -2), torch raises IndexError 'Dimension out of "
          "range (expected to be in range of [-1, 0], but got 1)'", _zero_d, tuple(_SOFTMAX)),
    Known("Tensor.chunk", Args([T(np.zeros((0,), np.float32))], {"chunks": 2, "dim": 0}), 9,
          "zeros(0).chunk(2) gives 1 chunk, torch 2 empty chunks", _empty, ("fg.chunk",)),
    Known("Tensor.mT", Args([T(np.array(1.0, np.float32))]), 9,
          "tensor(1.).mT raises IndexError, torch returns the tensor (with a deprecation warning)", _zero_d),
    Known("Tensor.is_contiguous", Args([T(np.zeros((0, 0), np.int64))]), 9,
          "zeros(0, 0).is_contiguous() is False, torch True", _empty),
    Known("nn.Linear", Args([T(np.array([0.0], np.float32), grad=True)],
                            {"train": True, "ctor": {"in_features": 1, "out_features": 0, "bias": False}, "seed": 0}),
          2, "nn.Linear(1, 0) backward: PanicException 'range end index 1 out of range for slice of length 0' "
          "reading x.grad, torch: zeros", lambda a: a.kw["ctor"]["out_features"] == 0),
    Known("nn.Linear(0 in)", Args([T(np.zeros((2, 0), np.float32))],
                                  {"train": True, "ctor": {"in_features": 0, "out_features": 3}, "seed": 0}), 2,
          "nn.Linear(0, 3)(zeros(2, 0)): PanicException 'range end index 6 out of range for slice of length 0' "
          "reading the output; torch: the bias broadcast to (2, 3)", _always),
    Known("__int__", Args([T(np.array(np.nan, np.float32))]), 5,
          "int(tensor(nan)) is 0, torch raises ValueError (int(inf) likewise)", _nonfinite),
    Known("Tensor.all(dim)", Args([T(np.array([1.0, 2.0], np.float32))], {"dim": 0, "keepdim": False}), 9,
          "Tensor.all(dim=...)/any(dim=...) raise 'takes no keyword arguments', torch reduces over dim",
          _always, ("Tensor.any(dim)",)),
    Known("Tensor.zero_", Args([T(np.array(np.nan, np.float32), grad=True)]), 6,
          "zero_/fill_/copy_ on a tensor in the graph compute x*0 + v: tensor(nan, requires_grad=True).clone()"
          ".zero_() is nan (fill_(2.) nan, copy_(1.) nan), torch 0 / 2 / 1: wrong numbers", _nonfinite,
          tuple(_FILL_GRAPH)),
    Known("mul_(no grad)", Args([T(np.array(1.0, np.float32)), T(np.array(2.0, np.float32), grad=True)]), 7,
          "a.mul_(y) on a tensor not requiring grad, y requiring grad, then backward: ferrograd raises 'modified "
          "by an inplace operation', torch succeeds (saves the original a)",
          lambda a: _has(a, lambda t: t.grad), ("__imul__(no grad)", "__imul__(clone)", "mul_(clone)",
                                                "div_(no grad)", "div_(clone)", "__itruediv__(no grad)",
                                                "__itruediv__(clone)")),
    Known("Tensor.softmax", Args([T(np.array([np.inf, 0.0], np.float32))], {"dim": 0}), 6,
          "softmax([inf, 0]) is [nan, 0] (log_softmax [nan, -inf]), torch [nan, nan]: a NaN row stays NaN in "
          "torch", _nonfinite, tuple(_SOFTMAX) + ("nn.Softmax", "nn.LogSoftmax", "nn.Sequential")),
    Known("Tensor.max()", Args([T(np.array(np.nan, np.float32), grad=True)]), 6,
          "max() of tensor(nan): gradient 0, torch 1 (the NaN is the selected element)", _nonfinite),
    Known("Tensor.logsumexp", Args([T(np.zeros((0,), np.float32), grad=True)], {"dim": 0, "keepdim": False}), 6,
          "logsumexp over an empty dim: result does not require grad, torch's does (also cat of empty tensors "
          "drops requires_grad)", _empty, ("fg.logsumexp",)),
    Known("leaf.add_(grad)", Args([T(np.zeros(4, np.float32), view=(("step", 0, 2),)),
                                   T(np.array(1.0, np.float32), grad=True)]), 6,
          "b = zeros(4); b[::2].add_(y) with y requiring grad: at first b stayed out of the graph (y.grad None after "
          "b.sum().backward(), a silently lost gradient); then refused on purpose; now views rewrite their base's "
          "history (CopySlices) and the repro agrees with torch",
          lambda a: isinstance(a.inputs[0], T) and bool(a.inputs[0].view) and not a.inputs[0].grad),
]
