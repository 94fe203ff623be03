"""Forward passes with a lesion in place, in eval mode and without gradients, scored by a class target."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..errors import ModelError, NbsaliencyError, TargetError
from ..model_state import evaluation_mode
from ..targets import Target, as_target, class_scores
from .hook import Fill, LesionHook, MaskFactory


@dataclass
class OutputView:
    """What a class target reads from a lesioned forward pass: the output only."""

    output: Tensor

    def activation(self, layer: str) -> Tensor:
        raise TargetError(f"lesion studies score class targets (Logit, Probability); this one reads layer {layer!r}")


def class_target(target: Target | int | None) -> Target:
    """``target`` as a class target (an int: its logit; None: each image's predicted class)."""
    target = as_target(target)
    if target.layers:
        raise TargetError(f"lesion studies score class targets (Logit, Probability and sums of them); {target!r} "
                          f"reads layers {list(target.layers)}")
    return target


def run(model: nn.Module, x: Tensor, hook: LesionHook) -> Tensor:
    """``model(x)``'s class scores ``(B, classes)`` with ``hook`` in place (eval mode, no gradients)."""
    with evaluation_mode(model), torch.no_grad(), hook:
        try:
            output = model(x)
        except NbsaliencyError:
            raise
        except Exception as error:
            raise ModelError(f"the model raised {type(error).__name__} on an input of shape {tuple(x.shape)} "
                             f"with a lesion in {hook.layer!r}: {error}") from error
    return class_scores(OutputView(output)).detach()


def probe(model: nn.Module, x: Tensor, layer: str, channel_axis: int = 1) -> tuple[Tensor, tuple[int, ...]]:
    """The clean class scores ``(N, classes)`` and ``layer``'s unit shape (its output without the batch)."""
    hook = LesionHook(model, layer, None, channel_axis=channel_axis)
    scores = run(model, x, hook)
    return scores, hook.ran()[1:]


def lesioned_values(model: nn.Module, x: Tensor, layer: str, masks: Tensor, target: Target, classes: Tensor,
                    fill: Fill, channel_axis: int, batch_size: int) -> Tensor:
    """``target`` on ``x`` ``(N, ...)`` with the units of ``masks[r]`` lesioned, for every row r: ``(R, N)``.

    R lesions run as copies of the batch, ``max(1, batch_size // N)`` copies per forward pass (one pass per
    chunk of lesions, not one per lesion); ``classes`` pins "the predicted class" to the clean prediction."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1; got {batch_size}")
    n = x.shape[0]
    per_pass = max(1, batch_size // n)
    results = []
    for start in range(0, masks.shape[0], per_pass):
        chunk = masks[start:start + per_pass]
        copies = chunk.shape[0]
        factory: MaskFactory = _fixed(chunk)
        scores = run(model, x.repeat(copies, *([1] * (x.dim() - 1))), LesionHook(model, layer, factory, fill,
                                                                                  channel_axis))
        values = target.with_classes(classes.repeat(copies)).values(OutputView(scores))
        results.append(values.reshape(copies, n))
    return torch.cat(results) if results else x.new_zeros(0, n)


def _fixed(mask: Tensor) -> MaskFactory:
    def factory(unit_shape: tuple[int, ...]) -> Tensor:
        return mask

    return factory


def as_list(channels: int | Sequence[int] | Tensor | None) -> list[int]:
    if channels is None:
        return []
    if isinstance(channels, int):
        return [channels]
    if isinstance(channels, Tensor):
        return [int(c) for c in channels.reshape(-1).tolist()]
    return [int(c) for c in channels]
