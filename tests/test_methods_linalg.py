"""The torch.linalg functions of ferrograd/_methods/linalg_api.py, as `fg.linalg`: errors, the
*_ex forms and argument forms; values and gradients are in the op table."""

from __future__ import annotations

import math

import ferrograd as fg
import numpy as np
import pytest

linalg = fg.linalg


def T(a, grad=False):
    return fg.tensor(np.asarray(a, dtype=np.float64), requires_grad=grad)


def test_singular_and_indefinite_inputs_raise_linalg_error():
    with pytest.raises(linalg.LinAlgError, match="singular"):
        linalg.inv(fg.zeros(2, 2))
    with pytest.raises(linalg.LinAlgError, match="singular"):
        linalg.solve(T([[1.0, 2.0], [2.0, 4.0]]), T([1.0, 1.0]))
    with pytest.raises(linalg.LinAlgError, match="leading minor of order 2 is not positive-definite"):
        linalg.cholesky(T([[1.0, 2.0], [2.0, 1.0]]))
    assert issubclass(linalg.LinAlgError, RuntimeError)


def test_ex_forms_report_failure_in_info():
    inv, info = linalg.inv_ex(fg.zeros(2, 2))
    assert info.item() == 1 and math.isnan(inv[0, 0].item())
    L, info = linalg.cholesky_ex(T([[4.0, 2.0], [2.0, 3.0]]))
    assert info.item() == 0
    np.testing.assert_allclose(L.numpy(), [[2.0, 0.0], [1.0, math.sqrt(2.0)]])


def test_tensor_cholesky_is_removed_as_in_pytorch():
    with pytest.raises(RuntimeError, match="torch.linalg.cholesky"):
        fg.eye(2).cholesky()


def test_cholesky_reads_one_triangle_and_its_gradient_is_symmetric():
    a = T([[4.0, 100.0], [2.0, 3.0]], grad=True)  # the upper 100 is never read
    low = linalg.cholesky(a)
    np.testing.assert_allclose(low.detach().numpy(), [[2.0, 0.0], [1.0, math.sqrt(2.0)]])
    low.sum().backward()
    g = a.grad.numpy()
    np.testing.assert_allclose(g, g.T)


def test_norm_picks_vector_or_matrix_norm_as_pytorch():
    x = T([[3.0, 4.0], [1.0, 2.0]])
    assert linalg.norm(x).item() == pytest.approx(math.sqrt(30))
    assert linalg.norm(x, 1).item() == 6.0  # a matrix norm: the largest column sum
    assert linalg.norm(x, float("inf")).item() == 7.0
    assert linalg.norm(x, dim=1).tolist() == pytest.approx([5.0, math.sqrt(5)])
    assert linalg.vector_norm(x, 1).item() == 10.0
    with pytest.raises(NotImplementedError, match="singular values"):
        linalg.matrix_norm(x, "nuc")
    with pytest.raises(RuntimeError, match="must be 1D or 2D"):
        linalg.norm(fg.zeros(2, 2, 2), 2)


def test_solve_left_false_and_batched_vectors():
    a = T([[2.0, 1.0], [1.0, 3.0]])
    b = T([[1.0, 2.0]])
    x = linalg.solve(a, b, left=False)
    np.testing.assert_allclose((x.numpy() @ a.numpy()), b.numpy(), atol=1e-12)
    xs = linalg.solve(fg.stack([a, a * 2]), T([1.0, 1.0]))
    assert tuple(xs.shape) == (2, 2)
