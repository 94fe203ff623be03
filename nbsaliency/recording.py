"""One recorded forward pass: the model's output, every layer's activation and the activations' report.

During the pass a ``TorchFunctionMode`` (active only inside :func:`record_forward`) does two things:

* reroutes every activation call (see :mod:`nbsaliency.rules.activations`) into an autograd function
  whose backward reads the session's selected rule at backward time;
* protects captured activations from later in-place edits (ResNet's ``out += identity`` and in-place
  ReLUs modify tensors that were already some layer's output): just before a call mutates a tensor that
  shares storage with a capture, the capture is replaced by a clone whose autograd history still points
  at the layer that produced it.

Forward hooks (removed before returning, also on error) name each module's output. A module that runs
more than once (one ``nn.ReLU`` reused in a block) gives ``name``, ``name#2``, ``name#3``, ...
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from torch import Tensor, nn
from torch.overrides import TorchFunctionMode

from .errors import ModelError, NbsaliencyError, UnknownLayerError
from .rules.activations import ActivationCall, Treatment, classify
from .rules.backward_rules import RuleSelector
from .rules.functions import RuleActivation, RuleActivationInplace, RuleReLU, RuleReLUInplace

_INPLACE_DUNDERS = frozenset(
    f"__i{op}__" for op in ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "and", "or", "xor",
                             "lshift", "rshift", "matmul")
) | {"__setitem__"}


@dataclass(frozen=True)
class ActivationUse:
    """Which rule an activation got: ``layer`` is the innermost module that called it."""

    layer: str
    function: str
    treatment: Treatment


@dataclass
class Recording:
    """What one forward pass leaves behind."""

    output: Any
    module_names: frozenset[str]
    activations: dict[str, Tensor] = field(default_factory=dict)
    layer_types: dict[str, str] = field(default_factory=dict)
    activation_uses: list[ActivationUse] = field(default_factory=list)
    copied_on_write: set[str] = field(default_factory=set)

    @property
    def layers(self) -> list[tuple[str, tuple[int, ...]]]:
        """Captured layers and their output shapes, in forward order (the order their outputs were produced)."""
        return [(name, tuple(a.shape)) for name, a in self.activations.items()]

    def activation(self, layer: str) -> Tensor:
        """The captured activation (still attached to the graph), or a clear error for a wrong name."""
        try:
            return self.activations[layer]
        except KeyError:
            raise UnknownLayerError(
                layer, self.activations, exists_but_unused=layer in self.module_names
            ) from None


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
    def __init__(self, model: nn.Module, selector: RuleSelector | None, keep: Collection[str] | None = None):
        self.model = model
        self.selector = selector
        self.keep = None if keep is None else frozenset(keep)
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
        def hook(module: nn.Module, args: Any, output: Any) -> None:
            if self._stack:
                self._stack.pop()
            if not isinstance(output, Tensor):
                return
            key = self._calls.key(name)
            if self.keep is not None and key not in self.keep:
                return
            self.recording.activations[key] = output
            self.recording.layer_types[key] = type(module).__name__
            self._captures_by_storage[_storage_key(output)].append(key)

        return hook

    def attach(self) -> list[Any]:
        handles = []
        for name, module in self.model.named_modules():
            if name:
                handles.append(module.register_forward_pre_hook(self._pre_hook(name)))
                handles.append(module.register_forward_hook(self._post_hook(name)))
        return handles

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


def record_forward(model: nn.Module, x: Tensor, selector: RuleSelector | None,
                   keep: Collection[str] | None = None) -> Recording:
    """Run ``model(x)`` once, capturing every module's output (only the layers in ``keep`` when given: the
    others are freed as soon as the model is done with them).

    With a ``selector``, activations are rerouted so that backward passes follow ``selector.current``;
    without one (perturbation methods under ``torch.no_grad``) they run unchanged. The caller chooses the
    grad mode and the model's train/eval mode.
    """
    recorder = _Recorder(model, selector, keep)
    handles = recorder.attach()
    try:
        with _ForwardMode(recorder):
            output = model(x)
    except NbsaliencyError:
        raise
    except Exception as error:
        raise ModelError(
            f"the model raised {type(error).__name__} on an input of shape {tuple(x.shape)}: {error}"
        ) from error
    finally:
        for handle in handles:
            handle.remove()
    recorder.recording.output = output
    return recorder.recording
