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


def test_ex_forms_judge_each_matrix_of_a_batch_alone():
    # One singular (or indefinite) matrix used to set info 1 and NaN for the whole batch.
    good, singular = [[2.0, 1.0], [1.0, 3.0]], [[1.0, 2.0], [2.0, 4.0]]
    inv, info = linalg.inv_ex(T([good, singular, good]))
    assert info.dtype == fg.int32 and info.tolist() == [0, 2, 0]  # the first zero pivot, 1-based
    np.testing.assert_allclose(inv[0].numpy(), np.linalg.inv(good), rtol=1e-12)
    np.testing.assert_allclose(inv[2].numpy(), np.linalg.inv(good), rtol=1e-12)
    assert np.isnan(inv[1].numpy()).all()
    indefinite3 = [[4.0, 1.0, 0.0], [1.0, 3.0, 0.0], [0.0, 0.0, -1.0]]
    indefinite2 = [[4.0, 1.0, 0.0], [1.0, -3.0, 0.0], [0.0, 0.0, 1.0]]
    spd = [[4.0, 1.0, 0.0], [1.0, 3.0, 0.5], [0.0, 0.5, 2.0]]
    L, info = linalg.cholesky_ex(T([indefinite3, indefinite2, spd]))
    assert info.tolist() == [3, 2, 0]  # the order of the first leading minor that is not positive-definite
    np.testing.assert_allclose(L[2].numpy(), np.linalg.cholesky(spd), rtol=1e-12)
    assert np.isnan(L[0].numpy()).all() and np.isnan(L[1].numpy()).all()
    assert linalg.cholesky_ex(T(indefinite3)).info.item() == 3
    U, info = linalg.cholesky_ex(T([spd, indefinite2]), upper=True)
    assert info.tolist() == [0, 2]
    np.testing.assert_allclose(U[0].numpy(), np.linalg.cholesky(spd).T, rtol=1e-12)


def test_ex_forms_gradients_reach_the_good_matrices():
    good, singular = [[2.0, 1.0], [1.0, 3.0]], [[1.0, 2.0], [2.0, 4.0]]
    a = T([good, singular], grad=True)
    linalg.inv_ex(a).inverse[0].sum().backward()
    inv = np.linalg.inv(good)
    # d sum(A^-1) / dA = -A^-T 1 1^T A^-T
    np.testing.assert_allclose(a.grad[0].numpy(), -inv.T @ np.ones((2, 2)) @ inv.T, rtol=1e-12)
    assert (a.grad[1].numpy() == 0).all()


def test_linalg_errors_name_the_batch_element_as_pytorch():
    good, singular = [[2.0, 0.0], [0.0, 2.0]], [[1.0, 2.0], [2.0, 4.0]]
    batch = T([good, singular])
    with pytest.raises(linalg.LinAlgError, match=r"^linalg.inv: \(Batch element 1\): The diagonal element 2 is zero"):
        linalg.inv(batch)
    with pytest.raises(linalg.LinAlgError, match=r"^linalg.inv: The diagonal element 2 is zero"):
        fg.inverse(T(singular))  # the Tensor-level name raised a plain RuntimeError
    with pytest.raises(linalg.LinAlgError, match=r"^torch.linalg.solve: \(Batch element 1\): The solver failed"):
        linalg.solve(batch, T([[1.0, 1.0], [1.0, 1.0]]))
    with pytest.raises(linalg.LinAlgError, match=r"^linalg.inv_ex: \(Batch element 1\)"):
        linalg.inv_ex(batch, check_errors=True)
    with pytest.raises(linalg.LinAlgError, match=r"^linalg.cholesky_ex: \(Batch element 1\).*order 2"):
        linalg.cholesky_ex(T([good, singular]), check_errors=True)
    with pytest.raises(linalg.LinAlgError, match=r"^linalg.cholesky: \(Batch element 1\).*order 2"):
        linalg.cholesky(batch)


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
