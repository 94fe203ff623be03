"""One background attribution at a time, latest wins: the widget runs slow methods (SmoothGrad, integrated
gradients, occlusion: many passes) here instead of on the comm handler, so the kernel keeps answering the view
(other panels, a Cancel) while they run. A new job first cancels the running one (the engine stops between
chunks, :class:`~nbsaliency.Cancelled`) and waits for it to end, so only one computation uses the sessions."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Job:
    """A running computation: ``cancel`` is the engine's cancel event; ``superseded`` tells the job that a newer
    one replaced it (it then leaves the widget's state alone), not the user's Cancel."""

    request_id: int | None
    cancel: threading.Event = field(default_factory=threading.Event)
    superseded: bool = False
    thread: threading.Thread | None = None


class Background:
    """Runs ``work(job)`` in a daemon thread, one job at a time (latest wins)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._job: Job | None = None

    @property
    def running(self) -> Job | None:
        with self._lock:
            job = self._job
        return job if job is not None and job.thread is not None and job.thread.is_alive() else None

    def start(self, request_id: int | None, work: Callable[[Job], None]) -> Job:
        self.stop()
        job = Job(request_id)
        job.thread = threading.Thread(target=work, args=(job,), name=f"nbsaliency-attribution-{request_id}",
                                      daemon=True)
        with self._lock:
            self._job = job
        job.thread.start()
        return job

    def cancel(self, request_id: int | None = None) -> bool:
        """The user's Cancel: stop the running job (only the one answering ``request_id`` when given)."""
        job = self.running
        if job is None or (request_id is not None and job.request_id != request_id):
            return False
        job.cancel.set()
        return True

    def join(self) -> None:
        """Wait for the running job to end on its own (tests, scripts)."""
        job = self.running
        if job is not None and job.thread is not None and job.thread is not threading.current_thread():
            job.thread.join()

    def stop(self) -> None:
        """Cancel the running job as superseded and wait for it to end (it stops before its next chunk)."""
        with self._lock:
            job, self._job = self._job, None
        if job is None or job.thread is None:
            return
        job.superseded = True
        job.cancel.set()
        if job.thread is not threading.current_thread():
            job.thread.join()
