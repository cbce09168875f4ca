"""`fg.utils`: data loading (`fg.utils.data`), DLPack capsules (`fg.utils.dlpack`) and activation
checkpointing (`fg.utils.checkpoint`)."""

from . import checkpoint, data, dlpack

__all__ = ["checkpoint", "data", "dlpack"]
