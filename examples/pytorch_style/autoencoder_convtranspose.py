"""A convolutional autoencoder: a Conv2d encoder and a ConvTranspose2d decoder, written as
PyTorch code.

The images are 16x16 blobs (a Gaussian bump at a random place and width). The encoder halves the
size twice with strided convolutions (16 -> 8 -> 4) into a small code; the decoder doubles it back
with ConvTranspose2d(kernel_size=3, stride=2, padding=1, output_padding=1) and the last layer's
forward(..., output_size=...) picks the output size, as PyTorch allows. Trained with MSELoss; the
reconstruction of unseen images must beat predicting the mean image by a wide margin.
"""

import os

if os.environ.get("EXAMPLE_BACKEND") == "torch":
    import torch
else:
    import ferrograd as torch

import numpy as np

nn = torch.nn
F = torch.nn.functional
optim = torch.optim

torch.manual_seed(0)
rng = np.random.default_rng(0)
SIZE = 16


def make_images(n):
    yy, xx = np.mgrid[:SIZE, :SIZE]
    cy, cx = rng.uniform(3, SIZE - 3, (2, n, 1, 1))
    width = rng.uniform(1.5, 3.5, (n, 1, 1))
    images = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * width**2))
    return torch.tensor(images[:, None].astype(np.float32))


class AutoEncoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Conv2d(1, 8, 3, stride=2, padding=1),  # 8x8
            nn.ReLU(),
            nn.Conv2d(8, 16, 3, stride=2, padding=1),  # 4x4
            nn.ReLU(),
            nn.Conv2d(16, 4, 1),
        )
        self.up1 = nn.ConvTranspose2d(4, 16, 3, stride=2, padding=1, output_padding=1)  # 8x8
        self.up2 = nn.ConvTranspose2d(16, 8, 3, stride=2, padding=1)  # 15x15, or 16x16 with output_size
        self.out = nn.Conv2d(8, 1, 3, padding=1)

    def forward(self, x):
        z = self.encoder(x)
        h = F.relu(self.up1(z))
        h = F.relu(self.up2(h, output_size=x.shape[-2:]))
        return torch.sigmoid(self.out(h))


model = AutoEncoder()
optimizer = optim.Adam(model.parameters(), lr=1e-2)
criterion = nn.MSELoss()
x_train, x_test = make_images(256), make_images(64)

losses = []
for _epoch in range(8):
    perm = torch.randperm(256)
    for i in range(0, 256, 32):
        batch = x_train[perm[i:i + 32]]
        optimizer.zero_grad()
        loss = criterion(model(batch), batch)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())

with torch.no_grad():
    recon = model(x_test)
    assert recon.shape == x_test.shape, recon.shape
    test_mse = criterion(recon, x_test).item()
    baseline = criterion(x_train.mean(dim=0, keepdim=True).expand_as(x_test), x_test).item()

print(f"loss {losses[0]:.4f} -> {losses[-1]:.4f}; test mse {test_mse:.4f} vs mean-image baseline {baseline:.4f}")
assert losses[-1] < 0.3 * losses[0], losses
assert test_mse < 0.5 * baseline, (test_mse, baseline)
