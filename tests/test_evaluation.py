"""Localisation metrics and the sanity-check machinery on hand-made cases."""

from __future__ import annotations

import torch

from nbsaliency.evaluation import (
    cascading_randomisation,
    energy_in_mask,
    evidence_map,
    parameterised_layers,
    pointing_game,
    spearman,
)
from tests.invariance import ModelSnapshot
from tests.models import make_model


def test_pointing_game_hits_when_the_maximum_is_on_the_object():
    masks = torch.zeros(2, 3, 3, dtype=torch.bool)
    masks[:, 1, 1] = True
    maps = torch.zeros(2, 3, 3)
    maps[0, 1, 1] = 5.0  # on the object
    maps[1, 0, 0] = 5.0  # off it
    assert pointing_game(maps, masks).tolist() == [True, False]
    assert not pointing_game(torch.ones(1, 3, 3), masks[:1]).item()  # a flat map points nowhere
    assert pointing_game(maps, masks, tolerance=1).tolist() == [True, True]  # (0, 0) is 1 px from the object


def test_energy_in_mask_is_the_share_inside():
    masks = torch.tensor([[[True, False], [False, False]]])
    maps = torch.tensor([[[3.0, 1.0], [0.0, 0.0]]])
    torch.testing.assert_close(energy_in_mask(maps, masks), torch.tensor([0.75]))
    torch.testing.assert_close(energy_in_mask(torch.zeros(1, 2, 2), masks), torch.tensor([0.0]))


def test_evidence_map_of_occlusion_keeps_positive_drops():
    attribution = torch.tensor([[[[-2.0, 1.0]]] * 3])  # (1, 3, 1, 2)
    torch.testing.assert_close(evidence_map("occlusion", attribution), torch.tensor([[[0.0, 1.0]]]))
    torch.testing.assert_close(evidence_map("guided", attribution), torch.tensor([[[2.0, 1.0]]]))


def test_spearman_gives_ties_their_average_rank():
    """Two maps that are zero except on disjoint supports are not alike; two constant maps have no order."""
    a = torch.zeros(1, 100)
    b = torch.zeros(1, 100)
    a[0, :10], b[0, 50:60] = 1.0, 1.0
    expected = -0.1111111111  # by hand: ranks 0 -> 44.5 (x90), 1 -> 94.5 (x10); Pearson of the two indicators
    torch.testing.assert_close(spearman(a, b), torch.tensor([expected], dtype=torch.float64))
    torch.testing.assert_close(spearman(torch.zeros(1, 9), torch.zeros(1, 9)), torch.zeros(1, dtype=torch.float64))
    x = torch.tensor([[3.0, 1.0, 1.0, 2.0]])
    torch.testing.assert_close(spearman(x, torch.tensor([[4.0, 0.0, 0.0, 1.0]])),
                               torch.tensor([1.0], dtype=torch.float64))


def test_spearman_of_monotone_and_reversed_rows():
    a = torch.tensor([[1.0, 2.0, 3.0, 4.0]])
    torch.testing.assert_close(spearman(a, a ** 3), torch.tensor([1.0], dtype=torch.float64))
    torch.testing.assert_close(spearman(a, -a), torch.tensor([-1.0], dtype=torch.float64))


def test_cascading_randomisation_goes_top_down_and_leaves_the_model_alone():
    model = make_model("vgg")
    snapshot = ModelSnapshot.of(model)
    order = parameterised_layers(model)
    assert order == ["classifier.3", "classifier.1", "features.5", "features.2", "features.0"]
    steps = list(cascading_randomisation(model))
    assert [name for name, _ in steps] == order
    _, first = steps[0]
    assert not torch.equal(first.classifier[3].weight, model.classifier[3].weight)
    assert torch.equal(first.features[0].weight, model.features[0].weight)
    _, last = steps[-1]
    assert not torch.equal(last.features[0].weight, model.features[0].weight)
    snapshot.assert_unchanged(model)


def test_cascading_randomisation_neither_moves_nor_follows_the_callers_random_numbers():
    model = make_model("vgg")
    torch.manual_seed(123)
    before = torch.random.get_rng_state()
    quiet = [copy.features[0].weight.clone() for _, copy in cascading_randomisation(model, seed=5)]
    assert torch.equal(torch.random.get_rng_state(), before)
    busy = []
    for _, copy in cascading_randomisation(model, seed=5):
        torch.rand(1000)  # the caller draws random numbers between two steps
        busy.append(copy.features[0].weight.clone())
    assert all(torch.equal(a, b) for a, b in zip(quiet, busy, strict=True))
