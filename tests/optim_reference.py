"""Numpy implementations of PyTorch's optimizer updates (the formulas in
/work/shared/reference/pytorch-semantics.md, and torch/optim/*.py for RMSprop, Adagrad and
Adadelta), and the ferrograd side of the same runs: several steps on a quadratic-plus-cosine loss
whose gradient depends on the parameters, so each step feeds the next."""

from __future__ import annotations

import ferrograd as fg
import numpy as np

A = np.array([[0.5, 2.0, 1.5], [3.0, 0.2, 1.0]])
B = np.array([[0.3, -1.0, 0.7], [-0.4, 0.9, -2.0]])
P0 = np.array([[1.0, -0.5, 2.0], [0.3, -1.2, 0.8]])
STEPS = 5


def np_grad(p):
    """The gradient of the loss below: sum(A/2 * p^2 + B * p + cos(p))."""
    return A * p + B - np.sin(p)


def fg_loss(p):
    a, b = fg.tensor(A, dtype=p.dtype), fg.tensor(B, dtype=p.dtype)
    return (a * 0.5 * p * p + b * p + p.cos()).sum()


def run_fg(make_opt, steps=STEPS, dtype=fg.float64):
    p = fg.nn.Parameter(fg.tensor(P0, dtype=dtype))
    opt = make_opt([p])
    out = []
    for _ in range(steps):
        opt.zero_grad()
        fg_loss(p).backward()
        opt.step()
        out.append(p.detach().numpy().astype(np.float64))
    return out


# ---- numpy references -------------------------------------------------------------------------


def ref_sgd(p, steps, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False, maximize=False):
    buf, out = None, []
    for _ in range(steps):
        g = np_grad(p)
        g = -g if maximize else g
        g = g + weight_decay * p
        if momentum != 0:
            buf = g.copy() if buf is None else momentum * buf + (1 - dampening) * g
            g = g + momentum * buf if nesterov else buf
        p = p - lr * g
        out.append(p)
    return out


def ref_adam(p, steps, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False, maximize=False, decoupled=False):
    b1, b2 = betas
    m, v, vmax, out = np.zeros_like(p), np.zeros_like(p), np.zeros_like(p), []
    for t in range(1, steps + 1):
        g = np_grad(p)
        g = -g if maximize else g
        if decoupled:
            p = p * (1 - lr * weight_decay)
        else:
            g = g + weight_decay * p
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        if amsgrad:
            vmax = np.maximum(vmax, v)
        second = vmax if amsgrad else v
        m_hat, v_hat = m / (1 - b1**t), second / (1 - b2**t)
        p = p - lr * m_hat / (np.sqrt(v_hat) + eps)
        out.append(p)
    return out


def ref_rmsprop(p, steps, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False, maximize=False):
    sq, buf, ga, out = np.zeros_like(p), np.zeros_like(p), np.zeros_like(p), []
    for _ in range(steps):
        g = np_grad(p)
        g = -g if maximize else g
        g = g + weight_decay * p
        sq = alpha * sq + (1 - alpha) * g * g
        if centered:
            ga = alpha * ga + (1 - alpha) * g
            avg = np.sqrt(sq - ga * ga) + eps
        else:
            avg = np.sqrt(sq) + eps
        if momentum > 0:
            buf = momentum * buf + g / avg
            p = p - lr * buf
        else:
            p = p - lr * g / avg
        out.append(p)
    return out


def ref_adagrad(p, steps, lr=1e-2, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0, eps=1e-10, maximize=False):
    s, out = np.full_like(p, initial_accumulator_value), []
    for t in range(1, steps + 1):
        g = np_grad(p)
        g = -g if maximize else g
        g = g + weight_decay * p
        clr = lr / (1 + (t - 1) * lr_decay)
        s = s + g * g
        p = p - clr * g / (np.sqrt(s) + eps)
        out.append(p)
    return out


def ref_adadelta(p, steps, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0, maximize=False):
    sq, acc, out = np.zeros_like(p), np.zeros_like(p), []
    for _ in range(steps):
        g = np_grad(p)
        g = -g if maximize else g
        g = g + weight_decay * p
        sq = rho * sq + (1 - rho) * g * g
        delta = np.sqrt(acc + eps) / np.sqrt(sq + eps) * g
        acc = rho * acc + (1 - rho) * delta * delta
        p = p - lr * delta
        out.append(p)
    return out


def train(p, opt, steps):
    for _ in range(steps):
        opt.zero_grad()
        fg_loss(p).backward()
        opt.step()
