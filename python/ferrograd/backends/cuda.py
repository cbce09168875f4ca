"""``fg.backends.cuda``: ferrograd is built without CUDA; the matmul precision flags are
accepted and stored with PyTorch's defaults (float32 matmuls are always full float32 here)."""

from __future__ import annotations


class _MatmulFlags:
    """``torch.backends.cuda.matmul``: plain attributes with PyTorch's defaults."""

    def __init__(self) -> None:
        self.allow_tf32 = False
        self.allow_fp16_reduced_precision_reduction = True
        self.allow_bf16_reduced_precision_reduction = True

    def __repr__(self) -> str:
        return f"<ferrograd.backends.cuda.matmul allow_tf32={self.allow_tf32}>"


matmul = _MatmulFlags()


def is_built() -> bool:
    return False
