"""Integrated gradients: the path integral of the gradient from a baseline to the input."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from ..rules.backward_rules import GRADIENT
from ..targets import Target
from .perturbed import perturbed_gradients
from .registry import register

if TYPE_CHECKING:  # methods receive a Session; only session.py builds one (no import cycle)
    from ..session import Session


@register("integrated_gradients", label="Integrated gradients", reuses_forward=False,
          citation="Sundararajan, Taly & Yan 2017, Axiomatic Attribution for Deep Networks")
def integrated_gradients(session: Session, targets: Sequence[Target], steps: int = 32,
                         baseline: float | Tensor = 0.0, batch_size: int = 32) -> Tensor:
    """``(x - baseline) * mean of the gradient at baseline + alpha (x - baseline)``, alpha at the midpoints
    of ``steps`` equal intervals. The maps sum to about ``target(x) - target(baseline)`` (completeness).
    """
    if steps < 1:
        raise ValueError(f"steps must be at least 1; got {steps}")
    x = session.x.detach()
    base = torch.as_tensor(baseline, dtype=x.dtype, device=x.device).expand_as(x)
    alphas = (torch.arange(steps, dtype=x.dtype, device=x.device) + 0.5) / steps
    path = base + alphas.view(-1, 1, 1, 1, 1) * (x - base)
    grads = perturbed_gradients(session, targets, path, GRADIENT, batch_size)
    return (x - base) * grads.mean(dim=1)
