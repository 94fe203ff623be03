"""One pass over a dataset recording, for every spatial layer and channel, its top-k units.

Per batch: one recorded forward pass (all layers at once, ``torch.no_grad``, eval mode), then per layer one
``topk`` on the activation and a small merge (:mod:`.topk`). Layers that return the very same tensor (a
``Sequential`` and its last child) share the work.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..errors import InputError
from ..model_state import evaluation_mode, model_device_and_dtype
from ..receptive_field import NotSpatialError
from ..recording import Recording, record_forward
from ..validation import as_image_batch
from .dataset import ImageSource
from .errors import DatasetItemError, EmptyDatasetError, IndexBuildCancelled
from .progress import ProgressLike, resolve
from .topk import RunningTop, batch_candidates


@dataclass
class BuiltTops:
    """What a pass leaves: each layer's ``(C, h, w)`` and running top-k, and the number of images seen."""

    shapes: dict[str, tuple[int, int, int]]
    tops: dict[str, RunningTop]
    n_images: int


def spatial_layers(recording: Recording, layers: Sequence[str] | None) -> list[str]:
    """The requested layers (checked), or every layer whose output is ``(N, C, h, w)``."""
    if layers is None:
        return [name for name, a in recording.activations.items() if a.dim() == 4]
    for name in layers:
        shape = tuple(recording.activation(name).shape)
        if len(shape) != 4:
            raise NotSpatialError(f"layer {name!r} has output shape {shape}: the patch index needs spatial "
                                  f"(N, C, h, w) layers")
    return list(dict.fromkeys(layers))


def _checked_batch(model: nn.Module, batch: Tensor, start: int) -> Tensor:
    device, _ = model_device_and_dtype(model)
    if device is not None:
        batch = batch.to(device, non_blocking=True)
    try:
        return as_image_batch(model, batch)[0]
    except InputError as error:
        finite = torch.isfinite(batch).flatten(1).all(dim=1)
        if not bool(finite.all()):
            first = int((~finite).nonzero()[0, 0]) + start
            raise DatasetItemError(first, "the image contains NaN or Inf") from None
        raise DatasetItemError((start, start + batch.shape[0]), str(error)) from None


def build_tops(model: nn.Module, source: ImageSource, *, k: int, layers: Sequence[str] | None, batch_size: int,
               offset: int, progress: ProgressLike, cancel: threading.Event | None) -> BuiltTops:
    """The running top-k of every selected layer after one pass over ``source``.

    Raises :class:`IndexBuildCancelled` when ``cancel`` is set (checked before every batch)."""
    if k < 1:
        raise ValueError(f"k must be at least 1; got {k}")
    report = resolve(progress)
    total = source.length
    shapes: dict[str, tuple[int, int, int]] = {}
    tops: dict[str, RunningTop] = {}
    selected: list[str] | None = None
    done = 0
    if report is not None:
        report(0, total)
    with evaluation_mode(model), torch.no_grad():
        for start, batch in source.batches(batch_size):
            if cancel is not None and cancel.is_set():
                raise IndexBuildCancelled(f"building the patch index was cancelled after {done} images")
            batch = _checked_batch(model, batch, start)
            recording = record_forward(model, batch, None)
            if selected is None:
                selected = spatial_layers(recording, layers)
                shapes = {name: tuple(recording.activation(name).shape[1:]) for name in selected}
                shared: dict[int, RunningTop] = {}  # one running top per distinct activation tensor
                tops = {name: shared.setdefault(id(recording.activation(name)), RunningTop(k, shapes[name]))
                        for name in selected}
            _add_batch(recording, selected, shapes, tops, offset + start)
            done += batch.shape[0]
            if report is not None:
                report(done, total)
    if done == 0:
        raise EmptyDatasetError("the dataset is empty: there are no images to index")
    flushed: dict[int, RunningTop] = {}
    for name, top in tops.items():
        if id(top) not in flushed:
            flushed[id(top)] = top.flushed()
        tops[name] = flushed[id(top)]
    return BuiltTops(shapes, tops, done)


def _add_batch(recording: Recording, selected: list[str], shapes: dict[str, tuple[int, int, int]],
               tops: dict[str, RunningTop], first_image: int) -> None:
    """Add one batch to every layer's running top. Layers that returned the very same tensor and share a
    running top are computed once; distinct tensors of the same shape are ranked together."""
    jobs: dict[tuple[int, int], list[str]] = {}  # (activation, running top) -> layers
    for name in selected:
        activation = recording.activation(name)
        if tuple(activation.shape[1:]) != shapes[name]:
            raise InputError(f"layer {name!r} changed shape from {shapes[name]} to {tuple(activation.shape[1:])} "
                             "between batches; all images must have the same size")
        jobs.setdefault((id(activation), id(tops[name])), []).append(name)
    groups: dict[tuple[int, ...], list[list[str]]] = {}
    for names in jobs.values():
        groups.setdefault(tuple(recording.activation(names[0]).shape), []).append(names)
    for group in groups.values():
        activations = [recording.activation(layers[0]) for layers in group]
        k = tops[group[0][0]].k
        for layers, candidates in zip(group, batch_candidates(activations, k), strict=True):
            after = tops[layers[0]].added(candidates, first_image)
            for name in layers:
                tops[name] = after
