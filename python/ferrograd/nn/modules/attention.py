"""Attention layers: ScaledDotProductAttention and MultiheadAttention (being written)."""

__all__: list[str] = []
