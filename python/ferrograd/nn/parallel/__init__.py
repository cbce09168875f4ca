"""fg.nn.parallel: DistributedDataParallel (data-parallel training over ``fg.distributed``)."""

from .distributed import DistributedDataParallel

__all__ = ["DistributedDataParallel"]
