"""ONNX export: its time and file size for the demo's CNN, and ONNX Runtime's inference time
beside ferrograd's under no_grad, on the same machine and thread count, in one run.

    .venv/bin/python bench/bench_onnx.py              # needs onnx and onnxruntime (make venv installs them)
    .venv/bin/python bench/bench_onnx.py --threads 1

Medians and ranges of repeated runs, milliseconds; ratio = fg / ONNX Runtime (below 1:
ferrograd is faster). The models: the demo's digits CNN (8 x 8 images) and a 2-layer LSTM
language model (embedding 64, hidden 128, sequence 32).
"""

from __future__ import annotations

import argparse
import io
import statistics
import time
import warnings

import ferrograd as fg
import numpy as np
import onnxruntime as ort
from ferrograd.examples.digits import build_model

nn = fg.nn


def times_ms(fn, reps: int) -> list[float]:
    fn()
    out = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1e3)
    return out


def fmt(ts: list[float]) -> str:
    return f"{statistics.median(ts):8.3f} ({min(ts):.3f}-{max(ts):.3f})"


class LM(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb, self.lstm, self.out = nn.Embedding(100, 64), nn.LSTM(64, 128, 2, batch_first=True), nn.Linear(128, 100)

    def forward(self, x):
        return self.out(self.lstm(self.emb(x))[0])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=30)
    args = ap.parse_args()
    fg.set_num_threads(args.threads)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = args.threads
    opts.inter_op_num_threads = 1
    warnings.simplefilter("ignore")
    fg.manual_seed(0)

    print(f"threads {args.threads}; onnxruntime {ort.__version__}")
    models = [("digits CNN", build_model(), lambda b: fg.randn(b, 1, 8, 8), (1, 64, 360)),
              ("LSTM LM", LM(), lambda b: fg.randint(0, 100, (b, 32)), (1, 16, 64))]
    for name, model, make, batches in models:
        measure(name, model, make, batches, args.reps, opts)


def export_bytes(model, x) -> bytes:
    buf = io.BytesIO()
    fg.onnx.export(model, (x,), buf, input_names=["x"], dynamic_axes={"x": [0]})
    return buf.getvalue()


def measure(name, model, make, batches, reps, opts) -> None:
    model.eval()
    x1 = make(1)  # PyTorch's recipe: a dummy batch of one, the batch axis dynamic
    export = times_ms(lambda: export_bytes(model, x1), 5)
    data = export_bytes(model, x1)
    session = ort.InferenceSession(data, opts)
    print(f"\n{name}: export {fmt(export)} ms, file {len(data) / 1e3:.1f} kB")
    print(f"  {'batch':>6} {'fg no_grad ms':>28} {'ONNX Runtime ms':>28} {'fg/ORT':>7}")
    for b in batches:
        x = make(b)
        feed = {"x": x.numpy()}

        def run_fg(x=x):
            with fg.no_grad():
                model(x)

        def run_ort(feed=feed):
            session.run(None, feed)

        t_fg, t_ort = [], []
        for _ in range(3):  # interleaved, so drift in the machine's speed hits both
            t_fg += times_ms(run_fg, reps // 3)
            t_ort += times_ms(run_ort, reps // 3)
        with fg.no_grad():
            err = float(np.abs(session.run(None, feed)[0] - model(x).numpy()).max())
        print(f"  {b:>6} {fmt(t_fg):>28} {fmt(t_ort):>28} {statistics.median(t_fg) / statistics.median(t_ort):6.2f}x   max |diff| {err:.1e}")


if __name__ == "__main__":
    main()
