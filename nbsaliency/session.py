"""A session: one forward pass per input, kept, answering many backward passes.

Because activations read their backward rule at backward time (:mod:`nbsaliency.rules`), switching method,
layer, channel or neuron costs one backward pass to the input on the retained graph: no new forward pass
and no weight gradients.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Collection, Mapping, Sequence
from typing import Any, Literal, NamedTuple

import torch
from torch import Tensor, nn

from .errors import NoGradientPathError, OptionError, UnsupportedActivationError, ZeroAttributionWarning
from .grad_mode import check_not_inference_mode, differentiable
from .layouts import Layout
from .lean_forward import bare_forward
from .methods import method_info
from .model_state import evaluation_mode
from .recording import ActivationUse, Recording, parse_overrides, record_forward
from .rules.backward_rules import BackwardRule, RuleSelector
from .targets import Target, as_target, class_scores
from .validation import as_image_batch


class Layer(NamedTuple):
    """A captured layer: its ``named_modules()`` name (``name#2`` for a module's second call; ``name[0]`` /
    ``name["key"]`` for the tensor parts of a tuple / list / dict output) and output shape."""

    name: str
    shape: tuple[int, ...]


TargetLike = Target | int | None
BatchedBackward = Literal["auto", "vectorised", "loop"]
_BATCHED_BACKWARDS = ("auto", "vectorised", "loop")
# On a CPU a vectorised backward of T targets cost more than T single passes on every realistic model measured by
# benchmarks/session_switch.py (which prints both strategies): ResNet-18 and VGG-16 at 224 px, and even the 64-px
# demo model (745 k activation elements: 2.2 s vs 1.3 s for twelve maps, median of nine alternated pairs). Only
# tiny graphs (below this many recorded activation elements) keep the vectorised pass, which saves per-pass overhead.
VECTORISED_CPU_LIMIT = 250_000


class Session:
    """Keep one forward pass of ``model`` on ``x`` and compute attributions from it.

    ``x`` is an ``(N, C, H, W)`` batch or one ``(C, H, W)`` image on the model's device and dtype.
    With ``strict=True``, DeconvNet / guided methods refuse models whose activations only have the
    generalised rule (GELU, SiLU, ...), instead of reporting it in :attr:`activation_rules`.
    ``layouts`` sets the layout of layers whose layout detection cannot know (:mod:`nbsaliency.layouts`):
    ``{"blocks.3": "tokens", "stage2": "channels_last", "enc": nbs.Layout.tokens(grid=(14, 14), prefix=1)}``.

    ``batched_backward`` chooses how a list of targets is differentiated: ``"vectorised"`` (one
    ``is_grads_batched`` backward pass), ``"loop"`` (one backward pass per target) or ``"auto"``: vectorised on
    accelerators and for small graphs on the CPU, a loop for large graphs on the CPU (there the vectorised pass
    costs more than it saves). Both give the same maps.

    Works inside ``torch.no_grad()`` (gradients are enabled for the session's own passes, the caller's mode is
    restored); raises :class:`~nbsaliency.errors.InferenceModeError` inside ``torch.inference_mode()``.

    ``lazy=True`` postpones the kept forward pass until something needs it (one-shot perturbation methods with
    a given class need none: they run their own passes).
    """

    def __init__(self, model: nn.Module, x: Tensor, *, strict: bool = False,
                 layouts: Mapping[str, Layout | str] | None = None,
                 batched_backward: BatchedBackward = "auto", lazy: bool = False):
        check_not_inference_mode()
        if batched_backward not in _BATCHED_BACKWARDS:
            raise OptionError(f"batched_backward must be one of {', '.join(map(repr, _BATCHED_BACKWARDS))}; "
                             f"got {batched_backward!r}")
        batch, self._single_image = as_image_batch(model, x)
        self.model = model
        self.strict = strict
        self.layout_overrides = parse_overrides(layouts)
        self.last_cam_layers: list[str] = []  # the layer each target of the last attribute call took Grad-CAM maps
        # from; [] when that call used none or raised
        self.batched_backward: BatchedBackward = batched_backward
        self._selector = RuleSelector()
        self._lock = threading.RLock()
        self.x = batch.detach().clone().requires_grad_(True)
        self._clean: Recording | None = None
        if not lazy:
            self._record_clean()

    def _record_clean(self) -> Recording:
        with self._lock:
            if self._clean is None:
                clean = self.record(self.x, rules=True)
                for layer in self.layout_overrides:
                    if layer not in clean.activations and not any(
                            name.split("#", 1)[0] == layer for name in clean.activations):
                        raise clean.unknown_layer(layer)
                self._clean = clean
                self._graph_elements = sum(a.numel() for a in clean.activations.values())
            return self._clean

    @property
    def _recording(self) -> Recording:
        return self._clean if self._clean is not None else self._record_clean()

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
    def has_kept_forward(self) -> bool:
        """Whether the kept forward pass has been made (a ``lazy`` session makes it on first need)."""
        return self._clean is not None

    @property
    def recording(self) -> Recording:
        return self._recording

    def activations(self, layer: str) -> Tensor:
        """The activation tensor of ``layer`` captured in the forward pass (detached)."""
        return self._recording.activation(layer).detach()

    def layout(self, layer: str) -> Layout:
        """How ``layer``'s output is laid out (channels-first / channels-last maps, tokens, flat) and how that was
        found; :class:`~nbsaliency.layouts.LayoutError` names the ``layouts=`` override when detection cannot
        tell."""
        return self._recording.layout(layer)

    def activation_maps(self, layer: str) -> Tensor:
        """``layer``'s activation as channels-first maps ``(N, C, h, w)`` whatever its layout (detached): a
        token block's maps are on its token grid (prefix tokens left out); flat layers give ``(N, D)``."""
        return self._recording.maps(layer).detach()

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
        if not isinstance(method, str):
            raise OptionError(f"method must be a method name (str), one of nbs.methods(); got {type(method).__name__}")
        info = method_info(method)
        if not isinstance(options.get("layer", ""), str | None):
            raise OptionError(f"{info.name}'s layer must be a layer name (str, see Session.layers) or None for the "
                              f"default; got {type(options['layer']).__name__}")
        batched = isinstance(target, list | tuple)
        targets = [as_target(t) for t in (target if batched else [target])]
        _check_options(info.name, info.options, options)
        self.last_cam_layers = []  # set again by a Grad-CAM call that succeeds
        with differentiable():
            try:
                maps = info.compute(self, targets, **options).detach()  # (T, N, C, H, W)
            except BaseException:
                self.last_cam_layers = []  # never the layer of a call that failed
                raise
        _warn_if_zero(maps, targets, info.name)
        if not batched:
            return maps[0, 0] if self._single_image else maps[0]
        return maps[:, 0] if self.x.shape[0] == 1 else maps

    def gradients(self, targets: Sequence[Target], rule: BackwardRule, wrt: Tensor | None = None,
                  recording: Recording | None = None, *, keep_graph: bool = True) -> Tensor:
        """Backward passes of each target under ``rule`` to ``wrt`` (default: the input): ``(T, *wrt.shape)``.

        ``recording`` defaults to this session's; methods that perturb the input pass their own, with
        ``keep_graph=False`` so that the last backward pass frees the graph as it goes (a lower memory peak).
        """
        recording = recording or self._recording
        wrt = self.x if wrt is None else wrt
        self._check_strict(rule, recording)
        with differentiable():
            values = [target.values(recording) for target in targets]
            for target, v in zip(targets, values, strict=True):
                if not v.requires_grad:
                    raise NoGradientPathError(
                        f"{target!r} does not depend on the input: it has no gradient to attribute")
            with self._lock, self._selector.use(rule):
                if len(values) > 1 and self._vectorise(wrt, recording):
                    return self._batched_gradients(targets, values, wrt, keep_graph)
                last = len(values) - 1
                return torch.stack([self._gradient(t, v, wrt, keep_graph or i < last)
                                    for i, (t, v) in enumerate(zip(targets, values, strict=True))])

    def _vectorise(self, wrt: Tensor, recording: Recording) -> bool:
        """Whether several targets get one vectorised backward pass (else one pass each): on the CPU only for a
        graph of at most :data:`VECTORISED_CPU_LIMIT` activation elements (a perturbed pass's graph is scaled
        from the clean one by the batch size; before any clean pass, 20 elements per input element stand in)."""
        if self.batched_backward != "auto":
            return self.batched_backward == "vectorised"
        if wrt.device.type != "cpu":
            return True
        if recording is self._clean:
            elements = self._graph_elements
        elif self._clean is not None:
            elements = self._graph_elements * wrt.shape[0] // self.x.shape[0]
        else:
            elements = 20 * wrt.numel()
        return elements <= VECTORISED_CPU_LIMIT

    def _gradient(self, target: Target, values: Tensor, wrt: Tensor, keep_graph: bool = True) -> Tensor:
        (grad,) = torch.autograd.grad(values.sum(), wrt, retain_graph=keep_graph, allow_unused=True)
        if grad is None:
            raise NoGradientPathError(f"{target!r} does not depend on the tensor it is differentiated against")
        return grad

    def _batched_gradients(self, targets: Sequence[Target], values: list[Tensor], wrt: Tensor,
                           keep_graph: bool = True) -> Tensor:
        """All targets in one vectorised backward pass (``is_grads_batched``): the per-pass overhead is paid
        once, and on GPUs the T passes run as one batch."""
        stacked = torch.stack(values)  # (T, N)
        one_hot = torch.eye(len(values), dtype=stacked.dtype, device=stacked.device)
        grad_outputs = one_hot[:, :, None].expand(-1, -1, stacked.shape[1])
        (grads,) = torch.autograd.grad(stacked, wrt, grad_outputs, retain_graph=keep_graph, allow_unused=True,
                                       is_grads_batched=True)
        if grads is None:
            raise NoGradientPathError(f"{targets!r} do not depend on the tensor they are differentiated against")
        return grads

    def _check_strict(self, rule: BackwardRule, recording: Recording) -> None:
        if not self.strict or rule.is_gradient:
            return
        generalised = [use for use in recording.activation_uses if use.treatment == "generalised"]
        opaque = [use for use in recording.activation_uses if use.treatment == "opaque (TorchScript)"]
        if not generalised and not opaque:
            return
        advice = []
        if generalised:
            advice.append("strict=False applies the generalised rule to " + _listed(generalised)
                          + " (documented in nbsaliency.rules)")
        if opaque:
            advice.append(f"the {rule.name} rule cannot reach inside a TorchScript module, so with strict=False "
                          f"the plain gradient passes through {_listed(opaque)} (no rule for the activations in "
                          "it); for the exact rule, pass the module un-scripted (its Python nn.Module)")
        raise UnsupportedActivationError(
            f"strict mode: the {rule.name} rule is exact only for ReLU, but this model uses "
            f"{_listed(generalised + opaque)}; " + "; ".join(advice)
        )

    # -- new forward passes, for methods that perturb the input -----------------------------------------
    def record(self, x: Tensor, *, rules: bool, keep: Sequence[str] | None = None,
               keep_before_edit: Collection[str] = ()) -> Recording:
        """A fresh forward pass of the session's model on ``x`` (eval mode, the model's flags restored).

        With ``rules=True`` gradients are recorded and activations follow the session's selected rule;
        with ``rules=False`` it runs under ``torch.no_grad``. ``keep``: capture only these layers.
        ``keep_before_edit``: layers whose captured output must stay as produced, with gradients, although the
        model edits it in place later (Grad-CAM's).
        """
        if rules:
            check_not_inference_mode()
        with evaluation_mode(self.model), torch.set_grad_enabled(rules):
            recording = record_forward(self.model, x, self._selector if rules else None, keep=keep,
                                       layouts=self.layout_overrides, keep_before_edit=keep_before_edit)
        first = self._clean
        if first is not None and tuple(x.shape[1:]) == tuple(self.x.shape[1:]):
            recording.use_layouts_of(first)  # same image size: the layouts found on the session's own pass
        return recording

    def record_for(self, x: Tensor, targets: Sequence[Target], rule: BackwardRule | None) -> Recording:
        """The leanest forward pass on ``x`` that ``targets`` can be evaluated on (perturbation methods).

        ``rule=None``: values only, under ``torch.no_grad``. Only the layers the targets read are captured;
        class-score targets under the plain gradient (or no rule) get the bare model call: no hooks, no
        captures, no rerouted activations.
        """
        layers = tuple(dict.fromkeys(layer for target in targets for layer in target.layers))
        bare = not layers and (rule is None or rule.is_gradient)
        if not bare:
            return self.record(x, rules=rule is not None, keep=layers)
        if rule is not None:
            check_not_inference_mode()
        with evaluation_mode(self.model), torch.set_grad_enabled(rule is not None):
            return bare_forward(self.model, x)

    def fixed_targets(self, targets: Sequence[Target], repeats: int = 1) -> list[Target]:
        """Targets for ``repeats`` copies of the batch stacked along the batch axis: classes given per image
        are repeated per copy, and "the predicted class" is pinned to the clean input's prediction (a perturbed
        image must still be explained for the clean image's class)."""
        for target in targets:
            target.check_batch(self.x.shape[0])
        copies = [target.for_copies(repeats) for target in targets]
        if not any(target.uses_predicted_class for target in copies):
            return copies  # also for models whose output is not class scores
        classes = self.predicted.repeat(repeats)
        return [target.with_classes(classes) for target in copies]


def _warn_if_zero(maps: Tensor, targets: Sequence[Target], method: str) -> None:
    """Warn when a (target, image) map is exactly zero everywhere: a blank picture is not "nothing matters"."""
    zero = ~maps.flatten(2).any(dim=2)  # (T, N)
    if not bool(zero.any()):
        return
    blank = [(targets[t], i) for t, i in zero.nonzero().tolist()]
    described = "; ".join(f"{target!r} on image {i}" for target, i in blank[:5]) + (" ..." if len(blank) > 5 else "")
    warnings.warn(
        f"the {method} map is exactly zero everywhere for {described}: the target does not change with the input "
        "under this method (e.g. a zero-initialised classifier head, a unit that never fires, or Grad-CAM's ReLU "
        "removing only negative evidence). A blank map does not mean that nothing matters.",
        ZeroAttributionWarning, stacklevel=3,
    )


def _check_options(method: str, valid: tuple[str, ...], options: dict[str, Any]) -> None:
    """Refuse an option the method does not take (``valid``: the registry's options, read once per method)."""
    unknown = sorted(set(options) - set(valid))
    if unknown:
        listed = ", ".join(valid) if valid else "none"
        raise OptionError(f"method {method!r} has no option {unknown[0]!r}; its options are: {listed}")


def _listed(uses: Sequence[ActivationUse]) -> str:
    """``"GELU in 'block.act', TorchScript module in 'scripted'"``."""
    return ", ".join(f"{use.function} in {use.layer or 'the model'!r}" for use in uses)
