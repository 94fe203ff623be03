"""Perturbation methods: lean recordings, chunks from a memory budget or the user's batch_size, progress, cancel."""

from __future__ import annotations

import threading

import pytest
import torch
from torch import nn

import nbsaliency as nbs
from nbsaliency.errors import Cancelled
from nbsaliency.methods import perturbed
from tests.invariance import ModelSnapshot
from tests.models import make_input, make_model

FAST = {"smoothgrad": {"n_samples": 6}, "integrated_gradients": {"steps": 6}, "occlusion": {"window": 4}}


class BatchSizes(nn.Module):
    """Records the batch size of every forward pass and whether a TorchFunctionMode was active."""

    def __init__(self):
        super().__init__()
        self.inner = make_model("vgg")
        self.sizes: list[int] = []
        self.modes: list[int] = []

    def forward(self, x):
        self.sizes.append(x.shape[0])
        self.modes.append(len(torch.overrides._get_current_function_mode_stack()))
        return self.inner(x)


def _count_hook_registrations(monkeypatch) -> list[str]:
    registered: list[str] = []
    for name in ("register_forward_hook", "register_forward_pre_hook"):
        original = getattr(nn.Module, name)

        def counting(module, *args, _original=original, **kwargs):
            registered.append(type(module).__name__)
            return _original(module, *args, **kwargs)

        monkeypatch.setattr(nn.Module, name, counting)
    return registered


@pytest.mark.parametrize("method", ["occlusion", "smoothgrad", "integrated_gradients"])
@pytest.mark.parametrize("one_shot", [False, True])
def test_a_logit_target_perturbation_records_no_layer(method, one_shot, monkeypatch):
    model = BatchSizes()
    x = make_input(2)
    session = None if one_shot else nbs.Session(model, x)
    model.sizes.clear(), model.modes.clear()
    registered = _count_hook_registrations(monkeypatch)
    if one_shot:  # the lazy session: no kept forward, so one probe pass of one image sizes the chunks
        nbs.attribute(model, x, 1, method, **FAST[method])
        probe = model.sizes.index(1)
        assert model.sizes.count(1) == 1 and model.modes[probe] == 1  # the probe only measures output sizes
        model.sizes.pop(probe), model.modes.pop(probe)
    else:
        session.attribute(1, method, **FAST[method])
    assert registered == []  # no hooks: no layer is named, let alone captured
    assert model.modes == [0] * len(model.sizes)  # no TorchFunctionMode: the bare model call
    assert all(size % 2 == 0 for size in model.sizes)  # the clean batch or whole chunks of copies


def test_a_unit_target_perturbation_captures_only_its_layer():
    session = nbs.Session(make_model("resnet"), make_input(2))
    recordings = []
    original = session.record_for

    def spy(x, targets, rule):
        recording = original(x, targets, rule)
        recordings.append(set(recording.activations))
        return recording

    session.record_for = spy
    target = nbs.Channel("layer1.0.conv2", 1) + 0.5 * nbs.Neuron("layer1.1.relu#2", 2, 3, 3)
    session.attribute(target, "occlusion", window=4)
    session.attribute(target, "smoothgrad", n_samples=2, base="guided")
    assert recordings and all(r == {"layer1.0.conv2", "layer1.1.relu#2"} for r in recordings)


@pytest.mark.parametrize("method", ["occlusion", "smoothgrad", "integrated_gradients"])
def test_an_explicit_batch_size_is_respected_and_chunking_does_not_change_the_map(method):
    model = BatchSizes()
    session = nbs.Session(model, make_input(2))
    whole = session.attribute(nbs.Logit(torch.tensor([1, 2])), method, batch_size=1000, **FAST[method])
    model.sizes.clear()
    chunked = session.attribute(nbs.Logit(torch.tensor([1, 2])), method, batch_size=4, **FAST[method])
    assert model.sizes and max(model.sizes) <= 4
    torch.testing.assert_close(chunked, whole, atol=1e-6, rtol=1e-5)


def test_without_batch_size_chunks_follow_the_memory_budget(monkeypatch):
    model = BatchSizes()
    session = nbs.Session(model, make_input(2))
    per_image = perturbed.bytes_per_image(session, gradients=True)
    monkeypatch.setattr(perturbed, "memory_budget", lambda device: 6 * per_image)
    model.sizes.clear()
    session.attribute(1, "smoothgrad", n_samples=7)
    assert model.sizes == [6, 6, 2]  # three copies of the two images per chunk, then the last one


def test_the_no_grad_estimate_is_smaller_than_the_gradient_estimate():
    session = nbs.Session(make_model("resnet"), make_input(2))
    assert perturbed.bytes_per_image(session, gradients=False) < perturbed.bytes_per_image(session, gradients=True)


def test_the_probe_estimate_bounds_the_kept_pass_estimate():
    """The probe counts every operation's output (at least every captured layer's): a safe over-estimate."""
    model, x = make_model("resnet"), make_input(2)
    kept = nbs.Session(model, x)
    lazy = nbs.Session(model, x, lazy=True)
    for gradients in (True, False):
        probed = perturbed.bytes_per_image(lazy, gradients=gradients)
        assert perturbed.bytes_per_image(kept, gradients=gradients) <= probed
    assert not lazy.has_kept_forward
    assert perturbed.bytes_per_image(lazy, gradients=False) == 2 * 8 * 16 * 16 * 4 + 3 * 16 * 16 * 4


@pytest.mark.parametrize("method", ["occlusion", "smoothgrad", "integrated_gradients"])
def test_progress_reports_copies_done_after_every_chunk(method):
    session = nbs.Session(make_model("vgg"), make_input(2))
    reports: list[tuple[int, int]] = []
    session.attribute(1, method, batch_size=4, progress=lambda done, total: reports.append((done, total)),
                      **FAST[method])
    total = reports[-1][1]
    assert [done for done, _ in reports] == list(range(2, total, 2)) + [total]
    assert all(t == total for _, t in reports)


@pytest.mark.parametrize("method", ["occlusion", "smoothgrad", "integrated_gradients"])
def test_a_set_cancel_event_stops_between_chunks_and_leaves_the_model_unchanged(method):
    model = BatchSizes()
    session = nbs.Session(model, make_input(2))
    snapshot = ModelSnapshot.of(model)
    cancel = threading.Event()
    calls_before = len(model.sizes)

    def cancel_after_second_chunk(done, total):
        if done >= 4:
            cancel.set()

    with pytest.raises(Cancelled, match=rf"{method} was cancelled after 4 of \d+"):
        session.attribute(1, method, batch_size=4, progress=cancel_after_second_chunk, cancel=cancel, **FAST[method])
    assert len(model.sizes) - calls_before == 2
    snapshot.assert_unchanged(model)
