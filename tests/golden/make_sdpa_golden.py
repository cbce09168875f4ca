"""Writes tests/golden/sdpa_golden.json: PyTorch's scaled_dot_product_attention outputs and
q/k/v gradients (float64, CPU) for small cases, read by tests/test_sdpa_kernel.py.

Run with PyTorch installed: python tests/golden/make_sdpa_golden.py
"""

import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

CASES = [
    ("plain", (2, 3, 4), (2, 5, 4), (2, 5, 3), {}, None),
    ("causal L>S", (1, 2, 5, 4), (1, 2, 3, 4), (1, 2, 3, 2), {"is_causal": True}, None),
    ("causal L<S", (1, 3, 4), (1, 6, 4), (1, 6, 2), {"is_causal": True}, None),
    ("gqa", (1, 4, 3, 4), (1, 2, 5, 4), (1, 2, 5, 3), {"enable_gqa": True}, None),
    ("scale", (2, 3, 4), (2, 4, 4), (2, 4, 4), {"scale": 0.3}, None),
    ("bool mask, one row all masked", (1, 4, 4), (1, 5, 4), (1, 5, 2), {}, "bool"),
    ("float mask", (2, 3, 4), (2, 5, 4), (2, 5, 3), {}, "float"),
]


def main():
    rng = np.random.default_rng(16)
    out = []
    for name, qs, ks, vs, kw, mask in CASES:
        q, k, v = (rng.standard_normal(s) for s in (qs, ks, vs))
        tq, tk, tv = (torch.tensor(x, requires_grad=True) for x in (q, k, v))
        case = {"name": name, "q": q.tolist(), "k": k.tolist(), "v": v.tolist(), "kwargs": kw, "mask": None}
        targs = dict(kw)
        L, S = qs[-2], ks[-2]
        if mask == "bool":
            m = rng.random((L, S)) > 0.4
            m[1] = False
            case.update(mask=m.tolist(), mask_dtype="bool")
            targs["attn_mask"] = torch.tensor(m)
        elif mask == "float":
            m = rng.standard_normal((L, S))
            case.update(mask=m.tolist(), mask_dtype="float64")
            targs["attn_mask"] = torch.tensor(m)
        o = F.scaled_dot_product_attention(tq, tk, tv, **targs)
        g = rng.standard_normal(tuple(o.shape))
        o.backward(torch.tensor(g))
        case.update(out=o.detach().numpy().tolist(), grad_out=g.tolist(), dq=tq.grad.numpy().tolist(),
                    dk=tk.grad.numpy().tolist(), dv=tv.grad.numpy().tolist(), torch=torch.__version__)
        out.append(case)
    path = Path(__file__).with_name("sdpa_golden.json")
    path.write_text(json.dumps(out) + "\n")
    print(f"wrote {len(out)} cases to {path}")


if __name__ == "__main__":
    main()
