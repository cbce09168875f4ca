"""`fg.utils`: data loading (`fg.utils.data`) and DLPack capsules (`fg.utils.dlpack`)."""

from . import data, dlpack

__all__ = ["data", "dlpack"]
