"""Optimization jobs of the Explorer: one optimization at a time, in a background thread, streamed as frames.

Pure engine code (no widget imports): :class:`OptimizeJobs` takes an optimize request of the protocol
(:mod:`nbsaliency.protocol`) and the explorer's current :class:`~nbsaliency.explore.Selection`, turns them into a
call of :mod:`nbsaliency.optimize` (class model, activation maximisation, DeepDream, inversion), runs it off the
comm handler and hands every few steps an RGBA frame and the objective's value to the ``send(content, buffers)``
function it was given. A new request cancels the running job first; finished results are cached per
(visualisation, the selection fields it depends on, image size, steps, seed).

Concurrency: the job runs on a *shadow* of the model - a copy of its module tree that shares the very same
parameter and buffer tensors (no memory doubled). Hooks and ``training`` flags are per module object, so the
kernel can keep answering selections with the user's model (its own hooks, its own eval-mode context) while the
job runs, and the job never touches the user's model at all: a user's model is never changed, not even for the
length of a run. Parameters are only read: gradients are taken with respect to the image, and BatchNorm runs in
eval mode.
"""

from __future__ import annotations

import math
import threading
import traceback
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from ..errors import NbsaliencyError, TargetError, plain_words, report_unexpected
from ..model_state import shadow_model
from ..optimize import activation_maximisation, class_model, deepdream, invert
from ..optimize.deepdream import octave_sizes
from ..optimize.parameterisations import Range
from ..optimize.runner import OptimisationResult
from ..targets import Channel, LayerEnergy, Logit, Neuron, Target
from . import protocol
from .backend import ExplorerBackend, Selection
from .panel import Panel

Send = Callable[[dict[str, Any], list[bytes]], None]
Runner = Callable[[nn.Module, Callable[[int, Tensor, Tensor], None], threading.Event], OptimisationResult]

VISUALISATIONS = protocol.OPTIMIZE_VISUALISATIONS
MAX_STEPS = protocol.OPTIMIZE_MAX_STEPS
DEEPDREAM_OCTAVES = 4
DEEPDREAM_OCTAVE_SCALE = 1.4


class OptimizeRequestError(NbsaliencyError, ValueError):
    """An optimize request that cannot run: unknown visualisation, steps out of range, an unusable selection."""


def value_range_of(inputs: list[Tensor]) -> Range:
    """The pixel range optimized images keep to: ``(0, 1)`` for images inside it, else each channel's
    smallest and largest value over the explorer's images (normalised inputs have one range per channel)."""
    low = torch.stack([x.detach().float().amin(dim=(1, 2)).cpu() for x in inputs]).amin(dim=0)
    high = torch.stack([x.detach().float().amax(dim=(1, 2)).cpu() for x in inputs]).amax(dim=0)
    if bool((low >= 0).all()) and bool((high <= 1).all()):
        return (0.0, 1.0)
    high = torch.maximum(high, low + 1e-3)
    return (tuple(low.tolist()), tuple(high.tolist()))


@dataclass(frozen=True)
class Plan:
    """A request translated for the engine: ``run(model, callback, cancel)`` does the optimization."""

    key: tuple[Any, ...]
    steps: int  # steps the run will take in all (DeepDream rounds to whole octaves)
    run: Runner


@dataclass(frozen=True)
class Finished:
    rgba: np.ndarray
    value: float | None
    steps: int


@dataclass
class _Job:
    run_id: Any
    plan: Plan
    cancel: threading.Event
    thread: threading.Thread | None = None


def frame_every(steps: int) -> int:
    """Stream about 25 frames per run, at least every 10 steps."""
    return max(1, min(10, steps // 25))


def _finite(value: Tensor | float) -> float | None:
    number = float(value)
    return number if math.isfinite(number) else None  # JSON has no NaN / Infinity


class OptimizeJobs:
    """Runs the optimize requests of one explorer, one at a time, in a background thread.

    ``send(content, buffers)`` is called from the worker thread for frames and from either thread for
    ``optimize_done``; ipykernel lets comms send from any thread.
    """

    def __init__(self, backend: ExplorerBackend, send: Send, *, seed: int = 0, cache_size: int = 32):
        self.backend = backend
        self.send = send
        self.seed = seed
        self.cache_size = cache_size
        self.cache: OrderedDict[tuple[Any, ...], Finished] = OrderedDict()
        self.optimizations = 0  # runs started (not answered from the cache); tests count them
        self._lock = threading.Lock()
        self._job: _Job | None = None
        # the explorer's own images, once: images opened from the patch grid later do not change it (nor the cache)
        self.value_range: Range = value_range_of(backend.inputs)

    # -- the protocol ---------------------------------------------------------------------------------------
    def handle(self, content: dict[str, Any], selection: Selection) -> None:
        """Answer a MSG_OPTIMIZE or MSG_OPTIMIZE_CANCEL message."""
        if content.get("kind") == protocol.MSG_OPTIMIZE:
            self.start(content, selection)
        elif content.get("kind") == protocol.MSG_OPTIMIZE_CANCEL:
            self.cancel(content.get("run"))

    def start(self, request: dict[str, Any], selection: Selection) -> None:
        """Cancel the running job, then answer ``request`` from the cache, with an error, or by a new job.

        Translating the request (and any forward pass it needs) happens here, on the caller's thread, so that a
        bad request is answered at once and the worker only optimizes.
        """
        run_id = request.get("id")
        self.cancel()
        try:
            fields = request.get("selection") or {}
            if not isinstance(fields, dict):
                raise OptimizeRequestError(f"selection must be an object of selection fields; got {fields!r}")
            selection = Selection.parse(fields, selection)  # the view's latest
            plan = self.plan(request, selection)
        except Exception as error:
            self._done(run_id, error=error)
            return
        with self._lock:
            cached = self.cache.get(plan.key)
            if cached is not None:
                self.cache.move_to_end(plan.key)
        if cached is not None:
            self._frame(run_id, cached.steps, cached.steps, cached.value, cached.rgba)
            self._done(run_id, cached=True)
            return
        try:
            model = shadow_model(self.backend.model)
        except Exception as error:
            self._done(run_id, error=error)
            return
        job = _Job(run_id, plan, threading.Event())
        with self._lock:
            previous, self._job = self._job, job
            job.thread = threading.Thread(target=self._work, args=(job, model, previous),
                                          name="nbsaliency-optimize", daemon=True)
        self.optimizations += 1
        job.thread.start()

    def cancel(self, run_id: Any = None) -> None:
        """Stop the running job (only if it is run ``run_id``, when given) before its next step; never waits."""
        with self._lock:
            job = self._job
        if job is not None and (run_id is None or run_id == job.run_id):
            job.cancel.set()

    @property
    def running(self) -> bool:
        with self._lock:
            job = self._job
        return job is not None and job.thread is not None and job.thread.is_alive()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the current job to end; True when none is running afterwards."""
        with self._lock:
            job = self._job
        if job is not None and job.thread is not None:
            job.thread.join(timeout)
        return not self.running

    def close(self, timeout: float | None = 5.0) -> None:
        """Cancel the running job and wait for it (e.g. when the widget closes)."""
        self.cancel()
        self.wait(timeout)

    # -- translating a request ----------------------------------------------------------------------------
    def plan(self, request: dict[str, Any], selection: Selection) -> Plan:
        """What ``request`` asks to run for ``selection``; raises with a plain-words message when it cannot."""
        visualisation, steps = request.get("visualisation"), request.get("steps")
        if visualisation not in VISUALISATIONS:
            raise OptimizeRequestError(f"unknown visualisation {visualisation!r}; choose one of "
                                       f"{', '.join(VISUALISATIONS)}")
        if isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= MAX_STEPS:
            raise OptimizeRequestError(f"steps must be a whole number from 1 to {MAX_STEPS}; got {steps!r}")
        session = self.backend.session(selection.image_index)
        x = session.x.detach().clone()
        size = tuple(int(s) for s in x.shape[-2:])
        value_range = self.value_range
        seed, every = self.seed, frame_every(steps)

        if visualisation == "class_model":
            c = self._class(selection, session.output)
            return Plan(("class_model", c, size, steps, seed), steps,
                        lambda model, callback, cancel: class_model(
                            model, c, size=size, steps=steps, value_range=value_range, seed=seed, callback=callback,
                            every=every, cancel=cancel))
        if visualisation == "activation_maximisation":
            target = self._objective(selection, session)
            return Plan(("activation_maximisation", repr(target), size, steps, seed), steps,
                        lambda model, callback, cancel: activation_maximisation(
                            model, target, size=size, steps=steps, value_range=value_range, seed=seed,
                            callback=callback, every=every, cancel=cancel))
        layer = selection.layer
        session.activations(layer)  # an unknown layer is reported now, with close matches
        key = (visualisation, selection.image_index, layer, size, steps, seed)
        if visualisation == "invert":
            return Plan(key, steps, lambda model, callback, cancel: invert(
                model, x, layer, steps=steps, value_range=value_range, seed=seed, callback=callback, every=every,
                cancel=cancel))
        # DeepDream spreads the steps evenly over its octaves (coarse to fine).
        octaves = len(octave_sizes(*size, min(DEEPDREAM_OCTAVES, steps), DEEPDREAM_OCTAVE_SCALE))
        per_octave = max(1, steps // octaves)
        every = frame_every(per_octave * octaves)
        return Plan(key, per_octave * octaves, lambda model, callback, cancel: deepdream(
            model, x, layer, steps=per_octave, octaves=octaves, octave_scale=DEEPDREAM_OCTAVE_SCALE,
            value_range=value_range, seed=seed,
            callback=callback, every=every, cancel=cancel))

    @staticmethod
    def _class(selection: Selection, output: Tensor) -> int:
        """The selected class, or the current image's predicted class when ``target_class`` is -1."""
        if output.dim() != 2:
            raise TargetError(f"a class model needs a model that returns class scores (N, classes); this one "
                              f"returns shape {tuple(output.shape)}")
        n_classes = output.shape[1]
        c = selection.target_class if selection.target_class >= 0 else int(output[0].argmax())
        if c >= n_classes:
            raise OptimizeRequestError(f"class {c} is out of range: the model has {n_classes} classes "
                                       f"(valid 0..{n_classes - 1})")
        return c

    def _objective(self, selection: Selection, session: Any) -> Target:
        """The selection's target as an objective to maximise: class targets become the class score (Simonyan et
        al.: the logit, not the probability), a channel its whole map's mean (Olah et al. 2017)."""
        if selection.target in ("logit", "probability"):
            return Logit(self._class(selection, session.output))
        target, _ = self.backend.target(selection, session)
        if isinstance(target, Channel):
            target = Channel(target.layer, target.c, reduce="mean")
        if not isinstance(target, Channel | Neuron | LayerEnergy):
            raise OptimizeRequestError(f"activation maximisation cannot use the target {target!r}")
        target.values(session.recording)  # indices checked now, with the engine's messages
        return target

    # -- the worker ------------------------------------------------------------------------------------------
    def _work(self, job: _Job, model: nn.Module, previous: _Job | None) -> None:
        if previous is not None and previous.thread is not None:
            previous.thread.join()  # one optimization at a time; it was cancelled before this job started
        if job.cancel.is_set():
            self._done(job.run_id, cancelled=True)
            return
        plan = job.plan

        def frame(step: int, image: Tensor, values: Tensor) -> None:
            self._frame(job.run_id, step + 1, plan.steps, _finite(values[0]), self.backend.display_image(image[0]))

        try:
            result = plan.run(model, frame, job.cancel)
        except Exception as error:
            self._done(job.run_id, error=error)
            return
        if not result.cancelled and result.steps:
            finished = Finished(self.backend.display_image(result.image[0]), _finite(result.history[-1, 0]), plan.steps)
            with self._lock:
                self.cache[plan.key] = finished
                while len(self.cache) > self.cache_size:
                    self.cache.popitem(last=False)
        self._done(job.run_id, cancelled=result.cancelled)

    # -- messages ----------------------------------------------------------------------------------------------
    def _frame(self, run_id: Any, step: int, steps: int, value: float | None, rgba: np.ndarray) -> None:
        content = protocol.OptimizeFrameMessage(kind="optimize_frame", run=run_id, step=int(step), steps=int(steps),
                                                value=value, image=protocol.ImageInfo(shape=list(rgba.shape)))
        self.send(content, [np.ascontiguousarray(rgba, dtype=np.uint8).tobytes()])

    def _done(self, run_id: Any, *, cancelled: bool = False, cached: bool = False,
              error: BaseException | None = None) -> None:
        message = ""
        if error is not None:
            message = plain_words(error)
            report_unexpected(error)
        content = protocol.OptimizeDoneMessage(kind="optimize_done", run=run_id, cancelled=cancelled, cached=cached,
                                               error=message)
        try:
            self.send(content, [])
        except Exception:  # the comm is gone (widget closed): nothing left to tell
            traceback.print_exc()


class OptimizationPanel(Panel):
    """The optimization panel (the view's ``js/src/panels/optimization/``): MSG_OPTIMIZE and MSG_OPTIMIZE_CANCEL
    answered by :class:`OptimizeJobs` for the widget's current selection."""

    name = "optimization"
    kinds = (protocol.MSG_OPTIMIZE, protocol.MSG_OPTIMIZE_CANCEL)

    def __init__(self, host: Any, **options: Any):
        super().__init__(host)
        self.jobs = OptimizeJobs(host.backend, lambda content, buffers: host.send(content, buffers))

    def handle(self, content: dict[str, Any]) -> None:
        self.jobs.handle(content, self.host.selection)

    def close(self) -> None:
        self.jobs.close()
