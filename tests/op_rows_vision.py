"""Op-table rows for the vision family (F.pad and the padding layers, pixel/channel shuffles,
Unflatten, one_hot, normalize), gathered by op_table.py. Each row: a numpy reference, float64
gradcheck, and PyTorch's values in tests/golden/op_table_golden.json (ids start with "vis_";
regenerate with `PYTHONPATH=python /tmp/torchvenv/bin/python tests/golden/make_op_golden.py vis_`).
"""

from __future__ import annotations

import numpy as np
from op_table import In, Op
from vision_reference import np_channel_shuffle, np_normalize, np_pad, np_pixel_shuffle, np_pixel_unshuffle


def _F(L):
    return L.nn.functional


def _pad_row(name, shape, pad, mode, value=None, kind="u"):
    kw = {} if value is None else {"value": value}
    return Op(f"vis_pad_{name}", lambda L, x: _F(L).pad(x, pad, mode=mode, **kw), [In(shape, kind)],
              ref=lambda a: np_pad(a, pad, mode, 0.0 if value is None else value))


def _layer_row(name, make, shape, ref):
    return Op(f"vis_{name}", lambda L, x: make(L)(x), [In(shape)], ref=ref)


ROWS = [
    # F.pad, every mode, 1/2/3 padded dims, batched and unbatched, negative amounts
    _pad_row("constant_1d", (2, 3, 4), (1, 2), "constant", 0.5),
    _pad_row("constant_2d_crop", (2, 3, 4, 5), (1, -2, -1, 2), "constant", -1.25),
    _pad_row("constant_last_of_5d", (2, 1, 2, 3, 2), (1, 1, 0, 2, 1, 0, 1, 1), "constant"),
    _pad_row("constant_1d_input", (5,), (2, 1), "constant", 3.0),
    _pad_row("reflect_1d", (2, 3, 5), (3, 4), "reflect"),
    _pad_row("reflect_1d_unbatched", (3, 5), (2, 1), "reflect"),
    _pad_row("reflect_2d", (2, 2, 4, 5), (2, 3, 3, 1), "reflect"),
    _pad_row("reflect_2d_unbatched", (2, 4, 5), (1, 4, 2, 3), "reflect"),
    _pad_row("reflect_3d", (1, 2, 3, 4, 3), (1, 2, 3, 0, 2, 1), "reflect"),
    _pad_row("replicate_1d", (2, 3, 4), (3, 5), "replicate"),
    _pad_row("replicate_2d", (2, 2, 3, 4), (2, 1, 0, 4), "replicate"),
    _pad_row("replicate_3d_unbatched", (2, 3, 2, 4), (1, 2, 2, 1, 3, 1), "replicate"),
    _pad_row("replicate_2d_crop", (1, 2, 4, 5), (-2, 1, 2, -1), "replicate"),
    _pad_row("circular_1d", (2, 3, 4), (4, 2), "circular"),
    _pad_row("circular_2d", (2, 2, 3, 4), (2, 1, 3, 3), "circular"),
    _pad_row("circular_3d", (1, 2, 3, 2, 4), (1, 3, 2, 0, 1, 2), "circular"),
    _pad_row("circular_crop", (2, 3, 5), (-2, -1), "circular"),
    # reflect with a negative amount is not crop-then-reflect (the index walks past the crop)
    Op("vis_pad_reflect_negative", lambda L, x: _F(L).pad(x, (-1, 2), mode="reflect"), [In((2, 3, 3))]),
    # the layers
    _layer_row("ZeroPad2d", lambda L: L.nn.ZeroPad2d((1, 0, 2, 1)), (2, 2, 3, 3), lambda a: np_pad(a, (1, 0, 2, 1))),
    _layer_row("ConstantPad1d", lambda L: L.nn.ConstantPad1d(2, 0.5), (2, 3), lambda a: np_pad(a, (2, 2), value=0.5)),
    _layer_row("ConstantPad3d", lambda L: L.nn.ConstantPad3d((1, 0, 0, 1, 1, 1), -2.0), (1, 2, 2, 2),
               lambda a: np_pad(a, (1, 0, 0, 1, 1, 1), value=-2.0)),
    _layer_row("ReflectionPad1d", lambda L: L.nn.ReflectionPad1d(2), (2, 3, 4), lambda a: np_pad(a, (2, 2), "reflect")),
    _layer_row("ReflectionPad2d", lambda L: L.nn.ReflectionPad2d((1, 2, 0, 2)), (1, 2, 3, 4),
               lambda a: np_pad(a, (1, 2, 0, 2), "reflect")),
    _layer_row("ReflectionPad3d", lambda L: L.nn.ReflectionPad3d(1), (1, 1, 2, 3, 2), lambda a: np_pad(a, (1,) * 6, "reflect")),
    _layer_row("ReplicationPad1d", lambda L: L.nn.ReplicationPad1d((3, 1)), (3, 2), lambda a: np_pad(a, (3, 1), "replicate")),
    _layer_row("ReplicationPad2d", lambda L: L.nn.ReplicationPad2d(2), (1, 2, 2, 3), lambda a: np_pad(a, (2,) * 4, "replicate")),
    _layer_row("ReplicationPad3d", lambda L: L.nn.ReplicationPad3d((1, 0, 2, 1, 0, 1)), (2, 2, 3, 2),
               lambda a: np_pad(a, (1, 0, 2, 1, 0, 1), "replicate")),
    _layer_row("CircularPad1d", lambda L: L.nn.CircularPad1d(2), (2, 3, 4), lambda a: np_pad(a, (2, 2), "circular")),
    _layer_row("CircularPad2d", lambda L: L.nn.CircularPad2d((1, 2, 2, 0)), (2, 3, 3), lambda a: np_pad(a, (1, 2, 2, 0), "circular")),
    _layer_row("CircularPad3d", lambda L: L.nn.CircularPad3d(1), (1, 1, 2, 2, 3), lambda a: np_pad(a, (1,) * 6, "circular")),
    _layer_row("ZeroPad1d", lambda L: L.nn.ZeroPad1d((0, 3)), (2, 4), lambda a: np_pad(a, (0, 3))),
    _layer_row("ZeroPad3d", lambda L: L.nn.ZeroPad3d((1, 1, 0, 0, 2, 0)), (1, 1, 2, 2, 2), lambda a: np_pad(a, (1, 1, 0, 0, 2, 0))),
    # shuffles
    Op("vis_pixel_shuffle", lambda L, x: _F(L).pixel_shuffle(x, 2), [In((2, 8, 2, 3))], ref=lambda a: np_pixel_shuffle(a, 2)),
    Op("vis_pixel_shuffle_batch_dims", lambda L, x: _F(L).pixel_shuffle(x, 3), [In((2, 1, 9, 1, 2))],
       ref=lambda a: np_pixel_shuffle(a, 3)),
    Op("vis_pixel_unshuffle", lambda L, x: _F(L).pixel_unshuffle(x, 2), [In((2, 3, 4, 6))],
       ref=lambda a: np_pixel_unshuffle(a, 2)),
    Op("vis_pixel_unshuffle_unbatched", lambda L, x: _F(L).pixel_unshuffle(x, 3), [In((2, 3, 6))],
       ref=lambda a: np_pixel_unshuffle(a, 3)),
    Op("vis_channel_shuffle", lambda L, x: _F(L).channel_shuffle(x, 3), [In((2, 6, 2, 2))],
       ref=lambda a: np_channel_shuffle(a, 3)),
    # PyTorch has no derivative for native_channel_shuffle (its backward raises): forward only here
    Op("vis_native_channel_shuffle", lambda L, x: _F(L).native_channel_shuffle(x, 2), [In((2, 4, 3), grad=False)],
       ref=lambda a: np_channel_shuffle(a, 2)),
    _layer_row("PixelShuffle", lambda L: L.nn.PixelShuffle(2), (1, 4, 2, 2), lambda a: np_pixel_shuffle(a, 2)),
    _layer_row("PixelUnshuffle", lambda L: L.nn.PixelUnshuffle(2), (1, 1, 4, 2), lambda a: np_pixel_unshuffle(a, 2)),
    _layer_row("ChannelShuffle", lambda L: L.nn.ChannelShuffle(2), (1, 6, 3), lambda a: np_channel_shuffle(a, 2)),
    _layer_row("Unflatten", lambda L: L.nn.Unflatten(1, (2, -1)), (3, 6, 2), lambda a: a.reshape(3, 2, 3, 2)),
    _layer_row("Unflatten_last", lambda L: L.nn.Unflatten(-1, [2, 1, 2]), (3, 4), lambda a: a.reshape(3, 2, 1, 2)),
    # one_hot (int64 in and out, no gradient) and normalize
    Op("vis_one_hot", lambda L, t: _F(L).one_hot(t), [In((2, 5), "idx", high=6)], grad=False,
       ref=lambda t: np.eye(t.max() + 1, dtype=np.int64)[t]),
    Op("vis_one_hot_num_classes", lambda L, t: _F(L).one_hot(t, num_classes=7), [In((4,), "idx", high=3)], grad=False,
       ref=lambda t: np.eye(7, dtype=np.int64)[t]),
    Op("vis_normalize", lambda L, x: _F(L).normalize(x), [In((3, 4, 2), "nz")], ref=np_normalize),
    Op("vis_normalize_p1_dim0", lambda L, x: _F(L).normalize(x, p=1.0, dim=0), [In((3, 4), "nz")],
       ref=lambda a: np_normalize(a, 1.0, 0)),
    Op("vis_normalize_p3_last", lambda L, x: _F(L).normalize(x, p=3, dim=-1), [In((2, 5), "nz")],
       ref=lambda a: np_normalize(a, 3.0, -1)),
    # eps above the norm: plain division by eps (the clamp's flat side)
    Op("vis_normalize_eps", lambda L, x: _F(L).normalize(x * 1e-3, dim=1, eps=0.5), [In((2, 3), "nz")],
       ref=lambda a: np_normalize(a * 1e-3, 2.0, 1, 0.5)),
]
