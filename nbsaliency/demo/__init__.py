"""Built-in demo: procedural shape images with ground-truth masks and a small trained CNN.

>>> from nbsaliency import demo
>>> batch = demo.images(8, seed=0)
>>> logits = demo.load_model()(batch.images)
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from .model import DemoCNN, build_model, load_model
from .shapes import CLASS_NAMES, generate

__all__ = ["CLASS_NAMES", "DemoCNN", "DemoImages", "build_model", "images", "load_model"]


class DemoImages(NamedTuple):
    """Images with labels, exact object masks and each object's clean colour, as tensors."""

    images: torch.Tensor  # (n, 3, size, size) float32 in [0, 1]
    labels: torch.Tensor  # (n,) int64, index into CLASS_NAMES
    masks: torch.Tensor  # (n, size, size) bool, True exactly on the object
    colors: torch.Tensor  # (n, 3) float32, the object's colour before noise


def images(n: int, seed: int, size: int = 64) -> DemoImages:
    """``n`` demo images, deterministic in ``seed``; see :mod:`nbsaliency.demo.shapes`."""
    return DemoImages(*(torch.from_numpy(a) for a in generate(n, seed, size)))
