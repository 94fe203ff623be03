"""``nbs.Explorer``: the live widget. Traits and message translation only; the numbers come from
:class:`nbsaliency.explore.ExplorerBackend`. The protocol is described once, in :mod:`nbsaliency.protocol`."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import anywidget
import traitlets

from ..errors import plain_words, report_unexpected
from . import protocol
from .backend import ExplorerBackend, Result, Selection
from .figure import explorer_figure, figure_png
from .optimization import OptimiseJobs  # optimisation panel
from .patches import IndexSpec, IndexState, PatchJobs  # top-activating patches

_STATIC = Path(__file__).parent.parent / "static"


class Explorer(anywidget.AnyWidget):
    """Explore what ``model`` looks at in ``images``: attribution maps, activation maps and predictions,
    with linked Image / Layer / Channel / Neuron / Method / Target controls.

    ``images``: an ``(N, C, H, W)`` tensor of model inputs, or any sequence that ``preprocess`` turns into
    ``(C, H, W)`` tensors. ``labels``: class names.

    Top-activating patches (Zeiler & Fergus 2014): the widget shows the nine strongest units of the selected
    channel over ``dataset`` (an ``(N, C, H, W)`` tensor, a sequence of ``(C, H, W)`` tensors, a torch Dataset
    or an unshuffled DataLoader of model inputs; None: ``images`` themselves), from a patch index it builds in
    the background when it is made (progress bar and Cancel in the widget). ``patch_index``: a ready
    :class:`~nbsaliency.patches.PatchIndex` of ``dataset``, or a path where the index is saved (reused while
    model, dataset and settings are unchanged, rebuilt otherwise). Clicking a patch opens its image with that
    unit selected.
    """

    _esm = _STATIC / "widget.js"
    _css = _STATIC / "widget.css"

    image_index = traitlets.Int(0).tag(sync=True)
    layer = traitlets.Unicode("").tag(sync=True)
    channel = traitlets.Int(0).tag(sync=True)
    position = traitlets.List(traitlets.Int(), default_value=[]).tag(sync=True)
    method = traitlets.Unicode("gradient").tag(sync=True)
    target = traitlets.Unicode("logit").tag(sync=True)
    target_class = traitlets.Int(-1).tag(sync=True)

    colormap = traitlets.Unicode("inferno").tag(sync=True)
    opacity = traitlets.Float(0.5).tag(sync=True)
    signed = traitlets.Bool(False).tag(sync=True)
    clip_percentile = traitlets.Float(99.5).tag(sync=True)

    layers = traitlets.List().tag(sync=True)
    methods = traitlets.List().tag(sync=True)
    labels = traitlets.List().tag(sync=True)
    n_images = traitlets.Int(0).tag(sync=True)
    busy = traitlets.Bool(False).tag(sync=True)
    error = traitlets.Unicode("").tag(sync=True)
    # -- top-activating patches --
    index_status = traitlets.Unicode("none").tag(sync=True)
    index_progress = traitlets.List(traitlets.Int(), default_value=[0, -1]).tag(sync=True)
    index_message = traitlets.Unicode("").tag(sync=True)
    # -- end top-activating patches --

    def __init__(self, model: Any, images: Any, labels: Sequence[str] | None = None, dataset: Any = None,
                 preprocess: Callable[[Any], Any] | None = None, patch_index: IndexSpec = None, **kwargs: Any):
        self._backend = ExplorerBackend(model, images, labels=labels, preprocess=preprocess)
        self._seq = 0
        self._applying = False
        self._traits_lock = threading.RLock()  # the patch worker reports the index's state from its thread
        self._result: Result | None = None
        selection = self._backend.default_selection()
        super().__init__(
            layers=[{"name": n, "shape": list(s), "type": t} for n, s, t in self._backend.layers],
            methods=[{"name": n, "label": label, "signed": rgb} for n, label, rgb in self._backend.methods],
            labels=self._backend.labels,
            n_images=len(self._backend.inputs),
            **{**self._selection_traits(selection), **kwargs},
        )
        # -- optimisation panel: background jobs, frames sent from their thread (optimise_jobs.py) --
        self._jobs = OptimiseJobs(self._backend, lambda content, buffers: self.send(content, buffers))
        # -- end optimisation panel --
        # -- top-activating patches: index built and grids projected in a worker thread (patch_jobs.py) --
        self._patches = PatchJobs(self._backend, lambda content, buffers: self.send(content, buffers),
                                  self._on_index_state, dataset=dataset, index=patch_index)
        # -- end top-activating patches --
        self.on_msg(self._on_message)
        self.observe(self._on_selection_trait, names=list(protocol.SELECTION_TRAITS))
        self._compute(self.selection, request_id=None)

    # -- the selection ----------------------------------------------------------------------------------
    @property
    def selection(self) -> Selection:
        """The whole current selection."""
        return Selection(image_index=self.image_index, layer=self.layer, channel=self.channel,
                         position=tuple(self.position), method=self.method, target=self.target,
                         target_class=self.target_class)

    @staticmethod
    def _selection_traits(selection: Selection) -> dict[str, Any]:
        fields = dataclasses.asdict(selection)
        fields["position"] = list(selection.position)
        return fields

    def _on_selection_trait(self, change: dict[str, Any]) -> None:
        if not self._applying:
            self._compute(self.selection, request_id=None)

    def _on_message(self, widget: Any, content: Any, buffers: Any) -> None:
        # -- optimisation panel --
        if isinstance(content, dict) and content.get("kind") in (protocol.MSG_OPTIMISE, protocol.MSG_OPTIMISE_CANCEL):
            self._jobs.handle(content, self.selection)
            return
        # -- end optimisation panel --
        # -- top-activating patches --
        if isinstance(content, dict) and content.get("kind") == protocol.MSG_PATCH_OPEN:
            self._open_patch(content)
            return
        if isinstance(content, dict) and content.get("kind") in (protocol.MSG_PATCHES, protocol.MSG_INDEX_CANCEL,
                                                                 protocol.MSG_INDEX_BUILD):
            self._patches.handle(content)
            return
        # -- end top-activating patches --
        if not isinstance(content, dict) or content.get("kind") != protocol.MSG_SELECT:
            return
        request_id = content.get("id")
        try:
            selection = Selection.parse(content.get("selection") or {}, self.selection)
        except Exception as error:  # malformed request: answer it, keep the state
            self._send_error(request_id, error)
            return
        self._compute(selection, request_id)

    # -- computing and answering --------------------------------------------------------------------------
    def _compute(self, selection: Selection, request_id: Any) -> None:
        self.busy = True
        try:
            result = self._backend.compute(selection)
        except Exception as error:
            self._send_error(request_id, error)
            return
        finally:
            self.busy = False
        self._result = result
        self._applying = True
        try:
            with self._traits_lock, self.hold_sync():
                for name, value in self._selection_traits(result.selection).items():
                    setattr(self, name, value)
                self.error = ""
        finally:
            self._applying = False
        self._send_result(request_id, result)

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _send_result(self, request_id: Any, result: Result) -> None:
        content = {
            "kind": protocol.MSG_RESULT, "id": request_id, "seq": self._next_seq(), "error": "",
            "image_index": result.selection.image_index,
            "image": {"shape": list(result.image_rgba.shape)},
            "attribution": {"shape": list(result.attribution.shape), "signed": result.rgb_view},
            "activations": {"shape": list(result.activations.shape), "layer": result.selection.layer},
            "predictions": [dataclasses.asdict(p) for p in result.predictions],
            "selection": self._selection_traits(result.selection),
        }
        buffers = [result.image_rgba.tobytes(), result.attribution.astype("<f4").tobytes(),
                   result.activations.astype("<f4").tobytes()]
        self.send(content, buffers)

    def _send_error(self, request_id: Any, error: Exception) -> None:
        message = plain_words(error)
        report_unexpected(error)
        self.error = message
        content = {
            "kind": protocol.MSG_RESULT, "id": request_id, "seq": self._next_seq(), "error": message,
            "image_index": self.image_index, "image": {"shape": [0, 0, 4]}, "attribution": None,
            "activations": None, "predictions": [], "selection": self._selection_traits(self.selection),
        }
        self.send(content, [b"", b"", b""])

    # -- top-activating patches --
    def _on_index_state(self, state: IndexState) -> None:
        # From the worker thread: no hold_sync here (it is one flag per widget, and would collect the kernel
        # thread's own trait writes and could lose them); the lock keeps these out of _compute's hold_sync.
        # The status goes last, so the view sees a new status with its progress and message already set.
        with self._traits_lock:
            self.index_progress = [state.done, state.total]
            self.index_message = state.message
            self.index_status = state.status

    def _open_patch(self, content: dict[str, Any]) -> None:
        try:
            image_index, layer, channel, position = self._patches.open(content)
        except Exception as error:
            self._send_error(None, error)
            return
        with self._traits_lock:
            self.n_images = len(self._backend.inputs)
        self._compute(dataclasses.replace(self.selection, image_index=image_index, layer=layer, channel=channel,
                                          position=position, target="neuron"), request_id=None)

    # -- end top-activating patches --
    # -- optimisation panel and top-activating patches --
    def close(self) -> None:
        """Close the widget; a running optimisation and an index being built are cancelled first."""
        for jobs in (getattr(self, "_jobs", None), getattr(self, "_patches", None)):
            if jobs is not None:
                jobs.close()
        super().close()

    # -- end optimisation panel and top-activating patches --
    # -- static output ----------------------------------------------------------------------------------
    def figure(self):
        """A matplotlib Figure of the current view (same display settings as the widget)."""
        if self._result is None:
            raise RuntimeError(f"nothing to draw yet: {self.error or 'no result computed'}")
        return explorer_figure(self._result, colormap=self.colormap, opacity=self.opacity, signed=self.signed,
                               clip=self.clip_percentile)

    def _repr_mimebundle_(self, **kwargs: Any):
        bundle = super()._repr_mimebundle_(**kwargs)
        if self._result is None:
            return bundle
        data, metadata = bundle if isinstance(bundle, tuple) else (bundle, {})
        import base64

        data = {**data, "image/png": base64.b64encode(figure_png(self.figure())).decode("ascii")}
        return data, metadata
