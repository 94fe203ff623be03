"""Fingerprints that key a saved patch index: the model's weights, the dataset and the index settings.

* model: SHA-256 of the model class name and every ``state_dict`` entry (name, dtype, shape, raw bytes);
* dataset: its length, image shape and dtype, and a SHA-256 of its contents. Datasets of at most
  :data:`SAMPLE` images are hashed whole; larger ones through ``SAMPLE`` evenly spaced images (always the
  first and the last), so that checking a large on-disk dataset does not cost a pass over it. Editing an
  image outside the sample while keeping the length and shape goes unnoticed: delete the file then.
* settings: k, the layers, one unit per image or not, the image offset of a shard and the format version.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from .dataset import ImageSource

SAMPLE = 512
FORMAT_VERSION = 1


def _update(digest: Any, tensor: Tensor) -> None:
    t = tensor.detach().to("cpu").contiguous().reshape(-1)
    digest.update(f"{t.dtype}|{tuple(tensor.shape)}|".encode())
    if t.numel():
        digest.update(t.view(torch.uint8).numpy().data if t.dtype != torch.bool else t.numpy().data)


def model_fingerprint(model: nn.Module) -> str:
    """SHA-256 of the model's class and state dict (weights and buffers)."""
    digest = hashlib.sha256(f"{type(model).__module__}.{type(model).__qualname__}".encode())
    for name, tensor in model.state_dict().items():
        digest.update(f"|{name}|".encode())
        _update(digest, tensor)
    return digest.hexdigest()


def sample_indices(length: int, sample: int = SAMPLE) -> list[int]:
    """Every index when ``length <= sample``, else ``sample`` evenly spaced ones including both ends."""
    if length <= sample:
        return list(range(length))
    return sorted({int(i) for i in np.linspace(0, length - 1, sample).round()})


def dataset_fingerprint(source: ImageSource, sample: int = SAMPLE) -> dict[str, Any]:
    """Length, image shape and dtype, and a content hash (whole, or of a deterministic sample)."""
    if source.items is None or source.length is None:
        return {"length": None, "content": None, "note": "iterable DataLoader: no random access to fingerprint"}
    indices = sample_indices(source.length, sample)
    digest = hashlib.sha256()
    first = source.image(0)
    for i in indices:
        digest.update(f"{i}|".encode())
        _update(digest, source.image(i))
    return {"length": source.length, "image_shape": list(first.shape), "dtype": str(first.dtype),
            "content": digest.hexdigest(), "hashed_images": len(indices)}


def settings_fingerprint(k: int, layers: list[str] | None, offset: int = 0,
                         one_per_image: bool = True) -> dict[str, Any]:
    return {"format": FORMAT_VERSION, "k": k, "layers": layers, "offset": offset, "one_per_image": one_per_image}


def fingerprint(model: nn.Module, source: ImageSource, k: int, layers: list[str] | None,
                offset: int = 0, one_per_image: bool = True) -> dict[str, Any]:
    """The key a saved index must match to be used."""
    return {"model": model_fingerprint(model), "dataset": dataset_fingerprint(source),
            "settings": settings_fingerprint(k, layers, offset, one_per_image)}


def differences(saved: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """What differs between two fingerprints, in words (empty when they match)."""
    names = {"model": "the model's weights", "dataset": "the dataset",
             "settings": "the settings (k, layers, one_per_image)"}
    changed = [names[key] for key in names if saved.get(key) != current.get(key)]
    if current.get("dataset", {}).get("content") is None and "the dataset" not in changed:
        changed.append("the dataset (it cannot be fingerprinted)")
    return changed
