"""What the patch index and top_patches say when they are used wrongly, and PatchIndex.merge taking a list."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import nbsaliency as nbs
from nbsaliency.patches import IndexMismatchError, LayerNotIndexedError, ProjectionMethodError
from tests.models import make_input, make_model


@pytest.fixture(scope="module")
def built():
    model = make_model("vgg")
    images = make_input(6, seed=3)
    return model, images, nbs.PatchIndex.build(model, images, k=2, progress=False)


def test_patch_index_build_in_inference_mode_raises_the_engines_inference_mode_error(built):
    model, images, _ = built
    with torch.inference_mode(), pytest.raises(nbs.InferenceModeError, match="patch index.*inference_mode"):
        nbs.PatchIndex.build(model, images, k=2, progress=False)


def test_load_or_build_in_inference_mode_raises_the_engines_inference_mode_error(built, tmp_path):
    model, images, _ = built
    with torch.inference_mode(), pytest.raises(nbs.InferenceModeError, match="patch index"):
        nbs.PatchIndex.load_or_build(tmp_path / "index.npz", model, images, k=2, progress=False)
    assert not (tmp_path / "index.npz").exists()


def test_top_patches_of_a_layer_that_ran_but_is_not_indexed_says_so(built):
    model, images, index = built
    assert "classifier" not in index.layers
    with pytest.raises(LayerNotIndexedError, match="'classifier' is in the model but not in the patch index") as info:
        nbs.top_patches(model, images, index, "classifier", 0)
    assert isinstance(info.value, nbs.UnknownLayerError)
    assert "flat output" in str(info.value) and "features.0" in str(info.value)


def test_top_patches_of_a_layer_the_model_lacks_is_still_an_unknown_layer(built):
    model, images, index = built
    with pytest.raises(nbs.UnknownLayerError, match="unknown layer 'featurs.0'.*'features.0'"):
        nbs.top_patches(model, images, index, "featurs.0", 0)


def test_top_patches_with_an_unknown_method_names_close_matches(built):
    model, images, index = built
    with pytest.raises(nbs.UnknownMethodError, match="unknown method 'deconvnett'.*'deconvnet'"):
        nbs.top_patches(model, images, index, "features.0", 0, method="deconvnett")


def test_top_patches_with_a_known_method_that_cannot_project_keeps_projection_method_error(built):
    model, images, index = built
    with pytest.raises(ProjectionMethodError, match="'occlusion' cannot project"):
        nbs.top_patches(model, images, index, "features.0", 0, method="occlusion")


def test_top_patches_on_a_shorter_dataset_says_the_index_was_built_on_another(built):
    model, images, index = built
    with pytest.raises(IndexMismatchError, match=r"built on another dataset.*images 0\.\.5.*has 3; pass the dataset"):
        nbs.top_patches(model, images[:3], index, "features.0", 0)


def test_patch_index_merge_accepts_a_list_of_shards(built):
    model, images, whole = built
    a = nbs.PatchIndex.build(model, images[:4], k=2, progress=False)
    b = nbs.PatchIndex.build(model, images[4:], k=2, offset=4, progress=False)
    for merged in (nbs.PatchIndex.merge([a, b]), nbs.PatchIndex.merge((b, a)), nbs.PatchIndex.merge(a, b)):
        assert merged.n_images == 6 and merged.layers == whole.layers
        for layer in whole.layers:
            for field_whole, field_merged in zip(whole.tops(layer), merged.tops(layer), strict=True):
                np.testing.assert_array_equal(field_whole, field_merged)
    with pytest.raises(TypeError, match="PatchIndex shards.*got a str"):
        nbs.PatchIndex.merge([a, "b"])


def test_top_patches_on_another_dataset_of_the_same_length_says_so(built):
    model, images, index = built
    others = make_input(6, seed=11)
    wording = (r"does not fit this dataset or model: 'features.0' channel 1 at \(\d+, \d+\) of image \d+ is .* "
               r"but was .* when the index was built")
    with pytest.raises(IndexMismatchError, match=wording):
        nbs.top_patches(model, others, index, "features.0", 1)
    assert len(nbs.top_patches(model, images, index, "features.0", 1)) == 2  # the right dataset still works


def test_top_patches_after_the_weights_changed_says_so(built):
    model, images, index = built
    changed = make_model("vgg")
    changed.load_state_dict(model.state_dict())
    with torch.no_grad():
        changed.features[0].weight.mul_(1.5)
    with pytest.raises(IndexMismatchError, match="pass the dataset and the weights the index was built with"):
        nbs.top_patches(changed, images, index, "features.0", 1)


def test_top_patches_with_a_model_in_training_mode_is_not_checked(built):
    model, images, index = built
    model.train()
    try:
        others = make_input(6, seed=11)
        assert len(nbs.top_patches(model, others, index, "features.0", 1)) == 2
    finally:
        model.eval()
