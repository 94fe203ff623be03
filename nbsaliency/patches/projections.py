"""Top-activating patches with their projections: Zeiler & Fergus (2014), Fig. 2.

For each of a channel's top units, the image patch its receptive field covers and the projection of that
single unit to the input (DeconvNet by default, as in the paper; any gradient-family method works), cropped
to the same field. The k projections run as one batch: one forward pass of the k images and one backward
pass of a :class:`~.targets.Units` target that gives each image its own unit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from ..errors import UnknownMethodError
from ..layouts import Layout
from ..methods.registry import methods, single_pass_methods
from ..model_state import model_device_and_dtype
from ..receptive_field import Box, ReceptiveFields
from ..session import Session
from .dataset import ImageData, ImageSource
from .errors import IndexMismatchError, LayerNotIndexedError, ProjectionMethodError
from .index import PatchIndex
from .targets import Units


def projection_methods() -> tuple[str, ...]:
    """Methods that project single units in one batched backward pass: the registry's one-backward-pass methods
    (gradient, deconvnet, guided, input_x_gradient, ...), read at call time, so a method registered later counts."""
    return tuple(single_pass_methods())


@dataclass(frozen=True)
class Patch:
    """One top unit of ``(layer, channel)``: its image crop and projection crop, both ``(C, box.height,
    box.width)``, the activation value, the image's dataset index, the unit's position and its field, and the
    whole image it was found on (``(C, H, W)``, as read once from the dataset)."""

    layer: str
    channel: int
    value: float
    image_index: int
    y: int
    x: int
    box: Box
    image: Tensor
    projection: Tensor
    whole_image: Tensor


def project_units(model: nn.Module, images: Tensor, layer: str, channel: int, ys: Sequence[int],
                  xs: Sequence[int], method: str = "deconvnet", *, strict: bool = False,
                  layouts: Mapping[str, Layout | str] | None = None) -> Tensor:
    """Projection of unit ``(channel, ys[i], xs[i])`` of ``layer`` on image ``i``, for all i in one batch:
    ``(N, C, H, W)``, equal to ``attribute(model, images[i:i+1], Neuron(layer, channel, ys[i], xs[i]), method)``.
    ``(ys[i], xs[i])`` is a grid position in any layout (a token's patch-grid position in a ViT block)."""
    _check_method(method)
    return Session(model, images, strict=strict, layouts=layouts).attribute(Units(layer, channel, ys, xs), method)


def _check_method(method: str) -> None:
    projectable = projection_methods()
    if method not in methods():
        raise UnknownMethodError(method, methods())
    if method not in projectable:
        raise ProjectionMethodError(
            f"method {method!r} cannot project single units in one batched backward pass; use one of "
            f"{', '.join(projectable)}"
        )


def top_patches(model: nn.Module, dataset: ImageData | ImageSource, index: PatchIndex, layer: str, channel: int,
                method: str = "deconvnet", *, receptive_fields: ReceptiveFields | None = None,
                strict: bool = False, layouts: Mapping[str, Layout | str] | None = None) -> list[Patch]:
    """The top patches of ``(layer, channel)``, strongest first, with their projections by ``method``.

    ``dataset`` is the one the index was built on (the index stores dataset indices, shard offsets
    included); :class:`IndexMismatchError` when it is not, or the weights changed: the top units' activations,
    read from the projection's own forward pass, must be the values the index recorded (for a model in eval
    mode). Pass a :class:`~nbsaliency.receptive_field.ReceptiveFields` to reuse probed fields across
    calls. ``layouts``: as :class:`~nbsaliency.Session`'s (the same as the index was built with).
    """
    source = dataset if isinstance(dataset, ImageSource) else ImageSource(dataset)
    _check_method(method)
    _check_index_fits(model, source, index, layer)
    tops = index.top(layer, channel)
    device, _ = model_device_and_dtype(model)
    images = torch.stack([source.image(t.image) for t in tops])
    if device is not None:
        images = images.to(device)
    session = Session(model, images, strict=strict, layouts=layouts)
    _check_recorded_values(model, session, index, layer, channel, tops)
    projections = session.attribute(Units(layer, channel, [t.y for t in tops], [t.x for t in tops]), method)
    fields = receptive_fields or ReceptiveFields(model, images[:1], layouts=layouts)
    if tuple(fields.image_size) != tuple(images.shape[-2:]):
        raise ValueError(f"the receptive fields were probed for {fields.image_size} images, but the dataset's are "
                         f"{tuple(images.shape[-2:])}")
    boxes = fields.boxes(layer, [(t.y, t.x) for t in tops])
    return [Patch(layer, channel, t.value, t.image, t.y, t.x, box, box.crop(images[i]).detach(),
                  box.crop(projections[i]), images[i].detach())
            for i, (t, box) in enumerate(zip(tops, boxes, strict=True))]


def _check_recorded_values(model: nn.Module, session: Session, index: PatchIndex, layer: str, channel: int,
                           tops: Sequence[Any]) -> None:
    """:class:`IndexMismatchError` when the top units' activations on these images are not the values the index
    recorded: another dataset of the same length, or other weights. The forward pass is the projection's own.
    Skipped for a model with a module in training mode (the index was built in eval mode; dropout or batch
    statistics would change the values)."""
    if not tops or any(m.training for m in model.modules()):
        return
    maps = session.activation_maps(layer)
    now = torch.stack([maps[i, channel, t.y, t.x] for i, t in enumerate(tops)]).double().cpu()
    recorded = torch.tensor([t.value for t in tops], dtype=torch.float64)
    tolerance = 1e-3 * recorded.abs().max().item() + 1e-6  # another batch: float32 sums in another order
    wrong = ((now - recorded).abs() > tolerance).nonzero().flatten().tolist()
    if wrong:
        i = wrong[0]
        t = tops[i]
        raise IndexMismatchError(
            f"the patch index does not fit this dataset or model: {layer!r} channel {channel} at ({t.y}, {t.x}) of "
            f"image {t.image} is {now[i].item():.6g} now but was {t.value:.6g} when the index was built "
            f"({len(wrong)} of its {len(tops)} top units differ); pass the dataset and the weights the index was "
            "built with, or build the index again"
        )


def _check_index_fits(model: nn.Module, source: ImageSource, index: PatchIndex, layer: str) -> None:
    """:class:`LayerNotIndexedError` for a model layer the index does not hold; :class:`IndexMismatchError`
    for a dataset too short to be the one the index was built on."""
    if layer not in index.layers and layer.partition("#")[0].partition("[")[0] in dict(model.named_modules()):
        raise LayerNotIndexedError(layer, index.layers)
    end = index.offset + index.n_images
    if source.length is not None and source.length < end:
        raise IndexMismatchError(
            f"the index was built on another dataset: it holds images {index.offset}..{end - 1} (built on a dataset "
            f"of at least {end} images), but this dataset has {source.length}; pass the dataset the index was built on"
        )
