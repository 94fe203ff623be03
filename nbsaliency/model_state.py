"""Keeping the user's model exactly as it was.

Evaluation runs in eval mode (BatchNorm uses its running statistics, Dropout is off) and every module's own
``training`` flag is restored afterwards, also when the forward pass raised. Mixed modes (a frozen,
eval-mode backbone inside a training model) survive: flags are restored per module, not with
``model.train(mode)``.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

from .errors import ModelError


@contextmanager
def evaluation_mode(model: nn.Module) -> Iterator[None]:
    """Run the block with every module in eval mode; restore each module's flag afterwards."""
    flags = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        yield
    finally:
        for module, training in flags:
            module.training = training


def model_device_and_dtype(model: nn.Module) -> tuple[torch.device | None, torch.dtype | None]:
    """Device and floating dtype of the model's first parameter or buffer (None when it has neither)."""
    for tensor in (*model.parameters(), *model.buffers()):
        if tensor.is_floating_point():
            return tensor.device, tensor.dtype
    for tensor in (*model.parameters(), *model.buffers()):
        return tensor.device, None
    return None, None


def shadow_model(model: nn.Module) -> nn.Module:
    """A copy of ``model``'s modules that shares its parameters and buffers (the same tensor objects).

    Hooks and ``training`` flags set on the copy never reach the original, so a background job on the copy can
    run next to attribution passes on the original; weights updated in place show in both.
    """
    memo: dict[int, Any] = {id(t): t for t in itertools.chain(model.parameters(), model.buffers())}
    try:
        return copy.deepcopy(model, memo)
    except Exception as error:
        raise ModelError(
            f"this model cannot be copied to run in the background ({type(error).__name__}: {error})"
        ) from error
