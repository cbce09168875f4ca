"""fg.nn.SyncBatchNorm and convert_sync_batchnorm.

In one process (no process group) SyncBatchNorm must be BatchNorm exactly, mode features
included. The synchronised statistics and gradients are checked on real 2-process jobs
(tests/distributed_workers/syncbn_*.py: against a float64 numpy BatchNorm over the global batch,
and under DistributedDataParallel against one process; loopback only, bounded in time), skipped
without mpi4py/MPICH.
"""

import copy
import inspect
import re
import warnings

import ferrograd as fg
import ferrograd.distributed as dist
import ferrograd.nn as nn
import numpy as np
import pytest
from ferrograd.nn.utils import StatsUpdateWithoutGradWarning, UntrackedStatsWarning, freeze_batchnorm
from mpi_jobs import WORKERS, launch, needs_mpi, ranks_ok

BN_FOR_NDIM = {2: nn.BatchNorm1d, 3: nn.BatchNorm1d, 4: nn.BatchNorm2d, 5: nn.BatchNorm3d}


def _data(shape, seed=0, dtype=fg.float32):
    rng = np.random.default_rng(seed)
    return fg.tensor(rng.normal(size=shape) * 2.0 + 1.5, dtype=dtype)


def _same_weights(a, b):
    with fg.no_grad():
        a.weight.copy_(fg.linspace(0.5, 2.0, a.num_features))
        a.bias.copy_(fg.linspace(-1.0, 1.0, a.num_features))
        b.weight.copy_(a.weight)
        b.bias.copy_(a.bias)


# ---- one process: exactly BatchNorm ---------------------------------------------------------------

@pytest.mark.parametrize("shape", [(6, 3), (6, 3, 5), (4, 3, 3, 4), (3, 3, 2, 3, 2)])
@pytest.mark.parametrize("momentum", [0.1, None])
def test_without_a_process_group_it_is_batchnorm(shape, momentum):
    assert not dist.is_initialized()
    sync, bn = nn.SyncBatchNorm(3, momentum=momentum), BN_FOR_NDIM[len(shape)](3, momentum=momentum)
    _same_weights(sync, bn)
    for step in range(3):
        for training in (True, False):
            sync.train(training)
            bn.train(training)
            outs = []
            for m in (sync, bn):
                x = _data(shape, step).requires_grad_()
                m.zero_grad()
                y = m(x)
                (y * _data(shape, 10 + step)).sum().backward()
                outs.append([y.detach().numpy(), x.grad.numpy(), m.weight.grad.numpy(), m.bias.grad.numpy(),
                             m.running_mean.numpy(), m.running_var.numpy(), m.num_batches_tracked.item()])
            for a, b in zip(*outs):
                np.testing.assert_array_equal(a, b)
    assert sync.num_batches_tracked.item() == 3


def test_signature_repr_and_state_dict_are_pytorchs():
    # torch 2.15: SyncBatchNorm(num_features, eps=1e-05, momentum=0.1, affine=True,
    # track_running_stats=True, process_group=None, device=None, dtype=None, *, bias=True)
    params = inspect.signature(nn.SyncBatchNorm).parameters
    assert [(p.name, p.default, p.kind == p.KEYWORD_ONLY) for p in params.values()] == [
        ("num_features", inspect.Parameter.empty, False), ("eps", 1e-5, False), ("momentum", 0.1, False),
        ("affine", True, False), ("track_running_stats", True, False), ("process_group", None, False),
        ("device", None, False), ("dtype", None, False), ("bias", True, True)]
    m = nn.SyncBatchNorm(3)
    assert repr(m) == "SyncBatchNorm(3, eps=1e-05, momentum=0.1, affine=True, bias=True, track_running_stats=True)"
    assert list(m.state_dict()) == ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]
    assert m.process_group is None and isinstance(m, nn.modules.batchnorm._BatchNorm)
    assert fg.nn.SyncBatchNorm is nn.modules.syncbatchnorm.SyncBatchNorm
    assert nn.SyncBatchNorm(4, dtype=fg.float64).running_var.dtype == fg.float64


def test_bad_inputs_are_errors_with_pytorchs_messages():
    m = nn.SyncBatchNorm(3)
    with pytest.raises(ValueError, match=re.escape("expected at least 2D input (got 1D input)")):
        m(fg.randn(3))
    with pytest.raises(ValueError, match="number of input channels should be non-zero"):
        nn.SyncBatchNorm(0)(fg.randn(4, 0))
    with pytest.raises(RuntimeError, match="running_mean should contain 4 elements not 3"):
        m(fg.randn(2, 4, 5))
    with pytest.raises(ValueError, match="Expected more than 1 value per channel when training"):
        m(fg.randn(1, 3))
    assert m.num_batches_tracked.item() == 0
    m(fg.randn(1, 3, 2))  # a 2-valued channel is a batch; every rank of dims works
    m(fg.randn(2, 3, 2, 2, 2, 2))
    assert m.num_batches_tracked.item() == 2


def test_a_process_group_other_than_the_world_is_not_implemented():
    with pytest.raises(NotImplementedError, match="process_group='ranks 0-1'"):
        nn.SyncBatchNorm(3, process_group="ranks 0-1")
    with pytest.raises(NotImplementedError, match="no subgroups"):
        nn.SyncBatchNorm.convert_sync_batchnorm(nn.BatchNorm1d(3), process_group=object())


def test_a_failed_forward_changes_no_state():
    # The batch is counted after the normalisation succeeded (here the kernel's dtype check fails).
    for m in (nn.BatchNorm1d(3, momentum=None), nn.SyncBatchNorm(3, momentum=None)):
        with pytest.raises(RuntimeError, match="running_mean is ferrograd.float32 but the input is ferrograd.float64"):
            m(fg.randn(4, 3, dtype=fg.float64))
        assert m.num_batches_tracked.item() == 0
        xs = [_data((5, 3), s) for s in range(3)]
        for x in xs:
            m(x)
        np.testing.assert_allclose(m.running_mean.numpy(), np.mean([x.numpy().mean(0) for x in xs], 0), rtol=1e-6)


# ---- one process: the mode features --------------------------------------------------------------

def test_modes_pins_freeze_stats_and_inference_work_on_it():
    model = nn.Sequential(nn.Linear(3, 3), nn.SyncBatchNorm(3), nn.Dropout(0.5))
    x = _data((8, 3))
    model(x)
    report = model.modes()
    assert [(e.path, e.cls, e.mode) for e in report.entries] == [("1", "SyncBatchNorm", "train"), ("2", "Dropout", "train")]
    assert "normalises with batch statistics, updates running stats, num_batches_tracked=1" in report.entries[0].meaning
    with fg.inference(model):
        assert not model[1].training
        model(x)
    assert model[1].training and model[1].num_batches_tracked.item() == 1
    model[1].freeze_stats()
    model.train()
    assert not model[1].training and model[1].pinned_mode == "eval"
    before = model[1].running_mean.numpy().copy()
    model(x)
    np.testing.assert_array_equal(model[1].running_mean.numpy(), before)
    model[1].unpin_mode()
    assert freeze_batchnorm(model) is model and model[1].pinned_mode == "eval"


def test_knobs_batch_stats_without_updating():
    m = nn.SyncBatchNorm(3)
    m.update_running_stats = False
    x = _data((6, 3))
    y = m(x)
    assert m.num_batches_tracked.item() == 0 and (m.running_mean.numpy() == 0).all()
    np.testing.assert_allclose(y.detach().numpy(), nn.BatchNorm1d(3)(x).detach().numpy(), atol=1e-6)


def test_warnings_work_on_it():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        nn.SyncBatchNorm(3).eval()(_data((4, 3)))
        with fg.no_grad():
            nn.SyncBatchNorm(3)(_data((4, 3)))
    cats = [w.category for w in caught]
    assert cats == [UntrackedStatsWarning, StatsUpdateWithoutGradWarning], [str(w.message) for w in caught]
    assert "SyncBatchNorm is in eval mode" in str(caught[0].message)


# ---- convert_sync_batchnorm -----------------------------------------------------------------------

class SmallCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU())
        self.body = nn.Sequential(nn.Sequential(nn.Conv2d(4, 4, 3, padding=1), nn.BatchNorm2d(4, momentum=None, eps=1e-3)),
                                  nn.InstanceNorm2d(4, affine=True), nn.GroupNorm(2, 4))
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(4 * 5 * 5, 6), nn.BatchNorm1d(6, affine=False),
                                  nn.Linear(6, 6), nn.BatchNorm1d(6, bias=False, track_running_stats=False))

    def forward(self, x):
        return self.head(self.body(self.stem(x)))


def test_convert_replaces_exactly_the_batchnorms_and_keeps_everything():
    fg.manual_seed(0)
    model = SmallCNN()
    model(_data((4, 2, 5, 5)))
    model.body[0][1].pin_mode("eval")
    model.head[2].use_batch_stats = True
    model.head[2].update_running_stats = False
    model.head.eval()
    reference = copy.deepcopy(model)
    seen = []
    handle = model.stem[1].register_forward_hook(lambda mod, args, out: seen.append(type(mod).__name__))
    params = dict(model.named_parameters())
    buffers = dict(model.named_buffers())
    keys = list(model.state_dict())
    flags = {name: m.training for name, m in model.named_modules()}
    old_layers = {name: m for name, m in model.named_modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)}

    out = nn.SyncBatchNorm.convert_sync_batchnorm(model)

    assert out is model
    converted = {name for name, m in model.named_modules() if isinstance(m, nn.SyncBatchNorm)}
    assert converted == {"stem.1", "body.0.1", "head.2", "head.4"} == set(old_layers)
    assert type(model.body[1]) is nn.InstanceNorm2d and type(model.body[2]) is nn.GroupNorm
    for name, m in model.named_modules():
        if name in old_layers:
            old = old_layers[name]
            for attr in ("num_features", "eps", "momentum", "affine", "track_running_stats", "training",
                         "use_batch_stats", "update_running_stats", "pinned_mode"):
                assert getattr(m, attr) == getattr(old, attr), (name, attr)
            assert (m.bias is None) == (old.bias is None) and m.process_group is None
    assert all(p is params[n] for n, p in model.named_parameters()) and len(params) == len(list(model.parameters()))
    assert all(b is buffers[n] for n, b in model.named_buffers())
    assert list(model.state_dict()) == keys
    assert {name: m.training for name, m in model.named_modules()} == flags
    assert model.body[0][1].pinned_mode == "eval"
    x = _data((4, 2, 5, 5), 1)
    np.testing.assert_array_equal(model(x).detach().numpy(), reference(x).detach().numpy())
    assert seen == ["SyncBatchNorm"]
    handle.remove()
    model(x)
    assert seen == ["SyncBatchNorm"]
    model.train()
    assert model.body[0][1].training is False  # the pin still holds


def test_convert_a_batchnorm_returns_a_new_layer_and_other_modules_themselves():
    bn = nn.BatchNorm3d(5, eps=1e-4, momentum=0.2, dtype=fg.float64).eval()
    sync = nn.SyncBatchNorm.convert_sync_batchnorm(bn)
    assert type(sync) is nn.SyncBatchNorm and sync is not bn and not sync.training
    assert sync.weight is bn.weight and sync.running_var is bn.running_var and sync.weight.dtype == fg.float64
    assert (sync.eps, sync.momentum) == (1e-4, 0.2)
    lin = nn.Linear(2, 2)
    assert nn.SyncBatchNorm.convert_sync_batchnorm(lin) is lin


def test_convert_a_lazy_batchnorm_once_materialised():
    lazy = nn.LazyBatchNorm1d()
    with pytest.raises(ValueError, match="LazyBatchNorm1d '0' is lazy and not materialised"):
        nn.SyncBatchNorm.convert_sync_batchnorm(nn.Sequential(lazy))
    lazy(_data((4, 3)))
    sync = nn.SyncBatchNorm.convert_sync_batchnorm(nn.Sequential(lazy))[0]
    assert type(sync) is nn.SyncBatchNorm and sync.num_features == 3 and sync.running_mean is lazy.running_mean


def test_convert_matches_pytorchs_layout():
    torch = pytest.importorskip("torch")
    tm = torch.nn.Sequential(torch.nn.Conv2d(2, 4, 3), torch.nn.BatchNorm2d(4),
                             torch.nn.Sequential(torch.nn.BatchNorm1d(4, affine=False), torch.nn.InstanceNorm1d(4)))
    fm = nn.Sequential(nn.Conv2d(2, 4, 3), nn.BatchNorm2d(4), nn.Sequential(nn.BatchNorm1d(4, affine=False), nn.InstanceNorm1d(4)))
    tm, fm = torch.nn.SyncBatchNorm.convert_sync_batchnorm(tm), nn.SyncBatchNorm.convert_sync_batchnorm(fm)
    assert [type(m).__name__ for m in tm.modules()] == [type(m).__name__ for m in fm.modules()]
    assert list(tm.state_dict()) == list(fm.state_dict())
    assert repr(tm[1]) == repr(fm[1]) and repr(tm[2][0]) == repr(fm[2][0])


# ---- a real 2-process job -------------------------------------------------------------------------

@needs_mpi
def test_synchronised_statistics_and_gradients_on_two_processes():
    # Every input rank and both float dtypes, uneven, empty and one-sample shares, finite
    # differences of the global loss, eval without communication, the errors (global batch of one,
    # different widths), and a converted CNN against BatchNorm on the whole batch.
    r = launch(WORKERS / "syncbn_numerics.py", 2, max_time=120)
    assert r.returncode == 0 and ranks_ok(r, 2), r.stdout + r.stderr


@needs_mpi
def test_converted_cnn_under_ddp_matches_one_process_and_plain_batchnorm_does_not():
    r = launch(WORKERS / "syncbn_ddp.py", 2, max_time=120)
    assert r.returncode == 0 and ranks_ok(r, 2), r.stdout + r.stderr
