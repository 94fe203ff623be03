"""Turning an attribution into what people look at."""

from __future__ import annotations

import torch
from torch import Tensor


def saliency_map(attribution: Tensor) -> Tensor:
    """Simonyan et al. (2014)'s saliency map: max over colour channels of |attribution|.

    Accepts ``(C, H, W)`` or any leading batch axes ``(..., C, H, W)``; returns ``(..., H, W)``.
    """
    return attribution.abs().amax(dim=-3)


def _per_map_percentile(values: Tensor, percentile: float, dims: int) -> Tensor:
    """``percentile`` of |values| over the last ``dims`` axes, kept broadcastable."""
    if not 0 < percentile <= 100:
        raise ValueError(f"percentile must be in (0, 100]; got {percentile}")
    flat = values.abs().flatten(start_dim=values.dim() - dims)
    scale = torch.quantile(flat.float(), percentile / 100, dim=-1).to(values.dtype)
    scale = torch.where(scale > 0, scale, torch.ones_like(scale))
    return scale.reshape(*scale.shape, *([1] * dims))


def clip_percentile(saliency: Tensor, percentile: float = 99.5) -> Tensor:
    """Scale a ``(..., H, W)`` map by its ``percentile`` of |value| and clip to [-1, 1] (or [0, 1] if
    non-negative), so a few extreme pixels do not wash out the rest."""
    return (saliency / _per_map_percentile(saliency, percentile, dims=2)).clamp(-1, 1)


def signed_rgb(attribution: Tensor, percentile: float = 99.5) -> Tensor:
    """An RGB image of a signed attribution: ``0.5 + a / (2 s)`` clipped to [0, 1], with ``s`` the
    ``percentile`` of |a| per map — how Springenberg et al. (2015) and Zeiler & Fergus (2014) show
    DeconvNet and guided-backprop reconstructions. Input ``(..., C, H, W)``, output the same shape."""
    scale = _per_map_percentile(attribution, percentile, dims=3)
    return (0.5 + attribution / (2 * scale)).clamp(0, 1)


def to_image(x: Tensor) -> Tensor:
    """``(C, H, W)`` -> ``(H, W, C)`` rescaled to [0, 1] per image, for ``matplotlib.pyplot.imshow``."""
    image = x.detach().float().cpu()
    image = (image - image.min()) / (image.max() - image.min()).clamp(min=1e-12)
    return image.permute(1, 2, 0).squeeze(-1)
