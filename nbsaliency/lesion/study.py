"""``nbs.lesion``: switch off chosen channels or units of a layer and see what the model loses.

Lesion studies are the oldest way of asking what a unit is *for*: remove it and measure the damage (the
lecture's Part 3; Zhou et al. 2018, "Revisiting the Importance of Individual Units in CNNs via Ablation";
Morcos et al. 2018, "On the Importance of Single Directions for Generalization"). The model's weights are never
edited: a forward hook replaces the layer's output while the lesion is active and is removed afterwards.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from dataclasses import dataclass

from torch import Tensor, nn

from ..layer_axes import ran_layer_channel_axis
from ..validation import as_image_batch
from .forward import as_list, probe, run
from .hook import Fill, LesionHook
from .units import UnitIndex, channel_count, channel_masks, unit_mask


@dataclass(frozen=True)
class LesionEffect:
    """Class scores of the same images without and with the lesion, each ``(N, classes)``."""

    layer: str
    channels: tuple[int, ...]
    units: tuple[tuple[int, ...], ...]
    fill: str
    clean: Tensor
    lesioned: Tensor

    @property
    def score_change(self) -> Tensor:
        """Lesioned minus clean logits, ``(N, classes)`` (negative: the lesion cost the class evidence)."""
        return self.lesioned - self.clean

    @property
    def clean_probabilities(self) -> Tensor:
        return self.clean.softmax(dim=1)

    @property
    def probabilities(self) -> Tensor:
        """Softmax probabilities with the lesion, ``(N, classes)``."""
        return self.lesioned.softmax(dim=1)

    @property
    def probability_change(self) -> Tensor:
        """Lesioned minus clean probabilities, ``(N, classes)``."""
        return self.probabilities - self.clean_probabilities

    @property
    def prediction_changed(self) -> Tensor:
        """Per image, whether the lesion changed the predicted class, ``(N,)`` bool."""
        return self.lesioned.argmax(dim=1) != self.clean.argmax(dim=1)


class Lesion:
    """A lesion of ``channels`` and/or ``units`` of ``layer``; see :func:`lesion`."""

    def __init__(self, model: nn.Module, layer: str, channels: int | Iterable[int] | Tensor | None = None, *,
                 units: Iterable[UnitIndex] = (), fill: Fill = "zero", channel_axis: int | None = None):
        self.model, self.layer, self.fill = model, layer, fill
        self.channels = tuple(as_list(channels))
        self.units = tuple((u,) if isinstance(u, int) else tuple(int(i) for i in u) for u in units)
        self._hook = LesionHook(model, layer, self.mask, fill, channel_axis)  # checks the name and the fill

    @property
    def channel_axis(self) -> int | None:
        """The layer's channel axis: given, or read from its layout (``None`` until the first forward pass)."""
        return self._hook.channel_axis

    def mask(self, unit_shape: tuple[int, ...]) -> Tensor:
        """``(1, *unit_shape)`` bool: the lesioned units of a layer with this unit shape (indices checked)."""
        mask = unit_mask(self.layer, unit_shape, self.units)
        if self.channels:
            channel_count(self.layer, unit_shape, self.channel_axis)
            mask = mask | channel_masks(self.layer, unit_shape, [self.channels], self.channel_axis)
        return mask

    def __enter__(self) -> Lesion:
        """Every forward pass of the model inside the block runs with the lesion (in whatever mode the model is:
        ``effect`` uses eval mode). The hook is removed on exit, also after an error."""
        self._hook.__enter__()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        self._hook.__exit__(exc_type, *exc)
        if exc_type is None and self._hook.forwards and self._hook.output_shape is None:
            warnings.warn(f"the lesion of {self.layer!r} removed nothing: the model ran {self._hook.forwards} "
                          f"time(s) inside the block, but that layer (call) never did", stacklevel=2)

    def effect(self, x: Tensor) -> LesionEffect:
        """Class scores of ``x`` ``(N, C, H, W)`` (or one ``(C, H, W)`` image) without and with the lesion:
        two forward passes in eval mode, without gradients. Indices are checked against the layer's shape
        before the lesioned pass."""
        batch, _ = as_image_batch(self.model, x)
        if self._hook.channel_axis is None:
            self._hook.channel_axis = ran_layer_channel_axis(self.model, batch, self.layer)
        clean, unit_shape = probe(self.model, batch, self.layer, self.channel_axis)
        self.mask(unit_shape)  # TargetIndexError / TargetError before any lesioned pass
        lesioned = run(self.model, batch, LesionHook(self.model, self.layer, self.mask, self.fill, self.channel_axis))
        fill = self.fill if isinstance(self.fill, str) else "values"
        return LesionEffect(self.layer, self.channels, self.units, fill, clean, lesioned)

    def __repr__(self) -> str:
        return f"Lesion({self.layer!r}, channels={list(self.channels)}, units={list(self.units)}, fill={self.fill!r})"


def lesion(model: nn.Module, layer: str, channels: int | Iterable[int] | Tensor | None = None, *,
           units: Iterable[UnitIndex] = (), fill: Fill = "zero", channel_axis: int | None = None) -> Lesion:
    """Switch off ``channels`` (whole feature maps) and/or single ``units`` (``(c, y, x)`` index tuples, or ``i``
    in a flat layer) of ``layer``'s output, without editing the model.

    >>> nbs.lesion(model, "block3.conv2", [5, 9]).effect(x).score_change   # (N, classes) logit change
    >>> with nbs.lesion(model, "block3.conv2", 5):                          # any code, lesioned
    ...     logits = model(x)

    ``fill``: ``"zero"`` (default); ``"mean"``, each lesioned unit takes its channel's mean over the image's
    positions (keeps the channel's average level, removes *where* it fired); a number; or a tensor of values per
    channel ``(C,)`` (e.g. the channel's mean over a dataset) or per unit. ``layer`` is a ``named_modules()``
    name (``"name#2"``: the module's second call in a forward pass). The channel axis is read from the layer's
    layout (:mod:`nbsaliency.layouts`; one extra forward pass): 1 for ``(N, C, ...)`` maps, the last axis for
    channels-last maps (Swin) and token sequences (ViT: feature c of every token); ``channel_axis=`` overrides
    it. Errors: :class:`~nbsaliency.UnknownLayerError` (close
    matches named) for a wrong layer, :class:`~nbsaliency.TargetIndexError` (valid range named) for a channel
    or unit outside the layer, raised by ``effect`` before the lesioned pass or by the first forward pass inside
    the ``with`` block.
    """
    return Lesion(model, layer, channels, units=units, fill=fill, channel_axis=channel_axis)
