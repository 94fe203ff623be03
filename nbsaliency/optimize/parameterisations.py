"""Image parameterisations: trainable tensors mapped to an image batch in the model's input range.

* :class:`PixelImage` - one parameter per pixel (Simonyan et al. 2014; Yosinski et al. 2015). ``squash="clip"``
  is projected gradient ascent (the image is the parameter, clipped into range after each step);
  ``squash="sigmoid"`` maps through a sigmoid.
* :class:`FourierImage` - the image's spectrum, scaled by 1/f so that every frequency gets comparable steps
  (Olah, Mordvintsev & Schubert 2017, "Feature Visualization", Distill).
* Decorrelated colour (same article): parameters live in a colour space whose axes are uncorrelated over
  natural images; a fixed 3x3 matrix (the square root of the colour covariance) maps them to RGB.

A zero parameter is the neutral image: the midpoint of ``value_range``. Initialisation is deterministic in
``seed``; tensors are created on the model's device and dtype.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from ..errors import InputError, OptionError

Range = tuple[float | Sequence[float], float | Sequence[float]]

# Square root of ImageNet's colour covariance (from its SVD), as used by Lucid; columns normalised below.
IMAGENET_COLOUR_SQRT = ((0.26, 0.09, 0.02), (0.27, 0.00, -0.05), (0.27, -0.09, 0.03))


def colour_decorrelation(images: Tensor | None = None) -> Tensor:
    """The 3x3 matrix that maps decorrelated colour to RGB, scaled so its largest column has norm 1.

    From ``images`` (``(N, 3, H, W)``): the square root ``U sqrt(S)`` of their colour covariance; without
    images, ImageNet's (Lucid's constant).
    """
    if images is None:
        matrix = torch.tensor(IMAGENET_COLOUR_SQRT, dtype=torch.float64)
    else:
        if images.dim() != 4 or images.shape[1] != 3:
            raise InputError(f"colour statistics need (N, 3, H, W) images; got shape {tuple(images.shape)}")
        pixels = images.detach().double().permute(1, 0, 2, 3).reshape(3, -1)
        covariance = torch.cov(pixels)
        eigenvalues, eigenvectors = torch.linalg.eigh(covariance)
        matrix = eigenvectors * eigenvalues.clamp_min(0).sqrt()
    return (matrix / matrix.norm(dim=0).max()).float()


def _as_range(value_range: Range, channels: int, device: torch.device, dtype: torch.dtype) -> tuple[Tensor, Tensor]:
    low, high = (torch.as_tensor(v, device=device, dtype=dtype).reshape(-1) for v in value_range)
    for bound in (low, high):
        if bound.numel() not in (1, channels):
            raise InputError(f"value_range bounds must be numbers or one per channel ({channels}); got {value_range}")
    low, high = low.reshape(1, -1, 1, 1), high.reshape(1, -1, 1, 1)
    if not bool((high > low).all()):
        raise InputError(f"value_range must be (low, high) with high > low; got {value_range}")
    return low, high


def _check_shape(shape: Sequence[int]) -> tuple[int, int, int, int]:
    if len(shape) != 4 or any(int(s) <= 0 for s in shape):
        raise InputError(f"an image batch shape is (N, C, H, W) with positive sizes; got {tuple(shape)}")
    n, c, h, w = (int(s) for s in shape)
    return n, c, h, w


class Parameterisation:
    """Base class: ``parameters`` (leaf tensors) and ``__call__() -> (N, C, H, W)`` image in range.

    ``pixels`` is the spatial parameter tensor where zero means the neutral image (what Yosinski et al.'s
    regularisers edit), or None for parameterisations that are not pixels; ``project()`` runs after each step.
    """

    parameters: list[Tensor]
    shape: tuple[int, int, int, int]

    def __init__(self, shape: Sequence[int], value_range: Range, decorrelate: bool | Tensor,
                 device: torch.device | str | None, dtype: torch.dtype | None):
        self.shape = _check_shape(shape)
        self.device, self.dtype = torch.device(device or "cpu"), dtype or torch.float32
        self.value_range = value_range
        self.low, self.high = _as_range(value_range, self.shape[1], self.device, self.dtype)
        self.span = self.high - self.low
        self.mix: Tensor | None = None
        if decorrelate is not False:
            if self.shape[1] != 3:
                raise InputError(f"decorrelated colour needs 3 channels; the image has {self.shape[1]}")
            matrix = colour_decorrelation() if decorrelate is True else decorrelate
            self.mix = matrix.to(self.device, self.dtype)

    @property
    def pixels(self) -> Tensor | None:
        return None

    def __call__(self) -> Tensor:
        raise NotImplementedError

    def project(self) -> None:
        """Keep the parameters valid after an optimiser step (nothing by default)."""

    def _to_rgb(self, t: Tensor) -> Tensor:
        return t if self.mix is None else torch.einsum("ck,nkhw->nchw", self.mix, t)

    def _from_rgb(self, t: Tensor) -> Tensor:
        return t if self.mix is None else torch.einsum("ck,nkhw->nchw", torch.linalg.inv(self.mix), t)

    def _sigmoid(self, t: Tensor) -> Tensor:
        return torch.addcmul(self.low, torch.sigmoid(t), self.span)

    def _generator(self, seed: int) -> torch.Generator:
        return torch.Generator().manual_seed(int(seed))


class PixelImage(Parameterisation):
    """One parameter per pixel and channel. ``init``: an image to start from (DeepDream, or a warm start);
    otherwise the neutral image plus Gaussian noise of standard deviation ``sd`` (in units of half the range)."""

    def __init__(self, shape: Sequence[int], *, value_range: Range = (0.0, 1.0), squash: str = "clip",
                 init: Tensor | None = None, sd: float = 0.0, decorrelate: bool | Tensor = False, seed: int = 0,
                 device: torch.device | str | None = None, dtype: torch.dtype | None = None):
        super().__init__(shape, value_range, decorrelate, device, dtype)
        if squash not in ("clip", "sigmoid"):
            raise ValueError(f'squash must be "clip" (projected steps) or "sigmoid"; got {squash!r}')
        self.squash = squash
        if init is not None:
            if tuple(init.shape) != self.shape:
                raise InputError(f"init has shape {tuple(init.shape)}; expected {self.shape}")
            unit = (init.detach().to(self.device, self.dtype) - self.low) / self.span
            unit = unit.clamp(1e-4, 1 - 1e-4) if squash == "sigmoid" else unit.clamp(0, 1)
            start = torch.logit(unit) if squash == "sigmoid" else 2 * unit - 1
            start = self._from_rgb(start)
        elif sd:
            start = sd * torch.randn(self.shape, generator=self._generator(seed), dtype=torch.float64)
        else:
            start = torch.zeros(self.shape)
        self.parameters = [start.to(self.device, self.dtype).contiguous().requires_grad_(True)]
        self._half, self._centre = self.span / 2, self.low + self.span / 2

    @property
    def pixels(self) -> Tensor:
        return self.parameters[0]

    def __call__(self) -> Tensor:
        t = self._to_rgb(self.parameters[0])
        return self._sigmoid(t) if self.squash == "sigmoid" else torch.addcmul(self._centre, t, self._half)

    def project(self) -> None:
        if self.squash == "clip":
            with torch.no_grad():
                p = self.parameters[0]
                if self.mix is None:
                    p.clamp_(-1, 1)
                else:
                    p.copy_(self._from_rgb(self._to_rgb(p).clamp(-1, 1)))

    def __repr__(self) -> str:
        return f"PixelImage({self.shape}, squash={self.squash!r}, decorrelate={self.mix is not None})"


def _frequencies(h: int, w: int, device: torch.device, dtype: torch.dtype) -> Tensor:
    fy = torch.fft.fftfreq(h, device=device, dtype=dtype)[:, None]
    fx = torch.fft.rfftfreq(w, device=device, dtype=dtype)[None, :]
    return (fx * fx + fy * fy).sqrt()


class FourierImage(Parameterisation):
    """The image's real FFT spectrum, scaled by ``1 / f^decay_power`` (Olah et al. 2017): a step changes low
    frequencies as much as high ones, which avoids the high-frequency noise that pixel steps produce.
    Mapped to range by a sigmoid, in decorrelated colour by default."""

    def __init__(self, shape: Sequence[int], *, value_range: Range = (0.0, 1.0), decay_power: float = 1.0,
                 sd: float = 0.01, decorrelate: bool | Tensor = True, seed: int = 0,
                 device: torch.device | str | None = None, dtype: torch.dtype | None = None):
        super().__init__(shape, value_range, decorrelate, device, dtype)
        n, c, h, w = self.shape
        frequencies = _frequencies(h, w, self.device, self.dtype)
        self.scale = 1.0 / frequencies.clamp_min(1.0 / max(h, w)).pow(decay_power) * math.sqrt(h * w)
        self.decay_power = decay_power
        spectrum = sd * torch.randn((n, c, *frequencies.shape, 2), generator=self._generator(seed),
                                    dtype=torch.float64)
        self.parameters = [spectrum.to(self.device, self.dtype).requires_grad_(True)]

    def __call__(self) -> Tensor:
        h, w = self.shape[2:]
        spectrum = torch.view_as_complex(self.parameters[0]) * self.scale
        image = torch.fft.irfft2(spectrum, s=(h, w)) / 4.0  # Lucid's constant: keeps the start near grey
        return self._sigmoid(self._to_rgb(image))

    def __repr__(self) -> str:
        return f"FourierImage({self.shape}, decay_power={self.decay_power}, decorrelate={self.mix is not None})"


def make_parameterisation(kind: str | Parameterisation, shape: Sequence[int], **options: object) -> Parameterisation:
    """``"pixels"``, ``"fourier"`` (or an existing :class:`Parameterisation`, returned as is)."""
    if isinstance(kind, Parameterisation):
        if kind.shape != _check_shape(shape):
            raise InputError(f"the parameterisation makes images of shape {kind.shape}; expected {tuple(shape)}")
        return kind
    kinds = {"pixels": PixelImage, "fourier": FourierImage}
    if not isinstance(kind, str) or kind not in kinds:
        raise OptionError(f"unknown parameterisation {kind!r} (param); use one of {', '.join(map(repr, kinds))} or "
                          "a Parameterisation")
    return kinds[kind](shape, **options)  # type: ignore[arg-type]
