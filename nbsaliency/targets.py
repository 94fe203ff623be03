"""Targets: the scalar pseudo-loss whose gradient an attribution explains.

Simonyan et al. (2014) differentiate the unnormalised class score; the lecture generalises this to "the
activation of an arbitrary neuron or layer". Each target maps one recorded forward pass to one value per
image, shape ``(N,)``. Targets compose like lucent's objectives: ``Channel("block3.conv2", 5) - 0.1 *
LayerEnergy("block3")``.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Literal, Protocol

import torch
from torch import Tensor

from .errors import TargetError, TargetIndexError


class ForwardView(Protocol):
    """What a target reads: the model's output and the captured activations of one forward pass."""

    @property
    def output(self) -> Tensor: ...

    def activation(self, layer: str) -> Tensor: ...


ClassIndex = int | Sequence[int] | Tensor | None


class Target:
    """Base class: ``values(view)`` returns one scalar per image. Supports ``+``, ``-``, ``*`` by a number."""

    def values(self, view: ForwardView) -> Tensor:
        raise NotImplementedError

    @property
    def layers(self) -> tuple[str, ...]:
        """Layers this target reads (empty for class scores)."""
        return ()

    @property
    def uses_predicted_class(self) -> bool:
        """Whether the target reads "the predicted class" (``Logit(None)``, ``Probability(None)``)."""
        return False

    def with_classes(self, classes: Tensor) -> Target:
        """This target with "the predicted class" pinned to ``classes`` (one per image)."""
        return self

    def __add__(self, other: Target) -> Target:
        if not isinstance(other, Target):
            return NotImplemented
        return Sum((self, other))

    def __radd__(self, other: Target | int) -> Target:
        if isinstance(other, int) and other == 0:  # sum([...]) starts from 0
            return self
        return NotImplemented

    def __mul__(self, factor: float) -> Target:
        if not isinstance(factor, int | float):
            return NotImplemented
        return Scaled(self, float(factor))

    __rmul__ = __mul__

    def __neg__(self) -> Target:
        return Scaled(self, -1.0)

    def __sub__(self, other: Target) -> Target:
        if not isinstance(other, Target):
            return NotImplemented
        return self + (-other)

    def __truediv__(self, divisor: float) -> Target:
        return self * (1.0 / divisor)


def as_target(target: Target | int | None) -> Target:
    """An int means ``Logit(int)``; None means the predicted class's logit."""
    if isinstance(target, Target):
        return target
    if target is None or isinstance(target, int):
        return Logit(target)
    raise TargetError(
        f"a target must be an nbsaliency target (Logit, Probability, Channel, Neuron, LayerEnergy), a class "
        f"index (int) or None for the predicted class; got {type(target).__name__}"
    )


def class_scores(view: ForwardView) -> Tensor:
    output = view.output
    if not isinstance(output, Tensor) or output.dim() != 2:
        described = tuple(output.shape) if isinstance(output, Tensor) else type(output).__name__
        raise TargetError(
            f"class targets need the model to return class scores of shape (N, classes); it returned "
            f"{described}. Wrap the model so that it returns a (N, classes) tensor."
        )
    return output


def _per_image_classes(classes: ClassIndex, scores: Tensor) -> Tensor:
    n, n_classes = scores.shape
    if classes is None:
        return scores.argmax(dim=1)
    if isinstance(classes, int):
        if not 0 <= classes < n_classes:
            raise TargetIndexError(
                f"class {classes} is out of range: the model has {n_classes} classes (valid 0..{n_classes - 1})"
            )
        return torch.full((n,), classes, dtype=torch.long, device=scores.device)
    # checked on the host: a check on a GPU tensor would synchronise the device on every evaluation
    host = classes.detach().cpu() if isinstance(classes, Tensor) else torch.as_tensor(classes)
    host = host.long().reshape(-1)
    if host.numel() == 1:
        host = host.expand(n)
    if host.numel() != n:
        raise TargetError(f"got {host.numel()} classes for a batch of {n} images; give one class or one per image")
    bad = host[(host < 0) | (host >= n_classes)]
    if bad.numel():
        raise TargetIndexError(
            f"class {int(bad[0])} is out of range: the model has {n_classes} classes (valid 0..{n_classes - 1})"
        )
    return classes.to(scores.device).long().reshape(-1).expand(n) if isinstance(classes, Tensor) else \
        host.to(scores.device)


class Logit(Target):
    """The unnormalised class score (Simonyan et al. 2014); ``c=None`` picks each image's predicted class."""

    def __init__(self, c: ClassIndex = None):
        self.c = c

    def values(self, view: ForwardView) -> Tensor:
        scores = class_scores(view)
        return scores.gather(1, _per_image_classes(self.c, scores)[:, None])[:, 0]

    @property
    def uses_predicted_class(self) -> bool:
        return self.c is None

    def with_classes(self, classes: Tensor) -> Target:
        return Logit(classes) if self.c is None else self

    def __repr__(self) -> str:
        return f"Logit({self.c!r})"


class Probability(Target):
    """The softmax probability of class ``c``: mixes in evidence *against* the other classes."""

    def __init__(self, c: ClassIndex = None):
        self.c = c

    def values(self, view: ForwardView) -> Tensor:
        scores = class_scores(view)
        return scores.softmax(dim=1).gather(1, _per_image_classes(self.c, scores)[:, None])[:, 0]

    @property
    def uses_predicted_class(self) -> bool:
        return self.c is None

    def with_classes(self, classes: Tensor) -> Target:
        return Probability(classes) if self.c is None else self

    def __repr__(self) -> str:
        return f"Probability({self.c!r})"


def _check_channel(layer: str, activation: Tensor, c: int) -> None:
    if activation.dim() < 2:
        raise TargetError(f"layer {layer!r} has output shape {tuple(activation.shape)}: no channel axis")
    n_channels = activation.shape[1]
    if not 0 <= c < n_channels:
        raise TargetIndexError(
            f"channel {c} is out of range for layer {layer!r} with {n_channels} channels (valid 0..{n_channels - 1})"
        )


class Channel(Target):
    """One feature map. ``reduce="max"``: its strongest unit alone, all others zeroed (Zeiler & Fergus 2014);
    ``reduce="mean"``: the whole map's mean activation."""

    def __init__(self, layer: str, c: int, reduce: Literal["max", "mean"] = "max"):
        if reduce not in ("max", "mean"):
            raise TargetError(f'reduce must be "max" (strongest unit) or "mean" (whole map); got {reduce!r}')
        self.layer, self.c, self.reduce = layer, int(c), reduce

    @property
    def layers(self) -> tuple[str, ...]:
        return (self.layer,)

    def values(self, view: ForwardView) -> Tensor:
        activation = view.activation(self.layer)
        _check_channel(self.layer, activation, self.c)
        units = activation[:, self.c].reshape(activation.shape[0], -1)
        return units.max(dim=1).values if self.reduce == "max" else units.mean(dim=1)

    def __repr__(self) -> str:
        return f"Channel({self.layer!r}, {self.c}, reduce={self.reduce!r})"


class Neuron(Target):
    """One unit: ``Neuron(layer, c, y, x)`` in a feature map, ``Neuron(layer, i)`` in a flat layer."""

    def __init__(self, layer: str, *index: int):
        if not index:
            raise TargetError("Neuron needs an index: Neuron(layer, c, y, x) or Neuron(layer, i)")
        self.layer, self.index = layer, tuple(int(i) for i in index)

    @property
    def layers(self) -> tuple[str, ...]:
        return (self.layer,)

    def values(self, view: ForwardView) -> Tensor:
        activation = view.activation(self.layer)
        unit_shape = tuple(activation.shape[1:])
        if len(self.index) != len(unit_shape):
            names = {1: "Neuron(layer, i)", 3: "Neuron(layer, c, y, x)"}.get(len(unit_shape), "")
            raise TargetError(
                f"layer {self.layer!r} has units of shape {unit_shape}, so a Neuron there takes "
                f"{len(unit_shape)} indices {names}; got {len(self.index)}: {self.index}"
            )
        for axis, (i, size) in enumerate(zip(self.index, unit_shape, strict=True)):
            if not 0 <= i < size:
                axis_name = ("channel", "y", "x")[axis] if len(unit_shape) == 3 else f"axis {axis + 1}"
                raise TargetIndexError(
                    f"{axis_name} index {i} is out of range for layer {self.layer!r} with units of shape "
                    f"{unit_shape} (valid 0..{size - 1})"
                )
        return activation[(slice(None), *self.index)]

    def __repr__(self) -> str:
        return f"Neuron({self.layer!r}, {', '.join(map(str, self.index))})"


class LayerEnergy(Target):
    """Squared L2 norm of a layer's activation, its "energy": the DeepDream objective (Mordvintsev et al. 2015)."""

    def __init__(self, layer: str):
        self.layer = layer

    @property
    def layers(self) -> tuple[str, ...]:
        return (self.layer,)

    def values(self, view: ForwardView) -> Tensor:
        activation = view.activation(self.layer)
        return activation.reshape(activation.shape[0], -1).pow(2).sum(dim=1)

    def __repr__(self) -> str:
        return f"LayerEnergy({self.layer!r})"


class LayerNorm(LayerEnergy):
    """Deprecated name of :class:`LayerEnergy` (it reads as ``torch.nn.LayerNorm``, a layer type); removed in the
    next release."""

    def __init__(self, layer: str):
        warnings.warn("nbs.LayerNorm is deprecated (the name reads as torch.nn.LayerNorm): use nbs.LayerEnergy, "
                      "the same squared L2 norm of a layer's activation", DeprecationWarning, stacklevel=2)
        super().__init__(layer)


class Scaled(Target):
    def __init__(self, target: Target, factor: float):
        self.target, self.factor = target, factor

    @property
    def layers(self) -> tuple[str, ...]:
        return self.target.layers

    @property
    def uses_predicted_class(self) -> bool:
        return self.target.uses_predicted_class

    def with_classes(self, classes: Tensor) -> Target:
        return Scaled(self.target.with_classes(classes), self.factor)

    def values(self, view: ForwardView) -> Tensor:
        return self.factor * self.target.values(view)

    def __repr__(self) -> str:
        return f"{self.factor!r} * {self.target!r}"


class Sum(Target):
    def __init__(self, terms: tuple[Target, ...]):
        flat: list[Target] = []
        for term in terms:
            flat.extend(term.terms if isinstance(term, Sum) else (term,))
        self.terms = tuple(flat)

    @property
    def layers(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(layer for term in self.terms for layer in term.layers))

    @property
    def uses_predicted_class(self) -> bool:
        return any(term.uses_predicted_class for term in self.terms)

    def with_classes(self, classes: Tensor) -> Target:
        return Sum(tuple(term.with_classes(classes) for term in self.terms))

    def values(self, view: ForwardView) -> Tensor:
        return sum((term.values(view) for term in self.terms[1:]), self.terms[0].values(view))

    def __repr__(self) -> str:
        return " + ".join(repr(term) for term in self.terms)
