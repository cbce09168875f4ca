"""`fg.utils`: data loading (`fg.utils.data`)."""

from . import data

__all__ = ["data"]
