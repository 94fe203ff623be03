"""The rule objects (:class:`BackwardRule`) and the selector that rerouted activations read at backward time.

The table of what each rule does through ReLU and through other activations is the package's docstring
(:mod:`nbsaliency.rules`); for ReLU the generalised column reduces to the ReLU column, so one rule object covers
both.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass(frozen=True)
class BackwardRule:
    """How a signal passes backward through a rectifier-like activation."""

    name: str
    uses_forward_input: bool
    keeps_positive_signal: bool

    def through_relu(self, forward_output: Tensor, signal: Tensor) -> Tensor:
        """``forward_output`` is relu(f), positive exactly where f > 0; ``signal`` is R.

        One fused kernel where possible: the backward pass of a small model is dominated by per-op overhead.
        """
        if self.uses_forward_input:
            signal = torch.ops.aten.threshold_backward(signal, forward_output, 0)
            return signal.clamp_(min=0) if self.keeps_positive_signal else signal
        return signal.clamp(min=0) if self.keeps_positive_signal else signal

    def through_activation(self, local_derivative: Tensor, signal: Tensor) -> Tensor:
        """Generalised rule for smooth / leaky activations; ``local_derivative`` is phi'(f)."""
        if self.uses_forward_input:
            signal = signal * local_derivative
        return signal.clamp(min=0) if self.keeps_positive_signal else signal

    @property
    def is_gradient(self) -> bool:
        return self.uses_forward_input and not self.keeps_positive_signal


GRADIENT = BackwardRule("gradient", uses_forward_input=True, keeps_positive_signal=False)
DECONVNET = BackwardRule("deconvnet", uses_forward_input=False, keeps_positive_signal=True)
GUIDED = BackwardRule("guided", uses_forward_input=True, keeps_positive_signal=True)


class RuleSelector:
    """The rule that rerouted activations read *at backward time*.

    One forward graph can therefore answer gradient, DeconvNet and guided backward passes.
    Each session owns its selector; nothing is global.

    A plain attribute, not a thread-local: on CUDA the autograd engine runs backward functions on its own
    device threads, which must see the rule the calling thread selected. A session runs one backward
    pass at a time, guarded by its lock.
    """

    def __init__(self) -> None:
        self.current: BackwardRule = GRADIENT

    @contextmanager
    def use(self, rule: BackwardRule) -> Iterator[None]:
        previous, self.current = self.current, rule
        try:
            yield
        finally:
            self.current = previous
