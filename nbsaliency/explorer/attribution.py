"""The attribution panel: a selection request in, the input, attribution and activation maps out.

The view's counterpart is ``js/src/panels/attribution/``. The widget computes (``Host.select``); this module
parses MSG_SELECT and builds the MSG_RESULT messages (:class:`~nbsaliency.explorer.protocol.ResultMessage`)
with their four buffers.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from . import protocol
from .backend import Result, Selection
from .display import activation_codes
from .panel import Panel


def selection_fields(selection: Selection) -> protocol.Selection:
    """A :class:`Selection` as the protocol's selection fields (``position`` a list)."""
    return protocol.Selection(image_index=selection.image_index, layer=selection.layer, channel=selection.channel,
                              position=list(selection.position), method=selection.method,
                              target=selection.target, target_class=selection.target_class)  # type: ignore[typeddict-item]


def result_message(result: Result, request_id: int | None, seq: int) -> tuple[protocol.ResultMessage, list[bytes]]:
    """MSG_RESULT for ``result`` and its buffers [image, attribution, activation codes, activation maxima]."""
    content = protocol.ResultMessage(
        kind="result", id=request_id, seq=seq, error="", cancelled=False, notes=list(result.notes),
        method_layer=result.method_layer, image_index=result.selection.image_index,
        image=protocol.ImageInfo(shape=list(result.image_rgba.shape)),
        attribution=protocol.AttributionInfo(shape=list(result.attribution.shape), rgb_view=result.rgb_view),
        activations=protocol.ActivationsInfo(shape=list(result.activations.shape), layer=result.selection.layer),
        predictions=[protocol.Prediction(**dataclasses.asdict(p)) for p in result.predictions],
        selection=selection_fields(result.selection),
    )
    codes, maxima = activation_codes(result.activations)
    buffers = [result.image_rgba.tobytes(), result.attribution.astype("<f4").tobytes(), codes.tobytes(),
               maxima.astype("<f4").tobytes()]
    return content, buffers


def error_message(message: str, request_id: int | None, seq: int, selection: Selection,
                  cancelled: bool = False) -> tuple[protocol.ResultMessage, list[bytes]]:
    """MSG_RESULT that says what went wrong (no arrays); ``selection`` is the widget's, unchanged."""
    content = protocol.ResultMessage(
        kind="result", id=request_id, seq=seq, error=message, cancelled=cancelled, notes=[], method_layer="",
        image_index=selection.image_index,
        image=protocol.ImageInfo(shape=[0, 0, 4]), attribution=None, activations=None, predictions=[],
        selection=selection_fields(selection),
    )
    return content, [b"", b"", b"", b""]


class AttributionPanel(Panel):
    """Answers MSG_SELECT: the request's fields over the widget's selection, computed by the host."""

    name = "attribution"
    kinds = (protocol.MSG_SELECT, protocol.MSG_ATTRIBUTION_CANCEL, protocol.MSG_ATTRIBUTION_REFINE)

    def handle(self, content: dict[str, Any]) -> None:
        request_id = content.get("id")
        if content["kind"] == protocol.MSG_ATTRIBUTION_CANCEL:
            self.host.cancel(request_id if isinstance(request_id, int) else None)
            return
        if content["kind"] == protocol.MSG_ATTRIBUTION_REFINE:
            method = content.get("method")
            if not isinstance(method, str):
                self.host.show_error(request_id, ValueError(f"refine needs a method name; got {method!r}"))
                return
            self.host.backend.refined.add(method)
            self.host.select(self.host.selection, request_id)
            return
        try:
            selection = Selection.parse(content.get("selection") or {}, self.host.selection)
        except Exception as error:  # malformed request: answer it, keep the state
            self.host.show_error(request_id, error)
            return
        self.host.select(selection, request_id)
