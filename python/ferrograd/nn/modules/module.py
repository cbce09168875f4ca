"""`fg.nn.modules.module`: where PyTorch keeps `Module` and the global module hooks
(`torch.nn.modules.module.register_module_forward_hook` and friends). The code lives in
nn/module.py and nn/_module_hooks.py; this file gives it PyTorch's import path."""

from ...utils.hooks import RemovableHandle
from .._module_hooks import (
    register_module_backward_hook,
    register_module_buffer_registration_hook,
    register_module_forward_hook,
    register_module_forward_pre_hook,
    register_module_full_backward_hook,
    register_module_full_backward_pre_hook,
    register_module_module_registration_hook,
    register_module_parameter_registration_hook,
)
from ..module import Module

__all__ = [
    "Module", "RemovableHandle", "register_module_backward_hook", "register_module_buffer_registration_hook",
    "register_module_forward_hook", "register_module_forward_pre_hook", "register_module_full_backward_hook",
    "register_module_full_backward_pre_hook", "register_module_module_registration_hook",
    "register_module_parameter_registration_hook",
]
