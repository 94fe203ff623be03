"""Forward passes with a lesion in place, in eval mode and without gradients, scored by a class target."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

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


Replicate = Literal["auto", "layer", "input"]


def lesioned_values(model: nn.Module, x: Tensor, layer: str, masks: Tensor, target: Target, classes: Tensor,
                    fill: Fill, channel_axis: int, batch_size: int, replicate: Replicate = "auto") -> Tensor:
    """``target`` on ``x`` ``(N, ...)`` with the units of ``masks[r]`` lesioned, for every row r: ``(R, N)``.

    R lesions run as R copies of the batch, ``max(1, batch_size // N)`` copies per forward pass (one pass per
    chunk of lesions, not one per lesion); ``classes`` pins "the predicted class" to the clean prediction.
    ``replicate="input"`` copies the images; ``"layer"`` copies the layer's output, so the layers before it run
    once per chunk instead of once per copy (the model must use that output only through later layers; with
    ``N = 1`` an earlier tensor joining it broadcasts and stays right); ``"auto"`` tries ``"layer"`` and falls
    back to ``"input"`` with a warning when the model cannot take copies made mid-way.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1; got {batch_size}")
    if replicate not in ("auto", "layer", "input"):
        raise ValueError(f'replicate must be "auto", "layer" or "input"; got {replicate!r}')
    n = x.shape[0]
    per_pass = max(1, batch_size // n)
    results = []
    for start in range(0, masks.shape[0], per_pass):
        chunk = masks[start:start + per_pass]
        copies = chunk.shape[0]
        scores = None
        if replicate != "input":
            try:
                scores = _replicated_at_layer(model, x, layer, chunk, fill, channel_axis)
            except (ModelError, _CopiesLost) as error:
                if replicate == "layer":
                    raise ModelError(f"the copies of {layer!r}'s output could not run through the rest of the "
                                     f"model ({error}); use replicate='input'") from error
                warnings.warn(f"lesion of {layer!r}: the model does not take copies made at this layer ({error}); "
                              "the images are copied at the input instead (slower: every copy runs the whole model)",
                              stacklevel=3)
                replicate = "input"
        if scores is None:
            hook = LesionHook(model, layer, _fixed(chunk), fill, channel_axis)
            scores = run(model, x.repeat(copies, *([1] * (x.dim() - 1))), hook)
        values = target.with_classes(classes.repeat(copies)).values(OutputView(scores))
        results.append(values.reshape(copies, n))
    return torch.cat(results) if results else x.new_zeros(0, n)


class _CopiesLost(Exception):
    """The model returned a batch that is not the copies' (it combined batches in a way copies cannot follow)."""


def _replicated_at_layer(model: nn.Module, x: Tensor, layer: str, chunk: Tensor, fill: Fill,
                         channel_axis: int) -> Tensor:
    hook = LesionHook(model, layer, _fixed(chunk), fill, channel_axis, replicate_output=True)
    scores = run(model, x, hook)
    expected = chunk.shape[0] * x.shape[0]
    if scores.shape[0] != expected:
        raise _CopiesLost(f"{expected} copies went in, a batch of {scores.shape[0]} came out")
    return scores


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
