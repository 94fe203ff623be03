"""Every raising path leaves the model exactly as it was (complete ModelSnapshot: hooks on modules and tensors,
non-persistent buffers, flags, bits, global hook registries, TorchFunctionMode stack, grad mode) — and the user's
own hooks, frozen parameters and train mode survive it."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import nbsaliency as nbs
from tests.invariance import ModelSnapshot
from tests.models import make_input, make_model

METHODS = {"gradient": {}, "guided": {}, "smoothgrad": {"n_samples": 2}, "integrated_gradients": {"steps": 4},
           "gradcam": {}, "occlusion": {"window": 4, "stride": 4}}


class ConstantBranch(nn.Module):
    """A layer fed by a buffer, not by the input: targets on it have no gradient path."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 2, 3)
        self.constant = nn.Identity()
        self.register_buffer("prior", torch.ones(1, 2, 4, 4))
        self.register_buffer("scratch", torch.zeros(2), persistent=False)

    def forward(self, x):
        return self.conv(x).mean(dim=(2, 3)) + self.constant(self.prior).mean(dim=(2, 3)) + self.scratch


class WithUnused(nn.Module):
    def __init__(self):
        super().__init__()
        self.used = nn.Conv2d(3, 2, 3)
        self.unused = nn.Conv2d(3, 2, 3)

    def forward(self, x):
        return self.used(x).mean(dim=(2, 3))


class Features(nn.Module):
    """Returns feature maps, not class scores."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 2, 3)

    def forward(self, x):
        return self.conv(x)


class DictOutput(nn.Module):
    def __init__(self):
        super().__init__()
        self.inner = make_model("vgg")

    def forward(self, x):
        return {"logits": self.inner(x)}


class RaisesMidForward(nn.Module):
    """Runs (and updates BatchNorm statistics in train mode) before raising."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 2, 3)
        self.bn = nn.BatchNorm2d(2)

    def forward(self, x):
        self.bn(self.conv(x))
        raise RuntimeError("shape mismatch in my head")


def with_user_state(model: nn.Module) -> nn.Module:
    """What a user's model carries into the call: their own hooks, a frozen parameter, train mode."""
    first = next(m for m in model.modules() if list(m.parameters(recurse=False)))
    first.register_forward_hook(lambda module, args, output: None)
    parameters = list(model.parameters())
    parameters[0].register_hook(lambda grad: grad)
    parameters[-1].requires_grad_(False)
    return model.train()


CASES = {
    # name: (model factory, input, target, error, message)
    "no gradient path": (ConstantBranch, make_input(1, 6), nbs.Channel("constant", 0), nbs.NoGradientPathError,
                         "does not depend on the input"),
    "layer that did not run": (WithUnused, make_input(1), nbs.Channel("unused", 0), nbs.UnknownLayerError,
                               "did not run"),
    "unknown layer": (lambda: make_model("vgg"), make_input(1), nbs.Channel("features.33", 0),
                      nbs.UnknownLayerError, "unknown layer"),
    "no class scores": (Features, make_input(1), None, nbs.TargetError, "class targets need"),
    "dict outputs": (DictOutput, make_input(1), 1, nbs.TargetError, "dict"),
    "class out of range": (lambda: make_model("vgg"), make_input(1), 9, nbs.TargetIndexError, "out of range"),
    "channel out of range": (lambda: make_model("vgg"), make_input(1), nbs.Channel("features.3", 99),
                             nbs.TargetIndexError, "out of range"),
    "neuron out of range": (lambda: make_model("vgg"), make_input(1), nbs.Neuron("features.3", 0, 0, 99),
                            nbs.TargetIndexError, "out of range"),
    "classes for another batch size": (lambda: make_model("vgg"), make_input(3), nbs.Logit([0, 1]),
                                       nbs.TargetError, "got 2 classes"),
    "wrong dtype": (lambda: make_model("vgg"), make_input(1).double(), None, nbs.InputError, "dtype torch.float64"),
    "wrong channels": (lambda: make_model("vgg"), torch.zeros(1, 1, 16, 16), None, nbs.InputError,
                       "expects 3 input channels"),
    "NaN input": (lambda: make_model("vgg"), torch.full((1, 3, 16, 16), float("nan")), None, nbs.InputError,
                  "NaN or Inf"),
    "model raises mid-forward": (RaisesMidForward, make_input(1), None, nbs.ModelError, "shape mismatch in my head"),
}


@pytest.mark.parametrize("method", list(METHODS))
@pytest.mark.parametrize("case", list(CASES))
def test_attribute_raises_and_leaves_no_trace(case, method):
    factory, x, target, error, message = CASES[case]
    model = with_user_state(factory())
    snapshot = ModelSnapshot.of(model)
    options = dict(METHODS[method])
    if method == "gradcam" and case == "no gradient path":
        options["layer"] = "conv"
        message = "does not depend on Grad-CAM layer 'conv'"
    with pytest.raises(error, match=message):
        nbs.attribute(model, x, target, method=method, **options)
    snapshot.assert_unchanged(model)


@pytest.mark.parametrize("case", ["no gradient path", "layer that did not run", "no class scores", "dict outputs",
                                  "class out of range", "channel out of range"])
def test_session_attribute_raises_and_leaves_no_trace(case):
    """The error comes from the backward side, on a session whose forward pass succeeded."""
    factory, x, target, error, message = CASES[case]
    model = with_user_state(factory())
    snapshot = ModelSnapshot.of(model)
    session = nbs.Session(model, x)
    for method in ("gradient", "deconvnet"):
        with pytest.raises(error, match=message):
            session.attribute(target, method)
        with pytest.raises(error, match=message):
            session.attribute([target, target], method)  # the batched (vectorised) path
    snapshot.assert_unchanged(model)


@pytest.mark.parametrize("case", ["wrong dtype", "wrong channels", "NaN input", "model raises mid-forward"])
def test_session_construction_raises_and_leaves_no_trace(case):
    factory, x, _, error, message = CASES[case]
    model = with_user_state(factory())
    snapshot = ModelSnapshot.of(model)
    with pytest.raises(error, match=message):
        nbs.Session(model, x)
    with pytest.raises(error, match=message):
        nbs.layers(model, x)
    snapshot.assert_unchanged(model)


def test_a_model_on_another_device_raises_and_leaves_no_trace():
    model = with_user_state(nn.Sequential(nn.Conv2d(3, 2, 3), nn.ReLU()).to("meta"))
    snapshot = ModelSnapshot.of(model)
    for call in (lambda: nbs.Session(model, make_input(1)), lambda: nbs.attribute(model, make_input(1), None),
                 lambda: nbs.attribute(model, make_input(1), nbs.Channel("0", 0), method="occlusion")):
        with pytest.raises(nbs.InputError, match="the input is on cpu but the model is on meta"):
            call()
    snapshot.assert_unchanged(model)


def test_receptive_fields_and_patch_index_errors_leave_no_trace():
    model = with_user_state(make_model("vgg"))
    snapshot = ModelSnapshot.of(model)
    with pytest.raises(nbs.UnknownLayerError):
        nbs.ReceptiveFields(model, make_input(1)).box("features.33", 0, 0)
    with pytest.raises(IndexError):
        nbs.ReceptiveFields(model, make_input(1)).box("features.3", 99, 0)
    with pytest.raises(nbs.InputError):
        nbs.PatchIndex.build(model, make_input(4).double(), progress=False)
    broken = with_user_state(RaisesMidForward())
    broken_snapshot = ModelSnapshot.of(broken)
    with pytest.raises(nbs.ModelError):
        nbs.PatchIndex.build(broken, make_input(4), progress=False)
    broken_snapshot.assert_unchanged(broken)
    snapshot.assert_unchanged(model)


def test_errors_inside_no_grad_leave_grad_mode_as_the_caller_set_it():
    model = with_user_state(WithUnused())
    snapshot = ModelSnapshot.of(model)
    with torch.no_grad():
        with pytest.raises(nbs.UnknownLayerError):
            nbs.attribute(model, make_input(1), nbs.Channel("unused", 0))
        assert not torch.is_grad_enabled()
    snapshot.assert_unchanged(model)
