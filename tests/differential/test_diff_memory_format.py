"""Memory formats against PyTorch: strides of every format-making call on shapes with size-0 and
size-1 dims (where PyTorch's rules have their tie-breaks), and of preserving copies of views."""

from __future__ import annotations

import itertools

import pytest

torch = pytest.importorskip("torch")

import ferrograd as fg  # noqa: E402

FORMATS = ["contiguous_format", "channels_last", "channels_last_3d", "preserve_format"]
SHAPES = [s for s in itertools.product((0, 1, 2, 3), repeat=4)] + [(2, 3, 1, 2, 1), (1, 1, 3, 2, 2), (2, 0, 1, 2, 3), (3, 2, 2, 2, 2)]
# Views whose strides a preserving copy keeps, or does not (not dense, or overlapping).
VIEWS = {
    "permute": lambda L: L.arange(120.0).reshape(2, 3, 4, 5).permute(0, 2, 3, 1),
    "permute back": lambda L: L.arange(120.0).reshape(2, 4, 5, 3).permute(0, 3, 1, 2),
    "transpose": lambda L: L.arange(20.0).reshape(4, 5).t(),
    "step": lambda L: L.arange(24.0).reshape(4, 6)[:, ::2],
    "expand": lambda L: L.arange(4.0).reshape(4, 1).expand(4, 3),
    "channels-last slice": lambda L: L.arange(120.0).reshape(2, 4, 5, 3).permute(0, 3, 1, 2)[:, :, ::2],
    "N111": lambda L: L.arange(4.0).reshape(4, 1, 1, 1),
    "N11W slice": lambda L: L.arange(12.0).reshape(4, 1, 1, 3)[..., :1],
    "1C1W transposed": lambda L: L.arange(6.0).reshape(1, 3, 1, 2).transpose(1, 3),
    "3d permute": lambda L: L.arange(48.0).reshape(1, 2, 3, 4, 2).permute(0, 4, 1, 2, 3),
    "size-0 permute": lambda L: L.zeros(2, 0, 3, 4).permute(0, 2, 3, 1),
    "not dense, transposed": lambda L: L.arange(30.0).reshape(5, 6)[:, 1:].t(),
    "not dense, permuted 3d": lambda L: L.arange(60.0).reshape(3, 4, 5)[:, ::2].permute(2, 0, 1),
    "equal strides": lambda L: L.arange(4.0).reshape(2, 2).as_strided((2, 3), (1, 1)),
}


def _outcome(f):
    try:
        out = f()
    except (RuntimeError, TypeError) as e:
        return type(e).__name__
    return out if isinstance(out, bool) else (tuple(out.shape), tuple(out.stride()))


def _both(f):
    return _outcome(lambda: f(torch)), _outcome(lambda: f(fg))


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_format_strides_and_checks_match(shape):
    for name in FORMATS:
        for f in (lambda L, n=name: L.zeros(shape).contiguous(memory_format=getattr(L, n)),
                  lambda L, n=name: L.zeros(shape).is_contiguous(memory_format=getattr(L, n)),
                  lambda L, n=name: L.zeros(shape).contiguous(memory_format=getattr(L, n)).is_contiguous(),
                  lambda L, n=name: L.empty(shape, memory_format=getattr(L, n)),
                  lambda L, n=name: L.zeros(shape).clone(memory_format=getattr(L, n)),
                  lambda L, n=name: L.empty_like(L.zeros(shape), memory_format=getattr(L, n))):
            theirs, ours = _both(f)
            assert ours == theirs, (shape, name)


@pytest.mark.parametrize("view", VIEWS, ids=str)
def test_preserving_copies_match(view):
    make = VIEWS[view]
    for f in (lambda L: make(L).clone(), lambda L: L.empty_like(make(L)), lambda L: L.zeros_like(make(L)),
              lambda L: make(L).double(), lambda L: make(L).to(L.float16), lambda L: make(L).clone(memory_format=None),
              lambda L: L.full_like(make(L), 2.0, memory_format=None), lambda L: make(L).to(L.float64, memory_format=None),
              lambda L: make(L).type_as(L.zeros(1, dtype=L.float64)), lambda L: L.rand_like(make(L)),
              lambda L: make(L).is_contiguous(memory_format=L.channels_last),
              lambda L: make(L).clone(memory_format=L.channels_last),
              lambda L: make(L).contiguous(memory_format=L.channels_last_3d)):
        theirs, ours = _both(f)
        assert ours == theirs, view
    assert (make(fg).clone().numpy() == make(torch).clone().numpy()).all()


def test_module_to_channels_last_keeps_parameters_as_torch_does():
    """PyTorch keeps the Parameter objects (it re-lays their data out in place); ferrograd keeps
    them as they are, layout included (see Module.to), and refuses what PyTorch refuses."""
    for L in (torch, fg):
        model = L.nn.Sequential(L.nn.Conv2d(3, 4, 3), L.nn.BatchNorm2d(4), L.nn.Linear(3, 2))
        before = list(model.parameters())
        model.to(memory_format=L.channels_last)
        assert all(a is b for a, b in zip(before, model.parameters())), L.__name__
        with pytest.raises(RuntimeError, match="required rank 4"):
            L.nn.Conv3d(1, 1, 1).to(memory_format=L.channels_last)


def test_dim_order_matches_over_permutations_and_size_one_dims():
    """dim_order's short cuts are PyTorch's: contiguous or channels-last alone, and the sort when
    a tensor is both (size-1 dims); it returned the contiguous order for those."""
    for shape in [(2, 3, 1, 4), (2, 1, 1, 3), (1, 3, 4, 5), (2, 3, 4, 5)]:
        for perm in itertools.permutations(range(4)):
            for step in (1, 2):
                theirs = torch.zeros(*shape).permute(*perm)[:, ::step].dim_order()
                ours = fg.zeros(*shape).permute(*perm)[:, ::step].dim_order()
                assert ours == theirs, (shape, perm, step)
