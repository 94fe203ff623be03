"""Which torch calls are activations, and how each is treated during a recorded forward pass.

Every spelling of ReLU is caught: ``nn.ReLU`` (also ``inplace=True`` and one instance reused twice),
``F.relu``, ``F.relu_``, ``torch.relu``, ``torch.relu_``, ``Tensor.relu``, ``Tensor.relu_``, and rectifying
clamps: ``x.clamp(min=0)``, ``x.clamp(0)``, ``torch.clamp(x, min=0)``, ``x.clamp_min(0)``, ``x.clamp_(min=0)``,
``clip`` likewise (exact ReLU rules only for a lower bound of 0 and no upper bound; other numeric bounds get the
generalised rule, tensor bounds the plain gradient, all reported in ``Session.activation_rules``). They all reach
the rerouting through a ``TorchFunctionMode`` (see :mod:`nbsaliency.recording`), so the user's model is
never edited and nothing is patched process-wide.

Treatments:
  ``"relu"``         exact rules of DeconvNet / guided backprop (:mod:`.backward_rules`).
  ``"generalised"``  smooth, leaky or shifted rectifiers (GELU, SiLU, LeakyReLU, RReLU, ELU, Hardswish, ReLU6,
                     Threshold, ...): the generalised rule; reported, and refused by ``strict=True`` for
                     DeconvNet / guided.
  ``"gradient"``     gates and squashing functions (sigmoid, tanh, softmax): not rectifiers, so every method
                     passes their plain gradient; reported so that nothing is silent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor

Treatment = Literal["relu", "generalised", "gradient"]


@dataclass(frozen=True)
class ActivationCall:
    """One activation call seen in the forward pass, ready to be rerouted."""

    name: str
    treatment: Treatment
    inplace: bool
    input: Tensor
    out_of_place: Callable[[Tensor], Tensor]


@dataclass(frozen=True)
class _Entry:
    name: str
    treatment: Treatment
    inplace_by_name: bool = False
    out_of_place_func: Callable[..., Any] | None = None  # counterpart of an in-place-by-name function


def _table() -> dict[Any, _Entry]:
    relu = [torch.relu, F.relu, torch.Tensor.relu]
    relu_inplace = [torch.relu_, F.relu_, torch.Tensor.relu_]
    generalised = {
        "leaky_relu": F.leaky_relu, "elu": F.elu, "selu": F.selu, "celu": F.celu, "gelu": F.gelu,
        "silu": F.silu, "mish": F.mish, "hardswish": F.hardswish, "softplus": F.softplus,
        "hardtanh": F.hardtanh, "relu6": F.relu6, "prelu": F.prelu,
        "threshold": F.threshold, "rrelu": F.rrelu,  # nn.Threshold(0, 0) is a ReLU; nn.RReLU a leaky one
    }
    generalised_inplace = {  # in-place by name -> out-of-place counterpart
        F.leaky_relu_: F.leaky_relu, F.elu_: F.elu, F.hardtanh_: F.hardtanh,
        torch.selu_: F.selu, torch.celu_: F.celu, F.threshold_: F.threshold, F.rrelu_: F.rrelu,
    }
    gradient_only = {
        "sigmoid": [torch.sigmoid, F.sigmoid, torch.Tensor.sigmoid],
        "tanh": [torch.tanh, F.tanh, torch.Tensor.tanh],
        "hardsigmoid": [F.hardsigmoid],
        "softmax": [torch.softmax, F.softmax, torch.Tensor.softmax],
        "log_softmax": [torch.log_softmax, F.log_softmax, torch.Tensor.log_softmax],
        "softsign": [F.softsign],
        "logsigmoid": [F.logsigmoid],
    }
    table: dict[Any, _Entry] = {}
    for func in relu:
        table[func] = _Entry("relu", "relu")
    for func in relu_inplace:
        table[func] = _Entry("relu", "relu", inplace_by_name=True)
    for name, func in generalised.items():
        table[func] = _Entry(name, "generalised")
    for func, counterpart in generalised_inplace.items():
        table[func] = _Entry(counterpart.__name__, "generalised", True, counterpart)
    for name, funcs in gradient_only.items():
        for func in funcs:
            table[func] = _Entry(name, "gradient")
    table[torch.selu] = _Entry("selu", "generalised")
    table[torch.celu] = _Entry("celu", "generalised")
    return table


_ACTIVATIONS = _table()


_CLAMPS = {torch.clamp: torch.clamp, torch.Tensor.clamp: torch.clamp, torch.clip: torch.clamp,
           torch.Tensor.clip: torch.clamp, torch.clamp_min: torch.clamp_min, torch.Tensor.clamp_min: torch.clamp_min}
_CLAMPS_INPLACE = {torch.clamp_: torch.clamp, torch.Tensor.clamp_: torch.clamp, torch.clip_: torch.clamp,
                   torch.Tensor.clip_: torch.clamp, torch.clamp_min_: torch.clamp_min,
                   torch.Tensor.clamp_min_: torch.clamp_min}


def _clamp_bounds(base: Any, rest: tuple, kwargs: dict) -> tuple[Any, Any]:
    if base is torch.clamp_min:
        return (rest[0] if rest else kwargs.get("min")), None
    low = rest[0] if rest else kwargs.get("min")
    high = rest[1] if len(rest) > 1 else kwargs.get("max")
    return low, high


def _classify_clamp(func: Any, args: tuple, kwargs: dict) -> ActivationCall | None:
    """A clamp on a floating tensor: ``clamp(min=0)`` (any spelling, no max) is a ReLU and gets the exact
    rules; other numeric bounds are a shifted / capped rectifier and get the generalised rule (as Hardtanh and
    ReLU6 do); tensor bounds are not a rectifier and keep the plain gradient - every case is reported."""
    inplace = func in _CLAMPS_INPLACE
    base = _CLAMPS_INPLACE[func] if inplace else _CLAMPS[func]
    x, rest = args[0], args[1:]
    if not x.is_floating_point():
        return None
    low, high = _clamp_bounds(base, rest, kwargs)

    def out_of_place(t: Tensor) -> Tensor:
        return base(t, *rest, **kwargs)

    if isinstance(low, Tensor) or isinstance(high, Tensor):
        return ActivationCall("clamp (tensor bounds)", "gradient", inplace, x, out_of_place)
    if high is None and low is not None and low == 0:
        return ActivationCall("clamp(min=0)", "relu", inplace, x, out_of_place)
    described = ", ".join(f"{k}={v:g}" for k, v in (("min", low), ("max", high)) if v is not None)
    return ActivationCall(f"clamp({described})", "generalised", inplace, x, out_of_place)


def classify(func: Any, args: tuple, kwargs: dict) -> ActivationCall | None:
    """Describe ``func(*args, **kwargs)`` if it is an activation applied to a tensor, else None."""
    if (func in _CLAMPS or func in _CLAMPS_INPLACE) and args and isinstance(args[0], Tensor):
        return _classify_clamp(func, args, kwargs)
    entry = _ACTIVATIONS.get(func)
    if entry is None or not args or not isinstance(args[0], Tensor):
        return None
    x, rest = args[0], args[1:]
    options = {k: v for k, v in kwargs.items() if k != "inplace"}
    inplace = entry.inplace_by_name or bool(kwargs.get("inplace", False))
    base = entry.out_of_place_func or func  # only generalised activations are recomputed through it
    if "inplace" in kwargs:
        options["inplace"] = False

    def out_of_place(t: Tensor) -> Tensor:
        return base(t, *rest, **options)

    return ActivationCall(entry.name, entry.treatment, inplace, x, out_of_place)
