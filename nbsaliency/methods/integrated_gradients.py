"""Integrated gradients: the path integral of the gradient from a baseline to the input."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from ..errors import OptionError
from ..rules.backward_rules import GRADIENT
from ..targets import Target
from . import options
from .perturbed import Run, perturbed_mean_gradients
from .registry import register

_NAME = "integrated_gradients"

if TYPE_CHECKING:  # methods receive a Session; only session.py builds one (no import cycle)
    from ..session import Session



def as_baseline(baseline: Any, x: Tensor) -> Tensor:
    """The baseline broadcast to ``x`` ``(N, C, H, W)``: None (zeros), a number, or a tensor / array of shape
    ``(C, 1, 1)`` (per channel), ``(C, H, W)`` (one image for all) or ``(N, C, H, W)``, finite."""
    if baseline is None:
        return torch.zeros_like(x)
    n, c, h, w = x.shape
    valid = (f"None (zeros), a number, or a tensor of shape (), ({c}, 1, 1), ({c}, {h}, {w}) or ({n}, {c}, {h}, {w}) "
             "(anything that broadcasts to one image or the batch)")
    try:
        base = torch.as_tensor(baseline)
    except (TypeError, ValueError, RuntimeError):
        raise OptionError(f"{_NAME}'s baseline must be {valid}; got {type(baseline).__name__}") from None
    if base.dtype == torch.bool or base.is_complex():
        raise OptionError(f"{_NAME}'s baseline must be real numbers; got dtype {base.dtype}")
    if base.dim() > 4:
        raise OptionError(f"{_NAME}'s baseline must be {valid}; got shape {tuple(base.shape)}")
    try:
        torch.broadcast_shapes(base.shape, x.shape[1:] if base.dim() <= 3 else x.shape)
        base = base.to(device=x.device, dtype=x.dtype).expand_as(x)
    except RuntimeError:
        raise OptionError(f"{_NAME}'s baseline must be {valid}; got shape {tuple(base.shape)}") from None
    if not torch.isfinite(base).all():
        raise OptionError(f"{_NAME}'s baseline must be finite; it contains NaN or Inf")
    return base


@register(_NAME, label="Integrated gradients", reuses_forward=False,
          citation="Sundararajan, Taly & Yan 2017, Axiomatic Attribution for Deep Networks")
def integrated_gradients(session: Session, targets: Sequence[Target], steps: int = 32,
                         baseline: float | Tensor | None = None, batch_size: int | None = None,
                         progress: Callable[[int, int], Any] | None = None, cancel: Any = None) -> Tensor:
    """``(x - baseline) * mean of the gradient at baseline + alpha (x - baseline)``, alpha at the midpoints
    of ``steps`` (>= 1) equal intervals. The maps sum to about ``target(x) - target(baseline)`` (completeness).

    ``baseline``: None (black, zeros), a number, or a tensor broadcastable as :func:`as_baseline` says.
    ``batch_size``, ``progress`` and ``cancel`` as for SmoothGrad (:mod:`nbsaliency.methods.perturbed`).
    """
    steps = options.integer(_NAME, "steps", steps)
    run = Run(_NAME, batch_size, progress, cancel)
    x = session.x.detach()
    base = as_baseline(baseline, x)
    alphas = (torch.arange(steps, dtype=x.dtype, device=x.device) + 0.5) / steps
    path = base + alphas.view(-1, 1, 1, 1, 1) * (x - base)
    return (x - base) * perturbed_mean_gradients(session, targets, path, GRADIENT, run)
