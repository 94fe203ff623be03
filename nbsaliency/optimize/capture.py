"""Capturing only the layers an objective reads, with hooks attached once for a whole optimisation run.

:func:`nbsaliency.recording.record_forward` hooks every module and enters a ``TorchFunctionMode`` (for the
attribution rules); per optimisation step that costs several times the forward pass of a small model
(``benchmarks/optimize_step.py`` measures it). Optimisation needs plain gradients and a few layers, so
:class:`LayerCapture` hooks just those modules, for the duration of a ``with`` block: the hooks are registered
inside the guard that removes them on exit, also when a step raised, the run was cancelled or a registration
failed. During the first forward pass every module is surveyed once (shapes and module types only) so that the
captured layers' layouts (:mod:`nbsaliency.layouts`) are known to the objectives, as in a session.
TorchScript submodules cannot be hooked: a layer inside one is refused with an error that says so.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from torch import Tensor, nn

from ..errors import UnknownLayerError
from ..layouts import Layout, LayoutTable, module_evidence
from ..recording import CallNames, UnusableLayerError, hookable_modules, parse_overrides, tensor_parts


def _module_name(layer: str) -> str:
    """``"block1.relu#2"`` (a module's second call) -> ``"block1.relu"``; ``"block[0]"`` (a tuple part) ->
    ``"block"``."""
    return layer.split("#", 1)[0].split("[", 1)[0]


def check_layers(model: nn.Module, layers: Iterable[str]) -> None:
    """Raise :class:`UnknownLayerError` (with close matches) for a name that is not a module of ``model``, and
    for one that is (inside) a TorchScript submodule, which cannot be hooked."""
    names = [name for name, _ in model.named_modules() if name]
    known = set(names)
    _, scripted = hookable_modules(model)
    for layer in layers:
        module = _module_name(layer)
        if module not in known:
            raise UnknownLayerError(layer, names)
        opaque = next((s for s in scripted if module == s or module.startswith(s + ".")), None)
        if opaque is not None:
            raise UnusableLayerError(layer, f"layer {layer!r} is (inside) the TorchScript submodule {opaque!r}, which "
                                            "runs as compiled code that cannot be hooked; choose a layer after it")


class Captured(dict):
    """What one forward pass captured (layer name -> tensor), with the layouts surveyed on the first pass."""

    layouts: LayoutTable | None = None


@dataclass
class OptimisationView:
    """What an objective reads in one step: the model's output, the captured layers and the optimised image
    (before the robustness transforms, so image terms see what the user gets back)."""

    output: Any
    image: Tensor
    activations: dict[str, Tensor] = field(default_factory=dict)
    layouts: LayoutTable | None = None

    def __post_init__(self) -> None:
        if self.layouts is None:
            self.layouts = getattr(self.activations, "layouts", None)

    def activation(self, layer: str) -> Tensor:
        try:
            return self.activations[layer]
        except KeyError:
            raise UnknownLayerError(layer, self.activations, exists_but_unused=True) from None

    def layout(self, layer: str) -> Layout:
        """The layer's layout, as surveyed on the first pass (or from its shape alone when not surveyed)."""
        if self.layouts is not None and layer in self.layouts:
            return self.layouts[layer]
        return LayoutTable({layer: tuple(self.activation(layer).shape)}, {})[layer]


class LayerCapture:
    """Forward hooks on the modules behind ``layers``; ``take()`` returns and resets what one forward saw.

    Outputs are cloned when captured, so a later in-place operation of the model (``out += identity``, an
    in-place ReLU) cannot change a captured value; the clone's gradient flows back to the layer unchanged.
    """

    def __init__(self, model: nn.Module, layers: Iterable[str], layouts: Mapping[str, Layout | str] | None = None):
        self.layers = tuple(dict.fromkeys(layers))
        check_layers(model, self.layers)
        self._model = model
        self._modules = dict(model.named_modules())
        self._overrides = parse_overrides(layouts)
        self._captured = Captured()
        self._calls = CallNames()
        self._handles: list[Any] = []
        self._survey_handles: list[Any] = []
        self._survey_calls = CallNames()
        self._shapes: dict[str, tuple[int, ...]] = {}
        self._evidence: dict[str, str | None] = {}
        self.layouts: LayoutTable | None = None

    def _hook(self, name: str):
        def hook(module: nn.Module, args: Any, output: Any) -> None:
            for key, tensor in tensor_parts(self._calls.key(name), output):
                self._captured[key] = tensor.clone()

        return hook

    def _survey_hook(self, name: str):
        def hook(module: nn.Module, args: Any, output: Any) -> None:
            for key, tensor in tensor_parts(self._survey_calls.key(name), output):
                self._shapes[key] = tuple(tensor.shape)
                self._evidence[key] = module_evidence(module, tensor)

        return hook

    def __enter__(self) -> LayerCapture:
        try:
            for name in dict.fromkeys(_module_name(layer) for layer in self.layers):
                self._handles.append(self._modules[name].register_forward_hook(self._hook(name)))
            if self.layouts is None:
                for name, module in hookable_modules(self._model)[0]:
                    self._survey_handles.append(module.register_forward_hook(self._survey_hook(name)))
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        for handle in self._handles + self._survey_handles:
            handle.remove()
        self._handles.clear()
        self._survey_handles.clear()
        self.take()

    def take(self) -> Captured:
        """The activations captured since the last call (then forgotten), with their layouts."""
        if self.layouts is None and self._shapes:
            self.layouts = LayoutTable(self._shapes, self._evidence, self._overrides)
            for handle in self._survey_handles:
                handle.remove()
            self._survey_handles.clear()
        captured, self._captured = self._captured, Captured()
        captured.layouts = self.layouts
        self._calls.clear()
        return captured
