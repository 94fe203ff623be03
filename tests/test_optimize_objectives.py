"""Objectives for optimisation: the engine's targets plus image terms, composing like lucent's."""

from __future__ import annotations

import pytest
import torch

import nbsaliency as nbs
from nbsaliency import demo
from nbsaliency.optimize import L1, L2, AlphaNorm, FeatureDistance, PerImage, TotalVariation, evaluate
from nbsaliency.optimize.inversion import layer_activation

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def model(demo_model):
    return demo_model


@pytest.fixture(scope="module")
def images():
    return demo.images(3, seed=5).images


def test_a_target_minus_a_scaled_image_term_equals_the_combination_of_their_values(model, images):
    a, b = nbs.Channel("block3.conv2", 5, reduce="mean"), L1(0.5)
    combined = evaluate(model, a - 0.5 * b, images)
    expected = evaluate(model, a, images) - 0.5 * evaluate(model, b, images)
    torch.testing.assert_close(combined, expected)
    assert combined.shape == (3,)


def test_lucent_style_expressions_compose_and_negate(model, images):
    objective = nbs.Channel("block3.conv2", 5) - 1e-2 * L1() + 2 * TotalVariation(beta=1) - L2(0.5) / 4
    value = evaluate(model, objective, images)
    parts = [evaluate(model, t, images) for t in (nbs.Channel("block3.conv2", 5), L1(), TotalVariation(1), L2(0.5))]
    torch.testing.assert_close(value, parts[0] - 1e-2 * parts[1] + 2 * parts[2] - parts[3] / 4)
    torch.testing.assert_close(evaluate(model, -nbs.Logit(2), images), -evaluate(model, nbs.Logit(2), images))
    assert objective.layers == ("block3.conv2",)


def test_per_image_objectives_give_image_i_the_value_of_target_i(model, images):
    targets = [nbs.Channel("block2.conv1", c, reduce="mean") for c in (0, 4, 9)]
    values = evaluate(model, PerImage(targets), images)
    expected = torch.stack([evaluate(model, t, images)[i] for i, t in enumerate(targets)])
    torch.testing.assert_close(values, expected)
    with pytest.raises(nbs.TargetError, match="one target per image"):
        evaluate(model, PerImage(targets[:2]), images)


def test_image_terms_have_their_closed_form_on_a_constant_image():
    x = torch.full((2, 3, 8, 8), 0.75)
    torch.testing.assert_close(L1(0.5).of_image(x), torch.full((2,), 0.25))
    torch.testing.assert_close(L2(0.5).of_image(x), torch.full((2,), 0.0625))
    torch.testing.assert_close(AlphaNorm(6, center=0.5, scale=0.5).of_image(x), torch.full((2,), 0.5**6))
    torch.testing.assert_close(TotalVariation(2).of_image(x), torch.zeros(2))


def test_total_variation_exponent_beta_one_prices_a_step_like_a_ramp_and_beta_two_prefers_the_ramp():
    step = torch.zeros(1, 1, 16, 32)
    step[..., 16:] = 1.0
    ramp = torch.linspace(0, 1, 10).repeat(1, 1, 16, 1)
    ramp = torch.cat([torch.zeros(1, 1, 16, 11), ramp, torch.ones(1, 1, 16, 11)], dim=-1)
    tv1, tv2 = TotalVariation(beta=1), TotalVariation(beta=2)
    torch.testing.assert_close(tv1.of_image(step), tv1.of_image(ramp), rtol=1e-3, atol=1e-4)
    assert tv2.of_image(step) > 5 * tv2.of_image(ramp)


def test_total_variation_with_small_beta_has_finite_gradients_on_flat_images():
    x = torch.full((1, 3, 8, 8), 0.5, requires_grad=True)
    TotalVariation(beta=0.5).of_image(x).sum().backward()
    assert torch.isfinite(x.grad).all()


def test_feature_distance_is_zero_at_the_reference_and_one_at_a_zero_activation(model, images):
    reference = layer_activation(model, images, "block2")
    distance = FeatureDistance("block2", reference)
    torch.testing.assert_close(evaluate(model, distance, images), torch.zeros(3), atol=1e-6, rtol=0)
    far = FeatureDistance("block2", reference * 0 + 1e-3)
    assert (evaluate(model, far, images) > 1).all()


def test_an_image_term_used_as_an_attribution_target_raises_a_clear_error(model, images):
    with pytest.raises(nbs.TargetError, match="optimised image"):
        nbs.Session(model, images[:1]).attribute(nbs.Logit(0) - L1(), "gradient")
