"""Every invalid call raises a Python exception that names the op and the shapes; no Rust panic
ever reaches Python (a PanicException derives from BaseException, not Exception)."""

import ferrograd as fg
import numpy as np
import pytest

a23 = fg.ones(2, 3)
a34 = fg.ones(3, 4)
a4 = fg.ones(4)
i23 = fg.arange(6).reshape(2, 3)

BAD_CALLS = [
    ("add incompatible", lambda: a23 + a34, RuntimeError, r"add.*\[2, 3\].*\[3, 4\]"),
    ("mul incompatible", lambda: a23 * fg.ones(2), RuntimeError, r"mul.*\[2, 3\].*\[2\]"),
    ("matmul inner mismatch", lambda: a23 @ a23, RuntimeError, r"matmul.*2x3 and 2x3"),
    ("matmul 0-d", lambda: fg.tensor(1.0) @ a23, RuntimeError, r"matmul.*1D"),
    ("matmul dtype mismatch", lambda: a23 @ a34.double(), RuntimeError, r"matmul.*same dtype"),
    ("matmul bools", lambda: fg.tensor([[True]]) @ fg.tensor([[True]]), RuntimeError, r"not implemented for 'Bool'"),
    ("reshape wrong size", lambda: a23.reshape(4, 2), RuntimeError, r"reshape.*invalid for input of size 6"),
    ("reshape two -1", lambda: a23.reshape(-1, -1), RuntimeError, r"only one dimension can be inferred"),
    ("view of non-contiguous", lambda: a34.t().view(12), RuntimeError, r"view size is not compatible"),
    ("sum bad dim", lambda: a23.sum(dim=2), IndexError, r"sum: dimension out of range.*got 2"),
    ("sum repeated dim", lambda: a23.sum(dim=(0, 0)), RuntimeError, r"sum: dim 0 appears multiple times"),
    ("softmax bad dim", lambda: a23.softmax(5), IndexError, r"softmax: dimension out of range"),
    ("transpose bad dim", lambda: a23.transpose(0, 3), IndexError, r"transpose: dimension out of range"),
    ("permute wrong length", lambda: a23.permute(0), RuntimeError, r"permute.*input.dim\(\) = 2"),
    ("permute duplicate", lambda: a23.permute(0, 0), RuntimeError, r"permute: duplicate dims"),
    ("expand non-singleton", lambda: a23.expand(4, 3), RuntimeError, r"expand.*size of the tensor \(4\).*existing size \(2\)"),
    ("expand fewer dims", lambda: a23.expand(3), RuntimeError, r"expand.*number of sizes provided"),
    ("index out of range", lambda: a23[5], IndexError, r"index 5 is out of bounds for dimension 0 with size 2"),
    ("index too many", lambda: a23[0, 0, 0], IndexError, r"too many indices for tensor of dimension 2"),
    ("fancy index out of range", lambda: a23[:, [0, 7]], IndexError, r"index 7 is out of bounds for dimension 1 with size 3"),
    ("mask shape mismatch", lambda: a23[fg.tensor([True, False, True])], IndexError, r"mask \[3\].*\[2\]"),
    ("float index tensor", lambda: a23[fg.tensor([0.0])], IndexError, r"tensors used as indices must be long"),
    ("negative step", lambda: a23[::-1], ValueError, r"step must be greater than zero"),
    ("index 0-d", lambda: fg.tensor(1.0)[0], IndexError, r"invalid index of a 0-dim tensor"),
    ("cat rank mismatch", lambda: fg.cat([a23, a4]), RuntimeError, r"cat\(\).*same number of dimensions"),
    ("cat size mismatch", lambda: fg.cat([a23, a34]), RuntimeError, r"cat\(\): Sizes of tensors must match except in dimension 0"),
    ("cat empty", lambda: fg.cat([]), ValueError, r"cat\(\): expected a non-empty list"),
    ("stack mismatch", lambda: fg.stack([a23, a34]), RuntimeError, r"stack expects each tensor to be equal size.*\[2, 3\].*\[3, 4\]"),
    ("split bad sizes", lambda: a23.split([1, 1], 1), RuntimeError, r"split_with_sizes.*sum exactly to 3"),
    ("chunk zero", lambda: a23.chunk(0), RuntimeError, r"chunk expects `chunks` to be greater than 0"),
    # PyTorch's types: a start outside [-n, n] is an IndexError, a bad length a RuntimeError.
    ("narrow past the end", lambda: a23.narrow(1, 2, 5), RuntimeError, r"narrow: start \(2\) \+ length \(5\) exceeds dimension size \(3\)"),
    ("narrow negative length", lambda: a23.narrow(1, 0, -1), RuntimeError, r"narrow\(\): length must be non-negative"),
    ("narrow start out of range", lambda: a23.narrow(1, 4, 0), IndexError, r"start out of range \(expected to be in range of \[-3, 3\], but got 4\)"),
    ("narrow negative start past the end", lambda: a23.narrow(1, -2, 5), RuntimeError, r"narrow: start \(1\) \+ length \(5\) exceeds dimension size \(3\)"),
    ("narrow length that overflows", lambda: a23.narrow(1, 1, 2**63 - 1), RuntimeError, r"narrow: start \(1\) \+ length \(9223372036854775807\) exceeds"),
    ("narrow negative length before start", lambda: a23.narrow(1, 4, -1), RuntimeError, r"length must be non-negative"),
    ("index tensors that do not broadcast", lambda: a23[fg.tensor([0, 1]), fg.tensor([0, 1, 2])], IndexError, r"shape mismatch: indexing tensors could not be broadcast together with shapes \[2\], \[3\]"),
    ("assignment through index tensors that do not broadcast", lambda: a23.__setitem__((fg.tensor([0, 1]), fg.tensor([0, 1, 2])), 1.0), IndexError, r"shape mismatch"),
    ("nextafter shapes that do not broadcast", lambda: fg.nextafter(fg.ones(2, 4), fg.ones(2, 3)), RuntimeError, r"nextafter: shapes \[2, 4\] and \[2, 3\] cannot be broadcast"),
    ("randperm negative", lambda: fg.randperm(-1), RuntimeError, r"negative dimension -1"),
    ("argmax of empty without a dim", lambda: fg.ones(0).argmax(), IndexError, r"argmax\(\): Expected reduction dim"),
    ("narrow of a 0-d tensor", lambda: fg.tensor(1.0).narrow(0, 0, 1), RuntimeError, r"narrow\(\) cannot be applied to a 0-dim tensor"),
    ("split of a 0-d tensor", lambda: fg.tensor(1.0).split([1]), RuntimeError, r"split expects at least a 1-dimensional tensor"),
    ("chunk of a 0-d tensor", lambda: fg.tensor(1.0).chunk(0), RuntimeError, r"chunk expects at least a 1-dimensional tensor"),
    ("max of empty", lambda: fg.ones(0).max(), RuntimeError, r"max\(\): Expected reduction dim"),
    ("argmax over empty dim", lambda: fg.ones(2, 0).argmax(1), IndexError, r"argmax\(\): Expected reduction dim 1 to have non-zero size"),
    ("mean of ints", lambda: i23.mean(), NotImplementedError, r"mean\(\): could not infer output dtype.*Got: Long"),
    ("item of many", lambda: a23.item(), RuntimeError, r"item: a Tensor with 6 elements cannot be converted to Scalar"),
    ("bool of many", lambda: bool(a23), RuntimeError, r"Boolean value of Tensor with more than one value is ambiguous"),
    ("sub two bools", lambda: fg.tensor([True]) - fg.tensor([False]), RuntimeError, r"Subtraction, the `-` operator, with two bool tensors"),
    ("exp of bool", lambda: fg.tensor([True]).exp().sum().backward(), RuntimeError, r"element 0 of tensors does not require grad"),
    ("where non-bool condition", lambda: fg.where(a23, a23, a23), TypeError, r"where: expected condition to be a bool tensor"),
    ("clamp no bounds", lambda: a23.clamp(), RuntimeError, r"clamp: at least one of 'min' or 'max'"),
    ("arange zero step", lambda: fg.arange(0, 5, 0), RuntimeError, r"arange: step must be nonzero"),
    ("arange wrong sign", lambda: fg.arange(0, 5, -1), RuntimeError, r"arange: upper bound and lower bound inconsistent"),
    ("randint empty range", lambda: fg.randint(5, 5, (2,)), RuntimeError, r"random_ expects 'from' to be less than 'to'"),
    ("negative shape", lambda: fg.zeros(2, -1), RuntimeError, r"negative dimension -1"),
    ("ragged list", lambda: fg.tensor([[1, 2], [3]]), ValueError, r"tensor\(\): could not build a tensor"),
    ("string data", lambda: fg.tensor(["a"]), TypeError, r"tensor\(\): cannot build a tensor from numpy dtype"),
    ("unknown dtype", lambda: fg.zeros(2, dtype="complex64"), TypeError, r"unsupported dtype"),
    ("cuda device", lambda: fg.zeros(2, device="cuda"), RuntimeError, r"CPU only.*'cuda'"),
    ("to cuda", lambda: a23.to("cuda:0"), RuntimeError, r"CPU only"),
    ("cuda()", lambda: a23.cuda(), RuntimeError, r"no CUDA device"),
    ("setitem on graph", lambda: fg.ones(2, requires_grad=True).__setitem__(0, 1.0), RuntimeError, r"a leaf Variable that requires grad"),
    ("grad wrong shape", lambda: setattr(fg.ones(2, requires_grad=True), "grad", fg.ones(3)), RuntimeError, r"assigned grad has data of a different size"),
    ("backward wrong gradient shape", lambda: (fg.ones(2, requires_grad=True) * 2).backward(fg.ones(3)), RuntimeError, r"Mismatch in shape: grad_output\[0\] has a shape of \[3\]"),
    ("len of 0-d", lambda: len(fg.tensor(1.0)), TypeError, r"len\(\) of a 0-d tensor"),
    ("set_rng_state garbage", lambda: fg.set_rng_state(b"xx"), ValueError, r"set_rng_state: expected the 16-byte state"),
]


@pytest.mark.parametrize("call,exc,pattern", [c[1:] for c in BAD_CALLS], ids=[c[0] for c in BAD_CALLS])
def test_bad_call_raises_clear_python_error(call, exc, pattern):
    with pytest.raises(exc, match=pattern):
        call()


def test_nan_and_inf_propagate_as_ieee754():
    x = fg.tensor([np.nan, np.inf, -np.inf, 0.0])
    with np.errstate(all="ignore"):
        for fg_fn, np_fn in [
            (lambda t: t.exp(), np.exp),
            (lambda t: t.log(), np.log),
            (lambda t: t.sqrt(), np.sqrt),
            (lambda t: t * 0, lambda a: a * 0),
            (lambda t: t / 0.0, lambda a: a / np.float32(0.0)),
            (lambda t: t.tanh(), np.tanh),
        ]:
            np.testing.assert_array_equal(fg_fn(x).numpy(), np_fn(x.numpy()))
    assert np.isnan(x.relu().numpy()[0])
    assert np.isnan(x.max().item())
    assert np.isnan(x.sum().item())
    assert x.softmax(0).numpy().tolist() != [] and np.isnan(x.softmax(0).numpy()).all()
