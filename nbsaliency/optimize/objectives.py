"""Objectives for optimisation-based visualisation: the engine's targets plus terms on the image itself.

An objective is an ordinary :class:`nbsaliency.Target`: it maps one forward pass to one value per image,
``(N,)``, and composes with ``+``, ``-`` and ``*`` like lucent's objectives
(``Channel("block3.conv2", 5) - 1e-2 * L1()``). The forward view the optimiser passes also carries the image
being optimised (``view.image``), so terms on the image are targets too and the same arithmetic applies;
evaluated on an attribution session (which has no optimised image) they raise a clear error.

Image terms are averaged over pixels (not summed, as lucent does) so that one weight works at any image size.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from ..errors import TargetError
from ..targets import ForwardView, Target
from .per_channel import Values, per_channel, values


def optimised_image(view: ForwardView, term: Target) -> Tensor:
    """The image being optimised, ``(N, C, H, W)``, or a clear error when ``view`` has none."""
    image = getattr(view, "image", None)
    if not isinstance(image, Tensor):
        raise TargetError(
            f"{term!r} is a term on the optimised image: use it in an objective for nbsaliency.optimize "
            "(class_model, activation_maximisation, ...), not as an attribution target"
        )
    return image


class ImageTerm(Target):
    """A function of the optimised image alone (a regulariser when subtracted from an objective)."""

    def values(self, view: ForwardView) -> Tensor:
        return self.of_image(optimised_image(view, self))

    def of_image(self, image: Tensor) -> Tensor:
        """One value per image of an ``(N, C, H, W)`` batch."""
        raise NotImplementedError


class L1(ImageTerm):
    """Mean absolute deviation of the pixels from ``center`` (lucent's ``L1``, averaged); ``center`` is one
    number or one per channel."""

    def __init__(self, center: Values = 0.0):
        self.center = values(center)

    def of_image(self, image: Tensor) -> Tensor:
        return (image - per_channel(self.center, image, "L1's center")).abs().flatten(1).mean(dim=1)

    def __repr__(self) -> str:
        return f"L1(center={self.center!r})"


class L2(ImageTerm):
    """Mean squared deviation from ``center``: Simonyan et al. (2014)'s ``||I||^2`` penalty on class models,
    with ``center`` the image that counts as zero (the mean image for centred inputs); one number or one per
    channel."""

    def __init__(self, center: Values = 0.0):
        self.center = values(center)

    def of_image(self, image: Tensor) -> Tensor:
        return (image - per_channel(self.center, image, "L2's center")).pow(2).flatten(1).mean(dim=1)

    def __repr__(self) -> str:
        return f"L2(center={self.center!r})"


class AlphaNorm(ImageTerm):
    """Mahendran & Vedaldi (2015)'s alpha-norm ``||x - center||_alpha^alpha`` (per pixel mean): a large
    ``alpha`` (they use 6) keeps the image in range by penalising extreme pixels much more than the rest.
    Deviations are divided by ``scale`` (e.g. half the value range, so the term is at most 1 in range).
    ``center`` and ``scale``: one number or one per channel."""

    def __init__(self, alpha: float = 6.0, center: Values = 0.0, scale: Values = 1.0):
        self.alpha, self.center, self.scale = float(alpha), values(center), values(scale)
        scales = (self.scale,) if isinstance(self.scale, float) else self.scale
        if self.alpha <= 0 or min(scales) <= 0:
            raise TargetError(f"alpha and scale must be positive; got alpha={alpha}, scale={scale}")

    def of_image(self, image: Tensor) -> Tensor:
        deviation = (image - per_channel(self.center, image, "AlphaNorm's center")) / per_channel(
            self.scale, image, "AlphaNorm's scale")
        return deviation.abs().pow(self.alpha).flatten(1).mean(dim=1)

    def __repr__(self) -> str:
        return f"AlphaNorm(alpha={self.alpha!r}, center={self.center!r}, scale={self.scale!r})"


class TotalVariation(ImageTerm):
    """Mahendran & Vedaldi (2015)'s total variation with exponent ``beta``:
    ``sum_ij ((x[i, j+1] - x[i, j])^2 + (x[i+1, j] - x[i, j])^2)^(beta / 2)``, averaged over pixels.

    ``beta = 1`` is the classic TV (edges stay sharp); ``beta = 2`` (their choice for deeper layers) smooths
    more and spreads edges into gradients; ``beta < 1`` favours piecewise constant images.
    """

    def __init__(self, beta: float = 2.0, eps: float = 1e-8):
        if beta <= 0:
            raise TargetError(f"beta must be positive; got {beta}")
        self.beta, self.eps = float(beta), float(eps)

    def of_image(self, image: Tensor) -> Tensor:
        dx = image[..., :-1, 1:] - image[..., :-1, :-1]
        dy = image[..., 1:, :-1] - image[..., :-1, :-1]
        squared = dx.pow(2) + dy.pow(2)
        if self.beta != 2.0:  # eps keeps the gradient finite where the image is flat
            squared = (squared + self.eps).pow(self.beta / 2)
        return squared.flatten(1).mean(dim=1)

    def __repr__(self) -> str:
        return f"TotalVariation(beta={self.beta!r})"


class FeatureDistance(Target):
    """Mahendran & Vedaldi (2015)'s inversion loss ``||phi(x) - phi0||^2 / ||phi0||^2`` of one layer.

    ``reference`` is ``phi0``, the layer's activation on the image being inverted, ``(N, ...)``. Minimise it
    (subtract it from an objective) to find an image the layer cannot tell from the original.
    """

    def __init__(self, layer: str, reference: Tensor):
        self.layer = layer
        self.reference = reference.detach()
        self.norm = self.reference.flatten(1).pow(2).sum(dim=1).clamp_min(1e-12)

    @property
    def layers(self) -> tuple[str, ...]:
        return (self.layer,)

    def values(self, view: ForwardView) -> Tensor:
        activation = view.activation(self.layer)
        if activation.shape != self.reference.shape:
            raise TargetError(
                f"layer {self.layer!r} gave an activation of shape {tuple(activation.shape)} but the reference "
                f"has shape {tuple(self.reference.shape)}: transforms that change the image size (padding, "
                "jitter crops, scaling) cannot be used with inversion"
            )
        return (activation - self.reference).flatten(1).pow(2).sum(dim=1) / self.norm

    def __repr__(self) -> str:
        return f"FeatureDistance({self.layer!r})"


class PerImage(Target):
    """Image ``i`` of the batch optimises ``targets[i]``: several channels (or classes, neurons) in one run,
    e.g. ``PerImage([Channel("block3.conv2", c, "mean") for c in range(8)])`` with a batch of 8."""

    def __init__(self, targets: Sequence[Target]):
        if not targets:
            raise TargetError("PerImage needs at least one target")
        self.targets = tuple(targets)

    @property
    def layers(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(layer for target in self.targets for layer in target.layers))

    def values(self, view: ForwardView) -> Tensor:
        stacked = torch.stack([target.values(view) for target in self.targets])  # (T, N)
        if stacked.shape[0] != stacked.shape[1]:
            raise TargetError(f"PerImage has {stacked.shape[0]} targets for a batch of {stacked.shape[1]} images; "
                              "give one target per image")
        return stacked.diagonal()

    def __repr__(self) -> str:
        return f"PerImage({list(self.targets)!r})"
