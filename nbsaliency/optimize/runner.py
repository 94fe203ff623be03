"""The optimisation loop every method runs: gradient ascent of an objective on image parameters.

Guarantees (the user's model is never changed): the model runs in eval mode and every module's flag is restored; hooks
sit only on the layers the objective reads and are removed on exit, also on error or cancel; gradients are
taken with ``torch.autograd.grad`` with respect to the image parameters only, so no parameter's ``.grad`` is
ever filled. Everything random draws from one seeded ``torch.Generator``; tensors follow the model's device
and dtype. ``callback(step, image, value)`` streams progress every ``every`` steps; setting ``cancel`` (a
``threading.Event``) stops the run before the next step and returns the partial result marked cancelled.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from ..errors import ModelError, NoGradientPathError, TargetError
from ..grad_mode import check_not_inference_mode
from ..methods.options import integer, number
from ..model_state import evaluation_mode, model_device_and_dtype
from ..targets import Target, as_target
from ..validation import as_image_batch
from .capture import LayerCapture, OptimisationView
from .optimisers import OptimiserLike, make_optimiser
from .parameterisations import Parameterisation, Range
from .regularisers import Regulariser
from .transforms import Compose, Transform

Callback = Callable[[int, Tensor, Tensor], object]


@dataclass
class OptimisationResult:
    """``image``: the final ``(N, C, H, W)`` batch; ``history``: the objective per step and image,
    ``(steps run, N)``; ``settings``: what produced it; ``cancelled``: stopped early by ``cancel``;
    ``metrics``: method-specific measurements (e.g. an inversion's reconstruction error)."""

    image: Tensor
    history: Tensor
    settings: dict[str, Any]
    cancelled: bool = False
    metrics: dict[str, Tensor] = field(default_factory=dict)

    @property
    def steps(self) -> int:
        """Steps actually run."""
        return int(self.history.shape[0])


def model_placement(model: nn.Module) -> dict[str, Any]:
    """``{"device": ..., "dtype": ...}`` of the model (CPU float32 for a model without tensors)."""
    device, dtype = model_device_and_dtype(model)
    return {"device": device or torch.device("cpu"), "dtype": dtype or torch.float32}


def image_shape(model: nn.Module, size: int | Sequence[int], batch: int) -> tuple[int, int, int, int]:
    """``(batch, C, H, W)`` with C from the model's first convolution (3 when it has none)."""
    from ..validation import _first_convolution

    h, w = (size, size) if isinstance(size, int) else tuple(size)
    first = _first_convolution(model)
    return (int(batch), first[1].in_channels if first is not None else 3, int(h), int(w))


def midpoint(value_range: Range) -> float | tuple[float, ...]:
    """The neutral grey of ``value_range`` (the image that counts as zero, where optimisations start): one
    number for one range, one per channel for per-channel bounds (a normalised model's grey differs per
    channel: ImageNet's mean / std put pixel 0.5 at 0.07, 0.20 and 0.42)."""
    low, high = (torch.as_tensor(v, dtype=torch.float64).reshape(-1) for v in value_range)
    middle = (low + high) / 2
    return float(middle[0]) if middle.numel() == 1 else tuple(float(m) for m in middle)


def run_model(model: nn.Module, image: Tensor) -> Any:
    try:
        return model(image)
    except Exception as error:
        raise ModelError(
            f"the model raised {type(error).__name__} on an input of shape {tuple(image.shape)}: {error}"
        ) from error


def evaluate(model: nn.Module, objective: Target | int, image: Tensor) -> Tensor:
    """``objective``'s values, ``(N,)``, on an image batch (eval mode, no gradients, no hooks left): e.g. a
    target's activation before and after an optimisation."""
    objective = as_target(objective)
    batch, _ = as_image_batch(model, image)
    with evaluation_mode(model), torch.no_grad(), LayerCapture(model, objective.layers) as capture:
        output = run_model(model, batch)
        return objective.values(OptimisationView(output, batch, capture.take())).detach()


def _gradients(objective: Target, values: Tensor, n: int, parameters: list[Tensor]) -> tuple[Tensor, ...]:
    if values.shape != (n,):
        raise TargetError(f"{objective!r} gave values of shape {tuple(values.shape)}; expected one per image ({n},)")
    if not values.requires_grad:
        raise NoGradientPathError(f"{objective!r} does not depend on the image: there is nothing to optimise")
    grads = torch.autograd.grad(-values.sum(), parameters, allow_unused=True)
    if all(g is None for g in grads):
        raise NoGradientPathError(f"{objective!r} does not depend on the image parameters")
    return tuple(torch.zeros_like(p) if g is None else g for p, g in zip(parameters, grads, strict=True))


def optimise(model: nn.Module, objective: Target | int, param: Parameterisation, *, steps: int, lr: float = 0.05,
             optimiser: OptimiserLike = "adam", transforms: Transform | Sequence[Transform] = (),
             regularisers: Sequence[Regulariser] = (), seed: int = 0, callback: Callback | None = None,
             every: int = 10, cancel: threading.Event | None = None, settings: dict[str, Any] | None = None,
             step_offset: int = 0) -> OptimisationResult:
    """Maximise ``objective`` (one value per image, summed over the batch) over ``param`` for ``steps`` steps.

    Each step: image = ``param()``; ``transforms`` (robustness); forward; objective; gradient of its negative
    with respect to the parameters; optimiser step; ``param.project()``; ``regularisers`` (Yosinski et al.).
    ``callback(step_offset + step, image, values)`` gets the step's image and its ``(N,)`` objective values.

    Raises :class:`~nbsaliency.OptionError` for negative steps, every below 1 or (with a named optimiser) lr not
    above 0; :class:`~nbsaliency.InferenceModeError` inside ``torch.inference_mode()``.
    """
    check_not_inference_mode("optimised images")
    integer("optimise", "steps", steps, minimum=0)
    integer("optimise", "every", every, minimum=1)
    if isinstance(optimiser, str):
        number("optimise", "lr", lr, above=0)
    objective = as_target(objective)
    transform = Compose(transforms) if isinstance(transforms, Sequence) else transforms
    transform = transform if not isinstance(transform, Compose) or transform.transforms else None
    for regulariser in regularisers:
        regulariser.check(param)
    as_image_batch(model, param().detach())  # channels, device, dtype: the engine's clear errors
    generator = torch.Generator().manual_seed(int(seed))
    n = param.shape[0]
    step_rule = make_optimiser(optimiser, param.parameters, lr)
    history = torch.zeros(steps, n, device=param.device, dtype=torch.float32)
    done, cancelled = 0, False
    try:
        with evaluation_mode(model), torch.enable_grad(), LayerCapture(model, objective.layers) as capture:
            for step in range(steps):
                if cancel is not None and cancel.is_set():
                    cancelled = True
                    break
                image = param()
                output = run_model(model, transform(image, generator) if transform is not None else image)
                values = objective.values(OptimisationView(output, image, capture.take()))
                grads = _gradients(objective, values, n, param.parameters)
                for p, g in zip(param.parameters, grads, strict=True):
                    p.grad = g
                step_rule.step()
                with torch.no_grad():
                    param.project()
                    for regulariser in regularisers:
                        regulariser(param, step, list(grads))
                history[step] = values.detach()
                done = step + 1
                if callback is not None and (done % every == 0 or done == steps):
                    callback(step_offset + step, image.detach(), values.detach())
    finally:
        for p in param.parameters:
            p.grad = None
    with torch.no_grad():
        final = param().detach().clone()
    record = {
        "objective": repr(objective), "parameterisation": repr(param), "steps": steps, "lr": lr,
        "optimiser": optimiser if isinstance(optimiser, str) else repr(optimiser), "seed": seed,
        "transforms": repr(transform) if transform is not None else None,
        "regularisers": [repr(r) for r in regularisers], "value_range": param.value_range,
    }
    return OptimisationResult(final, history[:done].cpu(), {**(settings or {}), **record}, cancelled)
