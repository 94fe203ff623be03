"""The Explorer's lecture panels: a lesion of the selected channel repaints the predictions (model unchanged),
the selected convolution's kernels are drawn as tiles, and a t-SNE map of the dataset opens a point's image."""

from __future__ import annotations

import copy
import sys
import threading

import numpy as np
import pytest
import torch

import nbsaliency as nbs
from nbsaliency.explorer import embedding as embedding_panel
from nbsaliency.explorer import kernels as kernels_panel
from nbsaliency.explorer.widget import Explorer
from tests import architectures
from tests.invariance import ModelSnapshot
from tests.models import make_input, make_model


@pytest.fixture
def model():
    return make_model("vgg")


def explorer_with_outbox(model, images, **kwargs):
    explorer = Explorer(model, images, **kwargs)
    sent: list[tuple[dict, list]] = []
    explorer.send = lambda content, buffers=None: sent.append((content, buffers or []))
    return explorer, sent


def answers(sent, kind):
    return [(content, buffers) for content, buffers in sent if content.get("kind") == kind]


# -- lesion ---------------------------------------------------------------------------------------------------
def test_a_lesion_of_the_selected_channel_gives_the_probabilities_of_the_model_without_that_channel(model):
    x = make_input(2)
    explorer, sent = explorer_with_outbox(model, x)
    snapshot = ModelSnapshot.of(model)
    explorer._on_message(explorer, {"kind": "lesion", "id": 7, "image_index": 1, "layer": "features.5",
                                    "channel": 3}, [])
    [(answer, _)] = answers(sent, "lesion_result")
    snapshot.assert_unchanged(model)
    assert answer["error"] == "" and answer["id"] == 7 and answer["channel"] == 3

    edited = copy.deepcopy(model)  # the same lesion by hand: the conv's filter 3 and its bias set to zero
    with torch.no_grad():
        edited.features[5].weight[3] = 0
        edited.features[5].bias[3] = 0
        before, after = model(x[1:]).softmax(1)[0], edited(x[1:]).softmax(1)[0]
    assert answer["classes"], "no classes"
    for row in answer["classes"]:
        assert row["before"] == pytest.approx(float(before[row["index"]]), abs=1e-6)
        assert row["after"] == pytest.approx(float(after[row["index"]]), abs=1e-6)
    assert any(abs(row["after"] - row["before"]) > 1e-4 for row in answer["classes"]), "the lesion changed nothing"
    assert answer["prediction_changed"] == bool(before.argmax() != after.argmax())
    assert [r["before"] for r in answer["classes"]] == sorted((r["before"] for r in answer["classes"]), reverse=True)
    explorer.close()


def test_a_lesion_in_a_channels_last_block_removes_the_feature_channel_not_a_row():
    model = architectures.make("swin")
    x = architectures.image_batch(1)
    explorer, sent = explorer_with_outbox(model, x)
    explorer._on_message(explorer, {"kind": "lesion", "id": 1, "image_index": 0, "layer": "features.2",
                                    "channel": 5}, [])
    [(answer, _)] = answers(sent, "lesion_result")
    assert answer["error"] == ""
    edited = copy.deepcopy(model)  # PatchMerging's output channel 5 by hand: row 5 of its projection (no bias)
    with torch.no_grad():
        edited.features[2].reduction.weight[5] = 0
        after = edited(x).softmax(1)[0]
    for row in answer["classes"]:
        assert row["after"] == pytest.approx(float(after[row["index"]]), abs=1e-5)
    explorer.close()


def zeroed_by_hand(model, layer, x, index):
    """Class probabilities of ``x`` with ``layer``'s output at ``[:, *index]`` set to zero (a hook, then removed)."""
    def zero(module, inputs, output):
        output = output.clone()
        output[(slice(None), *index)] = 0
        return output
    handle = dict(model.named_modules())[layer].register_forward_hook(zero)
    try:
        with torch.no_grad():
            return model(x).softmax(1)[0]
    finally:
        handle.remove()


@pytest.mark.parametrize("name, layer, channel, position, index", [
    ("cnn", "features.5", 3, [2, 5], (3, 2, 5)),  # channels-first: (c, y, x)
    ("swin", "features.2", 5, [1, 2], (1, 2, 5)),  # channels-last: (y, x, c)
    ("vit", "blocks.1", 4, [2, 3], (1 + 2 * architectures.GRID + 3, 4)),  # tokens: (prefix + y * w + x, c)
])
def test_a_lesion_of_the_selected_neuron_zeroes_that_unit_alone_in_every_layout(model, name, layer, channel,
                                                                                 position, index):
    net = model if name == "cnn" else architectures.make(name)
    x = make_input(1) if name == "cnn" else architectures.image_batch(1)
    explorer, sent = explorer_with_outbox(net, x)
    snapshot = ModelSnapshot.of(net)
    explorer._on_message(explorer, {"kind": "lesion", "id": 3, "image_index": 0, "layer": layer,
                                    "channel": channel, "position": position}, [])
    [(answer, _)] = answers(sent, "lesion_result")
    snapshot.assert_unchanged(net)
    assert answer["error"] == "" and answer["position"] == position
    after = zeroed_by_hand(net, layer, x, index)
    for row in answer["classes"]:
        assert row["after"] == pytest.approx(float(after[row["index"]]), abs=1e-5)
    whole = zeroed_by_hand(net, layer, x, (channel,) if name == "cnn" else (Ellipsis, channel))
    assert any(abs(float(whole[r["index"]]) - r["after"]) > 1e-6 for r in answer["classes"]), "not the unit alone"
    explorer.close()


POSITION_RULE = "position must be [y, x] (two whole numbers >= 0) or []"


@pytest.mark.parametrize("fields, message", [
    ({"layer": "features.5", "channel": 1, "image_index": 0, "position": [99, 0]}, "out of range"),
    ({"layer": "features.5", "channel": 1, "image_index": 0, "position": [1]}, POSITION_RULE),
    ({"layer": "features.5", "channel": 1, "image_index": 0, "position": "1, 2"}, POSITION_RULE),
    ({"layer": "features.5", "channel": 16, "image_index": 0}, "channel 16 is out of range"),
    ({"layer": "feature.5", "channel": 0, "image_index": 0}, "feature.5"),
    ({"layer": "features.5", "channel": 0, "image_index": 9}, "image 9 is out of range"),
    ({"layer": "features.5", "channel": "a", "image_index": 0}, "channel must be a whole number"),
])
def test_a_bad_lesion_request_is_answered_in_plain_words_and_the_model_is_unchanged(model, fields, message):
    explorer, sent = explorer_with_outbox(model, make_input(2))
    snapshot = ModelSnapshot.of(model)
    explorer._on_message(explorer, {"kind": "lesion", "id": 1, **fields}, [])
    [(answer, _)] = answers(sent, "lesion_result")
    assert message in answer["error"] and answer["classes"] == []
    snapshot.assert_unchanged(model)
    explorer.close()


# -- kernels --------------------------------------------------------------------------------------------------
def expected_tiles(weight: torch.Tensor) -> np.ndarray:
    """Signed mapping by hand: 0.5 + w / (2 max|w| of the filter), as 0..255."""
    w = weight.detach().double()
    scale = w.flatten(1).abs().max(dim=1).values.reshape(-1, *[1] * (w.dim() - 1))
    return ((0.5 + w / (2 * scale)) * 255).round().numpy()


def test_the_first_convolution_is_drawn_as_one_colour_tile_per_filter(model):
    explorer, sent = explorer_with_outbox(model, make_input(1))
    explorer._on_message(explorer, {"kind": "kernels", "id": 3, "layer": "features.0", "channel": 2}, [])
    [(answer, [tiles])] = answers(sent, "kernels_result")
    assert answer["error"] == "" and answer["rgb"] and answer["conv"] == "features.0"
    assert answer["filters"] == list(range(8)) and answer["inputs"] == [-1] * 8 and answer["shape"] == [3, 3, 4]
    pixels = np.frombuffer(tiles, np.uint8).reshape(8, 3, 3, 4)
    np.testing.assert_allclose(pixels[..., :3], expected_tiles(model.features[0].weight).transpose(0, 2, 3, 1),
                               atol=1)
    assert (pixels[..., 3] == 255).all()
    explorer.close()


def test_a_relu_shows_the_filter_of_its_convolution_per_input_channel_capped_and_said(model, monkeypatch):
    monkeypatch.setattr(kernels_panel, "MAX_INPUTS", 5)
    explorer, sent = explorer_with_outbox(model, make_input(1))
    explorer._on_message(explorer, {"kind": "kernels", "id": 4, "layer": "features.6", "channel": 11}, [])
    [(answer, [tiles])] = answers(sent, "kernels_result")
    assert answer["error"] == "" and not answer["rgb"] and answer["conv"] == "features.5"
    assert answer["filters"] == [11] * 5 and answer["inputs"] == list(range(5))
    assert "features.6 is no convolution: the kernels of features.5" in answer["note"]
    assert "the first 5 of 8 input channels" in answer["note"]
    pixels = np.frombuffer(tiles, np.uint8).reshape(5, 3, 3, 4)
    grey = expected_tiles(model.features[5].weight)[11, :5]
    for c in range(3):
        np.testing.assert_allclose(pixels[..., c], grey, atol=1)
    explorer.close()


def test_a_channels_last_block_shows_the_convolution_inside_it_found_by_its_feature_channels():
    model = architectures.make("swin")
    explorer, sent = explorer_with_outbox(model, architectures.image_batch(1))
    explorer._on_message(explorer, {"kind": "kernels", "id": 1, "layer": "features.0", "channel": 0}, [])
    [(answer, _)] = answers(sent, "kernels_result")  # features.0: conv, permute, LayerNorm -> (N, 56, 56, 16)
    assert answer["error"] == "" and answer["conv"] == "features.0.0" and answer["rgb"]
    assert len(answer["filters"]) == 16
    explorer.close()


@pytest.mark.parametrize("layer, channel, message", [
    ("classifier.1", 0, "no convolution with 32 filters comes before it"),
    ("features.5", 16, "channel 16 is out of range"),
    ("nope", 0, "unknown layer"),
])
def test_kernels_of_an_impossible_request_are_refused_in_plain_words(model, layer, channel, message):
    explorer, sent = explorer_with_outbox(model, make_input(1))
    explorer._on_message(explorer, {"kind": "kernels", "id": 5, "layer": layer, "channel": channel}, [])
    [(answer, [tiles])] = answers(sent, "kernels_result")
    assert message in answer["error"] and answer["filters"] == [] and tiles == b""
    explorer.close()


# -- t-SNE ----------------------------------------------------------------------------------------------------
def test_the_tsne_map_is_the_engines_embedding_of_the_dataset_and_is_cached(model):
    pytest.importorskip("sklearn")
    dataset = make_input(12, seed=4)
    explorer, sent = explorer_with_outbox(model, make_input(2), dataset=dataset)
    snapshot = ModelSnapshot.of(model)
    panel = explorer._panels["embedding"]
    explorer._on_message(explorer, {"kind": "tsne", "id": 1, "layer": "features.6"}, [])
    assert panel.jobs.wait(60)
    statuses = [content["status"] for content, _ in answers(sent, "tsne_result")]
    assert statuses == ["running", "done"]
    done, (points, thumbs) = answers(sent, "tsne_result")[-1]
    assert done["n"] == 12 and done["thumbnail"] == [48, 48, 4] and "perplexity" in done["note"]
    expected = nbs.tsne(model, list(dataset), "features.6",
                        perplexity=embedding_panel.perplexity_for(12)).coordinates.numpy()
    np.testing.assert_allclose(np.frombuffer(points, "<f4").reshape(12, 2), expected, rtol=1e-5, atol=1e-4)
    assert len(thumbs) == 12 * 48 * 48 * 4

    explorer._on_message(explorer, {"kind": "tsne", "id": 2, "layer": "features.6"}, [])
    assert panel.jobs.computed == 1 and answers(sent, "tsne_result")[-1][0]["status"] == "done"
    snapshot.assert_unchanged(model)
    explorer.close()


class BlockingDataset(torch.utils.data.Dataset):
    """Images whose item 5, read by the t-SNE worker, waits for ``release``: the map's work is caught while it
    runs, with no timing (the patch index reads the same dataset in its own thread, unblocked)."""

    def __init__(self, images):
        self.images = images
        self.started, self.release = threading.Event(), threading.Event()

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        if i == 5 and threading.current_thread().name == "nbsaliency-tsne":
            self.started.set()
            assert self.release.wait(30)
        return self.images[i]


def test_a_running_tsne_map_is_cancelled_and_the_next_request_is_answered(model):
    pytest.importorskip("sklearn")
    dataset = BlockingDataset(make_input(12, seed=4))
    explorer, sent = explorer_with_outbox(model, make_input(2), dataset=dataset)
    snapshot = ModelSnapshot.of(model)
    jobs = explorer._panels["embedding"].jobs
    explorer._on_message(explorer, {"kind": "tsne", "id": 1, "layer": "features.6"}, [])
    assert dataset.started.wait(30)  # the map of request 1 is reading its images
    explorer._on_message(explorer, {"kind": "tsne", "id": 2, "layer": "features.3"}, [])  # waits behind it
    explorer._on_message(explorer, {"kind": "tsne_cancel", "id": 2}, [])  # a waiting one: answered at once
    assert [(c["id"], c["status"]) for c, _ in answers(sent, "tsne_result")] == [(1, "running"), (2, "cancelled")]
    explorer._on_message(explorer, {"kind": "tsne_cancel", "id": 1}, [])
    dataset.release.set()
    assert jobs.wait(30)
    assert [(c["id"], c["status"]) for c, _ in answers(sent, "tsne_result")][2:] == [(1, "cancelled")]
    assert jobs.computed == 0 and "features.6" not in jobs.cache
    snapshot.assert_unchanged(model)

    explorer._on_message(explorer, {"kind": "tsne", "id": 3, "layer": "features.6"}, [])  # works again
    assert jobs.wait(60)
    assert [c["status"] for c, _ in answers(sent, "tsne_result")][-2:] == ["running", "done"]
    explorer._on_message(explorer, {"kind": "tsne_cancel", "id": 99}, [])  # nothing running: nothing happens
    assert len(answers(sent, "tsne_result")) == 5
    explorer.close()


def test_clicking_a_point_opens_its_dataset_image_once(model):
    dataset = make_input(6, seed=4)
    explorer, _ = explorer_with_outbox(model, make_input(2), dataset=dataset)
    for _ in range(2):
        explorer._on_message(explorer, {"kind": "tsne_open", "index": 4}, [])
        assert explorer.image_index == 2 and explorer.n_images == 3
    assert torch.equal(explorer.backend.inputs[2], dataset[4])
    explorer._on_message(explorer, {"kind": "tsne_open", "index": 6}, [])
    assert "point 6 is out of range" in explorer.error and explorer.image_index == 2
    explorer.close()


def test_without_scikit_learn_the_map_says_how_to_install_it(model, monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn.manifold", None)
    explorer, sent = explorer_with_outbox(model, make_input(4))
    explorer._on_message(explorer, {"kind": "tsne", "id": 1, "layer": "features.6"}, [])
    assert explorer._panels["embedding"].jobs.wait(30)
    answer = answers(sent, "tsne_result")[-1][0]
    assert answer["status"] == "error" and "scikit-learn" in answer["error"]
    assert "pip install" in answer["error"]
    explorer.close()


def test_thumbnails_resample_by_nearest_pixel():
    image = np.arange(4 * 6 * 4, dtype=np.uint8).reshape(4, 6, 4)
    small = embedding_panel.thumbnail(image, size=2)
    np.testing.assert_array_equal(small, image[[0, 2]][:, [0, 3]])
