"""Every method on every test architecture, and the numbers each method is defined by."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import nbsaliency as nbs
from tests.invariance import ModelSnapshot
from tests.models import ARCHITECTURES, make_input, make_model

FAST_OPTIONS = {"smoothgrad": {"n_samples": 4}, "integrated_gradients": {"steps": 8}}


def test_methods_lists_the_registry():
    assert nbs.methods() == ["gradient", "deconvnet", "guided", "input_x_gradient", "smoothgrad",
                             "integrated_gradients", "gradcam", "guided_gradcam", "occlusion"]
    for name in nbs.methods():
        assert nbs.method_info(name).citation


@pytest.mark.parametrize("architecture", list(ARCHITECTURES))
@pytest.mark.parametrize("method", nbs.methods())
def test_every_method_runs_and_leaves_the_model_untouched(architecture, method):
    model = make_model(architecture)
    snapshot = ModelSnapshot.of(model)
    x = make_input(2)
    attribution = nbs.attribute(model, x, None, method=method, **FAST_OPTIONS.get(method, {}))
    assert attribution.shape == x.shape
    assert torch.isfinite(attribution).all()
    assert attribution.abs().sum() > 0
    snapshot.assert_unchanged(model)


def test_batchnorm_model_stays_in_train_mode_and_is_evaluated_in_eval_mode():
    model = make_model("batchnorm_train")
    x = make_input(2)
    session = nbs.Session(model, x)
    assert model.training and model.body[1].training
    model.eval()
    with torch.no_grad():
        expected = model(x)
    torch.testing.assert_close(session.output, expected)


def test_mixed_training_flags_are_restored_per_module():
    model = make_model("batchnorm_train")
    model.body.eval()  # a frozen backbone inside a training model
    snapshot = ModelSnapshot.of(model)
    nbs.attribute(model, make_input(1), method="guided")
    snapshot.assert_unchanged(model)


def test_input_x_gradient_is_input_times_gradient():
    model, x = make_model("vgg"), make_input(1)
    session = nbs.Session(model, x)
    torch.testing.assert_close(session.attribute(1, "input_x_gradient"), x * session.attribute(1, "gradient"))


def test_integrated_gradients_is_complete():
    """Sundararajan et al.'s completeness: the map sums to f(x) - f(baseline)."""
    model, x = make_model("vgg").double(), make_input(1).double()
    attribution = nbs.attribute(model, x, 2, method="integrated_gradients", steps=256)
    with torch.no_grad():
        difference = model(x)[0, 2] - model(torch.zeros_like(x))[0, 2]
    torch.testing.assert_close(attribution.sum(), difference, rtol=1e-3, atol=1e-4)


def test_smoothgrad_without_noise_is_its_base_method():
    session = nbs.Session(make_model("resnet"), make_input(1))
    for base in ("gradient", "guided", "deconvnet", "input_x_gradient"):
        smooth = session.attribute(1, "smoothgrad", n_samples=3, noise_level=0.0, base=base)
        torch.testing.assert_close(smooth, session.attribute(1, base))


def test_smoothgrad_is_deterministic_per_seed_and_explains_the_clean_prediction():
    session = nbs.Session(make_model("vgg"), make_input(1))
    a = session.attribute(None, "smoothgrad", n_samples=5, seed=3)
    torch.testing.assert_close(a, session.attribute(None, "smoothgrad", n_samples=5, seed=3))
    assert not torch.allclose(a, session.attribute(None, "smoothgrad", n_samples=5, seed=4))
    predicted = int(session.predicted[0])
    torch.testing.assert_close(a, session.attribute(predicted, "smoothgrad", n_samples=5, seed=3))


class LinearScore(nn.Module):
    def __init__(self, weights: torch.Tensor):
        super().__init__()
        self.weights = nn.Parameter(weights)

    def forward(self, x):
        return (x * self.weights).sum(dim=(1, 2, 3))[:, None]


def test_occlusion_of_single_pixels_on_a_linear_model():
    """Hiding pixel (y, x) of a linear score lowers it by sum_c w[c, y, x] * x[c, y, x]."""
    weights = torch.randn(3, 5, 5, generator=torch.Generator().manual_seed(0))
    x = make_input(1, 5)
    attribution = nbs.attribute(LinearScore(weights), x, 0, method="occlusion", window=1, stride=1)
    expected = (weights * x[0]).sum(dim=0)
    for c in range(3):
        torch.testing.assert_close(attribution[0, c], expected)


def test_occlusion_windows_average_over_covering_patches():
    weights = torch.ones(1, 4, 4)
    x = torch.ones(1, 1, 4, 4)
    attribution = nbs.attribute(LinearScore(weights), x, 0, method="occlusion", window=2, stride=2)
    torch.testing.assert_close(attribution, torch.full_like(x, 4.0))  # each 2x2 window removes 4


def test_gradcam_equals_class_activation_mapping_for_global_average_pooling():
    """With global average pooling and a linear head, Grad-CAM = ReLU(sum_k w_ck A_k) / (h w) (Zhou et al.'s
    CAM, shown equivalent by Selvaraju et al.); at input resolution no upsampling is involved."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                          nn.Linear(6, 4))
    x = make_input(1, 8)
    cam = nbs.attribute(model, x, 2, method="gradcam", layer="1")
    with torch.no_grad():
        maps = model[1](model[0](x))[0]
        expected = (model[4].weight[2].view(6, 1, 1) * maps).sum(0).clamp(min=0) / 64
    for c in range(3):
        torch.testing.assert_close(cam[0, c], expected)


def test_gradcam_at_a_coarse_layer_is_upsampled_to_the_input():
    model, x = make_model("vgg"), make_input(1)
    cam = nbs.attribute(model, x, 1, method="gradcam", layer="features.7")  # 4x4 maps
    assert cam.shape == x.shape and (cam >= 0).all()


def test_gradcam_default_layer_follows_a_target_inside_the_network():
    session = nbs.Session(make_model("vgg"), make_input(1))
    channel = nbs.Channel("features.3", 2)
    torch.testing.assert_close(session.attribute(channel, "gradcam"),
                               session.attribute(channel, "gradcam", layer="features.3"))


def test_guided_gradcam_is_guided_times_gradcam():
    session = nbs.Session(make_model("resnet"), make_input(1))
    expected = session.attribute(3, "guided") * session.attribute(3, "gradcam")
    torch.testing.assert_close(session.attribute(3, "guided_gradcam"), expected)


def test_maps_helpers():
    attribution = torch.tensor([[[1.0, -3.0]], [[-2.0, 0.5]], [[0.0, 1.0]]])  # (3, 1, 2)
    torch.testing.assert_close(nbs.saliency_map(attribution), torch.tensor([[2.0, 3.0]]))
    rgb = nbs.signed_rgb(attribution, percentile=100)
    assert rgb.min() >= 0 and rgb.max() <= 1
    torch.testing.assert_close(rgb[2, 0, 0], torch.tensor(0.5))
    torch.testing.assert_close(rgb[0, 0, 1], torch.tensor(0.0))
    clipped = nbs.clip_percentile(torch.tensor([[0.0, 1.0, 2.0, 100.0]]), percentile=50)
    torch.testing.assert_close(clipped, torch.tensor([[0.0, 0.6667, 1.0, 1.0]]), atol=1e-4, rtol=0)


class DictOutput(nn.Module):
    """A model returning a dict (as detection and many hub models do): unit targets still work everywhere."""

    def __init__(self):
        super().__init__()
        self.inner = make_model("vgg")

    def forward(self, x):
        return {"logits": self.inner(x)}


@pytest.mark.parametrize("method", ["gradient", "smoothgrad", "integrated_gradients", "occlusion"])
def test_unit_targets_work_on_a_model_without_class_scores(method):
    model = DictOutput().eval()
    attribution = nbs.attribute(model, make_input(1), nbs.Channel("inner.features.3", 2), method)
    assert attribution.shape == (1, 3, 16, 16) and attribution.abs().sum() > 0
    with pytest.raises(nbs.TargetError, match=r"class targets need the model to return class scores .* dict"):
        nbs.attribute(model, make_input(1), None, method)
