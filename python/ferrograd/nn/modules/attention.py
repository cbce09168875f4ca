"""Attention layers: ScaledDotProductAttention (ferrograd's module form of
F.scaled_dot_product_attention, whose dropout follows the mode) and MultiheadAttention with
PyTorch's signature, parameter names and state_dict keys. Attention dropout is active only in
training mode (the module's own flag: train()/eval(), the mode contexts and pins)."""

from __future__ import annotations

from ..._creation import _dtype_or_default, empty
from .. import _functional_attention as FA
from .. import init
from ..module import Module
from ..parameter import Parameter
from .linear import Linear

__all__ = ["ScaledDotProductAttention", "MultiheadAttention"]


def _attention_dropout_meaning(training: bool, p: float) -> str:
    if p == 0:
        return "no attention dropout (p=0)"
    return f"attention dropout p={p}" if training else "no attention dropout (eval)"


class ScaledDotProductAttention(Module):
    """F.scaled_dot_product_attention as a module whose attention dropout follows train()/eval():
    `dropout_p = self.dropout if self.training else 0.0`, written once. No parameters.

    forward(query, key, value, attn_mask=None, is_causal=False, scale=None, enable_gqa=False);
    shapes and masks as F.scaled_dot_product_attention (a bool mask is True where to attend)."""

    def __init__(self, dropout: float = 0.0) -> None:
        super().__init__()
        if not 0.0 <= dropout <= 1.0:
            raise ValueError(f"dropout probability has to be between 0 and 1, but got {dropout}")
        self.dropout = dropout

    def forward(self, query, key, value, attn_mask=None, is_causal: bool = False, scale: float | None = None,
                enable_gqa: bool = False):
        p = self.dropout if self.training else 0.0
        FA._check_sdpa_args(query, key, value, attn_mask, p, is_causal, enable_gqa)
        return FA._sdpa_impl(query, key, value, attn_mask, float(p), bool(is_causal), scale, bool(enable_gqa))

    def extra_repr(self) -> str:
        return f"dropout={self.dropout}"

    def _mode_meaning(self) -> str:
        return _attention_dropout_meaning(self.training, self.dropout)


class NonDynamicallyQuantizableLinear(Linear):
    """PyTorch's name for MultiheadAttention.out_proj's class (a plain Linear)."""


class MultiheadAttention(Module):
    """Attention over `num_heads` heads of size embed_dim // num_heads (PyTorch's layer).

    Parameters (PyTorch's names): in_proj_weight (3E, E) when kdim = vdim = embed_dim, else
    q_proj_weight (E, E), k_proj_weight (E, kdim), v_proj_weight (E, vdim); in_proj_bias (3E);
    out_proj (Linear E -> E); bias_k, bias_v (1, 1, E) with add_bias_kv.

    forward(query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
    average_attn_weights=True, is_causal=False) -> (output, weights or None). Shapes (L target,
    S source, N batch): query (L, N, E), key (S, N, kdim), value (S, N, vdim), or batch first with
    batch_first=True, or unbatched (L, E). Bool masks are True where attention is NOT allowed;
    float masks are added to the scores. key_padding_mask (N, S); attn_mask (L, S) or
    (N * num_heads, L, S). The weights are averaged over heads, (N, L, S), or per head with
    average_attn_weights=False, (N, num_heads, L, S). need_weights=False takes the
    scaled-dot-product path and returns None for the weights.

    The attention dropout (`dropout`) is applied only in training mode."""

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True,
                 add_bias_kv: bool = False, add_zero_attn: bool = False, kdim: int | None = None,
                 vdim: int | None = None, batch_first: bool = False, device=None, dtype=None) -> None:
        if embed_dim <= 0 or num_heads <= 0:
            raise ValueError(f"embed_dim and num_heads must be greater than 0, got embed_dim={embed_dim} and "
                             f"num_heads={num_heads} instead")
        super().__init__()
        dtype = _dtype_or_default(dtype)
        self.embed_dim = embed_dim
        self.kdim = kdim if kdim is not None else embed_dim
        self.vdim = vdim if vdim is not None else embed_dim
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        self.num_heads = num_heads
        self.dropout = dropout
        self.batch_first = batch_first
        self.head_dim = embed_dim // num_heads
        if self.head_dim * num_heads != embed_dim:
            raise AssertionError("embed_dim must be divisible by num_heads")
        if not self._qkv_same_embed_dim:
            self.q_proj_weight = Parameter(empty(embed_dim, embed_dim, dtype=dtype, device=device))
            self.k_proj_weight = Parameter(empty(embed_dim, self.kdim, dtype=dtype, device=device))
            self.v_proj_weight = Parameter(empty(embed_dim, self.vdim, dtype=dtype, device=device))
            self.register_parameter("in_proj_weight", None)
        else:
            self.in_proj_weight = Parameter(empty(3 * embed_dim, embed_dim, dtype=dtype, device=device))
            self.register_parameter("q_proj_weight", None)
            self.register_parameter("k_proj_weight", None)
            self.register_parameter("v_proj_weight", None)
        if bias:
            self.in_proj_bias = Parameter(empty(3 * embed_dim, dtype=dtype, device=device))
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = NonDynamicallyQuantizableLinear(embed_dim, embed_dim, bias=bias, device=device, dtype=dtype)
        if add_bias_kv:
            self.bias_k = Parameter(empty(1, 1, embed_dim, dtype=dtype, device=device))
            self.bias_v = Parameter(empty(1, 1, embed_dim, dtype=dtype, device=device))
        else:
            self.bias_k = self.bias_v = None
        self.add_zero_attn = add_zero_attn
        self._reset_parameters()

    def _reset_parameters(self) -> None:
        if self._qkv_same_embed_dim:
            init.xavier_uniform_(self.in_proj_weight)
        else:
            init.xavier_uniform_(self.q_proj_weight)
            init.xavier_uniform_(self.k_proj_weight)
            init.xavier_uniform_(self.v_proj_weight)
        if self.in_proj_bias is not None:
            init.constant_(self.in_proj_bias, 0.0)
            init.constant_(self.out_proj.bias, 0.0)
        if self.bias_k is not None:
            init.xavier_normal_(self.bias_k)
        if self.bias_v is not None:
            init.xavier_normal_(self.bias_v)

    def forward(self, query, key, value, key_padding_mask=None, need_weights: bool = True, attn_mask=None,
                average_attn_weights: bool = True, is_causal: bool = False):
        key_padding_mask = FA._canonical_mask(key_padding_mask, "key_padding_mask", FA._none_or_dtype(attn_mask),
                                              "attn_mask", query.dtype)
        attn_mask = FA._canonical_mask(attn_mask, "attn_mask", None, "", query.dtype, check_other=False)
        is_batched = query.ndim == 3
        if self.batch_first and is_batched:
            # keep identities: the packed self-attention projection is one matmul
            if key is value:
                if query is key:
                    query = key = value = query.transpose(1, 0)
                else:
                    query = query.transpose(1, 0)
                    key = value = key.transpose(1, 0)
            else:
                query, key, value = (x.transpose(1, 0) for x in (query, key, value))
        separate = not self._qkv_same_embed_dim
        out, weights = FA.multi_head_attention_forward(
            query, key, value, self.embed_dim, self.num_heads, self.in_proj_weight, self.in_proj_bias,
            self.bias_k, self.bias_v, self.add_zero_attn, self.dropout, self.out_proj.weight, self.out_proj.bias,
            training=self.training, key_padding_mask=key_padding_mask, need_weights=need_weights,
            attn_mask=attn_mask, use_separate_proj_weight=separate, q_proj_weight=self.q_proj_weight,
            k_proj_weight=self.k_proj_weight, v_proj_weight=self.v_proj_weight,
            average_attn_weights=average_attn_weights, is_causal=is_causal,
        )
        if self.batch_first and is_batched:
            return out.transpose(1, 0), weights
        return out, weights

    def merge_masks(self, attn_mask, key_padding_mask, query):
        """(merged additive mask or None, mask_type): PyTorch's helper, 0 = attn_mask (L, S),
        1 = key_padding_mask (N, S), 2 = both merged to (N, num_heads, L, S)."""
        if key_padding_mask is None and attn_mask is None:
            return None, None
        if key_padding_mask is None:
            return attn_mask, 0
        if attn_mask is None:
            return key_padding_mask, 1
        batch, seq = query.shape[0], query.shape[1]
        kpm = key_padding_mask.reshape(batch, 1, 1, seq).expand(batch, self.num_heads, 1, seq)
        mask = attn_mask.reshape(1, 1, seq, seq) if attn_mask.ndim == 2 else attn_mask.reshape(batch, -1, seq, seq)
        return mask.expand(batch, self.num_heads, seq, seq) + kpm, 2

    def _mode_meaning(self) -> str:
        return _attention_dropout_meaning(self.training, self.dropout)
