"""Op-table rows for the convolutions (see tests/op_table.py): conv1d/2d/3d, conv_transpose1d/2d/3d,
unfold and fold, batched and unbatched, with stride, padding ('same' too), output_padding,
dilation, groups and bias; each checked against the numpy references below (written from
PyTorch's definitions), by float64 gradcheck, and against PyTorch's values in
tests/golden/op_table_golden.json (regenerate with
`PYTHONPATH=python /tmp/torchvenv/bin/python tests/golden/make_op_golden.py conv_`).

The references live in tests/conv_reference.py (tests/test_conv_nd.py uses them too)."""

from __future__ import annotations

import numpy as np
from conv_reference import blocks, np_conv, np_conv_transpose, np_fold, np_unfold
from op_table import In, Op


def _F(L):
    return L.nn.functional


def _pad_pairs(w, padding, dilation=1):
    """np_conv's pads for F's padding (an int, a tuple, 'valid' or 'same')."""
    dims = w.ndim - 2
    if padding == "valid":
        return 0
    if padding == "same":
        d = (dilation,) * dims if isinstance(dilation, int) else dilation
        return [(dd * (k - 1) // 2, dd * (k - 1) - dd * (k - 1) // 2) for dd, k in zip(d, w.shape[2:])]
    p = (padding,) * dims if isinstance(padding, int) else padding
    return [(v, v) for v in p]


def _conv_row(id_, dims, xs, ws, bias=True, **kw):
    fn = f"conv{dims}d"
    unbatched = len(xs) == dims + 1
    inputs = [In(xs), In(ws)] + ([In((ws[0],))] if bias else [])

    def ref(x, w, b=None):
        xb = x[None] if unbatched else x
        out = np_conv(xb, w, b, stride=kw.get("stride", 1), pads=_pad_pairs(w, kw.get("padding", 0), kw.get("dilation", 1)),
                      dilation=kw.get("dilation", 1), groups=kw.get("groups", 1))
        return out[0] if unbatched else out

    return Op(id_, lambda L, *t: getattr(_F(L), fn)(*t, **kw), inputs, ref=ref)


def _transpose_row(id_, dims, xs, ws, bias=True, **kw):
    fn = f"conv_transpose{dims}d"
    unbatched = len(xs) == dims + 1
    inputs = [In(xs), In(ws)] + ([In((ws[1] * kw.get("groups", 1),))] if bias else [])

    def ref(x, w, b=None):
        out = np_conv_transpose(x[None] if unbatched else x, w, b, **kw)
        return out[0] if unbatched else out

    return Op(id_, lambda L, *t: getattr(_F(L), fn)(*t, **kw), inputs, ref=ref)


_UNFOLD = dict(kernel_size=(2, 3), dilation=(1, 2), padding=1, stride=(2, 1))
_FOLD = dict(kernel_size=2, padding=(1, 0), stride=(1, 2))
_FOLD_L = int(np.prod(blocks((4, 5), **_FOLD)))

ROWS = [
    _conv_row("conv_conv1d", 1, (2, 4, 9), (6, 2, 3), stride=2, padding=1, dilation=2, groups=2),
    _conv_row("conv_conv1d_same_even_kernel", 1, (2, 3, 7), (4, 3, 4), padding="same"),
    _conv_row("conv_conv1d_unbatched", 1, (3, 6), (2, 3, 2), bias=False, padding=(1,)),
    _conv_row("conv_conv1d_pointwise", 1, (3, 2, 5), (4, 2, 1)),
    _conv_row("conv_conv2d_strided_dilated_groups", 2, (2, 4, 6, 5), (4, 2, 3, 2), stride=(2, 1), padding=(1, 0),
              dilation=(1, 2), groups=2),
    _conv_row("conv_conv2d_valid", 2, (2, 3, 5, 4), (2, 3, 2, 2), bias=False, padding="valid"),
    _conv_row("conv_conv3d", 3, (2, 2, 4, 5, 4), (3, 2, 2, 3, 2), stride=(1, 2, 1), padding=1),
    _conv_row("conv_conv3d_same_unbatched", 3, (2, 3, 4, 3), (2, 2, 3, 3, 3), padding="same"),
    _conv_row("conv_conv3d_depthwise_dilated", 3, (1, 2, 5, 4, 5), (4, 1, 2, 2, 2), dilation=(2, 1, 2), groups=2),
    _transpose_row("conv_transpose1d", 1, (2, 4, 5), (4, 3, 3), stride=2, padding=1, output_padding=1, groups=2),
    _transpose_row("conv_transpose1d_dilated_unbatched", 1, (2, 4), (2, 3, 2), dilation=2, output_padding=1),
    _transpose_row("conv_transpose2d", 2, (2, 2, 3, 4), (2, 3, 3, 2), stride=(2, 1), padding=(1, 0), output_padding=(1, 0),
                   dilation=(1, 2)),
    _transpose_row("conv_transpose2d_unbatched_nobias", 2, (2, 3, 3), (2, 2, 4, 4), bias=False, stride=2, padding=1),
    _transpose_row("conv_transpose3d", 3, (1, 2, 2, 3, 2), (2, 2, 2, 2, 3), stride=2),
    _transpose_row("conv_transpose3d_groups", 3, (1, 4, 2, 2, 3), (4, 1, 3, 2, 2), stride=(2, 1, 2), padding=(1, 0, 1),
                   output_padding=(1, 0, 0), groups=2),
    Op("conv_unfold", lambda L, x: _F(L).unfold(x, **_UNFOLD), [In((2, 3, 5, 6))],
       ref=lambda x: np_unfold(x, (2, 3), (1, 2), (1, 1), (2, 1))),
    Op("conv_unfold_unbatched", lambda L, x: _F(L).unfold(x, 2), [In((2, 3, 4))], ref=lambda x: np_unfold(x[None], (2, 2))[0]),
    Op("conv_fold", lambda L, x: _F(L).fold(x, (4, 5), **_FOLD), [In((2, 3 * 4, _FOLD_L))],
       ref=lambda x: np_fold(x, (4, 5), **_FOLD)),
    Op("conv_fold_unbatched", lambda L, x: _F(L).fold(x, (3, 3), 2), [In((2 * 4, 4))],
       ref=lambda x: np_fold(x[None], (3, 3), 2)[0]),
]
