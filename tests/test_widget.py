"""The widget's Python side: traits, message handling and error reporting, without a browser."""

from __future__ import annotations

import random
import re
import threading

import numpy as np
import pytest
import torch
from torch import nn

import nbsaliency as nbs
from nbsaliency.explorer import protocol
from nbsaliency.explorer.attribution import selection_fields
from nbsaliency.explorer.widget import Explorer
from tests.invariance import ModelSnapshot
from tests.models import CountingVGG, make_input, make_model


class Recorder:
    """Stands in for the front end: collects what the widget sends."""

    def __init__(self, explorer: Explorer):
        self.messages: list[tuple[dict, list[bytes]]] = []
        explorer.send = lambda content, buffers=None: self.messages.append((content, buffers))

    @property
    def last(self) -> tuple[dict, list[bytes]]:
        return self.messages[-1]



@pytest.fixture
def explorer():
    return Explorer(make_model("vgg"), make_input(3), labels=["disc", "square", "ring", "star", "cross"])


def select(explorer: Explorer, request_id, **selection):
    explorer._on_message(explorer, {"kind": protocol.MSG_SELECT, "id": request_id, "selection": selection}, [])


def test_catalogue_traits_come_from_the_engine(explorer):
    assert [m["name"] for m in explorer.methods] == nbs.methods()
    assert {m["name"] for m in explorer.methods if m["rgb_view"]} == {"deconvnet", "guided", "guided_gradcam"}
    assert explorer.layers[0] == {"name": "features.0", "shape": [8, 16, 16], "type": "Conv2d", "primary": True,
                                  "maps": [8, 16, 16]}
    assert explorer.labels == ["disc", "square", "ring", "star", "cross"] and explorer.n_images == 3
    assert explorer.layer == "features.7"  # the last spatial maps of a leaf module


def test_a_select_message_is_answered_with_arrays_in_buffers(explorer):
    sent = Recorder(explorer)
    select(explorer, 41, method="guided", layer="features.3", channel=2, target="channel", image_index=1)
    content, buffers = sent.last
    assert content["kind"] == protocol.MSG_RESULT and content["id"] == 41 and content["error"] == ""
    assert explorer.selection.method == "guided" and explorer.layer == "features.3" and explorer.image_index == 1
    image = np.frombuffer(buffers[protocol.BUFFER_IMAGE], np.uint8).reshape(content["image"]["shape"])
    attribution = np.frombuffer(buffers[protocol.BUFFER_ATTRIBUTION], "<f4").reshape(content["attribution"]["shape"])
    codes = np.frombuffer(buffers[protocol.BUFFER_ACTIVATIONS], np.uint8).reshape(content["activations"]["shape"])
    maxima = np.frombuffer(buffers[protocol.BUFFER_ACTIVATION_MAXIMA], "<f4")
    assert image.shape == (16, 16, 4) and (image[..., 3] == 255).all()
    expected = nbs.attribute(explorer._backend.model, make_input(3)[1:2], nbs.Channel("features.3", 2), "guided")
    np.testing.assert_allclose(attribution, expected[0].numpy(), rtol=1e-5, atol=1e-7)
    maps = nbs.Session(explorer._backend.model, make_input(3)[1:2]).activations("features.3")[0]
    assert codes.shape == (8, 16, 16)
    np.testing.assert_array_equal(maxima, maps.amax(dim=(1, 2)).numpy())
    positive = maps.amax(dim=(1, 2)).clamp(min=0).numpy()
    scale = np.where(positive > 0, positive, np.inf)[:, None, None]
    expected_codes = np.floor(255 * np.clip(maps.double().numpy() / scale, 0, 1) + 0.5)
    np.testing.assert_array_equal(codes, expected_codes)
    assert content["attribution"]["rgb_view"] is True


def test_a_neuron_without_position_is_the_channels_strongest_unit(explorer):
    sent = Recorder(explorer)
    select(explorer, 1, layer="features.3", channel=4, target="neuron", position=[])
    y, x = sent.last[0]["selection"]["position"]
    maps = nbs.Session(explorer._backend.model, make_input(3)[:1]).activations("features.3")[0, 4]
    assert maps[y, x] == maps.max()
    assert explorer.position == [y, x]


def test_python_side_changes_update_the_view(explorer):
    sent = Recorder(explorer)
    explorer.method = "deconvnet"
    content, _ = sent.last
    assert content["id"] is None and content["selection"]["method"] == "deconvnet"
    seq = content["seq"]
    explorer.layer = "features.5"
    assert sent.last[0]["seq"] > seq and sent.last[0]["selection"]["layer"] == "features.5"


def test_switching_method_layer_and_channel_reuses_the_forward_pass():
    model = CountingVGG()
    explorer = Explorer(model, make_input(2))
    Recorder(explorer)
    calls = model.forward_calls
    for request, method in enumerate(["gradient", "guided", "deconvnet", "gradcam"]):
        select(explorer, request, method=method, layer="inner.features.3", channel=request, target="channel")
    assert model.forward_calls == calls


@pytest.mark.parametrize(
    ("selection", "message"),
    [
        ({"channel": 99, "target": "channel"}, "channel 99 is out of range"),
        ({"layer": "features.33"}, "unknown layer 'features.33'"),
        ({"method": "guidded"}, "Did you mean 'guided'"),
        ({"image_index": 7}, r"image 7 is out of range: there are 3 images"),
        ({"channel": "three"}, "channel must be a whole number"),
        ({"position": [1]}, r"position must be \[y, x\]"),
        ({"target": "pixels"}, "target must be one of"),
        ({"colour": "red"}, "unknown selection field 'colour'"),
        ({"layer": "classifier.3", "target": "neuron", "channel": 9}, r"channel 9 is out of range .* 5 channels"),
        ({"layer": "features.3", "target": "neuron", "channel": 1, "position": [40, 0]}, "y index 40 is out of range"),
    ],
)
def test_bad_requests_are_answered_with_an_error_and_change_nothing(explorer, selection, message):
    sent = Recorder(explorer)
    before = explorer.selection
    select(explorer, 5, **selection)
    content, buffers = sent.last
    assert content["id"] == 5 and content["attribution"] is None and buffers == [b"", b"", b"", b""]
    assert content["error"] and explorer.error == content["error"]
    assert re.search(message, content["error"]), content["error"]
    assert explorer.selection == before
    select(explorer, 6, method="guided")  # the widget keeps working
    assert sent.last[0]["error"] == "" and explorer.error == ""


def test_messages_of_other_kinds_are_ignored(explorer):
    sent = Recorder(explorer)
    explorer._on_message(explorer, {"kind": "something-else"}, [])
    explorer._on_message(explorer, ["not", "a", "dict"], [])
    assert sent.messages == []


def test_a_failing_model_is_reported_in_the_widget():
    class FailsOnSecondImage(nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = make_model("vgg")

        def forward(self, x):
            if x[0, 0, 0, 0] > 100:
                raise RuntimeError("my model cannot handle this image")
            return self.inner(x)

    images = make_input(2)
    images[1, 0, 0, 0] = 1000.0
    explorer = Explorer(FailsOnSecondImage(), images)
    sent = Recorder(explorer)
    select(explorer, 1, image_index=1)
    assert "my model cannot handle this image" in sent.last[0]["error"]
    assert explorer.image_index == 0
    select(explorer, 2, image_index=0, method="guided")
    assert sent.last[0]["error"] == ""


def test_a_randomised_sequence_of_selection_changes_keeps_state_consistent():
    model = make_model("resnet")
    snapshot = ModelSnapshot.of(model)
    explorer = Explorer(model, make_input(3))
    sent = Recorder(explorer)
    rng = random.Random(0)
    layers = [layer["name"] for layer in explorer.layers]
    last_seq = 0
    for request in range(300):
        fields = {}
        for _ in range(rng.randint(1, 3)):
            key = rng.choice(["image_index", "layer", "channel", "position", "method", "target", "target_class"])
            fields[key] = {
                "image_index": lambda: rng.randint(-1, 3),
                "layer": lambda: rng.choice(layers + ["nope"]),
                "channel": lambda: rng.randint(-1, 10),
                "position": lambda: rng.choice([[], [rng.randint(0, 17), rng.randint(0, 17)]]),
                "method": lambda: rng.choice(["gradient", "deconvnet", "guided", "gradcam", "input_x_gradient"]),
                "target": lambda: rng.choice(["logit", "probability", "channel", "neuron", "layer"]),
                "target_class": lambda: rng.randint(-1, 6),
            }[key]()
        before = explorer.selection
        select(explorer, request, **fields)
        content, _ = sent.last
        assert content["id"] == request and content["seq"] > last_seq
        last_seq = content["seq"]
        if content["error"]:
            assert explorer.selection == before
        else:
            assert content["selection"] == {**selection_fields(explorer.selection)}
            assert content["attribution"]["shape"] == [3, 16, 16]
    assert sum(1 for c, _ in sent.messages if not c["error"]) > 50
    snapshot.assert_unchanged(model)


def test_figure_and_static_png(explorer):
    figure = explorer.figure()
    assert len(figure.axes) == 2
    explorer.method = "guided"
    assert len(explorer.figure().axes) == 3  # signed RGB beside the heat map
    data, _ = explorer._repr_mimebundle_()
    assert "image/png" in data and "application/vnd.jupyter.widget-view+json" in data


def test_preprocess_turns_raw_items_into_model_inputs():
    raw = [np.random.default_rng(i).random((16, 16, 3)).astype(np.float32) for i in range(2)]
    explorer = Explorer(make_model("vgg"), raw, preprocess=lambda a: torch.from_numpy(a).permute(2, 0, 1))
    assert explorer.n_images == 2


@pytest.mark.parametrize(
    ("images", "kwargs", "message"),
    [
        (torch.zeros(0, 3, 16, 16), {}, "images is empty"),
        (torch.zeros(3, 16, 16), {}, r"images must be a batch \(N, C, H, W\)"),
        ([torch.zeros(3, 16, 16), torch.zeros(16, 16)], {}, r"image 1 must be a \(C, H, W\) tensor"),
        ([1, 2], {"preprocess": lambda item: torch.zeros(16, 16)}, r"preprocess\(images\[0\]\) must return"),
        (torch.zeros(2, 3, 16, 16), {"labels": ["a", "b"]}, "labels has 2 names but the model has 5 classes"),
    ],
)
def test_bad_explorer_arguments(images, kwargs, message):
    with pytest.raises(nbs.InputError, match=message):
        Explorer(make_model("vgg"), images, **kwargs)


class HeldImages(torch.utils.data.Dataset):
    """A dataset whose images after the first ``free`` wait for :attr:`go`, so that a test sees the index while it
    is being built, however fast the machine."""

    def __init__(self, images: torch.Tensor, free: int = 16):
        self.images, self.free, self.go = images, free, threading.Event()

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> torch.Tensor:
        if i >= self.free:
            self.go.wait(60)
        return self.images[i]


def test_the_patch_grid_follows_requests_and_a_clicked_patch_becomes_the_input(demo_model):
    from nbsaliency import demo

    dataset = demo.images(60, seed=3).images
    explorer = Explorer(demo_model, demo.images(4, seed=0).images, labels=demo.CLASS_NAMES, dataset=dataset)
    assert explorer._panels["patches"].jobs.wait(60)
    assert explorer.index_status == "ready" and explorer.index_progress == [60, 60] and explorer.index_message == ""
    sent = Recorder(explorer)
    explorer._on_message(explorer, {"kind": protocol.MSG_PATCHES, "id": 3, "layer": "block3.conv1", "channel": 5,
                                    "method": "guided"}, [])
    assert explorer._panels["patches"].jobs.wait(60)
    content, buffers = sent.last
    assert content["kind"] == protocol.MSG_PATCHES_RESULT and content["id"] == 3 and len(content["patches"]) == 9
    assert len(buffers) == 18
    unit = content["patches"][1]

    explorer.method = "deconvnet"
    explorer._on_message(explorer, {"kind": protocol.MSG_PATCH_OPEN, "layer": "block3.conv1", "channel": 5,
                                    "rank": 1}, [])
    content, _ = sent.last
    assert content["kind"] == protocol.MSG_RESULT and content["id"] is None and content["error"] == ""
    assert explorer.n_images == 5 and explorer.image_index == 4
    assert explorer.selection == nbs.explorer.backend.Selection(image_index=4, layer="block3.conv1", channel=5,
                                                       position=(unit["y"], unit["x"]), method="deconvnet",
                                                       target="neuron", target_class=-1)
    assert torch.equal(explorer._backend.inputs[4], dataset[unit["image"]])
    explorer.image_index = 0
    explorer._on_message(explorer, {"kind": protocol.MSG_PATCH_OPEN, "layer": "block3.conv1", "channel": 5,
                                    "rank": 1}, [])
    assert explorer.n_images == 5 and explorer.image_index == 4  # the same input, not a copy
    explorer.close()


@pytest.mark.parametrize(("message", "error"), [
    ({"layer": "block3.conv1", "channel": 5, "rank": 9}, "patch 9 is out of range"),
    ({"layer": "block3.conv1", "channel": "5", "rank": 0}, "channel must be a whole number"),
    ({"layer": "classifier", "channel": 0, "rank": 0}, "only layers with spatial (C, h, w) maps"),
])
def test_a_bad_patch_open_is_answered_with_an_error_and_changes_nothing(demo_model, message, error):
    from nbsaliency import demo

    explorer = Explorer(demo_model, demo.images(3, seed=0).images)
    assert explorer._panels["patches"].jobs.wait(60) and explorer.index_status == "ready"
    sent = Recorder(explorer)
    before = explorer.selection
    explorer._on_message(explorer, {"kind": protocol.MSG_PATCH_OPEN, **message}, [])
    content, _ = sent.last
    assert content["kind"] == protocol.MSG_RESULT and error in content["error"] and explorer.error == content["error"]
    assert explorer.selection == before and explorer.n_images == 3
    select(explorer, 2, method="guided")
    assert sent.last[0]["error"] == ""


def test_the_kernel_answers_while_the_index_builds_and_close_cancels_it(demo_model):
    from nbsaliency import demo

    demo_model.train()
    try:
        snapshot = ModelSnapshot.of(demo_model)
        dataset = HeldImages(demo.images(400, seed=1).images)
        explorer = Explorer(demo_model, demo.images(3, seed=0).images, dataset=dataset)
        sent = Recorder(explorer)
        assert explorer.index_status == "building"
        select(explorer, 1, method="guided", image_index=1)
        assert sent.last[0]["error"] == "" and explorer.index_status == "building"
        assert ModelSnapshot.of(demo_model).hooks == snapshot.hooks  # the build has its own copy of the modules
        explorer._on_message(explorer, {"kind": protocol.MSG_PATCHES, "id": 4, "layer": "block1.conv1",
                                        "channel": 0, "method": "gradient"}, [])
        assert sent.last[0]["ready"] is False
        closing = threading.Thread(target=explorer.close)
        closing.start()  # cancels the build, then waits for it
        while closing.is_alive() and not explorer._panels["patches"].jobs._cancel.is_set():
            closing.join(0.01)
        dataset.go.set()  # the held batch ends; the build stops before the next
        closing.join()
        assert explorer.index_status == "cancelled"
        snapshot.assert_unchanged(demo_model)
    finally:
        demo_model.eval()


def test_bad_dataset_is_shown_in_plain_words_and_the_widget_keeps_working(demo_model):
    from nbsaliency import demo

    explorer = Explorer(demo_model, demo.images(2, seed=0).images, dataset=[torch.rand(3, 64, 64), torch.rand(5)])
    assert explorer._panels["patches"].jobs.wait(60)
    assert explorer.index_status == "error"
    assert explorer.index_message == "dataset item 1: expected a (C, H, W) image; got shape (5,)"
    sent = Recorder(explorer)
    select(explorer, 1, method="guided")
    assert sent.last[0]["error"] == "" and explorer.error == ""


def test_a_selection_from_the_view_arrives_as_trait_updates_that_observers_see(explorer):
    """The view sets the changed fields and request_id in one update: computed once, answered with that id, and
    seen by `observe` callbacks (marimo re-runs cells, ipywidgets link / interact react, for the same reason)."""
    sent, seen = Recorder(explorer), []
    explorer.observe(lambda change: seen.append((change["name"], change["new"])), names=["method", "channel"])
    computed = []
    compute = explorer._backend.compute
    explorer._backend.compute = lambda selection, *a, **k: computed.append(selection) or compute(selection, *a, **k)
    explorer.set_state({"method": "guided", "channel": 2, "layer": "features.3", "request_id": 17})
    assert len(computed) == 1 and len(sent.messages) == 1  # one request, one answer
    content, _ = sent.last
    assert content["id"] == 17 and content["error"] == "" and content["selection"]["method"] == "guided"
    assert ("method", "guided") in seen and ("channel", 2) in seen
    assert explorer.selection.channel == 2 and explorer.layer == "features.3"
    expected = nbs.attribute(explorer._backend.model, make_input(3)[:1], nbs.Logit(None), "guided")
    np.testing.assert_allclose(explorer._result.attribution, expected[0].numpy(), rtol=1e-5, atol=1e-7)


def test_an_impossible_selection_from_the_view_is_answered_with_an_error_and_set_back(explorer):
    sent = Recorder(explorer)
    before = explorer.selection
    explorer.set_state({"layer": "no.such.layer", "request_id": 5})
    content, _ = sent.last
    assert content["id"] == 5 and "no.such.layer" in content["error"] and explorer.error == content["error"]
    assert explorer.selection == before and content["selection"]["layer"] == before.layer
    explorer.set_state({"method": "deconvnet", "request_id": 6})
    assert sent.last[0]["error"] == "" and explorer.method == "deconvnet"
