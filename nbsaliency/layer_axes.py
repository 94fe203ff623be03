"""Which axis of a layer's output holds its channels (features), read from the layer's detected layout.

Lesions and t-SNE codes address a layer by channel; a Swin block's ``(N, H, W, C)`` output and a ViT block's
``(N, tokens, D)`` output keep their channels on the last axis, a convolution's ``(N, C, H, W)`` on axis 1.
One forward pass of the model (eval mode, no gradients) on the first image records the layouts
(:mod:`nbsaliency.layouts`); the model is left as it was.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn

from .errors import UnknownLayerError
from .layouts import Layout
from .model_state import evaluation_mode
from .optimize.capture import check_layers
from .recording import record_forward


def layer_layout(model: nn.Module, x: Tensor, layer: str,
                 layouts: Mapping[str, Layout | str] | None = None) -> Layout:
    """The layout of ``layer`` on images like ``x`` ``(N, C, H, W)`` (one pass on ``x[:1]``). Errors:
    :class:`~nbsaliency.UnknownLayerError` for a wrong name, :class:`~nbsaliency.layouts.LayoutError` when the
    layout is ambiguous (the message shows the override)."""
    check_layers(model, [layer])  # close matches named before the pass
    with evaluation_mode(model), torch.no_grad():
        recording = record_forward(model, x[:1], None, keep=[layer], layouts=layouts)
    return recording.layout(layer)


def channel_axis_of(layout: Layout) -> int:
    """The channel (feature) axis of an output with ``layout``: 1 for channels-first maps and flat features,
    -1 for channels-last maps and token sequences."""
    return -1 if layout.kind in ("channels_last", "tokens") else 1


def layer_channel_axis(model: nn.Module, x: Tensor, layer: str) -> int:
    """``layer``'s channel axis on images like ``x``, from its detected layout (see :func:`channel_axis_of`)."""
    return channel_axis_of(layer_layout(model, x, layer))


def ran_layer_channel_axis(model: nn.Module, x: Tensor, layer: str) -> int | None:
    """:func:`layer_channel_axis`, or ``None`` when ``layer`` (a module of the model) did not run on ``x``: the
    caller's own pass then says so in its words. A name that is no module still raises."""
    check_layers(model, [layer])
    try:
        return layer_channel_axis(model, x, layer)
    except UnknownLayerError:
        return None
