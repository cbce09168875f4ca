"""uint8, int8, int16, int32, float16 and bfloat16 as PyTorch's: promotion, casts, arithmetic,
indexing, comparisons, numpy round trips and the errors.

PROMOTION holds torch.result_type for every pair of dtypes as dimensioned tensors, 0-d tensors
and Python numbers, recorded by tests/golden/make_promotion_golden.py. VALUES holds PyTorch
2.15's answers to expressions evaluated with `T = ferrograd`, recorded by
`tests/golden/make_dtype_golden.py tests/test_dtypes_narrow.py --write` (PyTorch on x86-64: the
out-of-range float -> int casts are its cvttsd2si results). The numpy tests check the integer
kernels on random data, where numpy is exact; the last test compares with PyTorch directly when
it is installed.
"""

from __future__ import annotations

import math
import re

import ferrograd as fg
import numpy as np
import pytest

nan, inf = math.nan, math.inf
NAMES = ["bool", "uint8", "int8", "int16", "int32", "int64", "float16", "bfloat16", "float32", "float64"]
INTS = ["uint8", "int8", "int16", "int32"]


def ip(t, name, *args, **kwargs):
    """Runs an in-place method and gives back the tensor (`ip(t, "__iadd__", 1)` is `t += 1`)."""
    getattr(t, name)(*args, **kwargs)
    return t


# fmt: off
# BEGIN PROMOTION
PROMOTION = {
    'dim:bool|dim:bool': 'bool',
    'dim:bool|dim:uint8': 'uint8',
    'dim:bool|dim:int8': 'int8',
    'dim:bool|dim:int16': 'int16',
    'dim:bool|dim:int32': 'int32',
    'dim:bool|dim:int64': 'int64',
    'dim:bool|dim:float16': 'float16',
    'dim:bool|dim:bfloat16': 'bfloat16',
    'dim:bool|dim:float32': 'float32',
    'dim:bool|dim:float64': 'float64',
    'dim:bool|zero:bool': 'bool',
    'dim:bool|zero:uint8': 'uint8',
    'dim:bool|zero:int8': 'int8',
    'dim:bool|zero:int16': 'int16',
    'dim:bool|zero:int32': 'int32',
    'dim:bool|zero:int64': 'int64',
    'dim:bool|zero:float16': 'float16',
    'dim:bool|zero:bfloat16': 'bfloat16',
    'dim:bool|zero:float32': 'float32',
    'dim:bool|zero:float64': 'float64',
    'dim:bool|py:int': 'int64',
    'dim:bool|py:float': 'float32',
    'dim:bool|py:bool': 'bool',
    'dim:uint8|dim:bool': 'uint8',
    'dim:uint8|dim:uint8': 'uint8',
    'dim:uint8|dim:int8': 'int16',
    'dim:uint8|dim:int16': 'int16',
    'dim:uint8|dim:int32': 'int32',
    'dim:uint8|dim:int64': 'int64',
    'dim:uint8|dim:float16': 'float16',
    'dim:uint8|dim:bfloat16': 'bfloat16',
    'dim:uint8|dim:float32': 'float32',
    'dim:uint8|dim:float64': 'float64',
    'dim:uint8|zero:bool': 'uint8',
    'dim:uint8|zero:uint8': 'uint8',
    'dim:uint8|zero:int8': 'uint8',
    'dim:uint8|zero:int16': 'uint8',
    'dim:uint8|zero:int32': 'uint8',
    'dim:uint8|zero:int64': 'uint8',
    'dim:uint8|zero:float16': 'float16',
    'dim:uint8|zero:bfloat16': 'bfloat16',
    'dim:uint8|zero:float32': 'float32',
    'dim:uint8|zero:float64': 'float64',
    'dim:uint8|py:int': 'uint8',
    'dim:uint8|py:float': 'float32',
    'dim:uint8|py:bool': 'uint8',
    'dim:int8|dim:bool': 'int8',
    'dim:int8|dim:uint8': 'int16',
    'dim:int8|dim:int8': 'int8',
    'dim:int8|dim:int16': 'int16',
    'dim:int8|dim:int32': 'int32',
    'dim:int8|dim:int64': 'int64',
    'dim:int8|dim:float16': 'float16',
    'dim:int8|dim:bfloat16': 'bfloat16',
    'dim:int8|dim:float32': 'float32',
    'dim:int8|dim:float64': 'float64',
    'dim:int8|zero:bool': 'int8',
    'dim:int8|zero:uint8': 'int8',
    'dim:int8|zero:int8': 'int8',
    'dim:int8|zero:int16': 'int8',
    'dim:int8|zero:int32': 'int8',
    'dim:int8|zero:int64': 'int8',
    'dim:int8|zero:float16': 'float16',
    'dim:int8|zero:bfloat16': 'bfloat16',
    'dim:int8|zero:float32': 'float32',
    'dim:int8|zero:float64': 'float64',
    'dim:int8|py:int': 'int8',
    'dim:int8|py:float': 'float32',
    'dim:int8|py:bool': 'int8',
    'dim:int16|dim:bool': 'int16',
    'dim:int16|dim:uint8': 'int16',
    'dim:int16|dim:int8': 'int16',
    'dim:int16|dim:int16': 'int16',
    'dim:int16|dim:int32': 'int32',
    'dim:int16|dim:int64': 'int64',
    'dim:int16|dim:float16': 'float16',
    'dim:int16|dim:bfloat16': 'bfloat16',
    'dim:int16|dim:float32': 'float32',
    'dim:int16|dim:float64': 'float64',
    'dim:int16|zero:bool': 'int16',
    'dim:int16|zero:uint8': 'int16',
    'dim:int16|zero:int8': 'int16',
    'dim:int16|zero:int16': 'int16',
    'dim:int16|zero:int32': 'int16',
    'dim:int16|zero:int64': 'int16',
    'dim:int16|zero:float16': 'float16',
    'dim:int16|zero:bfloat16': 'bfloat16',
    'dim:int16|zero:float32': 'float32',
    'dim:int16|zero:float64': 'float64',
    'dim:int16|py:int': 'int16',
    'dim:int16|py:float': 'float32',
    'dim:int16|py:bool': 'int16',
    'dim:int32|dim:bool': 'int32',
    'dim:int32|dim:uint8': 'int32',
    'dim:int32|dim:int8': 'int32',
    'dim:int32|dim:int16': 'int32',
    'dim:int32|dim:int32': 'int32',
    'dim:int32|dim:int64': 'int64',
    'dim:int32|dim:float16': 'float16',
    'dim:int32|dim:bfloat16': 'bfloat16',
    'dim:int32|dim:float32': 'float32',
    'dim:int32|dim:float64': 'float64',
    'dim:int32|zero:bool': 'int32',
    'dim:int32|zero:uint8': 'int32',
    'dim:int32|zero:int8': 'int32',
    'dim:int32|zero:int16': 'int32',
    'dim:int32|zero:int32': 'int32',
    'dim:int32|zero:int64': 'int32',
    'dim:int32|zero:float16': 'float16',
    'dim:int32|zero:bfloat16': 'bfloat16',
    'dim:int32|zero:float32': 'float32',
    'dim:int32|zero:float64': 'float64',
    'dim:int32|py:int': 'int32',
    'dim:int32|py:float': 'float32',
    'dim:int32|py:bool': 'int32',
    'dim:int64|dim:bool': 'int64',
    'dim:int64|dim:uint8': 'int64',
    'dim:int64|dim:int8': 'int64',
    'dim:int64|dim:int16': 'int64',
    'dim:int64|dim:int32': 'int64',
    'dim:int64|dim:int64': 'int64',
    'dim:int64|dim:float16': 'float16',
    'dim:int64|dim:bfloat16': 'bfloat16',
    'dim:int64|dim:float32': 'float32',
    'dim:int64|dim:float64': 'float64',
    'dim:int64|zero:bool': 'int64',
    'dim:int64|zero:uint8': 'int64',
    'dim:int64|zero:int8': 'int64',
    'dim:int64|zero:int16': 'int64',
    'dim:int64|zero:int32': 'int64',
    'dim:int64|zero:int64': 'int64',
    'dim:int64|zero:float16': 'float16',
    'dim:int64|zero:bfloat16': 'bfloat16',
    'dim:int64|zero:float32': 'float32',
    'dim:int64|zero:float64': 'float64',
    'dim:int64|py:int': 'int64',
    'dim:int64|py:float': 'float32',
    'dim:int64|py:bool': 'int64',
    'dim:float16|dim:bool': 'float16',
    'dim:float16|dim:uint8': 'float16',
    'dim:float16|dim:int8': 'float16',
    'dim:float16|dim:int16': 'float16',
    'dim:float16|dim:int32': 'float16',
    'dim:float16|dim:int64': 'float16',
    'dim:float16|dim:float16': 'float16',
    'dim:float16|dim:bfloat16': 'float32',
    'dim:float16|dim:float32': 'float32',
    'dim:float16|dim:float64': 'float64',
    'dim:float16|zero:bool': 'float16',
    'dim:float16|zero:uint8': 'float16',
    'dim:float16|zero:int8': 'float16',
    'dim:float16|zero:int16': 'float16',
    'dim:float16|zero:int32': 'float16',
    'dim:float16|zero:int64': 'float16',
    'dim:float16|zero:float16': 'float16',
    'dim:float16|zero:bfloat16': 'float16',
    'dim:float16|zero:float32': 'float16',
    'dim:float16|zero:float64': 'float16',
    'dim:float16|py:int': 'float16',
    'dim:float16|py:float': 'float16',
    'dim:float16|py:bool': 'float16',
    'dim:bfloat16|dim:bool': 'bfloat16',
    'dim:bfloat16|dim:uint8': 'bfloat16',
    'dim:bfloat16|dim:int8': 'bfloat16',
    'dim:bfloat16|dim:int16': 'bfloat16',
    'dim:bfloat16|dim:int32': 'bfloat16',
    'dim:bfloat16|dim:int64': 'bfloat16',
    'dim:bfloat16|dim:float16': 'float32',
    'dim:bfloat16|dim:bfloat16': 'bfloat16',
    'dim:bfloat16|dim:float32': 'float32',
    'dim:bfloat16|dim:float64': 'float64',
    'dim:bfloat16|zero:bool': 'bfloat16',
    'dim:bfloat16|zero:uint8': 'bfloat16',
    'dim:bfloat16|zero:int8': 'bfloat16',
    'dim:bfloat16|zero:int16': 'bfloat16',
    'dim:bfloat16|zero:int32': 'bfloat16',
    'dim:bfloat16|zero:int64': 'bfloat16',
    'dim:bfloat16|zero:float16': 'bfloat16',
    'dim:bfloat16|zero:bfloat16': 'bfloat16',
    'dim:bfloat16|zero:float32': 'bfloat16',
    'dim:bfloat16|zero:float64': 'bfloat16',
    'dim:bfloat16|py:int': 'bfloat16',
    'dim:bfloat16|py:float': 'bfloat16',
    'dim:bfloat16|py:bool': 'bfloat16',
    'dim:float32|dim:bool': 'float32',
    'dim:float32|dim:uint8': 'float32',
    'dim:float32|dim:int8': 'float32',
    'dim:float32|dim:int16': 'float32',
    'dim:float32|dim:int32': 'float32',
    'dim:float32|dim:int64': 'float32',
    'dim:float32|dim:float16': 'float32',
    'dim:float32|dim:bfloat16': 'float32',
    'dim:float32|dim:float32': 'float32',
    'dim:float32|dim:float64': 'float64',
    'dim:float32|zero:bool': 'float32',
    'dim:float32|zero:uint8': 'float32',
    'dim:float32|zero:int8': 'float32',
    'dim:float32|zero:int16': 'float32',
    'dim:float32|zero:int32': 'float32',
    'dim:float32|zero:int64': 'float32',
    'dim:float32|zero:float16': 'float32',
    'dim:float32|zero:bfloat16': 'float32',
    'dim:float32|zero:float32': 'float32',
    'dim:float32|zero:float64': 'float32',
    'dim:float32|py:int': 'float32',
    'dim:float32|py:float': 'float32',
    'dim:float32|py:bool': 'float32',
    'dim:float64|dim:bool': 'float64',
    'dim:float64|dim:uint8': 'float64',
    'dim:float64|dim:int8': 'float64',
    'dim:float64|dim:int16': 'float64',
    'dim:float64|dim:int32': 'float64',
    'dim:float64|dim:int64': 'float64',
    'dim:float64|dim:float16': 'float64',
    'dim:float64|dim:bfloat16': 'float64',
    'dim:float64|dim:float32': 'float64',
    'dim:float64|dim:float64': 'float64',
    'dim:float64|zero:bool': 'float64',
    'dim:float64|zero:uint8': 'float64',
    'dim:float64|zero:int8': 'float64',
    'dim:float64|zero:int16': 'float64',
    'dim:float64|zero:int32': 'float64',
    'dim:float64|zero:int64': 'float64',
    'dim:float64|zero:float16': 'float64',
    'dim:float64|zero:bfloat16': 'float64',
    'dim:float64|zero:float32': 'float64',
    'dim:float64|zero:float64': 'float64',
    'dim:float64|py:int': 'float64',
    'dim:float64|py:float': 'float64',
    'dim:float64|py:bool': 'float64',
    'zero:bool|dim:bool': 'bool',
    'zero:bool|dim:uint8': 'uint8',
    'zero:bool|dim:int8': 'int8',
    'zero:bool|dim:int16': 'int16',
    'zero:bool|dim:int32': 'int32',
    'zero:bool|dim:int64': 'int64',
    'zero:bool|dim:float16': 'float16',
    'zero:bool|dim:bfloat16': 'bfloat16',
    'zero:bool|dim:float32': 'float32',
    'zero:bool|dim:float64': 'float64',
    'zero:bool|zero:bool': 'bool',
    'zero:bool|zero:uint8': 'uint8',
    'zero:bool|zero:int8': 'int8',
    'zero:bool|zero:int16': 'int16',
    'zero:bool|zero:int32': 'int32',
    'zero:bool|zero:int64': 'int64',
    'zero:bool|zero:float16': 'float16',
    'zero:bool|zero:bfloat16': 'bfloat16',
    'zero:bool|zero:float32': 'float32',
    'zero:bool|zero:float64': 'float64',
    'zero:bool|py:int': 'int64',
    'zero:bool|py:float': 'float32',
    'zero:bool|py:bool': 'bool',
    'zero:uint8|dim:bool': 'uint8',
    'zero:uint8|dim:uint8': 'uint8',
    'zero:uint8|dim:int8': 'int8',
    'zero:uint8|dim:int16': 'int16',
    'zero:uint8|dim:int32': 'int32',
    'zero:uint8|dim:int64': 'int64',
    'zero:uint8|dim:float16': 'float16',
    'zero:uint8|dim:bfloat16': 'bfloat16',
    'zero:uint8|dim:float32': 'float32',
    'zero:uint8|dim:float64': 'float64',
    'zero:uint8|zero:bool': 'uint8',
    'zero:uint8|zero:uint8': 'uint8',
    'zero:uint8|zero:int8': 'int16',
    'zero:uint8|zero:int16': 'int16',
    'zero:uint8|zero:int32': 'int32',
    'zero:uint8|zero:int64': 'int64',
    'zero:uint8|zero:float16': 'float16',
    'zero:uint8|zero:bfloat16': 'bfloat16',
    'zero:uint8|zero:float32': 'float32',
    'zero:uint8|zero:float64': 'float64',
    'zero:uint8|py:int': 'uint8',
    'zero:uint8|py:float': 'float32',
    'zero:uint8|py:bool': 'uint8',
    'zero:int8|dim:bool': 'int8',
    'zero:int8|dim:uint8': 'uint8',
    'zero:int8|dim:int8': 'int8',
    'zero:int8|dim:int16': 'int16',
    'zero:int8|dim:int32': 'int32',
    'zero:int8|dim:int64': 'int64',
    'zero:int8|dim:float16': 'float16',
    'zero:int8|dim:bfloat16': 'bfloat16',
    'zero:int8|dim:float32': 'float32',
    'zero:int8|dim:float64': 'float64',
    'zero:int8|zero:bool': 'int8',
    'zero:int8|zero:uint8': 'int16',
    'zero:int8|zero:int8': 'int8',
    'zero:int8|zero:int16': 'int16',
    'zero:int8|zero:int32': 'int32',
    'zero:int8|zero:int64': 'int64',
    'zero:int8|zero:float16': 'float16',
    'zero:int8|zero:bfloat16': 'bfloat16',
    'zero:int8|zero:float32': 'float32',
    'zero:int8|zero:float64': 'float64',
    'zero:int8|py:int': 'int8',
    'zero:int8|py:float': 'float32',
    'zero:int8|py:bool': 'int8',
    'zero:int16|dim:bool': 'int16',
    'zero:int16|dim:uint8': 'uint8',
    'zero:int16|dim:int8': 'int8',
    'zero:int16|dim:int16': 'int16',
    'zero:int16|dim:int32': 'int32',
    'zero:int16|dim:int64': 'int64',
    'zero:int16|dim:float16': 'float16',
    'zero:int16|dim:bfloat16': 'bfloat16',
    'zero:int16|dim:float32': 'float32',
    'zero:int16|dim:float64': 'float64',
    'zero:int16|zero:bool': 'int16',
    'zero:int16|zero:uint8': 'int16',
    'zero:int16|zero:int8': 'int16',
    'zero:int16|zero:int16': 'int16',
    'zero:int16|zero:int32': 'int32',
    'zero:int16|zero:int64': 'int64',
    'zero:int16|zero:float16': 'float16',
    'zero:int16|zero:bfloat16': 'bfloat16',
    'zero:int16|zero:float32': 'float32',
    'zero:int16|zero:float64': 'float64',
    'zero:int16|py:int': 'int16',
    'zero:int16|py:float': 'float32',
    'zero:int16|py:bool': 'int16',
    'zero:int32|dim:bool': 'int32',
    'zero:int32|dim:uint8': 'uint8',
    'zero:int32|dim:int8': 'int8',
    'zero:int32|dim:int16': 'int16',
    'zero:int32|dim:int32': 'int32',
    'zero:int32|dim:int64': 'int64',
    'zero:int32|dim:float16': 'float16',
    'zero:int32|dim:bfloat16': 'bfloat16',
    'zero:int32|dim:float32': 'float32',
    'zero:int32|dim:float64': 'float64',
    'zero:int32|zero:bool': 'int32',
    'zero:int32|zero:uint8': 'int32',
    'zero:int32|zero:int8': 'int32',
    'zero:int32|zero:int16': 'int32',
    'zero:int32|zero:int32': 'int32',
    'zero:int32|zero:int64': 'int64',
    'zero:int32|zero:float16': 'float16',
    'zero:int32|zero:bfloat16': 'bfloat16',
    'zero:int32|zero:float32': 'float32',
    'zero:int32|zero:float64': 'float64',
    'zero:int32|py:int': 'int32',
    'zero:int32|py:float': 'float32',
    'zero:int32|py:bool': 'int32',
    'zero:int64|dim:bool': 'int64',
    'zero:int64|dim:uint8': 'uint8',
    'zero:int64|dim:int8': 'int8',
    'zero:int64|dim:int16': 'int16',
    'zero:int64|dim:int32': 'int32',
    'zero:int64|dim:int64': 'int64',
    'zero:int64|dim:float16': 'float16',
    'zero:int64|dim:bfloat16': 'bfloat16',
    'zero:int64|dim:float32': 'float32',
    'zero:int64|dim:float64': 'float64',
    'zero:int64|zero:bool': 'int64',
    'zero:int64|zero:uint8': 'int64',
    'zero:int64|zero:int8': 'int64',
    'zero:int64|zero:int16': 'int64',
    'zero:int64|zero:int32': 'int64',
    'zero:int64|zero:int64': 'int64',
    'zero:int64|zero:float16': 'float16',
    'zero:int64|zero:bfloat16': 'bfloat16',
    'zero:int64|zero:float32': 'float32',
    'zero:int64|zero:float64': 'float64',
    'zero:int64|py:int': 'int64',
    'zero:int64|py:float': 'float32',
    'zero:int64|py:bool': 'int64',
    'zero:float16|dim:bool': 'float16',
    'zero:float16|dim:uint8': 'float16',
    'zero:float16|dim:int8': 'float16',
    'zero:float16|dim:int16': 'float16',
    'zero:float16|dim:int32': 'float16',
    'zero:float16|dim:int64': 'float16',
    'zero:float16|dim:float16': 'float16',
    'zero:float16|dim:bfloat16': 'bfloat16',
    'zero:float16|dim:float32': 'float32',
    'zero:float16|dim:float64': 'float64',
    'zero:float16|zero:bool': 'float16',
    'zero:float16|zero:uint8': 'float16',
    'zero:float16|zero:int8': 'float16',
    'zero:float16|zero:int16': 'float16',
    'zero:float16|zero:int32': 'float16',
    'zero:float16|zero:int64': 'float16',
    'zero:float16|zero:float16': 'float16',
    'zero:float16|zero:bfloat16': 'float32',
    'zero:float16|zero:float32': 'float32',
    'zero:float16|zero:float64': 'float64',
    'zero:float16|py:int': 'float16',
    'zero:float16|py:float': 'float16',
    'zero:float16|py:bool': 'float16',
    'zero:bfloat16|dim:bool': 'bfloat16',
    'zero:bfloat16|dim:uint8': 'bfloat16',
    'zero:bfloat16|dim:int8': 'bfloat16',
    'zero:bfloat16|dim:int16': 'bfloat16',
    'zero:bfloat16|dim:int32': 'bfloat16',
    'zero:bfloat16|dim:int64': 'bfloat16',
    'zero:bfloat16|dim:float16': 'float16',
    'zero:bfloat16|dim:bfloat16': 'bfloat16',
    'zero:bfloat16|dim:float32': 'float32',
    'zero:bfloat16|dim:float64': 'float64',
    'zero:bfloat16|zero:bool': 'bfloat16',
    'zero:bfloat16|zero:uint8': 'bfloat16',
    'zero:bfloat16|zero:int8': 'bfloat16',
    'zero:bfloat16|zero:int16': 'bfloat16',
    'zero:bfloat16|zero:int32': 'bfloat16',
    'zero:bfloat16|zero:int64': 'bfloat16',
    'zero:bfloat16|zero:float16': 'float32',
    'zero:bfloat16|zero:bfloat16': 'bfloat16',
    'zero:bfloat16|zero:float32': 'float32',
    'zero:bfloat16|zero:float64': 'float64',
    'zero:bfloat16|py:int': 'bfloat16',
    'zero:bfloat16|py:float': 'bfloat16',
    'zero:bfloat16|py:bool': 'bfloat16',
    'zero:float32|dim:bool': 'float32',
    'zero:float32|dim:uint8': 'float32',
    'zero:float32|dim:int8': 'float32',
    'zero:float32|dim:int16': 'float32',
    'zero:float32|dim:int32': 'float32',
    'zero:float32|dim:int64': 'float32',
    'zero:float32|dim:float16': 'float16',
    'zero:float32|dim:bfloat16': 'bfloat16',
    'zero:float32|dim:float32': 'float32',
    'zero:float32|dim:float64': 'float64',
    'zero:float32|zero:bool': 'float32',
    'zero:float32|zero:uint8': 'float32',
    'zero:float32|zero:int8': 'float32',
    'zero:float32|zero:int16': 'float32',
    'zero:float32|zero:int32': 'float32',
    'zero:float32|zero:int64': 'float32',
    'zero:float32|zero:float16': 'float32',
    'zero:float32|zero:bfloat16': 'float32',
    'zero:float32|zero:float32': 'float32',
    'zero:float32|zero:float64': 'float64',
    'zero:float32|py:int': 'float32',
    'zero:float32|py:float': 'float32',
    'zero:float32|py:bool': 'float32',
    'zero:float64|dim:bool': 'float64',
    'zero:float64|dim:uint8': 'float64',
    'zero:float64|dim:int8': 'float64',
    'zero:float64|dim:int16': 'float64',
    'zero:float64|dim:int32': 'float64',
    'zero:float64|dim:int64': 'float64',
    'zero:float64|dim:float16': 'float16',
    'zero:float64|dim:bfloat16': 'bfloat16',
    'zero:float64|dim:float32': 'float32',
    'zero:float64|dim:float64': 'float64',
    'zero:float64|zero:bool': 'float64',
    'zero:float64|zero:uint8': 'float64',
    'zero:float64|zero:int8': 'float64',
    'zero:float64|zero:int16': 'float64',
    'zero:float64|zero:int32': 'float64',
    'zero:float64|zero:int64': 'float64',
    'zero:float64|zero:float16': 'float64',
    'zero:float64|zero:bfloat16': 'float64',
    'zero:float64|zero:float32': 'float64',
    'zero:float64|zero:float64': 'float64',
    'zero:float64|py:int': 'float64',
    'zero:float64|py:float': 'float64',
    'zero:float64|py:bool': 'float64',
}
# END PROMOTION

# BEGIN VALUES
VALUES = [
    # casts from float: truncation toward zero; out of range and NaN as PyTorch on x86-64
    ('T.tensor([1.7, -1.7, 300.0, -300.0, 127.5, 255.9, 40000.0, nan, inf, -inf]).to(T.uint8)', ('uint8', [1, 255, 44, 212, 127, 255, 64, 0, 0, 0])),
    ('T.tensor([1.7, -1.7, 300.0, -300.0, 127.5, 255.9, 40000.0, nan, inf, -inf]).to(T.int8)', ('int8', [1, -1, 44, -44, 127, -1, 64, 0, 0, 0])),
    ('T.tensor([1.7, -1.7, 300.0, -300.0, 127.5, 255.9, 40000.0, nan, inf, -inf]).to(T.int16)', ('int16', [1, -1, 300, -300, 127, 255, -25536, 0, 0, 0])),
    ('T.tensor([1.7, -1.7, 300.0, -300.0, 127.5, 255.9, 40000.0, nan, inf, -inf]).to(T.int32)', ('int32', [1, -1, 300, -300, 127, 255, 40000, -2147483648, -2147483648, -2147483648])),
    ('T.tensor([1.7, -1.7, 3e9, -3e9, 1e19, nan, inf]).to(T.int64)', ('int64', [1, -1, 3000000000, -3000000000, -9223372036854775808, -9223372036854775808, -9223372036854775808])),
    ('T.tensor([5000000007.0, 2147483948.0, -2147483948.0, 1099511627781.0], dtype=T.float64).to(T.uint8)', ('uint8', [7, 44, 212, 5])),
    ('T.tensor([5000000007.0, 2147483948.0, -2147483948.0, 1099511627781.0], dtype=T.float64).to(T.int16)', ('int16', [0, 0, 0, 0])),
    ('T.tensor([5000000007.0, 2147483948.0], dtype=T.float64).to(T.int32)', ('int32', [-2147483648, -2147483648])),
    ('T.tensor([300.0, 65504.0, -inf, nan], dtype=T.float16).to(T.uint8)', ('uint8', [44, 224, 0, 0])),
    ('T.tensor([300.0, 65504.0], dtype=T.float16).to(T.int16)', ('int16', [300, -32])),
    ('T.tensor([0.0, -0.5, nan, 2.0]).to(T.bool)', ('bool', [False, True, True, True])),
    # casts between integers wrap; to floats round (float16 through float32, as PyTorch)
    ('T.tensor([300, -1, -129, 70000, 2**40 + 5, -2**40 - 3]).to(T.uint8)', ('uint8', [44, 255, 127, 112, 5, 253])),
    ('T.tensor([300, -1, -129, 70000, 2**40 + 5, -2**40 - 3]).to(T.int8)', ('int8', [44, -1, 127, 112, 5, -3])),
    ('T.tensor([300, -1, -129, 70000, 2**40 + 5, -2**40 - 3]).to(T.int16)', ('int16', [300, -1, -129, 4464, 5, -3])),
    ('T.tensor([300, -1, -129, 70000, 2**40 + 5, -2**40 - 3]).to(T.int32)', ('int32', [300, -1, -129, 70000, 5, -3])),
    ('T.tensor([2**62 + 1]).to(T.int32)', ('int32', [1])),
    ('T.tensor([255, 0, 7], dtype=T.uint8).to(T.int8)', ('int8', [-1, 0, 7])),
    ('T.tensor([-1, 5], dtype=T.int8).to(T.uint8)', ('uint8', [255, 5])),
    ('T.tensor([2049, 65519, 65520, -70000]).to(T.float16)', ('float16', [2048.0, 65504.0, inf, -inf])),
    ('T.tensor([1.5, 2.5, -0.5, 65519.0, 65520.0, 1e-8, 0.1]).half()', ('float16', [1.5, 2.5, -0.5, 65504.0, inf, 0.0, 0.0999755859375])),
    ('T.tensor([1.00390625, 3.14159, 1e39, -1e-40], dtype=T.float64).bfloat16()', ('bfloat16', [1.0, 3.140625, inf, -9.183549615799121e-41])),
    ('T.tensor([0.1], dtype=T.float16).double()', ('float64', [0.0999755859375])),
    ('T.tensor([0.1], dtype=T.float16).bfloat16()', ('bfloat16', [0.10009765625])),
    ('T.tensor([0.1], dtype=T.bfloat16).half()', ('float16', [0.10009765625])),
    ('T.tensor([2.5, -3.5], dtype=T.bfloat16).int()', ('int32', [2, -3])),
    ('T.tensor([1, 2]).byte()', ('uint8', [1, 2])),
    ('T.tensor([1, 2]).char()', ('int8', [1, 2])),
    ('T.tensor([1, 2]).short()', ('int16', [1, 2])),
    ('T.tensor([1, 2]).int()', ('int32', [1, 2])),
    ('T.tensor([True, False]).byte()', ('uint8', [1, 0])),
    ('T.tensor([1, 2], dtype=T.int16).float()', ('float32', [1.0, 2.0])),
    ('T.tensor([1, 2], dtype=T.uint8).long()', ('int64', [1, 2])),
    # tensor() with a dtype: Python numbers must fit an integer dtype
    ('T.tensor([1, 2], dtype=T.uint8)', ('uint8', [1, 2])),
    ('T.tensor([300], dtype=T.uint8)', ("raises", 'RuntimeError', 'value cannot be converted to type uint8 without overflow')),
    ('T.tensor([-1.5], dtype=T.uint8)', ("raises", 'RuntimeError', 'value cannot be converted to type uint8 without overflow')),
    ('T.tensor([[0.0, float("nan")]], dtype=T.int64)', ("raises", 'RuntimeError', 'value cannot be converted to type int64 without overflow')),
    ('T.tensor([float("inf")], dtype=T.int32)', ("raises", 'RuntimeError', 'value cannot be converted to type int32 without overflow')),
    ('T.tensor([1e6], dtype=T.float16)', ('float16', [inf])),
    ('T.tensor([0.1, 1.7], dtype=T.bfloat16)', ('bfloat16', [0.10009765625, 1.703125])),
    ('T.full((2,), 300, dtype=T.uint8)', ("raises", 'RuntimeError', 'value cannot be converted to type uint8_t without overflow')),
    ('T.full((2,), 1e6, dtype=T.float16)', ("raises", 'RuntimeError', 'value cannot be converted to type c10::Half without overflow')),
    ('T.full((2,), 7, dtype=T.int8)', ('int8', [7, 7])),
    ('T.zeros(2, dtype=T.int16) + 1', ('int16', [1, 1])),
    # integer arithmetic wraps; Python ints take the tensor's dtype (and wrap into it)
    ('T.tensor([1, 2], dtype=T.uint8) + 300', ('uint8', [45, 46])),
    ('T.tensor([1, 2], dtype=T.uint8) - 3', ('uint8', [254, 255])),
    ('T.tensor([1, 2], dtype=T.uint8) + (-1)', ('uint8', [0, 1])),
    ('T.tensor([200], dtype=T.uint8) * 2', ('uint8', [144])),
    ('T.tensor([100], dtype=T.int8) + T.tensor([100], dtype=T.int8)', ('int8', [-56])),
    ('T.tensor([2**31 - 1], dtype=T.int32) + 1', ('int32', [-2147483648])),
    ('T.tensor([1, 2], dtype=T.uint8) + T.tensor(1000)', ('uint8', [233, 234])),
    ('T.tensor([1, 2], dtype=T.uint8) + T.tensor(1.5)', ('float32', [2.5, 3.5])),
    ('T.tensor([1, 2], dtype=T.uint8) * 1.5', ('float32', [1.5, 3.0])),
    ('T.tensor([3], dtype=T.uint8) / 2', ('float32', [1.5])),
    ('T.tensor([1], dtype=T.int8) + T.tensor([1], dtype=T.uint8)', ('int16', [2])),
    ('T.tensor([1, 2], dtype=T.int32) + T.tensor([1], dtype=T.int64)', ('int64', [2, 3])),
    ('T.tensor([1, 2], dtype=T.int32) + T.tensor(1, dtype=T.float16)', ('float16', [2.0, 3.0])),
    ('T.tensor([1, 2], dtype=T.uint8) + True', ('uint8', [2, 3])),
    ('T.tensor([True]) + T.tensor(3, dtype=T.uint8)', ('uint8', [4])),
    ('-T.tensor([3, 0], dtype=T.uint8)', ('uint8', [253, 0])),
    ('T.tensor([-128, 5], dtype=T.int8).abs()', ('int8', [-128, 5])),
    ('-T.tensor([-128], dtype=T.int8)', ('int8', [-128])),
    ('T.tensor([-3, 3], dtype=T.int8) // 2', ('int8', [-2, 1])),
    ('T.tensor([-3, 3], dtype=T.int8) % 2', ('int8', [1, 1])),
    ('T.tensor([-128], dtype=T.int8) // -1', ('int8', [-128])),
    ('T.tensor([-128], dtype=T.int8) % -1', ('int8', [0])),
    ('T.tensor([7, 200], dtype=T.uint8) // 2', ('uint8', [3, 100])),
    ('T.tensor([1, 44], dtype=T.uint8) // 300', ('uint8', [0, 1])),
    ('T.tensor([1], dtype=T.int32) // T.tensor([0], dtype=T.int32)', ("raises", 'RuntimeError', 'ZeroDivisionError')),
    ('T.tensor([1], dtype=T.uint8) % 0', ("raises", 'RuntimeError', 'ZeroDivisionError')),
    ('T.tensor([2, 3], dtype=T.uint8) ** 2', ('uint8', [4, 9])),
    ('T.tensor([2], dtype=T.uint8) ** 2.5', ('float32', [5.656854152679443])),
    ('T.tensor([3], dtype=T.int8) ** 5', ('int8', [-13])),
    ('T.tensor([5], dtype=T.uint8) ** T.tensor([-1], dtype=T.int8)', ('int16', [0])),
    ('T.tensor([2], dtype=T.int16) ** -1', ("raises", 'RuntimeError', 'Integers to negative integer powers are not allowed.')),
    ('T.tensor([-5, 5], dtype=T.int8) >> 1', ('int8', [-3, 2])),
    ('T.tensor([1], dtype=T.int8) << 9', ('int8', [0])),
    ('T.tensor([200], dtype=T.uint8) >> 9', ('uint8', [0])),
    ('T.tensor([0b1100], dtype=T.uint8) & T.tensor([0b1010], dtype=T.uint8)', ('uint8', [8])),
    ('T.tensor([5, 0], dtype=T.uint8) ^ 255', ('uint8', [250, 255])),
    ('~T.tensor([5, 0], dtype=T.uint8)', ('uint8', [250, 255])),
    ('~T.tensor([5, -1], dtype=T.int16)', ('int16', [-6, 0])),
    ('T.tensor([1.5], dtype=T.float16) & 1', ("raises", 'NotImplementedError', '"bitwise_and_cpu" not implemented for \'Half\'')),
    ('T.tensor([1, 250], dtype=T.uint8).clamp(3, 300)', ('uint8', [3, 250])),
    ('T.tensor([1, 250], dtype=T.uint8).clamp(-1.5)', ('float32', [1.0, 250.0])),
    ('T.tensor([-100, 100], dtype=T.int8).clamp(-5, 5)', ('int8', [-5, 5])),
    ('T.tensor([-1, 2], dtype=T.int32).relu()', ('int32', [0, 2])),
    ('T.maximum(T.tensor([1, 200], dtype=T.uint8), T.tensor([-1, 3], dtype=T.int8))', ('int16', [1, 200])),
    ('ip(T.tensor([250], dtype=T.uint8), "__iadd__", 10)', ('uint8', [4])),
    ('ip(T.tensor([25], dtype=T.uint8), "__imul__", 11)', ('uint8', [19])),
    ('ip(T.tensor([1], dtype=T.int32), "__iadd__", 1.5)', ("raises", 'RuntimeError', "result type Float can't be cast to the desired output type Int")),
    ('ip(T.tensor([1.5], dtype=T.float16), "__imul__", 0.1)', ('float16', [0.1500244140625])),
    # half arithmetic computes in float32 with the Python number unrounded, then rounds
    ('T.arange(1, 9, dtype=T.float16) * 0.1', ('float16', [0.0999755859375, 0.199951171875, 0.300048828125, 0.39990234375, 0.5, 0.60009765625, 0.7001953125, 0.7998046875])),
    ('T.arange(1, 9, dtype=T.float16) / 3.3', ('float16', [0.302978515625, 0.60595703125, 0.9091796875, 1.2119140625, 1.515625, 1.818359375, 2.12109375, 2.423828125])),
    ('T.arange(1, 9, dtype=T.float16) + 0.1', ('float16', [1.099609375, 2.099609375, 3.099609375, 4.1015625, 5.1015625, 6.1015625, 7.1015625, 8.1015625])),
    ('T.arange(1, 9, dtype=T.float16) * T.tensor(0.1, dtype=T.float16)', ('float16', [0.0999755859375, 0.199951171875, 0.2998046875, 0.39990234375, 0.5, 0.599609375, 0.69970703125, 0.7998046875])),
    ('T.arange(1, 9, dtype=T.float16) * T.tensor(0.1, dtype=T.float64)', ('float16', [0.0999755859375, 0.199951171875, 0.300048828125, 0.39990234375, 0.5, 0.60009765625, 0.7001953125, 0.7998046875])),
    ('T.arange(1, 9, dtype=T.bfloat16) * 0.1', ('bfloat16', [0.10009765625, 0.2001953125, 0.30078125, 0.400390625, 0.5, 0.6015625, 0.69921875, 0.80078125])),
    ('T.tensor([0.5], dtype=T.float16) * 70000', ('float16', [35008.0])),
    ('T.tensor(1.0, dtype=T.float16) * 2.5', ('float16', 2.5)),
    ('T.tensor([1, 2], dtype=T.float16) + T.tensor(1.5, dtype=T.float64)', ('float16', [2.5, 3.5])),
    ('T.tensor([1, 2], dtype=T.float16) + T.tensor([1, 2], dtype=T.bfloat16)', ('float32', [2.0, 4.0])),
    ('T.tensor([1, 2], dtype=T.float16) + T.tensor([1, 2], dtype=T.float32)', ('float32', [2.0, 4.0])),
    ('T.tensor([60000.0], dtype=T.float16) * 2', ('float16', [inf])),
    ('T.tensor([1.5, -2.25], dtype=T.float16).exp()', ('float16', [4.48046875, 0.10540771484375])),
    ('T.tensor([1.5, -2.25], dtype=T.bfloat16).sigmoid()', ('bfloat16', [0.81640625, 0.09521484375])),
    ('T.tensor([4.0, 2.0], dtype=T.float16).sqrt()', ('float16', [2.0, 1.4140625])),
    ('-T.tensor([1.5], dtype=T.bfloat16)', ('bfloat16', [-1.5])),
    ('T.tensor([-1.5], dtype=T.float16).abs()', ('float16', [1.5])),
    ('T.tensor([3.3], dtype=T.float16).clamp(0.1, 2.05)', ('float16', [2.05078125])),
    ('T.tensor([7.5, -7.5], dtype=T.float16) // 2', ('float16', [3.0, -4.0])),
    ('T.tensor([7.5, -7.5], dtype=T.float16) % 2', ('float16', [1.5, 0.5])),
    ('T.tensor([2.0, 3.0], dtype=T.float16) ** 2', ('float16', [4.0, 9.0])),
    ('T.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=T.float16) @ T.tensor([[0.1], [0.2]], dtype=T.float16)', ('float16', [[0.5], [1.099609375]])),
    ('T.tensor([1.0, 2.0], dtype=T.bfloat16) @ T.tensor([1.0, 2.0], dtype=T.bfloat16)', ('bfloat16', 5.0)),
    ('T.tensor([[1, 2]], dtype=T.int32) @ T.tensor([[1], [2]], dtype=T.int32)', ('int32', [[5]])),
    ('T.tensor([[100, 2]], dtype=T.uint8) @ T.tensor([[3], [1]], dtype=T.uint8)', ('uint8', [[46]])),
    # reductions: integers sum to int64; halves sum in float32 and round; mean refuses integers
    ('T.tensor([200, 100], dtype=T.uint8).sum()', ('int64', 300)),
    ('T.tensor([[1, 2], [3, 4]], dtype=T.int8).sum(0)', ('int64', [4, 6])),
    ('T.tensor([0.1, 0.2, 0.3], dtype=T.float16).sum()', ('float16', 0.60009765625)),
    ('T.tensor([0.1, 0.2, 0.3], dtype=T.bfloat16).mean()', ('bfloat16', 0.2001953125)),
    ('T.tensor([3], dtype=T.int32).mean()', ("raises", 'NotImplementedError', 'mean(): could not infer output dtype. Input dtype must be either a floating point or complex dtype. Got: Int')),
    ('T.tensor([3, 1, 7], dtype=T.uint8).max()', ('uint8', 7)),
    ('T.tensor([3, 1, 7], dtype=T.int16).min()', ('int16', 1)),
    ('T.tensor([3, 1, 7], dtype=T.uint8).argmax()', ('int64', 2)),
    ('T.tensor([1.0, 2.0, 3.0], dtype=T.float16).std()', ('float16', 1.0)),
    ('T.tensor([[1.0, 2.0]], dtype=T.float16).softmax(1)', ('float16', [[0.26904296875, 0.73095703125]])),
    # comparisons: the Python number converts to the tensor's dtype first (300 is 44 in uint8)
    ('T.tensor([1, 44], dtype=T.uint8) < 300', ('bool', [True, False])),
    ('T.tensor([1, 44], dtype=T.uint8) == 300', ('bool', [False, True])),
    ('T.tensor([1, 44], dtype=T.uint8) > -1', ('bool', [False, False])),
    ('T.tensor([5], dtype=T.uint8) > T.tensor([-1], dtype=T.int8)', ('bool', [True])),
    ('T.tensor([0.1], dtype=T.float16) < 0.1', ('bool', [False])),
    ('T.tensor([0.1], dtype=T.float16) == 0.1', ('bool', [True])),
    ('T.tensor([0.1], dtype=T.float16) == T.tensor([0.1], dtype=T.float32)', ('bool', [False])),
    ('T.tensor([1.5, nan], dtype=T.bfloat16) != T.tensor([1.5, nan], dtype=T.bfloat16)', ('bool', [False, True])),
    ('T.tensor([-1, 2], dtype=T.int32) >= T.tensor([-1.5, 2.5])', ('bool', [True, False])),
    ('T.where(T.tensor([True, False]), T.tensor([1, 2], dtype=T.uint8), T.tensor([3, 4], dtype=T.int8))', ('int16', [1, 4])),
    ('T.where(T.tensor([True, False]), T.tensor([1, 2], dtype=T.float16), 0.1)', ('float16', [1.0, 0.0999755859375])),
    # cat/stack promote
    ('T.cat([T.tensor([1], dtype=T.uint8), T.tensor([-1], dtype=T.int8)])', ('int16', [1, -1])),
    ('T.cat([T.tensor([1], dtype=T.float16), T.tensor([1], dtype=T.bfloat16)])', ('float32', [1.0, 1.0])),
    ('T.stack([T.tensor([1], dtype=T.int16), T.tensor([2], dtype=T.int16)])', ('int16', [[1], [2]])),
    ('T.cat([T.tensor([1], dtype=T.uint8), T.tensor([0.5], dtype=T.float16)])', ('float16', [1.0, 0.5])),
    # indexing: int32/int16/int8 index tensors are positions, uint8 ones masks
    ('T.arange(5)[T.tensor([0, 2], dtype=T.int32)]', ('int64', [0, 2])),
    ('T.arange(5)[T.tensor([4, -1], dtype=T.int16)]', ("raises", 'IndexError', 'tensors used as indices must be long, int, byte or bool tensors')),
    ('T.arange(5)[T.tensor([1, 0, 1, 0, 0], dtype=T.uint8)]', ('int64', [0, 2])),
    ('T.arange(6, dtype=T.uint8).reshape(2, 3)[1]', ('uint8', [3, 4, 5])),
    ('T.arange(6, dtype=T.float16).reshape(2, 3)[:, 1:]', ('float16', [[1.0, 2.0], [4.0, 5.0]])),
    ('T.arange(6, dtype=T.bfloat16)[T.tensor([5, 0])]', ('bfloat16', [5.0, 0.0])),
    ('T.arange(4, dtype=T.int8)[T.tensor([True, False, True, False])]', ('int8', [0, 2])),
    ('T.arange(5)[T.tensor([0.0, 1.0])]', ("raises", 'IndexError', 'tensors used as indices must be long, int, byte or bool tensors')),
    ('ip(T.zeros(3, dtype=T.uint8), "__setitem__", 1, 7)', ('uint8', [0, 7, 0])),
    ('ip(T.zeros(3, dtype=T.uint8), "__setitem__", 1, 300)', ("raises", 'RuntimeError', 'value cannot be converted to type uint8_t without overflow')),
    ('ip(T.zeros(3, dtype=T.uint8), "__setitem__", 0, 2.7)', ('uint8', [2, 0, 0])),
    ('ip(T.zeros(3, dtype=T.float16), "__setitem__", 1, 0.1)', ('float16', [0.0, 0.0999755859375, 0.0])),
    # (a tensor value of another dtype converts, as copy_; PyTorch's index_put_ with an index
    # tensor refuses one instead: "Index put requires the source and destination dtypes match")
    ('ip(T.zeros(3, dtype=T.bfloat16), "__setitem__", slice(0, 2), T.tensor([1.1, 2.2]))', ('bfloat16', [1.1015625, 2.203125, 0.0])),
    ('ip(T.zeros(3, dtype=T.int32), "__setitem__", T.tensor([True, False, True]), -5)', ('int32', [-5, 0, -5])),
    # item and tolist
    ('T.tensor(3, dtype=T.uint8).item()', ("py", 3)),
    ('T.tensor(-3, dtype=T.int8).item()', ("py", -3)),
    ('T.tensor(1.5, dtype=T.float16).item()', ("py", 1.5)),
    ('T.tensor(0.1, dtype=T.bfloat16).item()', ("py", 0.10009765625)),
    ('T.tensor(2**31 - 1, dtype=T.int32).item()', ("py", 2147483647)),
    # requires_grad on integer dtypes is refused; on half dtypes allowed
    ('T.tensor([1], dtype=T.uint8, requires_grad=True)', ("raises", 'RuntimeError', 'Only Tensors of floating point and complex dtype can require gradients')),
    ('T.tensor([1.0], dtype=T.float16, requires_grad=True)', ('float16', [1.0])),
]
# END VALUES
# fmt: on


def _dtype(name: str):
    return getattr(fg, name)


def _operand(key: str):
    kind, name = key.split(":")
    if kind == "py":
        return {"int": 3, "float": 2.5, "bool": True}[name]
    return fg.ones(2 if kind == "dim" else (), dtype=_dtype(name))


@pytest.mark.parametrize("key, want", sorted(PROMOTION.items()))
def test_promotion_matches_torch_result_type(key, want):
    a, b = (_operand(k) for k in key.split("|"))
    if isinstance(b, bool) or (a.dtype == fg.bool and isinstance(b, fg.Tensor) and b.dtype == fg.bool):
        got = (a | b) if a.dtype == fg.bool else (a * b)  # `+` of bools is fine too; `*` keeps it simple
    else:
        got = a * b
    assert str(got.dtype) == f"ferrograd.{want}", key


def test_promotion_table_is_complete():
    assert len(PROMOTION) == 20 * 20 + 20 * 3


def test_promote_is_pytorch_promote_types():
    """DType::promote through dimensioned tensors: symmetric, and the rules the brief lists."""
    def r(a, b):
        return (fg.ones(1, dtype=a) * fg.ones(1, dtype=b)).dtype

    assert r(fg.uint8, fg.int8) == fg.int16
    assert r(fg.uint8, fg.int32) == fg.int32
    assert r(fg.int16, fg.float16) == fg.float16
    assert r(fg.int64, fg.bfloat16) == fg.bfloat16
    assert r(fg.float16, fg.bfloat16) == fg.float32
    assert r(fg.bfloat16, fg.float64) == fg.float64
    for a in NAMES:
        for b in NAMES:
            assert r(_dtype(a), _dtype(b)) == r(_dtype(b), _dtype(a))


def _raises_as_torch(torch_name: str) -> type[BaseException]:
    return {
        "RuntimeError": RuntimeError,
        "NotImplementedError": NotImplementedError,
        "TypeError": TypeError,
        "ValueError": ValueError,
        "IndexError": IndexError,
    }[torch_name]


def _same(got, want) -> bool:
    g, w = np.asarray(got, dtype=float), np.asarray(want, dtype=float)
    return g.shape == w.shape and np.array_equal(g, w, equal_nan=True)


def _param(row):
    return pytest.param(*row, id=row[0][:90])


@pytest.mark.parametrize("expr, expected", [_param(r) for r in VALUES])
def test_value_as_torch(expr, expected):
    env = {"T": fg, "nan": nan, "inf": inf, "ip": ip}
    if expected[0] == "raises":
        _, name, message = expected
        with pytest.raises(_raises_as_torch(name)) as info:
            eval(expr, env)
        words = re.sub(r"^\"\w+\" ", "", message).split(" (")[0]
        assert words.split(":")[0].rstrip() in str(info.value), f"{expr}: {info.value!s} (PyTorch: {message})"
        return
    got = eval(expr, env)
    if expected[0] == "py":
        assert type(got) is type(expected[1]) and _same(got, expected[1]), f"{expr}: {got!r} (PyTorch {expected[1]!r})"
        return
    dtype, values = expected
    assert isinstance(got, fg.Tensor), f"{expr}: {got!r}"
    assert str(got.dtype) == f"ferrograd.{dtype}", f"{expr}: dtype {got.dtype}, PyTorch {dtype}"
    # Bit for bit: the casts are PyTorch's, and half arithmetic rounds once from float32.
    assert _same(got.tolist(), values), f"{expr}: {got.tolist()} (PyTorch {values})"


# ---- dtype objects and parsing ---------------------------------------------------------------


def test_dtype_objects_have_torch_properties():
    # (is_floating_point, is_signed, itemsize), as torch.dtype's
    want = {
        "bool": (False, False, 1), "uint8": (False, False, 1), "int8": (False, True, 1),
        "int16": (False, True, 2), "int32": (False, True, 4), "int64": (False, True, 8),
        "float16": (True, True, 2), "bfloat16": (True, True, 2), "float32": (True, True, 4),
        "float64": (True, True, 8),
    }  # fmt: skip
    for name, props in want.items():
        d = _dtype(name)
        assert (d.is_floating_point, d.is_signed, d.itemsize) == props, name
        assert repr(d) == f"ferrograd.{name}"


def test_aliases_are_pytorchs():
    assert fg.half is fg.float16 or fg.half == fg.float16
    assert fg.short == fg.int16 and fg.int == fg.int32 and fg.long == fg.int64
    assert fg.float == fg.float32 and fg.double == fg.float64


@pytest.mark.parametrize(
    "spec, want",
    [
        ("uint8", "uint8"), ("torch.int", "int32"), ("half", "float16"), ("short", "int16"), ("bfloat16", "bfloat16"),
        ("ferrograd.int8", "int8"), (np.uint8, "uint8"), (np.dtype("int16"), "int16"), (np.float16, "float16"),
        (np.int32, "int32"), (int, "int64"), (float, "float64"),  # Python float is a double, as in PyTorch
    ],
)  # fmt: skip
def test_one_dtype_parser_reads_names_and_numpy_dtypes(spec, want):
    assert fg.zeros(1, dtype=spec).dtype == _dtype(want)
    assert fg.tensor([1], dtype=spec).dtype == _dtype(want)
    assert fg.ones(1).to(spec).dtype == _dtype(want)


def test_unknown_dtype_is_refused_with_the_list():
    with pytest.raises(TypeError, match="uint16"):
        fg.zeros(1, dtype="uint16")


# ---- numpy round trips ---------------------------------------------------------------------


@pytest.mark.parametrize("name", ["uint8", "int8", "int16", "int32", "float16"])
def test_numpy_round_trip_keeps_dtype_and_bits(name):
    rng = np.random.default_rng(0)
    if name == "float16":
        a = rng.standard_normal((3, 4)).astype(np.float16)
        a[0, :3] = [np.inf, -0.0, np.float16(65504)]
    else:
        info = np.iinfo(name)
        a = rng.integers(info.min, info.max, size=(3, 4), endpoint=True, dtype=name)
    for make in (fg.from_numpy, fg.tensor, fg.as_tensor):
        t = make(a)
        assert t.dtype == _dtype(name)
        back = t.numpy()
        assert back.dtype == a.dtype and np.array_equal(back.view(np.uint8), a.view(np.uint8))
    assert fg.from_numpy(a.T).numpy().tolist() == a.T.tolist()  # a Fortran-ordered view


def _float32_sweep() -> np.ndarray:
    """Every 997th float32 bit pattern: both signs, subnormals, infinities, NaNs, exact ties."""
    bits = np.arange(0, 2**32, 997, dtype=np.uint64).astype(np.uint32)
    return np.concatenate([bits, np.array([0x3F808000, 0x3F818000, 0x477FF000, 0x477FEFFF], np.uint32)]).view(np.float32)


def _bfloat16_reference(x: np.ndarray) -> np.ndarray:
    """float32 -> bfloat16 -> float32 as PyTorch rounds: to nearest, ties to even."""
    b = x.view(np.uint32).astype(np.uint64)
    r = ((b + 0x7FFF + ((b >> 16) & 1)) >> 16) << 16
    return r.astype(np.uint32).view(np.float32)


def test_half_conversions_round_to_nearest_even_over_a_sweep():
    # The vectorised (F16C) float16 path and bfloat16's bit arithmetic, against numpy, with
    # lengths that leave a tail after the 8-lane blocks.
    x = _float32_sweep()
    num = ~np.isnan(x)
    for n in (len(x), 13):
        h = fg.tensor(x[:n]).half()
        assert np.array_equal(h.numpy().view(np.uint16)[num[:n]], x[:n].astype(np.float16).view(np.uint16)[num[:n]])
        assert np.isnan(h.float().numpy()[~num[:n]]).all()
        b = fg.tensor(x[:n]).bfloat16().float().numpy()
        assert np.array_equal(b[num[:n]].view(np.uint32), _bfloat16_reference(x[:n])[num[:n]].view(np.uint32))
        assert np.isnan(b[~num[:n]]).all()
    # Widening is exact for every float16 pattern, the NaNs staying NaN.
    every = np.arange(2**16, dtype=np.uint32).astype(np.uint16).view(np.float16)
    w = fg.from_numpy(every).float().numpy()
    fin = ~np.isnan(every)
    assert np.array_equal(w[fin].view(np.uint32), every[fin].astype(np.float32).view(np.uint32))
    assert np.isnan(w[~fin]).all()


def test_uint8_image_stays_uint8_through_indexing_and_casts():
    img = np.arange(2 * 4 * 4 * 3, dtype=np.uint8).reshape(2, 4, 4, 3) * 5
    t = fg.from_numpy(img)
    assert t.dtype == fg.uint8
    chw = t.permute(0, 3, 1, 2)
    assert chw.dtype == fg.uint8 and np.array_equal(chw.numpy(), img.transpose(0, 3, 1, 2))
    x = chw.float() / 255
    np.testing.assert_array_equal(x.numpy(), img.transpose(0, 3, 1, 2).astype(np.float32) / np.float32(255))
    assert np.array_equal(t[t > 100].numpy(), img[img > 100])


def test_bfloat16_has_no_numpy_dtype():
    t = fg.tensor([1.5, -2.0], dtype=fg.bfloat16)
    with pytest.raises(TypeError, match="Got unsupported ScalarType BFloat16"):
        t.numpy()
    assert t.tolist() == [1.5, -2.0]
    assert t.float().numpy().tolist() == [1.5, -2.0]
    assert repr(t) == repr(t.float())[:-1] + ", dtype=ferrograd.bfloat16)"


def test_reprs_name_the_dtype():
    assert repr(fg.tensor([1, 2], dtype=fg.uint8)) == "tensor([1, 2], dtype=ferrograd.uint8)"
    assert repr(fg.tensor(3, dtype=fg.int8)) == "tensor(3, dtype=ferrograd.int8)"
    assert repr(fg.tensor([], dtype=fg.int16)) == "tensor([], dtype=ferrograd.int16)"
    # Half floats print as float32 prints the same values (3.140625 as 3.1406, not numpy's 3.14).
    assert repr(fg.tensor([1.5, 2.0], dtype=fg.float16)) == repr(fg.tensor([1.5, 2.0]))[:-1] + ", dtype=ferrograd.float16)"
    assert repr(fg.tensor([3.14], dtype=fg.float16)) == "tensor([3.1406], dtype=ferrograd.float16)"


# ---- arithmetic against numpy (exact for integers) ----------------------------------------------


@pytest.mark.parametrize("name", INTS)
@pytest.mark.parametrize("op", ["add", "subtract", "multiply", "floor_divide", "remainder", "bitwise_and", "bitwise_xor"])
def test_integer_arithmetic_wraps_like_numpy(name, op):
    rng = np.random.default_rng(1)
    info = np.iinfo(name)
    a = rng.integers(info.min, info.max, size=(5, 6), endpoint=True, dtype=name)
    b = rng.integers(info.min, info.max, size=(6,), endpoint=True, dtype=name)
    b[b == 0] = 1
    if name == "int8":  # numpy's int8 -128 // -1 is 0 with a warning; PyTorch's wraps to -128
        a[a == -128] = -127
    fgop = {"add": "__add__", "subtract": "__sub__", "multiply": "__mul__", "floor_divide": "__floordiv__",
            "remainder": "__mod__", "bitwise_and": "__and__", "bitwise_xor": "__xor__"}[op]  # fmt: skip
    got = getattr(fg.tensor(a), fgop)(fg.tensor(b))
    with np.errstate(over="ignore"):
        want = getattr(np, op)(a, b)
    assert got.dtype == _dtype(name) and np.array_equal(got.numpy(), want)


@pytest.mark.parametrize("name", ["float16"])
@pytest.mark.parametrize("op", ["add", "subtract", "multiply", "divide", "maximum"])
def test_float16_arithmetic_rounds_once_from_float32_like_numpy(name, op):
    """float16 +-*/ computed in float32 and rounded is the correctly rounded float16 result
    (float32 has more than twice float16's precision), which is what numpy's float16 gives."""
    rng = np.random.default_rng(2)
    a = rng.standard_normal((4, 5)).astype(np.float16)
    b = (rng.standard_normal((5,)) + 3).astype(np.float16)
    fgop = {"add": fg.add, "subtract": fg.sub, "multiply": fg.mul, "divide": fg.div, "maximum": fg.maximum}[op]
    got = fgop(fg.tensor(a), fg.tensor(b))
    assert got.dtype == fg.float16
    np.testing.assert_array_equal(got.numpy(), getattr(np, op)(a, b))


@pytest.mark.parametrize("name", ["float16", "bfloat16"])
def test_half_rounding_cumulative_and_float_binary_ops_compute_in_float32(name):
    """floor/ceil/trunc/round/sign/logit, the float binary ops and cumsum/cumprod/prod took no
    half input (NotImplementedError): each is now its float32 result rounded to the dtype, as
    PyTorch's opmath computes them."""
    dt = _dtype(name)
    rng = np.random.default_rng(3)
    a32 = fg.tensor(rng.standard_normal(7) * 3).to(dt).float()  # values the half dtype holds
    b32 = fg.tensor(rng.standard_normal(7) + 2).to(dt).float()
    a, b = a32.to(dt), b32.to(dt)
    for op in ["floor", "ceil", "trunc", "round", "sign", "sgn", "frac"]:
        got = getattr(a, op)()
        assert got.dtype == dt and got.float().tolist() == getattr(a32, op)().to(dt).float().tolist(), op
    assert a.round(decimals=1).float().tolist() == a32.round(decimals=1).to(dt).float().tolist()
    p = (a32.abs() / 10).clamp(max=0.9)
    assert fg.logit(p.to(dt)).float().tolist() == fg.logit(p.to(dt).float()).to(dt).float().tolist()
    for op in ["xlogy", "hypot", "atan2", "copysign", "fmod", "logaddexp", "logaddexp2"]:
        got = getattr(fg, op)(a, b)
        assert got.dtype == dt and got.float().tolist() == getattr(fg, op)(a32, b32).to(dt).float().tolist(), op
    for op in ["cumsum", "cumprod"]:
        got = getattr(a, op)(0)
        assert got.dtype == dt and got.float().tolist() == getattr(a32, op)(0).to(dt).float().tolist(), op
    assert a.prod().dtype == dt and a.prod().float().item() == a32.prod().to(dt).float().item()
    assert fg.arange(4).cumsum(0, dtype=dt).dtype == dt
    x = a.detach().requires_grad_()
    fg.hypot(x, x).sum().backward()
    assert x.grad.dtype == dt


def test_float16_gradients_arrive_in_float16():
    x = fg.tensor([1.0, 2.0, -3.0], dtype=fg.float16, requires_grad=True)
    y = ((x * x).exp() / 100 + x.abs()).sum()
    y.backward()
    assert x.grad.dtype == fg.float16 and y.dtype == fg.float16
    xs = np.array([1.0, 2.0, -3.0])
    want = (2 * xs * np.exp(xs * xs) / 100 + np.sign(xs)).astype(np.float16)
    np.testing.assert_allclose(x.grad.numpy().astype(np.float64), want, rtol=2e-3)
    b = fg.tensor([[1.0, 2.0]], dtype=fg.bfloat16, requires_grad=True)
    b[0, 1:].sum().backward()
    assert b.grad.dtype == fg.bfloat16 and b.grad.tolist() == [[0.0, 1.0]]


def test_fused_nn_kernels_refuse_half_with_a_clear_error():
    x = fg.ones(2, 3, dtype=fg.float16)
    w = fg.ones(4, 3, dtype=fg.float16)
    with pytest.raises(NotImplementedError, match="linear.*Half"):
        fg.nn.functional.linear(x, w)


def test_safetensors_round_trip_keeps_every_dtype(tmp_path):
    sd = {name: fg.tensor([0, 1, 100], dtype=_dtype(name)) for name in NAMES}
    path = tmp_path / "all.safetensors"
    fg.save(sd, str(path))
    got = fg.load(str(path))
    for name in NAMES:
        assert got[name].dtype == _dtype(name) and got[name].tolist() == sd[name].tolist(), name


def test_against_torch_directly_when_installed():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    f = (rng.standard_normal(64) * 1e3).astype(np.float32)
    f[:4] = [np.nan, np.inf, -np.inf, 3e9]
    for name in INTS + ["int64", "float16", "bfloat16", "bool"]:
        want = torch.from_numpy(f).to(getattr(torch, name))
        got = fg.from_numpy(f).to(_dtype(name))
        assert _same(got.tolist(), want.tolist()), name
    u = rng.integers(0, 256, size=(8, 8), dtype=np.uint8)
    for expr in ("x * 3 + 250", "(x // 7) % 5", "x - 200", "x.sum(0)", "x > 128", "x * 0.5", "x.float() / 3"):
        want = eval(expr, {"x": torch.from_numpy(u)})
        got = eval(expr, {"x": fg.from_numpy(u)})
        assert str(got.dtype).split(".")[1] == str(want.dtype).split(".")[1] and got.tolist() == want.tolist(), expr
