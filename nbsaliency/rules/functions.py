"""Autograd functions that activations are rerouted into during a recorded forward pass.

Their forward computes exactly what the original activation computes; their backward asks the
session's :class:`RuleSelector` which rule to apply, so the rule is chosen per backward pass.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from .backward_rules import RuleSelector


class RuleReLU(torch.autograd.Function):
    """``relu(x)`` whose backward follows the selected rule."""

    @staticmethod
    def forward(ctx, x: Tensor, selector: RuleSelector) -> Tensor:
        out = torch.relu(x)
        ctx.selector = selector
        ctx.save_for_backward(out)  # out > 0 exactly where x > 0
        return out

    @staticmethod
    def backward(ctx, signal: Tensor) -> tuple[Tensor, None]:
        (out,) = ctx.saved_tensors
        return ctx.selector.current.through_relu(out, signal), None


class RuleReLUInplace(torch.autograd.Function):
    """``x.relu_()`` (also ``nn.ReLU(inplace=True)``) whose backward follows the selected rule."""

    @staticmethod
    def forward(ctx, x: Tensor, selector: RuleSelector) -> Tensor:
        x.relu_()
        ctx.mark_dirty(x)
        ctx.selector = selector
        ctx.save_for_backward(x)
        return x

    @staticmethod
    def backward(ctx, signal: Tensor) -> tuple[Tensor, None]:
        (out,) = ctx.saved_tensors
        return ctx.selector.current.through_relu(out, signal), None


def _value_and_local_derivative(activation: Callable[[Tensor], Tensor], x: Tensor) -> tuple[Tensor, Tensor]:
    """phi(x) and phi'(x) of an elementwise activation, by autograd on a detached copy."""
    with torch.enable_grad():
        probe = x.detach().requires_grad_(True)
        value = activation(probe)
        (derivative,) = torch.autograd.grad(value, probe, torch.ones_like(value))
    return value.detach(), derivative


class RuleActivation(torch.autograd.Function):
    """An elementwise activation other than ReLU (GELU, SiLU, LeakyReLU, ...) under the generalised rule."""

    @staticmethod
    def forward(ctx, x: Tensor, activation: Callable[[Tensor], Tensor], selector: RuleSelector) -> Tensor:
        value, derivative = _value_and_local_derivative(activation, x)
        ctx.selector = selector
        ctx.save_for_backward(derivative)
        return value

    @staticmethod
    def backward(ctx, signal: Tensor) -> tuple[Tensor, None, None]:
        (derivative,) = ctx.saved_tensors
        return ctx.selector.current.through_activation(derivative, signal), None, None


class RuleActivationInplace(torch.autograd.Function):
    """In-place variant of :class:`RuleActivation` (``inplace=True`` modules, ``F.elu_``...)."""

    @staticmethod
    def forward(ctx, x: Tensor, activation: Callable[[Tensor], Tensor], selector: RuleSelector) -> Tensor:
        value, derivative = _value_and_local_derivative(activation, x)
        x.copy_(value)
        ctx.mark_dirty(x)
        ctx.selector = selector
        ctx.save_for_backward(derivative)
        return x

    @staticmethod
    def backward(ctx, signal: Tensor) -> tuple[Tensor, None, None]:
        (derivative,) = ctx.saved_tensors
        return ctx.selector.current.through_activation(derivative, signal), None, None
