"""fg.nn: modules, functional and init, with PyTorch's names and state_dict keys."""

from . import attention, functional, init, parallel, parameter, utils
from .module import Module
from .modules import *  # noqa: F403
from .modules import __all__ as _modules_all
from .parameter import Buffer, Parameter, UninitializedBuffer, UninitializedParameter

__all__ = ["Module", "Parameter", "Buffer", "UninitializedParameter", "UninitializedBuffer", "attention", "functional", "init",
           "parallel", "parameter", "utils", *_modules_all]
