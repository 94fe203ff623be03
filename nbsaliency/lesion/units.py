"""Which units a lesion removes: whole channels, single units, as boolean masks over a layer's unit shape,
with the engine's index errors (:class:`~nbsaliency.errors.TargetIndexError` naming the valid range)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch
from torch import Tensor

from ..errors import TargetError, TargetIndexError

UnitIndex = int | Sequence[int]


def channel_count(layer: str, unit_shape: tuple[int, ...], channel_axis: int) -> int:
    """The number of channels of a layer with units ``unit_shape`` (the output shape without the batch)."""
    if not unit_shape:
        raise TargetError(f"layer {layer!r} gives one value per image: it has no channels to lesion")
    axis = _unit_axis(layer, unit_shape, channel_axis)
    return unit_shape[axis]


def _unit_axis(layer: str, unit_shape: tuple[int, ...], channel_axis: int) -> int:
    ndim = len(unit_shape) + 1
    if not -ndim <= channel_axis < ndim or channel_axis % ndim == 0:
        raise TargetError(f"channel_axis {channel_axis} is not a channel axis of layer {layer!r} with output "
                          f"(N, {', '.join(map(str, unit_shape))}); use 1 for (N, C, ...) or -1 for (N, ..., C)")
    return channel_axis % ndim - 1


def check_channels(layer: str, channels: Iterable[int], n_channels: int) -> list[int]:
    """``channels`` as a list of ints, each in ``0..n_channels - 1``."""
    checked = []
    for c in channels:
        c = int(c)
        if not 0 <= c < n_channels:
            raise TargetIndexError(
                f"channel {c} is out of range for layer {layer!r} with {n_channels} channels "
                f"(valid 0..{n_channels - 1})"
            )
        checked.append(c)
    return checked


def channel_masks(layer: str, unit_shape: tuple[int, ...], channel_sets: Sequence[Sequence[int]],
                  channel_axis: int) -> Tensor:
    """``(R, *unit_shape)`` bool: row r is true on every unit of the channels in ``channel_sets[r]``."""
    axis = _unit_axis(layer, unit_shape, channel_axis)
    n_channels = unit_shape[axis]
    rows = torch.zeros(len(channel_sets), n_channels, dtype=torch.bool)
    for r, channels in enumerate(channel_sets):
        rows[r, check_channels(layer, channels, n_channels)] = True
    shape = [len(channel_sets)] + [1] * len(unit_shape)
    shape[axis + 1] = n_channels
    return rows.reshape(shape).expand(len(channel_sets), *unit_shape)


def unit_mask(layer: str, unit_shape: tuple[int, ...], units: Iterable[UnitIndex]) -> Tensor:
    """``(1, *unit_shape)`` bool, true on each unit of ``units`` (index tuples like ``Neuron``'s: ``(c, y, x)``
    in a feature map, ``i`` or ``(i,)`` in a flat layer)."""
    mask = torch.zeros(1, *unit_shape, dtype=torch.bool)
    for unit in units:
        index = (int(unit),) if isinstance(unit, int) else tuple(int(i) for i in unit)
        if len(index) != len(unit_shape):
            raise TargetError(f"layer {layer!r} has units of shape {unit_shape}, so a unit is given by "
                              f"{len(unit_shape)} indices; got {len(index)}: {index}")
        for axis, (i, size) in enumerate(zip(index, unit_shape, strict=True)):
            if not 0 <= i < size:
                raise TargetIndexError(f"index {i} on axis {axis + 1} is out of range for layer {layer!r} with "
                                       f"units of shape {unit_shape} (valid 0..{size - 1})")
        mask[(0, *index)] = True
    return mask
