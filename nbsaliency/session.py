"""A session: one forward pass per input, kept, answering many backward passes.

Because activations read their backward rule at backward time (:mod:`nbsaliency.rules`), switching method,
layer, channel or neuron costs one backward pass to the input on the retained graph: no new forward pass
and no weight gradients.
"""

from __future__ import annotations

import functools
import inspect
import threading
from collections.abc import Sequence
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from .errors import NoGradientPathError, UnsupportedActivationError
from .methods import method_info
from .model_state import evaluation_mode
from .recording import ActivationUse, Recording, record_forward
from .rules.backward_rules import BackwardRule, RuleSelector
from .targets import Target, as_target, class_scores
from .validation import as_image_batch


class Layer(NamedTuple):
    """A captured layer: its ``named_modules()`` name (``name#2`` for a module's second call) and output shape."""

    name: str
    shape: tuple[int, ...]


TargetLike = Target | int | None


class Session:
    """Keep one forward pass of ``model`` on ``x`` and compute attributions from it.

    ``x`` is an ``(N, C, H, W)`` batch or one ``(C, H, W)`` image on the model's device and dtype.
    With ``strict=True``, DeconvNet / guided methods refuse models whose activations only have the
    generalised rule (GELU, SiLU, ...), instead of reporting it in :attr:`activation_rules`.
    """

    def __init__(self, model: nn.Module, x: Tensor, *, strict: bool = False):
        batch, self._single_image = as_image_batch(model, x)
        self.model = model
        self.strict = strict
        self._selector = RuleSelector()
        self._lock = threading.RLock()
        self.x = batch.detach().clone().requires_grad_(True)
        self._recording = self.record(self.x, rules=True)

    # -- what the forward pass saw ----------------------------------------------------------------------
    @property
    def layers(self) -> list[Layer]:
        """Every module that produced a tensor, with its output shape, in forward order."""
        return [Layer(*layer) for layer in self._recording.layers]

    @property
    def layer_types(self) -> dict[str, str]:
        """Module class name of each layer, e.g. ``{"features.0": "Conv2d", ...}``."""
        return dict(self._recording.layer_types)

    @property
    def output(self) -> Tensor:
        """The model's output (detached)."""
        return self._recording.output.detach()

    @property
    def predicted(self) -> Tensor:
        """Each image's predicted class, shape ``(N,)``; a clear error when the model returns no class scores."""
        return class_scores(self._recording).detach().argmax(dim=1)

    @property
    def activation_rules(self) -> list[ActivationUse]:
        """Which activation (in which layer) got which backward treatment: ``relu``, ``generalised`` or
        ``gradient`` (gates such as sigmoid, which every method passes unchanged)."""
        return list(self._recording.activation_uses)

    @property
    def recording(self) -> Recording:
        return self._recording

    def activations(self, layer: str) -> Tensor:
        """The activation tensor of ``layer`` captured in the forward pass (detached)."""
        return self._recording.activation(layer).detach()

    def top_predictions(self, k: int = 5) -> tuple[Tensor, Tensor]:
        """``(probabilities, classes)`` of the k most probable classes per image, each ``(N, k)``."""
        probabilities = self._recording.output.detach().softmax(dim=1)
        return probabilities.topk(min(k, probabilities.shape[1]), dim=1)

    # -- attributions ------------------------------------------------------------------------------------
    def attribute(self, target: TargetLike | Sequence[TargetLike] = None, method: str = "gradient",
                  **options: Any) -> Tensor:
        """Attribution of ``target`` by ``method``, shaped like ``x``.

        A list of targets gives a batch of maps: ``(T, *x.shape[1:])`` for one image, ``(T, *x.shape)``
        for a batch of several.
        """
        info = method_info(method)
        batched = isinstance(target, list | tuple)
        targets = [as_target(t) for t in (target if batched else [target])]
        _check_options(info.name, info.compute, options)
        maps = info.compute(self, targets, **options).detach()  # (T, N, C, H, W)
        if not batched:
            return maps[0, 0] if self._single_image else maps[0]
        return maps[:, 0] if self.x.shape[0] == 1 else maps

    def gradients(self, targets: Sequence[Target], rule: BackwardRule, wrt: Tensor | None = None,
                  recording: Recording | None = None) -> Tensor:
        """Backward passes of each target under ``rule`` to ``wrt`` (default: the input): ``(T, *wrt.shape)``.

        ``recording`` defaults to this session's; methods that perturb the input pass their own.
        """
        recording = recording or self._recording
        wrt = self.x if wrt is None else wrt
        self._check_strict(rule, recording)
        values = [target.values(recording) for target in targets]
        for target, v in zip(targets, values, strict=True):
            if not v.requires_grad:
                raise NoGradientPathError(f"{target!r} does not depend on the input: it has no gradient to attribute")
        with self._lock, self._selector.use(rule):
            if len(values) > 1:
                return self._batched_gradients(targets, values, wrt)
            return self._gradient(targets[0], values[0], wrt)[None]

    def _gradient(self, target: Target, values: Tensor, wrt: Tensor) -> Tensor:
        (grad,) = torch.autograd.grad(values.sum(), wrt, retain_graph=True, allow_unused=True)
        if grad is None:
            raise NoGradientPathError(f"{target!r} does not depend on the tensor it is differentiated against")
        return grad

    def _batched_gradients(self, targets: Sequence[Target], values: list[Tensor], wrt: Tensor) -> Tensor:
        """All targets in one vectorised backward pass (``is_grads_batched``): the per-pass overhead is paid
        once, and on GPUs the T passes run as one batch."""
        stacked = torch.stack(values)  # (T, N)
        one_hot = torch.eye(len(values), dtype=stacked.dtype, device=stacked.device)
        grad_outputs = one_hot[:, :, None].expand(-1, -1, stacked.shape[1])
        (grads,) = torch.autograd.grad(stacked, wrt, grad_outputs, retain_graph=True, allow_unused=True,
                                       is_grads_batched=True)
        if grads is None:
            raise NoGradientPathError(f"{targets!r} do not depend on the tensor they are differentiated against")
        return grads

    def _check_strict(self, rule: BackwardRule, recording: Recording) -> None:
        if not self.strict or rule.is_gradient:
            return
        approximate = [use for use in recording.activation_uses if use.treatment == "generalised"]
        if approximate:
            listed = ", ".join(f"{use.function} in {use.layer or 'the model'!r}" for use in approximate)
            raise UnsupportedActivationError(
                f"strict mode: the {rule.name} rule is exact only for ReLU, but this model uses {listed}; "
                "pass strict=False to apply the generalised rule (documented in nbsaliency.rules)"
            )

    # -- new forward passes, for methods that perturb the input -----------------------------------------
    def record(self, x: Tensor, *, rules: bool) -> Recording:
        """A fresh forward pass of the session's model on ``x`` (eval mode, the model's flags restored).

        With ``rules=True`` gradients are recorded and activations follow the session's selected rule;
        with ``rules=False`` it runs under ``torch.no_grad``.
        """
        with evaluation_mode(self.model), torch.set_grad_enabled(rules):
            return record_forward(self.model, x, self._selector if rules else None)

    def fixed_targets(self, targets: Sequence[Target], repeats: int = 1) -> list[Target]:
        """Targets whose "predicted class" is pinned to this input's prediction, for ``repeats`` stacked
        copies of the batch (a perturbed image must still be explained for the clean image's class)."""
        if not any(target.uses_predicted_class for target in targets):
            return list(targets)  # also for models whose output is not class scores
        classes = self.predicted.repeat(repeats)
        return [target.with_classes(classes) for target in targets]


@functools.cache
def _option_names(compute: Any) -> tuple[str, ...]:
    return tuple(inspect.signature(compute).parameters)[2:]


def _check_options(method: str, compute: Any, options: dict[str, Any]) -> None:
    if not options:
        return
    parameters = _option_names(compute)
    unknown = sorted(set(options) - set(parameters))
    if unknown:
        valid = ", ".join(parameters) if parameters else "none"
        raise TypeError(f"method {method!r} has no option {unknown[0]!r}; its options are: {valid}")
