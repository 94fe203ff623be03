"""Optimisation-based visualisation: images made by gradient ascent on what a model computes.

>>> from nbsaliency import Channel
>>> from nbsaliency.optimize import L1, activation_maximisation, class_model, deepdream, invert
>>> class_model(model, 3, size=64).image                                       # Simonyan et al. 2014
>>> activation_maximisation(model, Channel("block3.conv2", 5, "mean") - 1e-2 * L1(0.5))  # Olah et al. 2017
>>> deepdream(model, x, "block2.relu2")                                        # Mordvintsev et al. 2015
>>> invert(model, x, "block1").metrics["image_error"]                          # Mahendran & Vedaldi 2015

Objectives are the engine's targets plus terms on the image (:mod:`.objectives`); an image comes from a
parameterisation (:mod:`.parameterisations`), is randomly transformed before each forward pass
(:mod:`.transforms`) and may be edited after each step (:mod:`.regularisers`); :func:`optimise` runs the loop
for every method, reproducibly per seed, streaming to a callback and stopping on a ``threading.Event``.
"""

from .activation_max import PRESETS, activation_maximisation
from .capture import LayerCapture, OptimisationView
from .class_model import class_model
from .deepdream import deepdream
from .input_size import FitSize, ResizedInputWarning, probe_input_size
from .inversion import image_error, invert
from .objectives import L1, L2, AlphaNorm, FeatureDistance, ImageTerm, PerImage, TotalVariation
from .optimisers import NormalisedGradient
from .parameterisations import FourierImage, Parameterisation, PixelImage, colour_decorrelation
from .regularisers import (
    YOSINSKI_TABLE_1,
    Blur,
    ClipSmallContribution,
    ClipSmallNorm,
    Decay,
    Regulariser,
    gaussian_blur,
    yosinski_regularisers,
)
from .runner import OptimisationResult, evaluate, optimise
from .transforms import Compose, Jitter, Pad, RandomRotate, RandomScale, Roll, Transform, standard_transforms

__all__ = [
    "PRESETS", "YOSINSKI_TABLE_1", "AlphaNorm", "Blur", "ClipSmallContribution", "ClipSmallNorm", "Compose", "Decay",
    "FeatureDistance", "FitSize", "FourierImage", "ImageTerm", "Jitter", "L1", "L2", "LayerCapture",
    "NormalisedGradient", "OptimisationResult", "OptimisationView", "Pad", "PerImage", "Parameterisation",
    "PixelImage", "RandomRotate", "RandomScale", "Regulariser", "ResizedInputWarning", "Roll", "TotalVariation",
    "Transform", "activation_maximisation", "class_model", "colour_decorrelation", "deepdream", "evaluate",
    "gaussian_blur", "image_error", "invert", "optimise", "probe_input_size", "standard_transforms",
    "yosinski_regularisers",
]
