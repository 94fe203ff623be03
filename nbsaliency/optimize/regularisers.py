"""Yosinski et al. (2015)'s regularisers: operations applied to the pixels after every optimiser step.

"Understanding Neural Networks Through Deep Visualization" (ICML DL workshop 2015) keeps activation-maximising
images natural-looking with four cheap image edits instead of loss terms:

* :class:`Decay` - L2 decay, ``x <- (1 - theta) x``: keeps a few extreme pixels from dominating;
* :class:`Blur` - a Gaussian blur every ``every`` steps: removes the high frequencies gradients produce;
* :class:`ClipSmallNorm` - pixels whose colour-vector norm is below a percentile are set to zero;
* :class:`ClipSmallContribution` - pixels whose contribution ``|sum_c x * grad|`` (a first-order estimate of
  how much the objective changes when the pixel is zeroed) is below a percentile are set to zero.

"Zero" is the neutral image (``pixels == 0``, the midpoint of the range). Loss-term regularisers (total
variation with exponent beta, the alpha-norm; Mahendran & Vedaldi 2015) live in :mod:`.objectives`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from .parameterisations import Parameterisation

# Table 1 of Yosinski et al. (2015): four hyperparameter combinations giving differently styled, recognisable
# images. decay: theta_decay; blur_width / blur_every: theta_b_width / theta_b_every; norm_pct / contribution_pct.
YOSINSKI_TABLE_1: dict[str, dict[str, float]] = {
    "a": {"decay": 0.0, "blur_width": 0.5, "blur_every": 4, "norm_pct": 50, "contribution_pct": 0},
    "b": {"decay": 0.3, "blur_width": 0.0, "blur_every": 0, "norm_pct": 20, "contribution_pct": 0},
    "c": {"decay": 0.0001, "blur_width": 1.0, "blur_every": 4, "norm_pct": 0, "contribution_pct": 0},
    "d": {"decay": 0.0, "blur_width": 0.5, "blur_every": 4, "norm_pct": 0, "contribution_pct": 90},
}


class Regulariser:
    """Base class: ``__call__(param, step, grads)`` edits ``param.pixels`` in place (under ``no_grad``).

    ``grads`` are this step's gradients of the loss (minus the objective) with respect to ``param.parameters``.
    """

    def __call__(self, param: Parameterisation, step: int, grads: list[Tensor]) -> None:
        raise NotImplementedError

    def check(self, param: Parameterisation) -> None:
        """Raise if ``param`` has no pixels to edit."""
        if param.pixels is None:
            raise ValueError(
                f"{self!r} edits pixels (Yosinski et al. 2015), but {param!r} has no pixel parameters; "
                "use the pixel parameterisation or image terms (L2, TotalVariation) in the objective"
            )


class Decay(Regulariser):
    """``x <- (1 - theta) x``."""

    def __init__(self, theta: float):
        self.theta = float(theta)

    def __call__(self, param: Parameterisation, step: int, grads: list[Tensor]) -> None:
        param.pixels.mul_(1.0 - self.theta)

    def __repr__(self) -> str:
        return f"Decay({self.theta})"


def gaussian_blur(image: Tensor, sigma: float) -> Tensor:
    """Separable Gaussian blur of an ``(N, C, H, W)`` batch with standard deviation ``sigma`` pixels
    (reflected borders)."""
    radius = max(1, math.ceil(3 * sigma))
    x = torch.arange(-radius, radius + 1, device=image.device, dtype=image.dtype)
    kernel = torch.exp(-0.5 * (x / sigma) ** 2)
    kernel = kernel / kernel.sum()
    c = image.shape[1]
    h, w = image.shape[-2:]
    pad_y, pad_x = min(radius, h - 1), min(radius, w - 1)
    out = F.pad(image, (pad_x, pad_x, pad_y, pad_y), mode="reflect") if min(pad_x, pad_y) > 0 else image
    k = kernel.shape[0]
    out = F.conv2d(out, kernel.reshape(1, 1, 1, k).expand(c, 1, 1, k), groups=c, padding=(0, radius - pad_x))
    return F.conv2d(out, kernel.reshape(1, 1, k, 1).expand(c, 1, k, 1), groups=c, padding=(radius - pad_y, 0))


class Blur(Regulariser):
    """A Gaussian blur of width ``sigma`` pixels after every ``every``-th step."""

    def __init__(self, sigma: float, every: int = 4):
        if sigma <= 0 or every < 1:
            raise ValueError(f"Blur needs sigma > 0 and every >= 1; got sigma={sigma}, every={every}")
        self.sigma, self.every = float(sigma), int(every)

    def __call__(self, param: Parameterisation, step: int, grads: list[Tensor]) -> None:
        if (step + 1) % self.every == 0:
            param.pixels.copy_(gaussian_blur(param.pixels, self.sigma))

    def __repr__(self) -> str:
        return f"Blur({self.sigma}, every={self.every})"


def _zero_below_percentile(pixels: Tensor, score: Tensor, percentile: float) -> None:
    """Zero the pixels (all channels) whose ``score`` ``(N, H, W)`` is below its per-image percentile."""
    threshold = torch.quantile(score.flatten(1).float(), percentile / 100, dim=1).to(score.dtype)
    pixels.mul_((score >= threshold[:, None, None]).unsqueeze(1).to(pixels.dtype))


class ClipSmallNorm(Regulariser):
    """Zero the pixels whose norm over colour channels is below the ``percentile``-th percentile."""

    def __init__(self, percentile: float):
        if not 0 < percentile < 100:
            raise ValueError(f"percentile must be in (0, 100); got {percentile}")
        self.percentile = float(percentile)

    def __call__(self, param: Parameterisation, step: int, grads: list[Tensor]) -> None:
        _zero_below_percentile(param.pixels, param.pixels.norm(dim=1), self.percentile)

    def __repr__(self) -> str:
        return f"ClipSmallNorm({self.percentile})"


class ClipSmallContribution(Regulariser):
    """Zero the pixels whose contribution ``|sum over channels of x * grad|`` is below the percentile."""

    def __init__(self, percentile: float):
        if not 0 < percentile < 100:
            raise ValueError(f"percentile must be in (0, 100); got {percentile}")
        self.percentile = float(percentile)

    def __call__(self, param: Parameterisation, step: int, grads: list[Tensor]) -> None:
        contribution = (param.pixels * grads[0]).sum(dim=1).abs()
        _zero_below_percentile(param.pixels, contribution, self.percentile)

    def __repr__(self) -> str:
        return f"ClipSmallContribution({self.percentile})"


def yosinski_regularisers(decay: float = 0.0, blur_width: float = 0.0, blur_every: int = 0, norm_pct: float = 0.0,
                          contribution_pct: float = 0.0) -> list[Regulariser]:
    """The regularisers for one setting of Yosinski et al.'s hyperparameters (zeros switch one off);
    e.g. ``yosinski_regularisers(**YOSINSKI_TABLE_1["c"])``."""
    regularisers: list[Regulariser] = []
    if decay:
        regularisers.append(Decay(decay))
    if blur_width and blur_every:
        regularisers.append(Blur(blur_width, int(blur_every)))
    if norm_pct:
        regularisers.append(ClipSmallNorm(norm_pct))
    if contribution_pct:
        regularisers.append(ClipSmallContribution(contribution_pct))
    return regularisers
