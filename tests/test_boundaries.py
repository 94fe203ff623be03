"""Boundaries and rarely taken branches that mutation testing (benchmarks/MUTATION.md) found unpinned: the first
invalid class and channel, one class given for a whole batch, explicit classes beside predicted ones in the
perturbation methods, occlusion windows that overlap or fill the image, Grad-CAM's default layer on a block whose
ReLU module runs twice, and the errors' wording."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import nbsaliency as nbs
from tests.counting import CountingNet
from tests.models import make_input, make_model

# --- class targets ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("classes", [5, [0, 5], torch.tensor([5, 0])], ids=["int", "list", "tensor"])
def test_the_first_class_past_the_end_is_refused_with_the_valid_range(classes):
    model = make_model("vgg")  # 5 classes
    message = r"^class 5 is out of range: the model has 5 classes \(valid 0\.\.4\)"
    with pytest.raises(nbs.TargetIndexError, match=message):
        nbs.attribute(model, make_input(2), nbs.Logit(classes))


def test_the_last_class_and_one_class_for_the_whole_batch_are_accepted():
    model, x = make_model("vgg"), make_input(2)
    expected = nbs.attribute(model, x, 4)
    for one in ([4], torch.tensor([4]), torch.tensor(4)):
        torch.testing.assert_close(nbs.attribute(model, x, nbs.Logit(one)), expected)


def test_a_target_of_the_wrong_type_is_named():
    with pytest.raises(nbs.TargetError, match="got str"):
        nbs.attribute(make_model("vgg"), make_input(1), "cat")


def test_only_zero_may_be_added_to_a_target():
    a, b = nbs.Logit(1), nbs.Channel("features.3", 2)
    session = nbs.Session(make_model("vgg"), make_input(1))
    torch.testing.assert_close(session.attribute(sum([a, b])), session.attribute(a + b))
    with pytest.raises(TypeError):
        3 + a  # noqa: B018


@pytest.mark.parametrize("method", ["smoothgrad", "integrated_gradients", "occlusion"])
def test_explicit_classes_stay_explicit_beside_predicted_ones(method):
    """In one batched call, `None` (each image's prediction) is resolved without touching Logit(c), Probability(c),
    scaled and summed targets that name their class."""
    session = nbs.Session(make_model("vgg"), make_input(1))
    predicted = int(session.predicted[0])
    other = (predicted + 1) % 5
    options = {"smoothgrad": {"n_samples": 2}, "integrated_gradients": {"steps": 3},
               "occlusion": {"window": 8, "stride": 8}}[method]
    targets = [None, nbs.Logit(other), nbs.Probability(None), nbs.Probability(other), 2 * nbs.Logit(None),
               nbs.Logit(None) + nbs.Channel("features.3", 1)]
    equivalents = [nbs.Logit(predicted), nbs.Logit(other), nbs.Probability(predicted), nbs.Probability(other),
                   2 * nbs.Logit(predicted), nbs.Logit(predicted) + nbs.Channel("features.3", 1)]
    batched = session.attribute(targets, method, **options)
    for i, target in enumerate(equivalents):
        torch.testing.assert_close(batched[i], session.attribute(target, method, **options)[0])


class ScaleDependent(nn.Module):
    """Two logits, s and s^2 - 0.5 s, with s the image's mean: class 1 is predicted for s > 1.5, class 0 below, so
    copies along an integrated-gradients path from 0 predict another class than the clean image."""

    def __init__(self):
        super().__init__()
        self.mean = nn.Identity()

    def forward(self, x):
        s = self.mean(x.mean(dim=(1, 2, 3)))
        return torch.stack([s, s * s - 0.5 * s], dim=1)


def test_targets_of_the_predicted_class_explain_the_clean_prediction_also_on_copies_that_predict_another():
    x = torch.full((1, 3, 4, 4), 2.0)
    session = nbs.Session(ScaleDependent(), x)
    assert session.predicted.tolist() == [1]
    # steps=3: copies at s = 1/3 and 1 predict class 0, s = 5/3 class 1 (with 4 steps, the two class-0 copies'
    # contributions happen to cancel and a wrong class would go unnoticed)
    for implicit, explicit in [(None, 1), (nbs.Probability(None), nbs.Probability(1)),
                               (2 * nbs.Logit(None), 2 * nbs.Logit(1)),
                               (nbs.Logit(None) + nbs.Probability(None), nbs.Logit(1) + nbs.Probability(1))]:
        expected = session.attribute(explicit, "integrated_gradients", steps=3)
        torch.testing.assert_close(session.attribute(implicit, "integrated_gradients", steps=3), expected)
    # and the path's early copies really predict class 0: the explicit class is not what they would pick
    with torch.no_grad():
        assert ScaleDependent()(x / 8).argmax(1).tolist() == [0]


def test_dividing_a_target_scales_its_gradient():
    session = nbs.Session(make_model("vgg"), make_input(1))
    torch.testing.assert_close(session.attribute(nbs.Logit(2) / 4), session.attribute(nbs.Logit(2)) / 4)


def test_neuron_without_an_index_says_how_to_write_one():
    message = r"^Neuron needs an index: Neuron\(layer, c, y, x\) or Neuron\(layer, i\)$"
    with pytest.raises(nbs.TargetError, match=message):
        nbs.Neuron("features.3")


def test_channel_of_a_layer_without_a_channel_axis_names_its_shape():
    with pytest.raises(nbs.TargetError, match=r"^layer 'mean' has output shape \(1,\): no channel axis$"):
        nbs.attribute(ScaleDependent(), torch.ones(1, 3, 4, 4), nbs.Channel("mean", 0))


# --- channel targets -------------------------------------------------------------------------------------------------


def test_the_first_channel_past_the_end_is_refused_on_a_layer_with_more_rows_than_channels():
    model = make_model("vgg")  # features.3: 8 channels of 16 x 16
    message = r"channel 8 is out of range for layer 'features\.3' with 8 channels \(valid 0\.\.7\)"
    with pytest.raises(nbs.TargetIndexError, match=message):
        nbs.attribute(model, make_input(1), nbs.Channel("features.3", 8))
    assert nbs.attribute(model, make_input(1), nbs.Channel("features.3", 7)).abs().sum() > 0


def test_a_channel_of_a_flat_layer_is_that_feature():
    """Channel(layer, c) on an (N, C) layer is feature c: on the logits it is the class score."""
    session = nbs.Session(make_model("vgg"), make_input(1))
    torch.testing.assert_close(session.attribute(nbs.Channel("classifier.3", 2)), session.attribute(2))


# --- occlusion windows ----------------------------------------------------------------------------------------------


class LinearScore(nn.Module):
    def __init__(self, weights: torch.Tensor):
        super().__init__()
        self.weights = nn.Parameter(weights)

    def forward(self, x):
        return (x * self.weights).sum(dim=(1, 2, 3))[:, None]


@pytest.mark.parametrize(("size", "window", "stride", "spans"), [
    (5, 2, 1, [(0, 2), (1, 3), (2, 4), (3, 5)]),  # overlapping windows that end exactly at the border
    (5, 5, 1, [(0, 5)]),  # one window covering the whole image
    (6, 4, 3, [(0, 4), (2, 6)]),  # the stride skips the border: one more window, flush with it
])
def test_occlusion_windows_listed_by_hand(size, window, stride, spans):
    """Each pixel gets the mean drop of the windows (spans written out by hand, per axis) that cover it."""
    generator = torch.Generator().manual_seed(size + window)
    weights = torch.rand(1, size, size, generator=generator, dtype=torch.float64) + 0.5
    x = torch.rand(1, 1, size, size, generator=generator, dtype=torch.float64) + 0.5
    contribution = weights[0] * x[0, 0]
    expected = torch.zeros(size, size, dtype=torch.float64)
    for y in range(size):
        for x_ in range(size):
            drops = [contribution[y0:y1, x0:x1].sum() for (y0, y1) in spans for (x0, x1) in spans
                     if y0 <= y < y1 and x0 <= x_ < x1]
            expected[y, x_] = sum(drops) / len(drops)
    attribution = nbs.attribute(LinearScore(weights), x, 0, method="occlusion", window=window, stride=stride)
    torch.testing.assert_close(attribution[0, 0], expected)


def test_perturbation_methods_forward_at_most_batch_size_images_at_a_time():
    model = CountingNet()
    session = nbs.Session(model, torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(0)))
    model.batch_sizes.clear()
    session.attribute(1, "smoothgrad", n_samples=5, batch_size=4)
    assert model.batch_sizes == [4, 4, 2]  # two copies of the two images per forward: as many as fit
    model.batch_sizes.clear()
    session.attribute(1, "smoothgrad", n_samples=3, batch_size=1)  # fewer than N images: one copy at a time
    assert model.batch_sizes == [2, 2, 2]
    model.batch_sizes.clear()
    session.attribute(1, "occlusion", window=8, stride=8, batch_size=3)  # 4 windows x 2 images
    assert max(model.batch_sizes) <= 3 and sum(model.batch_sizes) == 8


# --- Grad-CAM -------------------------------------------------------------------------------------------------------


def test_gradcam_default_layer_is_the_last_block_output_even_from_a_reused_relu():
    """ResNet blocks call one ReLU module twice; the block's output is its second call, 'layer1.1.relu#2'."""
    session = nbs.Session(make_model("resnet"), make_input(1))
    explicit = session.attribute(1, "gradcam", layer="layer1.1.relu#2")
    torch.testing.assert_close(session.attribute(1, "gradcam"), explicit)


def test_gradcam_at_a_layer_the_model_edits_in_place_uses_that_layer_and_names_it():
    # out += identity edits bn2's output in place; Grad-CAM differentiates the output as the layer produced it
    session = nbs.Session(make_model("resnet"), make_input(1))
    cam = session.attribute(1, "gradcam", layer="layer1.0.bn2")
    assert torch.isfinite(cam).all()
    assert session.last_cam_layers == ["layer1.0.bn2"]


def test_gradcam_without_a_spatial_layer_says_there_is_none():
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 4 * 4, 3))
    with pytest.raises(nbs.TargetError, match=r"Grad-CAM needs a layer with spatial maps before the target "
                                              r"\(\(N, C, H, W\), \(N, H, W, C\) or a token grid\); there is none"):
        nbs.attribute(model, make_input(1, 4), 1, method="gradcam")


def test_gradcam_layer_after_the_target_says_which_layer_to_choose():
    with pytest.raises(nbs.NoGradientPathError, match=r"choose a layer at or before the target's layer$"):
        nbs.attribute(make_model("vgg"), make_input(1), nbs.Channel("features.2", 0), method="gradcam",
                      layer="features.5")
