"""Which image sizes a model accepts, found by probing, so that optimisation ends at a size the model takes.

Many models take any size (convolutions, then global pooling); others take exactly one: a ViT's position
embedding has one entry per patch of a 224-pixel image, so 225 or 128 pixels fail. Lucid's robustness transforms
(pad, jitter, scale, rotate) and DeepDream's octaves change the size at every step, so for such a model every
image is resized to the accepted size (:class:`FitSize`) just before the forward pass; a method whose own size
the model cannot take uses the size the model declares (torchvision's ``image_size``, timm's
``pretrained_cfg["input_size"]`` / ``patch_embed.img_size``) or the first common size that works.

Probes are single-image ``no_grad`` forward passes in eval mode (the model is left as it was).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import InputError, ModelError
from ..model_state import evaluation_mode
from .transforms import Transform


class ResizedInputWarning(UserWarning):
    """The model does not take the image's size: each image is resized to the size it takes before the
    forward pass."""


COMMON_SIZES = (224, 256, 384, 299, 512, 192, 160, 128, 96, 64, 32)


def _accepts(model: nn.Module, probe: Tensor) -> Exception | None:
    try:
        with evaluation_mode(model), torch.no_grad():
            model(probe)
    except Exception as error:  # any failure means: not this size
        return error
    return None


def declared_size(model: nn.Module) -> tuple[int, int] | None:
    """The input size a model states about itself (torchvision ViT ``image_size``; timm ``pretrained_cfg`` /
    ``default_cfg`` ``input_size``; a ``patch_embed.img_size``), or None."""
    candidates: list[Any] = [getattr(model, "image_size", None), getattr(model, "img_size", None)]
    for name in ("pretrained_cfg", "default_cfg"):
        config = getattr(model, name, None)
        if isinstance(config, dict) and "input_size" in config:
            candidates.append(tuple(config["input_size"])[-2:])
    candidates.append(getattr(getattr(model, "patch_embed", None), "img_size", None))
    for size in candidates:
        if isinstance(size, int) and size > 0:
            return (size, size)
        if isinstance(size, tuple | list) and len(size) == 2 and all(isinstance(s, int) and s > 0 for s in size):
            return (int(size[0]), int(size[1]))
    return None


class InputSize:
    """What probing found: ``fixed`` is the one size every forward pass must have (None: the model also takes
    the wanted size and a size one pixel larger, so it is taken to accept any size)."""

    def __init__(self, fixed: tuple[int, int] | None, wanted: tuple[int, int]):
        self.fixed, self.wanted = fixed, wanted

    @property
    def size(self) -> tuple[int, int]:
        """The size to optimise at: the wanted one when the model takes it, else the fixed one."""
        return self.wanted if self.fixed is None or self.takes_wanted else self.fixed

    @property
    def takes_wanted(self) -> bool:
        return self.fixed is None or self.fixed == self.wanted

    def transform(self) -> FitSize | None:
        """The resize every image needs before the forward pass (None for a model that takes any size)."""
        return None if self.fixed is None else FitSize(self.fixed)


def probe_input_size(model: nn.Module, channels: int, wanted: Sequence[int], *, device: torch.device,
                     dtype: torch.dtype, method: str) -> InputSize:
    """Probe ``model`` at ``wanted`` and one pixel larger; when ``wanted`` fails, at the declared size and
    :data:`COMMON_SIZES`. Raises :class:`~nbsaliency.ModelError` naming the sizes tried when none works."""

    def probe(size: tuple[int, int]) -> Exception | None:
        return _accepts(model, torch.zeros(1, channels, *size, device=device, dtype=dtype))

    wanted = (int(wanted[0]), int(wanted[1]))
    failure = probe(wanted)
    if failure is None:
        larger = (wanted[0] + 1, wanted[1] + 1)
        return InputSize(None if probe(larger) is None else wanted, wanted)
    tried = [wanted]
    declared = declared_size(model)
    for size in _unique([declared] if declared else [], ((s, s) for s in COMMON_SIZES)):
        if size in tried:
            continue
        tried.append(size)
        if probe(size) is None:
            return InputSize(size, wanted)
    sizes = ", ".join(f"{h}x{w}" for h, w in tried)
    raise ModelError(f"{method} needs the model to take images of some size, but it raised on every size tried "
                     f"({sizes}); at {wanted[0]}x{wanted[1]}: {type(failure).__name__}: {failure}")


def _unique(*groups: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    return list(dict.fromkeys(size for group in groups for size in group))


def refuse_size(found: InputSize, method: str, hint: str) -> None:
    """:class:`~nbsaliency.InputError` for an explicitly requested size the model does not take; ``hint`` says
    what to do instead."""
    if not found.takes_wanted:
        (h, w), (fh, fw) = found.wanted, found.size
        raise InputError(f"the model does not take {h}x{w} images, which {method} was asked for; it takes "
                         f"{fh}x{fw}: {hint}")


def fit_transforms(transforms: Transform | Sequence[Transform], found: InputSize) -> Transform | list[Transform]:
    """``transforms`` followed by the resize to the model's one size, when it has one."""
    fit = found.transform()
    if fit is None:
        return transforms
    chain = list(transforms) if isinstance(transforms, Sequence) else [transforms]
    return [*chain, fit]


class FitSize(Transform):
    """Resize (bilinear) to ``size`` when the image has another size: the last transform for a model that takes
    one size only, so that robustness transforms and octaves still end at it."""

    def __init__(self, size: tuple[int, int]):
        self.size = (int(size[0]), int(size[1]))

    def __call__(self, image: Tensor, generator: torch.Generator) -> Tensor:
        if tuple(image.shape[-2:]) == self.size:
            return image
        return F.interpolate(image, size=self.size, mode="bilinear", align_corners=False)

    def __repr__(self) -> str:
        return f"FitSize({self.size})"
