"""The recurrent step math: RNNCell, LSTMCell, GRUCell, and one composed layer function per kind
that runs a whole layer in one direction as a loop of those steps.

The layer functions have the signatures of the fused kernels `_core._lstm_layer`, `_core._gru_layer`
and `_core._rnn_layer`, so RNN/LSTM/GRU call whichever `_layer_fn` finds; the composed ones stay
the reference the fused ones are tested against. Their layout is PyTorch's:

- `input` is (T, B, I) time-major, or packed: (N, I) rows with `batch_sizes` (T,) as in a
  PackedSequence (step t has the first batch_sizes[t] sequences; batch_sizes non-increasing).
- `h0` is (B, H_out) (H_out = proj_size for an LSTM with projections, else H), `c0` (B, H).
- `output` is (T, B, H_out) or packed (N, H_out); `h_n` (and `c_n`) hold each sequence's state
  after its own last step. `reverse=True` runs each sequence backwards from its own last step.

Gate order in the weights is PyTorch's: LSTM (i, f, g, o), GRU (r, z, n).
"""

from __future__ import annotations

from ... import _core
from ..._creation import _dtype_or_default, empty, zeros
from ..._functions import cat
from .. import functional as F
from .. import init
from ..module import Module
from ..parameter import Parameter

__all__ = ["RNNCellBase", "RNNCell", "LSTMCell", "GRUCell"]


# ----------------------------------------------------------------------------- one step


def _activation(nonlinearity: str):
    if nonlinearity == "tanh":
        return _core.Tensor.tanh
    if nonlinearity == "relu":
        return F.relu
    raise RuntimeError(f"Unknown nonlinearity: {nonlinearity}")


def _rnn_step(gi, h, w_hh, act):
    """gi = x W_ih^T + b_ih + b_hh for this step; h' = act(gi + h W_hh^T)."""
    return act(gi.addmm(h, w_hh.t()))


def _lstm_step(gi, h, c, w_hh, w_hr):
    gates = gi.addmm(h, w_hh.t())
    i, f, g, o = gates.chunk(4, 1)
    c = f.sigmoid() * c + i.sigmoid() * g.tanh()
    h = o.sigmoid() * c.tanh()
    if w_hr is not None:
        h = h.mm(w_hr.t())
    return h, c


def _gru_step(gi, h, w_hh, b_hh):
    """gi = x W_ih^T + b_ih for this step; b_hh stays inside: n = tanh(gi_n + r * (h W_hn^T + b_hn))."""
    gh = h.mm(w_hh.t()) if b_hh is None else b_hh.addmm(h, w_hh.t())
    i_r, i_z, i_n = gi.chunk(3, 1)
    h_r, h_z, h_n = gh.chunk(3, 1)
    r = (i_r + h_r).sigmoid()
    z = (i_z + h_z).sigmoid()
    n = (i_n + r * h_n).tanh()
    return n + z * (h - n)


# ----------------------------------------------------------------------------- whole layers


def _input_projection(input, w_ih, b_ih, b_hh, batch_sizes):
    """(steps, gi per step, T, B): the input half of every gate for all steps in one matmul."""
    if batch_sizes is None:
        if input.dim() != 3:
            raise RuntimeError(f"rnn layer: expected input (T, B, I) without batch_sizes, got shape {tuple(input.shape)}")
        steps = [input.shape[1]] * input.shape[0]
        flat = input.reshape(input.shape[0] * input.shape[1], input.shape[2])
    else:
        if input.dim() != 2:
            raise RuntimeError(f"rnn layer: expected packed input (N, I) with batch_sizes, got shape {tuple(input.shape)}")
        steps = [int(v) for v in (batch_sizes.tolist() if hasattr(batch_sizes, "tolist") else batch_sizes)]
        if sum(steps) != input.shape[0] or any(a < b for a, b in zip(steps, steps[1:])) or (steps and steps[-1] <= 0):
            raise RuntimeError(
                f"rnn layer: batch_sizes {steps} must be positive, non-increasing and sum to the {input.shape[0]} "
                f"rows of the packed input"
            )
        flat = input
    if not steps:
        raise RuntimeError(f"Expected sequence length to be larger than 0 in RNN (input of shape {tuple(input.shape)})")
    if flat.shape[1] != w_ih.shape[1]:
        raise RuntimeError(f"rnn layer: input size {flat.shape[1]} does not match weight_ih of shape {tuple(w_ih.shape)}")
    gi = flat.mm(w_ih.t()) if b_ih is None else b_ih.addmm(flat, w_ih.t())
    if b_hh is not None:
        gi = gi + b_hh
    return steps, list(gi.split(steps)) if len(steps) > 1 else [gi]


def _check_state(name, state, batch, width, op):
    if state.dim() != 2 or tuple(state.shape) != (batch, width):
        raise RuntimeError(f"{op}: expected {name} of shape ({batch}, {width}), got {tuple(state.shape)}")


def _scan(steps, states, step, reverse):
    """Runs `step(t, states) -> states` over the packed steps; states[0] is the output.

    Forward: when the batch shrinks, the rows of the finished sequences are set aside as their
    final states. Reverse: the batch grows, and sequences joining start from their initial state.
    """
    outs = [None] * len(steps)
    if not reverse:
        finished = []
        cur = list(states)
        for t, bs in enumerate(steps):
            if bs < cur[0].shape[0]:
                finished.append([s.narrow(0, bs, s.shape[0] - bs) for s in cur])
                cur = [s.narrow(0, 0, bs) for s in cur]
            cur = step(t, cur)
            outs[t] = cur[0]
        finished.append(cur)
        finals = [cat([f[k] for f in reversed(finished)]) if len(finished) > 1 else cur[k] for k in range(len(cur))]
    else:
        cur = [s.narrow(0, 0, steps[-1]) for s in states]
        for t in range(len(steps) - 1, -1, -1):
            have = cur[0].shape[0]
            if steps[t] > have:
                cur = [cat([c, s.narrow(0, have, steps[t] - have)]) for c, s in zip(cur, states)]
            cur = step(t, cur)
            outs[t] = cur[0]
        finals = cur
    return cat(outs), finals


def _finish(output, input, batch_sizes):
    if batch_sizes is None:
        return output.reshape(input.shape[0], input.shape[1], output.shape[-1])
    return output


def _rnn_layer_composed(input, h0, w_ih, w_hh, b_ih=None, b_hh=None, nonlinearity="tanh", batch_sizes=None,
                        reverse=False):
    """One RNN layer in one direction -> (output, h_n); see the module docstring for the layout."""
    act = _activation(nonlinearity)
    steps, gi = _input_projection(input, w_ih, b_ih, b_hh, batch_sizes)
    _check_state("h0", h0, steps[0], w_hh.shape[1], "rnn layer")
    output, (h_n,) = _scan(steps, [h0], lambda t, s: [_rnn_step(gi[t], s[0], w_hh, act)], reverse)
    return _finish(output, input, batch_sizes), h_n


def _lstm_layer_composed(input, h0, c0, w_ih, w_hh, b_ih=None, b_hh=None, w_hr=None, batch_sizes=None,
                         reverse=False):
    """One LSTM layer in one direction -> (output, h_n, c_n); with w_hr (proj_size, H) the hidden
    state is projected, h = (o * tanh(c)) W_hr^T, as PyTorch's proj_size."""
    steps, gi = _input_projection(input, w_ih, b_ih, b_hh, batch_sizes)
    hidden = w_ih.shape[0] // 4
    _check_state("h0", h0, steps[0], w_hh.shape[1], "lstm layer")
    _check_state("c0", c0, steps[0], hidden, "lstm layer")
    output, (h_n, c_n) = _scan(steps, [h0, c0], lambda t, s: list(_lstm_step(gi[t], s[0], s[1], w_hh, w_hr)), reverse)
    return _finish(output, input, batch_sizes), h_n, c_n


def _gru_layer_composed(input, h0, w_ih, w_hh, b_ih=None, b_hh=None, batch_sizes=None, reverse=False):
    """One GRU layer in one direction -> (output, h_n)."""
    steps, gi = _input_projection(input, w_ih, b_ih, None, batch_sizes)
    _check_state("h0", h0, steps[0], w_hh.shape[1], "gru layer")
    output, (h_n,) = _scan(steps, [h0], lambda t, s: [_gru_step(gi[t], s[0], w_hh, b_hh)], reverse)
    return _finish(output, input, batch_sizes), h_n


def _layer_fn(kind: str):
    """The fused kernel `_core._<kind>_layer` when the extension has it, else the composed loop."""
    composed = {"rnn": _rnn_layer_composed, "lstm": _lstm_layer_composed, "gru": _gru_layer_composed}[kind]
    return getattr(_core, f"_{kind}_layer", composed)


# ----------------------------------------------------------------------------- cells


class RNNCellBase(Module):
    """Holds weight_ih (chunks*H, I), weight_hh (chunks*H, H) and optional bias_ih, bias_hh
    (chunks*H), all initialised U(-1/sqrt(H), 1/sqrt(H)) as PyTorch."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool, num_chunks: int, device=None, dtype=None) -> None:
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.bias = bias
        kw = {"device": device, "dtype": dtype}
        self.weight_ih = Parameter(_core_empty((num_chunks * hidden_size, input_size), **kw))
        self.weight_hh = Parameter(_core_empty((num_chunks * hidden_size, hidden_size), **kw))
        if bias:
            self.bias_ih = Parameter(_core_empty((num_chunks * hidden_size,), **kw))
            self.bias_hh = Parameter(_core_empty((num_chunks * hidden_size,), **kw))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if "bias" in self.__dict__ and self.bias is not True:
            s += f", bias={self.bias}"
        if "nonlinearity" in self.__dict__ and self.nonlinearity != "tanh":
            s += f", nonlinearity={self.nonlinearity}"
        return s

    def reset_parameters(self) -> None:
        stdv = 1.0 / self.hidden_size**0.5 if self.hidden_size > 0 else 0
        for weight in self.parameters():
            init.uniform_(weight, -stdv, stdv)

    def _prepare(self, name: str, input, states, state_names):
        """Unbatched inputs get a batch of one; checks shapes with PyTorch's messages."""
        if input.dim() not in (1, 2):
            raise ValueError(f"{name}: Expected input to be 1D or 2D, got {input.dim()}D instead")
        for state, state_name in zip(states or (), state_names):
            if state.dim() not in (1, 2):
                raise ValueError(f"{name}: Expected {state_name} to be 1D or 2D, got {state.dim()}D instead")
        batched = input.dim() == 2
        if not batched:
            input = input.unsqueeze(0)
        if input.shape[1] != self.input_size:
            raise RuntimeError(f"input has inconsistent input_size: got {input.shape[1]} expected {self.input_size}")
        if states is None:
            zero = zeros(input.shape[0], self.hidden_size, dtype=input.dtype, device=input.device)
            return input, batched, None, zero
        states = [s if batched else s.unsqueeze(0) for s in states]
        for k, s in enumerate(states):
            if s.dim() != 2:
                raise RuntimeError(f"Expected 2D hidden{k} (batch x hidden_size), but got {s.dim()}D tensor")
            if s.shape[0] != input.shape[0]:
                raise RuntimeError(f"Input batch size {input.shape[0]} doesn't match hidden{k} batch size {s.shape[0]}")
            if s.shape[1] != self.hidden_size:
                raise RuntimeError(f"hidden{k} has inconsistent hidden_size: got {s.shape[1]}, expected {self.hidden_size}")
        return input, batched, states, None

    def _gi(self, input, fold_b_hh: bool):
        gi = input.mm(self.weight_ih.t()) if self.bias_ih is None else self.bias_ih.addmm(input, self.weight_ih.t())
        if fold_b_hh and self.bias_hh is not None:
            gi = gi + self.bias_hh
        return gi


def _core_empty(shape, device=None, dtype=None):
    return empty(*shape, dtype=_dtype_or_default(dtype), device=device)


class RNNCell(RNNCellBase):
    """h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh) (or relu). Input (B, I) or (I,), hx (B, H) or (H,)."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, nonlinearity: str = "tanh", device=None,
                 dtype=None) -> None:
        super().__init__(input_size, hidden_size, bias, num_chunks=1, device=device, dtype=dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input, hx=None):
        input, batched, states, zero = self._prepare("RNNCell", input, None if hx is None else [hx], ["hidden"])
        act = _activation(self.nonlinearity)
        h = _rnn_step(self._gi(input, True), zero if states is None else states[0], self.weight_hh, act)
        return h if batched else h.squeeze(0)


class LSTMCell(RNNCellBase):
    """One LSTM step: returns (h', c'). Input (B, I) or (I,), hx a pair (h, c) of (B, H) or (H,)."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device=None, dtype=None) -> None:
        super().__init__(input_size, hidden_size, bias, num_chunks=4, device=device, dtype=dtype)

    def forward(self, input, hx=None):
        states = None if hx is None else list(hx)
        input, batched, states, zero = self._prepare("LSTMCell", input, states, ["hx[0]", "hx[1]"])
        h, c = (zero, zero) if states is None else states
        h, c = _lstm_step(self._gi(input, True), h, c, self.weight_hh, None)
        return (h, c) if batched else (h.squeeze(0), c.squeeze(0))


class GRUCell(RNNCellBase):
    """One GRU step: r, z = sigmoid(...), n = tanh(x W_in^T + b_in + r * (h W_hn^T + b_hn)),
    h' = (1 - z) * n + z * h. Input (B, I) or (I,), hx (B, H) or (H,)."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device=None, dtype=None) -> None:
        super().__init__(input_size, hidden_size, bias, num_chunks=3, device=device, dtype=dtype)

    def forward(self, input, hx=None):
        input, batched, states, zero = self._prepare("GRUCell", input, None if hx is None else [hx], ["hidden"])
        h = _gru_step(self._gi(input, False), zero if states is None else states[0], self.weight_hh, self.bias_hh)
        return h if batched else h.squeeze(0)
