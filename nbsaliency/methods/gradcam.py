"""Grad-CAM and guided Grad-CAM."""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch.nn.functional as F
from torch import Tensor

from ..errors import NoGradientPathError, TargetError
from ..recording import Recording
from ..rules.backward_rules import GRADIENT, GUIDED
from ..targets import Target
from .registry import register

if TYPE_CHECKING:  # methods receive a Session; only session.py builds one (no import cycle)
    from ..session import Session

CAM_METHODS = ("gradcam", "guided_gradcam")  # the methods below: they take a layer= option


def cam_layer_usable(session: Session, layer: str) -> bool:
    """Whether Grad-CAM can weight ``layer``'s maps: its layout (:mod:`nbsaliency.layouts`) is known and gives
    channels-first maps ``(N, C, h, w)`` with more than one position (channels-last maps and token grids count)."""
    recording = session.recording
    layout = recording.layouts.get(layer) if layer in recording.activations else None
    if layout is None:
        return False
    maps_shape = layout.maps_shape(tuple(recording.activations[layer].shape))
    return len(maps_shape) == 3 and maps_shape[1] * maps_shape[2] > 1


def default_cam_layer(session: Session, targets: Sequence[Target]) -> str:
    """The layer Grad-CAM uses when none is given (Selvaraju et al. use the last convolutional layer): the last
    layer with spatial maps (any layout) produced by a module without children, at or before the earliest layer
    a target reads, *whose grid positions the target depends on*. For a ViT whose head reads the class token, the
    layers after the last attention see no gradient on their grid tokens, so this is the last block's input
    normalisation (what pytorch-grad-cam advises by hand). Token layers count only at the residual stream's
    width (the first token layer's), not the wider attention / MLP internals. When no candidate has a non-zero
    gradient (e.g. a zero-initialised head), the last candidate."""
    return _default_layer_and_gradient(session, targets)[0]


def _default_layer_and_gradient(session: Session, targets: Sequence[Target]) -> tuple[str, Tensor | None]:
    """:func:`default_cam_layer` and the targets' gradient with respect to it when it was computed on the way."""
    order = [layer.name for layer in session.layers]
    leaves = {name for name, module in session.model.named_modules() if not any(module.children())}
    target_layers = [layer for target in targets for layer in target.layers]
    last = min((order.index(layer) for layer in target_layers if layer in order), default=len(order) - 1)
    recording = session.recording
    spatial = [layer.name for layer in session.layers[:last + 1]
               if _module_of(layer.name) in leaves and cam_layer_usable(session, layer.name)]
    token_widths = [recording.activations[name].shape[-1] for name in spatial
                    if recording.layouts[name].kind == "tokens"]
    spatial = [name for name in spatial
               if recording.layouts[name].kind != "tokens" or recording.activations[name].shape[-1] == token_widths[0]]
    if not spatial:
        raise TargetError("Grad-CAM needs a layer with spatial maps before the target ((N, C, H, W), (N, H, W, C) or "
                          "a token grid); there is none (Session.layout(layer) tells how each layer was read)")
    for name in reversed(spatial):
        if name in recording.copied_on_write:
            return name, None  # its gradient is taken on a second recording (below); a leaf map before the target
        grad = _grid_gradient(session, targets, name)
        if grad is not None:
            return name, grad
    return spatial[-1], None


def _grid_gradient(session: Session, targets: Sequence[Target], layer: str) -> Tensor | None:
    """The targets' gradient with respect to ``layer`` when it is non-zero somewhere on its grid, else None."""
    recording = session.recording
    try:
        grad = session.gradients(targets, GRADIENT, wrt=recording.activations[layer])
    except NoGradientPathError:
        return None
    return grad if bool((recording.layouts[layer].maps(grad[0]) != 0).any()) else None


def target_reaches_grid(session: Session, targets: Sequence[Target], layer: str) -> bool:
    """Whether the targets depend on ``layer``'s grid positions (a non-zero gradient there). After a class-token
    ViT's last attention they do not: the grid tokens no longer reach the class token, and Grad-CAM's maps there
    are blank. A layer the next in-place ReLU edits is taken as reached (its gradient needs a second recording)."""
    if layer in session.recording.copied_on_write:
        return True
    return _grid_gradient(session, targets, layer) is not None


def _module_of(layer: str) -> str:
    """``"block.relu#2"`` -> ``"block.relu"``, ``"block[0]"`` -> ``"block"``."""
    return layer.split("#", 1)[0].split("[", 1)[0]


def class_activation_maps(session: Session, targets: Sequence[Target], layer: str | None) -> Tensor:
    """Grad-CAM maps at the input resolution: ``(T, N, 1, H, W)``; without ``layer``, each target at its
    own default layer (:func:`default_cam_layer`). The layer each target used is left in
    ``session.last_cam_layers``."""
    if layer is not None:
        session.last_cam_layers = [layer] * len(targets)
        return _maps_at_layer(session, targets, layer)
    if len(targets) == 1:  # the usual call: the gradient found while choosing the layer is the one needed
        cam_layer, grad = _default_layer_and_gradient(session, targets)
        session.last_cam_layers = [cam_layer]
        return _maps_at_layer(session, targets, cam_layer, grad)
    by_layer: dict[str, list[int]] = {}
    used = []
    for i, target in enumerate(targets):
        cam_layer = default_cam_layer(session, [target])
        by_layer.setdefault(cam_layer, []).append(i)
        used.append(cam_layer)
    session.last_cam_layers = used
    result = session.x.new_empty(len(targets), session.x.shape[0], 1, *session.x.shape[2:])
    for cam_layer, indices in by_layer.items():
        result[indices] = _maps_at_layer(session, [targets[i] for i in indices], cam_layer)
    return result


_KEPT: weakref.WeakKeyDictionary[Session, tuple[str, Recording]] = weakref.WeakKeyDictionary()


def _recording_for(session: Session, layer: str) -> Recording:
    """The session's recording, or, for a layer whose output the model edits in place afterwards (VGG's conv
    before an in-place ReLU), a second forward pass in which the model continues with a copy of that output, so
    that gradients with respect to the output *before* the edit are defined (kept for the next call on that
    layer, one such pass per session)."""
    recording = session.recording
    if layer not in recording.copied_on_write:
        return recording
    with session._lock:  # one second pass even when the explorer's threads ask at once
        kept = _KEPT.get(session)
        if kept is None or kept[0] != layer:
            kept = (layer, session.record(session.x, rules=True, keep_before_edit=[layer]))
            _KEPT[session] = kept
        return kept[1]


def _maps_at_layer(session: Session, targets: Sequence[Target], layer: str, grads: Tensor | None = None) -> Tensor:
    """Grad-CAM of ``targets`` at ``layer``; ``grads``: their gradients with respect to it when already known."""
    recording = _recording_for(session, layer)
    activation = recording.activation(layer)
    layout = recording.layout(layer)
    maps = layout.maps(activation)
    if maps.dim() != 4:
        raise TargetError(
            f"Grad-CAM needs a layer with spatial maps ((N, C, H, W), (N, H, W, C) or a token grid); {layer!r} has "
            f"shape {tuple(activation.shape)} ({layout.describe(tuple(activation.shape))})"
        )
    try:
        if grads is None:
            grads = session.gradients(targets, GRADIENT, wrt=activation, recording=recording)  # (T, *shape)
    except NoGradientPathError:
        raise NoGradientPathError(
            f"the target does not depend on Grad-CAM layer {layer!r} (it is computed before it or on another "
            "branch); choose a layer at or before the target's layer"
        ) from None
    t = grads.shape[0]
    grads = layout.maps(grads.flatten(0, 1)).reshape(t, *maps.shape)  # (T, N, K, h, w)
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
    bilinearly to the input (the same map in every colour channel). Any layout works with no reshape: a
    channels-last block or a ViT token block is read as its ``(N, C, h, w)`` grid (prefix tokens left out).
    Without ``layer``: :func:`default_cam_layer`; ``session.last_cam_layers`` names the layer used."""
    cam = class_activation_maps(session, targets, layer)
    return cam.expand(-1, -1, session.x.shape[1], -1, -1).contiguous()


@register("guided_gradcam", label="Guided Grad-CAM", rgb_view=True, layer_usable=cam_layer_usable,
          citation="Selvaraju et al. 2017, Grad-CAM: Visual Explanations from Deep Networks via "
                   "Gradient-based Localization")
def guided_gradcam(session: Session, targets: Sequence[Target], layer: str | None = None) -> Tensor:
    """Guided backpropagation multiplied pixelwise by the Grad-CAM map: fine detail, class-discriminative."""
    return session.gradients(targets, GUIDED) * class_activation_maps(session, targets, layer)
