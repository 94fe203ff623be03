"""The input normalisation of a model, stated once: ``x_model = (x_pixels - mean) / std`` per channel.

Pixels are in ``[0, 1]`` (what ``ToTensor`` gives); the model sees them normalised. From the normalisation
follow the value range an optimised image must keep to in model space (``(0 - mean) / std .. (1 - mean) / std``
per channel) and the way back to pixels for display.

>>> norm = Normalization((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))     # ImageNet
>>> norm = Normalization.of(weights)             # torchvision weights: weights.transforms() (duck-typed)
>>> norm = Normalization.of(Normalize(mean, std))   # or a transform pipeline containing one
>>> norm = Normalization.of(timm.data.resolve_data_config({}, model=model))   # a timm data config dict
>>> deepdream(model, x, "layer3", normalization=norm)
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from .errors import InputError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class ClippedInputWarning(UserWarning):
    """An input image had a few values outside the stated range; they were clipped into it."""


def _floats(values: Any, name: str) -> tuple[float, ...]:
    if isinstance(values, Tensor):
        values = values.detach().reshape(-1).tolist()
    if isinstance(values, int | float):
        return (float(values),)
    try:
        result = tuple(float(v) for v in values)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a number or one number per channel; got {values!r}") from None
    if not result:
        raise InputError(f"{name} must not be empty")
    return result


class Normalization:
    """Per-channel ``mean`` and ``std`` (numbers, or one per channel) of a model's input normalisation.

    ``value_range`` gives the model-space bounds of pixels in ``[0, 1]``; :meth:`to_pixels` / :meth:`to_model`
    convert ``(N, C, H, W)`` or ``(C, H, W)`` tensors. Build it directly or with :meth:`of` from a torchvision
    ``Normalize``, a torchvision transform pipeline that contains one, torchvision weights (``.transforms()``)
    or a timm data config (a mapping with ``"mean"`` and ``"std"``).
    """

    def __init__(self, mean: float | Sequence[float] | Tensor, std: float | Sequence[float] | Tensor):
        self.mean, self.std = _floats(mean, "mean"), _floats(std, "std")
        self.stated = f"mean {list(self.mean)}, std {list(self.std)}"  # as given, for messages
        if len(self.mean) != len(self.std) and 1 not in (len(self.mean), len(self.std)):
            raise InputError(f"mean has {len(self.mean)} values but std has {len(self.std)}; give one per channel")
        if not all(s > 0 for s in self.std):
            raise InputError(f"std must be positive; got {self.std}")
        n = max(len(self.mean), len(self.std))
        self.mean = self.mean * n if len(self.mean) == 1 else self.mean
        self.std = self.std * n if len(self.std) == 1 else self.std

    # -- construction ------------------------------------------------------------------------------------------
    @classmethod
    def of(cls, source: Any) -> Normalization:
        """The normalisation described by ``source``: a :class:`Normalization`; a ``(mean, std)`` pair; a mapping
        with ``"mean"`` and ``"std"`` (timm's data config); an object with ``mean`` and ``std`` attributes
        (torchvision's ``Normalize`` or a weights' preset transform); a pipeline whose ``transforms`` list holds
        one (``Compose``); torchvision weights, whose ``transforms()`` gives the pipeline. Raises
        :class:`~nbsaliency.InputError` when none is found."""
        found = _find(source, depth=0)
        if found is None:
            raise InputError(
                f"no normalisation found in {type(source).__name__}: give Normalization(mean, std), a (mean, std) "
                "pair, a torchvision Normalize (or a Compose / weights containing one) or a timm data config "
                "{'mean': ..., 'std': ...}")
        return found

    # -- ranges and conversions --------------------------------------------------------------------------------
    @property
    def channels(self) -> int:
        return len(self.mean)

    @property
    def value_range(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """Per-channel ``(low, high)`` in model space: where pixel values 0 and 1 land."""
        return (tuple((0.0 - m) / s for m, s in zip(self.mean, self.std, strict=True)),
                tuple((1.0 - m) / s for m, s in zip(self.mean, self.std, strict=True)))

    def _shaped(self, x: Tensor) -> tuple[Tensor, Tensor]:
        axis = x.dim() - 3
        if x.dim() not in (3, 4) or x.shape[axis] != self.channels:
            raise InputError(f"expected an (N, {self.channels}, H, W) or ({self.channels}, H, W) image for a "
                             f"{self.channels}-channel normalisation; got shape {tuple(x.shape)}")
        shape = (-1, 1, 1)
        mean = torch.tensor(self.mean, dtype=x.dtype, device=x.device).reshape(shape)
        std = torch.tensor(self.std, dtype=x.dtype, device=x.device).reshape(shape)
        return mean, std

    def to_pixels(self, x: Tensor) -> Tensor:
        """Model-space image(s) back to pixels (``x * std + mean``; ``[0, 1]`` for images made from pixels)."""
        mean, std = self._shaped(x)
        return x * std + mean

    def to_model(self, x: Tensor) -> Tensor:
        """Pixels in ``[0, 1]`` to what the model sees (``(x - mean) / std``)."""
        mean, std = self._shaped(x)
        return (x - mean) / std

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Normalization) and (self.mean, self.std) == (other.mean, other.std)

    def __hash__(self) -> int:
        return hash((self.mean, self.std))

    def __repr__(self) -> str:
        return f"Normalization(mean={self.mean}, std={self.std})"


def _find(source: Any, depth: int) -> Normalization | None:
    if depth > 4 or source is None:
        return None
    if isinstance(source, Normalization):
        return source
    if isinstance(source, Mapping):
        return Normalization(source["mean"], source["std"]) if "mean" in source and "std" in source else None
    if isinstance(source, tuple | list) and len(source) == 2 and not any(_is_transform(s) for s in source):
        return Normalization(*source)
    if hasattr(source, "mean") and hasattr(source, "std") and not isinstance(source, Tensor):
        return Normalization(source.mean, source.std)
    transforms = getattr(source, "transforms", None)
    if callable(transforms) and not isinstance(transforms, Sequence):  # torchvision weights: .transforms()
        return _find(transforms(), depth + 1)
    if isinstance(transforms, Sequence) or isinstance(source, Sequence):
        for item in transforms if isinstance(transforms, Sequence) else source:
            found = _find(item, depth + 1)
            if found is not None:
                return found
    return None


def _is_transform(value: Any) -> bool:
    return callable(value) or hasattr(value, "transforms")


def as_normalization(source: Any) -> Normalization | None:
    """``None`` stays None; anything else through :meth:`Normalization.of`."""
    return None if source is None else Normalization.of(source)


def check_in_range(x: Tensor, value_range: Any, what: str, *, refuse_above: float = 0.01,
                   tolerance: float = 1e-3) -> None:
    """Refuse ``x`` (:class:`~nbsaliency.InputError`) when more than ``refuse_above`` of its values lie outside
    ``value_range`` (per channel; by more than ``tolerance`` of the range's width): the image is clearly in
    another range, e.g. normalised when ``(0, 1)`` is assumed. Warn (:class:`ClippedInputWarning`) when a few do
    (they will be clipped)."""
    low, high = (torch.as_tensor(v, dtype=torch.float64).reshape(-1) for v in value_range)
    values = x.detach().to(torch.float64)
    channels = values.shape[-3]
    if low.numel() not in (1, channels) or high.numel() not in (1, channels):
        return  # the parameterisation reports a range that does not fit the channels
    shape = (-1, 1, 1)
    low, high = low.to(values.device).reshape(shape), high.to(values.device).reshape(shape)
    slack = tolerance * (high - low)
    outside = (values < low - slack) | (values > high + slack)
    fraction = float(outside.double().mean())
    if fraction == 0:
        return
    stated = _describe_range(value_range)
    seen = f"{float(values.min()):.3g}..{float(values.max()):.3g}"
    if fraction > refuse_above:
        raise InputError(
            f"{what} has {100 * fraction:.1f}% of its values outside the stated range {stated} (its values span "
            f"{seen}): it is in another range. For normalised inputs pass normalization= (e.g. "
            f"Normalization(mean, std), a torchvision Normalize or weights, a timm data config), or value_range=")
    warnings.warn(f"{what} has {100 * fraction:.2f}% of its values outside the stated range {stated} (values span "
                  f"{seen}); they are clipped into it", ClippedInputWarning, stacklevel=3)


def _describe_range(value_range: Any) -> str:
    low, high = (torch.as_tensor(v, dtype=torch.float64).reshape(-1).tolist() for v in value_range)
    fmt = lambda v: f"{v[0]:.3g}" if len(v) == 1 else "(" + ", ".join(f"{x:.3g}" for x in v) + ")"  # noqa: E731
    return f"{fmt(low)}..{fmt(high)}"


def stated_range(value_range: Any, normalization: Any) -> tuple[Any, Normalization | None]:
    """The value range an optimisation keeps to, and the normalisation it came from: ``value_range`` when
    given, else ``normalization``'s model-space range, else ``(0, 1)``. Giving both is refused unless they
    agree."""
    norm = as_normalization(normalization)
    if norm is None:
        return (value_range if value_range is not None else (0.0, 1.0)), None
    derived = norm.value_range
    if value_range is not None:
        low, high = (torch.as_tensor(v, dtype=torch.float64).reshape(-1) for v in value_range)
        d_low, d_high = (torch.tensor(v, dtype=torch.float64) for v in derived)
        if low.shape != d_low.shape and low.numel() != 1 or not (
                torch.allclose(low, d_low, atol=1e-6) and torch.allclose(high, d_high, atol=1e-6)):
            raise InputError(f"value_range={value_range} disagrees with {norm!r}, whose range is "
                             f"{_describe_range(derived)}; give one of them")
    return derived, norm
