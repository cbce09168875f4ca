"""Optimizer state dicts: PyTorch's layout, round trips that continue identically, casting, and
validation before anything changes."""

from __future__ import annotations

import copy
import pickle
import re

import ferrograd as fg
import numpy as np
import pytest
from optim_reference import P0, train

OPTIMIZERS = {
    "SGD": lambda ps: fg.optim.SGD(ps, lr=0.05, momentum=0.9, nesterov=True),
    "Adam": lambda ps: fg.optim.Adam(ps, lr=0.05, amsgrad=True),
    "AdamW": lambda ps: fg.optim.AdamW(ps, lr=0.05),
    "RMSprop": lambda ps: fg.optim.RMSprop(ps, lr=0.01, momentum=0.5, centered=True),
    "Adagrad": lambda ps: fg.optim.Adagrad(ps, lr=0.1, lr_decay=0.1),
    "Adadelta": lambda ps: fg.optim.Adadelta(ps, weight_decay=0.1),
}


@pytest.mark.parametrize("name", list(OPTIMIZERS))
@pytest.mark.parametrize("transfer", ["deepcopy", "pickle"])
def test_state_dict_round_trip_continues_identically(name, transfer):
    make = OPTIMIZERS[name]
    p = fg.nn.Parameter(fg.tensor(P0))
    opt = make([p])
    train(p, opt, 3)
    sd = opt.state_dict()
    saved = copy.deepcopy(sd) if transfer == "deepcopy" else pickle.loads(pickle.dumps(sd))
    q = fg.nn.Parameter(p.detach().clone())
    opt2 = make([q])
    opt2.load_state_dict(saved)
    train(p, opt, 3)
    train(q, opt2, 3)
    np.testing.assert_array_equal(q.detach().numpy(), p.detach().numpy())
    # Loading copies: stepping the new optimizer leaves the loaded dict alone.
    before = {k: v.numpy().copy() for k, v in saved["state"][0].items()}
    train(q, opt2, 1)
    assert all(np.array_equal(before[k], saved["state"][0][k].numpy()) for k in before)


def test_state_dict_has_pytorchs_layout():
    w, b, c = (fg.nn.Parameter(fg.zeros(s)) for s in [(2, 3), (3,), (1,)])
    opt = fg.optim.Adam([{"params": [w, b]}, {"params": [c], "lr": 0.5}])
    (w.sum() + b.sum()).backward()
    opt.step()
    sd = opt.state_dict()
    assert set(sd) == {"state", "param_groups"}
    assert sorted(sd["state"]) == [0, 1]  # c had no grad: no state
    assert [g["params"] for g in sd["param_groups"]] == [[0, 1], [2]]
    assert sd["param_groups"][1]["lr"] == 0.5 and sd["param_groups"][0]["betas"] == (0.9, 0.999)
    assert set(sd["state"][0]) == {"step", "exp_avg", "exp_avg_sq"}
    assert sd["state"][0]["step"].item() == 1.0 and sd["state"][1]["exp_avg"].shape == (3,)
    assert sd["state"][0]["exp_avg"] is opt.state[w]["exp_avg"]  # references, as PyTorch


def test_load_state_dict_casts_state_to_the_parameter_dtype():
    p64 = fg.nn.Parameter(fg.tensor(P0))
    opt = fg.optim.Adam([p64])
    train(p64, opt, 2)
    p32 = fg.nn.Parameter(fg.tensor(P0, dtype=fg.float32))
    opt32 = fg.optim.Adam([p32])
    opt32.load_state_dict(opt.state_dict())
    assert opt32.state[p32]["exp_avg"].dtype == fg.float32 and opt32.state[p32]["step"].dtype == fg.float32
    train(p32, opt32, 1)


def test_load_state_dict_checks_everything_before_changing_anything():
    p, q = fg.nn.Parameter(fg.tensor(P0)), fg.nn.Parameter(fg.zeros(4))
    opt = fg.optim.SGD([p, q], lr=0.1, momentum=0.9)
    p.grad, q.grad = fg.ones(2, 3, dtype=fg.float64), fg.ones(4)
    opt.step()
    good = copy.deepcopy(opt.state_dict())

    target_p, target_q = fg.nn.Parameter(fg.tensor(P0)), fg.nn.Parameter(fg.zeros(4))
    target = fg.optim.SGD([target_p, target_q], lr=0.7)
    snapshot = (copy.deepcopy(target.param_groups[0]["lr"]), dict(target.state))

    bad_groups = copy.deepcopy(good)
    bad_groups["param_groups"].append(copy.deepcopy(bad_groups["param_groups"][0]))
    with pytest.raises(ValueError, match="loaded state dict has a different number of parameter groups"):
        target.load_state_dict(bad_groups)
    bad_size = copy.deepcopy(good)
    bad_size["param_groups"][0]["params"] = [0]
    with pytest.raises(ValueError, match="doesn't match the size of optimizer's group"):
        target.load_state_dict(bad_size)
    bad_shape = copy.deepcopy(good)
    bad_shape["state"][1]["momentum_buffer"] = fg.zeros(5)
    with pytest.raises(ValueError, match=re.escape("'momentum_buffer' of shape (5,) for parameter 1, but that parameter has shape (4,)")):
        target.load_state_dict(bad_shape)
    assert (target.param_groups[0]["lr"], dict(target.state)) == snapshot
    target.load_state_dict(good)
    assert target.param_groups[0]["lr"] == 0.1 and target.param_groups[0]["params"] == [target_p, target_q]


def test_loading_fills_missing_options_and_adamw_stays_decoupled():
    p = fg.nn.Parameter(fg.tensor(P0))
    adam = fg.optim.Adam([p], lr=0.05, weight_decay=0.1)
    train(p, adam, 2)
    sd = copy.deepcopy(adam.state_dict())
    del sd["param_groups"][0]["maximize"]  # as from an older version
    q = fg.nn.Parameter(p.detach().clone())
    adamw = fg.optim.AdamW([q])
    adamw.load_state_dict(sd)
    group = adamw.param_groups[0]
    assert group["decoupled_weight_decay"] is True and group["maximize"] is False and group["lr"] == 0.05
    train(q, adamw, 1)


def test_named_parameters_as_pytorch_2_6():
    """`SGD(model.named_parameters())`: the names go into the group as "param_names" (and the
    state_dict); the updates are those of the plain parameters."""
    fg.manual_seed(0)
    named, plain = fg.nn.Linear(3, 2), fg.nn.Linear(3, 2)
    plain.load_state_dict(named.state_dict())
    opts = [fg.optim.Adam(named.named_parameters(), lr=0.1), fg.optim.Adam(plain.parameters(), lr=0.1)]
    x = fg.randn(4, 3)
    for _ in range(3):
        for model, opt in zip((named, plain), opts):
            opt.zero_grad()
            model(x).square().sum().backward()
            opt.step()
    assert fg.equal(named.weight, plain.weight) and fg.equal(named.bias, plain.bias)
    assert opts[0].param_groups[0]["param_names"] == ["weight", "bias"]
    assert opts[0].state_dict()["param_groups"][0]["param_names"] == ["weight", "bias"]
    again = fg.optim.Adam(named.named_parameters(), lr=0.1)
    again.load_state_dict(opts[0].state_dict())
    with pytest.raises(ValueError, match="Some param names are missing"):
        fg.optim.SGD([("w", named.weight), named.bias], lr=0.1)
    with pytest.raises(ValueError, match="with/without names"):
        fg.optim.SGD([{"params": [("w", named.weight)]}, {"params": [named.bias]}], lr=0.1)
