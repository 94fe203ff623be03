"""A target with one unit per image, so that the projections of a channel's top units run as one batch.

Zeiler & Fergus (2014) project each of a feature map's top activations down to the input on its own image.
``Units(layer, c, ys, xs)`` on a batch of those images gives image ``i`` the value of unit
``(c, ys[i], xs[i])``; because images do not interact in eval mode, one backward pass of the batch equals
the separate ``Neuron(layer, c, ys[i], xs[i])`` passes on each image.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from ..errors import TargetError, TargetIndexError
from ..targets import ForwardView, Target, layer_maps


class Units(Target):
    """Image ``i``'s value is unit ``(channel, ys[i], xs[i])`` of ``layer``'s channels-first maps (any layout:
    :mod:`nbsaliency.layouts`)."""

    def __init__(self, layer: str, channel: int, ys: Sequence[int], xs: Sequence[int]):
        if len(ys) != len(xs):
            raise TargetError(f"Units needs one y and one x per image; got {len(ys)} ys and {len(xs)} xs")
        self.layer, self.channel = layer, int(channel)
        self.ys, self.xs = tuple(int(y) for y in ys), tuple(int(x) for x in xs)

    @property
    def layers(self) -> tuple[str, ...]:
        return (self.layer,)

    def values(self, view: ForwardView) -> Tensor:
        activation, layout, shape = layer_maps(view, self.layer)  # (N, C, h, w) in any layout
        if activation.dim() != 4:
            raise TargetError(f"Units needs a layer with a spatial grid; {self.layer!r} has output shape {shape} "
                              f"({layout.describe(shape)})")
        n, c, h, w = activation.shape
        if len(self.ys) != n:
            raise TargetError(f"Units has {len(self.ys)} units for a batch of {n} images; give one per image")
        if not 0 <= self.channel < c:
            raise TargetIndexError(f"channel {self.channel} is out of range for layer {self.layer!r} with {c} "
                                   f"channels (valid 0..{c - 1})")
        for axis, indices, size in (("y", self.ys, h), ("x", self.xs, w)):
            bad = [i for i in indices if not 0 <= i < size]
            if bad:
                raise TargetIndexError(f"{axis} index {bad[0]} is out of range for layer {self.layer!r} with a "
                                       f"{h} x {w} output (valid 0..{size - 1})")
        device = activation.device
        rows = torch.arange(n, device=device)
        ys, xs = torch.tensor(self.ys, device=device), torch.tensor(self.xs, device=device)
        return activation[rows, self.channel, ys, xs]

    def __repr__(self) -> str:
        return f"Units({self.layer!r}, {self.channel}, ys={list(self.ys)}, xs={list(self.xs)})"
