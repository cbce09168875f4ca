"""A character-level LSTM language model on the source of Python's `textwrap` module, written as
PyTorch code.

The text ships with every Python (read with `inspect.getsource`); the last tenth is held out.
Embedding -> a 2-layer LSTM with dropout between the layers -> Linear over the characters,
trained with Adam on random windows and gradient clipping. Evaluation runs under `model.eval()`
and `torch.no_grad()` (so the inter-layer dropout is off) on the held-out text, carrying the
hidden state from one chunk to the next, and must beat a unigram model (the characters'
frequencies) by a clear margin. Finally the model writes a few characters of "Python".
"""

import inspect
import math
import os
import textwrap

if os.environ.get("EXAMPLE_BACKEND") == "torch":
    import torch
else:
    import ferrograd as torch

import numpy as np

nn = torch.nn
F = torch.nn.functional

torch.manual_seed(0)
rng = np.random.default_rng(0)

text = inspect.getsource(textwrap)
chars = sorted(set(text))
stoi = {c: i for i, c in enumerate(chars)}
encoded = np.array([stoi[c] for c in text], dtype=np.int64)
split = int(len(encoded) * 0.9)
train_ids, held_out_ids = encoded[:split], encoded[split:]
VOCAB, SEQ, BATCH = len(chars), 32, 32


class CharLSTM(nn.Module):
    def __init__(self, vocab, embed=32, hidden=64, layers=2, dropout=0.2):
        super().__init__()
        self.embed = nn.Embedding(vocab, embed)
        self.lstm = nn.LSTM(embed, hidden, num_layers=layers, dropout=dropout, batch_first=True)
        self.head = nn.Linear(hidden, vocab)

    def forward(self, x, state=None):
        out, state = self.lstm(self.embed(x), state)
        return self.head(out), state


def batch():
    starts = rng.integers(0, len(train_ids) - SEQ - 1, BATCH)
    x = np.stack([train_ids[s:s + SEQ] for s in starts])
    y = np.stack([train_ids[s + 1:s + SEQ + 1] for s in starts])
    return torch.from_numpy(x), torch.from_numpy(y)


def held_out_loss(model):
    """Mean cross-entropy (nats per character) over the held-out text, read in chunks of SEQ with
    the state carried across chunks, as one long sequence."""
    model.eval()
    total, count, state = 0.0, 0, None
    with torch.no_grad():
        for s in range(0, len(held_out_ids) - 1, SEQ):
            chunk = held_out_ids[s:s + SEQ + 1]
            x = torch.from_numpy(chunk[:-1][None])
            y = torch.from_numpy(chunk[1:][None])
            logits, state = model(x, state)
            total += F.cross_entropy(logits.reshape(-1, VOCAB), y.reshape(-1), reduction="sum").item()
            count += y.numel()
    model.train()
    return total / count


counts = np.bincount(train_ids, minlength=VOCAB) + 1.0
unigram = float(-np.mean(np.log(counts[held_out_ids[1:]] / counts.sum())))

model = CharLSTM(VOCAB)
optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
print(f"{len(text)} characters, vocabulary {VOCAB}; uniform {math.log(VOCAB):.3f}, unigram {unigram:.3f} nats/char")
before = held_out_loss(model)
for step in range(150):
    x, y = batch()
    logits, _ = model(x)
    loss = F.cross_entropy(logits.reshape(-1, VOCAB), y.reshape(-1))
    optimizer.zero_grad()
    loss.backward()
    nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    if step % 30 == 0:
        print(f"step {step:3d}  train loss {loss.item():.3f}")
after = held_out_loss(model)
print(f"held-out loss {before:.3f} -> {after:.3f} nats/char (unigram {unigram:.3f})")
assert model.training  # held_out_loss gave training mode back
assert after < unigram - 0.5 and after < before - 1.5, (before, after, unigram)

# Greedy-ish sampling from the trained model, in eval mode, one character at a time.
model.eval()
with torch.no_grad():
    generated, state = "def ", None
    x = torch.tensor([[stoi[c] for c in generated]])
    for _ in range(60):
        logits, state = model(x, state)
        probs = F.softmax(logits[0, -1] / 0.5, dim=-1).numpy().astype(np.float64)
        nxt = int(rng.choice(VOCAB, p=probs / probs.sum()))
        generated += chars[nxt]
        x = torch.tensor([[nxt]])
print(repr(generated))
