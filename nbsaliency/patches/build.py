"""One pass over a dataset recording, for every spatial layer and channel, its top-k units.

The layers are found once, by :func:`~nbsaliency.recording.record_forward` on the first image (its layer
names, ``name#2`` for a module's second call, and shapes are the ones :class:`~nbsaliency.Session` shows).
Every batch then runs one plain forward pass (``torch.no_grad``, eval mode) with forward hooks that hand each
selected layer's output to a :class:`~.topk.TopAccumulator` the moment the layer returns it: the activation
is reduced while it is still in cache and is not kept, which is what makes indexing all layers cost little
more than the forward pass itself. A hook sees exactly what ``record_forward`` captures (the module's output
as returned, before any later in-place change); hooks ignore forward passes of other threads.
Hooks are registered once per pass inside the guard that removes them when it ends, also on error (one that
fails to register included) or cancellation.

Every layout is indexed (:mod:`nbsaliency.layouts`): a layer's units are its grid positions ``(y, x)`` and its
channels its features, for channels-first and channels-last maps and ViT token grids (prefix tokens left out).
"""

from __future__ import annotations

import threading
import warnings
import weakref
from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from ..errors import InputError, ModelError, NbsaliencyError
from ..layouts import Layout, LayoutError
from ..model_state import evaluation_mode, model_device_and_dtype
from ..receptive_field import NotSpatialError, spatial_shape
from ..recording import CallNames, Recording, hookable_modules, record_forward, tensor_parts
from ..validation import as_image_batch
from .dataset import ImageSource
from .errors import DatasetItemError, EmptyDatasetError, IndexBuildCancelled
from .progress import ProgressLike, resolve
from .topk import PerImageTop, TopAccumulator


@dataclass
class BuiltTops:
    """What a pass leaves: each layer's ``(C, h, w)``, its top values and unit ids ``(C, k)``, and the number
    of images seen."""

    shapes: dict[str, tuple[int, int, int]]
    tops: dict[str, tuple[Tensor, Tensor]]
    n_images: int


def spatial_layers(recording: Recording, layers: Sequence[str] | None,
                   notify: Callable[[str], None] | None = None) -> list[str]:
    """The requested layers (checked), or every layer with a spatial grid in any layout. Layers whose layout is
    ambiguous are left out of "every layer" with a warning that names them and the override (``notify(message)``
    instead when given, e.g. to show it in a widget rather than in whichever cell runs next)."""
    if layers is not None:
        for name in layers:
            spatial_shape(recording, name)  # NotSpatialError / LayoutError with the reason
        return list(dict.fromkeys(layers))
    selected, ambiguous = [], []
    for name in recording.activations:
        try:
            spatial_shape(recording, name)
        except NotSpatialError:
            continue
        except LayoutError:
            ambiguous.append(name)
            continue
        selected.append(name)
    if ambiguous:
        message = (f"the patch index leaves out layers whose layout is not known: {', '.join(ambiguous)} "
                   "(Session(model, x).layout(name) says why; layouts={name: 'channels_last' | 'tokens' | ...} "
                   "sets one)")
        if notify is None:
            warnings.warn(message, stacklevel=3)
        else:
            notify(message)
    return selected


class _BatchChecker:
    """Checks every batch the way ``Session`` checks its input, with the model's device and the first batch's
    image shape looked up once (a batch costs one ``isfinite`` pass, not a walk over the model)."""

    def __init__(self, model: nn.Module):
        self.model = model
        self.device, self.dtype = model_device_and_dtype(model)
        self.image_shape: tuple[int, ...] | None = None

    def __call__(self, batch: Tensor, start: int) -> Tensor:
        where = (start, start + batch.shape[0]) if batch.dim() > 0 else start
        if self.device is not None:
            batch = batch.to(self.device, non_blocking=True)
        if self.image_shape is None:  # first batch: every check, with the messages Session gives
            try:
                batch = as_image_batch(self.model, batch)[0]
            except InputError as error:
                self._raise_non_finite(batch, start)
                raise DatasetItemError(where, str(error)) from None
            self.image_shape = tuple(batch.shape[1:])
            return batch
        if batch.dim() != 4 or tuple(batch.shape[1:]) != self.image_shape:
            raise DatasetItemError(where, f"images of shape {tuple(batch.shape[1:])} differ from the first "
                                          f"image's {self.image_shape}")
        if self.dtype is not None and batch.dtype != self.dtype:
            raise DatasetItemError(where, f"images have dtype {batch.dtype} but the model's weights are {self.dtype}")
        self._raise_non_finite(batch, start)
        return batch

    @staticmethod
    def _raise_non_finite(batch: Tensor, start: int) -> None:
        if batch.dim() != 4 or not batch.is_floating_point():
            return
        finite = torch.isfinite(batch).flatten(1).all(dim=1)
        if not bool(finite.all()):
            first = int((~finite).nonzero()[0, 0]) + start
            raise DatasetItemError(first, "the image contains NaN or Inf")


class _Plan:
    """The selected layers, grouped into slots by the tensor they return (a ``Sequential`` and its last child
    return the same one), found by ``record_forward`` on one image."""

    def __init__(self, model: nn.Module, image: Tensor, layers: Sequence[str] | None,
                 layouts: Mapping[str, Layout | str] | None = None, notify: Callable[[str], None] | None = None):
        recording = record_forward(model, image, None, layouts=layouts)
        selected = spatial_layers(recording, layers, notify)
        groups: dict[tuple[int, Layout], list[str]] = {}
        for name in selected:
            groups.setdefault((id(recording.activation(name)), recording.layout(name)), []).append(name)
        self.slots = list(groups.values())
        self.slot_of = {name: i for i, names in enumerate(self.slots) for name in names}
        self.layouts = {name: recording.layout(name) for name in selected}
        self.raw_shapes = {name: tuple(recording.activation(name).shape[1:]) for name in selected}
        self.shapes: dict[str, tuple[int, int, int]] = {name: spatial_shape(recording, name) for name in selected}


class _Streamer:
    """Forward hooks feeding each selected layer's output to the accumulator as soon as it is produced."""

    def __init__(self, model: nn.Module, plan: _Plan, accumulator: TopAccumulator | PerImageTop):
        self.model, self.plan, self.accumulator = model, plan, accumulator
        self._thread = 0
        self._calls = CallNames()
        self._added: dict[int, tuple[Any, int]] = {}
        self._handles: list[Any] = []

    def __enter__(self) -> _Streamer:
        self._thread = threading.get_ident()
        try:
            for name, module in hookable_modules(self.model)[0]:
                self._handles.append(module.register_forward_hook(self._hook(name)))
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def run(self, batch: Tensor) -> None:
        """One forward pass of ``batch``; the hooks (registered by ``with streamer:``) feed the accumulator."""
        self._calls.clear()
        self._added.clear()
        try:
            self.model(batch)
        except NbsaliencyError:
            raise
        except Exception as error:
            raise ModelError(
                f"the model raised {type(error).__name__} on an input of shape {tuple(batch.shape)}: {error}"
            ) from error
        if len(self._added) != len(self.plan.slots):
            missing = [names[0] for i, names in enumerate(self.plan.slots) if i not in self._added]
            raise InputError(f"layers {missing} ran on the first image but not on this batch")

    def _hook(self, name: str):
        def hook(module: nn.Module, args: Any, output: Any) -> None:
            if threading.get_ident() != self._thread:
                return
            for key, tensor in tensor_parts(self._calls.key(name), output):
                self._add(key, module, args, tensor)

        return hook

    def _add(self, key: str, module: nn.Module, args: Any, output: Tensor) -> None:
        slot = self.plan.slot_of.get(key)
        if slot is None:
            return
        if tuple(output.shape[1:]) != self.plan.raw_shapes[key]:
            raise InputError(f"layer {key!r} returned shape {tuple(output.shape[1:])} instead of "
                             f"{self.plan.raw_shapes[key]}; all images must have the same size")
        added = self._added.get(slot)
        if added is not None:
            if added[0]() is output and added[1] == output._version:
                return
            raise InputError(f"layers {self.plan.slots[slot]} returned one tensor on the first image but not "
                             "on this batch; index them separately (layers=...)")
        layout = self.plan.layouts[key]
        self.accumulator.add_layer(slot, layout.maps(output), rectifies=self._rectified_slot(module, args, output,
                                                                                             layout))
        self._added[slot] = (weakref.ref(output), output._version)

    def _rectified_slot(self, module: nn.Module, args: Any, output: Tensor, layout: Layout) -> int | None:
        """The slot whose output this ``nn.ReLU`` rectified, unchanged since it was reduced (in place: changed
        by this ReLU alone), or None. Each map's maximum then follows from that slot's: ``max relu(a) =
        relu(max a)``, so the rectified activation need not be read again. Only for a slot of the same layout."""
        if type(module) is not nn.ReLU or not args or not isinstance(args[0], Tensor):
            return None
        source = args[0]
        expected = source._version - 1 if source is output else source._version  # relu_ bumped it once
        for slot, (reference, version) in self._added.items():
            if reference() is source and version == expected:
                return slot if self.plan.layouts[self.plan.slots[slot][0]] == layout else None
        return None


def build_tops(model: nn.Module, source: ImageSource, *, k: int, layers: Sequence[str] | None, batch_size: int,
               offset: int, progress: ProgressLike, cancel: threading.Event | None,
               one_per_image: bool = True, layouts: Mapping[str, Layout | str] | None = None,
               notify: Callable[[str], None] | None = None) -> BuiltTops:
    """The top-k of every selected layer after one pass over ``source``.

    Raises :class:`IndexBuildCancelled` when ``cancel`` is set (checked before every batch)."""
    if k < 1:
        raise ValueError(f"k must be at least 1; got {k}")
    report = resolve(progress)
    total = source.length
    plan: _Plan | None = None
    accumulator: TopAccumulator | PerImageTop | None = None
    streamer: _Streamer | None = None
    done = 0
    if report is not None:
        report(0, total)
    check = _BatchChecker(model)
    with evaluation_mode(model), torch.no_grad(), ExitStack() as hooks:
        for start, batch in source.batches(batch_size):
            if cancel is not None and cancel.is_set():
                raise IndexBuildCancelled(f"building the patch index was cancelled after {done} images")
            batch = check(batch, start)
            if plan is None:
                plan = _Plan(model, batch[:1], layers, layouts, notify)
                shapes = [plan.shapes[names[0]] for names in plan.slots]
                accumulator = PerImageTop(k, shapes) if one_per_image else TopAccumulator(k, shapes)
                streamer = hooks.enter_context(_Streamer(model, plan, accumulator))
            streamer.run(batch)  # type: ignore[union-attr]
            accumulator.end_batch(offset + start)  # type: ignore[union-attr]
            done += batch.shape[0]
            if report is not None:
                report(done, total)
    if plan is None or accumulator is None:
        raise EmptyDatasetError("the dataset is empty: there are no images to index")
    tops = {}
    for slot, names in enumerate(plan.slots):
        result = accumulator.result(slot)
        tops.update({name: result for name in names})
    return BuiltTops(dict(plan.shapes), {name: tops[name] for name in plan.shapes}, done)
