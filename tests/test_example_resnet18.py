"""examples/pytorch_style/resnet18.py builds torchvision's ResNet-18: its state_dict names and
shapes are torchvision's, its initialisation is torchvision's, and a train-mode forward and
backward on a small batch gives every parameter a gradient. Where PyTorch is installed, the same
definition built over torch with ferrograd's weights gives the same logits, gradients and
BatchNorm running statistics (float64). (tests/test_pytorch_style_examples.py runs the script
itself, which trains a few steps.)"""

from __future__ import annotations

import importlib.util
import os

import ferrograd as fg
import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_spec = importlib.util.spec_from_file_location("resnet18_example", os.path.join(ROOT, "examples", "pytorch_style", "resnet18.py"))
resnet18_example = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(resnet18_example)
resnet18 = resnet18_example.resnet18

BN = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")


def torchvision_resnet18_keys(num_classes=1000):
    """(name, shape) of torchvision.models.resnet18().state_dict(), in its order."""
    def bn(prefix, c):
        return [(f"{prefix}.{b}", () if b == "num_batches_tracked" else (c,)) for b in BN]

    keys = [("conv1.weight", (64, 3, 7, 7)), *bn("bn1", 64)]
    cin = 64
    for layer, planes in enumerate((64, 128, 256, 512), start=1):
        for block in range(2):
            p = f"layer{layer}.{block}"
            keys += [(f"{p}.conv1.weight", (planes, cin, 3, 3)), *bn(f"{p}.bn1", planes),
                     (f"{p}.conv2.weight", (planes, planes, 3, 3)), *bn(f"{p}.bn2", planes)]
            if block == 0 and cin != planes:
                keys += [(f"{p}.downsample.0.weight", (planes, cin, 1, 1)), *bn(f"{p}.downsample.1", planes)]
            cin = planes
    return keys + [("fc.weight", (num_classes, 512)), ("fc.bias", (num_classes,))]


def test_resnet18_state_dict_has_torchvision_names_and_shapes():
    model = resnet18(fg)
    got = [(k, tuple(v.shape)) for k, v in model.state_dict().items()]
    assert got == torchvision_resnet18_keys()
    assert len(got) == 122
    assert sum(p.numel() for p in model.parameters()) == 11_689_512  # torchvision's resnet18 count


def test_resnet18_initialisation_is_torchvision_s():
    fg.manual_seed(0)
    model = resnet18(fg, num_classes=10)
    w = model.layer3[0].conv1.weight  # (256, 128, 3, 3)
    fan_out = 256 * 3 * 3
    assert abs(float(w.std()) - (2.0 / fan_out) ** 0.5) < 0.05 * (2.0 / fan_out) ** 0.5
    assert abs(float(w.mean())) < 1e-3
    for name, t in model.state_dict().items():
        if ".bn" in name or name.startswith("bn1") or ".downsample.1." in name:
            if name.endswith(".weight"):
                assert np.all(t.numpy() == 1.0), name
            elif name.endswith(".bias"):
                assert np.all(t.numpy() == 0.0), name
    zero = resnet18(fg, num_classes=10, zero_init_residual=True)
    assert all(np.all(m.bn2.weight.detach().numpy() == 0) for layer in (zero.layer1, zero.layer4) for m in layer)


def test_resnet18_train_step_reaches_every_parameter():
    fg.manual_seed(0)
    model = resnet18(fg, num_classes=10)
    x, y = fg.randn(2, 3, 32, 32), fg.tensor([3, 7])
    out = model(x)
    assert tuple(out.shape) == (2, 10)
    fg.nn.functional.cross_entropy(out, y).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and tuple(p.grad.shape) == tuple(p.shape), name
        assert np.isfinite(p.grad.numpy()).all(), name
    assert int(model.bn1.num_batches_tracked) == 1
    model.eval()
    with fg.no_grad():
        assert tuple(model(x).shape) == (2, 10)


def test_resnet18_matches_pytorch_with_the_same_weights():
    torch = pytest.importorskip("torch")
    fg.manual_seed(0)
    f_model = resnet18(fg, num_classes=10).double()
    t_model = resnet18(torch, num_classes=10).double()
    t_model.load_state_dict({k: torch.from_numpy(v.numpy().copy()) for k, v in f_model.state_dict().items()})
    xs = np.random.default_rng(0).standard_normal((4, 3, 32, 32))
    ys = np.array([1, 0, 9, 4])
    f_out, t_out = f_model(fg.tensor(xs)), t_model(torch.tensor(xs))
    np.testing.assert_allclose(f_out.detach().numpy(), t_out.detach().numpy(), rtol=1e-9, atol=1e-12)
    f_loss = fg.nn.functional.cross_entropy(f_out, fg.tensor(ys))
    t_loss = torch.nn.functional.cross_entropy(t_out, torch.tensor(ys))
    f_loss.backward()
    t_loss.backward()
    np.testing.assert_allclose(f_loss.item(), t_loss.item(), rtol=1e-10)
    t_params = dict(t_model.named_parameters())
    for name, p in f_model.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), t_params[name].grad.numpy(), rtol=1e-7, atol=1e-10, err_msg=name)
    t_state = t_model.state_dict()
    for name, v in f_model.state_dict().items():
        if "running" in name:
            np.testing.assert_allclose(v.numpy(), t_state[name].numpy(), rtol=1e-10, atol=1e-12, err_msg=name)
