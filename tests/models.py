"""Small test architectures: each exercises one way models are written in the wild."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class VGGStyle(nn.Module):
    """conv-ReLU-conv-ReLU-maxpool blocks: DeconvNet's switches and unpooling matter."""

    def __init__(self, n_classes: int = 5):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(16 * 4 * 4, 32), nn.ReLU(), nn.Linear(32, n_classes))

    def forward(self, x):
        return self.classifier(self.features(x))


class BasicBlock(nn.Module):
    """torchvision's ResNet block: one in-place ReLU module used twice, and ``out += identity``."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)

    def forward(self, x):
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += identity
        return self.relu(out)


class ResNetStyle(nn.Module):
    def __init__(self, n_classes: int = 5):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(inplace=True))
        self.layer1 = nn.Sequential(BasicBlock(8), BasicBlock(8))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(8, n_classes)

    def forward(self, x):
        return self.fc(torch.flatten(self.pool(self.layer1(self.stem(x))), 1))


class FunctionalReLU(nn.Module):
    """ReLU only through functions: ``F.relu``, ``torch.relu``, ``Tensor.relu_`` — no ReLU module at all."""

    def __init__(self, n_classes: int = 5):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 6, 3, padding=1)
        self.conv2 = nn.Conv2d(6, 6, 3, padding=1)
        self.conv3 = nn.Conv2d(6, 6, 3, padding=1)
        self.fc = nn.Linear(6, n_classes)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = torch.relu(self.conv2(x))
        x = self.conv3(x).relu_()
        return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))


class SmoothActivations(nn.Module):
    """GELU and SiLU: no exact DeconvNet / guided rule exists, the generalised one applies."""

    def __init__(self, n_classes: int = 5):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 6, 3, padding=1)
        self.act1 = nn.GELU()
        self.conv2 = nn.Conv2d(6, 6, 3, padding=1)
        self.fc = nn.Linear(6, n_classes)

    def forward(self, x):
        x = F.silu(self.conv2(self.act1(self.conv1(x))))
        return self.fc(x.mean(dim=(2, 3)))


class BatchNormTrainMode(nn.Module):
    """BatchNorm and Dropout, handed over in train mode: evaluation must not update running statistics."""

    def __init__(self, n_classes: int = 5):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
                                  nn.Conv2d(8, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU())
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.5), nn.Linear(8, n_classes))

    def forward(self, x):
        return self.head(self.body(x))


class CountingVGG(nn.Module):
    """A VGG-style model that counts its forward passes (to pin "no new forward pass")."""

    def __init__(self):
        super().__init__()
        self.inner = make_model("vgg")
        self.forward_calls = 0

    def forward(self, x):
        self.forward_calls += 1
        return self.inner(x)


ARCHITECTURES = {
    "vgg": VGGStyle,
    "resnet": ResNetStyle,
    "functional_relu": FunctionalReLU,
    "smooth_activations": SmoothActivations,
    "batchnorm_train": BatchNormTrainMode,
}


def make_model(name: str, seed: int = 0) -> nn.Module:
    """A model with deterministic random weights (and non-trivial BatchNorm statistics)."""
    torch.manual_seed(seed)
    model = ARCHITECTURES[name]()
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-0.2, 0.2)
            module.running_var.uniform_(0.5, 1.5)
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.1, 0.1)
    model.eval()
    if name == "batchnorm_train":
        model.train()
    return model


def make_input(n: int = 2, size: int = 16, seed: int = 1) -> torch.Tensor:
    return torch.randn(n, 3, size, size, generator=torch.Generator().manual_seed(seed))
