"""The one registry of attribution methods: adding a method is one decorated function in one file.

Everything that lists methods (``nbs.methods()``, the widget's Method control) reads this registry.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import Tensor

from ..errors import UnknownMethodError
from ..rules.backward_rules import BackwardRule

# compute(session, targets, **options) -> (T, N, C, H, W)
Compute = Callable[..., Tensor]


@dataclass(frozen=True)
class MethodInfo:
    """A registered method. ``rgb_view``: worth showing as a signed RGB image (DeconvNet, guided);
    ``reuses_forward``: answered from the session's kept forward pass (no new forward);
    ``backward_rule``: set for the single-backward-pass methods, whose map is the gradient under that ReLU rule
    (times the input when ``times_input``) - what SmoothGrad can average and a single unit can be projected by."""

    name: str
    label: str
    citation: str
    compute: Compute
    rgb_view: bool = False
    reuses_forward: bool = True
    backward_rule: BackwardRule | None = None
    times_input: bool = False
    options: tuple[str, ...] = ()  # keyword options of ``compute``, read once from its signature
    layer_usable: Callable[[Any, str], bool] | None = None  # (session, layer) -> whether layer= may be that layer

    @property
    def takes_layer(self) -> bool:
        """Whether the method takes a ``layer=`` option (Grad-CAM's layer of maps)."""
        return "layer" in self.options


def _options_of(compute: Compute) -> tuple[str, ...]:
    parameters = list(inspect.signature(compute).parameters.values())[2:]  # after (session, targets)
    return tuple(p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY))


_REGISTRY: dict[str, MethodInfo] = {}


def register(name: str, *, label: str, citation: str, rgb_view: bool = False, reuses_forward: bool = True,
             backward_rule: BackwardRule | None = None, times_input: bool = False,
             layer_usable: Callable[[Any, str], bool] | None = None) -> Callable[[Compute], Compute]:
    """Decorator that adds ``compute(session, targets, **options)`` to the registry under ``name``."""

    def add(compute: Compute) -> Compute:
        if name in _REGISTRY:
            raise ValueError(f"method {name!r} is already registered")
        _REGISTRY[name] = MethodInfo(name, label, citation, compute, rgb_view, reuses_forward, backward_rule,
                                     times_input, _options_of(compute), layer_usable)
        return compute

    return add


def methods() -> list[str]:
    """Names of the available attribution methods, in registration order."""
    return list(_REGISTRY)


def method_info(name: str) -> MethodInfo:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownMethodError(name, _REGISTRY) from None


def method_infos() -> list[MethodInfo]:
    return list(_REGISTRY.values())


def single_pass_methods() -> list[str]:
    """Methods whose map is one backward pass under a ReLU rule (SmoothGrad's bases; single-unit projections)."""
    return [info.name for info in _REGISTRY.values() if info.backward_rule is not None]
