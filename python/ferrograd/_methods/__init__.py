"""Composite Tensor methods by family; `ferrograd._tensor_methods` imports them all and attaches
them to `fg.Tensor` (see `_util.register`)."""
