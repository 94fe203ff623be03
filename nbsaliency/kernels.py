"""A convolution's filters as images: the first layer's as RGB tiles (Krizhevsky, Sutskever & Hinton 2012,
"ImageNet Classification with Deep Convolutional Neural Networks", Fig. 3), any layer's per input channel.

Only the first layer's filters live in pixel space, so only they can be read as colours; deeper filters weigh
feature maps, and are shown one tile per (filter, input channel). ``nbs.kernel_grid_figure`` draws either.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from torch import Tensor, nn

from .errors import NbsaliencyError
from .optimize.capture import check_layers

Mapping = Literal["signed", "minmax"]


class LayerTypeError(NbsaliencyError, ValueError):
    """A layer of the wrong kind for the request (e.g. a kernel grid of a layer that is no convolution)."""


@dataclass(frozen=True)
class KernelGrid:
    """A convolution's filters mapped to [0, 1].

    ``tiles``: ``(filters, 3, kh, kw)`` RGB tiles when ``rgb``, else ``(filters, inputs, kh, kw)`` one grey
    level per weight; ``scale`` ``(filters,)``: the weight that maps to full intensity (``max |w|`` of the
    filter for ``"signed"``, ``max - min`` for ``"minmax"``); ``mapping``: how weights became intensities.
    """

    layer: str
    tiles: Tensor
    rgb: bool
    scale: Tensor
    mapping: str

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.tiles.shape)


def _convolutions(model: nn.Module) -> dict[str, nn.Conv2d]:
    return {name: m for name, m in model.named_modules() if isinstance(m, nn.Conv2d)}


def map_weights(weights: Tensor, mapping: Mapping = "signed") -> tuple[Tensor, Tensor]:
    """Per-filter normalisation of ``weights`` ``(filters, ...)`` to [0, 1]; returns ``(tiles, scale)``.

    ``"signed"``: ``0.5 + w / (2 max|w|)`` - mid-grey is a zero weight, white / full colour the filter's largest
    positive weight, black its most negative; comparable signs across tiles, so an RGB tile's colour is the
    colour the filter responds to (and its complement the one it is inhibited by). ``"minmax"``:
    ``(w - min) / (max - min)`` - each filter stretched to the full range (the usual first-layer picture; the
    zero level differs from tile to tile). An all-zero filter maps to grey (signed) or black (minmax).
    """
    flat = weights.detach().float().cpu().flatten(1)
    if mapping == "signed":
        scale = flat.abs().amax(dim=1)
        safe = scale.clamp(min=1e-12)
        tiles = 0.5 + flat / (2 * safe[:, None])
    elif mapping == "minmax":
        low, high = flat.amin(dim=1, keepdim=True), flat.amax(dim=1, keepdim=True)
        scale = (high - low)[:, 0]
        tiles = (flat - low) / scale.clamp(min=1e-12)[:, None]
    else:
        raise ValueError(f'mapping must be "signed" (grey = 0) or "minmax" (stretched per filter); got {mapping!r}')
    return tiles.clamp(0, 1).reshape(weights.shape), scale


def kernel_grid(model: nn.Module, layer: str | None = None, *, mapping: Mapping = "signed",
                rgb: bool | None = None) -> KernelGrid:
    """The filters of convolution ``layer`` (default: the model's first ``Conv2d``) as [0, 1] tiles.

    ``rgb`` (default: when the layer takes 3 input channels, i.e. the first layer of an RGB model) gives one
    colour tile per filter; otherwise one grey tile per filter and input channel. ``mapping`` is explained in
    :func:`map_weights`. Mapped images, not weights: the model is only read. Raises
    :class:`~nbsaliency.UnknownLayerError` (close matches named) for a wrong name and :class:`LayerTypeError`
    for a layer that is no ``Conv2d`` (naming the convolutions); with ``rgb=True`` on a layer without 3 inputs.
    Input normalisation is not undone: with normalised inputs the colours are those of the normalised space.
    """
    convolutions = _convolutions(model)
    if layer is None:
        if not convolutions:
            raise LayerTypeError("the model has no Conv2d layer, so it has no kernels to draw")
        layer = next(iter(convolutions))
    check_layers(model, [layer])
    if layer not in convolutions:
        kind = type(dict(model.named_modules())[layer]).__name__
        names = ", ".join(repr(n) for n in list(convolutions)[:8]) + (", ..." if len(convolutions) > 8 else "")
        raise LayerTypeError(f"layer {layer!r} is a {kind}, not a Conv2d; the convolutions are: {names or 'none'}")
    weight = convolutions[layer].weight
    inputs = weight.shape[1]
    rgb = inputs == 3 if rgb is None else rgb
    if rgb and inputs != 3:
        raise LayerTypeError(f"layer {layer!r} has {inputs} input channels per filter; RGB tiles need 3 "
                             f"(rgb=False draws one tile per input channel)")
    tiles, scale = map_weights(weight, mapping)
    return KernelGrid(layer, tiles, rgb, scale, mapping)
