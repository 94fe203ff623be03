"""Engine calls inside ``torch.no_grad()`` give exactly what they give outside; inference mode is refused."""

from __future__ import annotations

import pytest
import torch

import nbsaliency as nbs
from nbsaliency.errors import InferenceModeError
from nbsaliency.patches import PatchIndex, top_patches
from nbsaliency.rules.backward_rules import GRADIENT
from tests.invariance import ModelSnapshot
from tests.models import make_input, make_model

FAST_OPTIONS = {"smoothgrad": {"n_samples": 3}, "integrated_gradients": {"steps": 4}}


@pytest.mark.parametrize("method", nbs.methods())
def test_attribute_inside_no_grad_equals_outside_and_restores_grad_mode(method):
    model, x = make_model("vgg"), make_input(2)
    options = FAST_OPTIONS.get(method, {})
    expected = nbs.attribute(model, x, 3, method, **options)
    with torch.no_grad():
        inside = nbs.attribute(model, x, 3, method, **options)
        assert not torch.is_grad_enabled()
    torch.testing.assert_close(inside, expected, rtol=0, atol=0)
    assert torch.is_grad_enabled()


def test_a_session_made_outside_answers_inside_no_grad_and_the_reverse():
    model, x = make_model("resnet"), make_input(2)
    outside = nbs.Session(model, x)
    with torch.no_grad():
        inside = nbs.Session(model, x)
        from_outside = outside.attribute([nbs.Logit(1), nbs.Channel("layer1.0.conv1", 2)], "guided")
    from_inside = inside.attribute([nbs.Logit(1), nbs.Channel("layer1.0.conv1", 2)], "guided")
    torch.testing.assert_close(from_outside, from_inside, rtol=0, atol=0)


def test_session_gradients_inside_no_grad_equal_plain_autograd():
    model, x = make_model("vgg"), make_input(1)
    leaf = x.clone().requires_grad_(True)
    (expected,) = torch.autograd.grad(model(leaf)[0, 2], leaf)
    session = nbs.Session(model, x)
    with torch.no_grad():
        got = session.gradients([nbs.Logit(2)], GRADIENT)[0]
    torch.testing.assert_close(got, expected)


def test_receptive_field_box_and_top_patches_inside_no_grad_equal_outside():
    model, x = make_model("vgg"), make_input(4)
    expected_box = nbs.ReceptiveFields(model, x[:1]).box("features.5", 1, 2)
    index = PatchIndex.build(model, x, k=2, layers=["features.5"])
    expected = top_patches(model, x, index, "features.5", 1)
    with torch.no_grad():
        box = nbs.ReceptiveFields(model, x[:1]).box("features.5", 1, 2)
        patches = top_patches(model, x, index, "features.5", 1)
        assert not torch.is_grad_enabled()
    assert box == expected_box
    for got, want in zip(patches, expected, strict=True):
        assert got.box == want.box
        torch.testing.assert_close(got.projection, want.projection, rtol=0, atol=0)


@pytest.mark.parametrize("call", ["attribute", "session", "session_made_outside", "receptive_field"])
def test_inference_mode_is_refused_with_a_message_that_says_why_and_the_model_is_unchanged(call):
    model, x = make_model("vgg"), make_input(2)
    session = nbs.Session(model, x)
    snapshot = ModelSnapshot.of(model)
    calls = {
        "attribute": lambda: nbs.attribute(model, x, 3),
        "session": lambda: nbs.Session(model, x),
        "session_made_outside": lambda: session.attribute(3, "smoothgrad", n_samples=2),
        "receptive_field": lambda: nbs.ReceptiveFields(model, x[:1]).box("features.5", 0, 0),
    }
    with torch.inference_mode(), pytest.raises(InferenceModeError, match=r"inference_mode\(\).*no_grad"):
        calls[call]()
    assert torch.is_grad_enabled() and not torch.is_inference_mode_enabled()
    snapshot.assert_unchanged(model)
