"""The explorer's engine side: a selection in, the arrays a view paints out.

Pure PyTorch / NumPy, no widget imports: :mod:`nbsaliency.widget` only translates messages to calls of
:class:`ExplorerBackend`, and scripts can use it directly. Sessions are kept per image (least recently used
first out), so switching method, layer, channel or neuron on an image costs a backward pass only.
"""

from __future__ import annotations

import warnings
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from ..errors import InputError, NbsaliencyError, TargetError, TargetIndexError, ZeroAttributionWarning
from ..methods import method_info, method_infos
from ..methods.gradcam import target_reaches_grid
from ..normalization import Normalization
from ..session import Session
from ..targets import Channel, LayerEnergy, Logit, Neuron, Probability, Target
from . import protocol

TARGET_KINDS = protocol.TARGET_KINDS


class SelectionError(NbsaliencyError, ValueError):
    """A selection whose fields have the wrong type or an impossible value."""


def checked_position(value: Any) -> tuple[int, ...]:
    """A neuron position as ``(y, x)`` or ``()``; :class:`SelectionError` (what is right) otherwise."""
    if not isinstance(value, list | tuple) or len(value) not in (0, 2) or not all(
            isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value):
        shown = list(value) if isinstance(value, tuple) else value
        raise SelectionError(f"position must be [y, x] (two whole numbers >= 0) or []; got {shown!r}")
    return tuple(value)


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
                value = checked_position(value)
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
    notes: tuple[str, ...] = ()  # said under the map: a fallback, a reset, a blank map, an estimated display
    method_layer: str = ""  # the layer the method used (Grad-CAM's layer of maps), "" for none


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


UNKNOWN_NORMALISATION_NOTE = "display rescaled: normalisation unknown"


def display_pixels(x: Tensor, normalization: Normalization | None = None) -> tuple[Tensor, str]:
    """A model input ``(C, H, W)`` as display pixels in ``[0, 1]`` and a note ("" or what was estimated):
    with a known ``normalization`` its inverse (``x * std + mean``, clipped to [0, 1]); else kept if already in
    [0, 1]; else min-max rescaled, noted as :data:`UNKNOWN_NORMALISATION_NOTE`."""
    image = x.detach().float().cpu()
    if normalization is not None and image.dim() == 3 and image.shape[0] == normalization.channels:
        return normalization.to_pixels(image).clamp(0, 1), ""
    if image.min() < 0 or image.max() > 1:
        return (image - image.min()) / (image.max() - image.min()).clamp(min=1e-12), UNKNOWN_NORMALISATION_NOTE
    return image, ""


def rgba(pixels: Tensor) -> np.ndarray:
    """Pixels ``(C, H, W)`` in [0, 1] (any C, see :func:`three_channels`) as RGBA uint8 ``(H, W, 4)``."""
    rgb = (three_channels(pixels).permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    alpha = np.full((*rgb.shape[:2], 1), 255, dtype=np.uint8)
    return np.ascontiguousarray(np.concatenate([rgb, alpha], axis=2))


def display_image(x: Tensor, normalization: Normalization | None = None) -> np.ndarray:
    """A model input ``(C, H, W)`` (any C, see :func:`three_channels`) as an RGBA uint8 image ``(H, W, 4)`` by
    :func:`display_pixels`. The one helper behind the input image, the patch grid and the optimization frames."""
    return rgba(display_pixels(x, normalization)[0])


def as_display_image(image: Any, index: int) -> Tensor:
    """A display image given beside a model input: a ``(C, H, W)`` float tensor in [0, 1], or an ``(H, W, C)``
    / ``(H, W)`` uint8 array (a photo as loaded), as ``(C, H, W)`` float pixels in [0, 1]."""
    if isinstance(image, Tensor) and image.dim() == 3 and image.is_floating_point():
        pixels = image.detach().float().cpu()
    else:
        array = np.asarray(image)
        if array.dtype != np.uint8 or array.ndim not in (2, 3):
            raise InputError(f"display_images[{index}] must be a (C, H, W) float tensor in [0, 1] or an (H, W, C) "
                             f"uint8 array; got {type(image).__name__} {array.dtype} {array.shape}")
        pixels = torch.from_numpy(array.astype(np.float32) / 255)
        pixels = pixels[None] if pixels.dim() == 2 else pixels.permute(2, 0, 1)
    if pixels.min() < 0 or pixels.max() > 1:
        raise InputError(f"display_images[{index}] must hold pixels in [0, 1]; its values span "
                         f"{float(pixels.min()):.3g}..{float(pixels.max()):.3g}")
    return pixels


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


PREVIEW_PARAMETERS = 5_000_000
PREVIEW_OPTIONS: dict[str, tuple[dict[str, Any], str]] = {
    "smoothgrad": ({"n_samples": 8}, "8 noisy samples instead of 25"),
    "integrated_gradients": ({"steps": 8}, "8 steps instead of 32"),
    "occlusion": ({}, "a window of a quarter of the image instead of an eighth"),
}


def display_normalization(normalization: Any, weights: Any, data_config: Any,
                          preprocess: Any) -> Normalization | None:
    """The input normalisation the display undoes: the first of ``normalization``, ``weights``, ``data_config``
    given (refused when none is found there), else one found in ``preprocess`` (a torchvision pipeline with a
    Normalize, duck-typed), else None (the display then rescales and says so)."""
    for name, source in (("normalization", normalization), ("weights", weights), ("data_config", data_config)):
        if source is not None:
            try:
                return Normalization.of(source)
            except InputError as error:
                raise InputError(f"{name}=: {error}") from None
    if preprocess is not None:
        try:
            return Normalization.of(preprocess)
        except (InputError, TypeError, KeyError):
            return None
    return None


def fitted_normalization(normalization: Normalization | None, channels: int) -> Normalization | None:
    """``normalization`` for inputs of ``channels`` channels: one mean / std applies to every channel (as
    torchvision's ``Normalize`` broadcasts it); another count is refused (it was ignored, the display rescaled)."""
    if normalization is None or normalization.channels == channels:
        return normalization
    if normalization.channels == 1:
        return Normalization(normalization.mean * channels, normalization.std * channels)
    raise InputError(f"the normalisation has {normalization.channels} channels ({normalization.stated}) but the "
                     f"images have {channels}; give one mean and std per channel, or one for all")


def _has_maps(session: Session, layer: str) -> bool:
    """Whether ``layer``'s layout gives maps ``(N, C, h, w)`` with more than one position (False when the layout
    cannot be told: such a layer is not a default)."""
    try:
        maps = session.activation_maps(layer)
    except NbsaliencyError:
        return False
    return maps.dim() == 4 and maps.shape[2] * maps.shape[3] > 1


class ExplorerBackend:
    """Sessions per image and the translation of a :class:`Selection` into targets and method options."""

    def __init__(self, model: nn.Module, images: Tensor | Sequence[Any], labels: Sequence[str] | None = None,
                 preprocess: Callable[[Any], Tensor] | None = None, max_sessions: int = 4, *,
                 normalization: Any = None, weights: Any = None, data_config: Any = None,
                 display_images: Sequence[Any] | None = None):
        self.model = model
        if weights is not None:
            categories = getattr(weights, "meta", {}).get("categories") if hasattr(weights, "meta") else None
            labels = list(categories) if labels is None and categories else labels
            needs_preprocess = not isinstance(images, Tensor) and not all(isinstance(i, Tensor) for i in images)
            if preprocess is None and needs_preprocess and callable(getattr(weights, "transforms", None)):
                preprocess = weights.transforms()  # the weights' own preprocessing (metadata only, no download)
        self.normalization = display_normalization(normalization, weights, data_config, preprocess)
        self.inputs = _as_model_inputs(images, preprocess)
        if not self.inputs:
            raise InputError("images is empty; give at least one image")
        self.normalization = fitted_normalization(self.normalization, self.inputs[0].shape[0])
        self.display_images = None if display_images is None else [
            as_display_image(image, i) for i, image in enumerate(display_images)]
        if self.display_images is not None:
            if len(self.display_images) != len(self.inputs):
                raise InputError(f"display_images has {len(self.display_images)} images but there are "
                                 f"{len(self.inputs)} model inputs; give one display image per input")
            for i, (shown, x) in enumerate(zip(self.display_images, self.inputs, strict=True)):
                if shown.shape[1:] != x.shape[1:]:
                    raise InputError(f"display_images[{i}] is {tuple(shown.shape[1:])} pixels but its model input "
                                     f"is {tuple(x.shape[1:])}; give display images at the model's input size")
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
        self.parameters = sum(p.numel() for p in model.parameters())
        self.refined: set[str] = set()  # perturbation methods asked at the engine's full defaults ("refine")
        self.method_options: dict[str, dict[str, Any]] = {}  # method -> options of yours, over the defaults

    def display(self, x: Tensor, image_index: int | None = None) -> tuple[np.ndarray, str]:
        """RGBA ``(H, W, 4)`` of a model input and the display note ("" when faithful): the user's display image
        for an input given with one, else :func:`display_pixels` with the known normalisation."""
        if image_index is not None and self.display_images is not None and image_index < len(self.display_images):
            return rgba(self.display_images[image_index]), ""
        pixels, note = display_pixels(x, self.normalization)
        return rgba(pixels), note

    def display_image(self, x: Tensor) -> np.ndarray:
        """:meth:`display` without the note (patch crops, optimization frames)."""
        return self.display(x)[0]

    def options_for(self, method: str) -> tuple[dict[str, Any], str]:
        """The widget's options for a perturbation method and the caption's words for them: on a large model
        (:data:`PREVIEW_PARAMETERS` or more) a cheaper preview (:data:`PREVIEW_OPTIONS`) unless the method
        was refined; the engine's defaults otherwise."""
        preview = PREVIEW_OPTIONS.get(method)
        if preview is None or method in self.refined or self.parameters < PREVIEW_PARAMETERS:
            return {}, ""
        options, words = preview
        if method == "occlusion":
            height, width = self.inputs[0].shape[-2:]
            side = max(3, max(height, width) // 4)
            options = {"window": (min(side, height), min(side, width))}
        return options, (f"preview ({words}; the model has {self.parameters / 1e6:.1f} M parameters): "
                         "refine for the full computation")

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
        """The last layer with spatial maps (read through its layout: channels-first or -last maps, a token grid)
        that a module without children produced (the last conv stage)."""
        leaves = {name for name, module in self.model.named_modules() if not any(module.children())}
        session = self.session(0)
        spatial = [name for name, _, _ in self.layers if name.split("#")[0] in leaves and _has_maps(session, name)]
        return Selection(layer=spatial[-1] if spatial else self.layers[-1][0])

    def target(self, selection: Selection, session: Session) -> tuple[Target, Selection]:
        """The target a selection asks for; a neuron without a position becomes the channel's strongest unit,
        and the returned selection says which one it was. Reads the layer's layout (any layout's maps)."""
        kind, layer, c = selection.target, selection.layer, selection.channel
        cls = None if selection.target_class < 0 else selection.target_class
        if kind not in TARGET_KINDS:  # set from Python (ex.target = ...), which the view's checks do not see
            raise SelectionError(f"target must be one of {', '.join(TARGET_KINDS)}; got {kind!r}")
        if kind == "logit":
            return Logit(cls), selection
        if kind == "probability":
            return Probability(cls), selection
        if kind == "layer":
            return LayerEnergy(layer), selection
        maps = session.activation_maps(layer)
        if maps.dim() < 2:
            raise TargetError(f"layer {layer!r} has no channels (shape {tuple(maps.shape[1:])})")
        Channel(layer, c).values(session.recording)  # range checks with clear messages
        if kind == "channel":
            return Channel(layer, c), selection
        if maps.dim() == 2:
            return Neuron(layer, c), replace(selection, position=())
        position = selection.position
        if not position:
            position = divmod(int(maps[0, c].argmax()), maps.shape[3])
        return Neuron(layer, c, *position), replace(selection, position=tuple(position))

    def reconcile(self, selection: Selection, session: Session,
                  previous: Selection | None) -> tuple[Selection, list[str]]:
        """The rules that tie the controls together, the same from Python and from the view:

        - Channel must be a channel of the layer (0..C-1) for every target (it also picks the highlighted map);
          a channel or neuron position that only became invalid because the *layer* changed is reset (channel
          0; the channel's strongest unit) and the returned notes say so; one set invalid directly is refused
          (the engine's range message).
        - A neuron position survives a layer change while it lies inside the new layer's map (also when the
          channel was reset).
        - The target kind never changes with the layer (a Single-neuron target stays one)."""
        notes: list[str] = []
        checked_position(selection.position)  # also a position set from Python (the view's are parsed)
        maps = session.activation_maps(selection.layer)
        channels = maps.shape[1] if maps.dim() >= 2 else 0
        layer_changed = previous is not None and previous.layer != selection.layer
        if channels and not 0 <= selection.channel < channels:
            if layer_changed and selection.channel == previous.channel:  # type: ignore[union-attr]
                notes.append(f"channel {selection.channel} does not exist at {selection.layer} ({channels} "
                             "channels): reset to channel 0")
                selection = replace(selection, channel=0)  # the position is checked below, as for any layer change
            else:
                raise TargetIndexError(f"channel {selection.channel} is out of range for layer {selection.layer!r}: "
                                       f"it has {channels} channels (valid 0..{channels - 1})")
        if selection.position:
            height, width = maps.shape[2:] if maps.dim() == 4 else (1, 1)
            y, x = selection.position
            outside = maps.dim() != 4 or y >= height or x >= width
            if outside and layer_changed and selection.position == previous.position:  # type: ignore[union-attr]
                notes.append(f"neuron ({y}, {x}) is outside {selection.layer}'s {height}×{width} map: reset to "
                             "the channel's strongest unit")
                selection = replace(selection, position=())
        return selection, notes

    def compute(self, selection: Selection, previous: Selection | None = None,
                progress: Callable[[int, int], Any] | None = None, cancel: Any = None) -> Result:
        """Attribution, activations and predictions for ``selection`` (errors name what is wrong). ``previous``:
        the selection shown before (for :meth:`reconcile`); ``progress`` / ``cancel`` go to methods that take
        them (the perturbation methods; :class:`~nbsaliency.Cancelled` when the event is set)."""
        with differentiable():
            return self._compute(selection, previous, progress, cancel)

    def is_slow(self, method: str) -> bool:
        """Whether ``method`` runs many passes (it reports progress and can be cancelled): run off the comm
        handler by the widget. An unknown name is not slow (computing it reports the error)."""
        try:
            return "progress" in method_info(method).options
        except NbsaliencyError:
            return False

    def _compute(self, selection: Selection, previous: Selection | None, progress: Any, cancel: Any) -> Result:
        info = method_info(selection.method)
        session = self.session(selection.image_index)
        activations = session.activation_maps(selection.layer)[0]  # also checks the layer name
        selection, notes = self.reconcile(selection, session, previous)
        target, selection = self.target(selection, session)
        options: dict[str, Any] = {}
        unreached = False
        if info.takes_layer and info.layer_usable is not None and info.layer_usable(session, selection.layer):
            options["layer"] = selection.layer  # the selected layer's maps; else each target's default layer
        if "progress" in info.options:
            preview, words = self.options_for(info.name)
            options.update(preview, progress=progress, cancel=cancel)
            notes += [words] if words else []
        options.update(self.method_options.get(info.name, {}))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ZeroAttributionWarning)  # said on the map instead (a note)
            attribution = session.attribute(target, info.name, **options)[0]
            unreached = "layer" in options and not bool(attribution.any()) and not target_reaches_grid(
                session, [target], selection.layer)
            if unreached:  # a blank map at a layer whose grid the target never sees: the default layer instead
                del options["layer"]
                attribution = session.attribute(target, info.name, **options)[0]
        method_layer = ""
        if info.takes_layer:
            method_layer = session.last_cam_layers[0] if session.last_cam_layers else ""
            if method_layer and method_layer != selection.layer and unreached:
                notes.append(f"{info.label} used layer {method_layer}, not {selection.layer}: the target does not "
                             f"depend on {selection.layer}'s grid positions (after a ViT's last attention the grid "
                             "tokens no longer reach the class token), so its maps would be blank; it took the last "
                             "layer before the target whose grid the target depends on")
            elif method_layer and method_layer != selection.layer:
                notes.append(f"{info.label} used layer {method_layer}, not {selection.layer}: the selected layer has "
                             "no spatial maps it can weight, so it took the last spatial layer before the target")
        if not bool(attribution.any()):
            notes.append("the map is exactly zero everywhere: the target does not change with the input under this "
                         "method (a blank map does not mean that nothing matters)")
        probabilities, classes = session.top_predictions(5)
        predictions = [Prediction(int(c), self.labels[int(c)] if int(c) < len(self.labels) else str(int(c)), float(p))
                       for p, c in zip(probabilities[0], classes[0], strict=True)]
        maps = activations.reshape(activations.shape[0], *(activations.shape[1:] if activations.dim() == 3 else (1, 1)))
        image, display_note = self.display(session.x[0], selection.image_index)
        return Result(
            selection=selection,
            image_rgba=image,
            attribution=attribution.detach().float().cpu().numpy(),
            activations=maps.detach().float().cpu().numpy(),
            predictions=predictions,
            rgb_view=info.rgb_view,
            notes=tuple(notes + ([display_note] if display_note else [])),
            method_layer=method_layer,
        )
