"""Breadth with gradients: about 80 layers, losses and differentiable ops, forward + backward
(`out.sum().backward()`, or the loss's), ferrograd beside PyTorch in one run, sorted worst first.
bench_ops.py is the forward-only list; this one is what a training step pays, where a composed op's
every piece has a backward of its own (GroupNorm was LayerNorm plus a broadcast multiply and add,
2.2x PyTorch's time; reflect padding two index gathers and two scatters, 7x).

    PYTHONPATH=python /tmp/torchvenv/bin/python bench/bench_grads.py [--runs 7]

Each row is the best of `--runs` calls per library, taking turns with a pause as bench_ops.py
does. Float32, 1M-element inputs (512 x 2048, 32 x 64 x 32 x 32) unless the name says otherwise.
Without PyTorch it prints ferrograd's times alone.
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_ops import compare  # noqa: E402  (bench/ is not a package)


def cases(m):
    """{name: zero-arg callable running forward, .sum() and backward} for library `m`."""
    rng = np.random.default_rng(0)
    nn, F = m.nn, m.nn.functional
    def t(*s, grad=True):
        return m.from_numpy(rng.standard_normal(s).astype(np.float32)).requires_grad_(grad)
    m.manual_seed(0)
    a, b = t(512, 2048), t(512, 2048)
    c4 = t(32, 64, 32, 32)
    s3 = t(32, 64, 256)
    idx = m.from_numpy(rng.integers(0, 512, 4096))
    mods = {
        "GroupNorm(8, 64)": (nn.GroupNorm(8, 64), c4), "InstanceNorm2d(64, affine)": (nn.InstanceNorm2d(64, affine=True), c4),
        "LayerNorm(2048)": (nn.LayerNorm(2048), a), "RMSNorm(2048)": (nn.RMSNorm(2048), a),
        "BatchNorm1d(64) on (32,64,256)": (nn.BatchNorm1d(64), s3), "LocalResponseNorm(5)": (nn.LocalResponseNorm(5), c4),
        "Conv2d(64,64,3,groups=64)": (nn.Conv2d(64, 64, 3, padding=1, groups=64), c4),
        "Conv2d(64,64,3,groups=8)": (nn.Conv2d(64, 64, 3, padding=1, groups=8), c4),
        "Conv2d(64,64,3,dilation=2)": (nn.Conv2d(64, 64, 3, padding=2, dilation=2), c4),
        "Conv2d(64,128,1)": (nn.Conv2d(64, 128, 1), c4),
        "ConvTranspose2d(64,32,4,s2)": (nn.ConvTranspose2d(64, 32, 4, stride=2, padding=1), c4),
        "Conv1d(64,64,5)": (nn.Conv1d(64, 64, 5, padding=2), s3),
        "Conv1d(64,64,3,groups=64)": (nn.Conv1d(64, 64, 3, padding=1, groups=64), s3),
        "MaxPool2d(3,2,1)": (nn.MaxPool2d(3, 2, 1), c4), "AvgPool2d(3,2,1)": (nn.AvgPool2d(3, 2, 1), c4),
        "AdaptiveAvgPool2d(7)": (nn.AdaptiveAvgPool2d(7), c4), "AdaptiveMaxPool2d(7)": (nn.AdaptiveMaxPool2d(7), c4),
        "Upsample bilinear x2": (nn.Upsample(scale_factor=2, mode="bilinear"), c4), "Upsample nearest x2": (nn.Upsample(scale_factor=2), c4),
        "PixelShuffle(2)": (nn.PixelShuffle(2), c4), "Dropout2d": (nn.Dropout2d(0.2), c4),
        "ReLU": (nn.ReLU(), a), "GELU tanh": (nn.GELU("tanh"), a), "Softplus": (nn.Softplus(), a), "Mish": (nn.Mish(), a),
        "Hardswish": (nn.Hardswish(), a), "LeakyReLU": (nn.LeakyReLU(0.1), a), "PReLU": (nn.PReLU(), a), "ELU": (nn.ELU(), a),
        "Tanhshrink": (nn.Tanhshrink(), a), "LogSigmoid": (nn.LogSigmoid(), a), "Softmax(1)": (nn.Softmax(1), a),
        "Linear(2048,512)": (nn.Linear(2048, 512), a), "Bilinear(64,64,32) on 4096": (nn.Bilinear(64, 64, 32), None),
        "Embedding(512,2048) x4096": (nn.Embedding(512, 2048), idx), "EmbeddingBag mean": (nn.EmbeddingBag(512, 256, mode="mean"), None),
        "pad reflect 2": (lambda x: F.pad(x, (2, 2, 2, 2), mode="reflect"), c4), "pad replicate 2": (lambda x: F.pad(x, (2, 2, 2, 2), mode="replicate"), c4),
        "unfold 3x3": (lambda x: F.unfold(x, 3, padding=1), t(8, 64, 32, 32)), "fold": (None, None),
        "grid_sample bilinear": (None, None), "interpolate bicubic x2": (lambda x: F.interpolate(x, scale_factor=2, mode="bicubic"), c4),
        "cumsum(1)": (lambda x: x.cumsum(1), a), "cumprod(1)": (lambda x: (x * 0.01 + 1).cumprod(1), a), "sort(1) values": (lambda x: x.sort(1)[0], a),
        "topk(10,1)": (lambda x: x.topk(10, 1)[0], a), "max(1)": (lambda x: x.max(1)[0], a), "norm(dim=1)": (lambda x: x.norm(dim=1), a),
        "a[:, ::2]": (lambda x: x[:, ::2], a), "x.t() @ x": (lambda x: x[:256].t() @ x[:256], a), "cat+split": (lambda x: m.cat([x, x], 1)[:, 100:200], a),
        "std(1)": (lambda x: x.std(1), a), "logsumexp(1)": (lambda x: m.logsumexp(x, 1), a), "cross_entropy": (lambda x: F.cross_entropy(x, idx[:512] % 2048), a),
        "nll(log_softmax)": (lambda x: F.nll_loss(F.log_softmax(x, 1), idx[:512] % 2048), a), "kl_div": (lambda x: F.kl_div(F.log_softmax(x, 1), F.softmax(b.detach(), 1), reduction="batchmean"), a),
        "bce_with_logits": (lambda x: F.binary_cross_entropy_with_logits(x, (b.detach() > 0).float()), a), "smooth_l1": (lambda x: F.smooth_l1_loss(x, b.detach()), a),
        "huber": (lambda x: F.huber_loss(x, b.detach()), a), "cosine_similarity": (lambda x: F.cosine_similarity(x, b.detach()), a),
        "pairwise cdist 512x64": (lambda x: m.cdist(x[:, :64], x[:, :64]), a), "einsum bij,bjk": (lambda x: m.einsum("bij,bjk->bik", x.reshape(64, 8, 2048)[:, :, :64], x.reshape(64, 8, 2048)[:, :, :64].transpose(1, 2)), a),
        "where": (lambda x: m.where(x > 0, x, x * 0.1), a), "clamp": (lambda x: x.clamp(-0.5, 0.5), a), "abs": (lambda x: x.abs(), a),
        "masked_fill": (lambda x: x.masked_fill(b.detach() > 0, 0.0), a), "gather(1)": (lambda x: x.gather(1, (idx[:512] % 2048)[:, None].expand(512, 64).contiguous()), a),
        "scatter_add(1)": (lambda x: m.zeros(512, 2048).scatter_add(1, (idx[:512] % 2048)[:, None].expand(512, 64).contiguous(), x[:, :64]), a),
        "index_add(0)": (lambda x: m.zeros(512, 2048).index_add(0, idx[:256], x[:256]), a), "repeat_interleave": (lambda x: x[:64].repeat_interleave(4, 0), a),
        "flip": (lambda x: x.flip(1), a), "roll": (lambda x: x.roll(5, 1), a), "tril": (lambda x: x.tril(), a), "diag_embed": (lambda x: m.diag_embed(x[:64, :64]), a),
        "prod(1)": (lambda x: (x * 0.01 + 1).prod(1), a), "pow 3": (lambda x: x ** 3, a), "pow tensor": (lambda x: x.abs() ** b.detach().abs(), a),
        "atan2": (lambda x: m.atan2(x, b.detach()), a), "erf": (lambda x: m.erf(x), a), "lgamma": (lambda x: m.lgamma(x.abs() + 0.5), a),
    }
    xb1, xb2 = t(4096, 64), t(4096, 64)
    fold_in = t(8, 64 * 9, 1024)
    inp = t(16, 64, 32, 32)
    grid = m.from_numpy((rng.random((16, 32, 32, 2)) * 2 - 1).astype(np.float32)).requires_grad_(True)
    bag_idx = m.from_numpy(rng.integers(0, 512, 4096))
    offs = m.from_numpy(np.arange(0, 4096, 16))
    calls = {
        "Bilinear(64,64,32) on 4096": lambda mod: mod(xb1, xb2),
        "EmbeddingBag mean": lambda mod: mod(bag_idx, offs),
        "fold": lambda _: F.fold(fold_in, (32, 32), 3, padding=1),
        "grid_sample bilinear": lambda _: F.grid_sample(inp, grid, align_corners=False),
    }
    return {name: (lambda mod=mod, x=x, call=calls.get(name): (call(mod) if call else mod(x)).sum().backward()) for name, (mod, x) in mods.items()}

def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--pause", type=float, default=0.01, help="seconds between one library's turn and the next's")
    args = ap.parse_args()
    compare(cases, args.runs, args.pause, grad=True, what="cases")


if __name__ == "__main__":
    main()
