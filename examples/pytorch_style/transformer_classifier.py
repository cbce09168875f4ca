"""A small Transformer encoder classifying variable-length token sequences, written as PyTorch code.

Each sequence (4 to 16 tokens from a vocabulary of 12, padded with 0 to length 16) holds a noisy
mix of "signal" tokens 1, 2 and 3; its label is whichever of the three occurs most often (ties are
re-drawn). The model embeds tokens (padding_idx=0) and positions, runs a 2-layer
nn.TransformerEncoder (batch_first, dropout 0.1) with src_key_padding_mask so padding is never
attended to, mean-pools the real positions and classifies with a Linear layer. Trained with Adam
and CrossEntropyLoss; evaluated under model.eval() and torch.no_grad(), where the attention and
residual dropout are off.
"""

import os

if os.environ.get("EXAMPLE_BACKEND") == "torch":
    import torch
else:
    import ferrograd as torch

import numpy as np

nn = torch.nn
optim = torch.optim

torch.manual_seed(0)
rng = np.random.default_rng(0)
VOCAB, MAX_LEN, CLASSES, D_MODEL = 12, 16, 3, 32


def make_sequences(n):
    tokens = np.zeros((n, MAX_LEN), np.int64)
    labels = np.zeros(n, np.int64)
    for i in range(n):
        while True:
            length = rng.integers(4, MAX_LEN + 1)
            seq = rng.integers(1, VOCAB, length)
            counts = np.bincount(seq, minlength=VOCAB)[1:4]
            if counts.max() > 0 and (counts == counts.max()).sum() == 1:
                break
        tokens[i, :length] = seq
        labels[i] = counts.argmax()
    return torch.tensor(tokens), torch.tensor(labels)


class TransformerClassifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, D_MODEL, padding_idx=0)
        self.pos = nn.Embedding(MAX_LEN, D_MODEL)
        layer = nn.TransformerEncoderLayer(D_MODEL, nhead=4, dim_feedforward=64, dropout=0.1, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, num_layers=2)
        self.head = nn.Linear(D_MODEL, CLASSES)

    def forward(self, tokens):
        pad = tokens == 0  # (N, L), True where there is no token
        positions = torch.arange(tokens.shape[1]).unsqueeze(0)
        h = self.encoder(self.embed(tokens) + self.pos(positions), src_key_padding_mask=pad)
        keep = (~pad).unsqueeze(-1).float()
        pooled = (h * keep).sum(dim=1) / keep.sum(dim=1)
        return self.head(pooled)


model = TransformerClassifier()
optimizer = optim.Adam(model.parameters(), lr=2e-3)
criterion = nn.CrossEntropyLoss()
x_train, y_train = make_sequences(1024)
x_test, y_test = make_sequences(256)

model.train()
losses = []
for _epoch in range(5):
    perm = torch.randperm(1024)
    for i in range(0, 1024, 64):
        idx = perm[i:i + 64]
        optimizer.zero_grad()
        loss = criterion(model(x_train[idx]), y_train[idx])
        loss.backward()
        optimizer.step()
        losses.append(loss.item())

model.eval()
with torch.no_grad():
    accuracy = (model(x_test).argmax(dim=1) == y_test).float().mean().item()

first, last = np.mean(losses[:5]), np.mean(losses[-5:])
print(f"loss {first:.3f} -> {last:.3f}; test accuracy {accuracy:.3f}")
assert last < 0.5 * first, losses
assert accuracy > 0.85, accuracy
