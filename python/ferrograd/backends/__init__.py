"""``fg.backends``: PyTorch's backend switches, answered for ferrograd's one backend (the CPU
kernels in Rust). Flags that only mean something on GPUs (``cudnn.benchmark``,
``cuda.matmul.allow_tf32``) are accepted and stored so scripts that set them run unchanged;
they change nothing.
"""

from . import cpu, cuda, cudnn, mkldnn, mps, openmp

__all__ = ["cpu", "cuda", "cudnn", "mkldnn", "mps", "openmp"]
