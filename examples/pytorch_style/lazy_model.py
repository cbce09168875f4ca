"""A CNN built from Lazy layers (LazyConv2d, LazyBatchNorm2d, LazyLinear): no layer is told its
input size. The optimizer is created BEFORE the first forward, while the parameters are still
uninitialized placeholders; the first forward infers the sizes and materialises them, and the
optimizer then trains the materialised parameters. Task: tell horizontal from vertical bars in
noisy 12x12 images. PyTorch code; only the import differs."""

import os

if os.environ.get("EXAMPLE_BACKEND") == "torch":
    import torch
else:
    import ferrograd as torch

nn = torch.nn
F = torch.nn.functional
optim = torch.optim

torch.manual_seed(0)


def make_batch(n):
    """Images with one bright bar each: label 0 horizontal, 1 vertical."""
    labels = torch.randint(0, 2, (n,))
    pos = torch.randint(2, 10, (n,))
    images = 0.3 * torch.randn(n, 1, 12, 12)
    for i in range(n):
        p = int(pos[i])
        if int(labels[i]) == 0:
            images[i, 0, p, 2:10] += 1.0
        else:
            images[i, 0, 2:10, p] += 1.0
    return images, labels


model = nn.Sequential(
    nn.LazyConv2d(8, kernel_size=3, padding=1),
    nn.LazyBatchNorm2d(),
    nn.ReLU(),
    nn.MaxPool2d(2),
    nn.LazyConv2d(8, kernel_size=3, padding=1),
    nn.LazyBatchNorm2d(),
    nn.ReLU(),
    nn.MaxPool2d(2),
    nn.Flatten(),
    nn.LazyLinear(16),
    nn.ReLU(),
    nn.LazyLinear(2),
)
optimizer = optim.Adam(model.parameters(), lr=0.01)  # before the first forward
before = [p for group in optimizer.param_groups for p in group["params"]]

x_val, y_val = make_batch(128)
losses = []
for _ in range(60):
    x, y = make_batch(32)
    model.train()
    loss = F.cross_entropy(model(x), y)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    losses.append(loss.item())

# The optimizer holds the very parameters the model now has, with their inferred shapes.
held = [p for group in optimizer.param_groups for p in group["params"]]
assert len(held) == len(before) and all(p is q for p, q in zip(held, model.parameters()))
assert tuple(model[0].weight.shape) == (8, 1, 3, 3) and tuple(model[9].weight.shape) == (16, 72)
assert type(model[1]).__name__ == "BatchNorm2d" and model[1].num_batches_tracked.item() == 60

model.eval()  # BatchNorm now uses its running statistics
with torch.no_grad():
    accuracy = (model(x_val).argmax(1) == y_val).float().mean().item()
first, last = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
print(f"loss {first:.3f} -> {last:.3f}, validation accuracy {accuracy:.2f}")
assert last < 0.3 * first, (first, last)
assert accuracy > 0.9, accuracy
