"""The patch index: for every spatial layer and channel, its k top-activating units over a dataset.

This is the data behind Zeiler & Fergus (2014, "Visualizing and Understanding Convolutional Networks",
Fig. 2): the nine strongest activations of a feature map across the validation set, shown as image patches
(the unit's receptive field) next to their projections. Units are ordered by activation value descending,
then image index, y, x ascending, so that a batched build, a merge of shards and a brute-force computation
give the same index.

By default each image counts once per channel, with its strongest unit (``one_per_image=True``: nine different
images, the "dataset examples" most tools show); ``one_per_image=False`` keeps the k strongest units
wherever they are, so neighbouring units of one image can fill several places.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import nn

from ..errors import TargetIndexError, UnknownLayerError
from ..grad_mode import check_not_inference_mode
from ..layouts import Layout
from ..recording import parse_overrides
from .build import build_tops
from .dataset import ImageData, ImageSource
from .distributed import CLUSTER_OPTIONS, build_shards
from .errors import CorruptIndexError, IndexMismatchError, IndexRebuildWarning
from .fingerprint import dataset_fingerprint, differences, fingerprint, settings_fingerprint
from .progress import ProgressLike
from .storage import read_npz, write_npz
from .topk import EMPTY, split_ids, top_per_row

FORMAT = "nbsaliency.patch_index"


class TopUnit(NamedTuple):
    """One top-activating unit: its activation, the image's index in the dataset and its position."""

    value: float
    image: int
    y: int
    x: int


class TopArrays(NamedTuple):
    """A layer's top units as NumPy arrays, each ``(C, k)``, best first."""

    values: np.ndarray
    images: np.ndarray
    ys: np.ndarray
    xs: np.ndarray


class PatchIndex:
    """Top-k units of every channel of every spatial layer; build with :meth:`build` or :meth:`load_or_build`.

    ``offset`` is the dataset index of this index's first image (shards of one dataset carry their offset, so
    that :meth:`merge` gives the one-pass index). ``one_per_image``: whether an image counts once per channel.
    """

    def __init__(self, k: int, n_images: int, offset: int, shapes: dict[str, tuple[int, int, int]],
                 tops: dict[str, TopArrays], fingerprint: dict[str, Any], one_per_image: bool = True):
        self.k, self.n_images, self.offset, self.one_per_image = k, n_images, offset, one_per_image
        self._shapes = dict(shapes)
        self._tops = dict(tops)
        self.fingerprint = fingerprint

    # -- reading -----------------------------------------------------------------------------------------
    @property
    def layers(self) -> list[str]:
        """Indexed layers, in forward order."""
        return list(self._shapes)

    def shape(self, layer: str) -> tuple[int, int, int]:
        """``(C, h, w)`` of ``layer``'s output."""
        if layer not in self._shapes:
            raise UnknownLayerError(layer, self._shapes)
        return self._shapes[layer]

    def tops(self, layer: str) -> TopArrays:
        """All channels' top units of ``layer``: arrays ``(C, k)``."""
        self.shape(layer)
        return self._tops[layer]

    def top(self, layer: str, channel: int) -> list[TopUnit]:
        """The top units of one channel, strongest first."""
        n_channels = self.shape(layer)[0]
        if not 0 <= channel < n_channels:
            raise TargetIndexError(
                f"channel {channel} is out of range for layer {layer!r} with {n_channels} channels "
                f"(valid 0..{n_channels - 1})"
            )
        t = self._tops[layer]
        return [TopUnit(float(v), int(i), int(y), int(x))
                for v, i, y, x in zip(t.values[channel], t.images[channel], t.ys[channel], t.xs[channel], strict=True)]

    def __repr__(self) -> str:
        return (f"PatchIndex(k={self.k}, images={self.offset}..{self.offset + self.n_images - 1}, "
                f"layers={len(self._shapes)}, one_per_image={self.one_per_image})")

    # -- building ----------------------------------------------------------------------------------------
    @classmethod
    def build(cls, model: nn.Module | Callable[[], nn.Module], dataset: ImageData, *, k: int = 9,
              layers: Sequence[str] | None = None, batch_size: int = 64, offset: int = 0, one_per_image: bool = True,
              progress: ProgressLike = "auto", cancel: threading.Event | None = None,
              layouts: Mapping[str, Layout | str] | None = None, client: Any = None,
              notify: Callable[[str], None] | None = None, **cluster: Any) -> PatchIndex:
        """One pass over ``dataset``: all layers in one forward pass per batch of ``batch_size`` images.

        ``one_per_image`` (default): each image enters a channel's top-k once, with its strongest unit;
        ``False``: the k strongest units wherever they are (Zeiler & Fergus's "top 9 activations").

        ``progress`` is a callback ``(done, total)``, ``True`` / ``"auto"`` for a text bar (auto: when stderr is
        a terminal) or ``False``. Setting ``cancel`` stops the pass with
        :class:`~nbsaliency.patches.IndexBuildCancelled`; the model is left as it was.

        Layers of every layout are indexed (channels-first / channels-last maps, ViT token grids): a unit's
        ``(y, x)`` is its grid position. ``layouts`` sets layouts detection cannot know, as for
        :class:`~nbsaliency.Session`; layers whose layout cannot be told are left out with a warning naming them
        (``notify(message)`` instead when given).

        ``client``: a ``dask.distributed.Client``; the build then runs as batch-aligned shards on its workers and
        equals this one-machine build bit for bit (:mod:`nbsaliency.patches.distributed`). ``model`` may then also
        be a model factory (a callable returning the model, called once per worker). Further options for a
        cluster: ``retries`` (Dask retries of a failing shard, default 1), ``shard_size`` (images per shard,
        whole batches) and ``worker_threads`` (torch threads per task).
        """
        check_not_inference_mode("a patch index", _INFERENCE_REASON)
        source = ImageSource(dataset)
        layer_list = list(layers) if layers is not None else None
        if client is None:
            if not isinstance(model, nn.Module):
                raise TypeError(f"model must be an nn.Module (a model factory needs client=); got "
                                f"{type(model).__name__}")
            key = _with_layouts(fingerprint(model, source, k, layer_list, offset, one_per_image), layouts)
        else:
            key = None if not isinstance(model, nn.Module) else _with_layouts(
                fingerprint(model, source, k, layer_list, offset, one_per_image), layouts)
        return cls._build(model, source, key, k=k, layers=layer_list, batch_size=batch_size, offset=offset,
                          one_per_image=one_per_image, progress=progress, cancel=cancel, layouts=layouts,
                          client=client, notify=notify, **cluster)

    @classmethod
    def _build(cls, model: nn.Module, source: ImageSource, key: dict[str, Any] | None, *, k: int,
               layers: list[str] | None, batch_size: int, offset: int, one_per_image: bool, progress: ProgressLike,
               cancel: threading.Event | None, layouts: Mapping[str, Layout | str] | None = None, client: Any = None,
               notify: Callable[[str], None] | None = None, **cluster: Any) -> PatchIndex:
        """:meth:`build` with the source and its fingerprint already made (:meth:`load_or_build` has them);
        with a client, on the cluster (``key`` None: a model factory's, fingerprinted on the workers)."""
        if client is None and cluster:
            raise TypeError(f"{', '.join(sorted(cluster))} only apply with client= (a Dask client)")
        unknown = set(cluster) - CLUSTER_OPTIONS
        if unknown:
            raise TypeError(f"unknown option(s) {', '.join(sorted(unknown))}; with client= the options are "
                            f"{', '.join(sorted(CLUSTER_OPTIONS))}")
        if client is not None:
            return cls._build_on_cluster(client, model, source, key, k=k, layers=layers, batch_size=batch_size,
                                         offset=offset, one_per_image=one_per_image, progress=progress, cancel=cancel,
                                         layouts=layouts, **cluster)
        built = build_tops(model, source, k=k, layers=layers, batch_size=batch_size, offset=offset,
                           progress=progress, cancel=cancel, one_per_image=one_per_image, layouts=layouts,
                           notify=notify)
        tops = {}
        for name, (values, ids) in built.tops.items():
            images, ys, xs = split_ids(ids, built.shapes[name])
            tops[name] = TopArrays(_numpy_values(values), images.cpu().numpy(), ys.cpu().numpy(), xs.cpu().numpy())
        return cls(k, built.n_images, offset, built.shapes, tops, key, one_per_image)

    @classmethod
    def _build_on_cluster(cls, client: Any, model: Any, source: ImageSource, key: dict[str, Any] | None, *, k: int,
                          layers: list[str] | None, offset: int, one_per_image: bool, **options: Any) -> PatchIndex:
        shards = build_shards(client, model, source, cls._build, k=k, layers=layers, offset=offset,
                              one_per_image=one_per_image, **options)
        models = {model_key for _, model_key in shards}
        if len(models) > 1:
            raise IndexMismatchError("the model factory gave different weights on different workers; it must load "
                                     "the same model every time")
        merged = cls.merge(*(shard for shard, _ in shards))
        merged.fingerprint = key if key is not None else {
            "model": models.pop(), "dataset": dataset_fingerprint(source),
            "settings": settings_fingerprint(k, layers, offset, one_per_image)}
        return merged

    def merge(self: PatchIndex | Sequence[PatchIndex], *others: PatchIndex) -> PatchIndex:
        """The index of the union of disjoint shards (``PatchIndex.merge(a, b)``, ``PatchIndex.merge([a, b])``
        or ``a.merge(b, c)``); equal to building over all images at once."""
        given = [*self, *others] if isinstance(self, list | tuple) else [self, *others]
        bad = [type(shard).__name__ for shard in given if not isinstance(shard, PatchIndex)]
        if bad:
            raise TypeError(f"merge takes PatchIndex shards (as arguments or one list); got a {bad[0]}")
        shards = sorted(given, key=lambda index: index.offset)
        first = shards[0]
        for shard in shards[1:]:
            if shard.k != first.k or shard._shapes != first._shapes or shard.one_per_image != first.one_per_image:
                raise IndexMismatchError("only indexes with the same k, one_per_image setting and the same layers and "
                                         "shapes can be merged")
            if shard.fingerprint.get("model") != first.fingerprint.get("model"):
                raise IndexMismatchError("the indexes were built with different model weights")
        for a, b in zip(shards, shards[1:], strict=False):
            if b.offset < a.offset + a.n_images:
                raise IndexMismatchError(
                    f"image ranges overlap: {a.offset}..{a.offset + a.n_images - 1} and {b.offset}.."
                    f"{b.offset + b.n_images - 1}; build shards on disjoint ranges with offset="
                )
        tops = {name: _merge_layer([s._tops[name] for s in shards], shape, first.k)
                for name, shape in first._shapes.items()}
        settings = {**first.fingerprint.get("settings", {}), "offset": first.offset}
        key = {"model": first.fingerprint.get("model"), "settings": settings,
               "dataset": {"shards": [s.fingerprint.get("dataset") for s in shards]}}
        n_images = sum(s.n_images for s in shards)
        return PatchIndex(first.k, n_images, first.offset, first._shapes, tops, key, first.one_per_image)

    # -- files -------------------------------------------------------------------------------------------
    def save(self, path: str | Path) -> None:
        """Write the index to ``path`` (``.npz`` + JSON metadata, atomically)."""
        arrays = {}
        for i, name in enumerate(self._shapes):
            for field, array in zip(TopArrays._fields, self._tops[name], strict=True):
                arrays[f"layer{i}_{field}"] = array
        metadata = {"format": FORMAT, "k": self.k, "n_images": self.n_images, "offset": self.offset,
                    "one_per_image": self.one_per_image,
                    "layers": [[name, list(shape)] for name, shape in self._shapes.items()],
                    "fingerprint": self.fingerprint}
        write_npz(path, arrays, metadata)

    @classmethod
    def load(cls, path: str | Path) -> PatchIndex:
        """Read an index written by :meth:`save`; :class:`~nbsaliency.patches.CorruptIndexError` if the file
        is truncated, unreadable or fails its checksum."""
        arrays, meta = read_npz(path)
        try:
            if meta["format"] != FORMAT:
                raise CorruptIndexError(f"{path}: not a patch index (format {meta['format']!r})")
            shapes = {name: tuple(int(s) for s in shape) for name, shape in meta["layers"]}
            tops = {name: TopArrays(*(arrays[f"layer{i}_{field}"] for field in TopArrays._fields))
                    for i, name in enumerate(shapes)}
            return cls(int(meta["k"]), int(meta["n_images"]), int(meta["offset"]), shapes, tops, meta["fingerprint"],
                       bool(meta["one_per_image"]))
        except (KeyError, TypeError, ValueError) as error:
            raise CorruptIndexError(f"{path}: incomplete index metadata ({error})") from error

    @classmethod
    def load_or_build(cls, path: str | Path, model: nn.Module, dataset: ImageData, *, k: int = 9,
                      layers: Sequence[str] | None = None, batch_size: int = 64, offset: int = 0,
                      one_per_image: bool = True, progress: ProgressLike = "auto",
                      cancel: threading.Event | None = None,
                      notify: Callable[[str], None] | None = None,
                      layouts: Mapping[str, Layout | str] | None = None, client: Any = None,
                      **cluster: Any) -> PatchIndex:
        """The saved index at ``path`` if it was built for this model's weights, this dataset and these
        settings; otherwise (missing, stale or corrupted file) build it, save it and return it. A stale or
        corrupted file is never used: it is rebuilt with an :class:`~nbsaliency.patches.IndexRebuildWarning`
        (or, when given, a call of ``notify(message)`` instead, e.g. to show the message in a widget; also for the
        layers left out, as :meth:`build`).
        ``client`` (and the cluster options) build it on a Dask cluster, as :meth:`build` does."""
        check_not_inference_mode("a patch index", _INFERENCE_REASON)
        if not isinstance(model, nn.Module):
            raise TypeError(f"load_or_build needs the model itself (its weights key the saved file); got "
                            f"{type(model).__name__} (a model factory works with build(..., client=))")
        path = Path(path)
        layer_list = list(layers) if layers is not None else None
        source = ImageSource(dataset)
        current = _with_layouts(fingerprint(model, source, k, layer_list, offset, one_per_image), layouts)
        if path.exists():
            try:
                saved = cls.load(path)
            except CorruptIndexError as error:
                message = f"{error}; rebuilding the patch index"
            else:
                changed = differences(saved.fingerprint, current)
                if not changed:
                    return saved
                message = f"{path} is stale ({' and '.join(changed)} changed since it was built); rebuilding the " \
                          "patch index"
            if notify is None:
                warnings.warn(message, IndexRebuildWarning, stacklevel=2)
            else:
                notify(message)
        index = cls._build(model, source, current, k=k, layers=layer_list, batch_size=batch_size, offset=offset,
                           one_per_image=one_per_image, progress=progress, cancel=cancel, layouts=layouts,
                           client=client, notify=notify, **cluster)
        index.save(path)
        return index


_INFERENCE_REASON = ("the build checks each recorded activation's version counter (that no later in-place operation "
                     "overwrote it), and inference tensors have none")


def _with_layouts(key: dict[str, Any], layouts: Mapping[str, Layout | str] | None) -> dict[str, Any]:
    """The fingerprint with the given layout overrides among the settings (absent when none are given, so that
    indexes saved before layouts existed stay valid)."""
    if layouts:
        parsed = parse_overrides(layouts)
        key["settings"]["layouts"] = {name: [l.kind, list(l.grid or ()), l.prefix] for name, l in parsed.items()}
    return key


def _numpy_values(values: torch.Tensor) -> np.ndarray:
    values = values.detach().cpu()
    return (values.float() if values.dtype == torch.bfloat16 else values).numpy()


def _merge_layer(parts: list[TopArrays], shape: tuple[int, int, int], k: int) -> TopArrays:
    c, h, w = shape
    values = torch.cat([torch.from_numpy(p.values) for p in parts], dim=1)
    ids = torch.cat([torch.from_numpy(p.images * (h * w) + p.ys * w + p.xs) for p in parts], dim=1)
    rows = torch.arange(c)[:, None].expand_as(ids)
    values, ids = top_per_row(values.reshape(-1), ids.reshape(-1), rows.reshape(-1), c, k)
    real = int((ids != EMPTY).sum(dim=1).min()) if ids.numel() else 0
    images, ys, xs = split_ids(ids[:, :real], shape)
    values = values[:, :real]
    return TopArrays(values.numpy(), images.numpy(), ys.numpy(), xs.numpy())
