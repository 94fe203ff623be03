"""The patch grid's engine side (nbsaliency/explorer/patches.py), without a browser: the index built in the background
with progress and a cancel, grids equal to ``top_patches``, latest-wins answers, opening a patch, plain-words
errors, and a user's model that is never changed."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from nbsaliency import demo
from nbsaliency.explorer import patches as patch_jobs
from nbsaliency.explorer import protocol
from nbsaliency.explorer.backend import ExplorerBackend, display_image
from nbsaliency.explorer.patches import IndexState, PatchJobs
from nbsaliency.maps import signed_rgb
from nbsaliency.patches import PatchIndex, top_patches
from tests.invariance import ModelSnapshot
from tests.test_explorer_optimization import Inbox

WAIT_S = 60
LAYER, CHANNEL = "block2.conv2", 3


@pytest.fixture(scope="module")
def model(demo_model):
    return demo_model


@pytest.fixture(scope="module")
def images():
    return demo.images(4, seed=0).images


@pytest.fixture(scope="module")
def dataset():
    return demo.images(120, seed=3).images


@pytest.fixture(scope="module")
def backend(model, images):
    return ExplorerBackend(model, images, labels=demo.CLASS_NAMES)


class States:
    """Collects the index states reported, with the thread that reported each."""

    def __init__(self):
        self.seen: list[tuple[IndexState, str]] = []

    def __call__(self, state: IndexState) -> None:
        self.seen.append((state, threading.current_thread().name))

    @property
    def statuses(self) -> list[str]:
        return [s.status for s, _ in self.seen]


def make_jobs(backend, dataset=None, **kwargs) -> PatchJobs:
    inbox, states = Inbox(), States()
    jobs = PatchJobs(backend, inbox, states, dataset=dataset, **kwargs)
    jobs.inbox, jobs.states = inbox, states
    return jobs


@pytest.fixture
def ready(backend, dataset):
    jobs = make_jobs(backend, dataset)
    assert jobs.wait(WAIT_S) and jobs.state.status == "ready", jobs.state
    yield jobs
    jobs.close()


def ask(jobs: PatchJobs, request_id, layer=LAYER, channel=CHANNEL, method="deconvnet", **extra) -> dict:
    jobs.handle({"kind": protocol.MSG_PATCHES, "id": request_id, "layer": layer, "channel": channel,
                 "method": method, **extra})
    assert jobs.wait(WAIT_S)
    (answer,) = [c for c in jobs.inbox.of(protocol.MSG_PATCHES_RESULT) if c["id"] == request_id]
    return answer


def test_the_index_is_built_in_the_background_with_progress(backend, dataset):
    jobs = make_jobs(backend, dataset, batch_size=8)
    assert jobs.state.status == "building"  # the constructor returned before the index was built
    assert jobs.wait(WAIT_S)
    states = jobs.states.seen
    assert [s.status for s, _ in states][0] == "building" and states[-1][0] == IndexState("ready", 120, 120, "")
    building = [s for s, thread in states[1:-1]]
    assert all(s.status == "building" and s.total == 120 for s in building)
    assert [s.done for s in building] == sorted(s.done for s in building) and building[-1].done == 120
    assert {thread for _, thread in states[1:]} == {"nbsaliency-patches"}
    assert jobs.index.n_images == 120 and LAYER in jobs.index.layers
    jobs.close()


class FakeClock:
    """A clock that moves ``step`` seconds each time it is read (from any uptime: it starts at ``start``)."""

    def __init__(self, step: float, start: float = 0.0):
        self.now, self.step = start - step, step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


@pytest.mark.parametrize("start", [0.0, 1e6])  # a machine booted just now, or long ago
def test_progress_is_reported_at_most_every_fifth_of_a_second(backend, dataset, monkeypatch, start):
    monkeypatch.setattr(patch_jobs, "clock", FakeClock(0.0, start))  # time stands still: only first and last
    jobs = make_jobs(backend, dataset, batch_size=4)  # 30 batches
    assert jobs.wait(WAIT_S)
    dones = [s.done for s, _ in jobs.states.seen]
    assert dones == [0, 0, 120, 120]  # asked; the first batch's callback (done 0); the last; ready
    jobs.close()


def test_progress_goes_out_once_the_interval_has_passed(backend, dataset, monkeypatch):
    monkeypatch.setattr(patch_jobs, "clock", FakeClock(0.125))  # each callback 1/8 s after the one before
    monkeypatch.setattr(patch_jobs, "PROGRESS_EVERY_S", 0.25)
    jobs = make_jobs(backend, dataset, batch_size=8)  # callbacks at done 0, 8, ..., 120
    assert jobs.wait(WAIT_S)
    dones = [s.done for s, _ in jobs.states.seen][1:-1]
    assert dones == [0, 16, 32, 48, 64, 80, 96, 112, 120]  # every other callback, and the last
    jobs.close()


def test_cancel_stops_the_build_leaves_the_model_alone_and_a_rebuild_works(model, images, dataset):
    model.train()  # must come back in training mode
    try:
        snapshot = ModelSnapshot.of(model)
        backend = ExplorerBackend(model, images)
        jobs: PatchJobs | None = None

        made = threading.Event()

        def cancel_on_first_progress(state: IndexState) -> None:
            states(state)
            if state.status == "building" and state.done > 0:
                assert made.wait(WAIT_S)  # `jobs` is assigned
                jobs.cancel()

        states = States()
        patch_jobs.PROGRESS_EVERY_S, every = 0.0, patch_jobs.PROGRESS_EVERY_S  # every batch reports: the cancel
        try:  # comes after the first of 30 batches, however fast the machine
            jobs = PatchJobs(backend, Inbox(), cancel_on_first_progress, dataset=dataset, batch_size=4)
            made.set()
            jobs.wait(WAIT_S)
        finally:
            patch_jobs.PROGRESS_EVERY_S = every
        jobs.inbox = Inbox()
        jobs.send = jobs.inbox
        assert jobs.wait(WAIT_S)
        last = states.seen[-1][0]
        assert last.status == "cancelled" and "cancelled after" in last.message
        assert last.done < 120 and jobs.index is None
        answer = ask(jobs, 1)
        assert answer["ready"] is False and answer["patches"] == [] and answer["error"] == ""
        snapshot.assert_unchanged(model)

        jobs.on_status = states
        jobs.handle({"kind": protocol.MSG_INDEX_BUILD})
        assert jobs.wait(WAIT_S) and states.statuses[-1] == "ready"
        assert len(ask(jobs, 2)["patches"]) == 9
        jobs.close()
        snapshot.assert_unchanged(model)
    finally:
        model.eval()


def test_a_grid_is_nine_patches_equal_to_top_patches(ready, model, dataset):
    answer = ask(ready, 7, method="guided")
    buffers = next(b for c, b, _ in ready.inbox.messages if c.get("id") == 7)
    expected = top_patches(model, dataset, ready.index, LAYER, CHANNEL, "guided")
    assert answer["error"] == "" and answer["ready"] is True and answer["projection"] == "guided"
    assert answer["note"] == "" and len(answer["patches"]) == 9 == len(expected)
    assert len(buffers) == protocol.PATCH_BUFFERS * 9
    for i, (shown, patch) in enumerate(zip(answer["patches"], expected, strict=True)):
        top, left, bottom, right = patch.box
        assert shown == {"rank": i, "value": pytest.approx(patch.value), "image": patch.image_index, "y": patch.y,
                         "x": patch.x, "box": [top, left, bottom, right], "shape": [bottom - top, right - left, 4]}
        crop = np.frombuffer(buffers[2 * i], np.uint8).reshape(shown["shape"])
        projection = np.frombuffer(buffers[2 * i + 1], np.uint8).reshape(shown["shape"])
        np.testing.assert_array_equal(crop, display_image(dataset[patch.image_index])[top:bottom, left:right])
        np.testing.assert_array_equal(projection, display_image(signed_rgb(patch.projection)))
    assert [p["value"] for p in answer["patches"]] == sorted((p["value"] for p in answer["patches"]), reverse=True)


def test_methods_that_cannot_project_a_unit_fall_back_to_deconvnet_and_say_so(ready):
    gradcam = ask(ready, 1, method="gradcam")
    assert gradcam["method"] == "gradcam" and gradcam["projection"] == "deconvnet"
    assert gradcam["note"] == "Grad-CAM cannot project single units"
    computed = ready.projections
    deconvnet = ask(ready, 2, method="deconvnet")  # the same grid: from the cache
    assert ready.projections == computed
    assert deconvnet["patches"] == gradcam["patches"] and deconvnet["note"] == ""


def test_a_cached_grid_is_answered_at_once_from_the_comm_thread(ready):
    ask(ready, 1)
    computed = ready.projections
    ask(ready, 2)
    assert ready.projections == computed
    threads = [t for c, _, t in ready.inbox.messages if c.get("id") in (1, 2)]
    assert threads == ["nbsaliency-patches", threading.current_thread().name]


def test_a_newer_request_replaces_the_waiting_one_and_seq_increases(ready, monkeypatch):
    release, started = threading.Event(), threading.Event()
    real = patch_jobs.top_patches

    def held(*args, **kwargs):
        started.set()
        assert release.wait(WAIT_S)
        return real(*args, **kwargs)

    monkeypatch.setattr(patch_jobs, "top_patches", held)
    inbox = ready.inbox
    ready.handle({"kind": protocol.MSG_PATCHES, "id": 1, "layer": LAYER, "channel": 1, "method": "deconvnet"})
    assert started.wait(WAIT_S)  # the worker holds request 1
    for request_id, channel in ((2, 2), (3, 4)):
        ready.handle({"kind": protocol.MSG_PATCHES, "id": request_id, "layer": LAYER, "channel": channel,
                      "method": "deconvnet"})
    (two,) = [c for c in inbox.of(protocol.MSG_PATCHES_RESULT) if c["id"] == 2]
    assert two["superseded"] is True and two["patches"] == [] and two["error"] == ""
    release.set()
    assert ready.wait(WAIT_S)
    answers = inbox.of(protocol.MSG_PATCHES_RESULT)
    assert [c["id"] for c in answers] == [2, 1, 3] and [c["seq"] for c in answers] == [1, 2, 3]
    assert answers[-1]["channel"] == 4 and len(answers[-1]["patches"]) == 9
    assert ready.projections == 2  # request 2 never ran


@pytest.mark.parametrize(("fields", "message"), [
    ({"channel": "3"}, "channel must be a whole number >= 0; got '3'"),
    ({"channel": True}, "channel must be a whole number >= 0; got True"),
    ({"channel": -1}, "channel must be a whole number >= 0; got -1"),
    ({"layer": None}, "layer must be a string; got None"),
    ({"method": "dream"}, "unknown method 'dream'; choose one of gradient, deconvnet"),
    ({"layer": "flatten"}, r"layer 'flatten' has output shape \(64,\): only layers with spatial \(C, h, w\) maps"),
    ({"layer": "block9.conv"}, "unknown layer 'block9.conv'"),
    ({"channel": 999}, r"channel 999 is out of range for layer 'block2.conv2' with 32 channels \(valid 0..31\)"),
])
def test_bad_requests_are_answered_in_plain_words_and_the_grid_keeps_working(ready, fields, message):
    import re

    answer = ask(ready, 5, **fields)
    assert answer["patches"] == [] and re.search(message, answer["error"]), answer["error"]
    assert "Traceback" not in answer["error"]
    assert len(ask(ready, 6)["patches"]) == 9


def test_opening_a_dataset_patch_adds_its_image_once(model, images, dataset):
    backend = ExplorerBackend(model, images)
    jobs = make_jobs(backend, dataset)
    assert jobs.wait(WAIT_S)
    unit = jobs.index.top(LAYER, CHANNEL)[2]
    opened = jobs.open({"kind": protocol.MSG_PATCH_OPEN, "layer": LAYER, "channel": CHANNEL, "rank": 2})
    assert opened == (4, LAYER, CHANNEL, (unit.y, unit.x)) and len(backend.inputs) == 5
    assert torch.equal(backend.inputs[4], dataset[unit.image])
    assert jobs.open({"layer": LAYER, "channel": CHANNEL, "rank": 2})[0] == 4 and len(backend.inputs) == 5
    other = jobs.index.top(LAYER, CHANNEL + 1)[0]
    if other.image != unit.image:
        assert jobs.open({"layer": LAYER, "channel": CHANNEL + 1, "rank": 0})[0] == 5
    with pytest.raises(IndexError, match=r"patch 9 is out of range: 'block2.conv2' channel 3 has 9 top patches"):
        jobs.open({"layer": LAYER, "channel": CHANNEL, "rank": 9})
    jobs.close()


def test_without_a_dataset_the_explorers_own_images_are_indexed_and_opened_in_place(backend):
    jobs = make_jobs(backend)
    assert jobs.wait(WAIT_S) and jobs.index.n_images == 4
    unit = jobs.index.top(LAYER, CHANNEL)[0]
    assert jobs.open({"layer": LAYER, "channel": CHANNEL, "rank": 0})[0] == unit.image
    assert len(backend.inputs) == 4
    jobs.close()


@pytest.mark.parametrize(("dataset", "message"), [
    (torch.zeros(0, 3, 64, 64), "the dataset is empty: there are no images to index"),
    ([torch.rand(3, 64, 64), torch.rand(3, 64, 64), torch.rand(3, 32, 32)],
     r"dataset item 2: shape \(3, 32, 32\) differs from the first image's \(3, 64, 64\)"),
    ([torch.rand(64, 64)], r"dataset item 0: expected a \(C, H, W\) image; got shape \(64, 64\)"),
    (5, "cannot index images from a int"),
])
def test_dataset_errors_are_reported_in_plain_words(backend, dataset, message):
    import re

    jobs = make_jobs(backend, dataset)
    assert jobs.wait(WAIT_S)
    state = jobs.state
    assert state.status == "error" and re.search(message, state.message), state.message
    answer = ask(jobs, 1)
    assert answer["ready"] is False and answer["error"] == ""
    jobs.close()


def test_a_ready_index_is_used_as_it_is_and_a_saved_one_is_reused(model, backend, dataset, tmp_path):
    index = PatchIndex.build(model, dataset, progress=False)
    jobs = make_jobs(backend, dataset, index=index)
    assert jobs.index is index and jobs.state.status == "ready" and jobs._thread is None
    assert len(ask(jobs, 1)["patches"]) == 9
    jobs.close()

    path = tmp_path / "index.npz"
    first = make_jobs(backend, dataset, index=path)
    assert first.wait(WAIT_S) and first.state.status == "ready" and path.exists()
    saved = path.stat().st_mtime_ns
    second = make_jobs(backend, dataset, index=str(path))
    assert second.wait(WAIT_S) and second.state.status == "ready"
    assert path.stat().st_mtime_ns == saved  # loaded, not rebuilt
    assert ask(second, 1)["patches"] == ask(first, 1)["patches"]
    first.close()
    second.close()

    stale = make_jobs(backend, dataset[:60], index=path)  # another dataset: rebuilt, and the panel says why
    assert stale.wait(WAIT_S) and stale.state.status == "ready" and stale.index.n_images == 60
    assert "is stale (the dataset changed" in stale.state.message
    stale.close()


def test_an_index_of_another_dataset_is_refused(model, backend, dataset):
    index = PatchIndex.build(model, dataset, progress=False)
    jobs = make_jobs(backend, None, index=index)  # the explorer's 4 images, an index of 120
    assert jobs.state.status == "error"
    assert "covers images 0..119 but the dataset has 4; pass the dataset it was built on" in jobs.state.message
    with pytest.raises(TypeError, match="patch_index must be a PatchIndex, a path or None; got int"):
        PatchJobs(backend, Inbox(), States(), index=3)


def test_close_stops_the_worker(backend, dataset):
    jobs = make_jobs(backend, torch.cat([dataset] * 20), batch_size=2)
    jobs.close(WAIT_S)
    assert not jobs._thread.is_alive()
    assert jobs.state.status in ("cancelled", "ready")
    jobs.handle({"kind": protocol.MSG_INDEX_BUILD})  # ignored once closed
    assert jobs.wait(1)


def test_grids_and_selects_side_by_side_give_the_numbers_each_gives_alone(model, images, dataset):
    """Grids are projected on a shadow of the model in the worker while the comm thread answers selections with
    the user's model: neither sees the other's hooks, modes or backward rules."""
    from nbsaliency.explorer.widget import Explorer

    index = PatchIndex.build(model, dataset, progress=False)
    explorer = Explorer(model, images, dataset=dataset, patch_index=index)
    inbox = Inbox()
    explorer.send = inbox
    selection = {"method": "guided", "target": "channel", "layer": "block2.relu1", "channel": 2}
    for channel in range(6):  # six grids the worker projects while the selects below run
        explorer._on_message(explorer, {"kind": protocol.MSG_PATCHES, "id": channel, "layer": "block3.conv1",
                                        "channel": channel, "method": "guided"}, [])
        for image_index in range(4):
            explorer._on_message(explorer, {"kind": protocol.MSG_SELECT, "id": 100 + 4 * channel + image_index,
                                            "selection": {**selection, "image_index": image_index}}, [])
    assert explorer._panels["patches"].jobs.wait(WAIT_S)
    results = [(c, b) for c, b, _ in inbox.messages if c["kind"] == protocol.MSG_RESULT and c["id"] is not None]
    grids = {c["channel"]: (c, b) for c, b, _ in inbox.messages if c["kind"] == protocol.MSG_PATCHES_RESULT
             and not c["superseded"]}
    assert len(results) == 24 and len(grids) >= 2

    alone = Explorer(model, images, patch_index=None)
    alone_inbox = Inbox()
    alone.send = alone_inbox
    for content, buffers in results:
        alone._on_message(alone, {"kind": protocol.MSG_SELECT, "id": 0, "selection": {
            **selection, "image_index": content["image_index"]}}, [])
        assert alone_inbox.messages[-1][1][protocol.BUFFER_ATTRIBUTION] == buffers[protocol.BUFFER_ATTRIBUTION]
    for channel, (content, buffers) in grids.items():
        expected = top_patches(model, dataset, index, "block3.conv1", channel, "guided")
        for i, patch in enumerate(expected):
            shape = content["patches"][i]["shape"]
            projection = np.frombuffer(buffers[2 * i + 1], np.uint8).reshape(shape)
            np.testing.assert_array_equal(projection, display_image(signed_rgb(patch.projection)))
    explorer.close()
    alone.close()
