"""`fg.optim`: optimizers and `fg.optim.lr_scheduler`.

SGD, Adam, AdamW, RMSprop, Adagrad and Adadelta step with fused Rust kernels; NAdam, RAdam,
Adamax, ASGD, Rprop and LBFGS with tensor ops under no_grad, following PyTorch's
single-tensor code. Every optimizer accepts PyTorch's ``foreach`` (and, where PyTorch has it,
``fused``) for compatibility and ignores it: there is one implementation per optimizer.
``capturable=True`` and ``differentiable=True`` raise ValueError (CUDA graphs; steps on the
autograd graph).
"""

from . import lr_scheduler, swa_utils
from .adadelta import Adadelta
from .adagrad import Adagrad
from .adam import Adam, AdamW
from .adamax import Adamax
from .asgd import ASGD
from .lbfgs import LBFGS
from .nadam import NAdam, RAdam
from .optimizer import Optimizer
from .rmsprop import RMSprop
from .rprop import Rprop
from .sgd import SGD

__all__ = [
    "Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta", "NAdam", "RAdam", "Adamax", "ASGD", "Rprop",
    "LBFGS", "lr_scheduler", "swa_utils",
]
