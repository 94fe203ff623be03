"""Lesion studies: remove channels or units of a layer during the forward pass (the model is never edited) and
measure what the model loses; rank a layer's channels by the damage; remove the most important cumulatively.

>>> nbs.lesion(model, "block3.conv2", [5]).effect(x).score_change        # (N, classes)
>>> sweep = nbs.lesion_sweep(model, x, "block3.conv2", target=3)          # one pass per chunk of channels
>>> nbs.lesion_curve(model, x, "block3.conv2", sweep.ranking, target=3).mean
"""

from .study import Lesion, LesionEffect, lesion
from .sweep import LesionCurve, LesionSweep, lesion_curve, lesion_sweep

__all__ = ["Lesion", "LesionCurve", "LesionEffect", "LesionSweep", "lesion", "lesion_curve", "lesion_sweep"]
