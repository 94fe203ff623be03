"""The explorer's engine side: a selection in, the arrays a view paints out.

Pure PyTorch / NumPy, no widget imports: :mod:`nbsaliency.widget` only translates messages to calls of
:class:`ExplorerBackend`, and scripts can use it directly. Sessions are kept per image (least recently used
first out), so switching method, layer, channel or neuron on an image costs a backward pass only.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from ..errors import InputError, NbsaliencyError, TargetError, TargetIndexError
from ..methods import method_info, method_infos
from ..session import Session
from ..targets import Channel, LayerEnergy, Logit, Neuron, Probability, Target
from . import protocol

TARGET_KINDS = protocol.TARGET_KINDS


class SelectionError(NbsaliencyError, ValueError):
    """A selection whose fields have the wrong type or an impossible value."""


@dataclass(frozen=True)
class Selection:
    """What the user chose. ``position`` is ``(y, x)`` inside the channel's map, or ``()`` for none."""

    image_index: int = 0
    layer: str = ""
    channel: int = 0
    position: tuple[int, ...] = ()
    method: str = "gradient"
    target: str = "logit"
    target_class: int = -1

    @classmethod
    def parse(cls, fields: dict[str, Any], base: Selection) -> Selection:
        """``base`` with ``fields`` applied, each checked for type; unknown fields are an error."""
        unknown = set(fields) - set(cls.__dataclass_fields__)
        if unknown:
            expected = ", ".join(cls.__dataclass_fields__)
            raise SelectionError(f"unknown selection field {sorted(unknown)[0]!r}; expected one of {expected}")
        checked: dict[str, Any] = {}
        for name, value in fields.items():
            if name in ("image_index", "channel", "target_class"):
                if isinstance(value, bool) or not isinstance(value, int):
                    raise SelectionError(f"{name} must be a whole number; got {value!r}")
            elif name == "position":
                if not isinstance(value, list | tuple) or len(value) not in (0, 2) or not all(
                        isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value):
                    raise SelectionError(f"position must be [y, x] (two whole numbers >= 0) or []; got {value!r}")
                value = tuple(value)
            elif not isinstance(value, str):
                raise SelectionError(f"{name} must be a string; got {value!r}")
            checked[name] = value
        if checked.get("target", base.target) not in TARGET_KINDS:
            raise SelectionError(f"target must be one of {', '.join(TARGET_KINDS)}; got {checked['target']!r}")
        return replace(base, **checked)


@dataclass(frozen=True)
class Prediction:
    index: int
    label: str
    probability: float


@dataclass(frozen=True)
class Result:
    """Everything a view paints for one selection (arrays in NumPy, float32 / uint8)."""

    selection: Selection
    image_rgba: np.ndarray  # (H, W, 4) uint8
    attribution: np.ndarray  # (C, H, W) float32
    activations: np.ndarray  # (K, h, w) float32
    predictions: list[Prediction]
    rgb_view: bool


def three_channels(image: Tensor) -> Tensor:
    """``(C, H, W)`` -> ``(3, H, W)`` by the display rule for any number of channels: 1 channel is grey, 2 are
    false colour (red = channel 0, green = channel 1, blue = their mean), 3 are RGB, 4 or more show the first
    three (e.g. RGB of RGBA or RGB-NIR)."""
    if image.dim() != 3 or image.shape[0] < 1:
        raise InputError(f"an image to display must be (C, H, W) with C >= 1; got shape {tuple(image.shape)}")
    channels = image.shape[0]
    if channels == 1:
        return image.expand(3, -1, -1)
    if channels == 2:
        return torch.cat([image, image.mean(dim=0, keepdim=True)])
    return image[:3]


def display_image(x: Tensor) -> np.ndarray:
    """A model input ``(C, H, W)`` (any C, see :func:`three_channels`) as an RGBA uint8 image ``(H, W, 4)``:
    kept if already in [0, 1], else rescaled to it. The one helper behind the input image, the patch grid and
    the optimization frames."""
    image = x.detach().float().cpu()
    if image.min() < 0 or image.max() > 1:
        image = (image - image.min()) / (image.max() - image.min()).clamp(min=1e-12)
    rgb = (three_channels(image).permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    alpha = np.full((*rgb.shape[:2], 1), 255, dtype=np.uint8)
    return np.ascontiguousarray(np.concatenate([rgb, alpha], axis=2))


def _as_model_inputs(images: Tensor | Sequence[Any], preprocess: Callable[[Any], Tensor] | None) -> list[Tensor]:
    if preprocess is None:
        if isinstance(images, Tensor):
            if images.dim() != 4:
                raise InputError(f"images must be a batch (N, C, H, W); got shape {tuple(images.shape)}")
            return list(images)
        items = list(images)
        for i, item in enumerate(items):
            if not isinstance(item, Tensor) or item.dim() != 3:
                raise InputError(f"image {i} must be a (C, H, W) tensor (or pass preprocess=...); got "
                                 f"{type(item).__name__}{tuple(item.shape) if isinstance(item, Tensor) else ''}")
        return items
    converted = []
    for i, item in enumerate(images):
        x = preprocess(item)
        if not isinstance(x, Tensor) or x.dim() not in (3, 4) or (x.dim() == 4 and x.shape[0] != 1):
            raise InputError(f"preprocess(images[{i}]) must return a (C, H, W) tensor; got "
                             f"{type(x).__name__}{tuple(x.shape) if isinstance(x, Tensor) else ''}")
        converted.append(x[0] if x.dim() == 4 else x)
    return converted


@contextmanager
def differentiable() -> Iterator[None]:
    """Gradients on, inference mode off, whatever the caller's context: an Explorer made inside
    ``torch.no_grad()`` or ``torch.inference_mode()`` (its first result is computed there) keeps no session
    that later backward passes cannot use. The caller's modes are restored on exit."""
    with torch.inference_mode(False), torch.enable_grad():
        yield


class ExplorerBackend:
    """Sessions per image and the translation of a :class:`Selection` into targets and method options."""

    def __init__(self, model: nn.Module, images: Tensor | Sequence[Any], labels: Sequence[str] | None = None,
                 preprocess: Callable[[Any], Tensor] | None = None, max_sessions: int = 4):
        self.model = model
        self.inputs = _as_model_inputs(images, preprocess)
        if not self.inputs:
            raise InputError("images is empty; give at least one image")
        self._sessions: OrderedDict[int, Session] = OrderedDict()
        self._added: dict[Hashable, int] = {}
        self._max_sessions = max_sessions
        first = self.session(0)
        n_classes = first.output.shape[1] if first.output.dim() == 2 else 0
        self.labels = list(labels) if labels is not None else [str(i) for i in range(n_classes)]
        if labels is not None and n_classes and len(self.labels) != n_classes:
            raise InputError(f"labels has {len(self.labels)} names but the model has {n_classes} classes")
        self.layers = [(name, shape[1:], first.layer_types[name]) for name, shape in first.layers]
        self.methods = [(info.name, info.label, info.rgb_view) for info in method_infos()]

    def session(self, image_index: int) -> Session:
        if not 0 <= image_index < len(self.inputs):
            raise TargetIndexError(f"image {image_index} is out of range: there are {len(self.inputs)} images "
                                   f"(valid 0..{len(self.inputs) - 1})")
        if image_index in self._sessions:
            self._sessions.move_to_end(image_index)
        else:
            with differentiable():
                x = self.inputs[image_index][None]
                x = x.clone() if x.is_inference() else x  # made under inference_mode: a copy autograd can use
                self._sessions[image_index] = Session(self.model, x)
            while len(self._sessions) > self._max_sessions:
                self._sessions.popitem(last=False)
        return self._sessions[image_index]

    def add_input(self, x: Tensor, key: Hashable) -> int:
        """The index of the input added under ``key`` (e.g. a dataset image opened from the patch grid),
        appending ``x``, a ``(C, H, W)`` model input, the first time only."""
        if key not in self._added:
            if not isinstance(x, Tensor) or x.dim() != 3:
                raise InputError(f"an added input must be a (C, H, W) tensor; got "
                                 f"{type(x).__name__}{tuple(x.shape) if isinstance(x, Tensor) else ''}")
            self.inputs.append(x)
            self._added[key] = len(self.inputs) - 1
        return self._added[key]

    def default_selection(self) -> Selection:
        """The last layer with spatial maps that a module without children produced (the last conv stage)."""
        leaves = {name for name, module in self.model.named_modules() if not any(module.children())}
        spatial = [name for name, shape, _ in self.layers
                   if len(shape) == 3 and shape[1] * shape[2] > 1 and name.split("#")[0] in leaves]
        return Selection(layer=spatial[-1] if spatial else self.layers[-1][0])

    def target(self, selection: Selection, session: Session) -> tuple[Target, Selection]:
        """The target a selection asks for; a neuron without a position becomes the channel's strongest unit,
        and the returned selection says which one it was."""
        kind, layer, c = selection.target, selection.layer, selection.channel
        cls = None if selection.target_class < 0 else selection.target_class
        if kind == "logit":
            return Logit(cls), selection
        if kind == "probability":
            return Probability(cls), selection
        if kind == "layer":
            return LayerEnergy(layer), selection
        activation = session.activations(layer)
        if activation.dim() < 2:
            raise TargetError(f"layer {layer!r} has no channels (shape {tuple(activation.shape[1:])})")
        Channel(layer, c).values(session.recording)  # range checks with clear messages
        if kind == "channel":
            return Channel(layer, c), selection
        if activation.dim() == 2:
            return Neuron(layer, c), replace(selection, position=())
        if activation.dim() != 4:
            raise TargetError(f"a neuron target needs a layer with (C, H, W) maps; {layer!r} has "
                              f"{tuple(activation.shape[1:])}")
        position = selection.position
        if not position:
            width = activation.shape[3]
            position = divmod(int(activation[0, c].argmax()), width)
        return Neuron(layer, c, *position), replace(selection, position=tuple(position))

    def compute(self, selection: Selection) -> Result:
        """Attribution, activations and predictions for ``selection`` (errors name what is wrong)."""
        with differentiable():
            return self._compute(selection)

    def _compute(self, selection: Selection) -> Result:
        info = method_info(selection.method)
        session = self.session(selection.image_index)
        activations = session.activation_maps(selection.layer)[0]  # (C, h, w) in every layout; checks the name
        target, selection = self.target(selection, session)
        options = {}
        if info.takes_layer and info.layer_usable is not None and info.layer_usable(session, selection.layer):
            options["layer"] = selection.layer  # the selected layer's maps; else each target's default layer
        attribution = session.attribute(target, info.name, **options)[0]
        probabilities, classes = session.top_predictions(5)
        predictions = [Prediction(int(c), self.labels[int(c)] if int(c) < len(self.labels) else str(int(c)), float(p))
                       for p, c in zip(probabilities[0], classes[0], strict=True)]
        maps = activations.reshape(activations.shape[0], *(activations.shape[1:] if activations.dim() == 3 else (1, 1)))
        return Result(
            selection=selection,
            image_rgba=display_image(session.x[0]),
            attribution=attribution.detach().float().cpu().numpy(),
            activations=maps.detach().float().cpu().numpy(),
            predictions=predictions,
            rgb_view=info.rgb_view,
        )
