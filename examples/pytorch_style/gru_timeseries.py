"""A GRU forecasting a synthetic time series from windows of varying length, written as PyTorch code.

The series is two sines of different periods plus noise. Each example is a window of 8 to 24
past values (different lengths in one batch), padded with `pad_sequence`, packed with
`pack_padded_sequence(enforce_sorted=False)` and read by a 2-layer GRU with dropout between the
layers; the last layer's final hidden state (h_n[-1], each sequence's state at its own last
step) goes through a Linear layer to predict the next value. Evaluation on the held-out end of
the series runs under `model.eval()` and `torch.no_grad()` and must beat predicting "same as the
last value" by a wide margin.
"""

import os

if os.environ.get("EXAMPLE_BACKEND") == "torch":
    import torch
else:
    import ferrograd as torch

import numpy as np

nn = torch.nn
F = torch.nn.functional
rnn_utils = torch.nn.utils.rnn

torch.manual_seed(0)
rng = np.random.default_rng(0)

t = np.arange(3000)
series = (np.sin(2 * np.pi * t / 25) + 0.5 * np.sin(2 * np.pi * t / 7) + 0.1 * rng.standard_normal(len(t)))
series = series.astype(np.float32)
train_part, test_part = series[:2400], series[2400:]


def windows(part, n):
    """n (window, next value) pairs with window lengths 8..24, ends drawn at random."""
    lengths = rng.integers(8, 25, n)
    ends = rng.integers(24, len(part) - 1, n)
    seqs = [torch.from_numpy(part[e - n_:e].reshape(-1, 1).copy()) for e, n_ in zip(ends, lengths)]
    targets = torch.from_numpy(part[ends].reshape(-1, 1).copy())
    return seqs, lengths, targets


class Forecaster(nn.Module):
    def __init__(self, hidden=32):
        super().__init__()
        self.gru = nn.GRU(1, hidden, num_layers=2, dropout=0.1, batch_first=True)
        self.head = nn.Linear(hidden, 1)

    def forward(self, seqs, lengths):
        padded = rnn_utils.pad_sequence(seqs, batch_first=True)
        packed = rnn_utils.pack_padded_sequence(padded, torch.as_tensor(lengths), batch_first=True,
                                                enforce_sorted=False)
        _, h_n = self.gru(packed)
        return self.head(h_n[-1])


model = Forecaster()
optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
test_seqs, test_lengths, test_targets = windows(test_part, 256)


def evaluate():
    model.eval()
    with torch.no_grad():
        mse = F.mse_loss(model(test_seqs, test_lengths), test_targets).item()
    model.train()
    return mse


naive = float(np.mean([(s[-1, 0].item() - y.item()) ** 2 for s, y in zip(test_seqs, test_targets)]))
before = evaluate()
for step in range(120):
    seqs, lengths, targets = windows(train_part, 32)
    loss = F.mse_loss(model(seqs, lengths), targets)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    if step % 30 == 0:
        print(f"step {step:3d}  train mse {loss.item():.4f}")
after = evaluate()
print(f"held-out mse {before:.4f} -> {after:.4f}; repeating the last value: {naive:.4f}")
assert after < naive / 3 and after < before / 5, (before, after, naive)
