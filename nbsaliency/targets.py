"""Targets: the scalar pseudo-loss whose gradient an attribution explains.

Simonyan et al. (2014) differentiate the unnormalised class score; the lecture generalises this to "the
activation of an arbitrary neuron or layer". Each target maps one recorded forward pass to one value per
image, shape ``(N,)``. Targets compose like lucent's objectives: ``Channel("block3.conv2", 5) - 0.1 *
LayerEnergy("block3")``.
"""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Sequence
from typing import Literal, Protocol

import numpy as np
import torch
from torch import Tensor

from .errors import TargetError, TargetIndexError
from .layouts import Layout, LayoutTable


class ForwardView(Protocol):
    """What a target reads: the model's output and the captured activations of one forward pass."""

    @property
    def output(self) -> Tensor: ...

    def activation(self, layer: str) -> Tensor: ...


def layer_maps(view: ForwardView, layer: str) -> tuple[Tensor, Layout, tuple[int, ...]]:
    """``layer``'s activation as channels-first maps ``(N, C, h, w)`` (``(N, D)`` when flat), its layout and its
    own shape. Views that know layouts (a session's recording) answer them; for any other view the layout is
    detected from the shape alone (4-d: channels-first; 3-d: an error asking for the layout)."""
    activation = view.activation(layer)
    shape = tuple(activation.shape)
    layout_of = getattr(view, "layout", None)
    layout = layout_of(layer) if callable(layout_of) else LayoutTable({layer: shape}, {})[layer]
    return layout.maps(activation), layout, shape


ClassIndex = int | Sequence[int] | Tensor | np.ndarray | None


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

    def for_copies(self, repeats: int) -> Target:
        """This target for ``repeats`` copies of the batch stacked along the batch axis (perturbation methods):
        a class given per image is repeated for every copy."""
        return self

    def check_batch(self, n: int) -> None:
        """Raise :class:`TargetError` if the target gives classes for another number of images than ``n`` (checked
        before perturbation methods stack copies, so the message speaks of the user's batch)."""

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
    """An int (also a NumPy integer or an integer tensor: 0-d, or 1-d with one class per image) means
    ``Logit(target)``; None means the predicted class's logit. Floats and bools are refused."""
    if isinstance(target, Target):
        return target
    if target is None or _is_integer(target) or isinstance(target, Tensor | np.ndarray):
        return Logit(target)
    raise TargetError(
        f"a target must be an nbsaliency target (Logit, Probability, Channel, Neuron, LayerEnergy), a class "
        f"index (int, NumPy integer, integer tensor with one class per image) or None for the predicted class; "
        f"got {type(target).__name__}"
    )


def _is_integer(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool | np.bool_)


def _class_index(classes: object) -> int | Tensor | None:
    """A user's class choice as None, an int, or a 1-d int64 CPU tensor (one class per image).

    Accepts int, NumPy integers, 0-d / 1-d integer tensors and arrays, and sequences of ints; refuses floats,
    bools and anything with more than one axis, naming what was given.
    """
    if classes is None:
        return None
    if _is_integer(classes):
        return int(classes)
    what = "the class index"
    if isinstance(classes, Tensor | np.ndarray):
        dtype = classes.dtype
        integer = (not classes.dtype.is_floating_point and not classes.dtype.is_complex
                   and classes.dtype != torch.bool) if isinstance(classes, Tensor) else \
            np.issubdtype(classes.dtype, np.integer)
        if not integer:
            raise TargetError(f"{what} must be an integer (one class, or one per image); got a "
                              f"{type(classes).__name__} of dtype {dtype}. Use e.g. .long() / .astype(int)")
        if classes.ndim > 1:
            raise TargetError(f"{what} must be one class or a 1-d sequence of one class per image; got shape "
                              f"{tuple(classes.shape)}")
        host = torch.as_tensor(classes.detach().cpu() if isinstance(classes, Tensor) else classes).long()
        return int(host) if host.ndim == 0 else host
    if isinstance(classes, Sequence) and not isinstance(classes, str | bytes):
        bad = [c for c in classes if not _is_integer(c)]
        if bad:
            raise TargetError(f"{what} must hold integers (one class per image); got {bad[0]!r} "
                              f"({type(bad[0]).__name__})")
        return torch.tensor([int(c) for c in classes], dtype=torch.long)
    raise TargetError(f"{what} must be an int, a NumPy integer or an integer tensor (one class per image); got "
                      f"{classes!r} ({type(classes).__name__})")


def class_scores(view: ForwardView) -> Tensor:
    output = view.output
    if not isinstance(output, Tensor) or output.dim() != 2:
        described = tuple(output.shape) if isinstance(output, Tensor) else type(output).__name__
        raise TargetError(
            f"class targets need the model to return class scores of shape (N, classes); it returned "
            f"{described}. Wrap the model so that it returns a (N, classes) tensor."
        )
    return output


def _per_image_classes(classes: int | Tensor | None, scores: Tensor, *, check: bool = True) -> Tensor:
    """One class per image, ``(N,)`` on the scores' device; ``classes`` as :func:`_class_index` returns it (or
    a tensor of predicted classes pinned by :meth:`Target.with_classes`, which needs no range check)."""
    n, n_classes = scores.shape
    if classes is None:
        return scores.argmax(dim=1)
    if isinstance(classes, int):
        if not 0 <= classes < n_classes:
            raise TargetIndexError(
                f"class {classes} is out of range: the model has {n_classes} classes (valid 0..{n_classes - 1})"
            )
        return torch.full((n,), classes, dtype=torch.long, device=scores.device)
    if classes.numel() not in (1, n):
        raise TargetError(f"got {classes.numel()} classes for a batch of {n} images; give one class or one per image")
    if check:  # user classes live on the host (checking a GPU tensor would synchronise the device)
        bad = classes[(classes < 0) | (classes >= n_classes)]
        if bad.numel():
            raise TargetIndexError(
                f"class {int(bad[0])} is out of range: the model has {n_classes} classes (valid 0..{n_classes - 1})"
            )
    return classes.to(scores.device).reshape(-1).expand(n)


def _repeat_classes(classes: int | Tensor | None, repeats: int) -> int | Tensor | None:
    """Per-image classes for ``repeats`` stacked copies of the batch (copy k of image i is row k * N + i)."""
    if isinstance(classes, Tensor) and classes.numel() > 1:
        return classes.repeat(repeats)
    return classes


class _ClassTarget(Target):
    """A class score (``c``: one class, one per image, or None for each image's predicted class)."""

    def __init__(self, c: ClassIndex = None):
        self.c = _class_index(c)
        self._predicted = False  # True once "the predicted class" is pinned to a (device) tensor

    def _scores(self, scores: Tensor) -> Tensor:
        raise NotImplementedError

    def values(self, view: ForwardView) -> Tensor:
        scores = class_scores(view)
        classes = _per_image_classes(self.c, scores, check=not self._predicted)
        return self._scores(scores).gather(1, classes[:, None])[:, 0]

    @property
    def uses_predicted_class(self) -> bool:
        return self.c is None

    def with_classes(self, classes: Tensor) -> Target:
        return self._pinned(classes, predicted=True) if self.c is None else self

    def for_copies(self, repeats: int) -> Target:
        return self._pinned(_repeat_classes(self.c, repeats), self._predicted)

    def check_batch(self, n: int) -> None:
        if isinstance(self.c, Tensor) and self.c.numel() > 1 and self.c.numel() != n:
            raise TargetError(f"got {self.c.numel()} classes for a batch of {n} images; give one class or one per "
                              "image")

    def _pinned(self, classes: int | Tensor | None, predicted: bool) -> Target:
        target = type(self)()
        target.c = classes  # already converted (pinned predictions stay on the model's device)
        target._predicted = predicted
        return target

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.c!r})"


class Logit(_ClassTarget):
    """The unnormalised class score (Simonyan et al. 2014); ``c=None`` picks each image's predicted class.
    ``c`` may be an int, a NumPy integer or an integer tensor / array / list with one class per image."""

    def _scores(self, scores: Tensor) -> Tensor:
        return scores


class Probability(_ClassTarget):
    """The softmax probability of class ``c`` (as :class:`Logit`): mixes in evidence *against* the other
    classes."""

    def _scores(self, scores: Tensor) -> Tensor:
        return scores.softmax(dim=1)


def _check_channel(layer: str, maps: Tensor, layout: Layout, shape: tuple[int, ...], c: int) -> None:
    if maps.dim() < 2:
        raise TargetError(f"layer {layer!r} has output shape {shape}: no channel axis")
    n_channels = maps.shape[1]
    if not 0 <= c < n_channels:
        raise TargetIndexError(
            f"channel {c} is out of range for layer {layer!r} with {n_channels} channels (valid "
            f"0..{n_channels - 1}); its output is {layout.describe(shape)}"
        )


class Channel(Target):
    """One feature map. ``reduce="max"``: its strongest unit alone, all others zeroed (Zeiler & Fergus 2014);
    ``reduce="mean"``: the whole map's mean activation.

    Channel ``c`` is always feature channel ``c`` over all positions, whatever the layer's layout
    (:mod:`nbsaliency.layouts`): axis 1 of ``(N, C, H, W)``, the last axis of ``(N, H, W, C)``, and for token
    sequences ``(N, prefix + h*w, D)`` feature ``c`` over the ``h x w`` *grid* tokens (class / register tokens
    have no grid position and are left out)."""

    def __init__(self, layer: str, c: int, reduce: Literal["max", "mean"] = "max"):
        if reduce not in ("max", "mean"):
            raise TargetError(f'reduce must be "max" (strongest unit) or "mean" (whole map); got {reduce!r}')
        self.layer, self.c, self.reduce = layer, int(c), reduce

    @property
    def layers(self) -> tuple[str, ...]:
        return (self.layer,)

    def values(self, view: ForwardView) -> Tensor:
        maps, layout, shape = layer_maps(view, self.layer)
        _check_channel(self.layer, maps, layout, shape, self.c)
        units = maps[:, self.c].reshape(maps.shape[0], -1)
        return units.max(dim=1).values if self.reduce == "max" else units.mean(dim=1)

    def __repr__(self) -> str:
        return f"Channel({self.layer!r}, {self.c}, reduce={self.reduce!r})"


class Neuron(Target):
    """One unit: ``Neuron(layer, c, y, x)`` in a feature map, ``Neuron(layer, i)`` in a flat layer, and
    ``Neuron(layer, c, token=t)`` for feature ``c`` of token ``t`` of a token sequence, counted from the first
    token: ``token=0`` is a ViT's class token (the prefix tokens are not on the grid).

    ``(y, x)`` is a grid position in every layout: for channels-last maps the unit ``[:, y, x, c]``, for token
    sequences feature ``c`` of the grid token at row ``y``, column ``x`` (token ``prefix + y * w + x``)."""

    def __init__(self, layer: str, *index: int, token: int | None = None):
        if not index:
            raise TargetError("Neuron needs an index: Neuron(layer, c, y, x) or Neuron(layer, i)")
        if token is not None and len(index) != 1:
            raise TargetError(f"a token's Neuron takes one feature index and the token: Neuron(layer, c, token=t); "
                              f"got indices {tuple(index)} and token={token}")
        self.layer, self.index = layer, tuple(int(i) for i in index)
        self.token = None if token is None else int(token)

    @property
    def layers(self) -> tuple[str, ...]:
        return (self.layer,)

    def values(self, view: ForwardView) -> Tensor:
        if self.token is not None:
            return self._token_values(view)
        maps, layout, shape = layer_maps(view, self.layer)
        unit_shape = tuple(maps.shape[1:])
        if len(self.index) != len(unit_shape):
            names = {1: "Neuron(layer, i)", 3: "Neuron(layer, c, y, x)"}.get(len(unit_shape), "")
            raise TargetError(
                f"layer {self.layer!r} has units of shape {unit_shape} ({layout.describe(shape)}), so a Neuron "
                f"there takes "
                f"{len(unit_shape)} indices {names}; got {len(self.index)}: {self.index}"
            )
        for axis, (i, size) in enumerate(zip(self.index, unit_shape, strict=True)):
            if not 0 <= i < size:
                axis_name = ("channel", "y", "x")[axis] if len(unit_shape) == 3 else f"axis {axis + 1}"
                raise TargetIndexError(
                    f"{axis_name} index {i} is out of range for layer {self.layer!r} with units of shape "
                    f"{unit_shape} (valid 0..{size - 1}); its output is {layout.describe(shape)}"
                )
        return maps[(slice(None), *self.index)]

    def _token_values(self, view: ForwardView) -> Tensor:
        activation = view.activation(self.layer)
        shape = tuple(activation.shape)
        _, layout, _ = layer_maps(view, self.layer)
        if layout.kind != "tokens":
            raise TargetError(f"token={self.token} addresses a token sequence, but layer {self.layer!r} is "
                              f"{layout.describe(shape)}; use Neuron(layer, c, y, x) or Neuron(layer, i) there")
        (c,), (_, tokens, features) = self.index, shape
        if not 0 <= self.token < tokens:
            raise TargetIndexError(f"token {self.token} is out of range for layer {self.layer!r} with {tokens} tokens "
                                   f"(valid 0..{tokens - 1}; {layout.prefix} prefix token(s) first, then the "
                                   f"{layout.grid[0]}x{layout.grid[1]} grid)")  # type: ignore[index]
        if not 0 <= c < features:
            raise TargetIndexError(f"feature index {c} is out of range for layer {self.layer!r} with {features} "
                                   f"features per token (valid 0..{features - 1})")
        return activation[:, self.token, c]

    def __repr__(self) -> str:
        token = "" if self.token is None else f", token={self.token}"
        return f"Neuron({self.layer!r}, {', '.join(map(str, self.index))}{token})"


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

    def for_copies(self, repeats: int) -> Target:
        return Scaled(self.target.for_copies(repeats), self.factor)

    def check_batch(self, n: int) -> None:
        self.target.check_batch(n)

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

    def for_copies(self, repeats: int) -> Target:
        return Sum(tuple(term.for_copies(repeats) for term in self.terms))

    def check_batch(self, n: int) -> None:
        for term in self.terms:
            term.check_batch(n)

    def values(self, view: ForwardView) -> Tensor:
        return sum((term.values(view) for term in self.terms[1:]), self.terms[0].values(view))

    def __repr__(self) -> str:
        return " + ".join(repr(term) for term in self.terms)
