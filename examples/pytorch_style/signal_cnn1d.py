"""A 1-D CNN classifying synthetic signals, written as PyTorch code.

Three classes of noisy 64-sample signals: a sine wave, a square wave and a chirp (frequency rising
across the window), each at a random phase and amplitude. The network is the usual 1-D stack:
Conv1d -> BatchNorm1d -> ReLU blocks with strided convolutions to shorten the sequence, global
average pooling over time (a mean) and a Linear classifier, trained with CrossEntropyLoss and Adam.
"""

import os

if os.environ.get("EXAMPLE_BACKEND") == "torch":
    import torch
else:
    import ferrograd as torch

import math

import numpy as np

nn = torch.nn
F = torch.nn.functional
optim = torch.optim

torch.manual_seed(0)
rng = np.random.default_rng(0)
LENGTH, CLASSES = 64, 3


def make_signals(n):
    t = np.linspace(0, 1, LENGTH, dtype=np.float32)
    labels = rng.integers(0, CLASSES, n)
    x = np.zeros((n, 1, LENGTH), np.float32)
    for i, y in enumerate(labels):
        freq, phase, amp = rng.uniform(3, 6), rng.uniform(0, 2 * math.pi), rng.uniform(0.5, 1.5)
        if y == 0:
            s = np.sin(2 * math.pi * freq * t + phase)
        elif y == 1:
            s = np.sign(np.sin(2 * math.pi * freq * t + phase))
        else:
            s = np.sin(2 * math.pi * (1 + 8 * t) * t * freq / 2 + phase)
        x[i, 0] = amp * s + rng.normal(0, 0.3, LENGTH)
    return torch.tensor(x), torch.tensor(labels)


class SignalCNN(nn.Module):
    def __init__(self, num_classes=CLASSES):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv1d(1, 16, kernel_size=7, padding=3),
            nn.BatchNorm1d(16),
            nn.ReLU(),
            nn.Conv1d(16, 32, kernel_size=5, stride=2, padding=2),
            nn.BatchNorm1d(32),
            nn.ReLU(),
            nn.Conv1d(32, 32, kernel_size=3, stride=2, padding=1, groups=2),
            nn.ReLU(),
        )
        self.classifier = nn.Linear(32, num_classes)

    def forward(self, x):
        h = self.features(x)  # (N, 32, 16)
        return self.classifier(h.mean(dim=2))


model = SignalCNN()
optimizer = optim.Adam(model.parameters(), lr=3e-3)
criterion = nn.CrossEntropyLoss()
x_train, y_train = make_signals(256)
x_test, y_test = make_signals(128)

model.train()
losses = []
for _epoch in range(6):
    perm = torch.randperm(256)
    for i in range(0, 256, 32):
        idx = perm[i:i + 32]
        optimizer.zero_grad()
        loss = criterion(model(x_train[idx]), y_train[idx])
        loss.backward()
        optimizer.step()
        losses.append(loss.item())

model.eval()
with torch.no_grad():
    accuracy = (model(x_test).argmax(dim=1) == y_test).float().mean().item()

print(f"loss {losses[0]:.3f} -> {losses[-1]:.3f}; test accuracy {accuracy:.3f}")
assert losses[-1] < 0.5 * losses[0], losses
assert accuracy > 0.85, accuracy
