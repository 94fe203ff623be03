"""Capturing only the layers an objective reads, with hooks attached once for a whole optimisation run.

:func:`nbsaliency.recording.record_forward` hooks every module and enters a ``TorchFunctionMode`` (for the
attribution rules); per optimisation step that costs several times the forward pass of a small model
(``benchmarks/optimize_step.py`` measures it). Optimisation needs plain gradients and a few layers, so
:class:`LayerCapture` hooks just those modules, for the duration of a ``with`` block: the hooks are removed on
exit, also when a step raised or the run was cancelled.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from torch import Tensor, nn

from ..errors import UnknownLayerError
from ..recording import CallNames


def _module_name(layer: str) -> str:
    """``"block1.relu#2"`` (a module's second call) -> ``"block1.relu"``."""
    return layer.split("#", 1)[0]


def check_layers(model: nn.Module, layers: Iterable[str]) -> None:
    """Raise :class:`UnknownLayerError` (with close matches) for a name that is not a module of ``model``."""
    names = [name for name, _ in model.named_modules() if name]
    known = set(names)
    for layer in layers:
        if _module_name(layer) not in known:
            raise UnknownLayerError(layer, names)


@dataclass
class OptimisationView:
    """What an objective reads in one step: the model's output, the captured layers and the optimised image
    (before the robustness transforms, so image terms see what the user gets back)."""

    output: Any
    image: Tensor
    activations: dict[str, Tensor] = field(default_factory=dict)

    def activation(self, layer: str) -> Tensor:
        try:
            return self.activations[layer]
        except KeyError:
            raise UnknownLayerError(layer, self.activations, exists_but_unused=True) from None


class LayerCapture:
    """Forward hooks on the modules behind ``layers``; ``take()`` returns and resets what one forward saw.

    Outputs are cloned when captured, so a later in-place operation of the model (``out += identity``, an
    in-place ReLU) cannot change a captured value; the clone's gradient flows back to the layer unchanged.
    """

    def __init__(self, model: nn.Module, layers: Iterable[str]):
        self.layers = tuple(dict.fromkeys(layers))
        check_layers(model, self.layers)
        self._modules = dict(model.named_modules())
        self._captured: dict[str, Tensor] = {}
        self._calls = CallNames()
        self._handles: list[Any] = []

    def _hook(self, name: str):
        def hook(module: nn.Module, args: Any, output: Any) -> None:
            if isinstance(output, Tensor):
                self._captured[self._calls.key(name)] = output.clone()

        return hook

    def __enter__(self) -> LayerCapture:
        for name in dict.fromkeys(_module_name(layer) for layer in self.layers):
            self._handles.append(self._modules[name].register_forward_hook(self._hook(name)))
        return self

    def __exit__(self, *exc: object) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        self.take()

    def take(self) -> dict[str, Tensor]:
        """The activations captured since the last call (then forgotten)."""
        captured, self._captured = self._captured, {}
        self._calls.clear()
        return captured
