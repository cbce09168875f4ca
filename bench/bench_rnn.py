"""Recurrent layers: ferrograd's fused layer kernels beside PyTorch's nn.LSTM/GRU in one run.

    PYTHONPATH=python /tmp/torchvenv/bin/python bench/bench_rnn.py            # everything
    PYTHONPATH=python /tmp/torchvenv/bin/python bench/bench_rnn.py --quick    # the issue's shape only

The issue's goal: a 2-layer LSTM (input and hidden 256, sequence 64, batch 32) train step
(forward through both layers, an MSE loss, backward) at most 0.8x PyTorch's time. ferrograd runs
two `_core._lstm_layer` calls (the layer kernels nn.LSTM stacks); PyTorch runs nn.LSTM(num_layers=2).
Medians of repeated runs, milliseconds; ratio = fg / torch (below 1: ferrograd is faster).
"""

from __future__ import annotations

import argparse
import statistics
import time

import ferrograd as fg
import numpy as np
from ferrograd import _core

try:
    import torch
except ImportError:  # ferrograd's column alone
    torch = None

GATES = {"lstm": 4, "gru": 3}


def median_ms(fn, budget_s: float, min_reps: int = 3) -> float:
    """Median wall time of fn() in ms: a warm-up call, then repeats until the budget is spent."""
    fn()
    times, start = [], time.perf_counter()
    while len(times) < min_reps or time.perf_counter() - start < budget_s:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
        if len(times) >= 200:
            break
    return statistics.median(times) * 1e3


def weights(cell, layers, inp, hid, rng):
    g = GATES[cell]
    out = []
    for layer in range(layers):
        n_in = inp if layer == 0 else hid
        k = 1 / np.sqrt(hid)
        out.append([rng.uniform(-k, k, size=s).astype(np.float32) for s in ((g * hid, n_in), (g * hid, hid), (g * hid,), (g * hid,))])
    return out


def fg_step(cell, ws, x, target, train):
    """Forward through the stacked layers, MSE against target, and (train) backward."""
    params = [[fg.tensor(w, requires_grad=train) for w in layer] for layer in ws]
    xt, tt = fg.tensor(x), fg.tensor(target)
    batch, hid = x.shape[1], ws[0][1].shape[1]

    def step():
        h = xt
        for w_ih, w_hh, b_ih, b_hh in params:
            h0 = fg.zeros(batch, hid)
            if cell == "lstm":
                h, _, _ = _core._lstm_layer(h, h0, fg.zeros(batch, hid), w_ih, w_hh, b_ih, b_hh)
            else:
                h, _ = _core._gru_layer(h, h0, w_ih, w_hh, b_ih, b_hh)
        loss = ((h - tt) ** 2).mean()
        if train:
            for layer in params:
                for p in layer:
                    p.grad = None
            loss.backward()
        return loss

    if not train:
        def step_nograd():
            with fg.no_grad():
                return step()
        return step_nograd
    return step


def torch_step(cell, ws, x, target, train):
    layers, inp, hid = len(ws), x.shape[2], ws[0][1].shape[1]
    m = (torch.nn.LSTM if cell == "lstm" else torch.nn.GRU)(inp, hid, num_layers=layers)
    with torch.no_grad():
        for i, layer in enumerate(ws):
            for name, w in zip(("weight_ih", "weight_hh", "bias_ih", "bias_hh"), layer):
                getattr(m, f"{name}_l{i}").copy_(torch.from_numpy(w))
    xt, tt = torch.from_numpy(x), torch.from_numpy(target)

    def step():
        out, _ = m(xt)
        loss = ((out - tt) ** 2).mean()
        if train:
            m.zero_grad(set_to_none=True)
            loss.backward()
        return loss

    if not train:
        def step_nograd():
            with torch.no_grad():
                return step()
        return step_nograd
    return step


def check_same_loss(cell, ws, x, target):
    """Both libraries compute the same loss and gradients for these weights (a bench that
    timed different work would be meaningless)."""
    if torch is None:
        return
    a = float(fg_step(cell, ws, x, target, True)().item())
    b = float(torch_step(cell, ws, x, target, True)().item())
    assert abs(a - b) <= 1e-4 * max(1.0, abs(b)), (cell, a, b)


def row(cell, layers, inp, hid, seq, batch, train, budget):
    rng = np.random.default_rng(0)
    ws = weights(cell, layers, inp, hid, rng)
    x = rng.normal(size=(seq, batch, inp)).astype(np.float32)
    target = rng.normal(size=(seq, batch, hid)).astype(np.float32) * 0.1
    f = median_ms(fg_step(cell, ws, x, target, train), budget)
    t = median_ms(torch_step(cell, ws, x, target, train), budget) if torch is not None else None
    return f, t


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="only the issue's 2-layer LSTM train step")
    ap.add_argument("--budget", type=float, default=1.5, help="seconds per measurement (default 1.5)")
    args = ap.parse_args()
    if torch is not None:
        print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; ferrograd {_core.get_num_threads()} threads")
    rng = np.random.default_rng(0)
    check_same_loss("lstm", weights("lstm", 2, 16, 8, rng), rng.normal(size=(5, 3, 16)).astype(np.float32),
                    rng.normal(size=(5, 3, 8)).astype(np.float32))
    check_same_loss("gru", weights("gru", 2, 16, 8, rng), rng.normal(size=(5, 3, 16)).astype(np.float32),
                    rng.normal(size=(5, 3, 8)).astype(np.float32))
    rows = [("lstm", 2, 256, 256, 64, 32, True)]
    if not args.quick:
        rows += [("lstm", 2, 256, 256, 64, 32, False)]
        rows += [("lstm", 1, h, h, s, b, True) for h in (64, 256, 512) for s in (16, 64, 256) for b in (1, 32)
                 if not (h == 512 and s == 256)]
        rows += [("gru", 2, 256, 256, 64, 32, True), ("gru", 1, 64, 64, 64, 32, True), ("gru", 1, 512, 512, 64, 32, True)]
    head = f"{'cell':5} {'layers':>6} {'hidden':>6} {'seq':>4} {'batch':>5} {'step':>5} {'fg ms':>9} {'torch ms':>9} {'fg/torch':>8}"
    print(head)
    print("-" * len(head))
    for cell, layers, inp, hid, seq, batch, train in rows:
        f, t = row(cell, layers, inp, hid, seq, batch, train, args.budget)
        ratio = f"{f / t:.2f}x" if t else "-"
        tcol = f"{t:9.2f}" if t else f"{'-':>9}"
        print(f"{cell:5} {layers:>6} {hid:>6} {seq:>4} {batch:>5} {'train' if train else 'eval':>5} {f:9.2f} {tcol} {ratio:>8}", flush=True)


if __name__ == "__main__":
    main()
