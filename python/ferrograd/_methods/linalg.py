"""Products: the BLAS-style add* family, dot/inner/outer/kron/cross, trace, einsum and tensordot
(contractions as permute + reshape + matmul), and cov/corrcoef."""

from __future__ import annotations

import numbers

import numpy as np

from .. import _core
from .._core import Tensor
from ._util import broadcast_shape, inplace, no_out, register, result_type, scalar_tensor, wrap_dim


def _dims_error(op: str, want: str, *ts: Tensor):
    got = " and ".join(f"{t.ndim}D" for t in ts)
    return RuntimeError(f"{op}: expected {want}, but got {got} tensors")


def _scaled_sum(op: str, input, product: Tensor, beta, alpha) -> Tensor:
    """beta * input + alpha * product; beta=0 ignores input (NaN and inf in it included). Float
    alpha and beta with integer input and product are cast to integers (toward zero), as
    PyTorch's gemm kernels do (baddbmm(int32 ..., alpha=0.5) is int32 zeros); addr, an
    elementwise kernel there, refuses them as PyTorch's add does."""
    integers = not product.is_floating_point() and not (isinstance(input, Tensor) and input.is_floating_point())
    if integers and any(isinstance(v, float) for v in (alpha, beta)):
        if op == "addr":
            which = "alpha" if isinstance(alpha, float) else "beta"
            raise RuntimeError(f"For integral input tensors, argument {which} must not be a floating point number.")
        alpha, beta = (int(v) if isinstance(v, float) else v for v in (alpha, beta))
    out = product if alpha == 1 else product * alpha
    if beta == 0:
        if isinstance(input, Tensor) and input.requires_grad:
            out = out + input.reshape(-1)[:0].sum()  # input gets a zero gradient, as in PyTorch
        return out
    return (input if beta == 1 else input * beta) + out


# ----------------------------------------------------------------------------- vector products


@register("dot")
def dot(input: Tensor, other: Tensor, *, out=None) -> Tensor:
    """Inner product of two 1-D tensors of the same dtype and length."""
    no_out("dot", out)
    if input.ndim != 1 or other.ndim != 1:
        raise RuntimeError(f"1D tensors expected, but got {input.ndim}D and {other.ndim}D tensors")
    if input.dtype != other.dtype:
        raise RuntimeError(f"dot : expected both vectors to have same dtype, but found {_tn(input)} and {_tn(other)}")
    if input.shape[0] != other.shape[0]:
        raise RuntimeError(f"inconsistent tensor size, expected tensor [{input.shape[0]}] and src [{other.shape[0]}] to have "
                           f"the same number of elements, but got {input.shape[0]} and {other.shape[0]} elements respectively")
    return input.matmul(other)


def _tn(t: Tensor) -> str:
    return {"float32": "Float", "float64": "Double", "int64": "Long", "bool": "Bool"}.get(str(t.dtype).split(".")[-1], str(t.dtype))


@register("vdot")
def vdot(input: Tensor, other: Tensor, *, out=None) -> Tensor:
    """dot() (the conjugate of a real tensor is itself)."""
    no_out("vdot", out)
    return dot(input, other)


@register("inner")
def inner(input: Tensor, other: Tensor, *, out=None) -> Tensor:
    """Sum over the last dims: result shape input.shape[:-1] + other.shape[:-1]."""
    no_out("inner", out)
    if input.ndim == 0 or other.ndim == 0:
        return input * other
    if input.shape[-1] != other.shape[-1]:
        raise RuntimeError(f"inner() the last dimension must match on both input tensors but got shapes "
                           f"{list(input.shape)} and {list(other.shape)}")
    return tensordot(input, other, ([input.ndim - 1], [other.ndim - 1]))


@register("outer", "ger")
def outer(input: Tensor, vec2: Tensor, *, out=None) -> Tensor:
    """input[i] * vec2[j] for two 1-D tensors."""
    no_out("outer", out)
    if input.ndim != 1 or vec2.ndim != 1:
        raise RuntimeError(f"outer: expected 1-D tensors, got {input.ndim}-D and {vec2.ndim}-D")
    return input.reshape(-1, 1) * vec2.reshape(1, -1)


@register("kron")
def kron(input: Tensor, other: Tensor, *, out=None) -> Tensor:
    """Kronecker product: every element of input times the whole of other, in blocks."""
    no_out("kron", out)
    nd = max(input.ndim, other.ndim)
    a = input.reshape(*([1] * (nd - input.ndim) + list(input.shape)))
    b = other.reshape(*([1] * (nd - other.ndim) + list(other.shape)))
    inter_a, inter_b, final = [], [], []
    for sa, sb in zip(a.shape, b.shape):
        inter_a += [sa, 1]
        inter_b += [1, sb]
        final.append(sa * sb)
    return (a.reshape(*inter_a) * b.reshape(*inter_b)).reshape(*final)


@register("cross")
def cross(input: Tensor, other: Tensor, dim: int | None = None, *, out=None) -> Tensor:
    """Cross product of 3-vectors along `dim` (default: the first dim of size 3)."""
    no_out("cross", out)
    if input.ndim != other.ndim:
        raise RuntimeError("linalg.cross: inputs must have the same number of dimensions.")
    shape = broadcast_shape(input.shape, other.shape)
    if dim is None:
        dim = next((i for i, s in enumerate(shape) if s == 3), None)
        if dim is None:
            raise RuntimeError("no dimension of size 3 in input")
    d = wrap_dim(dim, len(shape))
    if shape[d] != 3:
        raise RuntimeError(f"linalg.cross: inputs dimension {d} must have length 3. Got {input.shape[d]} and {other.shape[d]}")
    a, b = input.expand(*shape), other.expand(*shape)
    a0, a1, a2 = (a.narrow(d, i, 1) for i in range(3))
    b0, b1, b2 = (b.narrow(d, i, 1) for i in range(3))
    return _core.cat([a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0], d)


# ----------------------------------------------------------------------------- matrix products


@register("mv")
def mv(input: Tensor, vec: Tensor, *, out=None) -> Tensor:
    """Matrix (n, m) times vector (m,)."""
    no_out("mv", out)
    if input.ndim != 2 or vec.ndim != 1:
        raise RuntimeError(f"vector + matrix @ vector expected, got {input.ndim}, {vec.ndim}")
    if input.shape[1] != vec.shape[0]:
        raise RuntimeError(f"size mismatch, got input ({input.shape[0]}), mat ({input.shape[0]}x{input.shape[1]}), "
                           f"vec ({vec.shape[0]})")
    return input.matmul(vec)


@register("bmm")
def bmm(input: Tensor, mat2: Tensor, *, out=None) -> Tensor:
    """Batched matrix product of (b, n, m) and (b, m, p), no broadcasting."""
    no_out("bmm", out)
    if input.ndim != 3:
        raise RuntimeError("batch1 must be a 3D tensor")
    if mat2.ndim != 3:
        raise RuntimeError("batch2 must be a 3D tensor")
    if input.shape[0] != mat2.shape[0] or input.shape[2] != mat2.shape[1]:
        raise RuntimeError(f"Expected size for first two dimensions of batch2 tensor to be: [{input.shape[0]}, "
                           f"{input.shape[2]}] but got: [{mat2.shape[0]}, {mat2.shape[1]}].")
    return input.matmul(mat2)


def _check_2d(op, *pairs):
    for name, t, nd in pairs:
        if t.ndim != nd:
            raise RuntimeError(f"{name} must be a {'matrix' if nd == 2 else 'vector' if nd == 1 else f'{nd}D tensor'}, "
                               f"got {t.ndim}-D tensor")


@register("addmm")
def addmm(input: Tensor, mat1: Tensor, mat2: Tensor, *, beta=1, alpha=1, out=None) -> Tensor:
    """beta * input + alpha * (mat1 @ mat2); input broadcasts to the product's shape."""
    no_out("addmm", out)
    _check_2d("addmm", ("mat1", mat1, 2), ("mat2", mat2, 2))
    if mat1.shape[1] != mat2.shape[0]:
        raise RuntimeError(f"mat1 and mat2 shapes cannot be multiplied ({mat1.shape[0]}x{mat1.shape[1]} and "
                           f"{mat2.shape[0]}x{mat2.shape[1]})")
    return _scaled_sum("addmm", input, mat1.matmul(mat2), beta, alpha)


@register("addmv")
def addmv(input: Tensor, mat: Tensor, vec: Tensor, *, beta=1, alpha=1, out=None) -> Tensor:
    no_out("addmv", out)
    return _scaled_sum("addmv", input, mv(mat, vec), beta, alpha)


@register("addr")
def addr(input: Tensor, vec1: Tensor, vec2: Tensor, *, beta=1, alpha=1, out=None) -> Tensor:
    no_out("addr", out)
    return _scaled_sum("addr", input, outer(vec1, vec2), beta, alpha)


@register("baddbmm")
def baddbmm(input: Tensor, batch1: Tensor, batch2: Tensor, *, beta=1, alpha=1, out=None) -> Tensor:
    """beta * input + alpha * bmm(batch1, batch2)."""
    no_out("baddbmm", out)
    return _scaled_sum("baddbmm", input, bmm(batch1, batch2), beta, alpha)


@register("addbmm")
def addbmm(input: Tensor, batch1: Tensor, batch2: Tensor, *, beta=1, alpha=1, out=None) -> Tensor:
    """beta * input + alpha * sum over the batch of batch1[i] @ batch2[i]."""
    no_out("addbmm", out)
    products = bmm(batch1, batch2)
    return _scaled_sum("addbmm", input, products.sum(0, dtype=products.dtype), beta, alpha)  # int32 stays int32


inplace("addmm_", addmm)
inplace("addmv_", addmv)
inplace("addr_", addr)
inplace("baddbmm_", baddbmm)
inplace("addbmm_", addbmm)


@register("trace")
def trace(input: Tensor) -> Tensor:
    """Sum of the main diagonal of a matrix (integer matrices give int64)."""
    if input.ndim != 2:
        raise RuntimeError(f"trace: expected a matrix, but got tensor with dim {input.ndim}")
    return input.diagonal().sum()


# ----------------------------------------------------------------------------- einsum, tensordot


def _parse_operand(spec: str, ndim: int, ell_max: list):
    if spec.count("...") > 1 or ("." in spec.replace("...", "")):
        raise RuntimeError(f"einsum(): invalid subscript {spec!r}")
    if "..." in spec:
        head, tail = spec.split("...")
        n_ell = ndim - len(head) - len(tail)
        if n_ell < 0:
            raise RuntimeError(f"einsum(): the number of subscripts in the equation ({len(head) + len(tail)}) is more "
                               f"than the number of dimensions ({ndim}) for operand")
        ell_max[0] = max(ell_max[0], n_ell)
        labels = list(head) + [-(n_ell - i) for i in range(n_ell)] + list(tail)
    else:
        if len(spec) != ndim:
            raise RuntimeError(f"einsum(): the number of subscripts in the equation ({len(spec)}) does not match the "
                               f"number of dimensions ({ndim}) for operand and no ellipsis was given")
        labels = list(spec)
    for lab in labels:
        if isinstance(lab, str) and not lab.isalpha():
            raise RuntimeError(f"einsum(): invalid subscript given at index {spec.index(lab)} in the equation string, "
                               f"subscripts must be in [a-zA-Z]")
    return labels


def _take_diagonals(x: Tensor, labels: list) -> tuple[Tensor, list]:
    """Repeated labels within one operand select a diagonal (ii -> i)."""
    while True:
        seen = {}
        dup = None
        for i, lab in enumerate(labels):
            if lab in seen:
                dup = (seen[lab], i)
                break
            seen[lab] = i
        if dup is None:
            return x, labels
        i, j = dup
        if x.shape[i] != x.shape[j]:
            raise RuntimeError(f"einsum(): subscript {labels[i]} is repeated for operand but the sizes don't match, "
                               f"{x.shape[i]} != {x.shape[j]}")
        x = x.diagonal(0, i, j)
        lab = labels[i]
        labels = [v for k, v in enumerate(labels) if k not in (i, j)] + [lab]


def _sum_labels(x: Tensor, labels: list, drop: set) -> tuple[Tensor, list]:
    dims = [i for i, lab in enumerate(labels) if lab in drop]
    if not dims:
        return x, labels
    # A label of size 1 is squeezed away rather than summed, as PyTorch's einsum does: an int32
    # operand then stays int32, where a sum would make it int64 (as PyTorch's sum does, and then
    # the next product meets two dtypes in both libraries).
    ones = [d for d in dims if x.shape[d] == 1]
    rest = [d - sum(o < d for o in ones) for d in dims if x.shape[d] != 1]
    x = x.squeeze(tuple(ones)) if ones else x
    return (x.sum(rest) if rest else x), [lab for lab in labels if lab not in drop]


def _contract(a: Tensor, la: list, b: Tensor, lb: list, needed: set) -> tuple[Tensor, list]:
    """a and b contracted over their shared labels that are not needed later, as one matmul."""
    a, la = _sum_labels(a, la, {lab for lab in la if lab not in lb and lab not in needed})
    b, lb = _sum_labels(b, lb, {lab for lab in lb if lab not in la and lab not in needed})
    batch = [lab for lab in la if lab in lb and lab in needed]
    contr = [lab for lab in la if lab in lb and lab not in needed]
    left = [lab for lab in la if lab not in lb]
    right = [lab for lab in lb if lab not in la]
    size: dict = {}
    for t, ls in ((a, la), (b, lb)):
        for lab, s in zip(ls, t.shape):
            size[lab] = s if size.get(lab, 1) == 1 else size[lab]  # broadcasting: 1 gives way
    a = a.permute(*[la.index(lab) for lab in batch + left + contr]) if la else a
    b = b.permute(*[lb.index(lab) for lab in batch + contr + right]) if lb else b
    nb = len(batch)
    a_sh, b_sh = list(a.shape), list(b.shape)
    lsz = int(np.prod([size[lab] for lab in left])) if left else 1
    csz = int(np.prod([size[lab] for lab in contr])) if contr else 1
    rsz = int(np.prod([size[lab] for lab in right])) if right else 1
    a_c = [a_sh[nb + len(left) + i] for i in range(len(contr))]
    b_c = [b_sh[nb + i] for i in range(len(contr))]
    if a_c != b_c:
        a = a.expand(*(a_sh[:nb + len(left)] + [size[lab] for lab in contr]))
        b = b.expand(*(b_sh[:nb] + [size[lab] for lab in contr] + b_sh[nb + len(contr):]))
    a3 = a.reshape(*(a_sh[:nb] + [lsz, csz]))
    b3 = b.reshape(*(b_sh[:nb] + [csz, rsz]))
    if a3.dtype != b3.dtype:  # an integer sum made one side int64: promoted, as a product promotes
        common = result_type(a3, b3)
        a3, b3 = a3.to(common), b3.to(common)
    prod = a3.matmul(b3)
    bshape = list(prod.shape[:nb])
    out = prod.reshape(*(bshape + [size[lab] for lab in left] + [size[lab] for lab in right]))
    return out, batch + left + right


def _sublist_equation(args) -> tuple[str, tuple]:
    """einsum(op0, sublist0, op1, sublist1, ..., [out_sublist]) as (equation, operands): each
    sublist holds ints in [0, 52) (a letter each) and Ellipsis, as PyTorch's sublist form."""
    letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"

    def spec(sub) -> str:
        out = []
        for s in sub:
            if s is Ellipsis:
                out.append("...")
            elif isinstance(s, numbers.Integral) and 0 <= s < 52:
                out.append(letters[s])
            else:
                raise ValueError("einsum(): subscript in subscript list is not within the valid range [0, 52)")
        return "".join(out)

    # op0 (0), sub0 (1), op1 (2), sub1 (3), [out (4)]: an odd count ends with the output's
    out = spec(args[-1]) if len(args) % 2 else None
    operands = args[0:len(args) - len(args) % 2:2]
    equation = ",".join(spec(sub) for sub in args[1::2])
    return (equation if out is None else f"{equation}->{out}"), tuple(operands)


@register("einsum", method=False)
def einsum(equation, *operands) -> Tensor:
    """Einstein summation, e.g. einsum('bij,bjk->bik', a, b); '...' broadcasts, repeated labels
    in one operand take diagonals, labels missing from the output are summed. The sublist form
    einsum(a, [0, 1], b, [1, 2], [0, 2]) is read as the equation it spells."""
    if isinstance(equation, Tensor):
        equation, operands = _sublist_equation((equation, *operands))
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    if not operands:
        raise RuntimeError("einsum(): must provide at least one operand")
    eq = equation.replace(" ", "")
    lhs, arrow, rhs = eq.partition("->")
    specs = lhs.split(",")
    if len(specs) != len(operands):
        raise RuntimeError("einsum(): more operands were provided than specified in the equation" if len(operands) > len(specs)
                           else "einsum(): fewer operands were provided than specified in the equation")
    ell = [0]
    labels = [_parse_operand(s, t.ndim, ell) for s, t in zip(specs, operands)]
    if arrow:
        out_labels = _parse_operand(rhs, ell[0] + len(rhs.replace("...", "")), [0]) if "..." in rhs else list(rhs)
        for lab in out_labels:
            if isinstance(lab, str) and not lab.isalpha():
                raise RuntimeError("einsum(): invalid subscript in the output, subscripts must be in [a-zA-Z]")
            if out_labels.count(lab) > 1:
                raise RuntimeError(f"einsum(): output subscript {lab} appears more than once in the output")
            if isinstance(lab, str) and not any(lab in ls for ls in labels):
                raise RuntimeError(f"einsum(): output subscript {lab} does not appear in the equation for any input operand")
    else:
        counts: dict = {}
        for ls in labels:
            for lab in ls:
                if isinstance(lab, str):
                    counts[lab] = counts.get(lab, 0) + 1
        out_labels = [-(ell[0] - i) for i in range(ell[0])] + sorted(lab for lab, c in counts.items() if c == 1)
    ops = []
    for t, ls in zip(operands, labels):
        t, ls = _take_diagonals(t, ls)
        ops.append((t, ls))
    x, lx = ops[0]
    for i in range(1, len(ops)):
        later = set(out_labels)
        for _, ls in ops[i + 1:]:
            later |= set(ls)
        x, lx = _contract(x, lx, ops[i][0], ops[i][1], later)
    x, lx = _sum_labels(x, lx, {lab for lab in lx if lab not in out_labels})
    missing = [lab for lab in out_labels if lab not in lx]
    for lab in missing:  # an ellipsis dim no operand had (cannot happen for letters)
        x, lx = x.unsqueeze(0), [lab] + lx
    return x.permute(*[lx.index(lab) for lab in out_labels]) if out_labels else x.reshape(())


@register("tensordot", method=False)
def tensordot(a: Tensor, b: Tensor, dims=2, out=None) -> Tensor:
    """Contraction of a's last `dims` dims with b's first (or of the listed dim pairs)."""
    no_out("tensordot", out)
    if isinstance(dims, Tensor):  # a 0-d count, or the two dim lists as a (2, k) tensor
        dims = int(dims.item()) if dims.ndim == 0 else dims.tolist()
    if isinstance(dims, numbers.Integral):
        if dims < 0:
            raise RuntimeError(f"tensordot expects dims >= 0, but got dims={dims}")
        da, db = list(range(a.ndim - dims, a.ndim)), list(range(dims))
    else:
        da, db = dims
        da = [da] if isinstance(da, numbers.Integral) else list(da)
        db = [db] if isinstance(db, numbers.Integral) else list(db)
    da = [wrap_dim(d, a.ndim) for d in da]
    db = [wrap_dim(d, b.ndim) for d in db]
    if len(da) != len(db):
        raise RuntimeError("both dimension lists should have same length")
    for x, y in zip(da, db):
        if a.shape[x] != b.shape[y]:
            raise RuntimeError(f"contracted dimensions need to match, but first has size {a.shape[x]} in dim {x} and "
                               f"second has size {b.shape[y]} in dim {y}")
    ra = [d for d in range(a.ndim) if d not in da]
    rb = [d for d in range(b.ndim) if d not in db]
    csz = int(np.prod([a.shape[d] for d in da])) if da else 1
    asz = int(np.prod([a.shape[d] for d in ra])) if ra else 1
    bsz = int(np.prod([b.shape[d] for d in rb])) if rb else 1
    am = a.permute(*(ra + da)).reshape(asz, csz) if a.ndim else a.reshape(1, 1)
    bm = b.permute(*(db + rb)).reshape(csz, bsz) if b.ndim else b.reshape(1, 1)
    return am.matmul(bm).reshape(*([a.shape[d] for d in ra] + [b.shape[d] for d in rb]))


# ----------------------------------------------------------------------------- statistics


@register("cov")
def cov(input: Tensor, *, correction: int = 1, fweights: Tensor | None = None, aweights: Tensor | None = None) -> Tensor:
    """Covariance of the variables in input's rows (observations in columns), PyTorch's formula
    with frequency and analytic weights."""
    if input.ndim > 2:
        raise RuntimeError(f"cov(): expected input to have two or fewer dimensions but got an input with {input.ndim} dimensions")
    x = input if input.ndim == 2 else input.reshape(1, -1)
    if not x.is_floating_point():
        x = x.to(_core.float32)
    n_obs = x.shape[1]
    w = None
    if fweights is not None:
        if fweights.is_floating_point():
            raise RuntimeError(f"cov(): expected fweights to have integral dtype but got fweights with {fweights.dtype} dtype")
        w = fweights.to(x.dtype)
    if aweights is not None:
        if not aweights.is_floating_point():
            raise RuntimeError(f"cov(): expected aweights to have floating point dtype but got aweights with {aweights.dtype} dtype")
        w = aweights.to(x.dtype) if w is None else w * aweights.to(x.dtype)
    if w is None:
        w_sum = scalar_tensor(n_obs, x.dtype)
        avg = x.mean(1)
        norm = scalar_tensor(n_obs - correction, x.dtype)
    else:
        w_sum = w.sum()
        avg = (x * w).sum(1) / w_sum
        if correction == 0:
            norm = w_sum
        elif aweights is None:
            norm = w_sum - correction
        else:
            norm = w_sum - correction * (w * aweights.to(x.dtype)).sum() / w_sum
    norm = _core.where(norm <= 0, scalar_tensor(0, x.dtype), norm)
    xm = x - avg.unsqueeze(1)
    xw = xm if w is None else xm * w
    c = xw.matmul(xm.t()) / norm
    return c.squeeze()


@register("corrcoef")
def corrcoef(input: Tensor) -> Tensor:
    """Pearson correlation coefficients of input's rows, clipped to [-1, 1]."""
    c = cov(input)
    if c.ndim == 0:
        return c / c
    d = c.diagonal()
    std = d.sqrt()
    c = c / std.unsqueeze(1) / std.unsqueeze(0)
    return c.clamp(-1, 1)
