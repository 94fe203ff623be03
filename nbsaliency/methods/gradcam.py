"""Grad-CAM and guided Grad-CAM."""

from __future__ import annotations

from collections.abc import Sequence

import torch.nn.functional as F
from torch import Tensor

from ..errors import TargetError
from ..rules.backward_rules import GRADIENT, GUIDED
from ..session import Session
from ..targets import Target
from .registry import register


def default_cam_layer(session: Session) -> str:
    """The last layer with spatial feature maps produced by a module without children (the last conv
    stage's output in a CNN), as Selvaraju et al. use the last convolutional layer."""
    leaves = {name for name, module in session.model.named_modules() if not any(module.children())}
    spatial = [layer.name for layer in session.layers
               if len(layer.shape) == 4 and layer.name.split("#")[0] in leaves]
    if not spatial:
        raise TargetError("Grad-CAM needs a layer with spatial maps (N, C, H, W); this model has none")
    return spatial[-1]


def class_activation_maps(session: Session, targets: Sequence[Target], layer: str | None) -> Tensor:
    """Grad-CAM maps at the input resolution: ``(T, N, 1, H, W)``."""
    layer = layer or default_cam_layer(session)
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
    grads = session.gradients(targets, GRADIENT, wrt=maps)  # (T, N, K, h, w)
    weights = grads.mean(dim=(3, 4), keepdim=True)
    cam = (weights * maps.detach()).sum(dim=2).clamp(min=0)  # (T, N, h, w)
    t, n, h, w = cam.shape
    height, width = session.x.shape[2:]
    upsampled = F.interpolate(cam.reshape(t * n, 1, h, w), size=(height, width), mode="bilinear",
                              align_corners=False)
    return upsampled.reshape(t, n, 1, height, width)


@register("gradcam", label="Grad-CAM",
          citation="Selvaraju et al. 2017, Grad-CAM: Visual Explanations from Deep Networks via "
                   "Gradient-based Localization")
def gradcam(session: Session, targets: Sequence[Target], layer: str | None = None) -> Tensor:
    """ReLU of the feature maps of ``layer`` weighted by their spatially averaged gradients, upsampled
    bilinearly to the input (the same map in every colour channel)."""
    cam = class_activation_maps(session, targets, layer)
    return cam.expand(-1, -1, session.x.shape[1], -1, -1).contiguous()


@register("guided_gradcam", label="Guided Grad-CAM", rgb_view=True,
          citation="Selvaraju et al. 2017, Grad-CAM: Visual Explanations from Deep Networks via "
                   "Gradient-based Localization")
def guided_gradcam(session: Session, targets: Sequence[Target], layer: str | None = None) -> Tensor:
    """Guided backpropagation multiplied pixelwise by the Grad-CAM map: fine detail, class-discriminative."""
    return session.gradients(targets, GUIDED) * class_activation_maps(session, targets, layer)
