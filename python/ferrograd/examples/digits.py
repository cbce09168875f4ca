"""Train a small CNN on scikit-learn's handwritten digits (1,797 real 8x8 images, shipped inside
scikit-learn: no download) and show what train/eval mode changes.

    python -m ferrograd.examples.digits [--epochs 20] [--out DIR] [--seed 0] [--no-plot]

Needs the examples extra: pip install "ferrograd[examples]" (scikit-learn, tqdm, matplotlib).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings

import numpy as np

import ferrograd as fg
import ferrograd.nn as nn
import ferrograd.nn.functional as F
from ferrograd.utils.data import DataLoader, TensorDataset


def build_model() -> nn.Module:
    """The CNN of the nn benchmarks, scaled to 8x8 inputs."""
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),   # 16 x 4 x 4
        nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),  # 32 x 2 x 2
        nn.Dropout2d(0.2), nn.Flatten(), nn.Linear(32 * 2 * 2, 10),
    )


def load_data(seed: int):
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        sys.exit('This demo needs scikit-learn: pip install "ferrograd[examples]"')
    digits = load_digits()
    x = (digits.images.astype(np.float32) / 16.0)[:, None]  # (N, 1, 8, 8) in [0, 1]
    y = digits.target.astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(x))  # fixed 80/20 split
    cut = int(0.8 * len(x))
    tr, te = order[:cut], order[cut:]
    mean, std = x[tr].mean(), x[tr].std()
    norm = lambda a: (a - mean) / std  # noqa: E731
    return (fg.tensor(norm(x[tr])), fg.tensor(y[tr])), (fg.tensor(norm(x[te])), fg.tensor(y[te]))


def accuracy(model: nn.Module, x, y, batch_size: int = 32) -> float:
    """Accuracy over mini-batches, as an evaluation loop computes it."""
    correct = 0
    with fg.no_grad():
        for i in range(0, len(y), batch_size):
            xb, yb = x[i:i + batch_size], y[i:i + batch_size]
            correct += int((model(xb).argmax(1) == yb).sum().item())
    return correct / len(y)


def eval_memory(model: nn.Module, x) -> tuple[int, int]:
    """Bytes held after an eval-mode forward, with grad recording on and under no_grad."""
    with model.mode("eval"):
        start = fg.memory_allocated()
        out = model(x)                      # eval mode still records the graph ...
        with_grad = fg.memory_allocated() - start
        del out
        start = fg.memory_allocated()
        with fg.no_grad():                  # ... no_grad is what drops it
            out = model(x)
        without = fg.memory_allocated() - start
        del out
    return with_grad, without


def export_onnx(model: nn.Module, x, out: str) -> dict:
    """Writes the eval-mode graph (BatchNorm folded into the convolutions, dropout gone) with a
    dynamic batch axis, and compares ONNX Runtime's outputs with ferrograd's when it is installed."""
    path = os.path.join(out, "digits_cnn.onnx")
    t0 = time.perf_counter()
    fg.onnx.export(model, (x[:1],), path, input_names=["image"], output_names=["logits"],
                   dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}})
    info = {"path": path, "export_seconds": time.perf_counter() - t0, "bytes": os.path.getsize(path)}
    print(f"ONNX: wrote {path} ({info['bytes'] / 1e3:.1f} kB) in {info['export_seconds'] * 1e3:.0f} ms")
    try:
        import onnxruntime
    except ImportError:
        print("ONNX: onnxruntime is not installed; pip install onnxruntime to check the file")
        return info
    session = onnxruntime.InferenceSession(path)
    with fg.no_grad():
        ref = model(x).numpy()
    got = session.run(None, {"image": x.numpy()})[0]
    info["max_abs_difference"] = float(np.abs(got - ref).max())
    info["same_predictions"] = bool((got.argmax(1) == ref.argmax(1)).all())
    print(f"ONNX Runtime on the test set: max |difference| {info['max_abs_difference']:.2e}, same predictions: {info['same_predictions']}")
    return info


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--out", default="digits_out")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-plot", action="store_true")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--onnx", action="store_true", help="also write digits_cnn.onnx (needs ferrograd[onnx]) and check it with ONNX Runtime if installed")
    args = ap.parse_args(argv)
    try:
        from tqdm import tqdm
    except ImportError:
        sys.exit('This demo needs tqdm: pip install "ferrograd[examples]"')

    fg.manual_seed(args.seed)
    (x_tr, y_tr), (x_te, y_te) = load_data(args.seed)
    loader = DataLoader(TensorDataset(x_tr, y_tr), batch_size=args.batch_size, shuffle=True, drop_last=True)
    model = build_model()
    opt = fg.optim.Adam(model.parameters(), lr=3e-3)
    sched = fg.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=args.epochs)
    history = {"loss": [], "train_acc": [], "test_acc": []}
    epoch_times = []

    for epoch in range(1, args.epochs + 1):
        model.train()
        t0 = time.perf_counter()
        # A live bar on a terminal; when output is piped, only the epoch lines below.
        bar = tqdm(loader, desc=f"epoch {epoch:2d}/{args.epochs}", leave=False, disable=None)
        total, correct, seen = 0.0, 0, 0
        for xb, yb in bar:
            logits = model(xb)
            loss = F.cross_entropy(logits, yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            n = len(yb)
            total += loss.item() * n
            correct += int((logits.argmax(1) == yb).sum().item())
            seen += n
            bar.set_postfix(loss=f"{total / seen:.3f}", acc=f"{correct / seen:.3f}")
        sched.step()
        epoch_times.append(time.perf_counter() - t0)
        model.eval()
        history["loss"].append(total / seen)
        history["train_acc"].append(correct / seen)
        history["test_acc"].append(accuracy(model, x_te, y_te))
        print(f"epoch {epoch:2d}  loss {total / seen:.4f}  train acc {correct / seen:.3f}  "
              f"test acc {history['test_acc'][-1]:.3f}  ({epoch_times[-1]:.2f} s)")

    # The point of eval(): the same weights evaluated in training mode (batch statistics,
    # dropout on) score worse than in eval mode.
    model.eval()
    acc_eval = accuracy(model, x_te, y_te)
    state = fg.get_rng_state()
    bn_state = {k: v.clone() for k, v in model.state_dict().items()}
    with model.mode("train"), warnings.catch_warnings():
        # ferrograd would warn here (training-mode forward under no_grad): this is the mistake
        # being demonstrated, on purpose.
        warnings.simplefilter("ignore", fg.nn.utils.StatsUpdateWithoutGradWarning)
        acc_train_mode = accuracy(model, x_te, y_te)
    model.load_state_dict(bn_state)         # that pass moved the BatchNorm statistics: undo it
    fg.set_rng_state(state)
    mem_grad, mem_nograd = eval_memory(model, x_te)

    os.makedirs(args.out, exist_ok=True)
    weights = os.path.join(args.out, "digits_cnn.safetensors")
    fg.save(model.state_dict(), weights)
    fresh = build_model().eval()
    fresh.load_state_dict(fg.load(weights))
    with fg.no_grad():
        same = bool((fresh(x_te) == model(x_te)).all().item())

    report = {
        "test_accuracy_eval_mode": acc_eval,
        "test_accuracy_train_mode": acc_train_mode,
        "seconds_per_epoch": float(np.mean(epoch_times)),
        "total_seconds": float(np.sum(epoch_times)),
        "eval_pass_bytes_with_grad": mem_grad,
        "eval_pass_bytes_no_grad": mem_nograd,
        "reloaded_outputs_identical": same,
        "weights": weights,
        "history": history,
    }
    print()
    print(f"test accuracy, eval mode:            {acc_eval:.4f}")
    print(f"test accuracy, wrongly in train mode: {acc_train_mode:.4f}   (batch statistics + dropout: why eval() exists)")
    print(f"time per epoch:                       {report['seconds_per_epoch']:.2f} s  (total {report['total_seconds']:.1f} s)")
    print(f"eval pass memory, grad recording on:  {mem_grad / 1e6:.2f} MB held by the graph")
    print(f"eval pass memory, under no_grad:      {mem_nograd / 1e6:.2f} MB")
    print(f"saved to {weights}; reloaded model gives identical eval outputs: {same}")

    if args.onnx:
        report["onnx"] = export_onnx(model, x_te, args.out)

    if not args.no_plot:
        report["plot"] = plot(history, acc_eval, acc_train_mode, os.path.join(args.out, "digits_training.png"))
        print(f"plot: {report['plot']}")
    with open(os.path.join(args.out, "report.json"), "w") as f:
        json.dump(report, f, indent=2)
    return report


def plot(history: dict, acc_eval: float, acc_train_mode: float, path: str) -> str:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        sys.exit('Plotting needs matplotlib: pip install "ferrograd[examples]" (or pass --no-plot)')
    epochs = range(1, len(history["loss"]) + 1)
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    axes[0].plot(epochs, history["loss"], marker="o")
    axes[0].set(title="training loss", xlabel="epoch", ylabel="cross-entropy")
    axes[1].plot(epochs, history["train_acc"], marker="o", label="train (running, train mode)")
    axes[1].plot(epochs, history["test_acc"], marker="o", label="test (eval mode)")
    axes[1].set(title="accuracy", xlabel="epoch", ylim=(0, 1.01))
    axes[1].legend(loc="lower right")
    bars = axes[2].bar(["eval mode", "train mode\n(wrong)"], [acc_eval, acc_train_mode], color=["tab:green", "tab:red"])
    axes[2].bar_label(bars, fmt="%.3f")
    axes[2].set(title="same weights, test accuracy", ylim=(0, 1.05))
    fig.suptitle("ferrograd: CNN on scikit-learn digits")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


if __name__ == "__main__":
    main()
