"""Bad options and bad calls of the optimisation methods are refused with the engine's errors: inside
torch.inference_mode() an InferenceModeError (not a blame of the target or the model); a size that is not one or
two positive integers, a step count, learning rate, octave count or jitter out of range, an unknown preset,
parameterisation or optimiser an OptionError naming the option; a size the model raises on an InputError with
the model's own error. The model is left as it was."""

from __future__ import annotations

import pytest
import torch

from nbsaliency import Channel, InferenceModeError, InputError, OptionError, demo
from nbsaliency.optimize import PixelImage, activation_maximisation, class_model, deepdream, invert, optimise
from tests.invariance import ModelSnapshot

CHANNEL = Channel("block2", 3, reduce="mean")


@pytest.fixture(scope="module")
def model():
    return demo.load_model()


@pytest.fixture(scope="module")
def photo():
    return demo.images(1, seed=0, size=32).images


RUNS = {
    "deepdream": lambda m, x: deepdream(m, x, "block2", steps=1, octaves=1),
    "class_model": lambda m, x: class_model(m, 1, size=32, steps=1),
    "invert": lambda m, x: invert(m, x, "block1", steps=1),
    "activation_maximisation": lambda m, x: activation_maximisation(m, CHANNEL, size=32, steps=1),
    "optimise": lambda m, x: optimise(m, CHANNEL, PixelImage((1, 3, 32, 32)), steps=1),
}


@pytest.mark.parametrize("method", list(RUNS))
def test_inside_inference_mode_every_optimisation_raises_inference_mode_error(model, photo, method):
    snapshot = ModelSnapshot.of(model)
    RUNS[method](model, photo)  # runs outside inference mode
    with torch.inference_mode(), pytest.raises(InferenceModeError, match="inside torch.inference_mode"):
        RUNS[method](model, photo)
    snapshot.assert_unchanged(model)


@pytest.mark.parametrize("size", [0, -5, (64, 0), (1, 2, 3), (), 2.5, "64", True])
def test_a_size_that_is_not_one_or_two_positive_integers_is_an_option_error(model, size):
    with pytest.raises(OptionError, match=r"activation_maximisation's size must be a positive integer"):
        activation_maximisation(model, CHANNEL, size=size, steps=1)
    with pytest.raises(OptionError, match=r"class_model's size must be a positive integer"):
        class_model(model, 1, size=size, steps=1)


def model_error_at(model, size: int) -> str:
    try:
        model(torch.zeros(1, 3, size, size))
    except RuntimeError as error:
        return str(error)
    raise AssertionError(f"the demo model takes {size} px")


@pytest.mark.parametrize("method", ["activation_maximisation", "class_model"])
@pytest.mark.parametrize("size", [7, 2])
def test_a_size_the_model_raises_on_is_refused_with_the_models_own_error(model, method, size):
    own = model_error_at(model, size)
    with pytest.raises(InputError) as caught:
        if method == "class_model":
            class_model(model, 1, size=size, steps=1)
        else:
            activation_maximisation(model, CHANNEL, size=size, steps=1)
    message = str(caught.value)
    assert f"does not take {size}x{size} images, which {method} was asked for" in message
    assert f"at {size}x{size} it raised RuntimeError: {own}" in message
    assert "it takes 224x224:" not in message  # 224 is a size it takes, not the only one


def test_a_size_the_model_takes_in_one_of_two_forms_runs(model):
    assert activation_maximisation(model, CHANNEL, size=(40,), steps=1).image.shape == (1, 3, 40, 40)
    assert class_model(model, 1, size=(24, 40), steps=1).image.shape == (1, 3, 24, 40)


@pytest.mark.parametrize(("option", "value"), [
    ("octaves", 0), ("steps", 0), ("lr", 0), ("lr", -1), ("jitter", -3), ("octave_scale", 0.5), ("every", 0),
    ("steps", 2.0), ("lr", float("nan")),
])
def test_deepdream_refuses_an_option_out_of_range_naming_it(model, photo, option, value):
    snapshot = ModelSnapshot.of(model)
    with pytest.raises(OptionError, match=rf"deepdream's {option} must be"):
        deepdream(model, photo, "block2", **{"steps": 1, "octaves": 1, option: value})
    snapshot.assert_unchanged(model)


@pytest.mark.parametrize(("options", "message"), [
    ({"steps": 0}, "activation_maximisation's steps must be an integer from 1"),
    ({"lr": -1}, "activation_maximisation's lr must be a finite number greater than 0"),
    ({"every": 0}, "activation_maximisation's every must be"),
    ({"batch": 0}, "activation_maximisation's batch must be"),
    ({"preset": "bogus"}, "activation_maximisation's preset must be one of 'lucid', 'yosinski'; got 'bogus'"),
    ({"preset": "yosinski", "table_row": "z"}, "table_row must be one of 'a', 'b', 'c', 'd'"),
    ({"table_row": "a"}, "applies to preset='yosinski' only"),
    ({"param": "bogus"}, "unknown parameterisation 'bogus' \\(param\\)"),
    ({"optimiser": "bogus"}, "unknown optimiser 'bogus'"),
])
def test_activation_maximisation_refuses_a_bad_option_naming_it(model, options, message):
    with pytest.raises(OptionError, match=message):
        activation_maximisation(model, CHANNEL, **{"size": 32, "steps": 1, **options})


@pytest.mark.parametrize(("run", "message"), [
    (lambda m, x: class_model(m, 1, size=32, steps=0), "class_model's steps must be"),
    (lambda m, x: class_model(m, 1, size=32, steps=1, lr=0), "class_model's lr must be"),
    (lambda m, x: class_model(m, 1, size=32, steps=1, l2=-0.1), "class_model's l2 must be"),
    (lambda m, x: invert(m, x, "block1", steps=0), "invert's steps must be"),
    (lambda m, x: invert(m, x, "block1", steps=1, tv=-1), "invert's tv must be"),
    (lambda m, x: invert(m, x, "block1", steps=1, beta=0), "invert's beta must be"),
    (lambda m, x: optimise(m, CHANNEL, PixelImage((1, 3, 32, 32)), steps=-1), "optimise's steps must be"),
    (lambda m, x: optimise(m, CHANNEL, PixelImage((1, 3, 32, 32)), steps=1, lr=-1), "optimise's lr must be"),
], ids=["cm-steps", "cm-lr", "cm-l2", "inv-steps", "inv-tv", "inv-beta", "opt-steps", "opt-lr"])
def test_class_model_invert_and_optimise_refuse_a_bad_option_naming_it(model, photo, run, message):
    with pytest.raises(OptionError, match=message):
        run(model, photo)


def test_deepdream_without_jitter_does_not_depend_on_the_seed(model, photo):
    runs = [deepdream(model, photo, "block2", steps=2, octaves=2, jitter=0, seed=s).image for s in (0, 1)]
    torch.testing.assert_close(runs[0], runs[1], rtol=0, atol=0)
    jittered = [deepdream(model, photo, "block2", steps=2, octaves=2, jitter=4, seed=s).image for s in (0, 1)]
    assert not torch.equal(jittered[0], jittered[1])  # the seed draws the jitter
