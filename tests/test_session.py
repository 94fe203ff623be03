"""A session keeps one forward pass and answers many backward passes from it."""

from __future__ import annotations

import pytest
import torch

import nbsaliency as nbs
from tests.models import CountingVGG, make_input, make_model


def test_switching_method_layer_and_neuron_runs_no_new_forward_pass():
    model = CountingVGG()
    session = nbs.Session(model, make_input(1))
    assert model.forward_calls == 1
    for method in ("gradient", "deconvnet", "guided", "input_x_gradient", "gradcam", "guided_gradcam"):
        for target in (None, 3, nbs.Channel("inner.features.5", 2), nbs.Neuron("inner.features.3", 1, 4, 5)):
            session.attribute(target, method)
    assert model.forward_calls == 1
    assert all(nbs.method_info(m).reuses_forward for m in ("gradient", "deconvnet", "guided", "gradcam"))


def test_layers_are_listed_in_forward_order_with_shapes():
    session = nbs.Session(make_model("vgg"), make_input(2))
    names = [layer.name for layer in session.layers]
    assert names[:4] == ["features.0", "features.1", "features.2", "features.3"]
    assert names.index("features") > names.index("features.7")  # a container after its children
    assert dict(session.layers)["features.5"] == (2, 16, 8, 8)
    assert dict(session.layers)["classifier.3"] == (2, 5)
    assert session.layers == nbs.layers(make_model("vgg"), make_input(2))


def test_a_reused_module_is_listed_once_per_call():
    session = nbs.Session(make_model("resnet"), make_input(1))
    names = [layer.name for layer in session.layers]
    assert "layer1.0.relu" in names and "layer1.0.relu#2" in names


def test_captured_activations_are_not_changed_by_later_inplace_operations():
    model = make_model("resnet")
    x = make_input(1)
    session = nbs.Session(model, x)
    block = model.layer1[0]
    with torch.no_grad():
        stem = model.stem(x)
        bn1 = block.bn1(block.conv1(stem))
        bn2 = block.bn2(block.conv2(bn1.clamp(min=0)))
    torch.testing.assert_close(session.activations("layer1.0.bn1"), bn1)  # before the in-place ReLU
    torch.testing.assert_close(session.activations("layer1.0.bn2"), bn2)  # before `out += identity`
    torch.testing.assert_close(session.activations("layer1.0.relu#2"), (bn2 + stem).clamp(min=0))
    assert session.activations("layer1.0.bn1").min() < 0


def test_gradient_of_an_earlier_layer_target_uses_that_layers_value():
    """A target on a layer the model later edits in place is differentiated at its own value."""
    model = make_model("resnet").double()
    x = make_input(1, 8).double()
    session = nbs.Session(model, x)
    target = nbs.Neuron("layer1.0.bn2", 3, 4, 4)
    block = model.layer1[0]

    def bn2_unit(inp):
        stem = model.stem(inp)
        return block.bn2(block.conv2(block.relu(block.bn1(block.conv1(stem)))))[0, 3, 4, 4]

    expected = torch.autograd.functional.jacobian(bn2_unit, x)
    torch.testing.assert_close(session.attribute(target, "gradient"), expected)


def test_batched_targets_equal_single_calls():
    session = nbs.Session(make_model("vgg"), make_input(1))
    targets = [nbs.Logit(c) for c in range(3)] + [nbs.Channel("features.5", c) for c in range(3)]
    for method in ("gradient", "guided", "gradcam", "smoothgrad"):
        batched = session.attribute(targets, method)
        assert batched.shape == (6, 3, 16, 16)
        for i, target in enumerate(targets):
            torch.testing.assert_close(batched[i], session.attribute(target, method)[0])


def test_vectorised_backward_equals_one_pass_per_target():
    """Several targets run as one vectorised backward pass (is_grads_batched) with the same result."""
    from nbsaliency.rules.backward_rules import GUIDED

    session = nbs.Session(make_model("resnet"), make_input(2))
    targets = [nbs.Logit(1), nbs.Channel("layer1.1", 2), nbs.Neuron("layer1.0.conv2", 1, 3, 3)]
    vectorised = session.gradients(targets, GUIDED)
    for i, target in enumerate(targets):
        torch.testing.assert_close(vectorised[i], session.gradients([target], GUIDED)[0])


def test_each_image_of_a_batch_gets_its_own_class():
    model = make_model("vgg")
    x = make_input(3)
    classes = [4, 0, 2]
    batch = nbs.attribute(model, x, nbs.Logit(classes), method="guided")
    for i, c in enumerate(classes):
        torch.testing.assert_close(batch[i], nbs.attribute(model, x[i:i + 1], c, method="guided")[0])


def test_default_target_is_each_images_predicted_class():
    session = nbs.Session(make_model("vgg"), make_input(3))
    torch.testing.assert_close(session.attribute(None), session.attribute(nbs.Logit(session.predicted.tolist())))


def test_a_single_image_gives_maps_shaped_like_it():
    model, x = make_model("vgg"), make_input(1)[0]
    assert nbs.attribute(model, x).shape == x.shape
    assert nbs.Session(model, x).attribute([0, 1], "guided").shape == (2, *x.shape)


def test_channel_max_is_the_strongest_unit_alone():
    session = nbs.Session(make_model("vgg"), make_input(1))
    activation = session.activations("features.5")[0, 4]
    y, x = divmod(int(activation.argmax()), activation.shape[1])
    torch.testing.assert_close(session.attribute(nbs.Channel("features.5", 4)),
                               session.attribute(nbs.Neuron("features.5", 4, y, x)))


def test_channel_mean_and_layer_norm_values():
    session = nbs.Session(make_model("vgg"), make_input(2))
    activation = session.activations("features.5")
    torch.testing.assert_close(nbs.Channel("features.5", 1, reduce="mean").values(session.recording).detach(),
                               activation[:, 1].mean(dim=(1, 2)))
    torch.testing.assert_close(nbs.LayerEnergy("features.5").values(session.recording).detach(),
                               activation.pow(2).sum(dim=(1, 2, 3)))


def test_targets_compose_linearly_for_the_gradient():
    session = nbs.Session(make_model("vgg"), make_input(1))
    a, b = nbs.Logit(1), nbs.Channel("features.5", 2, reduce="mean")
    combined = session.attribute(2 * a - 0.5 * b, "gradient")
    expected = 2 * session.attribute(a, "gradient") - 0.5 * session.attribute(b, "gradient")
    torch.testing.assert_close(combined, expected)
    torch.testing.assert_close(session.attribute(sum([a, b]), "gradient"), session.attribute(a + b, "gradient"))
    with pytest.raises(TypeError):
        a + 3


def test_probability_target_differs_from_logit():
    session = nbs.Session(make_model("vgg"), make_input(1))
    assert not torch.allclose(session.attribute(nbs.Probability(1)), session.attribute(nbs.Logit(1)))
