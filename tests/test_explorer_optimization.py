"""The optimization panel's engine side (nbsaliency/explorer/optimization.py) and its routing in the widget, without a
browser: streamed frames, cancelling, the cache, plain-words errors, a kernel that keeps answering, an untouched
model."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from nbsaliency import demo
from nbsaliency.explorer import protocol
from nbsaliency.explorer.backend import ExplorerBackend, Selection
from nbsaliency.explorer.optimization import OptimizeJobs
from nbsaliency.explorer.widget import Explorer
from nbsaliency.model_state import shadow_model
from tests.invariance import ModelSnapshot

WAIT_S = 30


class Inbox:
    """Stands in for the front end: collects what is sent (from any thread) and lets a test wait for it."""

    def __init__(self):
        self.messages: list[tuple[dict, list[bytes], str]] = []
        self._changed = threading.Condition()

    def __call__(self, content: dict, buffers: list[bytes] | None = None) -> None:
        with self._changed:
            self.messages.append((content, list(buffers or []), threading.current_thread().name))
            self._changed.notify_all()

    def of(self, kind: str, run=None) -> list[dict]:
        with self._changed:
            return [c for c, _, _ in self.messages if c["kind"] == kind and (run is None or c.get("run") == run)]

    def frames(self, run=None) -> list[dict]:
        return self.of(protocol.MSG_OPTIMIZE_FRAME, run)

    def done(self, run=None) -> list[dict]:
        return self.of(protocol.MSG_OPTIMIZE_DONE, run)

    def wait_for(self, predicate, timeout: float = WAIT_S) -> None:
        with self._changed:
            assert self._changed.wait_for(predicate, timeout), "timed out waiting for a message"


@pytest.fixture(scope="module")
def model(demo_model):
    return demo_model


@pytest.fixture(scope="module")
def images():
    return demo.images(3, seed=0).images


@pytest.fixture(scope="module")
def backend(model, images):
    return ExplorerBackend(model, images, labels=demo.CLASS_NAMES)


@pytest.fixture
def jobs(backend):
    inbox = Inbox()
    jobs = OptimizeJobs(backend, inbox)
    jobs.inbox = inbox
    yield jobs
    jobs.close()


def request(run, visualisation="activation_maximisation", steps=6, **extra):
    return {"kind": protocol.MSG_OPTIMIZE, "id": run, "visualisation": visualisation, "steps": steps, **extra}


CHANNEL = Selection(layer="block2.conv2", channel=3, target="channel")


@pytest.mark.parametrize(("visualisation", "selection"), [
    ("class_model", Selection(layer="block3.conv2")),
    ("activation_maximisation", CHANNEL),
    ("activation_maximisation", Selection(layer="block2.relu2", channel=1, target="neuron", position=(4, 5))),
    ("activation_maximisation", Selection(layer="block3.conv2", target="logit", target_class=2)),
    ("deepdream", Selection(layer="block2.relu2")),
    ("invert", Selection(image_index=1, layer="block1.relu2")),
])
def test_a_run_streams_frames_with_increasing_steps_and_ends_with_done(jobs, visualisation, selection):
    jobs.start(request(7, visualisation, steps=8), selection)
    assert jobs.wait(WAIT_S)
    inbox = jobs.inbox
    kinds = [c["kind"] for c, _, _ in inbox.messages]
    assert kinds[-1] == protocol.MSG_OPTIMIZE_DONE and kinds.count(protocol.MSG_OPTIMIZE_DONE) == 1
    assert inbox.done() == [{"kind": protocol.MSG_OPTIMIZE_DONE, "run": 7, "cancelled": False, "cached": False,
                             "error": ""}]
    frames = [(c, b) for c, b, _ in inbox.messages if c["kind"] == protocol.MSG_OPTIMIZE_FRAME]
    steps = [c["step"] for c, _ in frames]
    assert len(frames) >= 2 and steps == sorted(set(steps)) and steps[-1] == frames[-1][0]["steps"] <= 8
    for content, buffers in frames:
        assert content["run"] == 7 and content["image"]["shape"] == [64, 64, 4]
        assert isinstance(content["value"], float)
        (rgba,) = buffers
        pixels = np.frombuffer(rgba, np.uint8).reshape(64, 64, 4)
        assert (pixels[..., 3] == 255).all()
    assert {thread for c, _, thread in inbox.messages if c["kind"] == protocol.MSG_OPTIMIZE_FRAME} == \
        {"nbsaliency-optimize"}  # streamed from the worker, not the comm handler


def test_cancel_stops_the_run_within_one_step(backend):
    inbox = Inbox()

    def cancel_on_first_frame(content, buffers):
        inbox(content, buffers)
        if content["kind"] == protocol.MSG_OPTIMIZE_FRAME:
            jobs.cancel(content["run"])  # set between two steps: no further step may run

    jobs = OptimizeJobs(backend, cancel_on_first_frame)
    jobs.start(request(3, steps=40), CHANNEL)  # 40 steps: a frame after every step
    assert jobs.wait(WAIT_S)
    assert [c["step"] for c in inbox.frames()] == [1]
    assert inbox.done() == [{"kind": protocol.MSG_OPTIMIZE_DONE, "run": 3, "cancelled": True, "cached": False,
                             "error": ""}]
    assert not jobs.cache  # a partial result is not cached


class PausingInbox(Inbox):
    """An inbox whose first frame holds the worker (inside its frame callback) until :attr:`proceed` is set."""

    def __init__(self):
        super().__init__()
        self.paused, self.proceed = threading.Event(), threading.Event()

    def __call__(self, content: dict, buffers: list[bytes] | None = None) -> None:
        super().__call__(content, buffers)
        if content["kind"] == protocol.MSG_OPTIMIZE_FRAME and not self.paused.is_set():
            self.paused.set()
            assert self.proceed.wait(WAIT_S)


def test_cancel_from_the_comm_handler_stops_the_run_before_its_next_step(backend):
    inbox = PausingInbox()
    jobs = OptimizeJobs(backend, inbox)
    jobs.start(request(3, steps=1000), CHANNEL)  # 1000 steps: a frame every 10 steps
    assert inbox.paused.wait(WAIT_S)  # the worker is between two steps, held
    jobs.cancel(99)  # another run: ignored
    assert jobs.running
    jobs.cancel(3)  # from this thread, while the worker is busy: never waits for it
    assert jobs.running
    inbox.proceed.set()
    assert jobs.wait(WAIT_S)
    assert [c["step"] for c in inbox.frames()] == [10]  # no step ran after the cancel
    assert inbox.done()[0]["cancelled"] is True
    jobs.close()


def test_a_new_request_cancels_the_running_one(jobs):
    inbox = jobs.inbox
    jobs.start(request(1, steps=1000), CHANNEL)
    inbox.wait_for(lambda: len(inbox.frames(1)) >= 1)
    jobs.start(request(2, "invert", steps=5), CHANNEL)
    assert jobs.wait(WAIT_S)
    assert inbox.done(1)[0]["cancelled"] is True
    assert inbox.done(2) == [{"kind": protocol.MSG_OPTIMIZE_DONE, "run": 2, "cancelled": False, "cached": False,
                              "error": ""}]
    first_of_2 = next(i for i, (c, _, _) in enumerate(inbox.messages) if c.get("run") == 2)
    last_of_1 = max(i for i, (c, _, _) in enumerate(inbox.messages) if c.get("run") == 1)
    assert last_of_1 < first_of_2  # one job at a time


def test_the_requests_selection_is_the_one_optimized(jobs):
    """The view sends its latest selection with a run: a change still queued in the view must not be overtaken."""
    jobs.start(request(1, steps=10, selection={"channel": 4}), CHANNEL)
    assert jobs.wait(WAIT_S)
    jobs.start(request(2, steps=10), Selection(layer="block2.conv2", channel=4, target="channel"))
    assert jobs.inbox.done(2)[0]["cached"] is True  # the same run as channel 4 from the kernel's selection
    assert jobs.optimizations == 1


def test_a_second_identical_request_is_answered_from_the_cache(jobs):
    inbox = jobs.inbox
    jobs.start(request(1, steps=10), CHANNEL)
    assert jobs.wait(WAIT_S)
    assert jobs.optimizations == 1
    last = inbox.frames(1)[-1]
    jobs.start(request(2, steps=10), CHANNEL)
    assert not jobs.running and jobs.optimizations == 1  # no new optimization
    (frame,) = inbox.frames(2)
    assert frame["step"] == frame["steps"] == 10 and frame["image"] == last["image"]
    assert inbox.done(2) == [{"kind": protocol.MSG_OPTIMIZE_DONE, "run": 2, "cancelled": False, "cached": True,
                              "error": ""}]
    # What the cache keys on: other steps, another channel or another visualisation run again.
    for run, (req, selection) in enumerate([(request(0, steps=11), CHANNEL),
                                            (request(0, steps=10), Selection(layer="block2.conv2", channel=4,
                                                                             target="channel")),
                                            (request(0, "invert", steps=10), CHANNEL)], start=3):
        jobs.start({**req, "id": run}, selection)
        assert jobs.wait(WAIT_S) and inbox.done(run)[0]["cached"] is False
    assert jobs.optimizations == 4
    # A channel's visualisation does not depend on the image; the image's own method does.
    jobs.start(request(9, steps=10), Selection(image_index=2, layer="block2.conv2", channel=3, target="channel"))
    assert inbox.done(9)[0]["cached"] is True


@pytest.mark.parametrize(("req", "selection", "message"), [
    (request(1, "dream"), CHANNEL, "unknown visualisation 'dream'; choose one of class_model, activation_"),
    (request(1, steps=0), CHANNEL, "steps must be a whole number from 1 to 2000; got 0"),
    (request(1, steps=5000), CHANNEL, "steps must be a whole number from 1 to 2000; got 5000"),
    (request(1, steps="ten"), CHANNEL, "steps must be a whole number from 1 to 2000; got 'ten'"),
    (request(1, steps=True), CHANNEL, "steps must be a whole number"),
    (request(1, "class_model"), Selection(layer="block1.conv1", target_class=99), "class 99 is out of range"),
    (request(1), Selection(layer="block2.conv2", channel=999, target="channel"), "channel 999 is out of range"),
    (request(1), Selection(layer="block2.conv1", channel=1, target="neuron", position=(40, 0)),
     "y index 40 is out of range"),
    (request(1, "deepdream"), Selection(layer="block9"), "unknown layer 'block9'"),
    (request(1, "invert"), Selection(image_index=5, layer="block1"), "image 5 is out of range"),
    (request(1, selection={"channel": 999}), CHANNEL, "channel 999 is out of range"),
    (request(1, selection={"colour": 1}), CHANNEL, "unknown selection field 'colour'"),
    (request(1, selection=[1, 2]), CHANNEL, "selection must be an object of selection fields"),
])
def test_bad_requests_get_a_done_message_with_a_plain_words_error(jobs, req, selection, message):
    jobs.start(req, selection)
    assert not jobs.running and jobs.optimizations == 0
    assert jobs.inbox.frames() == []
    (done,) = jobs.inbox.done()
    assert done["run"] == 1 and done["cancelled"] is False and done["cached"] is False
    assert message in done["error"], done["error"]
    assert "Traceback" not in done["error"]


def test_the_shadow_model_shares_the_weights_but_not_the_modules(model):
    shadow = shadow_model(model)
    assert all(a is b for a, b in zip(shadow.parameters(), model.parameters(), strict=True))
    assert all(a is b for a, b in zip(shadow.buffers(), model.buffers(), strict=True))
    assert all(a is not b for a, b in zip(shadow.modules(), model.modules(), strict=True))


def test_the_model_is_untouched_while_and_after_jobs_run(model, images):
    model.train()  # a model in training mode must come back in training mode
    try:
        snapshot = ModelSnapshot.of(model)
        explorer = Explorer(model, images, labels=demo.CLASS_NAMES)
        inbox = Inbox()
        while_running: dict[int, ModelSnapshot] = {}

        def send(content, buffers=None):
            if content["kind"] == protocol.MSG_OPTIMIZE_FRAME and content["run"] not in while_running:
                while_running[content["run"]] = ModelSnapshot.of(model)  # in the worker, mid-run
            inbox(content, buffers)

        explorer.send = send
        for run, visualisation in enumerate(protocol.OPTIMIZE_VISUALISATIONS):
            explorer._on_message(explorer, request(run, visualisation, steps=4), [])
            assert explorer._panels["optimization"].jobs.wait(WAIT_S)
        explorer._on_message(explorer, request(9, steps=1000), [])
        inbox.wait_for(lambda: len(inbox.frames(9)) >= 1)
        explorer._on_message(explorer, {"kind": protocol.MSG_OPTIMIZE_CANCEL, "run": 9}, [])
        assert explorer._panels["optimization"].jobs.wait(WAIT_S)
        assert [d["error"] for d in inbox.done()] == [""] * 5 and inbox.done(9)[0]["cancelled"] is True
        explorer.close()
        snapshot.assert_unchanged(model)
        assert sorted(while_running) == [0, 1, 2, 3, 9]
        for seen in while_running.values():  # while a job ran, the user's model had none of its hooks or flags
            assert seen.hooks == snapshot.hooks and seen.training == snapshot.training
    finally:
        model.eval()


def test_a_select_request_is_still_answered_while_a_job_runs(model, images):
    """Selects never wait for the job: they are answered while the worker is held in the middle of its run."""
    snapshot = ModelSnapshot.of(model)
    explorer = Explorer(model, images, labels=demo.CLASS_NAMES)
    inbox = PausingInbox()
    explorer.send = inbox

    def select(request_id: int, **selection) -> None:
        explorer._on_message(explorer, {"kind": protocol.MSG_SELECT, "id": request_id, "selection": selection}, [])
        (answer,) = [c for c in inbox.of(protocol.MSG_RESULT) if c["id"] == request_id]
        assert answer["error"] == "" and answer["selection"]["method"] == selection["method"]

    explorer._on_message(explorer, request(50, steps=2000), [])  # ~40 s if left alone
    assert inbox.paused.wait(WAIT_S)  # held inside its first frame
    selects = threading.Thread(target=lambda: [select(i, method=m, image_index=i % 3) for i, m in
                                               enumerate(["guided", "gradient", "gradcam"], 10)])
    selects.start()
    selects.join(WAIT_S)  # a bound against a hang only: a select that waited for the job would never return
    assert not selects.is_alive() and len(inbox.of(protocol.MSG_RESULT)) >= 3
    assert explorer._panels["optimization"].jobs.running and inbox.done(50) == []  # answered while the job runs
    inbox.proceed.set()
    frames_before = len(inbox.frames(50))
    inbox.wait_for(lambda: len(inbox.frames(50)) > frames_before)  # and the job goes on
    explorer._on_message(explorer, {"kind": protocol.MSG_OPTIMIZE_CANCEL, "run": 50}, [])
    assert explorer._panels["optimization"].jobs.wait(WAIT_S) and inbox.done(50)[0]["cancelled"] is True
    snapshot.assert_unchanged(model)
    explorer.close()


def test_a_job_and_selects_side_by_side_give_the_numbers_each_gives_alone(model):
    """The job runs on a shadow of the model (its own hooks and flags, the same weights), so neither the forward
    passes of the selects (hooks on every module, a TorchFunctionMode) nor the job's hooks reach the other."""
    images = demo.images(6, seed=1).images  # more images than sessions kept: every select makes a forward pass
    model.train()  # each side switches to eval mode and back: on one shared module tree they would interleave
    snapshot = ModelSnapshot.of(model)

    def side_by_side(with_selects: bool) -> tuple[list[bytes], dict[int, bytes]]:
        explorer = Explorer(model, images, labels=demo.CLASS_NAMES)
        inbox = Inbox()
        explorer.send = inbox
        explorer._on_message(explorer, request(1, steps=30), [])
        request_id = during = 0
        while with_selects and (explorer._panels["optimization"].jobs.running or request_id < 3):
            during += explorer._panels["optimization"].jobs.running
            selection = {"image_index": request_id % 6, "method": "guided", "target": "channel",
                         "layer": "block2.relu1", "channel": 2}
            explorer._on_message(explorer, {"kind": protocol.MSG_SELECT, "id": request_id, "selection": selection},
                                 [])
            request_id += 1
        assert explorer._panels["optimization"].jobs.wait(WAIT_S)
        assert during >= 2 or not with_selects
        frames = [b[0] for c, b, _ in inbox.messages if c["kind"] == protocol.MSG_OPTIMIZE_FRAME]
        attributions = {c["selection"]["image_index"]: b[protocol.BUFFER_ATTRIBUTION]
                        for c, b, _ in inbox.messages if c["kind"] == protocol.MSG_RESULT and c["id"] is not None}
        return frames, attributions

    try:
        alone, _ = side_by_side(False)
        together, attributions = side_by_side(True)
        snapshot.assert_unchanged(model)
    finally:
        model.eval()
    assert together == alone  # bit for bit
    explorer = Explorer(model, images, labels=demo.CLASS_NAMES)
    inbox = Inbox()
    explorer.send = inbox
    for image_index, buffer in attributions.items():
        explorer._on_message(explorer, {"kind": protocol.MSG_SELECT, "id": 0, "selection": {
            "image_index": image_index, "method": "guided", "target": "channel", "layer": "block2.relu1",
            "channel": 2}}, [])
        assert inbox.of(protocol.MSG_RESULT)[-1]["error"] == ""
        assert inbox.messages[-1][1][protocol.BUFFER_ATTRIBUTION] == buffer
