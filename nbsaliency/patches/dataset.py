"""Read access to the image collections a patch index accepts, with errors that name the bad item.

Accepted: an ``(N, C, H, W)`` tensor; a sequence of ``(C, H, W)`` tensors; a map-style torch ``Dataset``
whose items are tensors or ``(tensor, label, ...)`` tuples; an unshuffled ``DataLoader`` yielding batches
or ``(batch, labels, ...)`` tuples. Image ``i`` is the ``i``-th image in iteration order.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, IterableDataset, SequentialSampler

from .errors import DatasetError, DatasetItemError, EmptyDatasetError

ImageData = Tensor | Sequence[Tensor] | Dataset | DataLoader


def _first(item: Any) -> Any:
    return item[0] if isinstance(item, tuple | list) and item else item


def _describe(value: Any) -> str:
    return f"a tensor of shape {tuple(value.shape)}" if isinstance(value, Tensor) else type(value).__name__


class ImageSource:
    """Uniform access: ``source.length``, ``source.batches(batch_size)``, ``source.image(i)``."""

    def __init__(self, data: ImageData):
        self.data = data
        self.loader: DataLoader | None = data if isinstance(data, DataLoader) else None
        self.items: Any = None  # random access to single items, when there is one
        if isinstance(data, Tensor):
            if data.dim() != 4:
                raise DatasetError(f"a tensor dataset must have shape (N, C, H, W); got {tuple(data.shape)}")
            if not data.is_floating_point():
                raise DatasetItemError(0, f"images must be floating point (e.g. x.float() / 255); got {data.dtype}")
        elif self.loader is not None:
            dataset = self.loader.dataset
            if not isinstance(dataset, IterableDataset):
                if not isinstance(self.loader.sampler, SequentialSampler):
                    raise DatasetError(
                        "the DataLoader does not iterate its dataset in order (shuffle=True or a custom sampler), "
                        "so image indices could not be mapped back to images; pass an unshuffled DataLoader"
                    )
                if hasattr(dataset, "__len__"):
                    self.items = dataset
        elif isinstance(data, Mapping | str | bytes):
            raise DatasetError(
                f"cannot index images from a {type(data).__name__}; give an (N, C, H, W) tensor, a sequence of "
                "(C, H, W) tensors, a torch Dataset or a DataLoader"
            )
        elif hasattr(data, "__getitem__") and hasattr(data, "__len__"):
            self.items = data
        else:
            raise DatasetError(
                f"cannot index images from a {type(data).__name__}; give an (N, C, H, W) tensor, a sequence of "
                "(C, H, W) tensors, a torch Dataset or a DataLoader"
            )
        if isinstance(data, Tensor):
            self.items = data
        self._shape: tuple[int, ...] | None = None
        #: number of images, None for a DataLoader over an iterable dataset (known after one pass)
        self.length: int | None = len(self.items) if self.items is not None else None
        if self.length == 0:
            raise EmptyDatasetError("the dataset is empty: there are no images to index")

    @property
    def image_shape(self) -> tuple[int, ...]:
        """``(C, H, W)`` of every image (read from the first item)."""
        if self._shape is None:
            self._shape = tuple(self.image(0).shape)
        return self._shape

    def image(self, i: int) -> Tensor:
        """Image ``i`` as a ``(C, H, W)`` tensor, checked."""
        if self.items is None:
            raise DatasetError("this DataLoader's dataset is iterable-style (no random access), so single images "
                               "cannot be read back for patches; pass a map-style Dataset, a tensor or a list")
        if not 0 <= i < self.length:  # type: ignore[operator]
            raise IndexError(f"image index {i} is out of range for a dataset of {self.length} images")
        return self._check_item(i, _first(self.items[i]))

    def _check_item(self, i: int, value: Any) -> Tensor:
        if not isinstance(value, Tensor):
            raise DatasetItemError(i, f"expected a (C, H, W) image tensor (or an (image, label) tuple); got "
                                      f"{_describe(value)}")
        if value.dim() != 3:
            raise DatasetItemError(i, f"expected a (C, H, W) image; got shape {tuple(value.shape)}")
        if not value.is_floating_point():
            raise DatasetItemError(i, f"images must be floating point (e.g. x.float() / 255); got {value.dtype}")
        if self._shape is not None and tuple(value.shape) != self._shape:
            raise DatasetItemError(i, f"shape {tuple(value.shape)} differs from the first image's {self._shape}")
        if self._shape is None and i == 0:
            self._shape = tuple(value.shape)
        return value

    def batches(self, batch_size: int) -> Iterator[tuple[int, Tensor]]:
        """``(index of the first image, (B, C, H, W) batch)`` in order; a DataLoader keeps its own batches."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1; got {batch_size}")
        if isinstance(self.data, Tensor):
            for start in range(0, self.data.shape[0], batch_size):
                yield start, self.data[start:start + batch_size]
        elif self.loader is not None:
            yield from self._loader_batches()
        else:
            self.image_shape  # noqa: B018  (fixes the reference shape from item 0)
            n = self.length or 0
            for start in range(0, n, batch_size):
                stop = min(n, start + batch_size)
                yield start, torch.stack([self.image(i) for i in range(start, stop)])

    def _loader_batches(self) -> Iterator[tuple[int, Tensor]]:
        start = 0
        iterator = iter(self.loader)  # type: ignore[arg-type]
        while True:
            try:
                batch = next(iterator)
            except StopIteration:
                return
            except (RuntimeError, TypeError, ValueError) as error:
                self._find_bad_item(start)
                raise DatasetError(f"the DataLoader failed on the batch starting at image {start}: {error}") from error
            batch = _first(batch)
            size = batch.shape[0] if isinstance(batch, Tensor) and batch.dim() > 0 else 1
            where = (start, start + size)
            if not isinstance(batch, Tensor) or batch.dim() != 4:
                raise DatasetItemError(where, f"expected an (N, C, H, W) batch (or (batch, labels)); got "
                                              f"{_describe(batch)}")
            if not batch.is_floating_point():
                raise DatasetItemError(where, f"images must be floating point; got {batch.dtype}")
            if self._shape is None:
                self._shape = tuple(batch.shape[1:])
            elif tuple(batch.shape[1:]) != self._shape:
                raise DatasetItemError(where, f"images of shape {tuple(batch.shape[1:])} differ from the first "
                                              f"image's {self._shape}")
            yield start, batch
            start += size

    def _find_bad_item(self, start: int) -> None:
        """After a collate error, name the item that caused it (when the dataset can be read item by item)."""
        if self.items is None or self.loader is None or self.loader.batch_size is None:
            return
        for i in range(start, min(self.length or 0, start + self.loader.batch_size)):
            self.image(i)
