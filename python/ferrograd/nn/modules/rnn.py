"""RNN, LSTM and GRU with PyTorch's signatures, parameter names and order, shapes and errors.

Each layer and direction is one call of a layer function from rnn_cells (`_layer_fn`: the fused
kernel when the extension has it, else the composed step loop). Dropout between layers is
`F.dropout(..., training=self.training)`, so it follows eval(), the mode contexts and pins, and
`model.modes()` lists it. The cells (RNNCell, LSTMCell, GRUCell) live in rnn_cells.py.
"""

from __future__ import annotations

import math
import numbers
import warnings

from ..._creation import _dtype_or_default, empty, zeros
from ..._functions import cat, stack
from .. import functional as F
from .. import init
from ..module import Module
from ..parameter import Parameter
from ..utils.rnn import PackedSequence
from .rnn_cells import GRUCell, LSTMCell, RNNCell, RNNCellBase, _layer_fn

__all__ = ["RNNBase", "RNN", "LSTM", "GRU", "RNNCellBase", "RNNCell", "LSTMCell", "GRUCell"]

_GATES = {"LSTM": 4, "GRU": 3, "RNN_TANH": 1, "RNN_RELU": 1}


class _ModeName(str):
    """PyTorch's `rnn.mode` ("LSTM", "GRU", "RNN_TANH", "RNN_RELU") is a string attribute, and
    ferrograd's `module.mode("eval")` is the mode context: this string is both, so `lstm.mode ==
    "LSTM"` and `with lstm.mode("eval"):` work."""

    def __new__(cls, value: str, module: Module):
        name = super().__new__(cls, value)
        name._module = module
        return name

    def __call__(self, mode: str):
        return Module.mode(self._module, mode)


class RNNBase(Module):
    """Parameters and checks shared by RNN, LSTM and GRU.

    Parameters, per layer k and direction (suffix "_reverse" for the backward one), in PyTorch's
    order: weight_ih_l{k} (gates*H, I_k), weight_hh_l{k} (gates*H, H_out), bias_ih_l{k},
    bias_hh_l{k} (gates*H) when bias, weight_hr_l{k} (proj_size, H) when proj_size > 0. I_0 is
    input_size, later layers take H_out * num_directions. All start as U(-1/sqrt(H), 1/sqrt(H)).
    """

    def __init__(self, mode: str, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False, proj_size: int = 0,
                 device=None, dtype=None) -> None:
        super().__init__()
        if not isinstance(dropout, numbers.Number) or not 0 <= dropout <= 1 or isinstance(dropout, bool):
            raise ValueError("dropout should be a number in range [0, 1] representing the probability of an element being zeroed")
        if dropout > 0 and num_layers == 1:
            warnings.warn(
                "dropout option adds dropout after all but last recurrent layer, so non-zero dropout expects "
                f"num_layers greater than 1, but got dropout={dropout} and num_layers={num_layers}",
                stacklevel=3,
            )
        if not isinstance(bias, bool):
            raise TypeError(f"bias should be of type bool, got: {type(bias).__name__}")
        if not isinstance(batch_first, bool):
            raise TypeError(f"batch_first should be of type bool, got: {type(batch_first).__name__}")
        if not isinstance(input_size, int):
            raise TypeError(f"input_size should be of type int, got: {type(input_size).__name__}")
        if input_size <= 0:
            raise ValueError("input_size must be greater than zero")
        if not isinstance(hidden_size, int):
            raise TypeError(f"hidden_size should be of type int, got: {type(hidden_size).__name__}")
        if hidden_size <= 0:
            raise ValueError("hidden_size must be greater than zero")
        if num_layers <= 0:
            raise ValueError("num_layers must be greater than zero")
        if proj_size < 0:
            raise ValueError("proj_size should be a positive integer or zero to disable projections")
        if proj_size >= hidden_size:
            raise ValueError("proj_size has to be smaller than hidden_size")
        if mode not in _GATES:
            raise ValueError("Unrecognized RNN mode: " + mode)
        self._rnn_mode = mode
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bias = bias
        self.batch_first = batch_first
        self.dropout = float(dropout)
        self.bidirectional = bidirectional
        self.proj_size = proj_size
        gate_size = _GATES[mode] * hidden_size
        real_hidden = proj_size if proj_size > 0 else hidden_size
        num_directions = 2 if bidirectional else 1
        dt = _dtype_or_default(dtype)
        self._flat_weights_names: list[str] = []
        self._all_weights: list[list[str]] = []
        for layer in range(num_layers):
            for direction in range(num_directions):
                layer_input = input_size if layer == 0 else real_hidden * num_directions
                shapes = [(gate_size, layer_input), (gate_size, real_hidden)]
                names = ["weight_ih_l{}{}", "weight_hh_l{}{}"]
                if bias:
                    shapes += [(gate_size,), (gate_size,)]
                    names += ["bias_ih_l{}{}", "bias_hh_l{}{}"]
                if proj_size > 0:
                    shapes.append((proj_size, hidden_size))
                    names.append("weight_hr_l{}{}")
                suffix = "_reverse" if direction == 1 else ""
                names = [n.format(layer, suffix) for n in names]
                for name, shape in zip(names, shapes):
                    setattr(self, name, Parameter(empty(*shape, dtype=dt, device=device)))
                self._flat_weights_names.extend(names)
                self._all_weights.append(names)
        self.reset_parameters()

    @property
    def mode(self) -> str:
        return _ModeName(self._rnn_mode, self)

    def reset_parameters(self) -> None:
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for weight in self.parameters():
            init.uniform_(weight, -stdv, stdv)

    def flatten_parameters(self) -> None:
        """Accepted for PyTorch scripts; a no-op (cuDNN's weight packing has no CPU counterpart)."""

    @property
    def _flat_weights(self) -> list:
        return [getattr(self, name, None) for name in self._flat_weights_names]

    @property
    def all_weights(self) -> list[list[Parameter]]:
        return [[getattr(self, name) for name in names] for names in self._all_weights]

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.proj_size != 0:
            s += f", proj_size={self.proj_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if self.batch_first is not False:
            s += f", batch_first={self.batch_first}"
        if self.dropout != 0:
            s += f", dropout={self.dropout}"
        if self.bidirectional is not False:
            s += f", bidirectional={self.bidirectional}"
        return s

    def _mode_meaning(self) -> str | None:
        if self.dropout == 0 or self.num_layers == 1:
            return None  # nothing changes with the mode
        state = "active" if self.training else "off (eval)"
        return f"dropout {self.dropout} between layers: {state}"

    # ------------------------------------------------------------------------- checks

    def check_input(self, input, batch_sizes) -> None:
        weight = self._flat_weights[0]
        if input.dtype != weight.dtype:
            raise ValueError(
                f"RNN input dtype ({input.dtype}) does not match weight dtype ({weight.dtype}). "
                f"Convert input: input.to({weight.dtype}), or convert model: model.to({input.dtype})"
            )
        expected_dim = 2 if batch_sizes is not None else 3
        if input.dim() != expected_dim:
            raise RuntimeError(f"input must have {expected_dim} dimensions, got {input.dim()}")
        if self.input_size != input.size(-1):
            raise RuntimeError(
                f"input.size(-1) must be equal to input_size. Expected {self.input_size}, got {input.size(-1)}"
            )

    def _mini_batch(self, input, batch_sizes) -> int:
        if batch_sizes is not None:
            return int(batch_sizes[0])
        return input.size(0) if self.batch_first else input.size(1)

    def get_expected_hidden_size(self, input, batch_sizes) -> tuple[int, int, int]:
        num_directions = 2 if self.bidirectional else 1
        width = self.proj_size if self.proj_size > 0 else self.hidden_size
        return (self.num_layers * num_directions, self._mini_batch(input, batch_sizes), width)

    def check_hidden_size(self, hx, expected_hidden_size, msg: str = "Expected hidden size {}, got {}") -> None:
        if tuple(hx.size()) != tuple(expected_hidden_size):
            raise RuntimeError(msg.format(tuple(expected_hidden_size), list(hx.size())))

    def check_forward_args(self, input, hidden, batch_sizes) -> None:
        self.check_input(input, batch_sizes)
        self.check_hidden_size(hidden, self.get_expected_hidden_size(input, batch_sizes))

    def permute_hidden(self, hx, permutation):
        if permutation is None:
            return hx
        return hx.index_select(1, permutation)

    # ------------------------------------------------------------------------- forward

    def _unpack_input(self, input, hx, name: str, states: int):
        """-> (data, batch_sizes, sorted, unsorted, batched, hx) with an unbatched input given a
        batch and hx checked for its number of dimensions as PyTorch does."""
        if isinstance(input, PackedSequence):
            data, batch_sizes, sorted_indices, unsorted_indices = input
            return data, batch_sizes, sorted_indices, unsorted_indices, True, hx
        if input.dim() not in (2, 3):
            tensor = " tensor" if name == "RNN" else ""
            raise ValueError(f"{name}: Expected input to be 2D or 3D, got {input.dim()}D{tensor} instead")
        batched = input.dim() == 3
        if not batched:
            input = input.unsqueeze(0 if self.batch_first else 1)
        if hx is not None:
            parts = list(hx) if states == 2 else [hx]
            want = 3 if batched else 2
            if any(p.dim() != want for p in parts):
                kind = "batched 3-D" if batched else "unbatched 2-D"
                if states == 2:
                    dims = ", ".join(f"{p.dim()}-D" for p in parts)
                    raise RuntimeError(f"For {kind} input, hx and cx should also be {want}-D but got ({dims}) tensors")
                raise RuntimeError(f"For {kind} input, hx should also be {want}-D but got {hx.dim()}-D tensor")
            if not batched:
                parts = [p.unsqueeze(1) for p in parts]
            hx = tuple(parts) if states == 2 else parts[0]
        return input, None, None, None, batched, hx

    def _zeros(self, data, batch: int, width: int):
        num_directions = 2 if self.bidirectional else 1
        return zeros(self.num_layers * num_directions, batch, width, dtype=data.dtype, device=data.device)

    def _run_layers(self, x, batch_sizes, h0, c0):
        """x time-major (T, B, I) or packed (N, I) -> (output, h_n, c_n or None), h_n (L*D, B, H_out)."""
        kind = {"LSTM": "lstm", "GRU": "gru"}.get(self._rnn_mode, "rnn")
        layer_fn = _layer_fn(kind)
        num_directions = 2 if self.bidirectional else 1
        h_ns, c_ns = [], []
        for layer in range(self.num_layers):
            outs = []
            for direction in range(num_directions):
                idx = layer * num_directions + direction
                suffix = "_reverse" if direction == 1 else ""
                w_ih = getattr(self, f"weight_ih_l{layer}{suffix}")
                w_hh = getattr(self, f"weight_hh_l{layer}{suffix}")
                b_ih = getattr(self, f"bias_ih_l{layer}{suffix}") if self.bias else None
                b_hh = getattr(self, f"bias_hh_l{layer}{suffix}") if self.bias else None
                reverse = direction == 1
                if kind == "lstm":
                    w_hr = getattr(self, f"weight_hr_l{layer}{suffix}") if self.proj_size > 0 else None
                    out, h, c = layer_fn(x, h0[idx], c0[idx], w_ih, w_hh, b_ih, b_hh, w_hr,
                                         batch_sizes=batch_sizes, reverse=reverse)
                    c_ns.append(c)
                elif kind == "gru":
                    out, h = layer_fn(x, h0[idx], w_ih, w_hh, b_ih, b_hh, batch_sizes=batch_sizes, reverse=reverse)
                else:
                    nonlinearity = "tanh" if self._rnn_mode == "RNN_TANH" else "relu"
                    out, h = layer_fn(x, h0[idx], w_ih, w_hh, b_ih, b_hh, nonlinearity=nonlinearity,
                                      batch_sizes=batch_sizes, reverse=reverse)
                outs.append(out)
                h_ns.append(h)
            x = cat(outs, -1) if num_directions == 2 else outs[0]
            if self.dropout > 0 and layer < self.num_layers - 1:
                x = F.dropout(x, self.dropout, training=self.training)
        return x, stack(h_ns), (stack(c_ns) if c_ns else None)

    def _forward(self, input, hx, name: str):
        lstm = self._rnn_mode == "LSTM"
        input, batch_sizes, sorted_indices, unsorted_indices, batched, hx = self._unpack_input(
            input, hx, name, 2 if lstm else 1)
        batch = self._mini_batch(input, batch_sizes) if input.dim() >= 2 else 0
        width = self.proj_size if self.proj_size > 0 else self.hidden_size
        if hx is None:
            hx = (self._zeros(input, batch, width), self._zeros(input, batch, self.hidden_size)) if lstm \
                else self._zeros(input, batch, width)
            self.check_input(input, batch_sizes)
        elif lstm:
            self.check_input(input, batch_sizes)
            self.check_hidden_size(hx[0], self.get_expected_hidden_size(input, batch_sizes), "Expected hidden[0] size {}, got {}")
            expected_c = (*self.get_expected_hidden_size(input, batch_sizes)[:2], self.hidden_size)
            self.check_hidden_size(hx[1], expected_c, "Expected hidden[1] size {}, got {}")
            hx = (self.permute_hidden(hx[0], sorted_indices), self.permute_hidden(hx[1], sorted_indices))
        else:
            self.check_forward_args(input, hx, batch_sizes)
            hx = self.permute_hidden(hx, sorted_indices)
        x = input.transpose(0, 1) if self.batch_first and batch_sizes is None else input
        if batch_sizes is None and x.shape[0] == 0:
            raise RuntimeError(f"Expected sequence length to be larger than 0 in RNN (input of shape {tuple(input.shape)})")
        h0, c0 = (hx[0].unbind(0), hx[1].unbind(0)) if lstm else (hx.unbind(0), None)
        output, h_n, c_n = self._run_layers(x, batch_sizes, h0, c0)
        if batch_sizes is not None:
            output = PackedSequence(output, batch_sizes, sorted_indices, unsorted_indices)
        else:
            if self.batch_first:
                output = output.transpose(0, 1)
            if not batched:
                output = output.squeeze(0 if self.batch_first else 1)
                h_n = h_n.squeeze(1)
                c_n = c_n.squeeze(1) if c_n is not None else None
        h_n = self.permute_hidden(h_n, unsorted_indices)
        if lstm:
            return output, (h_n, self.permute_hidden(c_n, unsorted_indices))
        return output, h_n


def _no_proj_size(kwargs: dict, cls: str) -> None:
    """RNN and GRU take no proj_size: PyTorch's ValueError for it, a TypeError for other names."""
    if "proj_size" in kwargs:
        raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
    if kwargs:
        raise TypeError(f"{cls}.__init__() got an unexpected keyword argument {next(iter(kwargs))!r}")


class RNN(RNNBase):
    """Elman RNN: h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh) (or relu), stacked
    num_layers deep, optionally bidirectional.

    Shapes: input (L, N, H_in), (N, L, H_in) with batch_first, (L, H_in) unbatched, or a
    PackedSequence; hx (num_layers * num_directions, N, H). Returns (output, h_n), output
    (L, N, num_directions * H) (or packed), h_n like hx.
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, nonlinearity: str = "tanh",
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 device=None, dtype=None, **kwargs) -> None:
        _no_proj_size(kwargs, "RNN")
        modes = {"tanh": "RNN_TANH", "relu": "RNN_RELU"}
        if nonlinearity not in modes:
            raise ValueError(f"Unknown nonlinearity '{nonlinearity}'. Select from 'tanh' or 'relu'.")
        super().__init__(modes[nonlinearity], input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, device=device, dtype=dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input, hx=None):
        return self._forward(input, hx, "RNN")


class LSTM(RNNBase):
    """LSTM with PyTorch's gates (i, f, g, o) and optional projections (proj_size > 0: h_t is
    W_hr (o_t * tanh(c_t)), and h has proj_size features).

    Shapes: input as RNN; hx a pair (h_0, c_0), h_0 (num_layers * num_directions, N, H_out),
    c_0 (num_layers * num_directions, N, H). Returns (output, (h_n, c_n)).
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False, proj_size: int = 0,
                 device=None, dtype=None) -> None:
        super().__init__("LSTM", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         proj_size, device=device, dtype=dtype)

    def get_expected_cell_size(self, input, batch_sizes) -> tuple[int, int, int]:
        num_directions = 2 if self.bidirectional else 1
        return (self.num_layers * num_directions, self._mini_batch(input, batch_sizes), self.hidden_size)

    def forward(self, input, hx=None):
        return self._forward(input, hx, "LSTM")


class GRU(RNNBase):
    """GRU with PyTorch's gates (r, z, n): n_t = tanh(W_in x_t + b_in + r_t * (W_hn h_{t-1} + b_hn)),
    h_t = (1 - z_t) * n_t + z_t * h_{t-1}. Shapes as RNN."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False, device=None,
                 dtype=None, **kwargs) -> None:
        _no_proj_size(kwargs, "GRU")
        super().__init__("GRU", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         device=device, dtype=dtype)

    def forward(self, input, hx=None):
        return self._forward(input, hx, "GRU")

