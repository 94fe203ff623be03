"""SmoothGrad: average a gradient-family map over noisy copies of the input."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from ..targets import Target
from .perturbed import perturbed_gradients
from .registry import method_info, register, single_pass_methods

if TYPE_CHECKING:  # methods receive a Session; only session.py builds one (no import cycle)
    from ..session import Session


@register("smoothgrad", label="SmoothGrad", reuses_forward=False,
          citation="Smilkov et al. 2017, SmoothGrad: removing noise by adding noise")
def smoothgrad(session: Session, targets: Sequence[Target], n_samples: int = 25, noise_level: float = 0.15,
               base: str = "gradient", seed: int = 0, batch_size: int = 32) -> Tensor:
    """Mean of ``base`` over ``n_samples`` copies with Gaussian noise of standard deviation
    ``noise_level * (max - min)`` of each image (Smilkov et al. recommend 10-20 %).

    ``base`` is any gradient-family method: gradient, deconvnet, guided or input_x_gradient.
    """
    bases = single_pass_methods()
    if base not in bases:
        raise ValueError(f"smoothgrad's base must be one of {', '.join(bases)}; got {base!r}")
    info = method_info(base)
    if n_samples < 1:
        raise ValueError(f"n_samples must be at least 1; got {n_samples}")
    x = session.x.detach()
    spread = (x.flatten(1).amax(dim=1) - x.flatten(1).amin(dim=1)).view(-1, 1, 1, 1)
    generator = torch.Generator().manual_seed(seed)
    noise = torch.randn((n_samples, *x.shape), generator=generator, dtype=x.dtype).to(x.device)
    copies = x + noise * (noise_level * spread)
    grads = perturbed_gradients(session, targets, copies, info.backward_rule, batch_size)
    if info.times_input:
        grads = grads * copies
    return grads.mean(dim=1)
