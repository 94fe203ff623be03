"""Top-activating dataset patches with receptive fields and projections (Zeiler & Fergus 2014, Fig. 2).

>>> from nbsaliency.patches import PatchIndex, top_patches
>>> index = PatchIndex.load_or_build("index.npz", model, val_images)      # one pass, all layers
>>> patches = top_patches(model, val_images, index, "block3.conv2", 12)   # nine crops + DeconvNet projections
"""

from .dataset import ImageSource
from .distributed import ShardBuildError
from .errors import (
    CorruptIndexError,
    DatasetError,
    DatasetItemError,
    EmptyDatasetError,
    IndexBuildCancelled,
    IndexMismatchError,
    IndexRebuildWarning,
    LayerNotIndexedError,
    ProjectionMethodError,
)
from .index import PatchIndex, TopArrays, TopUnit
from .progress import TextProgress
from .projections import Patch, project_units, projection_methods, top_patches
from .targets import Units

__all__ = [
    "projection_methods", "CorruptIndexError", "DatasetError", "DatasetItemError", "EmptyDatasetError",
    "ImageSource", "IndexBuildCancelled", "IndexMismatchError", "IndexRebuildWarning", "LayerNotIndexedError",
    "Patch", "PatchIndex",
    "ProjectionMethodError", "TextProgress", "TopArrays", "TopUnit", "Units", "project_units", "top_patches",
    "ShardBuildError",
]
