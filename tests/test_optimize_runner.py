"""The optimisation loop: reproducible, cancellable, streaming, clear errors, and the model left untouched."""

from __future__ import annotations

import threading

import pytest
import torch

import nbsaliency as nbs
from nbsaliency import demo
from nbsaliency.optimize import (
    Blur,
    FourierImage,
    PixelImage,
    activation_maximisation,
    class_model,
    deepdream,
    invert,
    optimise,
)
from tests.invariance import ModelSnapshot

CHANNEL = nbs.Channel("block3.conv2", 5, reduce="mean")


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def model(demo_model):
    return demo_model


@pytest.fixture(scope="module")
def photo():
    return demo.images(1, seed=3).images


def test_runs_are_reproducible_per_seed_and_differ_across_seeds(model):
    first = activation_maximisation(model, CHANNEL, size=48, steps=8, seed=3)
    again = activation_maximisation(model, CHANNEL, size=48, steps=8, seed=3)
    other = activation_maximisation(model, CHANNEL, size=48, steps=8, seed=4)
    assert torch.equal(first.image, again.image) and torch.equal(first.history, again.history)
    assert not torch.equal(first.image, other.image)


def test_cancel_from_the_callback_stops_the_run_within_one_step(model):
    cancel = threading.Event()
    seen: list[int] = []

    def callback(step, image, value):
        seen.append(step)
        if step == 4:
            cancel.set()

    result = class_model(model, 1, size=32, steps=50, every=1, callback=callback, cancel=cancel)
    assert result.cancelled and result.steps == 5 and seen == [0, 1, 2, 3, 4]
    assert result.image.shape == (1, 3, 32, 32)


def test_cancel_from_another_thread_stops_a_running_optimisation(model):
    cancel, started = threading.Event(), threading.Event()
    results = []
    worker = threading.Thread(target=lambda: results.append(class_model(
        model, 1, size=32, steps=100_000, every=1, cancel=cancel, callback=lambda *a: started.set())))
    worker.start()
    assert started.wait(30)
    cancel.set()
    worker.join(30)
    assert not worker.is_alive() and results[0].cancelled and results[0].steps < 100_000


def test_deepdream_cancel_stops_between_octaves_too(model, photo):
    cancel = threading.Event()
    result = deepdream(model, photo, "block2", steps=5, octaves=3, every=1, cancel=cancel,
                       callback=lambda step, image, value: cancel.set() if step == 6 else None)
    assert result.cancelled and result.steps == 7 and result.image.shape == photo.shape


def test_callback_streams_every_k_steps_and_the_last(model):
    calls = []
    class_model(model, 2, size=32, steps=10, every=3,
                callback=lambda step, image, value: calls.append((step, image.shape, value.shape)))
    assert [c[0] for c in calls] == [2, 5, 8, 9]
    assert calls[0][1:] == ((1, 3, 32, 32), (1,))


def test_the_model_is_untouched_after_runs_errors_and_cancels(model, photo):
    model.train()  # a model left in training mode stays so, and BatchNorm statistics do not move
    try:
        snapshot = ModelSnapshot.of(model)
        activation_maximisation(model, CHANNEL, size=32, steps=3)
        deepdream(model, photo, "block1", steps=2, octaves=2)
        with pytest.raises(nbs.TargetIndexError):
            class_model(model, 99, size=32, steps=3)
        with pytest.raises(nbs.UnknownLayerError):
            invert(model, photo, "block4", steps=3)
        cancel = threading.Event()
        cancel.set()
        assert class_model(model, 0, size=32, steps=3, cancel=cancel).steps == 0
        snapshot.assert_unchanged(model)
    finally:
        model.eval()


def test_unknown_layers_and_out_of_range_indices_raise_the_engine_errors(model, photo):
    with pytest.raises(nbs.UnknownLayerError, match="block3.conv2"):
        activation_maximisation(model, nbs.Channel("block3.conv9", 0), size=32, steps=2)
    with pytest.raises(nbs.UnknownLayerError):
        deepdream(model, photo, "block7", steps=2)
    with pytest.raises(nbs.TargetIndexError, match="7 classes"):
        class_model(model, 7, size=32, steps=2)
    with pytest.raises(nbs.TargetIndexError, match="channel 64"):
        activation_maximisation(model, nbs.Channel("block3.conv2", 64), size=32, steps=2)
    with pytest.raises(nbs.TargetIndexError):
        activation_maximisation(model, nbs.Neuron("block2.relu2", 0, 40, 0), size=64, steps=2)


def test_wrong_image_shapes_raise_input_errors(model, photo):
    with pytest.raises(nbs.InputError, match="input channels"):
        invert(model, photo[:, :1], "block1", steps=2)
    with pytest.raises(nbs.InputError, match="image batch"):
        deepdream(model, photo[0, 0], "block1", steps=2)
    with pytest.raises(nbs.InputError):
        optimise(model, CHANNEL, PixelImage((1, 1, 32, 32)), steps=2)
    with pytest.raises(nbs.InputError):
        PixelImage((1, 3, 0, 32))


def test_pixel_regularisers_refuse_a_fourier_image(model):
    with pytest.raises(ValueError, match="pixel"):
        optimise(model, CHANNEL, FourierImage((1, 3, 32, 32)), steps=2, regularisers=[Blur(1.0)])


def test_device_and_dtype_follow_the_model():
    model = demo.load_model().double()
    result = class_model(model, 0, size=32, steps=2)
    assert result.image.dtype == torch.float64 and result.image.device == next(model.parameters()).device


def test_a_single_image_gives_a_batch_of_one(model, photo):
    result = invert(model, photo[0], "block1", steps=2)
    assert result.image.shape == (1, 3, 64, 64) and set(result.metrics) >= {"feature_error", "image_error"}
