"""Golden values for tests/test_attention_golden.py and tests/test_transformer_golden.py from
PyTorch 2.15 (CPU, float64):

    /tmp/torchvenv/bin/python tests/golden/make_attention_golden.py

writes tests/golden/attention_golden.json (F.scaled_dot_product_attention and
nn.MultiheadAttention), tests/golden/transformer_golden.json (the Transformer layers) and
tests/golden/embedding_golden.json (F.embedding's options, for tests/test_embedding_options.py).

Every case records its inputs, the module's state_dict (the test loads it, which also checks the
parameter names), the outputs, and the gradients of sum(output * R) (R a recorded random tensor
per output) with respect to every float input and every parameter. Train-mode cases use
dropout=0 so they do not depend on dropout masks; eval-mode cases use dropout > 0 (it must be
off). Grad stays enabled, so PyTorch's inference fast paths are not taken.
"""

from __future__ import annotations

import json
import os

import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)
HERE = os.path.dirname(os.path.abspath(__file__))


def enc(t):
    if t is None:
        return None
    if isinstance(t, torch.Tensor):
        return {"dtype": str(t.dtype).replace("torch.", ""), "shape": list(t.shape), "data": [_short(x) for x in t.detach().reshape(-1).tolist()]}
    return t


def _short(x):
    """12 significant digits keep the file small; the tests compare at 1e-9."""
    return float(f"{x:.12g}") if isinstance(x, float) else x


def rand(*shape, gen):
    return torch.randn(*shape, generator=gen)


def run(fn, inputs: dict, gen):
    """Calls fn(**inputs) with the float inputs requiring grad; returns outputs and gradients."""
    leaves = {k: v.clone().requires_grad_(True) for k, v in inputs.items()
              if isinstance(v, torch.Tensor) and v.is_floating_point() and not k.endswith("mask")}
    args = {k: leaves.get(k, v) for k, v in inputs.items()}
    out = fn(**args)
    outs = list(out) if isinstance(out, tuple) else [out]
    weights = [None if o is None else rand(*o.shape, gen=gen) for o in outs]
    loss = sum((o * w).sum() for o, w in zip(outs, weights) if o is not None)
    loss.backward()
    return outs, weights, {k: v.grad for k, v in leaves.items()}


def sdpa_cases(gen):
    cases = []

    def add(name, q, k, v, **kw):
        tensors = {"query": q, "key": k, "value": v}
        if "attn_mask" in kw:
            tensors["attn_mask"] = kw.pop("attn_mask")
        outs, weights, grads = run(lambda **a: F.scaled_dot_product_attention(**a, **kw), tensors, gen)
        cases.append({"name": name, "inputs": {k: enc(t) for k, t in tensors.items()}, "kwargs": kw,
                      "outputs": [enc(o) for o in outs], "weights": [enc(w) for w in weights],
                      "grads": {k: enc(g) for k, g in grads.items()}})

    B, H, L, S, E, Ev = 2, 3, 4, 6, 8, 5
    q, k, v = rand(B, H, L, E, gen=gen), rand(B, H, S, E, gen=gen), rand(B, H, S, Ev, gen=gen)
    add("plain", q, k, v)
    keep = torch.rand(L, S, generator=gen) > 0.4
    keep[:, 0] = True
    keep[2] = False  # a query row with every key masked: zeros in PyTorch 2.15
    add("bool_mask_with_dead_row", q, k, v, attn_mask=keep)
    add("float_mask_broadcast", q, k, v, attn_mask=rand(B, 1, L, S, gen=gen))
    fm = rand(L, S, gen=gen)
    fm[1, 3:] = float("-inf")
    add("float_mask_with_inf", q, k, v, attn_mask=fm)
    add("causal_L_lt_S", q, k, v, is_causal=True)
    add("causal_L_gt_S", rand(B, H, 7, E, gen=gen), rand(B, H, 3, E, gen=gen), rand(B, H, 3, Ev, gen=gen),
        is_causal=True)
    add("causal_square", rand(B, H, 5, E, gen=gen), rand(B, H, 5, E, gen=gen), rand(B, H, 5, Ev, gen=gen),
        is_causal=True)
    add("scale", q, k, v, scale=0.3)
    add("gqa", rand(B, 6, L, E, gen=gen), rand(B, 2, S, E, gen=gen), rand(B, 2, S, Ev, gen=gen), enable_gqa=True)
    add("gqa_causal_scale", rand(1, 4, 5, E, gen=gen), rand(1, 1, 5, E, gen=gen), rand(1, 1, 5, Ev, gen=gen),
        enable_gqa=True, is_causal=True, scale=0.5)
    add("three_d", rand(3, L, E, gen=gen), rand(3, S, E, gen=gen), rand(3, S, Ev, gen=gen))
    add("two_d_bool_mask", rand(L, E, gen=gen), rand(S, E, gen=gen), rand(S, Ev, gen=gen),
        attn_mask=torch.rand(L, S, generator=gen) > 0.3)
    add("broadcast_batch", rand(3, 1, L, E, gen=gen), rand(1, 2, S, E, gen=gen), rand(1, 2, S, Ev, gen=gen))
    return cases


def module_case(name, cls, ctor, inputs, call=None, mode="train", gen=None):
    module = cls(**ctor)
    if mode == "eval":
        module.eval()
    call = call or {}
    outs, weights, grads = run(lambda **a: module(**a, **call), inputs, gen)
    return {
        "name": name, "cls": cls.__name__, "ctor": ctor, "mode": mode, "call": call,
        "inputs": {k: enc(t) for k, t in inputs.items()},
        "state_dict": {k: enc(t) for k, t in module.state_dict().items()},
        "outputs": [enc(o) for o in outs], "weights": [enc(w) for w in weights],
        "grads": {k: enc(g) for k, g in grads.items()},
        "param_grads": {k: enc(p.grad) for k, p in module.named_parameters()},
    }


def mha_cases(gen):
    E, H, L, S, N = 8, 2, 4, 5, 3
    x = rand(L, N, E, gen=gen)
    mem = rand(S, N, E, gen=gen)
    kpm = torch.zeros(N, S, dtype=torch.bool)
    kpm[0, -2:] = True
    kpm[2, 0] = True
    self_kpm = torch.zeros(N, L, dtype=torch.bool)
    self_kpm[1, -1] = True
    c = []

    def add(name, ctor, inputs, call=None, mode="train"):
        c.append(module_case(name, nn.MultiheadAttention, dict(embed_dim=E, num_heads=H, **ctor), inputs, call, mode,
                             gen))

    add("self_default", {}, {"query": x, "key": x, "value": x})
    add("cross", {}, {"query": x, "key": mem, "value": mem})
    add("cross_no_weights", {}, {"query": x, "key": mem, "value": mem}, {"need_weights": False})
    add("per_head_weights", {}, {"query": x, "key": mem, "value": mem}, {"average_attn_weights": False})
    add("kdim_vdim", {"kdim": 6, "vdim": 3},
        {"query": x, "key": rand(S, N, 6, gen=gen), "value": rand(S, N, 3, gen=gen)})
    add("kdim_vdim_no_weights", {"kdim": 6, "vdim": 3},
        {"query": x, "key": rand(S, N, 6, gen=gen), "value": rand(S, N, 3, gen=gen)}, {"need_weights": False})
    add("bias_kv", {"add_bias_kv": True}, {"query": x, "key": mem, "value": mem})
    add("zero_attn", {"add_zero_attn": True}, {"query": x, "key": mem, "value": mem})
    add("bias_kv_zero_attn_kpm", {"add_bias_kv": True, "add_zero_attn": True},
        {"query": x, "key": mem, "value": mem, "key_padding_mask": kpm})
    add("kpm_bool", {}, {"query": x, "key": mem, "value": mem, "key_padding_mask": kpm})
    add("kpm_bool_no_weights", {}, {"query": x, "key": mem, "value": mem, "key_padding_mask": kpm},
        {"need_weights": False})
    add("kpm_float", {}, {"query": x, "key": mem, "value": mem,
                          "key_padding_mask": torch.zeros(N, S).masked_fill(kpm, -1e4)})
    causal = torch.ones(L, L, dtype=torch.bool).triu(1)
    add("attn_mask_bool_and_kpm", {}, {"query": x, "key": x, "value": x, "attn_mask": causal,
                                       "key_padding_mask": self_kpm})
    add("attn_mask_float_3d", {}, {"query": x, "key": mem, "value": mem,
                                   "attn_mask": rand(N * H, L, S, gen=gen)})
    add("attn_mask_float_3d_no_weights", {}, {"query": x, "key": mem, "value": mem,
                                              "attn_mask": rand(N * H, L, S, gen=gen)}, {"need_weights": False})
    fcausal = torch.zeros(L, L).masked_fill(causal, float("-inf"))
    add("is_causal_no_weights", {}, {"query": x, "key": x, "value": x, "attn_mask": fcausal},
        {"need_weights": False, "is_causal": True})
    add("is_causal_with_weights", {}, {"query": x, "key": x, "value": x, "attn_mask": fcausal}, {"is_causal": True})
    add("batch_first", {"batch_first": True},
        {"query": x.transpose(0, 1).contiguous(), "key": mem.transpose(0, 1).contiguous(),
         "value": mem.transpose(0, 1).contiguous(), "key_padding_mask": kpm})
    add("unbatched", {}, {"query": rand(L, E, gen=gen), "key": rand(S, E, gen=gen), "value": rand(S, E, gen=gen),
                          "key_padding_mask": torch.tensor([False, False, True, False, False])})
    add("unbatched_3d_mask", {}, {"query": rand(L, E, gen=gen), "key": rand(S, E, gen=gen),
                                  "value": rand(S, E, gen=gen), "attn_mask": rand(H, L, S, gen=gen)})
    add("no_bias", {"bias": False}, {"query": x, "key": mem, "value": mem})
    add("eval_dropout_off", {"dropout": 0.5}, {"query": x, "key": mem, "value": mem}, mode="eval")
    add("eval_dropout_off_no_weights", {"dropout": 0.5}, {"query": x, "key": x, "value": x}, {"need_weights": False},
        mode="eval")
    return c


def transformer_cases(gen):
    d, H, F_, S, T, N = 8, 2, 16, 5, 4, 2
    src, tgt = rand(S, N, d, gen=gen), rand(T, N, d, gen=gen)
    skpm = torch.zeros(N, S, dtype=torch.bool)
    skpm[1, -2:] = True
    tkpm = torch.zeros(N, T, dtype=torch.bool)
    tkpm[0, -1] = True
    tmask = nn.Transformer.generate_square_subsequent_mask(T)
    smask = torch.zeros(S, S).masked_fill(torch.rand(S, S, generator=gen) > 0.7, float("-inf")).fill_diagonal_(0)
    base = dict(d_model=d, nhead=H, dim_feedforward=F_, dropout=0.0)
    c = []

    def add(name, cls, ctor, inputs, call=None, mode="train"):
        c.append(module_case(name, cls, ctor, inputs, call, mode, gen))

    E, D = nn.TransformerEncoderLayer, nn.TransformerDecoderLayer
    add("enc_layer", E, base, {"src": src})
    add("enc_layer_masks", E, base, {"src": src, "src_mask": smask, "src_key_padding_mask": skpm})
    add("enc_layer_norm_first_gelu", E, {**base, "norm_first": True, "activation": "gelu"},
        {"src": src, "src_key_padding_mask": skpm})
    add("enc_layer_batch_first_causal", E, {**base, "batch_first": True},
        {"src": src.transpose(0, 1).contiguous(), "src_mask": nn.Transformer.generate_square_subsequent_mask(S)},
        {"is_causal": True})
    add("enc_layer_no_bias", E, {**base, "bias": False, "layer_norm_eps": 1e-3}, {"src": src})
    add("enc_layer_unbatched", E, base, {"src": src[:, 0]})
    add("enc_layer_eval", E, {**base, "dropout": 0.3}, {"src": src, "src_key_padding_mask": skpm}, mode="eval")
    add("dec_layer", D, base, {"tgt": tgt, "memory": src})
    add("dec_layer_masks", D, base, {"tgt": tgt, "memory": src, "tgt_mask": tmask, "tgt_key_padding_mask": tkpm,
                                     "memory_key_padding_mask": skpm}, {"tgt_is_causal": True})
    add("dec_layer_norm_first_gelu_bf", D, {**base, "norm_first": True, "activation": "gelu", "batch_first": True},
        {"tgt": tgt.transpose(0, 1).contiguous(), "memory": src.transpose(0, 1).contiguous(), "tgt_mask": tmask,
         "memory_key_padding_mask": skpm})
    add("dec_layer_eval", D, {**base, "dropout": 0.3}, {"tgt": tgt, "memory": src, "tgt_mask": tmask}, mode="eval")
    add("transformer", nn.Transformer, {**base, "num_encoder_layers": 2, "num_decoder_layers": 2},
        {"src": src, "tgt": tgt, "tgt_mask": tmask, "src_key_padding_mask": skpm, "tgt_key_padding_mask": tkpm,
         "memory_key_padding_mask": skpm})
    add("transformer_norm_first_gelu_bf", nn.Transformer,
        {**base, "num_encoder_layers": 1, "num_decoder_layers": 2, "norm_first": True, "activation": "gelu",
         "batch_first": True},
        {"src": src.transpose(0, 1).contiguous(), "tgt": tgt.transpose(0, 1).contiguous(), "tgt_mask": tmask})
    add("transformer_eval", nn.Transformer, {**base, "dropout": 0.2, "num_encoder_layers": 1, "num_decoder_layers": 1},
        {"src": src, "tgt": tgt, "tgt_mask": tmask, "src_key_padding_mask": skpm}, mode="eval")
    return c


def stacks(gen):
    """TransformerEncoder/Decoder built from a layer, with a final norm."""
    d, H, S, T, N = 8, 2, 5, 4, 2
    src, tgt = rand(S, N, d, gen=gen), rand(T, N, d, gen=gen)
    out = []
    for name, build, inputs, call in (
        ("encoder_stack_causal", lambda: nn.TransformerEncoder(
            nn.TransformerEncoderLayer(d, H, 16, 0.0), 2, nn.LayerNorm(d), enable_nested_tensor=False),
         {"src": src, "mask": nn.Transformer.generate_square_subsequent_mask(S)}, {}),
        ("encoder_stack_kpm", lambda: nn.TransformerEncoder(nn.TransformerEncoderLayer(d, H, 16, 0.0), 3,
                                                            enable_nested_tensor=False),
         {"src": src, "src_key_padding_mask": torch.tensor([[False] * 5, [False, False, False, True, True]])}, {}),
        ("decoder_stack", lambda: nn.TransformerDecoder(nn.TransformerDecoderLayer(d, H, 16, 0.0), 2, nn.LayerNorm(d)),
         {"tgt": tgt, "memory": src, "tgt_mask": nn.Transformer.generate_square_subsequent_mask(T)}, {}),
    ):
        torch.manual_seed(len(out))
        module = build()
        outs, weights, grads = run(lambda m=module, c=call, **a: m(**a, **c), inputs, gen)
        out.append({"name": name, "inputs": {k: enc(t) for k, t in inputs.items()},
                    "state_dict": {k: enc(t) for k, t in module.state_dict().items()},
                    "outputs": [enc(o) for o in outs], "weights": [enc(w) for w in weights],
                    "grads": {k: enc(g) for k, g in grads.items()},
                    "param_grads": {k: enc(p.grad) for k, p in module.named_parameters()}})
    return out


def embedding_cases(gen):
    """F.embedding with each option: the weight before and after (max_norm renormalises in
    place), the output and the weight's gradient of sum(output * R)."""
    idx = torch.tensor([[0, 3, 3, 5], [1, 3, 0, 5], [6, 6, 6, 2]])
    cases = []
    for name, kw in (
        ("plain", {}),
        ("padding_idx", {"padding_idx": 3}),
        ("padding_idx_negative", {"padding_idx": -1}),
        ("max_norm", {"max_norm": 1.0}),
        ("max_norm_p1", {"max_norm": 2.0, "norm_type": 1.0}),
        ("max_norm_p3_padding", {"max_norm": 0.8, "norm_type": 3.0, "padding_idx": 0}),
        ("scale_grad_by_freq", {"scale_grad_by_freq": True}),
        ("everything", {"padding_idx": 5, "max_norm": 1.5, "norm_type": 2.0, "scale_grad_by_freq": True}),
    ):
        before = rand(7, 3, gen=gen) * 1.5
        weight = before.clone().requires_grad_(True)
        out = F.embedding(idx, weight, **kw)
        r = rand(*out.shape, gen=gen)
        (out * r).sum().backward()
        cases.append({"name": name, "kwargs": kw, "indices": enc(idx), "weight": enc(before),
                      "weight_after": enc(weight.detach()), "output": enc(out), "R": enc(r),
                      "grad": enc(weight.grad)})
    return cases


def main():
    gen = torch.Generator().manual_seed(16)
    torch.manual_seed(16)
    attention = {"torch_version": torch.__version__, "sdpa": sdpa_cases(gen), "mha": mha_cases(gen)}
    transformer = {"torch_version": torch.__version__, "layers": transformer_cases(gen), "stacks": stacks(gen)}
    embedding = {"torch_version": torch.__version__, "embedding": embedding_cases(gen)}
    for name, data in (("attention_golden.json", attention), ("transformer_golden.json", transformer),
                       ("embedding_golden.json", embedding)):
        with open(os.path.join(HERE, name), "w") as f:
            json.dump(data, f)
        print(name, os.path.getsize(os.path.join(HERE, name)) // 1024, "KB")


if __name__ == "__main__":
    main()
