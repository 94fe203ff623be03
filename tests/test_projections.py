"""Projections of top units (Zeiler & Fergus 2014, Fig. 2): one batched pass equals the single-unit
attributions, each projection lives inside its unit's receptive field, and patches are the field's crops."""

from __future__ import annotations

import pytest
import torch

import nbsaliency as nbs
from nbsaliency import demo
from nbsaliency.patches import PatchIndex, ProjectionMethodError, Units, project_units, top_patches
from tests.invariance import ModelSnapshot
from tests.models import make_input, make_model


@pytest.fixture(scope="module")
def demo_data(demo_model, one_torch_thread):
    images = demo.images(120, seed=777).images
    return images, PatchIndex.build(demo_model, images, progress=False)


@pytest.mark.parametrize("method", ["gradient", "deconvnet", "guided", "input_x_gradient"])
def test_one_batched_pass_equals_nine_single_unit_attributions(demo_model, demo_data, method):
    images, index = demo_data
    layer, channel = "block2.conv2", 7
    tops = index.top(layer, channel)
    batch = torch.stack([images[t.image] for t in tops])
    batched = project_units(demo_model, batch, layer, channel, [t.y for t in tops], [t.x for t in tops], method)
    for i, t in enumerate(tops):
        single = nbs.attribute(demo_model, batch[i:i + 1], nbs.Neuron(layer, channel, t.y, t.x), method)
        torch.testing.assert_close(batched[i:i + 1], single, rtol=1e-5, atol=1e-6)


def test_patches_are_receptive_field_crops_and_projections_stay_inside_them(demo_model, demo_data):
    images, index = demo_data
    snapshot = ModelSnapshot.of(demo_model)
    layer, channel = "block3.conv1", 11
    fields = nbs.ReceptiveFields(demo_model, images[:1])
    patches = top_patches(demo_model, images, index, layer, channel, "deconvnet", receptive_fields=fields)
    assert [(p.value, p.image_index, p.y, p.x) for p in patches] == [tuple(t) for t in index.top(layer, channel)]
    for p in patches:
        assert p.box == fields.box(layer, p.y, p.x)
        assert torch.equal(p.image, p.box.crop(images[p.image_index]))
        assert torch.equal(p.whole_image, images[p.image_index])
        full = nbs.attribute(demo_model, images[p.image_index][None], nbs.Neuron(layer, channel, p.y, p.x),
                             "deconvnet")[0]
        torch.testing.assert_close(p.projection, p.box.crop(full), rtol=1e-5, atol=1e-6)
        outside = full.clone()
        outside[:, p.box.top:p.box.bottom, p.box.left:p.box.right] = 0
        assert outside.abs().max() == 0, "a unit's projection reached outside its receptive field"
        assert full.abs().max() > 0
    snapshot.assert_unchanged(demo_model)


def test_top_patches_probes_fields_itself_when_none_are_given(demo_model, demo_data):
    images, index = demo_data
    patches = top_patches(demo_model, images, index, "block1.pool", 2, "guided")
    assert len(patches) == 9
    assert all(p.image.shape == p.projection.shape == (3, p.box.height, p.box.width) for p in patches)


def test_methods_that_cannot_project_a_single_unit_are_refused_with_the_alternatives(demo_model, demo_data):
    images, index = demo_data
    with pytest.raises(ProjectionMethodError, match="gradcam.*gradient, deconvnet, guided, input_x_gradient"):
        top_patches(demo_model, images, index, "block1.pool", 2, "gradcam")


def test_units_target_checks_its_arguments():
    model = make_model("vgg")
    session = nbs.Session(model, make_input(2, 16))
    with pytest.raises(nbs.TargetError, match="one y and one x per image"):
        Units("features.0", 0, [1, 2], [1])
    with pytest.raises(nbs.TargetError, match="3 units for a batch of 2 images; give one per image"):
        session.attribute(Units("features.0", 0, [1, 2, 3], [1, 2, 3]), "gradient")
    with pytest.raises(nbs.TargetIndexError, match=r"channel 8 .*valid 0\.\.7"):
        session.attribute(Units("features.0", 8, [1, 2], [1, 2]), "gradient")
    with pytest.raises(nbs.TargetIndexError, match=r"y index 16 .*valid 0\.\.15"):
        session.attribute(Units("features.0", 0, [16, 2], [1, 2]), "gradient")
    with pytest.raises(nbs.TargetError, match=r"spatial"):
        session.attribute(Units("classifier.1", 0, [0, 0], [0, 0]), "gradient")


def test_a_method_registered_later_is_projectable(demo_model):
    """The projectable methods are read from the registry at call time, not frozen at import."""
    from nbsaliency.methods import registry
    from nbsaliency.rules.backward_rules import GUIDED

    @registry.register("guided_copy_for_test", label="Guided (copy)", citation="test", backward_rule=GUIDED)
    def guided_copy(session, targets):
        return session.gradients(targets, GUIDED)

    try:
        images = demo.images(2, seed=5).images
        projected = project_units(demo_model, images, "block2.conv2", 3, [4, 5], [6, 7], "guided_copy_for_test")
        expected = project_units(demo_model, images, "block2.conv2", 3, [4, 5], [6, 7], "guided")
        torch.testing.assert_close(projected, expected)
    finally:
        del registry._REGISTRY["guided_copy_for_test"]
    with pytest.raises(nbs.UnknownMethodError, match="guided_copy_for_test"):  # unregistered: unknown
        project_units(demo_model, images, "block2.conv2", 3, [4], [6], "guided_copy_for_test")
