"""finfo, iinfo, promote_types, result_type, can_cast, layout and _version, against golden values
printed by PyTorch 2.15 with this script:

    import torch
    for d in [torch.float32, torch.float16, torch.bfloat16, torch.float64]:
        f = torch.finfo(d); print(repr(f), f.bits, f.eps, f.max, f.tiny, f.resolution)
    for d in [torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64]:
        i = torch.iinfo(d); print(repr(i), i.bits, i.max, i.min)
    print(torch.result_type(1, 2.0), torch.result_type(torch.ones(1, dtype=torch.int32), 2.0),
          torch.result_type(True, 2), torch.result_type(torch.ones(1, dtype=torch.uint8), torch.tensor(300)),
          torch.promote_types(torch.uint8, torch.int8), torch.can_cast(torch.int64, torch.float16),
          torch.can_cast(torch.float32, torch.int32), torch.can_cast(torch.bool, torch.uint8))

and, where PyTorch is installed, against it for every pair of dtypes."""

import copy
import pickle

import ferrograd as fg
import pytest

FINFO = {  # dtype: (repr, bits, eps, max, tiny, resolution)
    "float32": ("finfo(resolution=1e-06, min=-3.40282e+38, max=3.40282e+38, eps=1.19209e-07, smallest_normal=1.17549e-38, "
                "tiny=1.17549e-38, dtype=float32)", 32, 1.1920928955078125e-07, 3.4028234663852886e38, 1.1754943508222875e-38, 1e-06),
    "float16": ("finfo(resolution=0.001, min=-65504, max=65504, eps=0.000976562, smallest_normal=6.10352e-05, tiny=6.10352e-05, "
                "dtype=float16)", 16, 0.0009765625, 65504.0, 6.103515625e-05, 0.001),
    "bfloat16": ("finfo(resolution=0.01, min=-3.38953e+38, max=3.38953e+38, eps=0.0078125, smallest_normal=1.17549e-38, "
                 "tiny=1.17549e-38, dtype=bfloat16)", 16, 0.0078125, 3.3895313892515355e38, 1.1754943508222875e-38, 0.01),
    "float64": ("finfo(resolution=1e-15, min=-1.79769e+308, max=1.79769e+308, eps=2.22045e-16, smallest_normal=2.22507e-308, "
                "tiny=2.22507e-308, dtype=float64)", 64, 2.220446049250313e-16, 1.7976931348623157e308, 2.2250738585072014e-308, 1e-15),
}
IINFO = {  # dtype: (repr, bits, max, min)
    "uint8": ("iinfo(min=0, max=255, dtype=uint8)", 8, 255, 0),
    "int8": ("iinfo(min=-128, max=127, dtype=int8)", 8, 127, -128),
    "int16": ("iinfo(min=-32768, max=32767, dtype=int16)", 16, 32767, -32768),
    "int32": ("iinfo(min=-2.14748e+09, max=2.14748e+09, dtype=int32)", 32, 2147483647, -2147483648),
    "int64": ("iinfo(min=-9.22337e+18, max=9.22337e+18, dtype=int64)", 64, 9223372036854775807, -9223372036854775808),
}
DTYPES = ["bool", "uint8", "int8", "int16", "int32", "int64", "float16", "bfloat16", "float32", "float64"]


@pytest.mark.parametrize("name", FINFO)
def test_finfo_matches_pytorch(name):
    r, bits, eps, mx, tiny, res = FINFO[name]
    f = fg.finfo(getattr(fg, name))
    assert repr(f).replace("ferrograd.", "") == r
    assert (f.bits, f.eps, f.max, f.min, f.tiny, f.smallest_normal, f.resolution, f.dtype) == (bits, eps, mx, -mx, tiny, tiny, res, name)
    assert f == fg.finfo(getattr(fg, name))


def test_finfo_defaults_to_the_default_dtype_and_refuses_integers():
    assert fg.finfo().dtype == "float32"
    fg.set_default_dtype(fg.float64)
    try:
        assert fg.finfo().eps == FINFO["float64"][2]
    finally:
        fg.set_default_dtype(fg.float32)
    with pytest.raises(TypeError, match="requires a floating point input type"):
        fg.finfo(fg.int32)
    with pytest.raises(TypeError, match="must be ferrograd.dtype, not str"):
        fg.finfo("float32")


@pytest.mark.parametrize("name", IINFO)
def test_iinfo_matches_pytorch(name):
    r, bits, mx, mn = IINFO[name]
    i = fg.iinfo(getattr(fg, name))
    assert repr(i) == r and (i.bits, i.max, i.min, i.dtype) == (bits, mx, mn, name)


def test_iinfo_refuses_floats_and_bool():
    with pytest.raises(TypeError, match="requires an integer input type"):
        fg.iinfo(fg.float32)
    with pytest.raises(TypeError, match="bool is not supported"):
        fg.iinfo(fg.bool)


def test_promotion_queries_match_pytorch_golden_values():
    assert fg.result_type(1, 2.0) is fg.float32
    assert fg.result_type(fg.ones(1, dtype=fg.int32), 2.0) is fg.float32
    assert fg.result_type(True, 2) is fg.int64
    assert fg.result_type(fg.ones(1, dtype=fg.uint8), fg.tensor(300)) is fg.uint8  # a 0-d tensor does not widen
    assert fg.promote_types(fg.uint8, fg.int8) is fg.int16
    assert fg.can_cast(fg.int64, fg.float16) and not fg.can_cast(fg.float32, fg.int32) and fg.can_cast(fg.bool, fg.uint8)
    with pytest.raises(TypeError):
        fg.result_type(fg.ones(1), "x")


def test_layout_and_version():
    x = fg.ones(3)
    assert x.layout is fg.strided and repr(fg.strided) == "ferrograd.strided" and isinstance(fg.strided, fg.layout)
    assert copy.deepcopy(fg.strided) is fg.strided and pickle.loads(pickle.dumps(fg.strided)) is fg.strided
    v = x._version
    x.add_(1)
    x[0] = 5
    x.view(3)[1:].zero_()  # through a view: the same counter
    assert x._version == v + 3


@pytest.mark.parametrize("a", DTYPES)
def test_promotion_queries_match_pytorch_for_every_pair(a):
    torch = pytest.importorskip("torch")
    for b in DTYPES:
        fa, fb, ta, tb = getattr(fg, a), getattr(fg, b), getattr(torch, a), getattr(torch, b)
        assert str(fg.promote_types(fa, fb)).split(".")[-1] == str(torch.promote_types(ta, tb)).split(".")[-1], (a, b)
        assert fg.can_cast(fa, fb) == torch.can_cast(ta, tb), (a, b)
        for fx, tx in [(fg.ones(2, dtype=fb), torch.ones(2, dtype=tb)), (fg.ones((), dtype=fb), torch.ones((), dtype=tb))]:
            got = fg.result_type(fg.ones(2, dtype=fa), fx)
            assert str(got).split(".")[-1] == str(torch.result_type(torch.ones(2, dtype=ta), tx)).split(".")[-1], (a, b)
        for num in (True, 3, 2.5):
            got = fg.result_type(fg.ones(2, dtype=fa), num)
            assert str(got).split(".")[-1] == str(torch.result_type(torch.ones(2, dtype=ta), num)).split(".")[-1], (a, num)
