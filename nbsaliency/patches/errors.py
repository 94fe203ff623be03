"""Errors and warnings of the patch index: each says which item, file or setting was wrong."""

from __future__ import annotations

import difflib

from ..errors import InputError, NbsaliencyError, UnknownLayerError


class DatasetError(InputError):
    """The dataset cannot be indexed: empty, or of a kind nbsaliency does not read."""


class EmptyDatasetError(DatasetError):
    """The dataset has no images."""


class DatasetItemError(DatasetError):
    """One item (or batch) of the dataset has the wrong type, shape, dtype or device; ``index`` names it."""

    def __init__(self, index: int | tuple[int, int], message: str):
        self.index = index
        where = f"item {index}" if isinstance(index, int) else f"items {index[0]}..{index[1] - 1}"
        super().__init__(f"dataset {where}: {message}")


class IndexBuildCancelled(NbsaliencyError, RuntimeError):
    """Building the index was cancelled through its ``cancel`` event; nothing was kept and the model is as it
    was."""


class CorruptIndexError(NbsaliencyError, ValueError):
    """A saved index file that is truncated, unreadable, or fails its checksum."""


class IndexMismatchError(NbsaliencyError, ValueError):
    """Indexes that cannot be merged: different settings, layers or model, or overlapping image ranges."""


class IndexRebuildWarning(UserWarning):
    """``PatchIndex.load_or_build`` found a stale or corrupted file and rebuilt the index."""


class ProjectionMethodError(NbsaliencyError, ValueError):
    """A method that cannot project a single unit in one backward pass (only the gradient family can)."""


class LayerNotIndexedError(UnknownLayerError):
    """A layer of the model that the patch index does not hold (a flat output, or left out with ``layers=``)."""

    def __init__(self, name: str, indexed: list[str]):
        self.name = name
        self.close_matches = difflib.get_close_matches(name, indexed, n=5, cutoff=0.5)
        preview = ", ".join(repr(m) for m in indexed[:8]) + (", ..." if len(indexed) > 8 else "")
        ValueError.__init__(
            self,
            f"layer {name!r} is in the model but not in the patch index: the index holds the layers whose output "
            f"has a grid of positions ((N, C, h, w) maps, channels-last maps, ViT token grids), so a flat output "
            f"such as (N, classes) is not indexed, and with layers= at build time only those. Indexed layers: "
            f"{preview or 'none'}")
