"""A tiny model trained with ferrograd's autograd: fits y = sin(3x) with a 1-32-1 tanh MLP and
prints the loss as it falls. (The full demo, a CNN on real digits, replaces this later.)"""

import ferrograd as fg

fg.manual_seed(0)
x = fg.linspace(-1, 1, 256).reshape(-1, 1)
y = (x * 3).sin()

w1 = (fg.randn(1, 32) * 1.0).requires_grad_()
b1 = fg.zeros(32, requires_grad=True)
w2 = (fg.randn(32, 1) * 0.2).requires_grad_()
b2 = fg.zeros(1, requires_grad=True)
params = [w1, b1, w2, b2]

lr = 0.1
for step in range(501):
    pred = (x @ w1 + b1).tanh() @ w2 + b2
    loss = ((pred - y) ** 2).mean()
    for p in params:
        p.grad = None
    loss.backward()
    with fg.no_grad():
        for p in params:
            p -= lr * p.grad
    if step % 50 == 0:
        print(f"step {step:4d}  loss {loss.item():.5f}")
