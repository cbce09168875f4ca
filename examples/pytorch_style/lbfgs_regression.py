"""Full-batch regression with L-BFGS and a strong-Wolfe line search, written as PyTorch code.

A small Tanh network fits y = sin(2x) + x/2 plus noise on [-2, 2]. L-BFGS needs the whole loss
again at every trial point of its line search, so `optimizer.step` takes a closure that zeroes
the gradients, recomputes the loss and calls backward(), as in PyTorch's own LBFGS examples.
Then a second, convex fit: polynomial features with nn.Linear, where L-BFGS reaches the least-
squares solution (checked against numpy's lstsq) in a few steps.
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

x_np = np.linspace(-2, 2, 128).reshape(-1, 1)
y_np = np.sin(2 * x_np) + 0.5 * x_np + 0.05 * rng.standard_normal(x_np.shape)
x = torch.tensor(x_np, dtype=torch.float32)
y = torch.tensor(y_np, dtype=torch.float32)

# ---- a small network ---------------------------------------------------------------------------

model = nn.Sequential(nn.Linear(1, 16), nn.Tanh(), nn.Linear(16, 16), nn.Tanh(), nn.Linear(16, 1))
criterion = nn.MSELoss()
optimizer = optim.LBFGS(model.parameters(), lr=1, max_iter=20, history_size=10, line_search_fn="strong_wolfe")


def closure():
    optimizer.zero_grad()
    loss = criterion(model(x), y)
    loss.backward()
    return loss


with torch.no_grad():
    first = criterion(model(x), y).item()
for step in range(15):
    loss = optimizer.step(closure)
    if step % 5 == 0:
        print(f"step {step:2d}  loss {loss.item():.5f}")
with torch.no_grad():
    final = criterion(model(x), y).item()
print(f"network: loss {first:.4f} -> {final:.5f}")
assert final < 0.01 and final < first / 20, (first, final)

# ---- polynomial least squares: a convex problem with a known answer ------------------------------

degree = 5
features = torch.tensor(np.hstack([x_np**k for k in range(1, degree + 1)]), dtype=torch.float32)
poly = nn.Linear(degree, 1)
optimizer = optim.LBFGS(poly.parameters(), line_search_fn="strong_wolfe", tolerance_grad=1e-9, tolerance_change=1e-12)


def poly_closure():
    optimizer.zero_grad()
    loss = F.mse_loss(poly(features), y)
    loss.backward()
    return loss


for _ in range(5):
    optimizer.step(poly_closure)
design = np.hstack([np.ones_like(x_np)] + [x_np**k for k in range(1, degree + 1)])
coef, *_ = np.linalg.lstsq(design, y_np, rcond=None)
fitted = np.concatenate([poly.bias.detach().numpy(), poly.weight.detach().numpy().ravel()])
print("lstsq  ", np.round(coef.ravel(), 4))
print("L-BFGS ", np.round(fitted, 4))
assert np.allclose(fitted, coef.ravel(), atol=2e-3), (fitted, coef.ravel())
