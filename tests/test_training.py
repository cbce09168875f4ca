"""Small models train: the loss falls for an MLP and a CNN with BatchNorm, with fg.optim."""

import ferrograd as fg
import ferrograd.nn as nn
import ferrograd.nn.functional as F
import numpy as np
from ferrograd.utils.data import DataLoader, TensorDataset


def _blobs(n, d, classes, seed):
    rng = np.random.default_rng(seed)
    centers = rng.normal(0, 3, size=(classes, d))
    y = rng.integers(0, classes, n)
    x = centers[y] + rng.normal(size=(n, d))
    return fg.tensor(x.astype(np.float32)), fg.tensor(y)


def _train(model, opt, loader, epochs):
    losses = []
    for _ in range(epochs):
        model.train()
        total = 0.0
        for xb, yb in loader:
            loss = F.cross_entropy(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item()
        losses.append(total / len(loader))
    return losses


def test_mlp_with_dropout_and_sgd_momentum_learns():
    fg.manual_seed(0)
    x, y = _blobs(512, 20, 4, seed=0)
    model = nn.Sequential(nn.Linear(20, 64), nn.ReLU(), nn.Dropout(0.2), nn.Linear(64, 4))
    opt = fg.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    losses = _train(model, opt, DataLoader(TensorDataset(x, y), batch_size=64, shuffle=True), epochs=8)
    assert losses[-1] < 0.5 * losses[0]
    model.eval()
    with fg.no_grad():
        acc = (model(x).argmax(1) == y).float().mean().item()
    assert acc > 0.9


def test_cnn_with_batchnorm_and_adam_learns():
    fg.manual_seed(1)
    rng = np.random.default_rng(1)
    # two classes of 8x8 images: a bright horizontal or vertical bar plus noise
    y = rng.integers(0, 2, 256)
    x = rng.normal(0, 0.3, size=(256, 1, 8, 8)).astype(np.float32)
    for i, c in enumerate(y):
        if c:
            x[i, 0, :, 3:5] += 1.5
        else:
            x[i, 0, 3:5, :] += 1.5
    xt, yt = fg.tensor(x), fg.tensor(y)
    model = nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
        nn.Flatten(), nn.Linear(16, 2),
    )
    opt = fg.optim.Adam(model.parameters(), lr=1e-2)
    losses = _train(model, opt, DataLoader(TensorDataset(xt, yt), batch_size=32, shuffle=True, drop_last=True), epochs=5)
    assert losses[-1] < 0.3 * losses[0]
    assert model[1].num_batches_tracked.item() == 5 * 8
    model.eval()
    with fg.no_grad():
        assert (model(xt).argmax(1) == yt).float().mean().item() > 0.95
