"""The one registry of attribution methods: adding a method is one decorated function in one file.

Everything that lists methods (``nbs.methods()``, the widget's Method control) reads this registry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

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


_REGISTRY: dict[str, MethodInfo] = {}


def register(name: str, *, label: str, citation: str, rgb_view: bool = False, reuses_forward: bool = True,
             backward_rule: BackwardRule | None = None, times_input: bool = False) -> Callable[[Compute], Compute]:
    """Decorator that adds ``compute(session, targets, **options)`` to the registry under ``name``."""

    def add(compute: Compute) -> Compute:
        if name in _REGISTRY:
            raise ValueError(f"method {name!r} is already registered")
        _REGISTRY[name] = MethodInfo(name, label, citation, compute, rgb_view, reuses_forward, backward_rule,
                                     times_input)
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
