"""The linearised backward pass used to *probe* receptive fields.

A unit's receptive field is the support of its gradient with respect to the input. The true gradient is
data dependent: a ReLU that is off at the probe input, or a max-pool that picked one element of its window,
cut parts of the field away. The linearised backward removes both data dependencies:

* :data:`LINEAR` passes the signal through every rectifier unchanged (``uses_forward_input=False``,
  ``keeps_positive_signal=False``), read by the ordinary :class:`~.backward_rules.RuleSelector`;
* :class:`SpreadMaxPool`, a ``TorchFunctionMode`` active only during the probing forward pass, keeps every
  max-pool's forward value but sends its backward signal to the *whole* window (the backward of a window
  sum with the same kernel, stride, padding, dilation and ceil mode), so the field is not restricted to the
  argmax. Adaptive max-pooling spreads over its adaptive windows.

Nothing is patched globally and the model is not edited.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.overrides import TorchFunctionMode

from .backward_rules import BackwardRule

LINEAR = BackwardRule("linear", uses_forward_input=False, keeps_positive_signal=False)


def _pair(v: Any) -> tuple[int, int]:
    if isinstance(v, int):
        return v, v
    v = tuple(v)
    return (v[0], v[0]) if len(v) == 1 else (int(v[0]), int(v[1]))


def _max_pool_signature(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
                        return_indices=False):  # pragma: no cover - only its signature is used
    ...


_MAX_POOL = inspect.signature(_max_pool_signature)


def _window_sum(x: Tensor, out_hw: tuple[int, int], kernel: tuple[int, int], stride: tuple[int, int],
                padding: tuple[int, int], dilation: tuple[int, int]) -> Tensor:
    """Sum over each pooling window (positive weights: a gradient with the window as support)."""
    unbatched = x.dim() == 3
    if unbatched:
        x = x[None]
    extra = []
    for axis in range(2):  # ceil_mode may add a last window that needs padding on the far side
        needed = (out_hw[axis] - 1) * stride[axis] + dilation[axis] * (kernel[axis] - 1) + 1
        extra.append(max(0, needed - (x.shape[2 + axis] + 2 * padding[axis])))
    x = F.pad(x, (padding[1], padding[1] + extra[1], padding[0], padding[0] + extra[0]))
    weight = x.new_ones(x.shape[1], 1, *kernel)
    out = F.conv2d(x, weight, stride=stride, dilation=dilation, groups=x.shape[1])[..., :out_hw[0], :out_hw[1]]
    return out[0] if unbatched else out


Surrogate = Callable[[Tensor, tuple[int, int]], Tensor]  # (input, output height and width) -> output


class _SpreadGradient(torch.autograd.Function):
    """Forward: the real operation; backward: the vector-Jacobian product of ``surrogate`` instead."""

    @staticmethod
    def forward(ctx, x: Tensor, operation: Callable[[Tensor], Any], surrogate: Surrogate):
        result = operation(x)
        ctx.surrogate = surrogate
        ctx.save_for_backward(x)
        if isinstance(result, tuple):
            ctx.mark_non_differentiable(*result[1:])
        return result

    @staticmethod
    def backward(ctx, signal: Tensor, *unused: Any) -> tuple[Tensor, None, None]:
        (x,) = ctx.saved_tensors
        with torch.enable_grad():
            probe = x.detach().requires_grad_(True)
            (grad,) = torch.autograd.grad(ctx.surrogate(probe, tuple(signal.shape[-2:])), probe, signal)
        return grad, None, None


def _spread_max_pool(func: Any, args: tuple, kwargs: dict) -> Any:
    bound = _MAX_POOL.bind(*args, **kwargs)
    bound.apply_defaults()
    a = bound.arguments
    x = a["input"]
    kernel = _pair(a["kernel_size"])
    stride = _pair(a["stride"]) if a["stride"] else kernel  # None or [] mean "the kernel size"
    padding, dilation = _pair(a["padding"]), _pair(a["dilation"])

    def operation(t: Tensor) -> Any:
        return func(t, *args[1:], **kwargs)

    def surrogate(t: Tensor, out_hw: tuple[int, int]) -> Tensor:
        return _window_sum(t, out_hw, kernel, stride, padding, dilation)

    return _SpreadGradient.apply(x, operation, surrogate)


def _spread_adaptive_max_pool(func: Any, args: tuple, kwargs: dict) -> Any:
    x, output_size = args[0], args[1] if len(args) > 1 else kwargs["output_size"]

    def operation(t: Tensor) -> Any:
        return func(t, *args[1:], **kwargs)

    return _SpreadGradient.apply(x, operation, lambda t, out_hw: F.adaptive_avg_pool2d(t, output_size))


_MAX_POOLS = {F.max_pool2d, F.max_pool2d_with_indices, torch.max_pool2d}
_ADAPTIVE_MAX_POOLS = {F.adaptive_max_pool2d, F.adaptive_max_pool2d_with_indices}


class SpreadMaxPool(TorchFunctionMode):
    """During a probing forward pass, make 2-d max-pooling pass its backward signal to the whole window."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if args and isinstance(args[0], Tensor) and torch.is_grad_enabled():
            if func in _MAX_POOLS:
                return _spread_max_pool(func, args, kwargs)
            if func in _ADAPTIVE_MAX_POOLS:
                return _spread_adaptive_max_pool(func, args, kwargs)
        return func(*args, **kwargs)
