"""Attention: F.scaled_dot_product_attention and F.multi_head_attention_forward, with PyTorch's
signatures and semantics.

scaled_dot_product_attention dispatches in one place (`_sdpa_impl`): the fused Rust kernel
`_core._sdpa` when the extension has it, else `_sdpa_composed`, the same computation from matmul,
softmax, masking and dropout, which also serves as the tests' reference.

Its `dropout_p` is applied whenever it is > 0, as in PyTorch: it does not follow model.eval().
Calling it with dropout_p > 0 while grad is disabled or from inside a module in eval mode gives
AttentionDropoutInEvalWarning once per call site; nn.ScaledDotProductAttention is the module
form whose dropout follows the mode.
"""

from __future__ import annotations

import math
import threading
import warnings

from .. import _core
from .._core import Tensor
from .._creation import ones, zeros, zeros_like
from .._methods.functions import broadcast_shapes
from .module import _calls
from .utils.mode_warnings import AttentionDropoutInEvalWarning, _user_stacklevel, warn_once_per_call_site

__all__ = ["scaled_dot_product_attention", "multi_head_attention_forward"]


def scaled_dot_product_attention(query: Tensor, key: Tensor, value: Tensor, attn_mask: Tensor | None = None,
                                 dropout_p: float = 0.0, is_causal: bool = False, scale: float | None = None,
                                 enable_gqa: bool = False) -> Tensor:
    """softmax(query @ key^T * scale + mask) @ value, with dropout on the attention weights.

    Shapes: query (..., L, E), key (..., S, E), value (..., S, Ev) -> (..., L, Ev); the leading
    dims broadcast. `attn_mask` broadcasts to (..., L, S): a bool mask says where to attend (True
    = attend), a float mask is added to the scores. `is_causal` masks key j > query i (aligned at
    the top left when L != S) and cannot be combined with `attn_mask`. `scale` defaults to
    1/sqrt(E). `enable_gqa`: key/value may have fewer heads (dim -3) than query, a divisor of it;
    each is shared by consecutive query heads. A query row with every key masked gives zeros
    (and zero gradients), as in PyTorch.

    `dropout_p` drops attention weights whenever it is > 0, whatever the module mode (PyTorch's
    semantics): write `dropout_p=self.dropout if self.training else 0.0`, or use
    nn.ScaledDotProductAttention(dropout), whose dropout follows train()/eval().
    """
    if attn_mask is not None and attn_mask.ndim < 2:  # a mask over keys (S,) broadcasts as (1, S)
        attn_mask = attn_mask.reshape(1, -1) if attn_mask.ndim else attn_mask.reshape(1, 1)
    _check_sdpa_args(query, key, value, attn_mask, dropout_p, is_causal, enable_gqa)
    if dropout_p > 0:
        _warn_if_dropout_looks_unintended(dropout_p)
    return _sdpa_impl(query, key, value, attn_mask, float(dropout_p), bool(is_causal), scale, bool(enable_gqa))


# The backends fg.nn.attention.sdpa_kernel allows on this thread (None: all), as SDPBackend values.
_backends = threading.local()
_MATH, _FLASH = 0, 1


def _sdpa_impl(query, key, value, attn_mask, dropout_p, is_causal, scale, enable_gqa) -> Tensor:
    """The one place that chooses the implementation (arguments already checked): the fused
    kernel when the extension has it (FLASH_ATTENTION), else the composed path (MATH)."""
    allowed = getattr(_backends, "allowed", None)
    kernel = getattr(_core, "_sdpa", None)
    # (with E = 0 every score is 0 and the output the mean of the values: the composed path)
    if kernel is not None and (allowed is None or _FLASH in allowed) and query.shape[-1]:
        return kernel(query, key, value, attn_mask, dropout_p, is_causal, scale, enable_gqa)
    if allowed is not None and _MATH not in allowed and _FLASH not in allowed:
        raise RuntimeError("scaled_dot_product_attention: No viable backend was found: sdpa_kernel allows "
                           f"{sorted(allowed)} (SDPBackend values); on CPU ferrograd has MATH (0) and "
                           "FLASH_ATTENTION (1)")
    return _sdpa_composed(query, key, value, attn_mask, dropout_p, is_causal, scale, enable_gqa)


def _sdpa_composed(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None,
                   enable_gqa=False) -> Tensor:
    """The composed implementation: PyTorch's math reference, with its safe softmax."""
    if enable_gqa:
        key, value = _repeat_kv_heads(query, key, value)
    weights = _attention_weights(query, key, attn_mask, is_causal, scale, sdpa_mask=True)
    if dropout_p > 0:
        weights = _core._dropout(weights, dropout_p, False, 1, False)
    return weights.matmul(value)


def _attention_weights(query, key, attn_mask, is_causal, scale, sdpa_mask: bool) -> Tensor:
    """softmax(query @ key^T * scale + mask) over the last dim. `sdpa_mask`: a bool mask means
    "attend here" (SDPA); otherwise masks are additive floats already (MultiheadAttention). Rows
    with every score -inf give zeros instead of NaN, with zero gradients."""
    L, S, E = query.shape[-2], key.shape[-2], query.shape[-1]
    factor = (1.0 / math.sqrt(E) if E else 1.0) if scale is None else float(scale)  # E = 0: the scores are 0
    # scaling the query costs L*E multiplications instead of L*S on the scores
    scores = (query * factor if factor != 1.0 else query).matmul(key.transpose(-2, -1))
    dead = None
    if is_causal:
        causal = ones(L, S, dtype=_core.bool).tril()
        scores = scores.masked_fill(~causal, float("-inf"))  # top-left aligned: row i keeps 0..i, never empty
    if attn_mask is not None:
        out_shape = tuple(scores.shape)
        if tuple(broadcast_shapes(tuple(attn_mask.shape), out_shape)) != out_shape:
            raise RuntimeError(
                f"scaled_dot_product_attention: attn_mask of shape {tuple(attn_mask.shape)} does not broadcast "
                f"to the attention scores' shape {out_shape}"
            )
        if attn_mask.dtype == _core.bool and sdpa_mask:
            blocked = ~attn_mask
            scores = scores.masked_fill(blocked, float("-inf"))
        else:
            blocked = attn_mask.isneginf()
            scores = scores + attn_mask.to(scores.dtype)
        if S and scores.numel():
            # found on the mask, which is usually (L, S), rather than on the (..., L, S) scores
            dead = blocked.all(-1, keepdim=True)
            dead = dead if dead.any().item() else None
    if dead is not None:
        # softmax of an all -inf row is NaN, and NaN poisons every gradient through the
        # matmuls: give those rows finite scores, then zero their weights (PyTorch's safe softmax).
        return scores.masked_fill(dead, 0.0).softmax(-1).masked_fill(dead, 0.0)
    return scores.softmax(-1)


def _repeat_kv_heads(query, key, value):
    if query.ndim < 3 or key.ndim < 3 or value.ndim < 3:
        raise RuntimeError("scaled_dot_product_attention: enable_gqa needs query, key and value with a heads dim (-3)")
    hq, hk, hv = query.shape[-3], key.shape[-3], value.shape[-3]
    if hk == 0 or hv == 0 or hq % hk or hq % hv:
        raise RuntimeError(
            "scaled_dot_product_attention: Number of heads in key and value must divide the number of heads in "
            f"query (query {hq}, key {hk}, value {hv} heads)"
        )
    if hk != hq:
        key = key.repeat_interleave(hq // hk, dim=-3)
    if hv != hq:
        value = value.repeat_interleave(hq // hv, dim=-3)
    return key, value


def _check_sdpa_args(query, key, value, attn_mask, dropout_p, is_causal, enable_gqa) -> None:
    if query.ndim < 2 or key.ndim < 2 or value.ndim < 2:
        raise RuntimeError(
            "scaled_dot_product_attention: Expected query, key, and value to all be at least 2 dimensional, but got "
            f"query.dim: {query.ndim} key.dim: {key.ndim} and value.dim: {value.ndim} instead."
        )
    if not (query.dtype == key.dtype == value.dtype):
        raise RuntimeError(
            "scaled_dot_product_attention: Expected query, key, and value to have the same dtype, but got "
            f"query.dtype: {query.dtype} key.dtype: {key.dtype} and value.dtype: {value.dtype} instead."
        )
    if not query.is_floating_point():
        raise RuntimeError(f"scaled_dot_product_attention: expected floating-point query, key and value, got {query.dtype}")
    if key.shape[-1] != query.shape[-1]:
        raise RuntimeError(
            f"scaled_dot_product_attention: query's last dim ({query.shape[-1]}) must equal key's ({key.shape[-1]}); "
            f"shapes query {tuple(query.shape)}, key {tuple(key.shape)}"
        )
    if key.shape[-2] != value.shape[-2]:
        raise RuntimeError(
            f"scaled_dot_product_attention: key and value must have the same sequence length (dim -2), got key "
            f"{tuple(key.shape)} and value {tuple(value.shape)}"
        )
    if attn_mask is not None:
        if is_causal:
            raise RuntimeError("scaled_dot_product_attention: Explicit attn_mask should not be set when is_causal=True")
        if attn_mask.dtype not in (_core.bool, _core.float32, query.dtype):
            raise RuntimeError(
                "scaled_dot_product_attention: Expected attn_mask dtype to be bool or float or to match query dtype, "
                f"but got attn_mask.dtype: {attn_mask.dtype} and query.dtype: {query.dtype} instead."
            )
    if dropout_p > 1:
        raise RuntimeError(f"scaled_dot_product_attention: dropout probability has to be between 0 and 1, but got {dropout_p}")


def _warn_if_dropout_looks_unintended(dropout_p: float) -> None:
    stack = getattr(_calls, "stack", None)
    caller = stack[-1] if stack else None
    if caller is not None and not caller.training:
        where = f"inside {type(caller).__name__}, which is in eval mode"
    elif not _core.is_grad_enabled():
        where = "with grad disabled (evaluation?)"
    else:
        return
    warn_once_per_call_site(
        AttentionDropoutInEvalWarning,
        f"F.scaled_dot_product_attention(dropout_p={dropout_p}) was called {where}: dropout_p does not follow "
        "model.eval() (PyTorch's semantics), so attention weights are still being dropped. Pass "
        "dropout_p=self.dropout if self.training else 0.0, or use nn.ScaledDotProductAttention(dropout), whose "
        "dropout follows the module mode. Silence with fg.nn.utils.set_mode_warnings(attention_dropout=False).",
    )


# ---- multi-head attention -------------------------------------------------------------------

def _canonical_mask(mask, mask_name: str, other_type, other_name: str, target_type, check_other: bool = True):
    """A bool mask (True = masked out) as an additive float mask of `target_type` (PyTorch's helper)."""
    if mask is None:
        return None
    if mask.dtype != _core.bool and not mask.is_floating_point():
        raise AssertionError(f"only bool and floating types of {mask_name} are supported")
    if check_other and other_type is not None and mask.dtype != other_type:
        warnings.warn(f"Support for mismatched {mask_name} and {other_name} is deprecated. Use same type for both "
                      "instead.", stacklevel=_user_stacklevel())
    if mask.dtype == _core.bool:
        return zeros_like(mask, dtype=target_type).masked_fill(mask, float("-inf"))
    return mask


def _none_or_dtype(t):
    return None if t is None else t.dtype


def _mha_shape_check(query, key, value, key_padding_mask, attn_mask, num_heads) -> bool:
    """PyTorch's checks; True for batched (3-D) inputs."""
    if query.ndim == 3:
        if key.ndim != 3 or value.ndim != 3:
            raise AssertionError("For batched (3-D) `query`, expected `key` and `value` to be 3-D but found "
                                 f"{key.ndim}-D and {value.ndim}-D tensors respectively")
        if key_padding_mask is not None and key_padding_mask.ndim != 2:
            raise AssertionError("For batched (3-D) `query`, expected `key_padding_mask` to be `None` or 2-D but "
                                 f"found {key_padding_mask.ndim}-D tensor instead")
        if attn_mask is not None and attn_mask.ndim not in (2, 3):
            raise AssertionError("For batched (3-D) `query`, expected `attn_mask` to be `None`, 2-D or 3-D but "
                                 f"found {attn_mask.ndim}-D tensor instead")
        return True
    if query.ndim == 2:
        if key.ndim != 2 or value.ndim != 2:
            raise AssertionError("For unbatched (2-D) `query`, expected `key` and `value` to be 2-D but found "
                                 f"{key.ndim}-D and {value.ndim}-D tensors respectively")
        if key_padding_mask is not None and key_padding_mask.ndim != 1:
            raise AssertionError("For unbatched (2-D) `query`, expected `key_padding_mask` to be `None` or 1-D but "
                                 f"found {key_padding_mask.ndim}-D tensor instead")
        if attn_mask is not None:
            if attn_mask.ndim not in (2, 3):
                raise AssertionError("For unbatched (2-D) `query`, expected `attn_mask` to be `None`, 2-D or 3-D "
                                     f"but found {attn_mask.ndim}-D tensor instead")
            expected = (num_heads, query.shape[0], key.shape[0])
            if attn_mask.ndim == 3 and tuple(attn_mask.shape) != expected:
                raise AssertionError(f"Expected `attn_mask` shape to be {expected} but got {tuple(attn_mask.shape)}")
        return False
    raise AssertionError(f"query should be unbatched 2D or batched 3D tensor but received {query.ndim}-D query tensor")


def _in_projection(query, key, value, w, b, q_w, k_w, v_w):
    """q, k, v projections from the packed (3E, E) weight or the three separate ones."""
    from .functional import linear

    E = query.shape[-1]
    bq = bk = bv = None
    if b is not None:
        bq, bk, bv = b.chunk(3)
    if w is None:
        for name, wt, x in (("query", q_w, query), ("key", k_w, key), ("value", v_w, value)):
            if wt is None:
                raise AssertionError(f"use_separate_proj_weight is True but {name[0]}_proj_weight is None")
            if tuple(wt.shape) != (E, x.shape[-1]):
                raise AssertionError(f"expecting {name} weights shape of {(E, x.shape[-1])}, but got {tuple(wt.shape)}")
        return linear(query, q_w, bq), linear(key, k_w, bk), linear(value, v_w, bv)
    if key is value and query is key:  # self-attention: one matmul
        return linear(query, w, b).chunk(3, dim=-1)
    wq, wk, wv = w.chunk(3)
    return linear(query, wq, bq), linear(key, wk, bk), linear(value, wv, bv)


def multi_head_attention_forward(
    query: Tensor, key: Tensor, value: Tensor, embed_dim_to_check: int, num_heads: int,
    in_proj_weight: Tensor | None, in_proj_bias: Tensor | None, bias_k: Tensor | None, bias_v: Tensor | None,
    add_zero_attn: bool, dropout_p: float, out_proj_weight: Tensor, out_proj_bias: Tensor | None,
    training: bool = True, key_padding_mask: Tensor | None = None, need_weights: bool = True,
    attn_mask: Tensor | None = None, use_separate_proj_weight: bool = False, q_proj_weight: Tensor | None = None,
    k_proj_weight: Tensor | None = None, v_proj_weight: Tensor | None = None, static_k: Tensor | None = None,
    static_v: Tensor | None = None, average_attn_weights: bool = True, is_causal: bool = False,
) -> tuple[Tensor, Tensor | None]:
    """PyTorch's functional MultiheadAttention (see nn.MultiheadAttention), sequence-first:
    query (L, N, E) or (L, E), key/value (S, N, Ek/Ev) or (S, Ek/Ev). Bool masks are True where
    attention is NOT allowed (the opposite of scaled_dot_product_attention's); float masks are
    added. key_padding_mask (N, S) is merged into attn_mask (L, S) or (N*num_heads, L, S).
    Dropout applies only when `training`. Returns (output, weights or None); the weights are
    averaged over heads, (N, L, S), or per head, (N, num_heads, L, S), with average_attn_weights.

    Unlike PyTorch, a query row whose keys are all masked gives zeros with need_weights=True too
    (PyTorch gives NaN on that path and zeros on the need_weights=False one)."""
    from .functional import linear, pad

    is_batched = _mha_shape_check(query, key, value, key_padding_mask, attn_mask, num_heads)
    if not is_batched:
        query, key, value = query.unsqueeze(1), key.unsqueeze(1), value.unsqueeze(1)
        if key_padding_mask is not None:
            key_padding_mask = key_padding_mask.unsqueeze(0)
    tgt_len, bsz, embed_dim = query.shape
    src_len = key.shape[0]
    key_padding_mask = _canonical_mask(key_padding_mask, "key_padding_mask", _none_or_dtype(attn_mask), "attn_mask",
                                       query.dtype)
    if is_causal and attn_mask is None:
        raise RuntimeError("Need attn_mask if specifying the is_causal hint. You may use the Transformer module "
                           "method `generate_square_subsequent_mask` to create this mask.")
    if is_causal and key_padding_mask is None and not need_weights:
        attn_mask = None  # the hint wins: SDPA builds the causal mask itself
    else:
        attn_mask = _canonical_mask(attn_mask, "attn_mask", None, "", query.dtype, check_other=False)
        if key_padding_mask is not None:
            is_causal = False
    if embed_dim != embed_dim_to_check:
        raise AssertionError(f"was expecting embedding dimension of {embed_dim_to_check}, but got {embed_dim}")
    head_dim = embed_dim // num_heads
    if head_dim * num_heads != embed_dim:
        raise AssertionError(f"embed_dim {embed_dim} not divisible by num_heads {num_heads}")
    if use_separate_proj_weight:
        if tuple(key.shape[:2]) != tuple(value.shape[:2]):
            raise AssertionError(f"key's sequence and batch dims {tuple(key.shape[:2])} do not match value's "
                                 f"{tuple(value.shape[:2])}")
    elif tuple(key.shape) != tuple(value.shape):
        raise AssertionError(f"key shape {tuple(key.shape)} does not match value shape {tuple(value.shape)}")
    elif in_proj_weight is None:
        raise AssertionError("use_separate_proj_weight is False but in_proj_weight is None")
    q, k, v = _in_projection(query, key, value, None if use_separate_proj_weight else in_proj_weight, in_proj_bias,
                             q_proj_weight, k_proj_weight, v_proj_weight)

    if attn_mask is not None:
        expected = (tgt_len, src_len) if attn_mask.ndim == 2 else (bsz * num_heads, tgt_len, src_len)
        if tuple(attn_mask.shape) != expected:
            raise RuntimeError(f"The shape of the {attn_mask.ndim}D attn_mask is {tuple(attn_mask.shape)}, but should "
                               f"be {expected}.")
        if attn_mask.ndim == 2:
            attn_mask = attn_mask.unsqueeze(0)
    if bias_k is not None and bias_v is not None:
        if static_k is not None or static_v is not None:
            raise AssertionError("bias cannot be added to static key or value.")
        k = _core.cat([k, bias_k.repeat(1, bsz, 1)])
        v = _core.cat([v, bias_v.repeat(1, bsz, 1)])
        attn_mask = None if attn_mask is None else pad(attn_mask, (0, 1))
        key_padding_mask = None if key_padding_mask is None else pad(key_padding_mask, (0, 1))
    elif bias_k is not None or bias_v is not None:
        raise AssertionError("bias_k is set but bias_v is None" if bias_k is not None else
                             "bias_v is set but bias_k is None")

    q = q.reshape(tgt_len, bsz * num_heads, head_dim).transpose(0, 1)
    k = _static_or_heads(k, static_k, "static_k", bsz * num_heads, head_dim)
    v = _static_or_heads(v, static_v, "static_v", bsz * num_heads, head_dim)
    if add_zero_attn:
        k = _core.cat([k, zeros(bsz * num_heads, 1, head_dim, dtype=k.dtype)], 1)
        v = _core.cat([v, zeros(bsz * num_heads, 1, head_dim, dtype=v.dtype)], 1)
        attn_mask = None if attn_mask is None else pad(attn_mask, (0, 1))
        key_padding_mask = None if key_padding_mask is None else pad(key_padding_mask, (0, 1))
    src_len = k.shape[1]
    if key_padding_mask is not None:
        if tuple(key_padding_mask.shape) != (bsz, src_len):
            raise AssertionError(f"Expected key_padding_mask of shape {(bsz, src_len)}, but got "
                                 f"{tuple(key_padding_mask.shape)}")
        kpm = key_padding_mask.reshape(bsz, 1, 1, src_len).expand(bsz, num_heads, 1, src_len)
        kpm = kpm.reshape(bsz * num_heads, 1, src_len)
        attn_mask = kpm if attn_mask is None else attn_mask + kpm
    if not training:
        dropout_p = 0.0

    if need_weights:
        weights = _attention_weights(q, k, attn_mask, False, None, sdpa_mask=False)
        if dropout_p > 0:  # PyTorch returns the weights after dropout, as used
            weights = _core._dropout(weights, float(dropout_p), False, 1, False)
        out = weights.matmul(v)
        out = out.transpose(0, 1).reshape(tgt_len * bsz, embed_dim)
        out = linear(out, out_proj_weight, out_proj_bias).reshape(tgt_len, bsz, out_proj_weight.shape[0])
        weights = weights.reshape(bsz, num_heads, tgt_len, src_len)
        if average_attn_weights:
            weights = weights.mean(dim=1)
        if not is_batched:
            out, weights = out.squeeze(1), weights.squeeze(0)
        return out, weights

    if attn_mask is not None:
        attn_mask = attn_mask.unsqueeze(0) if attn_mask.shape[0] == 1 else attn_mask.reshape(bsz, num_heads,
                                                                                               attn_mask.shape[1], src_len)
    q = q.reshape(bsz, num_heads, tgt_len, head_dim)
    k = k.reshape(bsz, num_heads, src_len, head_dim)
    v = v.reshape(bsz, num_heads, src_len, head_dim)
    out = _sdpa_impl(q, k, v, attn_mask, float(dropout_p), bool(is_causal), None, False)
    out = out.permute(2, 0, 1, 3).reshape(bsz * tgt_len, embed_dim)
    out = linear(out, out_proj_weight, out_proj_bias).reshape(tgt_len, bsz, out_proj_weight.shape[0])
    return (out if is_batched else out.squeeze(1)), None


def _static_or_heads(t, static, name, bh, head_dim):
    if static is None:
        return t.reshape(t.shape[0], bh, head_dim).transpose(0, 1)
    if static.shape[0] != bh or static.shape[2] != head_dim:
        raise AssertionError(f"expecting {name} of shape ({bh}, S, {head_dim}), but got {tuple(static.shape)}")
    return static
