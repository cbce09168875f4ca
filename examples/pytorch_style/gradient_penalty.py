"""A WGAN-GP critic (Gulrajani et al., 2017) estimating a Wasserstein-1 distance, written as PyTorch code.

The critic is trained to maximise E[D(real)] - E[D(fake)] while the gradient penalty
lambda * E[(||grad D(x_hat)||_2 - 1)^2], taken at random points x_hat between real and fake
samples, keeps it close to 1-Lipschitz. The penalty is a function of a gradient, so the critic's
update differentiates through a backward pass: `torch.autograd.grad(..., create_graph=True)`.

Real and fake samples are two Gaussians with the same covariance whose means are 2.5 apart, so
the Wasserstein-1 distance between them is exactly 2.5; the trained critic's estimate must come
close to it, and the critic's gradient norm at the interpolates must be close to 1.
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

MEAN_REAL, MEAN_FAKE, SIGMA = np.array([1.0, 1.0]), np.array([-0.5, -1.0]), 0.3
TRUE_W1 = float(np.linalg.norm(MEAN_REAL - MEAN_FAKE))  # 2.5 for equal covariances
LAMBDA_GP, BATCH, STEPS = 10.0, 128, 200


def sample(mean, n):
    return torch.tensor(mean + SIGMA * rng.standard_normal((n, 2)), dtype=torch.float32)


critic = nn.Sequential(nn.Linear(2, 64), nn.LeakyReLU(0.2), nn.Linear(64, 64), nn.LeakyReLU(0.2), nn.Linear(64, 1))
optimizer = optim.Adam(critic.parameters(), lr=1e-3, betas=(0.5, 0.9))


def gradient_penalty(critic, real, fake):
    alpha = torch.rand(real.size(0), 1)
    interpolates = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
    critic_interpolates = critic(interpolates)
    gradients = torch.autograd.grad(
        outputs=critic_interpolates,
        inputs=interpolates,
        grad_outputs=torch.ones_like(critic_interpolates),
        create_graph=True,
        retain_graph=True,
    )[0]
    grad_norm = gradients.norm(2, dim=1)
    return ((grad_norm - 1) ** 2).mean(), grad_norm.mean().item()


for step in range(STEPS):
    real, fake = sample(MEAN_REAL, BATCH), sample(MEAN_FAKE, BATCH)
    optimizer.zero_grad()
    wasserstein = critic(real).mean() - critic(fake).mean()
    penalty, mean_norm = gradient_penalty(critic, real, fake)
    loss = -wasserstein + LAMBDA_GP * penalty
    loss.backward()
    optimizer.step()
    if step % 100 == 0 or step == STEPS - 1:
        print(f"step {step:3d}  W estimate {wasserstein.item():.3f}  penalty {penalty.item():.4f}  |grad| {mean_norm:.3f}")

# Evaluate on fresh samples: the estimate of W1 and the Lipschitz behaviour at the interpolates.
real, fake = sample(MEAN_REAL, 4096), sample(MEAN_FAKE, 4096)
with torch.no_grad():
    estimate = (critic(real).mean() - critic(fake).mean()).item()
penalty, mean_norm = gradient_penalty(critic, real, fake)
print(f"true W1 {TRUE_W1:.3f}, critic's estimate {estimate:.3f}, mean |grad| at interpolates {mean_norm:.3f}")
assert abs(estimate - TRUE_W1) < 0.25 * TRUE_W1, (estimate, TRUE_W1)
assert 0.8 < mean_norm < 1.2, mean_norm
assert penalty.item() < 0.05, penalty.item()
