"""A model that counts its passes: forward calls, backward passes that reach the input, and gradients computed for
its weights (an identity autograd function on the input and on every weight counts its backward calls; under
``is_grads_batched`` a vectorised backward calls it once)."""

from __future__ import annotations

from collections import Counter

import torch
import torch.nn.functional as F
from torch import nn


class CountBackward(torch.autograd.Function):
    """Identity whose backward adds one to ``counter[key]``."""

    generate_vmap_rule = True

    @staticmethod
    def forward(x, counter, key):
        return x.view_as(x)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.counter, ctx.key = inputs[1], inputs[2]

    @staticmethod
    def backward(ctx, grad):
        ctx.counter[ctx.key] += 1
        return grad, None, None


class CountedConv(nn.Conv2d):
    """A convolution whose weight gradient, if ever computed, is counted."""

    def __init__(self, counter: Counter, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.counter = counter

    def forward(self, x):
        return self._conv_forward(x, CountBackward.apply(self.weight, self.counter, "weight"), self.bias)


class CountingNet(nn.Module):
    """conv-ReLU-maxpool-conv-ReLU, global average pooling, linear: counts in ``self.counts``:
    ``forward``, ``input`` (backward passes reaching the input) and ``weight`` (weight gradients computed); the
    batch size of every forward call in ``self.batch_sizes``."""

    def __init__(self, n_classes: int = 5, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.counts: Counter = Counter()
        self.batch_sizes: list[int] = []  # of every forward call, in order
        self.conv1 = CountedConv(self.counts, 3, 6, 3, padding=1)
        self.relu1 = nn.ReLU()
        self.pool = nn.MaxPool2d(2)
        self.conv2 = CountedConv(self.counts, 6, 8, 3, padding=1)
        self.fc = nn.Linear(8, n_classes)
        self.eval()

    def forward(self, x):
        self.counts["forward"] += 1
        self.batch_sizes.append(len(x))
        x = CountBackward.apply(x, self.counts, "input")
        x = self.pool(self.relu1(self.conv1(x)))
        x = F.relu(self.conv2(x))
        return self.fc(x.mean(dim=(2, 3)))
