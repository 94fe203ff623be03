"""Inverting a representation (Mahendran & Vedaldi 2015, "Understanding Deep Image Representations by
Inverting Them", CVPR).

Given an image ``x0`` and a layer ``phi``, find an image ``x`` that the layer cannot tell from ``x0``:

    minimise  ||phi(x) - phi(x0)||^2 / ||phi(x0)||^2  +  lambda_alpha R_alpha(x)  +  lambda_tv R_TV^beta(x)

starting from noise. What the reconstruction keeps is what the layer keeps: early layers give back nearly the
photo, deeper ones keep the object's parts and lose exact colour and position. The result's metrics measure it.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from ..methods.options import number
from ..model_state import evaluation_mode
from ..normalization import check_in_range, stated_range
from ..validation import as_image_batch
from .capture import LayerCapture, OptimisationView
from .checks import loop_options
from .input_size import fit_transforms, probe_input_size, refuse_size
from .objectives import AlphaNorm, FeatureDistance, TotalVariation
from .optimisers import OptimiserLike
from .parameterisations import Parameterisation, Range, make_parameterisation
from .runner import Callback, OptimisationResult, evaluate, midpoint, optimise, run_model
from .transforms import Transform


def layer_activation(model: nn.Module, x: Tensor, layer: str) -> Tensor:
    """``layer``'s activation on ``x`` (eval mode, no gradients; hooks removed afterwards)."""
    with evaluation_mode(model), torch.no_grad(), LayerCapture(model, [layer]) as capture:
        output = run_model(model, x)
        return OptimisationView(output, x, capture.take()).activation(layer).detach()


def image_error(reconstruction: Tensor, original: Tensor, *, centred: bool = False) -> Tensor:
    """Relative reconstruction error per image, ``||x - x0|| / ||x0||``. With ``centred=True`` the
    denominator is ``||x0 - mean colour of x0||`` (the image's contrast): 0 is perfect, about 1 is no better
    than a flat image of the right mean colour - a stricter measure for mostly flat images."""
    reference = original - original.mean(dim=(2, 3), keepdim=True) if centred else original
    return (reconstruction - original).flatten(1).norm(dim=1) / reference.flatten(1).norm(dim=1).clamp_min(1e-12)


def invert(model: nn.Module, image: Tensor, layer: str, *, steps: int = 200, lr: float = 0.05, tv: float = 0.5,
           beta: float = 2.0, alpha_weight: float = 1e-3, alpha: float = 6.0, value_range: Range | None = None,
           normalization: object = None,
           param: str | Parameterisation = "pixels", optimiser: OptimiserLike = "adam",
           transforms: Transform | Sequence[Transform] = (), seed: int = 0, callback: Callback | None = None,
           every: int = 10, cancel: threading.Event | None = None) -> OptimisationResult:
    """Reconstruct ``image`` ``(N, C, H, W)`` or ``(C, H, W)`` from ``layer``'s activation alone
    (Mahendran & Vedaldi 2015), with total variation (exponent ``beta``, weight ``tv``) and alpha-norm
    (``alpha``, weight ``alpha_weight``) regularisers, from random noise.

    ``metrics``, one value per image: ``feature_error`` (the normalised layer distance reached),
    ``image_error`` and ``contrast_error`` (:func:`image_error` plain and centred).

    ``normalization`` / ``value_range`` (default ``(0, 1)``) state the range of ``image`` and of the
    reconstruction; an image clearly outside it is refused (a few stray values: a warning). A model that takes
    one size only must be given an image of that size.

    Raises :class:`~nbsaliency.OptionError` for steps or every below 1, lr / beta / alpha not above 0 or a
    negative tv / alpha_weight; :class:`~nbsaliency.InferenceModeError` inside ``torch.inference_mode()``.
    """
    loop_options("invert", steps=steps, lr=lr, every=every, what="inversions")
    for name, value in (("tv", tv), ("alpha_weight", alpha_weight)):
        number("invert", name, value, minimum=0)
    for name, value in (("beta", beta), ("alpha", alpha)):
        number("invert", name, value, above=0)
    batch, _ = as_image_batch(model, image)
    batch = batch.detach()
    value_range, norm = stated_range(value_range, normalization)
    check_in_range(batch, value_range, "the image to invert")
    found = probe_input_size(model, batch.shape[1], batch.shape[2:], method="invert", device=batch.device,
                             dtype=batch.dtype)
    refuse_size(found, "invert", f"resize the image to {found.size[0]}x{found.size[1]}")
    reference = layer_activation(model, batch, layer)
    distance = FeatureDistance(layer, reference)
    centre = midpoint(value_range)  # per channel for a normalised model, as the half range below
    low, high = (torch.as_tensor(v, dtype=torch.float64).reshape(-1) for v in value_range)
    half = ((high - low) / 2).tolist()
    objective = -distance
    if tv:
        objective = objective - tv * TotalVariation(beta)
    if alpha_weight:
        objective = objective - alpha_weight * AlphaNorm(alpha, center=centre, scale=half)
    options = {"sd": 0.1} if param == "pixels" else {}
    param = make_parameterisation(param, tuple(batch.shape), value_range=value_range, seed=seed, **options,
                                  device=batch.device, dtype=batch.dtype)
    result = optimise(model, objective, param, steps=steps, lr=lr, optimiser=optimiser,
                      transforms=fit_transforms(transforms, found), seed=seed, callback=callback, every=every,
                      cancel=cancel,
                      settings={"method": "invert", "paper": "Mahendran & Vedaldi 2015", "layer": layer, "tv": tv,
                                "beta": beta, "alpha": alpha, "alpha_weight": alpha_weight,
                                "model_input_size": found.fixed, "normalization": repr(norm) if norm else None})
    result.metrics["feature_error"] = evaluate(model, distance, result.image).cpu()
    result.metrics["image_error"] = image_error(result.image, batch).cpu()
    result.metrics["contrast_error"] = image_error(result.image, batch, centred=True).cpu()
    return result
