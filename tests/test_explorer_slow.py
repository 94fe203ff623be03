"""Slow methods run off the comm handler: progress, Cancel, latest wins, previews sized for the model.

No timing: the worker is held inside the engine's progress callback until the test has acted (an event)."""

from __future__ import annotations

import threading

import torch

import nbsaliency as nbs
from nbsaliency.explorer import protocol
from nbsaliency.explorer.widget import Explorer
from tests.models import make_input, make_model

WAIT_S = 30  # a safety net only: every wait below ends on an event


class HeldInbox:
    """Collects what is sent; the first progress message of request ``hold`` blocks the worker until that job's
    cancel event is set (by Cancel or by a newer request), so the test acts while the computation runs."""

    def __init__(self, explorer: Explorer, hold: int | None):
        self.explorer, self.hold = explorer, hold
        self.messages: list[dict] = []
        self.reached = threading.Event()
        explorer.send = self

    def __call__(self, content: dict, buffers=None) -> None:
        self.messages.append(content)
        if content["kind"] == protocol.MSG_ATTRIBUTION_PROGRESS and content["id"] == self.hold \
                and not self.reached.is_set():
            job = self.explorer._background.running
            self.reached.set()
            assert job is not None and job.cancel.wait(WAIT_S), "the held job was never cancelled"

    def results(self, request_id: int) -> list[dict]:
        return [m for m in self.messages if m["kind"] == protocol.MSG_RESULT and m["id"] == request_id]


def explorer_with_chunks() -> Explorer:
    explorer = Explorer(make_model("vgg"), make_input(2))
    explorer.backend.method_options["smoothgrad"] = {"batch_size": 2}  # several chunks: cancel points between
    return explorer


def request(explorer: Explorer, request_id: int, **fields) -> None:
    explorer._on_message(explorer, {"kind": protocol.MSG_SELECT, "id": request_id, "selection": fields}, [])


def test_smoothgrad_runs_in_the_background_with_progress_and_cancel_restores_the_shown_selection():
    explorer = explorer_with_chunks()
    inbox = HeldInbox(explorer, hold=10)
    request(explorer, 10, method="smoothgrad")  # returns while the worker runs: the comm handler is free
    assert inbox.reached.wait(WAIT_S)
    progress = [m for m in inbox.messages if m["kind"] == protocol.MSG_ATTRIBUTION_PROGRESS]
    assert progress[0] == {"kind": "attribution_progress", "id": 10, "method": "smoothgrad", "done": 2, "total": 25}
    assert inbox.results(10) == []  # not answered yet
    explorer._on_message(explorer, {"kind": protocol.MSG_ATTRIBUTION_CANCEL, "id": 10}, [])
    explorer._background.join()
    (answer,) = inbox.results(10)
    assert answer["cancelled"] and "cancelled" in answer["error"] and answer["attribution"] is None
    assert explorer.method == "gradient" and explorer.error == ""  # back to the last shown result, no error state
    assert explorer.figure() is not None


def test_a_new_selection_cancels_the_running_one_and_is_answered():
    explorer = explorer_with_chunks()
    inbox = HeldInbox(explorer, hold=20)
    request(explorer, 20, method="smoothgrad")
    assert inbox.reached.wait(WAIT_S)
    request(explorer, 21, method="guided", channel=3, target="channel")  # latest wins: 20 is cancelled first
    (old,) = inbox.results(20)
    (new,) = inbox.results(21)
    assert old["cancelled"] and new["error"] == "" and not new["cancelled"]
    assert old["seq"] < new["seq"]
    assert (explorer.method, explorer.channel, explorer.target) == ("guided", 3, "channel")


def test_a_finished_background_result_equals_the_engine_s_own():
    explorer = explorer_with_chunks()
    inbox = HeldInbox(explorer, hold=None)
    request(explorer, 30, method="smoothgrad", target="logit", target_class=1)
    explorer._background.join()
    (answer,) = inbox.results(30)
    assert answer["error"] == "" and explorer.method == "smoothgrad"
    done = [m["done"] for m in inbox.messages if m["kind"] == protocol.MSG_ATTRIBUTION_PROGRESS]
    assert done == list(range(2, 25, 2)) + [25]
    session = nbs.Session(make_model("vgg"), make_input(2)[:1])
    expected = session.attribute(nbs.Logit(1), "smoothgrad", batch_size=2)[0]
    assert torch.allclose(torch.from_numpy(explorer._result.attribution), expected, atol=1e-6)


def test_large_models_get_a_preview_named_in_the_notes_and_refine_runs_the_full_defaults():
    explorer = explorer_with_chunks()
    explorer.backend.parameters = 25_600_000  # a ResNet-50-sized count, as the rule reads it
    inbox = HeldInbox(explorer, hold=None)
    request(explorer, 40, method="smoothgrad")
    explorer._background.join()
    totals = {m["total"] for m in inbox.messages if m["kind"] == protocol.MSG_ATTRIBUTION_PROGRESS}
    assert totals == {8}
    assert any(n.startswith("preview (8 noisy samples instead of 25") for n in inbox.results(40)[0]["notes"])
    explorer._on_message(explorer, {"kind": protocol.MSG_ATTRIBUTION_REFINE, "id": 41, "method": "smoothgrad"}, [])
    explorer._background.join()
    totals = {m["total"] for m in inbox.messages if m["kind"] == protocol.MSG_ATTRIBUTION_PROGRESS and m["id"] == 41}
    assert totals == {25} and not any(n.startswith("preview") for n in inbox.results(41)[0]["notes"])


def test_slow_methods_set_from_python_compute_in_the_cell():
    explorer = explorer_with_chunks()
    explorer.send = lambda content, buffers=None: None
    explorer.method = "integrated_gradients"
    assert explorer._background.running is None and explorer._result.selection.method == "integrated_gradients"
