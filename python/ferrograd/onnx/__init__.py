"""`fg.onnx.export`: a model as an ONNX file, with PyTorch's names and defaults.

The model's forward runs once under the core's tracer (`autograd::trace`), which logs every op
with its inputs, outputs and attributes whatever the grad mode; the op table turns each into
ONNX nodes. Writing needs the `onnx` package (`pip install ferrograd[onnx]`); importing this
module does not.

Train/eval: `training=TrainingMode.EVAL` (the default) exports the eval-mode graph whatever mode
the model is in: Dropout disappears and BatchNorm uses its running statistics (folded into the
Conv or Linear before it when `do_constant_folding`). Every module's own flag is restored
afterwards, pins included; a model left in training mode gets a warning that says what was
exported. See docs/onnx.md.
"""

from __future__ import annotations

import enum
import os
import tempfile

from .errors import OnnxExporterError, UnsupportedOperatorError

__all__ = ["export", "TrainingMode", "is_in_onnx_export", "OnnxExporterError", "UnsupportedOperatorError"]

_exporting = False


class TrainingMode(enum.IntEnum):
    """Which mode the exported graph has (PyTorch's `torch.onnx.TrainingMode`)."""

    EVAL = 0
    PRESERVE = 1
    TRAINING = 2


def is_in_onnx_export() -> bool:
    """True while `export` runs the model's forward."""
    return _exporting


def _require_onnx():
    try:
        import onnx
    except ModuleNotFoundError as e:
        raise ModuleNotFoundError("fg.onnx.export needs the onnx package: pip install 'ferrograd[onnx]' (or pip install onnx)") from e
    return onnx


def export(model, args=(), f=None, *, kwargs=None, export_params: bool = True, verbose: bool = False, input_names=None,
           output_names=None, opset_version: int | None = 17, dynamic_axes=None, keep_initializers_as_inputs: bool = False,
           training: TrainingMode = TrainingMode.EVAL, do_constant_folding: bool = True):
    """Traces `model(*args, **kwargs)` and writes the ONNX model to `f` (a path or a binary file
    object). Returns the `onnx.ModelProto`.

    Args:
        args: a tensor or a tuple of them (a trailing dict is keyword arguments, as in PyTorch).
        input_names, output_names: names of the graph's inputs and outputs, in order.
        dynamic_axes: {name: [axis, ...]} or {name: {axis: "symbol"}}: axes whose size may change
            (the batch, usually); other sizes are those of `args`.
        training: EVAL (default), PRESERVE (each module's current mode), or TRAINING.
        do_constant_folding: fold eval-mode BatchNorm into the Conv/Linear before it.
    """
    onnx = _require_onnx()
    from ._export import run_export

    if f is None:
        raise TypeError("export() missing the file argument f (a path or a binary file object)")
    if opset_version is None:
        opset_version = 17
    if not export_params:
        raise OnnxExporterError("fg.onnx.export: export_params=False is not supported (the weights are always written)")
    if not 13 <= opset_version <= 21:
        raise ValueError(f"fg.onnx.export: opset_version must be between 13 and 21, got {opset_version}")
    if not isinstance(args, tuple):
        args = (args,)
    if args and isinstance(args[-1], dict):
        args, kwargs = args[:-1], {**args[-1], **(kwargs or {})}
    global _exporting
    _exporting = True
    try:
        proto = run_export(onnx, model, args, kwargs or {}, opset=opset_version, input_names=input_names, output_names=output_names,
                           dynamic_axes=dynamic_axes or {}, training=TrainingMode(training), fold=do_constant_folding)
    finally:
        _exporting = False
    if verbose:
        print(onnx.helper.printable_graph(proto.graph))
    _write(proto.SerializeToString(), f)
    return proto


def _write(data: bytes, f) -> None:
    """Writes all of `data` or nothing: a path is written to a temporary file beside it and
    renamed over it, so an existing file is never left half-written."""
    if hasattr(f, "write"):
        f.write(data)
        return
    path = os.fspath(f)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"fg.onnx.export: the folder of {path!r} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=".onnx-", dir=folder)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        # mkstemp makes the file private (0600); a model file gets the usual mode.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise

