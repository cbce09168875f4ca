"""A 3-D CNN with BatchNorm3d and Dropout3d on small synthetic volumes, written as PyTorch code.

Each 12x12x12 volume of noise holds one bright slab; the class is the slab's orientation. Strided Conv3d layers shrink the volume (12 -> 6 -> 3), BatchNorm3d normalises
each channel over the batch and the volume, Dropout3d zeroes whole channels while training, and a
mean over the spatial dims feeds the Linear classifier. model.eval() switches BatchNorm3d to its
running statistics and turns Dropout3d off for the test pass.
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
SIZE = 12


def make_volumes(n):
    """Noise with one bright slab two voxels thick across the whole volume; the label is the axis
    the slab is perpendicular to (0: depth, 1: height, 2: width). Every 2-D slice along one axis
    looks alike for two of the classes: telling them apart needs all three dims."""
    labels = rng.integers(0, 3, n)
    x = rng.normal(0, 0.5, (n, 1, SIZE, SIZE, SIZE)).astype(np.float32)
    for i, axis in enumerate(labels):
        at = rng.integers(0, SIZE - 1)
        index = [slice(None)] * 3
        index[axis] = slice(at, at + 2)
        x[i, 0][tuple(index)] += 1.0
    return torch.tensor(x), torch.tensor(labels)


class VolumeNet(nn.Module):
    def __init__(self, num_classes=3):
        super().__init__()
        self.conv1 = nn.Conv3d(1, 8, kernel_size=3, padding=1)
        self.bn1 = nn.BatchNorm3d(8)
        self.conv2 = nn.Conv3d(8, 16, kernel_size=3, stride=2, padding=1)
        self.bn2 = nn.BatchNorm3d(16)
        self.drop = nn.Dropout3d(p=0.1)
        self.conv3 = nn.Conv3d(16, 16, kernel_size=3, stride=2, padding=1)
        self.fc = nn.Linear(16, num_classes)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))  # 12^3
        x = self.drop(F.relu(self.bn2(self.conv2(x))))  # 6^3
        x = F.relu(self.conv3(x))  # 3^3
        return self.fc(x.mean(dim=(2, 3, 4)))


model = VolumeNet()
optimizer = optim.Adam(model.parameters(), lr=5e-3)
criterion = nn.CrossEntropyLoss()
x_train, y_train = make_volumes(96)
x_test, y_test = make_volumes(48)

model.train()
losses = []
for _epoch in range(6):
    perm = torch.randperm(96)
    for i in range(0, 96, 16):
        idx = perm[i:i + 16]
        optimizer.zero_grad()
        loss = criterion(model(x_train[idx]), y_train[idx])
        loss.backward()
        optimizer.step()
        losses.append(loss.item())

model.eval()
with torch.no_grad():
    accuracy = (model(x_test).argmax(dim=1) == y_test).float().mean().item()

first, last = sum(losses[:3]) / 3, sum(losses[-3:]) / 3
print(f"loss {first:.3f} -> {last:.3f}; test accuracy {accuracy:.3f}")
assert last < 0.6 * first, losses
assert accuracy > 0.8, accuracy
