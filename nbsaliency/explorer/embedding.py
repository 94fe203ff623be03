"""The embedding panel: a t-SNE map of the dataset's codes at the selected layer (Karpathy's CNN-codes figure;
van der Maaten & Hinton 2008; :func:`nbsaliency.tsne`); hovering a point shows its image, clicking opens it.

The view's counterpart is ``js/src/panels/embedding/``. The map is computed on demand (the view's button) in a
worker thread, on a shadow of the model (:func:`~nbsaliency.model_state.shadow_model`, made on the kernel's
thread at the first request), so the kernel keeps answering selections meanwhile; maps are cached per layer.
Up to MAX_POINTS images of ``dataset`` (None: the explorer's images) are embedded, each sent as a THUMBNAIL x
THUMBNAIL picture for the hover. Without scikit-learn the answer says how to install it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from ..embedding import tsne
from ..errors import Cancelled, NbsaliencyError, TargetIndexError, plain_words, report_unexpected
from ..model_state import shadow_model
from ..patches import ImageSource
from . import protocol
from .answers import Counter
from .answers import request_id as id_of
from .backend import ExplorerBackend, display_image
from .panel import Panel

MAX_POINTS = 1000
THUMBNAIL = 48
PERPLEXITY = 30.0

Send = Callable[[dict[str, Any], list[bytes]], None]


class EmbeddingRequestError(NbsaliencyError, ValueError):
    """A t-SNE request or open request with malformed fields."""


@dataclass(frozen=True)
class Map:
    """A computed map: ``coordinates`` ``(n, 2)`` float32, ``thumbnails`` ``(n, t, t, 4)`` uint8, a note."""

    layer: str
    coordinates: np.ndarray
    thumbnails: np.ndarray
    note: str


def thumbnail(rgba: np.ndarray, size: int = THUMBNAIL) -> np.ndarray:
    """An RGBA image ``(H, W, 4)`` resampled (nearest pixel) to ``(size, size, 4)``."""
    rows = (np.arange(size) * rgba.shape[0]) // size
    cols = (np.arange(size) * rgba.shape[1]) // size
    return np.ascontiguousarray(rgba[rows][:, cols])


def perplexity_for(n: int) -> float:
    """PERPLEXITY, or a third of the images for small sets (t-SNE needs perplexity < n)."""
    return float(min(PERPLEXITY, max(1.0, (n - 1) / 3)))


def compute_map(model: Any, source: ImageSource, layer: str, total: int,
                cancel: threading.Event | None = None) -> Map:
    """t-SNE of ``layer``'s mean-pooled codes of the first ``min(total, MAX_POINTS)`` images of ``source``;
    :class:`~nbsaliency.Cancelled` when ``cancel`` is set (see :func:`nbsaliency.tsne`)."""
    n = min(total, MAX_POINTS)
    if n < 3:
        raise EmbeddingRequestError(f"a t-SNE map needs at least 3 images; the dataset has {total}")
    images = [source.image(i) for i in range(n)]
    perplexity = perplexity_for(n)
    embedding = tsne(model, images, layer, perplexity=perplexity, cancel=cancel)
    notes = [f"{layer}, mean-pooled codes, perplexity {perplexity:g}"]
    if n < total:
        notes.append(f"the first {n} of {total} images")
    thumbnails = np.stack([thumbnail(display_image(image)) for image in images])
    return Map(layer, embedding.coordinates.numpy().astype("<f4"), thumbnails, "; ".join(notes))


class EmbeddingJobs:
    """One worker thread computing maps, latest request wins (a request waiting is replaced by a newer one)."""

    def __init__(self, backend: ExplorerBackend, send: Send, dataset: Any = None):
        self.backend, self.send = backend, send
        self.own_images = dataset is None
        self.data = backend.inputs if dataset is None else dataset
        self.cache: dict[str, Map] = {}
        self.computed = 0  # maps computed (not answered from the cache); tests count them
        self._model: Any = None
        self._source: ImageSource | None = None
        self._lock = threading.Condition()
        self._pending: tuple[int | None, str] | None = None
        self._running: int | None = None  # the request id being computed
        self._cancel = threading.Event()  # the running request's
        self._working = False
        self._closed = False
        self._thread: threading.Thread | None = None
        self._seq = Counter()

    def request(self, content: dict[str, Any]) -> None:
        request_id, layer = id_of(content), content.get("layer")
        if not isinstance(layer, str) or layer not in {name for name, _, _ in self.backend.layers}:
            self._answer(request_id, layer if isinstance(layer, str) else "", "error",
                         error=f"unknown layer {layer!r}; pick one from the layer list")
            return
        with self._lock:
            cached = self.cache.get(layer)
        if cached is None and self._model is None:
            try:  # here, on the kernel's thread: no pass of the kernel has hooks on the model while it is copied
                self._model = shadow_model(self.backend.model)
            except Exception as error:
                self._answer(request_id, layer, "error", error=plain_words(error))
                return
        with self._lock:
            if cached is None and not self._closed:
                self._pending = (request_id, layer)
                if self._thread is None or not self._thread.is_alive():
                    self._thread = threading.Thread(target=self._work, name="nbsaliency-tsne", daemon=True)
                    self._thread.start()
                self._lock.notify_all()
        if cached is not None:
            self._answer(request_id, layer, "done", found=cached)

    def cancel(self, content: dict[str, Any]) -> None:
        """Stop request ``id``: a waiting one is answered "cancelled" now, the running one when it stops (before its
        next batch of codes, or when scikit-learn's fit returns)."""
        request_id = id_of(content)
        with self._lock:
            waiting = self._pending if self._pending is not None and self._pending[0] == request_id else None
            if waiting is not None:
                self._pending = None
                self._lock.notify_all()
            if self._working and self._running == request_id:
                self._cancel.set()
        if waiting is not None:
            self._answer(request_id, waiting[1], "cancelled")

    def open(self, content: dict[str, Any]) -> int:
        """The explorer's image index of point ``index`` (a dataset image is added as an input once)."""
        index = content.get("index")
        if isinstance(index, bool) or not isinstance(index, int) or index < 0:
            raise EmbeddingRequestError(f"index must be a whole number >= 0; got {index!r}")
        source = self.source()
        total = min(source.length if source.length is not None else MAX_POINTS, MAX_POINTS)
        if index >= total:
            raise TargetIndexError(f"point {index} is out of range: the map has {total} points "
                                   f"(valid 0..{total - 1})")
        if self.own_images:
            return index
        return self.backend.add_input(source.image(index), key=("patch dataset", index))

    def source(self) -> ImageSource:
        if self._source is None:
            self._source = ImageSource(self.data)
        return self._source

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until no map is waiting or being computed; True when idle."""
        with self._lock:
            return self._lock.wait_for(lambda: self._pending is None and not self._working, timeout)

    def close(self, timeout: float | None = 5.0) -> None:
        with self._lock:
            self._closed = True
            self._pending = None
            self._cancel.set()
            self._lock.notify_all()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def _work(self) -> None:
        while True:
            with self._lock:
                self._working = False
                self._lock.notify_all()
                self._lock.wait_for(lambda: self._closed or self._pending is not None)
                if self._closed:
                    return
                (request_id, layer), self._pending = self._pending, None
                self._working, self._running = True, request_id
                self._cancel = cancel = threading.Event()
            self._answer(request_id, layer, "running")
            try:
                source = self.source()
                total = source.length if source.length is not None else MAX_POINTS
                found = compute_map(self._model, source, layer, total, cancel)
            except Cancelled:
                self._answer(request_id, layer, "cancelled")
                continue
            except Exception as error:
                report_unexpected(error)
                self._answer(request_id, layer, "error", error=plain_words(error))
                continue
            with self._lock:
                self.cache[layer] = found
                self.computed += 1
            self._answer(request_id, layer, "done", found=found)

    def _answer(self, request_id: int | None, layer: str, status: str, *, found: Map | None = None,
                error: str = "") -> None:
        n = 0 if found is None else found.coordinates.shape[0]
        content = protocol.TsneResultMessage(
            kind="tsne_result", id=request_id, seq=self._seq.next(), layer=layer,
            status=status, n=n, thumbnail=[THUMBNAIL, THUMBNAIL, 4] if found is not None else [0, 0, 4],  # type: ignore[typeddict-item]
            note="" if found is None else found.note, error=error)
        buffers = [] if found is None else [found.coordinates.tobytes(), found.thumbnails.tobytes()]
        try:
            self.send(content, buffers)
        except Exception as failure:  # the comm is gone (widget closed)
            report_unexpected(failure)


class EmbeddingPanel(Panel):
    """MSG_TSNE answered by :class:`EmbeddingJobs`; MSG_TSNE_OPEN makes the point's image the current input."""

    name = "embedding"
    kinds = (protocol.MSG_TSNE, protocol.MSG_TSNE_CANCEL, protocol.MSG_TSNE_OPEN)
    options = ("dataset",)

    def __init__(self, host: Any, *, dataset: Any = None, **options: Any):
        super().__init__(host)
        self.jobs = EmbeddingJobs(host.backend, lambda content, buffers: host.send(content, buffers), dataset)

    def handle(self, content: dict[str, Any]) -> None:
        if content.get("kind") == protocol.MSG_TSNE:
            self.jobs.request(content)
            return
        if content.get("kind") == protocol.MSG_TSNE_CANCEL:
            self.jobs.cancel(content)
            return
        try:
            image_index = self.jobs.open(content)
        except Exception as error:
            self.host.show_error(None, error)
            return
        self.host.set_traits({"n_images": len(self.host.backend.inputs)})
        self.host.select(replace(self.host.selection, image_index=image_index))

    def close(self) -> None:
        self.jobs.close()
