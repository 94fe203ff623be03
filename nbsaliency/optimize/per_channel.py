"""Numbers given once or once per channel (a normalised model's grey, its value range), applied to images."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from ..errors import InputError

Values = float | Sequence[float] | Tensor


def values(value: Values) -> float | tuple[float, ...]:
    """A number, or a tuple of one number per channel (a single-element sequence is a number)."""
    if isinstance(value, int | float):
        return float(value)
    flat = tuple(float(v) for v in torch.as_tensor(value, dtype=torch.float64).reshape(-1).tolist())
    return flat[0] if len(flat) == 1 else flat


def per_channel(value: float | tuple[float, ...], image: Tensor, what: str) -> Tensor | float:
    """``value`` ready to broadcast over an ``(N, C, H, W)`` image: the number, or a ``(1, C, 1, 1)`` tensor on
    the image's device and dtype. :class:`~nbsaliency.InputError` when the channel counts differ."""
    if isinstance(value, float):
        return value
    if len(value) != image.shape[1]:
        raise InputError(f"{what} has {len(value)} per-channel values but the image has {image.shape[1]} channels")
    return torch.tensor(value, dtype=image.dtype, device=image.device).reshape(1, -1, 1, 1)
