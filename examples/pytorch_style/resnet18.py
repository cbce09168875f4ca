"""ResNet-18 as torchvision defines it, written out, and a few SGD steps on one batch of 64x64 images.

`resnet18(torch)` builds torchvision.models.resnet18 (BasicBlock, conv3x3/conv1x1, layers
[2, 2, 2, 2], AdaptiveAvgPool2d, fc; Kaiming-normal convolutions with mode="fan_out", BatchNorm
weight 1 and bias 0) over the library module it is given, so one definition builds both the
ferrograd and the PyTorch model (bench/bench.py times them side by side). The parameter and buffer
names are torchvision's (conv1.weight, layer1.0.bn1.running_mean, layer2.0.downsample.0.weight,
fc.bias, ...), so a torchvision state_dict loads into it. Only BasicBlock is written out; the
groups, width_per_group and replace_stride_with_dilation options that BasicBlock refuses are left
out.

Run as a script, it trains ResNet-18 (10 classes) for a few SGD-with-momentum steps on one fixed
batch of 16 random 64x64 images and asserts that the cross-entropy fell: a smoke test of every
layer a real vision model uses (strided convolutions, BatchNorm2d in training mode, in-place ReLU
and residual `+=`, max pooling, adaptive average pooling), forward and backward.
"""

import functools
import os

if os.environ.get("EXAMPLE_BACKEND") == "torch":
    import torch
else:
    import ferrograd as torch


@functools.cache
def resnet_classes(torch):
    """torchvision's BasicBlock and ResNet classes over `torch` (PyTorch or ferrograd)."""
    nn = torch.nn

    def conv3x3(in_planes, out_planes, stride=1):
        """3x3 convolution with padding"""
        return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1, bias=False)

    def conv1x1(in_planes, out_planes, stride=1):
        """1x1 convolution"""
        return nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False)

    class BasicBlock(nn.Module):
        expansion = 1

        def __init__(self, inplanes, planes, stride=1, downsample=None, norm_layer=None):
            super().__init__()
            if norm_layer is None:
                norm_layer = nn.BatchNorm2d
            # Both self.conv1 and self.downsample layers downsample the input when stride != 1
            self.conv1 = conv3x3(inplanes, planes, stride)
            self.bn1 = norm_layer(planes)
            self.relu = nn.ReLU(inplace=True)
            self.conv2 = conv3x3(planes, planes)
            self.bn2 = norm_layer(planes)
            self.downsample = downsample
            self.stride = stride

        def forward(self, x):
            identity = x

            out = self.conv1(x)
            out = self.bn1(out)
            out = self.relu(out)

            out = self.conv2(out)
            out = self.bn2(out)

            if self.downsample is not None:
                identity = self.downsample(x)

            out += identity
            out = self.relu(out)

            return out

    class ResNet(nn.Module):
        def __init__(self, block, layers, num_classes=1000, zero_init_residual=False, norm_layer=None):
            super().__init__()
            if norm_layer is None:
                norm_layer = nn.BatchNorm2d
            self._norm_layer = norm_layer

            self.inplanes = 64
            self.conv1 = nn.Conv2d(3, self.inplanes, kernel_size=7, stride=2, padding=3, bias=False)
            self.bn1 = norm_layer(self.inplanes)
            self.relu = nn.ReLU(inplace=True)
            self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
            self.layer1 = self._make_layer(block, 64, layers[0])
            self.layer2 = self._make_layer(block, 128, layers[1], stride=2)
            self.layer3 = self._make_layer(block, 256, layers[2], stride=2)
            self.layer4 = self._make_layer(block, 512, layers[3], stride=2)
            self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
            self.fc = nn.Linear(512 * block.expansion, num_classes)

            for m in self.modules():
                if isinstance(m, nn.Conv2d):
                    nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
                    nn.init.constant_(m.weight, 1)
                    nn.init.constant_(m.bias, 0)

            # Zero-initialize the last BN in each residual branch, so that the residual branch
            # starts with zeros and each residual block behaves like an identity.
            if zero_init_residual:
                for m in self.modules():
                    if isinstance(m, BasicBlock) and m.bn2.weight is not None:
                        nn.init.constant_(m.bn2.weight, 0)

        def _make_layer(self, block, planes, blocks, stride=1):
            norm_layer = self._norm_layer
            downsample = None
            if stride != 1 or self.inplanes != planes * block.expansion:
                downsample = nn.Sequential(
                    conv1x1(self.inplanes, planes * block.expansion, stride),
                    norm_layer(planes * block.expansion),
                )

            layers = []
            layers.append(block(self.inplanes, planes, stride, downsample, norm_layer))
            self.inplanes = planes * block.expansion
            for _ in range(1, blocks):
                layers.append(block(self.inplanes, planes, norm_layer=norm_layer))

            return nn.Sequential(*layers)

        def forward(self, x):
            x = self.conv1(x)
            x = self.bn1(x)
            x = self.relu(x)
            x = self.maxpool(x)

            x = self.layer1(x)
            x = self.layer2(x)
            x = self.layer3(x)
            x = self.layer4(x)

            x = self.avgpool(x)
            x = torch.flatten(x, 1)
            x = self.fc(x)

            return x

    return BasicBlock, ResNet


def resnet18(torch, num_classes=1000, **kwargs):
    """torchvision.models.resnet18(weights=None, num_classes=num_classes) over `torch`."""
    BasicBlock, ResNet = resnet_classes(torch)
    return ResNet(BasicBlock, [2, 2, 2, 2], num_classes=num_classes, **kwargs)


if __name__ == "__main__":
    torch.manual_seed(0)
    model = resnet18(torch, num_classes=10)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-4)
    criterion = torch.nn.CrossEntropyLoss()
    images = torch.randn(16, 3, 64, 64)
    labels = torch.randint(0, 10, (16,))

    model.train()
    losses = []
    for _step in range(8):
        optimizer.zero_grad()
        loss = criterion(model(images), labels)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())

    print("loss " + " ".join(f"{v:.3f}" for v in losses))
    assert losses[-1] < 0.5 * losses[0], losses
