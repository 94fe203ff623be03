"""TorchScript submodules are opaque layers: no hooks inside them (they cannot be hooked), no backward rule for
their activations, reported in ``activation_rules``; naming a layer inside one is refused with an error that names
TorchScript. Hooks are registered inside the guard that removes them on every path: none is left after a call,
also when a registration fails half-way."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import nbsaliency as nbs
from nbsaliency.optimize import LayerCapture
from nbsaliency.patches import PatchIndex
from tests.invariance import ModelSnapshot

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")


class WithScripted(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 6, 3, padding=1)
        self.scripted = torch.jit.script(nn.Sequential(nn.Conv2d(6, 6, 3, padding=1), nn.ReLU()))
        self.head = nn.Conv2d(6, 6, 3, padding=1)
        self.fc = nn.Linear(6, 4)

    def forward(self, x):
        h = self.head(self.scripted(F.relu(self.stem(x))))
        return self.fc(F.relu(h).mean(dim=(2, 3)))


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return WithScripted().eval()


@pytest.fixture(scope="module")
def x():
    return torch.randn(2, 3, 12, 12, generator=torch.Generator().manual_seed(1))


def test_a_scripted_submodule_is_opaque_and_reported(model, x):
    snapshot = ModelSnapshot.of(model)
    session = nbs.Session(model, x)
    names = [layer.name for layer in session.layers]
    assert "stem" in names and "head" in names
    assert not any(name.startswith("scripted") for name in names)
    assert nbs.ActivationUse("scripted", "TorchScript module", "opaque (TorchScript)") in session.activation_rules
    inside = [use for use in session.activation_rules if use.layer.startswith("scripted")]
    assert inside == [nbs.ActivationUse("scripted", "TorchScript module", "opaque (TorchScript)")]  # its ReLU: no rule
    assert [use.treatment for use in session.activation_rules if use.layer == ""] == ["relu"]  # the model's F.relu
    snapshot.assert_unchanged(model)


def test_gradients_through_a_scripted_submodule_equal_plain_autograd(model, x):
    xx = x.clone().requires_grad_(True)
    (expected,) = torch.autograd.grad(model(xx)[:, 1].sum(), xx)
    assert torch.allclose(nbs.attribute(model, x, 1), expected, atol=1e-6)


def test_a_layer_inside_a_scripted_submodule_is_refused_naming_torchscript(model, x):
    snapshot = ModelSnapshot.of(model)
    session = nbs.Session(model, x)
    for layer in ("scripted", "scripted.0"):
        with pytest.raises(nbs.UnknownLayerError, match="TorchScript submodule 'scripted'"):
            session.attribute(nbs.Channel(layer, 0))
    with pytest.raises(nbs.UnknownLayerError, match="TorchScript submodule 'scripted'"):
        LayerCapture(model, ["scripted.0"])
    with pytest.raises(nbs.UnknownLayerError, match="TorchScript submodule 'scripted'"):
        nbs.ReceptiveFields(model, x).box("scripted.0", 0, 0)
    snapshot.assert_unchanged(model)


def test_no_hook_stays_on_a_model_with_a_scripted_submodule_on_any_path(model, x):
    snapshot = ModelSnapshot.of(model)
    session = nbs.Session(model, x)
    for method in ("gradient", "guided", "gradcam", "occlusion"):
        session.attribute(1, method)
    PatchIndex.build(model, x, k=2, progress=False)
    nbs.ReceptiveFields(model, x).box("head", 3, 3)
    nbs.activation_maximisation(model, nbs.Channel("head", 2), size=12, steps=2)
    for _ in range(3):
        with pytest.raises(nbs.TargetIndexError):
            session.attribute(nbs.Channel("head", 99))
    snapshot.assert_unchanged(model)


@pytest.fixture()
def failing_registration(model):
    """The head's ``register_forward_hook`` raises (after the stem's hooks were registered)."""
    def fail(*args, **kwargs):
        raise RuntimeError("registration refused")

    model.head.register_forward_hook = fail
    try:
        yield
    finally:
        del model.head.register_forward_hook


@pytest.mark.parametrize("path", ["session", "patch index", "receptive field", "optimisation"])
def test_hooks_registered_before_a_failing_registration_are_removed(model, x, failing_registration, path):
    snapshot = ModelSnapshot.of(model)
    run = {
        "session": lambda: nbs.Session(model, x),
        "patch index": lambda: PatchIndex.build(model, x, k=2, progress=False),
        "receptive field": lambda: nbs.receptive_field(model, x, "stem", 1, 1),
        "optimisation": lambda: LayerCapture(model, ["stem", "head"]).__enter__(),
    }[path]
    with pytest.raises(RuntimeError, match="registration refused"):
        run()
    snapshot.assert_unchanged(model)


def test_strict_mode_refuses_rule_methods_on_a_model_with_an_opaque_submodule(model, x):
    session = nbs.Session(model, x, strict=True)
    with pytest.raises(nbs.UnsupportedActivationError, match="TorchScript module in 'scripted'"):
        session.attribute(1, "guided")
    assert torch.equal(session.attribute(1, "gradient"), nbs.attribute(model, x, 1))  # plain gradients are exact


def test_strict_mode_error_says_what_strict_false_does_to_an_opaque_torchscript_part(model, x):
    with pytest.raises(nbs.UnsupportedActivationError) as info:
        nbs.Session(model, x, strict=True).attribute(1, "guided")
    message = str(info.value)
    assert "plain gradient passes through TorchScript module in 'scripted'" in message
    assert "un-scripted" in message and "generalised rule" not in message


def test_guided_with_strict_false_passes_the_plain_gradient_through_an_opaque_part():
    torch.manual_seed(0)
    only_scripted_relu = nn.Sequential(nn.Conv2d(3, 4, 3), torch.jit.script(nn.ReLU()), nn.Flatten(),
                                       nn.Linear(4 * 6 * 6, 3))
    images = torch.randn(2, 3, 8, 8)
    guided = nbs.attribute(only_scripted_relu, images, 1, method="guided")
    torch.testing.assert_close(guided, nbs.attribute(only_scripted_relu, images, 1))
