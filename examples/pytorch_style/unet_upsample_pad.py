"""A small U-Net (Ronneberger et al. 2015) on synthetic segmentation data, written as PyTorch code.

The Down/Up/DoubleConv blocks follow the widely copied PyTorch U-Net implementation: MaxPool2d on
the way down, Upsample(scale_factor=2, mode='bilinear', align_corners=True) on the way up, and
F.pad to bring the upsampled map to the skip connection's size before torch.cat. The images are
21 x 21, so 21 -> 10 -> 5 on the way down and 10 -> 20 on the way up: the last skip needs the pad.
The task: find the bright discs and squares in a noisy image (per-pixel BCEWithLogitsLoss).
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


class DoubleConv(nn.Module):
    """(conv => BN => ReLU) * 2"""

    def __init__(self, in_channels, out_channels, mid_channels=None):
        super().__init__()
        if not mid_channels:
            mid_channels = out_channels
        self.double_conv = nn.Sequential(
            nn.Conv2d(in_channels, mid_channels, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(mid_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(mid_channels, out_channels, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        )

    def forward(self, x):
        return self.double_conv(x)


class Down(nn.Module):
    """Downscaling with maxpool then double conv"""

    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.maxpool_conv = nn.Sequential(nn.MaxPool2d(2), DoubleConv(in_channels, out_channels))

    def forward(self, x):
        return self.maxpool_conv(x)


class Up(nn.Module):
    """Upscaling then double conv"""

    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.up = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True)
        self.conv = DoubleConv(in_channels, out_channels, in_channels // 2)

    def forward(self, x1, x2):
        x1 = self.up(x1)
        # input is CHW
        diffY = x2.size()[2] - x1.size()[2]
        diffX = x2.size()[3] - x1.size()[3]
        x1 = F.pad(x1, [diffX // 2, diffX - diffX // 2, diffY // 2, diffY - diffY // 2])
        x = torch.cat([x2, x1], dim=1)
        return self.conv(x)


class UNet(nn.Module):
    def __init__(self, n_channels, n_classes):
        super().__init__()
        self.inc = DoubleConv(n_channels, 8)
        self.down1 = Down(8, 16)
        self.down2 = Down(16, 16)
        self.up1 = Up(32, 8)
        self.up2 = Up(16, 8)
        self.outc = nn.Conv2d(8, n_classes, kernel_size=1)

    def forward(self, x):
        x1 = self.inc(x)  # 21 x 21
        x2 = self.down1(x1)  # 10 x 10
        x3 = self.down2(x2)  # 5 x 5
        x = self.up1(x3, x2)  # 10 x 10
        x = self.up2(x, x1)  # 20 x 20, padded to 21 x 21
        return self.outc(x)


def make_batch(n, size=21):
    """Noisy images with a few bright discs and squares; the mask marks the shapes."""
    yy, xx = np.mgrid[:size, :size]
    images = np.zeros((n, 1, size, size), np.float32)
    masks = np.zeros((n, 1, size, size), np.float32)
    for i in range(n):
        for _ in range(rng.integers(1, 4)):
            cy, cx, r = rng.integers(3, size - 3), rng.integers(3, size - 3), rng.integers(2, 5)
            if rng.random() < 0.5:
                shape = (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
            else:
                shape = (abs(yy - cy) <= r) & (abs(xx - cx) <= r)
            masks[i, 0][shape] = 1.0
        images[i, 0] = masks[i, 0] * 1.0 + rng.normal(0, 0.35, (size, size))
    return torch.tensor(images), torch.tensor(masks)


model = UNet(n_channels=1, n_classes=1)
optimizer = optim.Adam(model.parameters(), lr=1e-2)
criterion = nn.BCEWithLogitsLoss()
x_train, y_train = make_batch(32)
x_test, y_test = make_batch(16)

model.train()
losses = []
for _step in range(40):
    idx = torch.tensor(rng.choice(32, 16, replace=False))
    optimizer.zero_grad()
    logits = model(x_train[idx])
    assert logits.shape == (16, 1, 21, 21), logits.shape
    loss = criterion(logits, y_train[idx])
    loss.backward()
    optimizer.step()
    losses.append(loss.item())

model.eval()
with torch.no_grad():
    pred = (model(x_test) > 0).float()
    accuracy = (pred == y_test).float().mean().item()
    inter = (pred * y_test).sum().item()
    dice = 2 * inter / (pred.sum().item() + y_test.sum().item())

print(f"loss {losses[0]:.3f} -> {losses[-1]:.3f}; test pixel accuracy {accuracy:.3f}, dice {dice:.3f}")
assert losses[-1] < 0.5 * losses[0], losses
assert accuracy > 0.9 and dice > 0.7, (accuracy, dice)
