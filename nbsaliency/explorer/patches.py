"""Top-activating patches of the Explorer: the patch index built in the background, the top-9 grid of the
selected ``(layer, channel)`` answered off the comm handler, and a patch's image opened as the explorer's input.

No widget imports; the twin of :mod:`nbsaliency.explorer.optimization`: :class:`PatchJobs` answers the patch
messages of the protocol (:mod:`nbsaliency.explorer.protocol`) by calling ``send(content, buffers)``, and
reports the index's state through ``on_status(IndexState)``; :class:`PatchesPanel` plugs it into the widget.

One worker thread does the long work, one job at a time: first the index (:meth:`PatchIndex.build
<nbsaliency.patches.PatchIndex.build>` or ``load_or_build`` for a path; progress every ``PROGRESS_EVERY_S``,
cancellable), then the grids (Zeiler & Fergus 2014, Fig. 2: :func:`~nbsaliency.patches.top_patches` with
receptive-field crops and projections). It works on a *shadow* of the model (:func:`~nbsaliency.model_state.
shadow_model`: the same weights, its own modules, hooks and flags), so the kernel keeps answering selections
with the user's model meanwhile and never changes it. Grids are cached per ``(layer, channel, projection)``; a
newer request replaces one still waiting (the replaced one is answered ``superseded``), and every answer carries
an increasing ``seq`` so a view never paints an older grid over a newer one.

Methods that cannot project a single unit in one backward pass (Grad-CAM, SmoothGrad, occlusion, ...) fall back
to DeconvNet, the paper's own projection, and the answer says so in ``note``.
"""

from __future__ import annotations

import threading
import time
import traceback
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import NbsaliencyError, TargetIndexError, plain_words, report_unexpected
from ..maps import signed_rgb
from ..methods.registry import single_pass_methods
from ..model_state import shadow_model
from ..patches import ImageSource, IndexBuildCancelled, PatchIndex, top_patches
from ..receptive_field import ReceptiveFields
from . import protocol
from .backend import ExplorerBackend, display_image
from .panel import Panel

Send = Callable[[dict[str, Any], list[bytes]], None]
IndexSpec = PatchIndex | str | Path | None

FALLBACK_PROJECTION = "deconvnet"
PROGRESS_EVERY_S = 0.2
clock: Callable[[], float] = time.monotonic  # the progress throttle's clock (tests put a fake one here)


class PatchRequestError(NbsaliencyError, ValueError):
    """A patch request that cannot be answered: malformed fields, a layer without spatial maps, a bad rank."""


@dataclass(frozen=True)
class IndexState:
    """Where the index is: ``status`` one of protocol.INDEX_STATUSES, images ``done`` of ``total`` (-1 when
    unknown), and ``message`` in plain words (why it failed, or a note)."""

    status: str
    done: int = 0
    total: int = -1
    message: str = ""


@dataclass(frozen=True)
class ShownPatch:
    """One cell of the grid: the unit, its receptive field ``box`` (top, left, bottom, right) and two RGBA
    crops, the image patch and the projection (signed RGB, as Zeiler & Fergus show them)."""

    value: float
    image: int
    y: int
    x: int
    box: tuple[int, int, int, int]
    patch: np.ndarray
    projection: np.ndarray


@dataclass(frozen=True)
class _Request:
    id: Any
    layer: str
    channel: int
    method: str  # as asked
    projection: str  # the method that projects
    note: str

    @property
    def key(self) -> tuple[str, int, str]:
        return self.layer, self.channel, self.projection


def _whole(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise PatchRequestError(f"{name} must be a whole number >= 0; got {value!r}")
    return value


class PatchJobs:
    """The patch grid of one explorer. ``dataset``: the images to index (None: the explorer's own images);
    ``index``: a ready :class:`PatchIndex`, a path to load (or build and save), or None to build one."""

    def __init__(self, backend: ExplorerBackend, send: Send, on_status: Callable[[IndexState], None], *,
                 dataset: Any = None, index: IndexSpec = None, k: int = 9, batch_size: int = 16,
                 cache_size: int = 64, client: Any = None):
        if index is not None and not isinstance(index, PatchIndex | str | Path):
            raise TypeError(f"patch_index must be a PatchIndex, a path or None; got {type(index).__name__}")
        self.backend, self.send, self.on_status = backend, send, on_status
        self.own_images = dataset is None
        self.data = list(backend.inputs) if dataset is None else dataset
        self.spec, self.k, self.batch_size, self.cache_size = index, k, batch_size, cache_size
        self.client = client  # a dask.distributed.Client: the index is built on its cluster
        self.state = IndexState("none")
        self.index: PatchIndex | None = None
        self.source: ImageSource | None = None
        self.cache: OrderedDict[tuple[str, int, str], list[ShownPatch]] = OrderedDict()
        self.projections = 0  # grids computed (not answered from the cache); tests count them
        self._labels = {name: label for name, label, _ in backend.methods}
        self._lock = threading.Condition()
        self._seq = 0
        self._build_wanted = False
        self._pending: _Request | None = None
        self._closed = False
        self._cancel = threading.Event()
        self._fields: ReceptiveFields | None = None
        self._thread: threading.Thread | None = None
        self._working = False
        self.model = None
        try:
            self.model = shadow_model(backend.model)  # made here, while no pass of the kernel has hooks on it
        except Exception as error:
            self._report(IndexState("error", message=plain_words(error)))
            return
        if isinstance(index, PatchIndex):
            self._use(index, "")
        else:
            self.build()

    # -- the index -------------------------------------------------------------------------------------------
    def build(self) -> None:
        """(Re)build the index in the worker; ignored while one is building."""
        with self._lock:
            if self._closed or self.model is None or self.state.status == "building" or self._build_wanted:
                return
            self._build_wanted = True
            self._cancel = threading.Event()
        self._report(IndexState("building"))
        self._wake()

    def cancel(self) -> None:
        """Stop a running build before its next batch (status ``cancelled``); never waits."""
        self._cancel.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until the worker has nothing to do; True when it is idle."""
        with self._lock:
            return self._lock.wait_for(lambda: not self._busy(), timeout)

    def close(self, timeout: float | None = 5.0) -> None:
        """Cancel the build, stop the worker and wait for it (e.g. when the widget closes)."""
        with self._lock:
            self._closed = True
            self._cancel.set()
            self._lock.notify_all()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        if self.state.status == "building" and (thread is None or not thread.is_alive()):
            self._report(IndexState("cancelled", self.state.done, self.state.total, "the explorer was closed"))

    # -- the protocol ----------------------------------------------------------------------------------------
    def handle(self, content: dict[str, Any]) -> None:
        """Answer MSG_PATCHES, MSG_INDEX_CANCEL or MSG_INDEX_BUILD (MSG_PATCH_OPEN goes through :meth:`open`)."""
        kind = content.get("kind")
        if kind == protocol.MSG_PATCHES:
            self.request(content)
        elif kind == protocol.MSG_INDEX_CANCEL:
            self.cancel()
        elif kind == protocol.MSG_INDEX_BUILD:
            self.build()

    def request(self, content: dict[str, Any]) -> None:
        """Answer a grid request: at once when it is malformed, the index is not ready or the grid is cached;
        otherwise by the worker (replacing a request still waiting there)."""
        try:
            request = self._parse(content)
        except Exception as error:
            self._answer(content.get("id"), content, error=error)
            return
        with self._lock:
            cached = self.cache.get(request.key)
            if cached is not None:
                self.cache.move_to_end(request.key)
            ready = self.index is not None
            replaced = None
            if ready and cached is None:
                replaced, self._pending = self._pending, request
                self._lock.notify_all()
        if replaced is not None:
            self._answer(replaced.id, replaced, superseded=True)
        if not ready:
            self._answer(request.id, request, ready=False)
        elif cached is not None:
            self._answer(request.id, request, patches=cached)
        else:
            self._wake()

    def open(self, content: dict[str, Any]) -> tuple[int, str, int, tuple[int, int]]:
        """A patch of the grid to open (MSG_PATCH_OPEN): ``(image_index, layer, channel, (y, x))`` of the explorer.

        A dataset image becomes one more input of the explorer (once: opening it again selects the same one)."""
        layer, channel, rank = content.get("layer"), content.get("channel"), content.get("rank")
        if not isinstance(layer, str):
            raise PatchRequestError(f"layer must be a string; got {layer!r}")
        channel, rank = _whole("channel", channel), _whole("rank", rank)
        index, source = self.index, self.source
        if index is None or source is None:
            raise PatchRequestError(f"the patch index is not ready ({self.state.status})")
        self._check_layer(index, layer)
        units = index.top(layer, channel)
        if rank >= len(units):
            raise TargetIndexError(f"patch {rank} is out of range: {layer!r} channel {channel} has {len(units)} "
                                   f"top patches (valid 0..{len(units) - 1})")
        unit = units[rank]
        if self.own_images:
            image_index = unit.image
        else:
            image_index = self.backend.add_input(source.image(unit.image), key=("patch dataset", unit.image))
        return image_index, layer, channel, (unit.y, unit.x)

    # -- translating a request -------------------------------------------------------------------------------
    def _parse(self, content: dict[str, Any]) -> _Request:
        layer, method = content.get("layer"), content.get("method")
        channel = _whole("channel", content.get("channel"))
        if not isinstance(layer, str):
            raise PatchRequestError(f"layer must be a string; got {layer!r}")
        if method not in self._labels:
            raise PatchRequestError(f"unknown method {method!r}; choose one of {', '.join(self._labels)}")
        projection, note = method, ""
        if method not in single_pass_methods():  # read now: a method registered later can project too
            projection = FALLBACK_PROJECTION
            note = f"{self._labels[method]} cannot project single units"
        return _Request(content.get("id"), layer, channel, method, projection, note)

    def _check_layer(self, index: PatchIndex, layer: str) -> None:
        shapes = {name: shape for name, shape, _ in self.backend.layers}
        if layer in shapes and layer not in index.layers:
            shape = tuple(shapes[layer])
            if len(shape) != 3:
                raise PatchRequestError(f"layer {layer!r} has output shape {shape}: only layers with spatial "
                                        "(C, h, w) maps have top-activating patches; pick a convolutional layer")
            raise PatchRequestError(f"layer {layer!r} is not in the patch index (it has {len(index.layers)} "
                                    "layers); rebuild the index with this layer")
        index.shape(layer)  # unknown layers: named, with close matches

    # -- the worker ------------------------------------------------------------------------------------------
    def _busy(self) -> bool:
        return self._build_wanted or self._pending is not None or self._working

    def _wake(self) -> None:
        with self._lock:
            if self._closed:
                return
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._work, name="nbsaliency-patches", daemon=True)
                self._thread.start()
            self._lock.notify_all()

    def _work(self) -> None:
        while True:
            with self._lock:
                self._working = False
                self._lock.notify_all()  # wakes wait()
                self._lock.wait_for(lambda: self._closed or self._build_wanted or self._pending is not None)
                if self._closed:
                    self._build_wanted, self._pending = False, None
                    self._lock.notify_all()
                    return
                self._working = True
                build, request = self._build_wanted, None
                if not build:
                    request, self._pending = self._pending, None
                self._build_wanted = False
            if build:
                self._build()
            elif request is not None:
                self._project(request)

    def _build(self) -> None:
        last: list[float] = []  # when progress was last reported; empty: never (the first report always goes out)

        def progress(done: int, total: int | None) -> None:
            now = clock()
            if not last or now - last[0] >= PROGRESS_EVERY_S or (total is not None and done >= total):
                last[:] = [now]
                self._report(IndexState("building", done, -1 if total is None else total))

        notes: list[str] = []  # a stale or corrupted saved index rebuilt, layers left out: shown in the panel
        try:
            source = ImageSource(self.data)
            if isinstance(self.spec, str | Path):
                index = PatchIndex.load_or_build(self.spec, self.model, self.data, k=self.k,
                                                 batch_size=self.batch_size, progress=progress, cancel=self._cancel,
                                                 notify=notes.append, client=self.client)
            else:
                index = PatchIndex.build(self.model, self.data, k=self.k, batch_size=self.batch_size,
                                         progress=progress, cancel=self._cancel, client=self.client,
                                         notify=notes.append)
        except IndexBuildCancelled as error:
            self._report(IndexState("cancelled", self.state.done, self.state.total, plain_words(error)))
            return
        except Exception as error:
            report_unexpected(error)
            where = " (the explorer's own images; pass dataset=... to index others)" if self.own_images else ""
            self._report(IndexState("error", message=plain_words(error) + where))
            return
        self._use(index, " ".join(notes), source)

    def _use(self, index: PatchIndex, message: str, source: ImageSource | None = None) -> None:
        try:
            source = source or ImageSource(self.data)
            if source.length is not None and index.offset + index.n_images > source.length:
                raise PatchRequestError(
                    f"the patch index covers images {index.offset}..{index.offset + index.n_images - 1} but the "
                    f"dataset has {source.length}; pass the dataset it was built on (dataset=...)")
        except Exception as error:
            self._report(IndexState("error", message=plain_words(error)))
            return
        with self._lock:
            self.index, self.source, self._fields = index, source, None
            self.cache.clear()
        self._report(IndexState("ready", index.n_images, index.n_images, message))

    def _project(self, request: _Request) -> None:
        try:
            index, source = self.index, self.source
            assert index is not None and source is not None
            self._check_layer(index, request.layer)
            index.top(request.layer, request.channel)  # the channel, checked with the engine's message
            if self._fields is None:
                self._fields = ReceptiveFields(self.model, source.image(0)[None])
            found = top_patches(self.model, source, index, request.layer, request.channel, request.projection,
                                receptive_fields=self._fields)
            shown = []
            for p in found:
                box = (p.box.top, p.box.left, p.box.bottom, p.box.right)
                full = self.backend.display_image(p.whole_image)  # whole-image display, as the input panel shows it
                shown.append(ShownPatch(p.value, p.image_index, p.y, p.x, box,
                                        np.ascontiguousarray(full[box[0]:box[2], box[1]:box[3]]),
                                        display_image(signed_rgb(p.projection.detach().float().cpu()))))
        except Exception as error:
            report_unexpected(error)
            self._answer(request.id, request, error=error)
            return
        with self._lock:
            self.projections += 1
            self.cache[request.key] = shown
            while len(self.cache) > self.cache_size:
                self.cache.popitem(last=False)
        self._answer(request.id, request, patches=shown)

    # -- messages --------------------------------------------------------------------------------------------
    def _report(self, state: IndexState) -> None:
        self.state = state
        try:
            self.on_status(state)
        except Exception:  # the widget is gone: nothing left to tell
            traceback.print_exc()

    def _answer(self, request_id: Any, request: _Request | dict[str, Any], *, patches: list[ShownPatch] = (),
                error: BaseException | None = None, ready: bool = True, superseded: bool = False) -> None:
        def field(name: str) -> Any:
            return request.get(name) if isinstance(request, dict) else getattr(request, name)

        with self._lock:
            self._seq += 1
            seq = self._seq
        content = protocol.PatchesResultMessage(
            kind="patches_result", id=request_id, seq=seq, layer=field("layer"), channel=field("channel"),
            method=field("method"), projection="" if isinstance(request, dict) else request.projection,
            note="" if isinstance(request, dict) else request.note,
            ready=ready, superseded=superseded, error="" if error is None else plain_words(error),
            patches=[protocol.PatchInfo(rank=i, value=p.value, image=p.image, y=p.y, x=p.x, box=list(p.box),
                                        shape=list(p.patch.shape)) for i, p in enumerate(patches)],
        )
        buffers = [b for p in patches for b in (p.patch.tobytes(), p.projection.tobytes())]
        try:
            self.send(content, buffers)
        except Exception:  # the comm is gone (widget closed)
            traceback.print_exc()


class PatchesPanel(Panel):
    """The patches panel (the view's ``js/src/panels/patches/``): the index's state in three traits, grids and
    index commands answered by :class:`PatchJobs`, and MSG_PATCH_OPEN turned into a selection of the widget."""

    name = "patches"
    kinds = (protocol.MSG_PATCHES, protocol.MSG_INDEX_CANCEL, protocol.MSG_INDEX_BUILD, protocol.MSG_PATCH_OPEN)
    traits = {"index_status": "none", "index_progress": [0, -1], "index_message": ""}
    options = ("dataset", "patch_index", "client")  # client: a dask.distributed.Client builds the index

    def __init__(self, host: Any, *, dataset: Any = None, patch_index: IndexSpec = None, client: Any = None,
                 **options: Any):
        super().__init__(host)
        self.jobs = PatchJobs(host.backend, lambda content, buffers: host.send(content, buffers), self._on_index_state,
                              dataset=dataset, index=patch_index, client=client)

    def _on_index_state(self, state: IndexState) -> None:
        # The status goes last, so the view sees a new status with its progress and message already set.
        self.host.set_traits({"index_progress": [state.done, state.total], "index_message": state.message,
                              "index_status": state.status})

    def handle(self, content: dict[str, Any]) -> None:
        if content.get("kind") != protocol.MSG_PATCH_OPEN:
            self.jobs.handle(content)
            return
        try:
            image_index, layer, channel, position = self.jobs.open(content)
        except Exception as error:
            self.host.show_error(None, error)
            return
        self.host.set_traits({"n_images": len(self.host.backend.inputs)})
        self.host.select(replace(self.host.selection, image_index=image_index, layer=layer, channel=channel,
                                 position=position, target="neuron"))

    def close(self) -> None:
        self.jobs.close()
