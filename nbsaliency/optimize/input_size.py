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
    the wanted size, a size one pixel larger and the other sizes the method will use, so it is taken to accept
    any size); ``failure`` is the model's own error at the wanted size (None when it took it)."""

    def __init__(self, fixed: tuple[int, int] | None, wanted: tuple[int, int], failure: Exception | None = None):
        self.fixed, self.wanted, self.failure = fixed, wanted, failure

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


def scaled_sizes(wanted: Sequence[int], factors: Sequence[float] = (0.8, 1.25)) -> list[tuple[int, int]]:
    """``wanted`` scaled by each factor (at least 1 pixel): the sizes around it that random pads, crops and
    scalings reach."""
    return [(max(1, round(wanted[0] * f)), max(1, round(wanted[1] * f))) for f in factors]


def probe_input_size(model: nn.Module, channels: int, wanted: Sequence[int], *, device: torch.device,
                     dtype: torch.dtype, method: str, others: Sequence[Sequence[int]] | None = None) -> InputSize:
    """Probe ``model`` at ``wanted``, one pixel larger and at ``others`` - the other sizes the method's forward
    passes will have (default :func:`scaled_sizes`: 0.8 and 1.25 times ``wanted``); when one of them fails,
    every forward pass is resized to ``wanted``. When ``wanted`` itself fails, the declared size and
    :data:`COMMON_SIZES` are tried. Raises :class:`~nbsaliency.ModelError` naming the sizes tried when none
    works."""

    def probe(size: tuple[int, int]) -> Exception | None:
        return _accepts(model, torch.zeros(1, channels, *size, device=device, dtype=dtype))

    wanted = (int(wanted[0]), int(wanted[1]))
    failure = probe(wanted)
    if failure is None:
        around = [(wanted[0] + 1, wanted[1] + 1), *(scaled_sizes(wanted) if others is None else others)]
        sizes = [size for size in _unique(tuple((int(s[0]), int(s[1])) for s in around)) if size != wanted]
        return InputSize(None if all(probe(size) is None for size in sizes) else wanted, wanted)
    tried = [wanted]
    declared = declared_size(model)
    for size in _unique([declared] if declared else [], ((s, s) for s in COMMON_SIZES)):
        if size in tried:
            continue
        tried.append(size)
        if probe(size) is None:
            return InputSize(size, wanted, failure)
    sizes = ", ".join(f"{h}x{w}" for h, w in tried)
    raise ModelError(f"{method} needs the model to take images of some size, but it raised on every size tried "
                     f"({sizes}); at {wanted[0]}x{wanted[1]}: {type(failure).__name__}: {failure}")


def _unique(*groups: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    return list(dict.fromkeys(size for group in groups for size in group))


def failure_text(found: InputSize) -> str:
    """``"at HxW it raised Type: message"`` (one line) for the wanted size the model refused, else ``""``."""
    if found.failure is None:
        return ""
    h, w = found.wanted
    message = " ".join(str(found.failure).split())
    return f"at {h}x{w} it raised {type(found.failure).__name__}: {message}"


def size_option(size: tuple[int, int]) -> str:
    """``size=224`` or ``size=(h, w)``: how to ask for ``size``."""
    return f"size={size[0]}" if size[0] == size[1] else f"size=({size[0]}, {size[1]})"


def refuse_size(found: InputSize, method: str, hint: str) -> None:
    """:class:`~nbsaliency.InputError` for an explicitly requested size the model does not take: the model's
    own error at that size, and a size it does take; ``hint`` says what to do instead."""
    if not found.takes_wanted:
        (h, w), (fh, fw) = found.wanted, found.size
        why = f" ({failure_text(found)})" if found.failure is not None else ""
        raise InputError(f"the model does not take {h}x{w} images, which {method} was asked for{why}; a size "
                         f"it does take is {fh}x{fw}: {hint}")


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
