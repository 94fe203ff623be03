"""The bare forward pass: the model called as it is, for targets that read only its output.

Perturbation methods run hundreds of forward passes; when the target is a class score and no backward rule
needs rerouting, nothing has to be recorded: no hooks, no captured layers (each capture would keep a layer's
activation alive for the whole chunk), no ``TorchFunctionMode``.
"""

from __future__ import annotations

from torch import Tensor, nn

from .recording import Recording, call_model


def bare_forward(model: nn.Module, x: Tensor) -> Recording:
    """``model(x)`` as a :class:`~nbsaliency.recording.Recording` with the output only (no layers captured).

    The caller chooses the grad mode and the model's train/eval mode. A failing model raises
    :class:`~nbsaliency.errors.ModelError`.
    """
    return Recording(output=call_model(model, x), module_names=frozenset(name for name, _ in model.named_modules()))
