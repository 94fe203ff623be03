"""nbsaliency: see what a PyTorch image model looks at.

>>> import nbsaliency as nbs
>>> s = nbs.Session(model, x)                       # one forward pass, kept
>>> s.attribute(nbs.Logit(3), "guided")             # a backward pass per call
>>> nbs.attribute(model, x, nbs.Channel("features.8", 12), method="deconvnet")
"""

from .errors import (
    InputError,
    ModelError,
    NbsaliencyError,
    NoGradientPathError,
    TargetError,
    TargetIndexError,
    UnknownLayerError,
    UnknownMethodError,
    UnsupportedActivationError,
)
from .functional import attribute, layers
from .maps import clip_percentile, saliency_map, signed_rgb, to_image
from .methods import method_info, methods
from .recording import ActivationUse
from .session import Layer, Session
from .targets import Channel, LayerNorm, Logit, Neuron, Probability, Target

__version__ = "0.1.0"


def __getattr__(name: str):
    """``nbs.Explorer`` is imported on first use, so the engine never pulls in the widget stack."""
    if name == "Explorer":
        from .widget import Explorer

        return Explorer
    raise AttributeError(f"module 'nbsaliency' has no attribute {name!r}")


__all__ = [
    "ActivationUse",
    "attribute",
    "Channel",
    "clip_percentile",
    "Explorer",
    "InputError",
    "Layer",
    "LayerNorm",
    "layers",
    "Logit",
    "method_info",
    "methods",
    "ModelError",
    "NbsaliencyError",
    "Neuron",
    "NoGradientPathError",
    "Probability",
    "saliency_map",
    "Session",
    "signed_rgb",
    "Target",
    "TargetError",
    "TargetIndexError",
    "to_image",
    "UnknownLayerError",
    "UnknownMethodError",
    "UnsupportedActivationError",
]
