"""Weight normalisation and spectral normalisation as parametrizations, as
``torch.nn.utils.parametrizations`` (see parametrize.py for the mechanism).

- ``weight_norm(module)``: ``weight = g * v / ||v||`` with the norm over every dim but `dim`;
  stored as ``parametrizations.weight.original0`` (g) and ``original1`` (v).
- ``spectral_norm(module)``: ``weight = W / sigma(W)``, with the largest singular value sigma
  estimated by power iteration; stored as ``parametrizations.weight.original`` with the
  iteration's vectors in the buffers ``parametrizations.weight.0._u`` and ``._v``. In training
  each access runs ``n_power_iterations`` steps and updates u and v; in eval mode they are
  frozen and the weight is a pure function of the stored W.
"""

from __future__ import annotations

from ... import _creation
from ..._core import Tensor
from ...autograd.grad_mode import no_grad
from ..module import Module
from .parametrize import register_parametrization

__all__ = ["weight_norm", "spectral_norm"]


def _norm_except_dim(v: Tensor, dim: int) -> Tensor:
    """The 2-norm of `v` over every dim but `dim` (kept, size 1); over everything for dim=-1."""
    if dim == -1:
        return v.norm(2)
    d = dim % v.dim()
    others = tuple(i for i in range(v.dim()) if i != d)
    return v.norm(2, dim=others, keepdim=True) if others else v.abs()


def _weight_norm(v: Tensor, g: Tensor, dim: int) -> Tensor:
    return v * (g / _norm_except_dim(v, dim))


class _WeightNorm(Module):
    def __init__(self, dim: int | None = 0) -> None:
        super().__init__()
        self.dim = -1 if dim is None else dim

    def forward(self, weight_g: Tensor, weight_v: Tensor) -> Tensor:
        return _weight_norm(weight_v, weight_g, self.dim)

    def right_inverse(self, weight: Tensor) -> tuple[Tensor, Tensor]:
        return _norm_except_dim(weight, self.dim), weight


def weight_norm(module: Module, name: str = "weight", dim: int | None = 0) -> Module:
    """Reparametrizes ``module.<name>`` as ``g * v / ||v||`` (Salimans and Kingma 2016): the
    magnitude g (one per slice along `dim`; one number for ``dim=None``) and the direction v
    are learned separately. Returns the module."""
    register_parametrization(module, name, _WeightNorm(dim), unsafe=True)
    return module


def _normalize(x: Tensor, eps: float) -> Tensor:
    return x / x.norm(2).clamp(min=eps)


class _SpectralNorm(Module):
    def __init__(self, weight: Tensor, n_power_iterations: int = 1, dim: int = 0, eps: float = 1e-12) -> None:
        super().__init__()
        ndim = weight.dim()
        if dim >= ndim or dim < -ndim:
            raise IndexError(f"Dimension out of range (expected to be in range of [-{ndim}, {ndim - 1}] but got {dim})")
        if n_power_iterations <= 0:
            raise ValueError(f"Expected n_power_iterations to be positive, but got n_power_iterations={n_power_iterations}")
        self.dim = dim if dim >= 0 else dim + ndim
        self.eps = eps
        if ndim > 1:
            self.n_power_iterations = n_power_iterations
            weight_mat = self._reshape_weight_to_matrix(weight.detach())
            h, w = weight_mat.shape
            u = _creation.empty(h, dtype=weight.dtype).normal_(0, 1)
            v = _creation.empty(w, dtype=weight.dtype).normal_(0, 1)
            self.register_buffer("_u", _normalize(u, self.eps))
            self.register_buffer("_v", _normalize(v, self.eps))
            # Start the iteration near the top singular vectors.
            self._power_method(weight_mat, 15)

    def _mode_meaning(self) -> str | None:
        if not hasattr(self, "_u"):
            return None
        if self.training:
            return f"power iteration: {self.n_power_iterations} step(s) per weight access update u, v"
        return "u, v frozen: the weight is a fixed function of the stored tensor"

    def _reshape_weight_to_matrix(self, weight: Tensor) -> Tensor:
        if self.dim != 0:
            weight = weight.permute(self.dim, *(d for d in range(weight.dim()) if d != self.dim))
        return weight.flatten(1)

    def _power_method(self, weight_mat: Tensor, n_power_iterations: int) -> None:
        with no_grad():
            for _ in range(n_power_iterations):
                self._u.copy_(_normalize(weight_mat @ self._v, self.eps))
                self._v.copy_(_normalize(weight_mat.t() @ self._u, self.eps))

    def forward(self, weight: Tensor) -> Tensor:
        if weight.dim() == 1:
            return weight / weight.norm(2).clamp(min=self.eps)
        weight_mat = self._reshape_weight_to_matrix(weight)
        if self.training:
            self._power_method(weight_mat.detach(), self.n_power_iterations)
        u, v = self._u.clone(), self._v.clone()
        sigma = u.dot(weight_mat @ v)
        return weight / sigma

    def right_inverse(self, value: Tensor) -> Tensor:
        return value


_TRANSPOSED = ("ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d")


def spectral_norm(module: Module, name: str = "weight", n_power_iterations: int = 1, eps: float = 1e-12,
                  dim: int | None = None) -> Module:
    """Divides ``module.<name>`` by its spectral norm (largest singular value), estimated by
    power iteration (Miyato et al. 2018), to bound the layer's Lipschitz constant (GAN
    discriminators). `dim` is the output-channel dim (default 0; 1 for ConvTranspose).
    Returns the module."""
    weight = getattr(module, name, None)
    if not isinstance(weight, Tensor):
        raise ValueError(f"Module '{module}' has no parameter or buffer with name '{name}'")
    if dim is None:
        dim = 1 if type(module).__name__ in _TRANSPOSED else 0
    register_parametrization(module, name, _SpectralNorm(weight, n_power_iterations, dim, eps))
    return module
