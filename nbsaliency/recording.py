"""One recorded forward pass: the model's output, every layer's activation and the activations' report.

During the pass a ``TorchFunctionMode`` (active only inside :func:`record_forward`) does two things:

* reroutes every activation call (see :mod:`nbsaliency.rules.activations`) into an autograd function
  whose backward reads the session's selected rule at backward time;
* protects captured activations from later in-place edits (ResNet's ``out += identity`` and in-place
  ReLUs modify tensors that were already some layer's output): just before a call mutates a tensor that
  shares storage with a capture, the capture is replaced by a clone whose autograd history still points
  at the layer that produced it.

Forward hooks (registered inside the guard that removes them, so none is left after an error) name each
module's output. A module that runs more than once (one ``nn.ReLU`` reused in a block) gives ``name``,
``name#2``, ``name#3``, ... A module that returns a tuple, list or dict of tensors gives one layer per tensor
part: ``name[0]``, ``name[1]`` (``name["key"]`` for a dict; nested containers nest, ``name[0][1]``); parts that
are not tensors (``None``) are left out. TorchScript submodules cannot be hooked and run as compiled code: they
are *opaque* (no layer inside them, no backward rule for their activations) and reported in
:attr:`Recording.opaque_modules`.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn
from torch.overrides import TorchFunctionMode

from .errors import ModelError, NbsaliencyError, UnknownLayerError
from .layouts import Layout, LayoutTable, module_evidence
from .rules.activations import ActivationCall, Treatment, classify
from .rules.backward_rules import RuleSelector
from .rules.functions import RuleActivation, RuleActivationInplace, RuleReLU, RuleReLUInplace

_INPLACE_DUNDERS = frozenset(
    f"__i{op}__" for op in ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "and", "or", "xor",
                             "lshift", "rshift", "matmul")
) | {"__setitem__"}


class UnusableLayerError(UnknownLayerError):
    """A name that has no activation of its own: a module returning a tuple (its parts are the layers) or a
    TorchScript submodule (opaque)."""

    def __init__(self, name: str, message: str):
        self.name = name
        self.close_matches = []
        Exception.__init__(self, message)


@dataclass(frozen=True)
class ActivationUse:
    """Which rule an activation got: ``layer`` is the innermost module that called it."""

    layer: str
    function: str
    treatment: Treatment | str  # also "opaque (TorchScript)" for a scripted submodule (no rule inside it)


@dataclass
class Recording:
    """What one forward pass leaves behind."""

    output: Any
    module_names: frozenset[str]
    activations: dict[str, Tensor] = field(default_factory=dict)
    layer_types: dict[str, str] = field(default_factory=dict)
    activation_uses: list[ActivationUse] = field(default_factory=list)
    copied_on_write: set[str] = field(default_factory=set)
    layout_evidence: dict[str, str | None] = field(default_factory=dict)
    layout_overrides: dict[str, Layout] = field(default_factory=dict)
    containers: dict[str, list[str]] = field(default_factory=dict)  # a module returning a tuple -> its parts
    opaque_modules: list[str] = field(default_factory=list)  # TorchScript submodules, outermost only
    other_outputs: dict[str, str] = field(default_factory=dict)  # modules that returned no tensor: type name
    shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)  # every layer's, also those not kept
    _layouts: LayoutTable | None = field(default=None, repr=False)

    @property
    def layers(self) -> list[tuple[str, tuple[int, ...]]]:
        """Captured layers and their output shapes, in forward order (the order their outputs were produced)."""
        return [(name, tuple(a.shape)) for name, a in self.activations.items()]

    def activation(self, layer: str) -> Tensor:
        """The captured activation (still attached to the graph), or a clear error for a wrong name."""
        try:
            return self.activations[layer]
        except KeyError:
            raise self.unknown_layer(layer) from None

    def unknown_layer(self, layer: str) -> NbsaliencyError:
        """The error for a name that has no activation: unknown, a container whose tensor parts are layers,
        a TorchScript submodule or a module that did not run."""
        container = layer if layer in self.containers else layer.rsplit("[", 1)[0] if layer.endswith("]") else None
        if container in self.containers:
            parts = self.containers[container]
            listed = ", ".join(repr(p) for p in parts) if parts else "none (no tensor in it)"
            what = "not one tensor" if container == layer else f"and its part {layer[len(container):]} is not a tensor"
            return UnusableLayerError(layer, (
                f"layer {container!r} returns a tuple / list / dict, {what}; its tensor parts are layers: {listed}"))
        if layer in self.other_outputs:
            return UnusableLayerError(layer, (
                f"layer {layer!r} ran but returned {self.other_outputs[layer]}, not a tensor (nor a tuple, list or "
                "dict of tensors), so it has no activation; choose the layer that produces the tensor"))
        opaque = next((m for m in self.opaque_modules if layer == m or layer.startswith(m + ".")), None)
        if opaque is not None:
            return UnusableLayerError(layer, (
                f"layer {layer!r} is {'inside ' if layer != opaque else ''}the TorchScript submodule {opaque!r}, "
                "which runs as compiled code that cannot be hooked: its output is not captured; choose a layer "
                "after it (or script only the parts you do not need to inspect)"))
        return UnknownLayerError(layer, self.activations, exists_but_unused=layer in self.module_names)

    @property
    def layouts(self) -> LayoutTable:
        """The layout of every captured layer (:mod:`nbsaliency.layouts`)."""
        if self._layouts is None:
            shapes = self.shapes or {name: tuple(a.shape) for name, a in self.activations.items()}
            self._layouts = LayoutTable(shapes, self.layout_evidence, self.layout_overrides)
        return self._layouts

    def use_layouts_of(self, other: Recording) -> None:
        """Read layouts from ``other`` (a full pass on images of the same size), e.g. for a pass that recorded
        only the layers a target needs, where the evidence of the layers before them is missing."""
        self._layouts = other.layouts

    def layout(self, layer: str) -> Layout:
        """The layout of ``layer`` (:class:`~nbsaliency.layouts.LayoutError` when it is ambiguous)."""
        self.activation(layer)
        return self.layouts[layer]

    def maps(self, layer: str) -> Tensor:
        """``layer``'s activation as channels-first maps ``(N, C, h, w)`` (flat layers: ``(N, D)``), still
        attached to the graph (:meth:`nbsaliency.layouts.Layout.maps`)."""
        return self.layout(layer).maps(self.activation(layer))


def tensor_parts(key: str, output: Any) -> Iterator[tuple[str, Tensor]]:
    """The tensors a module returned, named: ``key`` for a tensor, ``key[0]`` / ``key["name"]`` for the parts
    of a tuple, list or dict (recursively); anything else is left out."""
    if isinstance(output, Tensor):
        yield key, output
    elif isinstance(output, tuple | list):
        for i, part in enumerate(output):
            yield from tensor_parts(f"{key}[{i}]", part)
    elif isinstance(output, Mapping):
        for name, part in output.items():
            label = json.dumps(name) if isinstance(name, str) else repr(name)
            yield from tensor_parts(f"{key}[{label}]", part)


def is_container(output: Any) -> bool:
    return isinstance(output, tuple | list | Mapping)


def hookable_modules(model: nn.Module) -> tuple[list[tuple[str, nn.Module]], list[str]]:
    """``(name, module)`` of every submodule that can carry hooks, and the names of the TorchScript submodules
    (outermost only), which cannot: they and everything inside them are left out."""
    scripted: list[str] = []
    modules = []
    for name, module in model.named_modules():
        if any(name == s or name.startswith(s + ".") for s in scripted):
            continue
        if isinstance(module, torch.jit.ScriptModule):
            scripted.append(name)
            continue
        if name:
            modules.append((name, module))
    return modules, scripted


def _mutated_tensor(func: Any, args: tuple, kwargs: dict) -> Tensor | None:
    out = kwargs.get("out")
    if isinstance(out, Tensor):
        return out
    name = getattr(func, "__name__", "")
    inplace = (name.endswith("_") and not name.endswith("__")) or name in _INPLACE_DUNDERS
    if (inplace or kwargs.get("inplace") is True) and args and isinstance(args[0], Tensor):
        return args[0]
    return None


def _storage_key(t: Tensor) -> int:
    return t.untyped_storage().data_ptr()


class _ForwardMode(TorchFunctionMode):
    def __init__(self, recorder: _Recorder):
        super().__init__()
        self.recorder = recorder

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        mutated = _mutated_tensor(func, args, kwargs)
        if mutated is not None:
            self.recorder.protect_captures_sharing(mutated)
        call = classify(func, args, kwargs)
        if call is not None:
            rerouted = self.recorder.activation(call)
            if rerouted is not None:
                return rerouted
        return func(*args, **kwargs)


class CallNames:
    """Layer names of module calls in one forward pass: a module's first call is its ``named_modules()`` name,
    its second ``name#2`` and so on (a module reused in a block, as torchvision's ResNet reuses its ReLU)."""

    def __init__(self) -> None:
        self._counts: dict[str, int] = defaultdict(int)

    def key(self, name: str) -> str:
        """The name of this call of module ``name``."""
        self._counts[name] += 1
        count = self._counts[name]
        return name if count == 1 else f"{name}#{count}"

    def clear(self) -> None:
        self._counts.clear()


class _Recorder:
    def __init__(self, model: nn.Module, selector: RuleSelector | None, keep: Collection[str] | None = None,
                 keep_before_edit: Collection[str] = ()):
        self.model = model
        self.selector = selector
        self.keep = None if keep is None else frozenset(keep)
        self.keep_before_edit = frozenset(keep_before_edit)
        self.recording = Recording(output=None, module_names=frozenset(n for n, _ in model.named_modules()))
        self._stack: list[str] = []
        self._calls = CallNames()
        self._captures_by_storage: dict[int, list[str]] = defaultdict(list)
        self._uses: set[ActivationUse] = set()

    # -- hooks -------------------------------------------------------------------------------------
    def _pre_hook(self, name: str):
        def hook(module: nn.Module, args: Any) -> None:
            self._stack.append(name)

        return hook

    def _post_hook(self, name: str):
        def hook(module: nn.Module, args: Any, output: Any) -> Any:
            if self._stack:
                self._stack.pop()
            key = self._calls.key(name)
            if not isinstance(output, Tensor) and not is_container(output):
                self.recording.other_outputs[key] = type(output).__name__
                return None
            parts = list(tensor_parts(key, output))
            if is_container(output):
                self.recording.containers[key] = [part for part, _ in parts]
            for part, tensor in parts:
                # shapes and layout evidence of every layer (cheap), so that layouts are known also when only
                # some layers are kept; the tensors of the others are freed as soon as the model is done with them
                self.recording.shapes[part] = tuple(tensor.shape)
                self.recording.layout_evidence[part] = module_evidence(module, tensor)
                if self.keep is not None and part not in self.keep:
                    continue
                self.recording.activations[part] = tensor
                self.recording.layer_types[part] = type(module).__name__
                self._captures_by_storage[_storage_key(tensor)].append(part)
            if isinstance(output, Tensor) and key in self.keep_before_edit:
                # the model goes on with a copy (which its in-place edits change); the capture keeps the output
                # as the layer produced it, and gradients flow to it through the copy
                return output.clone()
            return None

        return hook

    def attach(self, handles: list[Any]) -> None:
        """Register the hooks, appending each handle to ``handles`` at once (the caller removes them, also when
        a registration fails half-way)."""
        modules, scripted = hookable_modules(self.model)
        self.recording.opaque_modules = scripted
        for name in scripted:
            self.recording.activation_uses.append(ActivationUse(name, "TorchScript module", "opaque (TorchScript)"))
        for name, module in modules:
            handles.append(module.register_forward_pre_hook(self._pre_hook(name)))
            handles.append(module.register_forward_hook(self._post_hook(name)))

    # -- called by the mode ---------------------------------------------------------------------------
    def protect_captures_sharing(self, tensor: Tensor) -> None:
        keys = self._captures_by_storage.pop(_storage_key(tensor), None)
        for key in keys or ():
            self.recording.activations[key] = self.recording.activations[key].clone()
            self.recording.copied_on_write.add(key)

    def activation(self, call: ActivationCall) -> Tensor | None:
        use = ActivationUse(self._stack[-1] if self._stack else "", call.name, call.treatment)
        if use not in self._uses:
            self._uses.add(use)
            self.recording.activation_uses.append(use)
        if self.selector is None or call.treatment == "gradient":
            return None
        if call.treatment == "relu":
            function = RuleReLUInplace if call.inplace else RuleReLU
            return function.apply(call.input, self.selector)
        function = RuleActivationInplace if call.inplace else RuleActivation
        return function.apply(call.input, call.out_of_place, self.selector)


def record_forward(model: nn.Module, x: Tensor, selector: RuleSelector | None, *,
                   keep: Collection[str] | None = None, layouts: Mapping[str, Layout | str] | None = None,
                   keep_before_edit: Collection[str] = ()) -> Recording:
    """Run ``model(x)`` once, capturing every module's output (only the layers in ``keep`` when given: the
    others are freed as soon as the model is done with them; their shapes are kept for layout detection).

    With a ``selector``, activations are rerouted so that backward passes follow ``selector.current``;
    without one (perturbation methods under ``torch.no_grad``) they run unchanged. The caller chooses the
    grad mode and the model's train/eval mode. ``layouts`` overrides detected layouts by layer name
    (:mod:`nbsaliency.layouts`). For the layers in ``keep_before_edit`` the model continues with a copy of
    their output, so that a later in-place edit leaves the captured output (and gradients with respect to it,
    as Grad-CAM needs) as the layer produced it.
    """
    recorder = _Recorder(model, selector, keep, keep_before_edit)
    recorder.recording.layout_overrides = parse_overrides(layouts)
    handles: list[Any] = []
    try:
        recorder.attach(handles)
        with _ForwardMode(recorder):
            output = call_model(model, x)
    finally:
        for handle in handles:
            handle.remove()
    recorder.recording.output = output
    return recorder.recording


def call_model(model: nn.Module, x: Tensor) -> Any:
    """``model(x)``; a model that fails raises :class:`~nbsaliency.errors.ModelError` naming the input's shape
    (nbsaliency's own errors, raised by hooks during the pass, go through unchanged)."""
    try:
        return model(x)
    except NbsaliencyError:
        raise
    except Exception as error:
        raise ModelError(
            f"the model raised {type(error).__name__} on an input of shape {tuple(x.shape)}: {error}"
        ) from error


def parse_overrides(layouts: Mapping[str, Layout | str] | None) -> dict[str, Layout]:
    """``{layer: Layout}`` from a user's ``layouts=`` argument (names or :class:`Layout` objects)."""
    if layouts is None:
        return {}
    if not isinstance(layouts, Mapping):
        raise TypeError(f'layouts must be a dict {{layer name: layout}}, e.g. {{"blocks.3": "tokens"}}; got '
                        f"{type(layouts).__name__}")
    return {str(layer): Layout.parse(value) for layer, value in layouts.items()}
