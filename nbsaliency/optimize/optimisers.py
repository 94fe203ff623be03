"""Step rules for the image parameters: Adam, plain SGD, and DeepDream's normalised gradient step."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch import Tensor

from ..errors import OptionError

OptimiserLike = str | Callable[[list[Tensor]], torch.optim.Optimizer]


class NormalisedGradient(torch.optim.Optimizer):
    """``x <- x - lr * g / mean(|g|)``, the mean taken per image (Mordvintsev et al. 2015's DeepDream step):
    every step moves the image by the same average amount, whatever the gradient's scale at that layer."""

    def __init__(self, params: Iterable[Tensor], lr: float = 0.01, eps: float = 1e-8):
        super().__init__(params, {"lr": lr, "eps": eps})

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> None:  # type: ignore[override]
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad
                scale = g.abs().reshape(g.shape[0], -1).mean(dim=1) if g.dim() > 1 else g.abs().mean()[None]
                shape = (-1,) + (1,) * (g.dim() - 1)
                p.sub_(group["lr"] * g / (scale.reshape(shape) + group["eps"]))


def make_optimiser(optimiser: OptimiserLike, parameters: list[Tensor], lr: float) -> torch.optim.Optimizer:
    """``"adam"``, ``"sgd"`` or ``"normalised"`` with learning rate ``lr``; or ``optimiser(parameters)`` for a
    factory such as ``lambda ps: torch.optim.SGD(ps, lr=1, momentum=0.9)``."""
    if callable(optimiser):
        return optimiser(parameters)
    if optimiser == "adam":
        return torch.optim.Adam(parameters, lr=lr)
    if optimiser == "sgd":
        return torch.optim.SGD(parameters, lr=lr)
    if optimiser == "normalised":
        return NormalisedGradient(parameters, lr=lr)
    raise OptionError(
        f'unknown optimiser {optimiser!r}; use "adam", "sgd", "normalised" or a function of the parameters'
    )
