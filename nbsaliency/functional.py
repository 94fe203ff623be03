"""One-shot conveniences over :class:`nbsaliency.Session`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from .model_state import evaluation_mode
from .recording import record_forward
from .session import Layer, Session, TargetLike
from .validation import as_image_batch


def attribute(model: nn.Module, x: Tensor, target: TargetLike | Sequence[TargetLike] = None,
              method: str = "gradient", *, strict: bool = False, **options: Any) -> Tensor:
    """Attribution of ``target`` (default: each image's predicted class) by ``method``, shaped like ``x``.

    For several calls on the same input, a :class:`Session` keeps the forward pass and is much faster.
    Methods that make their own forward passes (SmoothGrad, integrated gradients, occlusion) skip the kept one
    when nothing needs it.
    """
    from .methods import method_info

    lazy = isinstance(method, str) and not method_info(method).reuses_forward
    return Session(model, x, strict=strict, lazy=lazy).attribute(target, method, **options)


def layers(model: nn.Module, x: Tensor) -> list[Layer]:
    """Every module of ``model`` that produces a tensor for input ``x``, with its output shape, in
    forward order (one forward pass without gradients)."""
    batch, _ = as_image_batch(model, x)
    with evaluation_mode(model), torch.no_grad():
        recording = record_forward(model, batch, None)
    return [Layer(*layer) for layer in recording.layers]
