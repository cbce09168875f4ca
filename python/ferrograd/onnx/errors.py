"""Export errors, with PyTorch's names (`torch.onnx.errors`)."""

from __future__ import annotations

__all__ = ["OnnxExporterError", "UnsupportedOperatorError"]


class OnnxExporterError(RuntimeError):
    """Export failed."""


class UnsupportedOperatorError(OnnxExporterError):
    """An op or layer of the model has no ONNX mapping (the message names it and its module)."""
