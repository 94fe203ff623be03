"""A small VGG-style CNN for the demo shapes.

Three blocks of (conv3x3, BatchNorm, ReLU) x 2 followed by 2x2 max-pooling, as in Simonyan & Zisserman,
"Very Deep Convolutional Networks for Large-Scale Image Recognition" (ICLR 2015), then global average
pooling and a linear classifier. Max-pooling is deliberate: DeconvNet (Zeiler & Fergus, "Visualizing and
Understanding Convolutional Networks", ECCV 2014) routes its backward pass through the pooling switches.
Layers carry readable names (``block2.conv1``, ``classifier``) so they can be picked in the explorer.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from .shapes import CLASS_NAMES

WIDTHS: tuple[int, ...] = (16, 32, 64)
WEIGHTS = Path(__file__).with_name("weights.pt")  # written by ``python -m nbsaliency.demo.train``


def _block(in_channels: int, channels: int) -> nn.Sequential:
    """conv-bn-relu, conv-bn-relu, max-pool: the VGG unit."""
    return nn.Sequential(
        OrderedDict(
            [
                ("conv1", nn.Conv2d(in_channels, channels, 3, padding=1, bias=False)),
                ("bn1", nn.BatchNorm2d(channels)),
                ("relu1", nn.ReLU()),
                ("conv2", nn.Conv2d(channels, channels, 3, padding=1, bias=False)),
                ("bn2", nn.BatchNorm2d(channels)),
                ("relu2", nn.ReLU()),
                ("pool", nn.MaxPool2d(2)),
            ]
        )
    )


class DemoCNN(nn.Sequential):
    """VGG-style classifier for (N, 3, H, W) images in [0, 1]; returns (N, num_classes) logits.

    Any H, W divisible by 8 works (global average pooling); the shipped weights are trained on 64 x 64.
    """

    def __init__(self, num_classes: int = len(CLASS_NAMES), widths: Sequence[int] = WIDTHS) -> None:
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        in_channels = 3
        for i, channels in enumerate(widths, start=1):
            layers[f"block{i}"] = _block(in_channels, channels)
            in_channels = channels
        layers["pool"] = nn.AdaptiveAvgPool2d(1)
        layers["flatten"] = nn.Flatten()
        layers["classifier"] = nn.Linear(in_channels, num_classes)
        super().__init__(layers)


def build_model(widths: Sequence[int] = WIDTHS) -> DemoCNN:
    """An untrained DemoCNN for the demo classes."""
    return DemoCNN(len(CLASS_NAMES), widths)


def load_model(path: str | Path = WEIGHTS) -> DemoCNN:
    """The trained DemoCNN in eval mode (weights from ``path``, by default the shipped file)."""
    model = build_model()
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return model.eval()
