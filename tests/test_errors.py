"""Bad input gets a specific error that says what was expected, and leaves the model as it was."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import nbsaliency as nbs
from tests.invariance import ModelSnapshot
from tests.models import make_input, make_model


@pytest.fixture
def model():
    return make_model("batchnorm_train")


@pytest.fixture
def snapshot(model):
    snap = ModelSnapshot.of(model)
    yield snap
    snap.assert_unchanged(model)  # after every error path below


def test_unknown_layer_names_close_matches(model, snapshot):
    with pytest.raises(nbs.UnknownLayerError, match=r"unknown layer 'body\.33'.*close matches: 'body\.3'"):
        nbs.attribute(model, make_input(1), nbs.Channel("body.33", 0))


def test_layer_that_did_not_run_is_named_as_such():
    class WithUnused(nn.Module):
        def __init__(self):
            super().__init__()
            self.used = nn.Conv2d(3, 2, 3)
            self.unused = nn.Conv2d(3, 2, 3)

        def forward(self, x):
            return self.used(x).mean(dim=(2, 3))

    with pytest.raises(nbs.UnknownLayerError, match="exists in the model but did not run"):
        nbs.attribute(WithUnused(), make_input(1), nbs.Channel("unused", 0))


def test_channel_out_of_range_gives_the_valid_range(model, snapshot):
    with pytest.raises(nbs.TargetIndexError, match=r"channel 8 is out of range .* 8 channels \(valid 0\.\.7\)"):
        nbs.attribute(model, make_input(1), nbs.Channel("body.4", 8))
    with pytest.raises(IndexError):  # a familiar built-in base class
        nbs.attribute(model, make_input(1), nbs.Channel("body.4", -1))


def test_neuron_position_out_of_range(model, snapshot):
    with pytest.raises(nbs.TargetIndexError, match=r"x index 8 is out of range .* \(valid 0\.\.7\)"):
        nbs.attribute(model, make_input(1), nbs.Neuron("body.4", 0, 2, 8))


def test_neuron_with_spatial_index_on_a_flat_layer(model, snapshot):
    with pytest.raises(nbs.TargetError, match=r"takes 1 indices Neuron\(layer, i\); got 3"):
        nbs.attribute(model, make_input(1), nbs.Neuron("head.3", 0, 1, 1))


def test_class_out_of_range(model, snapshot):
    with pytest.raises(nbs.TargetIndexError, match=r"class 9 is out of range: the model has 5 classes"):
        nbs.attribute(model, make_input(1), 9)


@pytest.mark.parametrize(
    ("x", "message"),
    [
        (torch.zeros(16, 16), r"shape \(16, 16\).*x\[None\]"),
        (torch.zeros(1, 1, 3, 16, 16), "shape"),
        (torch.zeros(0, 3, 16, 16), "empty"),
        (torch.zeros(1, 3, 16, 16, dtype=torch.uint8), "floating-point"),
        (torch.zeros(1, 3, 16, 16, dtype=torch.float64), "dtype torch.float64 but the model's weights are"),
        (torch.zeros(1, 1, 16, 16), r"first convolution 'body\.0' expects 3 input channels, but the input has 1"),
        (torch.full((1, 3, 16, 16), float("nan")), "NaN or Inf"),
        (torch.full((1, 3, 16, 16), float("inf")), "NaN or Inf"),
        ([[1.0]], "torch.Tensor"),
    ],
)
def test_bad_inputs(model, snapshot, x, message):
    with pytest.raises(nbs.InputError, match=message):
        nbs.attribute(model, x)


def test_input_on_another_device_than_the_model():
    model = nn.Conv2d(3, 2, 3).to("meta")
    with pytest.raises(nbs.InputError, match="the input is on cpu but the model is on meta"):
        nbs.Session(model, make_input(1))


def test_target_without_gradient_path():
    class ConstantBranch(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 2, 3)
            self.constant = nn.Identity()
            self.register_buffer("prior", torch.ones(1, 2, 4, 4))

        def forward(self, x):
            return self.conv(x).mean(dim=(2, 3)) + self.constant(self.prior).mean(dim=(2, 3))

    with pytest.raises(nbs.NoGradientPathError, match="does not depend on the input"):
        nbs.attribute(ConstantBranch(), make_input(1, 6), nbs.Channel("constant", 0))


def test_gradcam_layer_after_the_target(model, snapshot):
    with pytest.raises(nbs.NoGradientPathError, match="does not depend on Grad-CAM layer 'body.6'"):
        nbs.attribute(model, make_input(1), nbs.Channel("body.2", 0), method="gradcam", layer="body.6")


def test_gradcam_needs_spatial_maps(model, snapshot):
    with pytest.raises(nbs.TargetError, match=r"Grad-CAM needs a layer with spatial maps.*'head.3' has shape \(1, 5\)"):
        nbs.attribute(model, make_input(1), method="gradcam", layer="head.3")


def test_unknown_method_and_option(model, snapshot):
    with pytest.raises(nbs.UnknownMethodError, match="Did you mean 'guided'"):
        nbs.attribute(model, make_input(1), method="guidded")
    with pytest.raises(TypeError, match="method 'smoothgrad' has no option 'samples'; its options are: n_samples"):
        nbs.attribute(model, make_input(1), method="smoothgrad", samples=3)


def test_bad_target_objects(model, snapshot):
    with pytest.raises(nbs.TargetError, match="a target must be"):
        nbs.attribute(model, make_input(1), "cat")
    with pytest.raises(nbs.TargetError, match='reduce must be "max"'):
        nbs.Channel("body.4", 0, reduce="sum")
    with pytest.raises(nbs.TargetError, match="got 2 classes for a batch of 3"):
        nbs.attribute(model, make_input(3), nbs.Logit([0, 1]))


def test_a_model_that_raises_is_reported_and_restored():
    class Broken(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 2, 3)
            self.bn = nn.BatchNorm2d(2)

        def forward(self, x):
            self.bn(self.conv(x))
            raise RuntimeError("shape mismatch in my head")

    model = Broken().train()
    snapshot = ModelSnapshot.of(model)
    with pytest.raises(nbs.ModelError, match="the model raised RuntimeError .* shape mismatch in my head"):
        nbs.attribute(model, make_input(1))
    snapshot.assert_unchanged(model)


def test_a_model_that_does_not_return_class_scores():
    class Features(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 2, 3)

        def forward(self, x):
            return self.conv(x)

    with pytest.raises(nbs.TargetError, match=r"class targets need .* returned \(1, 2, 14, 14\)"):
        nbs.attribute(Features(), make_input(1))
    assert nbs.attribute(Features(), make_input(1), nbs.Channel("conv", 1)).shape == (1, 3, 16, 16)


def test_strict_error_leaves_the_model_untouched():
    model = make_model("smooth_activations")
    snapshot = ModelSnapshot.of(model)
    with pytest.raises(nbs.UnsupportedActivationError):
        nbs.attribute(model, make_input(1), method="guided", strict=True)
    snapshot.assert_unchanged(model)


def test_a_signal_model_with_a_conv1d_first_is_told_the_library_explains_image_models():
    model = nn.Sequential(nn.Conv1d(2, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool1d(1), nn.Flatten(), nn.Linear(4, 3)).eval()
    snapshot = ModelSnapshot.of(model)
    calls = (lambda: nbs.attribute(model, torch.rand(1, 2, 50), 1), lambda: nbs.Session(model, torch.rand(4, 2, 9)))
    for call in calls:
        with pytest.raises(nbs.InputError, match=r"explains image models, whose inputs are \(N, C, H, W\); this "
                                                 r"model's first convolution '0' is a Conv1d, which takes signals "
                                                 r"\(N, C, L\) \(input shape \((1, 2, 50|4, 2, 9)\)\)"):
            call()
    snapshot.assert_unchanged(model)


def test_an_unknown_method_option_is_an_option_error_and_a_failed_gradcam_leaves_no_layer_named(model, snapshot):
    session = nbs.Session(model, make_input(1))
    with pytest.raises(nbs.OptionError, match="method 'gradient' has no option 'steps'; its options are: none"):
        session.attribute(1, "gradient", steps=3)
    session.attribute(1, "gradcam")
    assert session.last_cam_layers  # the default layer it used
    with pytest.raises(nbs.NbsaliencyError):
        session.attribute(1, "gradcam", layer="head")  # a flat layer: no maps to weight
    assert session.last_cam_layers == []
    session.attribute(1, "gradient")
    assert session.last_cam_layers == []
