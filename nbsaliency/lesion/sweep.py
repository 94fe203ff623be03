"""Which channels does a class need? Lesion each channel of a layer alone and rank them by the damage, then
remove the most important ones cumulatively (the "remove the k most important units" curve of Zhou et al. 2018
and Morcos et al. 2018).

Both run batched: the batch is replicated once per lesion and each copy has a different channel (set) removed,
so a chunk of lesions costs one forward pass (``batch_size`` images per pass), not one pass each. By default the
copies are made from the layer's output, so the layers before it run once per pass, not once per copy.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..layer_axes import ran_layer_channel_axis
from ..targets import Target
from ..validation import as_image_batch
from .forward import OutputView, Replicate, as_list, class_target, lesioned_values, probe
from .hook import Fill, check_fill
from .units import channel_count, channel_masks, check_channels


@dataclass(frozen=True)
class LesionSweep:
    """Each channel of ``channels`` removed alone: ``lesioned[k, i]`` is the target on image i without channel
    ``channels[k]``; ``clean`` ``(N,)`` is the target without a lesion."""

    layer: str
    target: str
    channels: Tensor  # (K,) int64
    clean: Tensor  # (N,)
    lesioned: Tensor  # (K, N)

    @property
    def drop(self) -> Tensor:
        """Clean minus lesioned target, ``(K, N)``: what removing each channel costs each image."""
        return self.clean[None] - self.lesioned

    @property
    def mean_drop(self) -> Tensor:
        """The drop averaged over the images, ``(K,)``."""
        return self.drop.mean(dim=1)

    @property
    def ranking(self) -> Tensor:
        """The swept channels, most important first (largest mean drop; ties by channel index), ``(K,)``."""
        order = torch.sort(self.mean_drop, descending=True, stable=True).indices
        return self.channels[order]


@dataclass(frozen=True)
class LesionCurve:
    """``values[j, i]``: the target on image i with the first ``k[j]`` channels of ``order`` removed together."""

    layer: str
    target: str
    order: Tensor  # (K,) the channels in removal order
    k: Tensor  # (M,) how many were removed
    values: Tensor  # (M, N)

    @property
    def mean(self) -> Tensor:
        """``values`` averaged over the images, ``(M,)``."""
        return self.values.mean(dim=1)


def lesion_sweep(model: nn.Module, x: Tensor, layer: str, target: Target | int | None = None, *,
                 channels: Iterable[int] | Tensor | None = None, fill: Fill = "zero", batch_size: int = 64,
                 channel_axis: int | None = None, replicate: Replicate = "auto") -> LesionSweep:
    """Remove each channel of ``layer`` alone (default: all of them) and record ``target`` (default: each image's
    predicted class's logit, pinned to the clean prediction; an int: that class's logit; ``nbs.Probability(c)``)
    on the images ``x`` ``(N, C, H, W)``. Eval mode, no gradients, the model unchanged.

    ``batch_size`` images per forward pass (one pass per ``batch_size // N`` channels). ``replicate``: where the
    copies are made - ``"layer"``: from the layer's output, so the layers before it run once per pass (fast for
    late layers); ``"input"``: from the images (the whole model per copy; right for any model); ``"auto"``
    (default): ``"layer"``, or ``"input"`` with a warning when the model cannot take copies made mid-way (a skip
    connection joining an earlier batch). See :func:`lesion` for ``fill`` and ``channel_axis`` (default: read
    from the layer's layout); the same clear
    errors for wrong layers and channels.
    """
    check_fill(fill)
    goal = class_target(target)
    batch, _ = as_image_batch(model, x)
    channel_axis = ran_layer_channel_axis(model, batch, layer) if channel_axis is None else channel_axis
    clean_scores, unit_shape = probe(model, batch, layer, channel_axis)
    n_channels = channel_count(layer, unit_shape, channel_axis)
    swept = list(range(n_channels)) if channels is None else check_channels(layer, as_list(channels), n_channels)
    classes = clean_scores.argmax(dim=1)
    clean = goal.with_classes(classes).values(OutputView(clean_scores))
    masks = channel_masks(layer, unit_shape, [[c] for c in swept], channel_axis)
    values = lesioned_values(model, batch, layer, masks, goal, classes, fill, channel_axis, batch_size, replicate)
    return LesionSweep(layer, repr(goal), torch.tensor(swept, dtype=torch.long), clean, values)


def lesion_curve(model: nn.Module, x: Tensor, layer: str, order: Sequence[int] | Tensor,
                 target: Target | int | None = None, *, ks: Iterable[int] | None = None, fill: Fill = "zero",
                 batch_size: int = 64, channel_axis: int | None = None, replicate: Replicate = "auto") -> LesionCurve:
    """``target`` on ``x`` with the first k channels of ``order`` removed together, for each k of ``ks``
    (default 0, 1, ..., len(order)): pass ``lesion_sweep(...).ranking`` for "remove the k most important",
    a random permutation for the baseline. Batched like :func:`lesion_sweep`."""
    check_fill(fill)
    goal = class_target(target)
    batch, _ = as_image_batch(model, x)
    channel_axis = ran_layer_channel_axis(model, batch, layer) if channel_axis is None else channel_axis
    clean_scores, unit_shape = probe(model, batch, layer, channel_axis)
    ordered = check_channels(layer, as_list(order), channel_count(layer, unit_shape, channel_axis))
    steps = list(range(len(ordered) + 1)) if ks is None else [int(k) for k in ks]
    bad = [k for k in steps if not 0 <= k <= len(ordered)]
    if bad:
        raise ValueError(f"ks must lie in 0..{len(ordered)} (the number of channels in order); got {bad[0]}")
    masks = channel_masks(layer, unit_shape, [ordered[:k] for k in steps], channel_axis)
    classes = clean_scores.argmax(dim=1)
    values = lesioned_values(model, batch, layer, masks, goal, classes, fill, channel_axis, batch_size, replicate)
    return LesionCurve(layer, repr(goal), torch.tensor(ordered, dtype=torch.long),
                       torch.tensor(steps, dtype=torch.long), values)

