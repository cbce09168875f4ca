"""nn.Module API: registration, traversal, modes, dtype conversion, state_dict, hooks,
containers and repr. Expected behaviour is PyTorch's (see the shared reference file)."""

from collections import OrderedDict

import ferrograd as fg
import numpy as np
import pytest
from ferrograd import nn


def npa(t):
    return t.detach().numpy().copy()


def names(pairs):
    return [n for n, _ in pairs]


def x_in(shape, seed=0):
    return fg.tensor(np.random.default_rng(seed).standard_normal(shape).astype(np.float32))


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(4, 6)
        self.bn1 = nn.BatchNorm1d(6)
        self.fc2 = nn.Linear(6, 3)

    def forward(self, x):
        return self.fc2(self.bn1(self.fc1(x)).relu())


NET_KEYS = ["fc1.weight", "fc1.bias", "bn1.weight", "bn1.bias", "bn1.running_mean", "bn1.running_var",
            "bn1.num_batches_tracked", "fc2.weight", "fc2.bias"]


def seq_model():
    return nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Dropout(0.2), nn.Linear(8, 2))


SEQ_KEYS = ["0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean", "1.running_var",
            "1.num_batches_tracked", "4.weight", "4.bias"]


def snapshot(m):
    return {k: npa(v) for k, v in m.state_dict().items()}


def assert_same_snapshot(a, b):
    assert list(a) == list(b)
    for k in a:
        assert a[k].dtype == b[k].dtype, k
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


# ---- registration -----------------------------------------------------------------------

def test_parameter_and_submodule_registration_by_assignment():
    m = nn.Module()
    m.w = nn.Parameter(fg.ones(3))
    m.plain = fg.zeros(2)  # a plain tensor attribute is not registered
    m.sub = nn.Linear(2, 2)
    assert names(m.named_parameters()) == ["w", "sub.weight", "sub.bias"]
    assert m.w.requires_grad and isinstance(m.w, nn.Parameter)
    assert names(m.named_children()) == ["sub"]
    assert list(m.state_dict()) == ["w", "sub.weight", "sub.bias"]


def test_register_buffer_persistent_and_not():
    m = nn.Module()
    m.register_buffer("a", fg.zeros(2))
    m.register_buffer("b", fg.ones(3), persistent=False)
    assert names(m.named_buffers()) == ["a", "b"]
    assert list(m.state_dict()) == ["a"]
    assert list(m.parameters()) == []
    np.testing.assert_array_equal(m.b.numpy(), np.ones(3, np.float32))
    m.register_parameter("p", None)  # declared but absent, like Linear(bias=False)
    assert m.p is None and list(m.named_parameters()) == [] and list(m.state_dict()) == ["a"]


def test_assigning_non_parameter_to_parameter_name_is_type_error():
    m = nn.Linear(2, 3)
    with pytest.raises(TypeError):
        m.weight = fg.zeros(3, 2)
    with pytest.raises(TypeError):
        m.register_parameter("q", fg.zeros(2))
    m.bias = None  # None is allowed
    assert m.bias is None and names(m.named_parameters()) == ["weight"]


# ---- traversal ----------------------------------------------------------------------------

def test_named_traversal_dotted_names():
    m = nn.Sequential(nn.Linear(2, 3), nn.Sequential(nn.ReLU(), nn.Linear(3, 1)), nn.BatchNorm1d(1))
    assert names(m.named_modules()) == ["", "0", "1", "1.0", "1.1", "2"]
    assert len(list(m.modules())) == 6 and list(m.children()) == [m[0], m[1], m[2]]
    assert names(m.named_children()) == ["0", "1", "2"]
    assert names(m.named_parameters()) == ["0.weight", "0.bias", "1.1.weight", "1.1.bias", "2.weight", "2.bias"]
    assert names(m.named_buffers()) == ["2.running_mean", "2.running_var", "2.num_batches_tracked"]
    assert len(list(m.parameters())) == 6 and len(list(m.buffers())) == 3
    assert names(m.named_parameters(recurse=False)) == []
    assert names(m[1].named_parameters(prefix="blk")) == ["blk.1.weight", "blk.1.bias"]


def test_shared_parameters_and_modules_counted_once():
    m = nn.Module()
    m.a = nn.Linear(3, 3)
    m.b = nn.Linear(3, 3)
    m.b.weight = m.a.weight
    assert names(m.named_parameters()) == ["a.weight", "a.bias", "b.bias"]
    assert len(list(m.parameters())) == 3
    assert set(m.state_dict()) == {"a.weight", "a.bias", "b.weight", "b.bias"}  # every name, as PyTorch
    shared = nn.Linear(2, 2)
    s = nn.Sequential(shared, nn.ReLU(), shared)
    assert names(s.named_modules()) == ["", "0", "1"]
    assert len(list(s.parameters())) == 2
    assert names(s.named_children()) == ["0", "1"]


def test_reassigning_a_parameter_or_buffer_keeps_its_position():
    # PyTorch stores into the existing dict slot, so key order is unchanged.
    lin = nn.Linear(2, 2)
    lin.weight = nn.Parameter(fg.zeros(2, 2))
    assert list(lin.state_dict()) == ["weight", "bias"]
    m = nn.Module()
    for name, t in [("a", fg.zeros(1)), ("b", fg.zeros(1)), ("a", fg.ones(2))]:
        m.register_buffer(name, t)
    assert list(m.state_dict()) == ["a", "b"]


def test_apply_visits_children_first_and_returns_self():
    inner = nn.Sequential(nn.ReLU(), nn.Tanh())
    m = nn.Sequential(nn.Linear(2, 2), inner)
    seen = []
    assert m.apply(lambda mod: seen.append(mod)) is m
    assert seen == [m[0], inner[0], inner[1], inner, m]


def test_zero_grad_set_to_none_and_zeros():
    m = Net()
    m(x_in((5, 4))).sum().backward()
    assert all(p.grad is not None for p in m.parameters())
    m.zero_grad(set_to_none=False)
    for p in m.parameters():
        np.testing.assert_array_equal(p.grad.numpy(), np.zeros(tuple(p.shape), np.float32))
    m.zero_grad()  # default set_to_none=True
    assert all(p.grad is None for p in m.parameters())


def test_requires_grad_false():
    m = Net()
    assert m.requires_grad_(False) is m and all(not p.requires_grad for p in m.parameters())
    assert not m(x_in((3, 4))).requires_grad
    m.requires_grad_()
    assert all(p.requires_grad for p in m.parameters())


def test_to_double_float_converts_floats_keeps_int_buffer():
    m = Net()
    before = snapshot(m)
    assert m.to(fg.float64) is m
    for name, t in list(m.named_parameters()) + list(m.named_buffers()):
        want = fg.int64 if name.endswith("num_batches_tracked") else fg.float64
        assert t.dtype == want, name
    assert all(isinstance(p, nn.Parameter) and p.requires_grad for p in m.parameters())
    for k, v in m.state_dict().items():
        np.testing.assert_allclose(npa(v), before[k].astype(npa(v).dtype), err_msg=k)
    assert m(fg.tensor(np.ones((3, 4)))).dtype == fg.float64
    assert m.float() is m and all(p.dtype == fg.float32 for p in m.parameters())
    assert m.bn1.running_mean.dtype == fg.float32 and m.bn1.num_batches_tracked.dtype == fg.int64
    assert m.double() is m and m.fc2.weight.dtype == fg.float64 and m.bn1.running_var.dtype == fg.float64
    assert m.bn1.num_batches_tracked.dtype == fg.int64


# ---- train / eval -------------------------------------------------------------------------

def test_train_eval_recursion_returns_self():
    m = nn.Sequential(nn.Linear(2, 2), nn.Sequential(nn.Dropout(), nn.BatchNorm1d(2)))
    for call, want in [(lambda: m, True), (m.eval, False), (m.train, True), (lambda: m.train(False), False)]:
        assert call() is m
        assert [x.training for x in m.modules()] == [want] * 5


@pytest.mark.parametrize("bad", [0, 1, "False", None, np.bool_(True)])
def test_train_non_bool_is_value_error(bad):
    m = nn.Sequential(nn.Dropout())
    with pytest.raises(ValueError, match="training mode is expected to be boolean"):
        m.train(bad)
    assert m.training is True and m[0].training is True


def test_training_attribute_assignment_does_not_recurse():
    m = nn.Sequential(nn.Dropout(), nn.Linear(2, 2))
    m.training = False
    assert m.training is False and m[0].training and m[1].training


def test_child_added_after_eval_starts_in_training():
    m = nn.Sequential(nn.Linear(2, 2)).eval()
    m.append(nn.Dropout())
    m.extra = nn.BatchNorm1d(2)
    assert not m.training and not m[0].training
    assert m[1].training and m.extra.training


def test_training_flag_not_in_state_dict_and_untouched_by_load():
    a, b = Net(), Net()
    assert not any("training" in k for k in a.state_dict())
    b.eval()
    b.load_state_dict(a.state_dict())
    assert all(not x.training for x in b.modules())
    a.load_state_dict(b.state_dict())
    assert all(x.training for x in a.modules())


def test_eval_does_not_disable_autograd():
    m = seq_model().eval()
    x = x_in((5, 4)).requires_grad_(True)
    out = m(x)
    assert out.requires_grad and out.grad_fn is not None
    out.sum().backward()
    assert x.grad is not None and all(p.grad is not None for p in m.parameters())
    assert np.abs(m[0].weight.grad.numpy()).sum() > 0


# ---- state_dict ---------------------------------------------------------------------------

@pytest.mark.parametrize("make,keys", [(seq_model, SEQ_KEYS), (Net, NET_KEYS)], ids=["sequential", "custom"])
def test_state_dict_keys_in_pytorch_order(make, keys):
    assert list(make().state_dict()) == keys


def test_state_dict_values_detached_and_share_storage():
    m = Net()
    sd = m.state_dict()
    for k, v in sd.items():
        assert not v.requires_grad and not isinstance(v, nn.Parameter), k
    assert sd["fc1.weight"].data_ptr() == m.fc1.weight.data_ptr()
    with fg.no_grad():
        m.fc1.weight.fill_(3.0)
        m.bn1.running_mean.fill_(-2.0)
    np.testing.assert_array_equal(sd["fc1.weight"].numpy(), np.full((6, 4), 3.0, np.float32))
    np.testing.assert_array_equal(sd["bn1.running_mean"].numpy(), np.full(6, -2.0, np.float32))
    nbt = sd["bn1.num_batches_tracked"]
    assert nbt.dtype == fg.int64 and tuple(nbt.shape) == () and nbt.item() == 0


def test_state_dict_initial_batchnorm_values():
    sd = seq_model().state_dict()
    for k, v in [("1.weight", 1), ("1.bias", 0), ("1.running_mean", 0), ("1.running_var", 1)]:
        np.testing.assert_array_equal(sd[k].numpy(), np.full(8, v, np.float32), err_msg=k)


# ---- load_state_dict ----------------------------------------------------------------------

def test_load_state_dict_round_trip_identical_outputs():
    fg.manual_seed(1)
    a = seq_model()
    a(x_in((16, 4), seed=3))  # move running stats away from their initial values
    fg.manual_seed(2)
    b = seq_model()
    res = b.load_state_dict(a.state_dict())
    assert list(res.missing_keys) == [] and list(res.unexpected_keys) == []
    assert_same_snapshot(snapshot(a), snapshot(b))
    assert b[1].num_batches_tracked.item() == 1
    x = x_in((7, 4), seed=4)
    np.testing.assert_array_equal(npa(a.eval()(x)), npa(b.eval()(x)))


def test_load_state_dict_accepts_numpy_arrays():
    a, b = Net(), Net()
    a(x_in((8, 4)))
    b.load_state_dict({k: v.numpy().copy() for k, v in a.state_dict().items()})
    assert_same_snapshot(snapshot(a), snapshot(b))
    assert b.bn1.num_batches_tracked.dtype == fg.int64


def test_load_state_dict_does_not_alias_source():
    a, b = Net(), Net()
    b.load_state_dict(a.state_dict())
    with fg.no_grad():
        a.fc1.weight.fill_(5.0)
    assert not np.any(b.fc1.weight.detach().numpy() == 5.0)


def test_load_state_dict_non_strict_returns_namedtuple():
    a, b = Net(), Net()
    sd = a.state_dict()
    del sd["fc2.bias"]
    sd["extra.weight"] = fg.zeros(2)
    res = b.load_state_dict(sd, strict=False)
    missing, unexpected = res
    assert res.missing_keys == missing == ["fc2.bias"]
    assert res.unexpected_keys == unexpected == ["extra.weight"]
    np.testing.assert_array_equal(npa(b.fc1.weight), npa(a.fc1.weight))


def _bad_dict(case):
    sd = Net().state_dict()
    assert list(sd)[-1] == "fc2.bias"
    if case == "missing":
        del sd["fc2.bias"]
        return sd, r'Missing key\(s\) in state_dict: "fc2\.bias"'
    if case == "unexpected":
        sd["fc3.weight"] = fg.zeros(3, 3)
        return sd, r'Unexpected key\(s\) in state_dict: "fc3\.weight"'
    if case == "shape_last":  # the bad key comes AFTER all the good ones
        sd["fc2.bias"] = fg.zeros(4)
        return sd, r"size mismatch for fc2\.bias"
    sd["fc1.weight"] = fg.zeros(4, 6)
    return sd, r"size mismatch for fc1\.weight"


@pytest.mark.parametrize("case,strict", [("missing", True), ("unexpected", True), ("shape_last", True),
                                         ("shape_first", True), ("shape_last", False)])
def test_load_state_dict_failure_leaves_model_unchanged(case, strict):
    # a size mismatch is an error even with strict=False, as in PyTorch
    fg.manual_seed(7)
    sd, pattern = _bad_dict(case)
    m = Net()
    before = snapshot(m)
    with pytest.raises(RuntimeError, match=pattern):
        m.load_state_dict(sd, strict=strict)
    assert_same_snapshot(before, snapshot(m))


# ---- calling and hooks --------------------------------------------------------------------

def test_call_runs_forward_with_args():
    class Add(nn.Module):
        def forward(self, a, b, scale=1.0):
            return (a + b) * scale

    np.testing.assert_array_equal(Add()(fg.tensor([1.0, 2.0]), fg.tensor([3.0, 4.0]), scale=2.0).numpy(), [8, 12])
    with pytest.raises(NotImplementedError):
        nn.Module()(fg.ones(1))


def test_forward_hook_replaces_output_and_remove():
    m, calls = nn.Identity(), []
    h = m.register_forward_hook(lambda mod, args, out: calls.append((mod, len(args))) or out * 2)
    np.testing.assert_array_equal(m(fg.tensor([1.0, 3.0])).numpy(), [2.0, 6.0])
    assert calls == [(m, 1)]
    h.remove()
    np.testing.assert_array_equal(m(fg.tensor([1.0, 3.0])).numpy(), [1.0, 3.0])
    assert len(calls) == 1
    seen = []
    m.register_forward_hook(lambda mod, args, out: seen.append(npa(out)))  # None keeps the output
    np.testing.assert_array_equal(m(fg.tensor([5.0])).numpy(), [5.0])
    np.testing.assert_array_equal(seen[0], [5.0])


def test_forward_pre_hook_replaces_args_and_remove():
    lin = nn.Linear(2, 1, bias=False)
    with fg.no_grad():
        lin.weight.fill_(1.0)
    h1 = lin.register_forward_pre_hook(lambda mod, args: (args[0] * 10,))
    np.testing.assert_allclose(npa(lin(fg.tensor([[1.0, 2.0]]))), [[30.0]])
    h1.remove()
    h2 = lin.register_forward_pre_hook(lambda mod, args: args[0] + 1)  # a bare value is wrapped
    np.testing.assert_allclose(npa(lin(fg.tensor([[1.0, 2.0]]))), [[5.0]])
    h2.remove()
    np.testing.assert_allclose(npa(lin(fg.tensor([[1.0, 2.0]]))), [[3.0]])


# ---- containers ---------------------------------------------------------------------------

def test_sequential_indexing_len_iter_append():
    layers = [nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 4), nn.Tanh()]
    s = nn.Sequential(*layers)
    assert len(s) == 4 and list(s) == layers
    assert s[0] is layers[0] and s[-1] is layers[3] and s[-4] is layers[0]
    sub = s[1:3]
    assert isinstance(sub, nn.Sequential) and list(sub) == layers[1:3]
    for bad in (4, -5):
        with pytest.raises(IndexError):
            s[bad]
    extra = nn.Sigmoid()
    assert s.append(extra) is s
    assert len(s) == 5 and s[4] is extra and names(s.named_children())[-1] == "4"
    x = np.random.default_rng(0).standard_normal((3, 2)).astype(np.float32)
    h = np.maximum(x @ npa(layers[0].weight).T + npa(layers[0].bias), 0)
    ref = 1 / (1 + np.exp(-np.tanh(h @ npa(layers[2].weight).T + npa(layers[2].bias))))
    np.testing.assert_allclose(npa(s(fg.tensor(x))), ref, rtol=1e-5, atol=1e-6)


def test_container_setitem_replaces_in_place():
    x = fg.tensor([[-1.0, 2.0]])
    s = nn.Sequential(nn.Identity(), nn.ReLU())
    s[0] = nn.Sigmoid()  # must stay first: sigmoid then relu
    assert names(s.named_children()) == ["0", "1"] and isinstance(s[0], nn.Sigmoid)
    np.testing.assert_allclose(npa(s(x)), 1 / (1 + np.exp(-np.array([[-1.0, 2.0]]))), rtol=1e-6)
    ml = nn.ModuleList([nn.ReLU(), nn.Tanh()])
    ml[0] = nn.Sigmoid()
    assert isinstance(ml[0], nn.Sigmoid) and isinstance(ml[1], nn.Tanh)


def test_sequential_from_ordered_dict():
    s = nn.Sequential(OrderedDict([("fc", nn.Linear(2, 2)), ("act", nn.ReLU())]))
    assert list(s.state_dict()) == ["fc.weight", "fc.bias"] and s.fc is s[0]


def test_module_list():
    a, b, c, d = nn.Linear(1, 2), nn.Linear(2, 3), nn.Linear(3, 4), nn.ReLU()
    ml = nn.ModuleList([a])
    assert ml.append(b) is ml
    ml.extend([c])
    ml.insert(1, d)
    assert list(ml) == [a, d, b, c] and len(ml) == 4
    assert ml[0] is a and ml[-1] is c and ml[1] is d
    assert names(ml.named_parameters()) == ["0.weight", "0.bias", "2.weight", "2.bias", "3.weight", "3.bias"]
    holder = nn.Module()
    holder.layers = ml
    assert len(list(holder.parameters())) == 6 and list(holder.state_dict())[0] == "layers.0.weight"


def test_module_dict():
    md = nn.ModuleDict({"enc": nn.Linear(2, 3)})
    md["dec"] = nn.Linear(3, 2)
    md.update([("act", nn.ReLU())])
    assert list(md.keys()) == list(md) == names(md.items()) == ["enc", "dec", "act"] and len(md) == 3
    assert "dec" in md and "nope" not in md and md["act"] is list(md.values())[2]
    assert names(md.named_parameters()) == ["enc.weight", "enc.bias", "dec.weight", "dec.bias"]
    popped = md.pop("dec")
    assert isinstance(popped, nn.Linear) and list(md.keys()) == ["enc", "act"]
    del md["act"]
    assert list(md.state_dict()) == ["enc.weight", "enc.bias"]


# ---- repr ---------------------------------------------------------------------------------

def test_nested_repr_matches_pytorch():
    m = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Dropout(p=0.2))
    assert repr(m) == (
        "Sequential(\n"
        "  (0): Linear(in_features=4, out_features=8, bias=True)\n"
        "  (1): BatchNorm1d(8, eps=1e-05, momentum=0.1, affine=True, bias=True, track_running_stats=True)\n"
        "  (2): ReLU()\n"
        "  (3): Dropout(p=0.2, inplace=False)\n"
        ")"
    )


def test_custom_module_repr_nested_two_levels():
    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(2, 3, bias=False)
            self.seq = nn.Sequential(nn.GELU(), nn.Softmax(dim=1))

    assert repr(Block()) == (
        "Block(\n"
        "  (fc): Linear(in_features=2, out_features=3, bias=False)\n"
        "  (seq): Sequential(\n"
        "    (0): GELU(approximate='none')\n"
        "    (1): Softmax(dim=1)\n"
        "  )\n"
        ")"
    )
    for m, want in [(nn.Sequential(), "Sequential()"), (nn.LeakyReLU(0.2), "LeakyReLU(negative_slope=0.2)"),
                    (nn.Flatten(), "Flatten(start_dim=1, end_dim=-1)"), (nn.Identity(), "Identity()"),
                    (nn.BatchNorm1d(4, momentum=None, affine=False),
                     "BatchNorm1d(4, eps=1e-05, momentum=None, affine=False, bias=False, track_running_stats=True)")]:
        assert repr(m) == want


# ---- found by the second fuzzing run: Module API truths, as PyTorch's -----------------------


def test_registering_over_another_member_is_refused():
    """A buffer registered over a weight silently took it out of named_parameters (and so out of
    the optimizer); PyTorch refuses, and so does ferrograd now."""
    m = fg.nn.Linear(1, 1)
    with pytest.raises(KeyError, match="attribute 'weight' already exists"):
        m.register_buffer("weight", fg.zeros(1))
    with pytest.raises(KeyError, match="attribute 'forward' already exists"):
        m.register_parameter("forward", None)
    with pytest.raises(TypeError, match="cannot assign 'Linear' as parameter 'weight'"):
        m.weight = fg.nn.Linear(1, 1)
    assert [n for n, _ in m.named_parameters()] == ["weight", "bias"]
    m.extra = fg.nn.Parameter(fg.zeros(1))  # assignment of a new name still registers it
    m.register_buffer("stat", fg.zeros(1))
    m.stat = fg.nn.Parameter(fg.ones(1))  # a Parameter replaces a buffer by assignment, as in PyTorch
    assert "stat" in dict(m.named_parameters()) and "stat" not in dict(m.named_buffers())


def test_shared_submodules_listed_twice_when_asked():
    lin = fg.nn.Linear(1, 1)
    m = fg.nn.Sequential(lin, lin)
    assert [n for n, _ in m.named_parameters()] == ["0.weight", "0.bias"]
    assert [n for n, _ in m.named_parameters(remove_duplicate=False)] == ["0.weight", "0.bias", "1.weight", "1.bias"]


def test_dtype_conversion_keeps_the_gradients():
    m = fg.nn.Linear(2, 1)
    m(fg.ones(3, 2)).sum().backward()
    g = m.weight.grad.numpy().copy()
    m.double()
    assert m.weight.grad is not None and m.weight.grad.dtype == fg.float64
    np.testing.assert_array_equal(m.weight.grad.numpy(), g)
    assert m.half().weight.dtype == fg.float16 and m.bfloat16().bias.dtype == fg.bfloat16


def test_get_parameter_get_buffer_and_set_submodule():
    m = fg.nn.Sequential(fg.nn.Linear(1, 2), fg.nn.BatchNorm1d(2))
    assert m.get_parameter("0.weight") is m[0].weight
    assert m.get_buffer("1.running_mean") is m[1].running_mean
    with pytest.raises(AttributeError, match="is not an nn.Parameter"):
        m.get_parameter("1.running_mean")
    with pytest.raises(AttributeError, match="is not a buffer"):
        m.get_buffer("0.weight")
    new = fg.nn.Linear(1, 2)
    m.set_submodule("0", new)
    assert m[0] is new
    with pytest.raises(AttributeError):
        m.set_submodule("5", fg.nn.ReLU(), strict=True)


def test_sequential_and_module_list_edits_renumber_as_pytorch():
    s = fg.nn.Sequential(fg.nn.Linear(2, 3), fg.nn.ReLU(), fg.nn.Linear(3, 1))
    del s[1]
    assert list(s.state_dict()) == ["0.weight", "0.bias", "1.weight", "1.bias"]  # renumbered
    s.insert(1, fg.nn.Tanh())
    assert [type(m).__name__ for m in s] == ["Linear", "Tanh", "Linear"] and list(s._modules) == ["0", "1", "2"]
    s.extend(fg.nn.Sequential(fg.nn.Sigmoid()))
    assert type(s.pop(0)).__name__ == "Linear" and list(s._modules) == ["0", "1", "2"]
    assert [type(m).__name__ for m in fg.nn.Sequential(fg.nn.ReLU()) + fg.nn.Sequential(fg.nn.Tanh())] == ["ReLU", "Tanh"]
    lst = fg.nn.ModuleList([fg.nn.ReLU(), fg.nn.Tanh(), fg.nn.ELU()])
    assert type(lst.pop(1)).__name__ == "Tanh" and list(lst._modules) == ["0", "1"]
    d = fg.nn.ModuleDict({"a": fg.nn.ReLU()})
    d.clear()
    assert len(d) == 0


def test_extra_state_saves_and_loads_as_pytorch():
    """A module's get_extra_state() is saved under "_extra_state" and handed back to its
    set_extra_state() (it was dropped, silently, and a PyTorch checkpoint with it did not load)."""

    class Counter(fg.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin, self.count = fg.nn.Linear(1, 1), 3

        def get_extra_state(self):
            return {"count": self.count}

        def set_extra_state(self, state):
            self.count = state["count"]

    outer = fg.nn.Sequential(Counter(), fg.nn.Linear(1, 1))
    sd = outer.state_dict()
    assert list(sd) == ["0._extra_state", "0.lin.weight", "0.lin.bias", "1.weight", "1.bias"]
    again = fg.nn.Sequential(Counter(), fg.nn.Linear(1, 1))
    again[0].count = 0
    assert repr(again.load_state_dict(sd)) == "<All keys matched successfully>"
    assert again[0].count == 3
    del sd["0._extra_state"]
    with pytest.raises(RuntimeError, match='Missing key\\(s\\) in state_dict: "0._extra_state"'):
        again.load_state_dict(sd)
    assert again.load_state_dict(sd, strict=False).missing_keys == ["0._extra_state"]
    with pytest.raises(RuntimeError, match='Unexpected key\\(s\\) in state_dict: "_extra_state"'):
        fg.nn.Linear(1, 1).load_state_dict({"weight": fg.zeros(1, 1), "bias": fg.zeros(1), "_extra_state": 5})
