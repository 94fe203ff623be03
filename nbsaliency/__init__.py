"""nbsaliency: see what a PyTorch image model looks at.

>>> import nbsaliency as nbs
>>> s = nbs.Session(model, x)                       # one forward pass, kept
>>> s.attribute(nbs.Logit(3), "guided")             # a backward pass per call
>>> nbs.attribute(model, x, nbs.Channel("features.8", 12), method="deconvnet")
>>> index = nbs.PatchIndex.build(model, val_images)       # top-9 units of every channel, one pass
>>> nbs.top_patches(model, val_images, index, "features.8", 12)   # Zeiler & Fergus's top-9 figure
"""

# isort: off  (optimize builds on the engine above)
from . import optimize, patches
from .embedding import Embedding, layer_codes, tsne
from .errors import (
    Cancelled,
    InferenceModeError,
    InputError,
    ModelError,
    NbsaliencyError,
    NoGradientPathError,
    OptionError,
    TargetError,
    TargetIndexError,
    UnknownLayerError,
    UnknownMethodError,
    UnsupportedActivationError,
    ZeroAttributionWarning,
)
from .functional import attribute, layers
from .kernels import KernelGrid, LayerTypeError, kernel_grid
from .layouts import Layout, LayoutError
from .lesion import Lesion, LesionCurve, LesionEffect, LesionSweep, lesion, lesion_curve, lesion_sweep
from .maps import clip_percentile, saliency_map, signed_rgb, to_image
from .methods import method_info, methods
from .normalization import Normalization
from .optimize import (
    L1,
    L2,
    AlphaNorm,
    OptimisationResult,
    TotalVariation,
    activation_maximisation,
    class_model,
    deepdream,
    invert,
)
from .patches import Patch, PatchIndex, top_patches
from .receptive_field import Box, ReceptiveFields, receptive_field
from .recording import ActivationUse
from .session import Layer, Session
from .targets import Channel, LayerEnergy, LayerNorm, Logit, Neuron, Probability, Target

# isort: on

__version__ = "0.1.0"


def __getattr__(name: str):
    """``nbs.Explorer`` and the figure helpers are imported on first use, so the engine never pulls in the
    widget stack or matplotlib."""
    if name == "Explorer":
        from .explorer.widget import Explorer

        return Explorer
    if name == "kernel_grid_figure":
        from .plotting.kernels import kernel_grid_figure

        return kernel_grid_figure
    if name == "embedding_figure":
        from .plotting.embedding import embedding_figure

        return embedding_figure
    if name == "lesion_figure":
        from .plotting.lesion import lesion_figure

        return lesion_figure
    if name == "top_patches_figure":  # matplotlib is imported only when a figure is drawn
        from .plotting.patches import top_patches_figure

        return top_patches_figure
    raise AttributeError(f"module 'nbsaliency' has no attribute {name!r}")


__all__ = [
    "Normalization",
    "Embedding",
    "embedding_figure",
    "kernel_grid",
    "kernel_grid_figure",
    "KernelGrid",
    "layer_codes",
    "LayerTypeError",
    "lesion_figure",
    "tsne",
    "Lesion",
    "LesionCurve",
    "LesionEffect",
    "LesionSweep",
    "lesion",
    "lesion_curve",
    "lesion_sweep",
    "top_patches_figure",
    "top_patches",
    "ReceptiveFields",
    "receptive_field",
    "patches",
    "PatchIndex",
    "Patch",
    "Box",
    "activation_maximisation",
    "ActivationUse",
    "AlphaNorm",
    "attribute",
    "Channel",
    "class_model",
    "clip_percentile",
    "deepdream",
    "Explorer",
    "InputError",
    "invert",
    "L1",
    "L2",
    "Layer",
    "LayerEnergy",
    "LayerNorm",
    "layers",
    "Logit",
    "method_info",
    "methods",
    "ModelError",
    "NbsaliencyError",
    "Neuron",
    "NoGradientPathError",
    "OptimisationResult",
    "optimize",
    "Probability",
    "saliency_map",
    "Session",
    "signed_rgb",
    "Target",
    "TargetError",
    "TargetIndexError",
    "to_image",
    "TotalVariation",
    "UnknownLayerError",
    "UnknownMethodError",
    "UnsupportedActivationError",
    "Layout",
    "LayoutError",
    "Cancelled",
    "InferenceModeError",
    "OptionError",
    "ZeroAttributionWarning",
]
