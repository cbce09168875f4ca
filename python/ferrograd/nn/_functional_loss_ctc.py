"""ctc_loss (re-exported by _functional_loss.py): the CTC forward (alpha) recursion in log space,
one step of tensor ops per time step, so autograd gives the gradient.

Per sample n, the targets l_1..l_S are interleaved with blanks, l' = (b, l_1, b, l_2, ..., l_S, b)
of length 2S + 1, and

    alpha_0(0) = lp_0(b),  alpha_0(1) = lp_0(l_1),  alpha_0(s > 1) = -inf
    alpha_t(s) = lp_t(l'_s) + logsumexp(alpha_{t-1}(s), alpha_{t-1}(s-1), alpha_{t-1}(s-2) if l'_s != l'_{s-2})
    loss_n     = -logsumexp(alpha_{T_n - 1}(2S), alpha_{T_n - 1}(2S - 1))

which is PyTorch's CPU kernel (LossCTC.cpp) step for step. The padded states beyond 2S_n never
feed lower states, so the samples run together in one (N, 2 S_max + 1) tensor; a sample whose
input ends earlier keeps its alpha from then on.
"""

from __future__ import annotations

import math
import operator

import numpy as np

from .. import _core
from .._core import Tensor
from .._creation import as_tensor
from .._functions import where
from ._loss_reduction import check_reduction

_NEG_INF = -math.inf


def _lengths(name: str, lengths, batch: int) -> np.ndarray:
    if isinstance(lengths, Tensor):
        if lengths.is_floating_point() or lengths.dtype == _core.bool:
            raise RuntimeError(f"ctc_loss: {name} must be integral, got {lengths.dtype}")
        values = lengths.detach().numpy().reshape(-1).astype(np.int64)
    else:
        try:
            values = np.array([operator.index(v) for v in (lengths if isinstance(lengths, (tuple, list)) else
                                                           [lengths])], dtype=np.int64)
        except TypeError:
            raise TypeError(f"ctc_loss: {name} must be a tensor or a tuple of ints, got {lengths!r}") from None
    if values.size != batch:
        raise RuntimeError(f"ctc_loss: {name} must be of size batch_size ({batch}), got {values.size} values")
    return values


def _logsumexp(*xs: Tensor) -> Tensor:
    """logsumexp of same-shape tensors, elementwise. Where all are -inf it is -inf with a zero
    gradient (the plain formula's -inf - -inf would make NaN gradients on unreachable states)."""
    m = xs[0].detach()
    for x in xs[1:]:
        m = m.maximum(x.detach())
    m = where(m == _NEG_INF, 0.0, m)
    total = (xs[0] - m).exp()
    for x in xs[1:]:
        total = total + (x - m).exp()
    reached = total > 0
    return where(reached, where(reached, total, 1.0).log() + m, _NEG_INF)


def ctc_loss(log_probs: Tensor, targets: Tensor, input_lengths, target_lengths, blank: int = 0,
             reduction: str = "mean", zero_infinity: bool = False) -> Tensor:
    """Connectionist temporal classification loss.

    Shapes: log_probs (T, N, C) (log_softmax outputs; unbatched (T, C)); targets padded (N, S) or
    concatenated (sum(target_lengths),) (unbatched (S,)); input_lengths and target_lengths tensors
    or tuples of N ints. reduction 'none' gives (N,) losses, 'mean' the mean of each loss divided by
    its target length (at least 1), 'sum' their sum. An impossible alignment (an input too short
    for its target) has loss inf, 0 with zero_infinity=True (and no gradient).

    The gradient is the derivative of this loss. PyTorch's own ctc_loss returns, for log_probs,
    the gradient with respect to the logits under the log_softmax (exp(log_probs) - posterior):
    the two agree once chained through log_softmax, as in every real use, but not for a leaf
    log_probs tensor. Two more places where PyTorch's gradient is not the derivative and
    ferrograd's is: a target that repeats the `blank` label (e.g. [1, 0, 0] with blank 0: PyTorch
    computes the loss but its gradient is off), and an impossible alignment without zero_infinity (PyTorch gives NaN gradients for that
    sample, ferrograd zeros; the loss is inf in both).
    """
    check_reduction(reduction)
    if log_probs.ndim not in (2, 3):
        raise RuntimeError(f"ctc_loss: expected log_probs of shape (T, N, C) or unbatched (T, C), "
                           f"got {list(log_probs.shape)}")
    unbatched = log_probs.ndim == 2
    if unbatched:
        log_probs = log_probs.unsqueeze(1)  # targets (S,) read as the concatenated form of one sample
    if log_probs.numel() == 0:
        raise RuntimeError(f"ctc_loss: log_probs tensor must not be empty (got shape {list(log_probs.shape)})")
    steps, batch, classes = log_probs.shape
    if not 0 <= blank < classes:
        raise RuntimeError(f"ctc_loss: blank must be in label range [0, {classes}), got {blank}")
    in_len = _lengths("input_lengths", input_lengths, batch)
    tg_len = _lengths("target_lengths", target_lengths, batch)
    for name, values, high in (("input_lengths", in_len, steps), ("target_lengths", tg_len, None)):
        if values.min() < 0:
            raise RuntimeError(f"ctc_loss: Expected {name} to have value at least 0, but got value {values.min()}")
        if high is not None and values.max() > high:
            raise RuntimeError(f"ctc_loss: Expected {name} to have value at most {high}, but got value {values.max()}")
    padded = _padded_targets(targets, tg_len, batch)
    if padded.size and (padded.min() < 0 or padded.max() >= classes):
        raise RuntimeError(f"ctc_loss: target labels must be in [0, {classes}), got values from {padded.min()} "
                           f"to {padded.max()}")

    states = 2 * padded.shape[1] + 1
    ext = np.full((batch, states), blank, dtype=np.int64)  # l': blanks around the targets
    ext[:, 1::2] = padded
    s = np.arange(states)
    skip = np.zeros((batch, states), dtype=bool)
    skip[:, 2:] = ext[:, 2:] != ext[:, :-2]
    emit = log_probs.gather(2, as_tensor(np.ascontiguousarray(np.broadcast_to(ext, (steps, batch, states)))))

    start = np.where((s == 0) | ((s == 1) & (tg_len[:, None] > 0)), 0.0, _NEG_INF)
    alpha = emit[0] + as_tensor(start).to(log_probs.dtype)
    neg_inf = _core.full([batch, 2], _NEG_INF, dtype=log_probs.dtype) if states > 1 else None
    skip_t = as_tensor(skip)
    for t in range(1, int(in_len.max()) if batch else 0):
        if states > 1:
            shifted = _core.cat([neg_inf, alpha[:, :-1]], 1)[:, 1:]
            shifted2 = where(skip_t, _core.cat([neg_inf, alpha[:, :-2]], 1), _NEG_INF)
            new = _logsumexp(alpha, shifted, shifted2) + emit[t]
        else:
            new = alpha + emit[t]
        alpha = where(as_tensor(t < in_len[:, None]), new, alpha)

    last = np.stack([2 * tg_len, np.maximum(2 * tg_len - 1, 0)], 1)
    ends = alpha.gather(1, as_tensor(last))
    ends = where(as_tensor(np.stack([tg_len >= 0, tg_len > 0], 1)), ends, _NEG_INF)
    loss = -_logsumexp(ends[:, 0], ends[:, 1])
    if (in_len == 0).any():  # no time steps: an empty target costs nothing, any other is impossible
        empty = np.where(tg_len == 0, -0.0, math.inf)
        loss = where(as_tensor(in_len == 0), as_tensor(empty).to(loss.dtype), loss)
    if zero_infinity:
        loss = where(loss == math.inf, 0.0, loss)
    if reduction == "mean":
        return (loss / as_tensor(np.maximum(tg_len, 1)).to(loss.dtype)).mean()
    if reduction == "sum":
        return loss.sum()
    return loss.reshape(()) if unbatched else loss


def _padded_targets(targets: Tensor, tg_len: np.ndarray, batch: int) -> np.ndarray:
    """The targets as an (N, max target length) int64 array, from padded or concatenated form."""
    if targets.ndim not in (1, 2):
        raise RuntimeError(f"ctc_loss: expected targets of 1 (concatenated) or 2 (padded N, S) dims, "
                           f"got shape {list(targets.shape)}")
    tg = targets.detach().numpy().astype(np.int64)
    width = int(tg_len.max()) if batch else 0
    out = np.zeros((batch, width), dtype=np.int64)
    if targets.ndim == 2:
        if tg.shape[0] != batch or tg.shape[1] < width:
            raise RuntimeError(f"ctc_loss: Expected targets of size at least ({batch}, {width}) (batch, longest "
                               f"target length), but got size {list(tg.shape)}")
        for n in range(batch):
            out[n, :tg_len[n]] = tg[n, :tg_len[n]]
        return out
    if tg.shape[0] != tg_len.sum():
        raise RuntimeError(f"ctc_loss: Expected concatenated targets of size {tg_len.sum()} (the sum of "
                           f"target_lengths), but got size {tg.shape[0]}")
    ends = np.cumsum(tg_len)
    for n in range(batch):
        out[n, :tg_len[n]] = tg[ends[n] - tg_len[n]:ends[n]]
    return out
