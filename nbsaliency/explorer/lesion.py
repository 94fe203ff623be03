"""The lesion panel: the selected channel (or the selected neuron alone) switched off, and the predictions before
and after (a lesion study, the lecture's Part 3; :func:`nbsaliency.lesion`).

The view's counterpart is ``js/src/panels/lesion/``. While its "Lesion" toggle is on, the view sends MSG_LESION
for every painted selection; this module answers with the current image's top classes without and with the
channel removed (zeroed), or only the selected neuron when the selection has a position. Two forward passes of
one image, on the comm handler like a selection; the engine's hook is removed afterwards, so the user's model is
unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..errors import NbsaliencyError, plain_words, report_unexpected
from ..lesion import LesionEffect, lesion
from . import protocol
from .answers import Counter, request_id
from .backend import ExplorerBackend, checked_position, differentiable
from .channels import channel_axis
from .panel import Panel

TOP_CLASSES = 5


class LesionRequestError(NbsaliencyError, ValueError):
    """A lesion request with malformed fields."""


def _field(content: dict[str, Any], name: str, kind: type) -> Any:
    value = content.get(name)
    if isinstance(value, bool) or not isinstance(value, kind) or (kind is int and value < 0):
        expected = "a whole number >= 0" if kind is int else "a string"
        raise LesionRequestError(f"{name} must be {expected}; got {value!r}")
    return value


def lesion_effect(backend: ExplorerBackend, image_index: int, layer: str, channel: int,
                  position: Sequence[int] = ()) -> LesionEffect:
    """Class scores of input ``image_index`` with and without ``channel`` of ``layer`` zeroed, or only its unit at
    grid ``position`` ``(y, x)`` when given (a single-neuron lesion; the layer's layout places it). The engine's
    clear errors for a wrong image, layer, channel or position."""
    position = checked_position(position)  # the selection's own rule: [y, x] or []
    axis = channel_axis(backend, layer, image_index)
    x = backend.inputs[image_index][None]
    if position:
        unit = backend.session(image_index).layout(layer).unit_index(channel, *position)
        study = lesion(backend.model, layer, units=[unit], channel_axis=axis)
    else:
        study = lesion(backend.model, layer, channel, channel_axis=axis)
    with differentiable():
        return study.effect(x.detach())


def predictions(effect: LesionEffect, labels: list[str], k: int = TOP_CLASSES) -> list[protocol.LesionPrediction]:
    """The union of the top ``k`` classes before and after, ordered by the clean probability, with both
    probabilities and logits."""
    before, after = effect.clean_probabilities[0], effect.probabilities[0]
    k = min(k, before.shape[0])
    classes = list(dict.fromkeys([*before.topk(k).indices.tolist(), *after.topk(k).indices.tolist()]))
    classes.sort(key=lambda c: -float(before[c]))
    return [protocol.LesionPrediction(index=c, label=labels[c] if c < len(labels) else str(c),
                                      before=float(before[c]), after=float(after[c]),
                                      logit_change=float(effect.score_change[0, c])) for c in classes]


class LesionPanel(Panel):
    """Answers MSG_LESION with MSG_LESION_RESULT (one answer per request, ``seq`` increasing)."""

    name = "lesion"
    kinds = (protocol.MSG_LESION,)

    def __init__(self, host: Any, **options: Any):
        super().__init__(host)
        self._seq = Counter()

    def handle(self, content: dict[str, Any]) -> None:
        layer, channel, image_index = content.get("layer"), content.get("channel"), content.get("image_index")
        position = content.get("position", [])
        classes: list[protocol.LesionPrediction] = []
        changed, error = False, ""
        try:
            layer = _field(content, "layer", str)
            channel = _field(content, "channel", int)
            image_index = _field(content, "image_index", int)
            effect = lesion_effect(self.host.backend, image_index, layer, channel, position)
            classes = predictions(effect, self.host.backend.labels)
            changed = bool(effect.prediction_changed[0])
        except Exception as failure:
            report_unexpected(failure)
            error = plain_words(failure)
        self.host.send(protocol.LesionResultMessage(
            kind="lesion_result", id=request_id(content), seq=self._seq.next(),
            image_index=image_index if isinstance(image_index, int) else -1,
            layer=layer if isinstance(layer, str) else "", channel=channel if isinstance(channel, int) else -1,
            position=list(position) if isinstance(position, list) else [],
            prediction_changed=changed, classes=classes, error=error), [])
