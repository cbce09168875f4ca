"""The state_dict half of `nn.Module`: saving parameters, persistent buffers and extra state
under PyTorch's dotted keys, and loading them back with every key and shape checked first."""

from __future__ import annotations

from collections import OrderedDict, namedtuple
from typing import Any

import numpy as np

from .._core import Tensor
from ..autograd.grad_mode import no_grad

# The state_dict key of a module's `get_extra_state()` (PyTorch's).
_EXTRA_STATE = "_extra_state"


class _IncompatibleKeys(namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])):
    """What load_state_dict returns, printed as PyTorch prints it."""

    __slots__ = ()

    def __repr__(self) -> str:
        if not self.missing_keys and not self.unexpected_keys:
            return "<All keys matched successfully>"
        return f"_IncompatibleKeys(missing_keys={self.missing_keys}, unexpected_keys={self.unexpected_keys})"

    __str__ = __repr__


class ModuleState:
    """Mixed into `Module`, whose `_parameters`, `_buffers`, `_modules` and
    `_non_persistent_buffers_set` it reads."""

    def state_dict(self, *, destination: dict | None = None, prefix: str = "", keep_vars: bool = False) -> OrderedDict:
        """Parameters and persistent buffers with dotted keys, as PyTorch names them. Values are
        detached tensors sharing storage with the module's (unless keep_vars)."""
        out = OrderedDict() if destination is None else destination
        for name, p in self._parameters.items():
            if p is not None:
                out[prefix + name] = p if keep_vars else p.detach()
        for name, b in self._buffers.items():
            if b is not None and name not in self._non_persistent_buffers_set:
                out[prefix + name] = b if keep_vars else b.detach()
        if type(self).get_extra_state is not ModuleState.get_extra_state:
            out[prefix + _EXTRA_STATE] = self.get_extra_state()
        for name, m in self._modules.items():
            if m is not None:
                m.state_dict(destination=out, prefix=f"{prefix}{name}.", keep_vars=keep_vars)
        return out

    def get_extra_state(self) -> Any:
        """State beyond parameters and buffers, saved under "_extra_state" in the state_dict by a
        module that overrides this (and `set_extra_state` to load it), as in PyTorch."""
        raise RuntimeError("Reached a code path in Module.get_extra_state() that should never be called.")

    def set_extra_state(self, state: Any) -> None:
        """Loads what `get_extra_state` returned (override both)."""
        raise RuntimeError("Reached a code path in Module.set_extra_state() that should never be called.")

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        """Copies values into the parameters and buffers. Every key and shape is checked before
        anything is copied, so a load that fails leaves the model unchanged. Accepts ferrograd
        tensors and numpy arrays; returns (missing_keys, unexpected_keys)."""
        if not hasattr(state_dict, "items"):
            raise TypeError(f"Expected state_dict to be dict-like, got {type(state_dict).__name__}.")
        for path, m in self.named_modules():  # lazy layers take their shapes from the checkpoint first
            before_load = getattr(m, "_before_load_state_dict", None)
            if before_load is not None:
                before_load(state_dict, f"{path}." if path else "")
        own = self.state_dict(keep_vars=True)
        # Extra state goes to the modules that take it (set_extra_state), not into a tensor.
        takers = {f"{path}.{_EXTRA_STATE}" if path else _EXTRA_STATE: m for path, m in self.named_modules()
                  if type(m).set_extra_state is not ModuleState.set_extra_state}
        for key in [k for k in own if k == _EXTRA_STATE or k.endswith("." + _EXTRA_STATE)]:
            del own[key]
        missing = [k for k in own if k not in state_dict] + [k for k in takers if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own and k not in takers]
        errors = []
        if strict:
            if unexpected:
                errors.append("Unexpected key(s) in state_dict: " + ", ".join(f'"{k}"' for k in unexpected) + ". ")
            if missing:
                errors.append("Missing key(s) in state_dict: " + ", ".join(f'"{k}"' for k in missing) + ". ")
        plan = []
        for key, target in own.items():
            if key not in state_dict:
                continue
            value = state_dict[key]
            if isinstance(value, np.ndarray) or np.isscalar(value):
                from .._creation import tensor

                value = tensor(np.asarray(value))
            if not isinstance(value, Tensor):
                errors.append(f'While copying the parameter named "{key}", expected a Tensor or numpy array, got {type(value).__name__}.')
                continue
            if target.ndim == 0 and tuple(value.shape) == (1,):
                # Checkpoints from PyTorch 0.3 store 0-d buffers (num_batches_tracked) as shape
                # (1,); PyTorch loads them. A longer 1-D value stays a size mismatch (PyTorch
                # would silently take its first element).
                value = value.reshape(())
            if tuple(value.shape) != tuple(target.shape):
                errors.append(
                    f"size mismatch for {key}: copying a param with shape {_size(value.shape)} from checkpoint, "
                    f"the shape in current model is {_size(target.shape)}."
                )
                continue
            plan.append((target, value))
        if errors:
            raise RuntimeError(f"Error(s) in loading state_dict for {type(self).__name__}:\n\t" + "\n\t".join(errors))
        with no_grad():
            for target, value in plan:
                target.copy_(value.detach())
        for key, m in takers.items():
            if key in state_dict:
                m.set_extra_state(state_dict[key])
        return _IncompatibleKeys(missing, unexpected)



def _size(shape) -> str:
    return f"ferrograd.Size({list(shape)})"
