"""Receptive fields of any architecture, found by probing rather than from a table of kernel sizes.

A unit's receptive field is the bounding box of the support of its gradient with respect to the input under
a *linearised* backward pass (:mod:`nbsaliency.rules.linear`): rectifiers pass the signal unchanged and
max-pooling spreads it over its whole window, so neither the probe image nor the pooling switches shrink
the field. Branches, strides, padding, dilation and pooling are therefore handled by autograd itself.
The field of a position ``(y, x)`` is the union over the layer's channels (what Zeiler & Fergus 2014 crop
around a top-activating unit). Boxes are half-open ``[top, bottom) x [left, right)`` and clipped at the
image borders.

Units are positions of the layer's grid whatever its layout (:mod:`nbsaliency.layouts`): ``(y, x)`` of a
channels-first or channels-last map, or the patch-grid position of a ViT token (prefix tokens have none). A token's
field is probed like any unit: before the first attention it is the token's own patch; after it, attention lets
every token read every patch, so the field is the whole image (that is what the unit sees).

:class:`ReceptiveFields` probes a few units of a layer once (corners, centre and neighbours, quarters), fits
``start = stride * index + offset`` and ``size`` per axis, checks the fit against every probed unit and then
answers every unit without a new pass. A layer whose fields are not of that form (upsampling, odd custom
code) is answered exactly, unit by unit, by probing. The model is left exactly as it was: eval mode inside
:func:`~nbsaliency.model_state.evaluation_mode`, hooks removed, only input gradients computed.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import Tensor, nn

from .errors import InputError, NbsaliencyError, NoGradientPathError, TargetIndexError
from .grad_mode import differentiable
from .layouts import Layout, LayoutError
from .model_state import evaluation_mode, model_device_and_dtype
from .recording import Recording, record_forward
from .rules.backward_rules import RuleSelector
from .rules.linear import LINEAR, SpreadMaxPool
from .validation import as_image_batch


class NotSpatialError(NbsaliencyError, ValueError):
    """A layer whose output has no spatial grid (not ``(N, C, h, w)``, ``(N, h, w, C)`` or a token grid), so its
    units have no receptive field."""


class Box(NamedTuple):
    """A half-open pixel rectangle ``[top, bottom) x [left, right)`` of the input image."""

    top: int
    left: int
    bottom: int
    right: int

    @property
    def height(self) -> int:
        return self.bottom - self.top

    @property
    def width(self) -> int:
        return self.right - self.left

    def crop(self, image: Tensor) -> Tensor:
        """``image[..., top:bottom, left:right]``."""
        return image[..., self.top:self.bottom, self.left:self.right]


@dataclass(frozen=True)
class AxisGeometry:
    """Along one axis, unit ``i`` sees pixels ``[stride * i + offset, ... + size)``, clipped to ``[0, extent)``.

    When every probed field is clipped on one side, ``offset`` / ``size`` are only known to be consistent
    with the clipped fields (which is all :meth:`span` needs)."""

    stride: int
    offset: int
    size: int
    extent: int

    def span(self, i: int) -> tuple[int, int]:
        start = self.stride * i + self.offset
        return max(0, start), min(self.extent, start + self.size)


@dataclass(frozen=True)
class LayerGeometry:
    """A layer's fields as an affine map of unit position, per axis."""

    y: AxisGeometry
    x: AxisGeometry

    def box(self, y: int, x: int) -> Box:
        (top, bottom), (left, right) = self.y.span(y), self.x.span(x)
        return Box(top, left, bottom, right)


def _probe_input(model: nn.Module, spec: Tensor | Sequence[int]) -> Tensor:
    """One image ``(1, C, H, W)``: the given one, or a fixed random image of the given shape."""
    if isinstance(spec, Tensor):
        return as_image_batch(model, spec.detach())[0][:1]
    shape = tuple(int(s) for s in spec)
    if len(shape) == 4:
        shape = shape[1:]
    if len(shape) != 3:
        raise InputError(f"an input shape must be (C, H, W) or (N, C, H, W); got {tuple(spec)}")
    device, dtype = model_device_and_dtype(model)
    image = torch.rand((1, *shape), generator=torch.Generator().manual_seed(0))
    return image.to(device=device, dtype=dtype or torch.float32)


def spatial_shape(recording: Recording, layer: str) -> tuple[int, int, int]:
    """``(C, h, w)`` of ``layer``'s grid in any layout; :class:`NotSpatialError` for layers without one
    (:class:`~nbsaliency.layouts.LayoutError` when the layout is ambiguous)."""
    activation = recording.activation(layer)
    shape = tuple(activation.shape)
    layout = recording.layout(layer)
    maps_shape = layout.maps_shape(shape)
    if len(maps_shape) != 3:
        raise NotSpatialError(
            f"layer {layer!r} has output shape {shape} ({layout.describe(shape)}): receptive fields and patches need "
            f"a spatial grid ((N, C, h, w), (N, h, w, C) or a token grid); pick a convolutional, pooling or token layer"
        )
    return maps_shape  # type: ignore[return-value]


def _check_unit(layer: str, hw: tuple[int, int], y: int, x: int) -> None:
    for name, i, size in (("y", y, hw[0]), ("x", x, hw[1])):
        if not 0 <= i < size:
            raise TargetIndexError(
                f"{name} index {i} is out of range for layer {layer!r} with a {hw[0]} x {hw[1]} output "
                f"(valid 0..{size - 1})"
            )


@differentiable("receptive fields")  # also inside the caller's torch.no_grad()
def probe_boxes(model: nn.Module, image: Tensor, units: dict[str, Sequence[tuple[int, int]]],
                layouts: Mapping[str, Layout | str] | None = None) -> dict[str, list[Box]]:
    """Exact fields of the given ``(y, x)`` grid units of each layer: one linearised forward pass of a batch of
    copies of ``image`` (one copy per unit) and one backward pass to the input per layer. ``layouts``: as
    :class:`~nbsaliency.Session`'s."""
    size = max(len(u) for u in units.values())
    batch = image.expand(size, *image.shape[1:]).clone().requires_grad_(True)
    selector = RuleSelector()
    with evaluation_mode(model), torch.enable_grad(), SpreadMaxPool():
        recording = record_forward(model, batch, selector, layouts=layouts)
    boxes: dict[str, list[Box]] = {}
    rows = torch.arange(size, device=image.device)
    with selector.use(LINEAR):
        for layer, layer_units in units.items():
            _, h, w = spatial_shape(recording, layer)
            activation = recording.maps(layer)
            for y, x in layer_units:
                _check_unit(layer, (h, w), y, x)
            padded = list(layer_units) + [layer_units[-1]] * (size - len(layer_units))
            ys = torch.tensor([u[0] for u in padded], device=image.device)
            xs = torch.tensor([u[1] for u in padded], device=image.device)
            # channels weighted generically, not equally: a plain sum over a LayerNorm's channels is constant
            weights = torch.rand(activation.shape[1], generator=torch.Generator().manual_seed(0)) + 0.5
            value = (activation[rows, :, ys, xs] * weights.to(activation)).sum()
            grad = None
            if value.requires_grad:
                (grad,) = torch.autograd.grad(value, batch, retain_graph=True, allow_unused=True)
            if grad is None:
                raise NoGradientPathError(f"layer {layer!r} does not depend on the input: it has no receptive field")
            support = grad.abs().sum(dim=1) != 0  # (size, H, W)
            boxes[layer] = [_bounding_box(layer, support[i]) for i in range(len(layer_units))]
    return boxes


def _bounding_box(layer: str, support: Tensor) -> Box:
    rows = support.any(dim=1).nonzero()[:, 0]
    cols = support.any(dim=0).nonzero()[:, 0]
    if rows.numel() == 0:
        raise NoGradientPathError(f"a unit of layer {layer!r} does not depend on the input (zero gradient support)")
    return Box(int(rows[0]), int(cols[0]), int(rows[-1]) + 1, int(cols[-1]) + 1)


def receptive_field(model: nn.Module, input_shape_or_x: Tensor | Sequence[int], layer: str, y: int, x: int, *,
                    layouts: Mapping[str, Layout | str] | None = None) -> Box:
    """The receptive field of grid unit ``(y, x)`` of ``layer`` for inputs of the given shape (or like ``x``),
    probed exactly: one forward and one backward pass. For many units use :class:`ReceptiveFields`."""
    image = _probe_input(model, input_shape_or_x)
    return probe_boxes(model, image, {layer: [(int(y), int(x))]}, layouts)[layer][0]


def _positions(n: int) -> list[int]:
    """Units probed along an axis: ends, quarters, centre and its neighbours."""
    return sorted({p for p in (0, 1, n // 4, n // 2 - 1, n // 2, n // 2 + 1, 3 * n // 4, n - 2, n - 1) if 0 <= p < n})


def _fit_axis(observed: list[tuple[int, int, int]], n: int, extent: int) -> AxisGeometry | None:
    """``start = stride * i + offset`` and ``size`` consistent with clipped spans ``(i, lo, hi)``, or None."""
    observed = sorted(set(observed))
    if len({i for i, _, _ in observed}) != len(observed):
        return None
    if len(observed) == 1:
        _, lo, hi = observed[0]
        return AxisGeometry(0, lo, hi - lo, extent)
    strides = set()
    for edges in ([(i, lo) for i, lo, _ in observed if lo > 0], [(i, hi) for i, _, hi in observed if hi < extent]):
        for (i1, v1), (i2, v2) in zip(edges, edges[1:], strict=False):
            if (v2 - v1) % (i2 - i1):
                return None
            strides.add((v2 - v1) // (i2 - i1))
    if len(strides) > 1:
        return None
    if not strides:
        if all(lo == 0 and hi == extent for _, lo, hi in observed):
            return AxisGeometry(0, 0, extent, extent)
        return None
    stride = strides.pop()
    free_lo = [(i, lo) for i, lo, _ in observed if lo > 0]
    free_hi = [(i, hi) for i, _, hi in observed if hi < extent]
    offset = free_lo[0][1] - stride * free_lo[0][0] if free_lo else -stride * (n - 1)
    size = free_hi[0][1] - stride * free_hi[0][0] - offset if free_hi else extent - offset
    geometry = AxisGeometry(stride, offset, size, extent)
    if stride < 0 or size < 1 or any(geometry.span(i) != (lo, hi) for i, lo, hi in observed):
        return None
    return geometry


class ReceptiveFields:
    """Per-layer cache of receptive fields for inputs shaped like ``input_shape_or_x``.

    >>> fields = ReceptiveFields(model, (3, 64, 64))
    >>> fields.box("block2.conv1", 5, 7)
    Box(top=..., left=..., bottom=..., right=...)
    """

    def __init__(self, model: nn.Module, input_shape_or_x: Tensor | Sequence[int], *,
                 layouts: Mapping[str, Layout | str] | None = None):
        self.model = model
        self.layouts = layouts
        self._image = _probe_input(model, input_shape_or_x)
        self.image_size: tuple[int, int] = tuple(self._image.shape[-2:])
        self._shapes: dict[str, tuple[int, int, int] | NbsaliencyError] | None = None
        self._geometry: dict[str, LayerGeometry | None] = {}
        self._exact: dict[tuple[str, int, int], Box] = {}
        self._lock = threading.RLock()

    def layer_shape(self, layer: str) -> tuple[int, int, int]:
        """``(C, h, w)`` of a layer's grid; :class:`NotSpatialError` for a layer without one."""
        with self._lock:
            if self._shapes is None:
                with evaluation_mode(self.model), torch.no_grad():
                    recording = record_forward(self.model, self._image, None, layouts=self.layouts)
                self._shapes = {}
                for name in recording.activations:
                    try:
                        self._shapes[name] = spatial_shape(recording, name)
                    except (NotSpatialError, LayoutError) as error:
                        self._shapes[name] = error
                recording.output = None  # keep the catalogue of names (for errors), not the activations
                recording.activations = dict.fromkeys(recording.activations, torch.empty(0))
                self._catalogue = recording
        if layer not in self._shapes:
            raise self._catalogue.unknown_layer(layer)
        found = self._shapes[layer]
        if isinstance(found, NbsaliencyError):
            raise type(found)(str(found))
        return found

    def geometry(self, layer: str) -> LayerGeometry | None:
        """The fitted affine geometry of ``layer`` (None when its fields are irregular and probed per unit)."""
        self.prefetch([layer])
        return self._geometry[layer]

    def prefetch(self, layers: Iterable[str]) -> None:
        """Probe several layers with one forward pass (one backward pass each)."""
        with self._lock:
            todo = [layer for layer in dict.fromkeys(layers) if layer not in self._geometry]
            if not todo:
                return
            units = {}
            for layer in todo:
                _, h, w = self.layer_shape(layer)
                ys, xs = _positions(h), _positions(w)
                count = max(len(ys), len(xs))
                units[layer] = [(ys[min(i, len(ys) - 1)], xs[min(i, len(xs) - 1)]) for i in range(count)]
            probed = probe_boxes(self.model, self._image, units, self.layouts)
            for layer in todo:
                _, h, w = self.layer_shape(layer)
                pairs = list(zip(units[layer], probed[layer], strict=True))
                y_axis = _fit_axis([(y, b.top, b.bottom) for (y, _), b in pairs], h, self.image_size[0])
                x_axis = _fit_axis([(x, b.left, b.right) for (_, x), b in pairs], w, self.image_size[1])
                geometry = LayerGeometry(y_axis, x_axis) if y_axis and x_axis else None
                if geometry and any(geometry.box(y, x) != b for (y, x), b in pairs):
                    geometry = None
                self._geometry[layer] = geometry
                self._exact.update({(layer, y, x): b for (y, x), b in pairs})

    def box(self, layer: str, y: int, x: int) -> Box:
        """The receptive field of unit ``(y, x)`` (any channel) of ``layer``."""
        return self.boxes(layer, [(y, x)])[0]

    def boxes(self, layer: str, units: Sequence[tuple[int, int]]) -> list[Box]:
        """Fields of many units of one layer; irregular layers probe the missing units in one batch."""
        units = [(int(y), int(x)) for y, x in units]
        _, h, w = self.layer_shape(layer)
        for y, x in units:
            _check_unit(layer, (h, w), y, x)
        geometry = self.geometry(layer)
        if geometry is not None:
            return [geometry.box(y, x) for y, x in units]
        with self._lock:
            missing = list(dict.fromkeys(u for u in units if (layer, *u) not in self._exact))
            for start in range(0, len(missing), 64):
                chunk = missing[start:start + 64]
                probed = probe_boxes(self.model, self._image, {layer: chunk}, self.layouts)[layer]
                for unit, b in zip(chunk, probed, strict=True):
                    self._exact[(layer, *unit)] = b
            return [self._exact[(layer, y, x)] for y, x in units]
