"""SmoothGrad: average a gradient-family map over noisy copies of the input."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from ..targets import Target
from . import options
from .perturbed import Run, perturbed_mean_gradients
from .registry import method_info, register, single_pass_methods

_NAME = "smoothgrad"

if TYPE_CHECKING:  # methods receive a Session; only session.py builds one (no import cycle)
    from ..session import Session



@register(_NAME, label="SmoothGrad", reuses_forward=False,
          citation="Smilkov et al. 2017, SmoothGrad: removing noise by adding noise")
def smoothgrad(session: Session, targets: Sequence[Target], n_samples: int = 25, noise_level: float = 0.15,
               base: str = "gradient", seed: int = 0, batch_size: int | None = None,
               progress: Callable[[int, int], Any] | None = None, cancel: Any = None) -> Tensor:
    """Mean of ``base`` over ``n_samples`` (>= 1) copies with Gaussian noise of standard deviation
    ``noise_level * (max - min)`` of each image (``noise_level`` >= 0, 0 gives the base map; Smilkov et al.
    recommend 0.1-0.2).

    ``base`` is any gradient-family method: gradient, deconvnet, guided or input_x_gradient. ``seed`` (0 to
    2**63 - 1) fixes the noise; each image draws its noise from its own generator seeded with ``seed``, so an
    image's map does not depend on the rest of the batch or its position in it.
    ``batch_size``: images per forward pass (default: as many as a memory budget
    holds, see :mod:`nbsaliency.methods.perturbed`); ``progress(done, total)`` is called after each chunk of
    noisy copies; a set ``cancel`` event (``threading.Event``) stops with :class:`~nbsaliency.errors.Cancelled`.
    """
    base = options.choice(_NAME, "base", base, single_pass_methods())
    n_samples = options.integer(_NAME, "n_samples", n_samples)
    noise_level = options.number(_NAME, "noise_level", noise_level, minimum=0.0)
    seed = options.integer(_NAME, "seed", seed, minimum=0, maximum=2**63 - 1)
    run = Run(_NAME, batch_size, progress, cancel)
    info = method_info(base)
    x = session.x.detach()
    spread = (x.flatten(1).amax(dim=1) - x.flatten(1).amin(dim=1)).view(-1, 1, 1, 1)
    noise = torch.stack([_image_noise(n_samples, x.shape[1:], seed, x.dtype) for _ in range(x.shape[0])], dim=1)
    noise = noise.to(x.device)
    copies = x + noise * (noise_level * spread)
    return perturbed_mean_gradients(session, targets, copies, info.backward_rule, run, times_input=info.times_input)


def _image_noise(n_samples: int, shape: torch.Size, seed: int, dtype: torch.dtype) -> torch.Tensor:
    """``(n_samples, *shape)`` standard normal noise for one image, from a generator seeded with ``seed``."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randn((n_samples, *shape), generator=generator, dtype=dtype)
