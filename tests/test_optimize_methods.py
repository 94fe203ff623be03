"""Each optimisation method raises its objective; inversion loses more of the image with depth."""

from __future__ import annotations

import pytest
import torch

import nbsaliency as nbs
from nbsaliency import demo
from nbsaliency.optimize import (
    activation_maximisation,
    class_model,
    deepdream,
    evaluate,
    gaussian_blur,
    invert,
)
from tests.invariance import ModelSnapshot

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def model(demo_model):
    return demo_model


@pytest.fixture(scope="module")
def photo():
    """A disc on a light background: its colours lie where block1's ReLUs respond (a dark background falls
    in their dead zone, so block1 cannot see it and inversion rightly cannot recover it)."""
    return demo.images(1, seed=1).images


def _start_and_end(model, target, result):
    grey = torch.full_like(result.image, 0.5)
    return evaluate(model, target, grey), evaluate(model, target, result.image)


def test_class_model_raises_each_class_score_many_times_over(model):
    snapshot = ModelSnapshot.of(model)
    result = class_model(model, [0, 3, 6], size=32, steps=40)
    start, end = _start_and_end(model, nbs.Logit(torch.tensor([0, 3, 6])), result)
    assert (end > 5 * start.abs().clamp_min(1)).all(), (start, end)
    assert result.image.shape == (3, 3, 32, 32) and result.history.shape == (40, 3)
    assert result.settings["method"] == "class_model" and "Simonyan" in result.settings["paper"]
    snapshot.assert_unchanged(model)


@pytest.mark.parametrize("preset", ["lucid", "yosinski"])
def test_activation_maximisation_raises_a_channel_many_times_its_start(model, preset):
    target = nbs.Channel("block3.conv2", 5, reduce="mean")
    result = activation_maximisation(model, target, preset=preset, size=64, steps=40)
    start, end = _start_and_end(model, target, result)
    assert end.item() > 5 * max(start.item(), 0.1), (start, end)
    assert result.history[-1] > result.history[0]


def test_activation_maximisation_raises_a_single_neuron(model):
    target = nbs.Neuron("block2.relu2", 3, 8, 8)
    result = activation_maximisation(model, target, preset="yosinski", size=64, steps=30, table_row="a")
    start, end = _start_and_end(model, target, result)
    assert end.item() > 5 * max(start.item(), 0.1), (start, end)


def test_deepdream_amplifies_the_layer_norm_of_the_photo(model, photo):
    result = deepdream(model, photo[0], "block2.relu2", steps=6, octaves=2)  # one (C, H, W) image
    before = evaluate(model, nbs.LayerEnergy("block2.relu2"), photo[:1])
    after = evaluate(model, nbs.LayerEnergy("block2.relu2"), result.image)
    assert after.item() > 5 * before.item()
    assert result.image.shape == (1, 3, 64, 64) and result.history.shape == (12, 1)
    assert ((result.image >= 0) & (result.image <= 1)).all()


def test_inversion_from_the_first_block_reconstructs_the_input_and_loses_more_deeper(model, photo):
    snapshot = ModelSnapshot.of(model)
    shallow = invert(model, photo, "block1", steps=80)
    deep = invert(model, photo, "block3", steps=80)
    assert shallow.metrics["feature_error"].item() < 0.05
    assert shallow.history[-1].item() > 10 * shallow.history[0].item()  # - distance: from about -1 up to ~0
    assert shallow.metrics["image_error"].item() < 0.2
    assert deep.metrics["image_error"].item() > 1.5 * shallow.metrics["image_error"].item()
    assert deep.metrics["contrast_error"].item() > 1.5 * shallow.metrics["contrast_error"].item()
    snapshot.assert_unchanged(model)


def _high_frequency_energy(image: torch.Tensor) -> float:
    return float((image - gaussian_blur(image, 1.0)).pow(2).mean())


def test_total_variation_lowers_the_high_frequency_energy_of_the_result(model, photo):
    energies = [_high_frequency_energy(invert(model, photo, "block3", steps=40, tv=tv, alpha_weight=0.0).image)
                for tv in (0.0, 2.0, 10.0)]
    assert energies[0] > energies[1] > energies[2] and energies[2] < 0.5 * energies[0], energies
