"""Grad-CAM and guided Grad-CAM."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch.nn.functional as F
from torch import Tensor

from ..errors import NoGradientPathError, TargetError
from ..rules.backward_rules import GRADIENT, GUIDED
from ..targets import Target
from .registry import register

if TYPE_CHECKING:  # methods receive a Session; only session.py builds one (no import cycle)
    from ..session import Session

CAM_METHODS = ("gradcam", "guided_gradcam")  # the methods below: they take a layer= option


def cam_layer_usable(session: Session, layer: str) -> bool:
    """Whether Grad-CAM can weight ``layer``'s maps: spatial, more than one position, and not edited in place
    after the layer produced them (gradients with respect to such an output are not defined)."""
    shape = session.recording.activation(layer).shape
    return len(shape) == 4 and shape[2] * shape[3] > 1 and layer not in session.recording.copied_on_write


def default_cam_layer(session: Session, targets: Sequence[Target]) -> str:
    """The last layer with spatial maps produced by a module without children (Selvaraju et al. use the last
    convolutional layer); for targets inside the network, the last such layer at or before the earliest
    layer a target reads, so that the target depends on it."""
    order = [layer.name for layer in session.layers]
    leaves = {name for name, module in session.model.named_modules() if not any(module.children())}
    target_layers = [layer for target in targets for layer in target.layers]
    last = min((order.index(layer) for layer in target_layers if layer in order), default=len(order) - 1)
    spatial = [layer.name for layer in session.layers[:last + 1]
               if layer.name.split("#")[0] in leaves and cam_layer_usable(session, layer.name)]
    if not spatial:
        raise TargetError("Grad-CAM needs a layer with spatial maps (N, C, H, W) before the target; there is none")
    return spatial[-1]


def class_activation_maps(session: Session, targets: Sequence[Target], layer: str | None) -> Tensor:
    """Grad-CAM maps at the input resolution: ``(T, N, 1, H, W)``; without ``layer``, each target at its
    own default layer (:func:`default_cam_layer`)."""
    if layer is not None:
        return _maps_at_layer(session, targets, layer)
    by_layer: dict[str, list[int]] = {}
    for i, target in enumerate(targets):
        by_layer.setdefault(default_cam_layer(session, [target]), []).append(i)
    result = session.x.new_empty(len(targets), session.x.shape[0], 1, *session.x.shape[2:])
    for cam_layer, indices in by_layer.items():
        result[indices] = _maps_at_layer(session, [targets[i] for i in indices], cam_layer)
    return result


def _maps_at_layer(session: Session, targets: Sequence[Target], layer: str) -> Tensor:
    maps = session.recording.activation(layer)
    if maps.dim() != 4:
        raise TargetError(
            f"Grad-CAM needs a layer with spatial maps (N, C, H, W); {layer!r} has shape {tuple(maps.shape)}"
        )
    if layer in session.recording.copied_on_write:
        raise TargetError(
            f"the model edits layer {layer!r}'s output in place after computing it, so gradients with respect "
            "to it are not defined; choose the layer that produces the edited result (e.g. the next activation)"
        )
    try:
        grads = session.gradients(targets, GRADIENT, wrt=maps)  # (T, N, K, h, w)
    except NoGradientPathError:
        raise NoGradientPathError(
            f"the target does not depend on Grad-CAM layer {layer!r} (it is computed before it or on another "
            "branch); choose a layer at or before the target's layer"
        ) from None
    weights = grads.mean(dim=(3, 4), keepdim=True)
    cam = (weights * maps.detach()).sum(dim=2).clamp(min=0)  # (T, N, h, w)
    t, n, h, w = cam.shape
    height, width = session.x.shape[2:]
    upsampled = F.interpolate(cam.reshape(t * n, 1, h, w), size=(height, width), mode="bilinear",
                              align_corners=False)
    return upsampled.reshape(t, n, 1, height, width)


@register("gradcam", label="Grad-CAM", layer_usable=cam_layer_usable,
          citation="Selvaraju et al. 2017, Grad-CAM: Visual Explanations from Deep Networks via "
                   "Gradient-based Localization")
def gradcam(session: Session, targets: Sequence[Target], layer: str | None = None) -> Tensor:
    """ReLU of the feature maps of ``layer`` weighted by their spatially averaged gradients, upsampled
    bilinearly to the input (the same map in every colour channel)."""
    cam = class_activation_maps(session, targets, layer)
    return cam.expand(-1, -1, session.x.shape[1], -1, -1).contiguous()


@register("guided_gradcam", label="Guided Grad-CAM", rgb_view=True, layer_usable=cam_layer_usable,
          citation="Selvaraju et al. 2017, Grad-CAM: Visual Explanations from Deep Networks via "
                   "Gradient-based Localization")
def guided_gradcam(session: Session, targets: Sequence[Target], layer: str | None = None) -> Tensor:
    """Guided backpropagation multiplied pixelwise by the Grad-CAM map: fine detail, class-discriminative."""
    return session.gradients(targets, GUIDED) * class_activation_maps(session, targets, layer)
