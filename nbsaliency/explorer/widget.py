"""``nbs.Explorer``: the live widget, and the only module that imports anywidget / traitlets. Traits and message
dispatch only: the numbers come from :class:`~nbsaliency.explorer.backend.ExplorerBackend`, the messages are
answered by the panels (:mod:`nbsaliency.explorer.panels`), looked up by kind. The protocol is written once, in
:mod:`nbsaliency.explorer.protocol`."""

from __future__ import annotations

import atexit
import base64
import difflib
import threading
import weakref
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import anywidget
import traitlets

from ..errors import Cancelled, plain_words, report_unexpected
from . import protocol
from .attribution import error_message, result_message, selection_fields
from .backend import ExplorerBackend, Result, Selection
from .background import Background, Job
from .figure import explorer_figure, figure_png
from .layers import layer_infos
from .panel import Panel, message_table
from .panels import PANELS
from .patches import IndexSpec

_STATIC = Path(__file__).parent.parent / "static"
_TRAIT_TYPES: dict[type, Callable[[Any], traitlets.TraitType]] = {
    str: traitlets.Unicode, bool: traitlets.Bool, int: traitlets.Int, float: traitlets.Float, list: traitlets.List,
}


def _panel_traits(panels: Sequence[type[Panel]]) -> type[traitlets.HasTraits]:
    """A mixin with the synced traits the panels declare (name -> default; the type follows the default)."""
    traits = {name: _TRAIT_TYPES[type(default)](default).tag(sync=True)
              for panel in panels for name, default in panel.traits.items()}
    return type("PanelTraits", (traitlets.HasTraits,), traits)


_LIVE: weakref.WeakSet[Explorer] = weakref.WeakSet()


@atexit.register
def _stop_background_work() -> None:
    """Interpreter exit with a live Explorer: stop and join every panel's worker first, so no thread is still
    inside torch while the interpreter tears down (which aborts the process)."""
    for explorer in list(_LIVE):
        explorer._close_panels()


class Explorer(_panel_traits(PANELS), anywidget.AnyWidget):
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
    unit selected. ``client``: a ``dask.distributed.Client``; the index is then built on its cluster
    (:mod:`nbsaliency.patches.distributed`), with the same progress bar and Cancel.

    Faithful display: the input is shown as the user's photo by undoing the model's normalisation, taken from
    ``normalization=`` (:class:`~nbsaliency.Normalization` or a ``(mean, std)`` pair), ``weights=`` (torchvision
    weights, duck-typed: ``weights.transforms()`` gives the preprocessing, used when ``images`` are not tensors,
    and its mean / std; ``weights.meta["categories"]`` the labels; nothing is downloaded), ``data_config=`` (a
    timm data config with ``"mean"`` / ``"std"``) or a ``preprocess`` pipeline containing a Normalize; or pass
    ``display_images=`` (one per image, ``(C, H, W)`` float in [0, 1] or ``(H, W, C)`` uint8). Without any, the
    display rescales and says "display rescaled: normalisation unknown".

    Slow methods (SmoothGrad, integrated gradients, occlusion) asked for from the view run in a background thread
    with progress and Cancel (latest wins); on models of 5 M parameters or more they first run as a cheaper
    preview named under the map, refined on demand. Changes made from Python compute in the cell.
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
    request_id = traitlets.Int(0).tag(sync=True)  # set by the view with the selection it asks for
    # PNG of the view as last displayed or changed from Python: saved with the widget state, so a view without a
    # kernel (nbconvert's HTML, a reopened notebook) draws it until a live result arrives
    snapshot = traitlets.Bytes(b"").tag(sync=True)

    def __init__(self, model: Any, images: Any, labels: Sequence[str] | None = None, dataset: Any = None,
                 preprocess: Callable[[Any], Any] | None = None, patch_index: IndexSpec = None, client: Any = None,
                 *, normalization: Any = None, weights: Any = None, data_config: Any = None,
                 display_images: Sequence[Any] | None = None, **kwargs: Any):
        unknown = sorted(set(kwargs) - set(self.class_trait_names(sync=True)))
        if unknown:  # traitlets would only warn, hidden by default: a typo must not pass silently
            close = difflib.get_close_matches(unknown[0], self.class_trait_names(sync=True), n=3, cutoff=0.6)
            hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
            raise TypeError(f"Explorer() got an unexpected keyword argument {unknown[0]!r}{hint} (besides its "
                            "parameters, the initial selection and display settings can be given by trait name: "
                            "layer=, channel=, method=, target=, colormap=, ...)")
        self._backend = ExplorerBackend(model, images, labels=labels, preprocess=preprocess,
                                        normalization=normalization, weights=weights, data_config=data_config,
                                        display_images=display_images)
        self._background = Background()
        self._seq = 0
        self._seq_lock = threading.Lock()
        self._applying = False
        self._traits_lock = threading.RLock()  # panels' workers set traits from their threads
        self._result: Result | None = None
        self._panels: dict[str, Panel] = {}
        selection = self._backend.default_selection()
        super().__init__(
            layers=layer_infos(self._backend.model, self._backend.layers,
                               lambda name: self._backend.session(0).activation_maps(name).shape),
            methods=[protocol.MethodInfo(name=n, label=label, rgb_view=rgb) for n, label, rgb in self._backend.methods],
            labels=self._backend.labels,
            n_images=len(self._backend.inputs),
            **{**selection_fields(selection), **kwargs},
        )
        options = {"dataset": dataset, "patch_index": patch_index, "client": client}
        for panel_type in PANELS:
            panel = panel_type(self, **{name: options[name] for name in panel_type.options})
            self._panels[panel.name] = panel
        self._handlers = message_table(list(self._panels.values()))
        _LIVE.add(self)
        self.on_msg(self._on_message)
        self.observe(self._on_selection_trait, names=list(protocol.SELECTION_TRAITS))
        self.select(self.selection)

    # -- what panels see (nbsaliency.explorer.panel.Host) ---------------------------------------------------
    @property
    def backend(self) -> ExplorerBackend:
        return self._backend

    @property
    def selection(self) -> Selection:
        """The whole current selection."""
        return Selection(image_index=self.image_index, layer=self.layer, channel=self.channel,
                         position=tuple(self.position), method=self.method, target=self.target,
                         target_class=self.target_class)

    def set_traits(self, values: Mapping[str, Any]) -> None:
        # From workers: no hold_sync here (it is one flag per widget, and would collect the kernel thread's own
        # trait writes and could lose them); the lock keeps these out of select()'s hold_sync.
        with self._traits_lock:
            for name, value in values.items():
                setattr(self, name, value)

    def select(self, selection: Selection, request_id: int | None = None, otherwise: Selection | None = None) -> bool:
        """Compute ``selection``; on success it becomes the widget's selection and the result is sent (True).
        Otherwise the selection is set back to ``otherwise`` (if given) and an error result is sent (False).
        A running background computation is cancelled first (latest wins). A slow method asked for by the view
        (``request_id`` given) runs in the background: True means started, the answer follows."""
        self._background.stop()
        if request_id is not None and self._backend.is_slow(selection.method):
            previous = self._result.selection if self._result is not None else None
            self._background.start(request_id, lambda job: self._finish(selection, request_id, otherwise, previous,
                                                                         job))
            return True
        if request_id is None:  # the view shows its own requests as busy: no extra message before each answer
            self.busy = True
        return self._finish(selection, request_id, otherwise, self._result.selection if self._result else None)

    def _finish(self, selection: Selection, request_id: int | None, otherwise: Selection | None,
                previous: Selection | None, job: Job | None = None) -> bool:
        progress = None
        if job is not None:
            def progress(done: int, total: int) -> None:
                self.send(protocol.AttributionProgressMessage(kind="attribution_progress", id=request_id,
                                                              method=selection.method, done=done, total=total), [])
        try:
            result = self._backend.compute(selection, previous, progress=progress,
                                           cancel=job.cancel if job is not None else None)
        except Exception as error:
            if job is not None and job.superseded:  # a newer request owns the state now: only answer this one
                self.send(*error_message(plain_words(error), request_id, self._next_seq(), selection, cancelled=True))
                return False
            self.busy = False
            if otherwise is not None:
                self._restore(otherwise)
            self.show_error(request_id, error, cancelled=isinstance(error, Cancelled))
            return False
        if job is not None and job.superseded:
            return False
        self._result = result
        self._applying = True
        try:
            with self._traits_lock, self.hold_sync():
                for name, value in selection_fields(result.selection).items():
                    setattr(self, name, value)
                self.error = ""
                self.busy = False
        finally:
            self._applying = False
        self.send(*result_message(result, request_id, self._next_seq()))
        if request_id is None and self.snapshot:  # changed from Python (a cell) after it was shown: keep it current
            self.snapshot = figure_png(self.figure())
        return True

    def cancel(self, request_id: int | None = None) -> None:
        """Stop the background computation (the one answering ``request_id`` when given); it is answered with a
        cancelled result and the selection goes back to the last shown one."""
        self._background.cancel(request_id)

    def show_error(self, request_id: int | None, error: BaseException, cancelled: bool = False) -> None:
        message = plain_words(error)
        if not cancelled:  # a cancel leaves the last shown result standing: no error state
            report_unexpected(error)
            self.error = message
        self.send(*error_message(message, request_id, self._next_seq(), self.selection, cancelled=cancelled))

    # -- messages ---------------------------------------------------------------------------------------------
    def _next_seq(self) -> int:
        with self._seq_lock:
            self._seq += 1
            return self._seq

    def _on_selection_trait(self, change: dict[str, Any]) -> None:
        # Set from Python: computed at once; an impossible value is set back to the last shown selection, as the
        # view's are (``error`` says why), so the next assignment is not refused for this one's sake.
        if not self._applying:
            self.select(self.selection, otherwise=self._result.selection if self._result is not None else None)

    def set_state(self, sync_data: dict[str, Any]) -> None:
        """A trait update from the view. Selection fields and ``request_id`` that come together are one request:
        computed once (not once per field), answered with that id; an impossible selection is set back."""
        if protocol.REQUEST_ID_TRAIT not in sync_data and not set(sync_data) & set(protocol.SELECTION_TRAITS):
            super().set_state(sync_data)
            return
        before = self._result.selection if self._background.running and self._result else self.selection
        self._applying = True
        try:
            super().set_state(sync_data)
        except Exception as error:  # a value of the wrong type: traitlets refused it
            self._applying = False
            self._restore(before)
            self.show_error(sync_data.get(protocol.REQUEST_ID_TRAIT), error)
            return
        finally:
            self._applying = False
        self.select(self.selection, sync_data.get(protocol.REQUEST_ID_TRAIT), otherwise=before)

    def _restore(self, selection: Selection) -> None:
        self._applying = True
        try:
            with self._traits_lock, self.hold_sync():
                for name, value in selection_fields(selection).items():
                    setattr(self, name, value)
        finally:
            self._applying = False

    def _on_message(self, widget: Any, content: Any, buffers: Any) -> None:
        panel = self._handlers.get(content.get("kind")) if isinstance(content, dict) else None
        if panel is not None:
            panel.handle(content)

    def _close_panels(self) -> None:
        if hasattr(self, "_background"):
            self._background.stop()
        for panel in getattr(self, "_panels", {}).values():  # also for an explorer whose __init__ raised
            panel.close()

    def close(self) -> None:
        """Close the widget; every panel's background work (an optimization, an index build) stops first."""
        self._close_panels()
        _LIVE.discard(self)
        super().close()

    # -- static output ----------------------------------------------------------------------------------
    def figure(self):
        """A matplotlib Figure of the current view (same display settings as the widget). Raises RuntimeError
        when the last selection could not be computed (never the last good result under a new title)."""
        if self.error:
            raise RuntimeError(f"the current selection could not be computed, so there is no figure: {self.error}")
        if self._result is None:
            raise RuntimeError(f"nothing to draw yet: {self.error or 'no result computed'}")
        return explorer_figure(self._result, colormap=self.colormap, opacity=self.opacity, signed=self.signed,
                               clip=self.clip_percentile)

    def _repr_mimebundle_(self, **kwargs: Any):
        bundle = super()._repr_mimebundle_(**kwargs)
        if self._result is None or self.error:
            return bundle
        data, metadata = bundle if isinstance(bundle, tuple) else (bundle, {})
        self.snapshot = figure_png(self.figure())
        data = {**data, "image/png": base64.b64encode(self.snapshot).decode("ascii")}
        return data, metadata
