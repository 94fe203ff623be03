"""Random, differentiable image transforms applied before every forward pass ("transformation robustness").

An image that excites a unit only at one exact position, scale and angle is mostly high-frequency noise;
asking it to work under small random shifts, scalings and rotations gives clearer pictures (Mordvintsev et
al. 2015 jitter the image; Olah et al. 2017's Lucid uses :func:`standard_transforms`). Each transform is a small
object called as ``t(image, generator)``; the generator (a CPU ``torch.Generator``) makes runs reproducible.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from .per_channel import per_channel, values


def _pick(options: Sequence[float], generator: torch.Generator) -> float:
    return float(options[int(torch.randint(len(options), (1,), generator=generator))])


def _offset(low: int, high: int, generator: torch.Generator) -> int:
    return int(torch.randint(low, high + 1, (1,), generator=generator))


class Transform:
    """Base class: ``__call__(image (N, C, H, W), generator) -> image``."""

    def __call__(self, image: Tensor, generator: torch.Generator) -> Tensor:
        raise NotImplementedError


class Compose(Transform):
    """Apply ``transforms`` in order."""

    def __init__(self, transforms: Sequence[Transform]):
        self.transforms = tuple(transforms)

    def __call__(self, image: Tensor, generator: torch.Generator) -> Tensor:
        for transform in self.transforms:
            image = transform(image, generator)
        return image

    def __repr__(self) -> str:
        return f"Compose({list(self.transforms)!r})"


class Pad(Transform):
    """Pad by ``width`` pixels with ``value`` (``mode="constant"``; one number or one per channel, e.g. a
    normalised model's grey) or by reflection: lets the later jitter and rotation move content in from outside
    the image."""

    def __init__(self, width: int, value: float | Sequence[float] = 0.5, mode: str = "constant"):
        self.width, self.value, self.mode = int(width), values(value), mode

    def __call__(self, image: Tensor, generator: torch.Generator) -> Tensor:
        pad = (self.width,) * 4
        if self.mode != "constant":
            return F.pad(image, pad, mode=self.mode)
        if isinstance(self.value, float):
            return F.pad(image, pad, value=self.value)
        fill = per_channel(self.value, image, "Pad's value")
        return F.pad(image - fill, pad) + fill

    def __repr__(self) -> str:
        return f"Pad({self.width}, value={self.value}, mode={self.mode!r})"


class Jitter(Transform):
    """Crop a random window ``d`` pixels smaller in each direction (Lucid's ``jitter``)."""

    def __init__(self, d: int):
        self.d = int(d)

    def __call__(self, image: Tensor, generator: torch.Generator) -> Tensor:
        h, w = image.shape[-2:]
        dy, dx = _offset(0, self.d, generator), _offset(0, self.d, generator)
        return image[..., dy:dy + h - self.d, dx:dx + w - self.d]

    def __repr__(self) -> str:
        return f"Jitter({self.d})"


class Roll(Transform):
    """Shift circularly by up to ``shift`` pixels each way: DeepDream's jitter (Mordvintsev et al. 2015);
    the size is kept and no content is lost."""

    def __init__(self, shift: int):
        self.shift = int(shift)

    def __call__(self, image: Tensor, generator: torch.Generator) -> Tensor:
        dy, dx = _offset(-self.shift, self.shift, generator), _offset(-self.shift, self.shift, generator)
        return torch.roll(image, shifts=(dy, dx), dims=(-2, -1))

    def __repr__(self) -> str:
        return f"Roll({self.shift})"


class RandomScale(Transform):
    """Resize by a factor drawn from ``scales`` (bilinear)."""

    def __init__(self, scales: Sequence[float]):
        self.scales = tuple(float(s) for s in scales)

    def __call__(self, image: Tensor, generator: torch.Generator) -> Tensor:
        scale = _pick(self.scales, generator)
        if scale == 1.0:
            return image
        h, w = image.shape[-2:]
        size = (max(1, round(h * scale)), max(1, round(w * scale)))
        return F.interpolate(image, size=size, mode="bilinear", align_corners=False)

    def __repr__(self) -> str:
        return f"RandomScale({list(self.scales)})"


class RandomRotate(Transform):
    """Rotate by an angle (degrees) drawn from ``angles``, about the centre; corners take the border pixels."""

    def __init__(self, angles: Sequence[float]):
        self.angles = tuple(float(a) for a in angles)

    def __call__(self, image: Tensor, generator: torch.Generator) -> Tensor:
        angle = math.radians(_pick(self.angles, generator))
        if angle == 0.0:
            return image
        cos, sin = math.cos(angle), math.sin(angle)
        theta = torch.tensor([[cos, -sin, 0.0], [sin, cos, 0.0]], device=image.device, dtype=image.dtype)
        grid = F.affine_grid(theta.expand(image.shape[0], 2, 3), list(image.shape), align_corners=False)
        return F.grid_sample(image, grid, mode="bilinear", padding_mode="border", align_corners=False)

    def __repr__(self) -> str:
        return f"RandomRotate({list(self.angles)})"


def standard_transforms(size: int = 128, fill: float | Sequence[float] = 0.5) -> Compose:
    """Lucid's standard set (Olah et al. 2017): pad 12 (with ``fill``: one number or one per channel), jitter 8,
    scale 0.9-1.1, rotate -10..10 degrees, jitter 4 - with the pixel amounts scaled to an image of ``size``
    pixels (Lucid's are for 128)."""
    k = size / 128

    def px(n: int) -> int:
        return max(1, round(n * k))

    return Compose([
        Pad(px(12), value=fill),
        Jitter(px(8)),
        RandomScale([1 + (i - 5) / 50 for i in range(11)]),
        RandomRotate(list(range(-10, 11)) + 5 * [0]),
        Jitter(px(4)),
    ])
