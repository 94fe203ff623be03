"""Grad-CAM, receptive fields, the patch index and optimisation read layouts: on ViT token blocks, Swin
channels-last blocks and VGG layers edited by in-place ReLUs they equal computations done by hand on (N, C, H, W)."""

from __future__ import annotations

import contextlib
import warnings

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import nbsaliency as nbs
from nbsaliency.optimize import LayerCapture, OptimisationView
from nbsaliency.patches import PatchIndex, top_patches
from nbsaliency.receptive_field import NotSpatialError
from tests.architectures import GRID, IMAGE, PATCH, image_batch, make
from tests.invariance import ModelSnapshot


def to_nchw(kind: str, a: torch.Tensor) -> torch.Tensor:
    """By hand: what a user would write as pytorch-grad-cam's reshape_transform."""
    if kind == "tokens":
        return a[:, 1:].reshape(a.shape[0], GRID, GRID, a.shape[2]).permute(0, 3, 1, 2)
    if kind == "channels_last":
        return a.permute(0, 3, 1, 2)
    return a


def gradcam_by_hand(model: nn.Module, x: torch.Tensor, layer: str, cls: int, kind: str) -> torch.Tensor:
    """Selvaraju et al.'s Grad-CAM with a hook and plain autograd: (N, 1, H, W)."""
    captured = {}
    module = dict(model.named_modules())[layer]
    handle = module.register_forward_hook(lambda m, a, o: captured.__setitem__("a", o))
    try:
        out = model(x)
    finally:
        handle.remove()
    (grad,) = torch.autograd.grad(out[:, cls].sum(), captured["a"])
    maps, grads = to_nchw(kind, captured["a"].detach()), to_nchw(kind, grad)
    cam = (grads.mean(dim=(2, 3), keepdim=True) * maps).sum(dim=1, keepdim=True).clamp(min=0)
    return F.interpolate(cam, size=x.shape[2:], mode="bilinear", align_corners=False)


@pytest.fixture(scope="module")
def images():
    return image_batch(2)


@pytest.mark.parametrize("name, layer, kind", [
    ("vit", "blocks.1.norm1", "tokens"), ("vit", "blocks.0", "tokens"), ("vit", "patch_embed.proj", "channels_first"),
    ("swin", "features.1", "channels_last"), ("swin", "features.3.0.norm1", "channels_last"),
])
def test_gradcam_on_token_and_channels_last_blocks_equals_gradcam_by_hand_after_reshaping(name, layer, kind, images):
    model = make(name)
    snapshot = ModelSnapshot.of(model)
    session = nbs.Session(model, images)
    cam = session.attribute(3, "gradcam", layer=layer)
    expected = gradcam_by_hand(model, images, layer, 3, kind)
    assert expected.abs().max() > 0
    assert torch.allclose(cam[:, :1], expected, rtol=1e-4, atol=1e-7 * float(expected.abs().max()))
    assert session.last_cam_layers == [layer]
    snapshot.assert_unchanged(model)


def test_the_default_gradcam_layer_of_a_vit_is_the_last_block_not_the_patch_embedding(images):
    """The head reads the class token: after the last attention the grid tokens get no gradient, so the last
    layer whose grid the class depends on is the last block's first LayerNorm."""
    session = nbs.Session(make("vit"), images)
    cam = session.attribute(3, "gradcam")
    assert session.last_cam_layers == ["blocks.1.norm1"]
    assert torch.equal(cam, session.attribute(3, "gradcam", layer="blocks.1.norm1"))
    assert cam.abs().max() > 0


def test_the_default_gradcam_layer_of_a_cnn_is_still_its_last_spatial_layer(images):
    session = nbs.Session(make("vgg"), images[:, :, :64, :64])
    session.attribute(3, "gradcam")
    assert session.last_cam_layers == ["avgpool"]


@pytest.mark.parametrize("layer", ["features.0", "features.2", "features.5", "features.7", "features.10"])
def test_gradcam_at_a_vgg_conv_edited_by_an_in_place_relu_equals_gradcam_on_the_same_model_without_in_place(
        layer, images):
    x = images[:, :, :64, :64]
    model = make("vgg")
    reference = make("vgg", inplace=False)  # same seed: same weights
    snapshot = ModelSnapshot.of(model)
    session = nbs.Session(model, x)
    assert layer in session.recording.copied_on_write  # the next ReLU edits it in place
    cam = session.attribute(3, "gradcam", layer=layer)
    expected = gradcam_by_hand(reference, x, layer, 3, "channels_first")
    assert expected.abs().max() > 0
    assert torch.allclose(cam[:, :1], expected, rtol=1e-4, atol=1e-6 * float(expected.abs().max()))
    assert session.last_cam_layers == [layer]
    guided = session.attribute(3, "guided_gradcam", layer=layer)
    assert torch.allclose(guided, session.attribute(3, "guided") * cam, rtol=1e-5, atol=1e-12)
    snapshot.assert_unchanged(model)


# -- receptive fields ---------------------------------------------------------------------------------------------
def test_token_fields_before_attention_are_the_tokens_patches_on_the_grid():
    fields = nbs.ReceptiveFields(make("vit"), (3, IMAGE, IMAGE))
    assert fields.layer_shape("blocks.0.norm1") == (32, GRID, GRID)
    units = [(y, x) for y in range(GRID) for x in range(GRID)]
    expected = [nbs.Box(PATCH * y, PATCH * x, PATCH * y + PATCH, PATCH * x + PATCH) for y, x in units]
    assert fields.boxes("blocks.0.norm1", units) == expected
    geometry = fields.geometry("blocks.0.norm1")
    assert (geometry.y.stride, geometry.y.size, geometry.x.stride, geometry.x.size) == (PATCH, PATCH, PATCH, PATCH)


def test_token_fields_after_attention_are_the_whole_image():
    fields = nbs.ReceptiveFields(make("vit"), (3, IMAGE, IMAGE))
    assert fields.boxes("blocks.0", [(0, 0), (7, 3), (13, 13)]) == [nbs.Box(0, 0, IMAGE, IMAGE)] * 3


def test_channels_last_fields_follow_the_patches_and_the_attention_windows():
    fields = nbs.ReceptiveFields(make("swin"), (3, IMAGE, IMAGE))
    assert fields.box("features.0", 3, 5) == nbs.Box(12, 20, 16, 24)  # 4 x 4 patches
    # 7 x 7 windows of 4-px patches: unit (9, 20) is in window row 1, column 2
    assert fields.box("features.1.0.mlp", 9, 20) == nbs.Box(28, 56, 56, 84)
    assert fields.box("features.1.0.norm1", 9, 20) == nbs.Box(36, 80, 40, 84)


def test_a_flat_layer_has_no_field_and_the_error_says_why():
    fields = nbs.ReceptiveFields(make("vit"), (3, IMAGE, IMAGE))
    with pytest.raises(NotSpatialError, match="'head' has output shape .*flat"):
        fields.box("head", 0, 0)


# -- patch index ------------------------------------------------------------------------------------------------
def brute_force_top(maps: torch.Tensor, channel: int, k: int) -> list[tuple[float, int, int, int]]:
    """One unit per image: its strongest (first in row-major order), images ranked by value, then index."""
    flat = maps[:, channel].flatten(1)
    best, where = flat.max(dim=1)
    w = maps.shape[3]
    rows = [(float(best[i]), i, int(where[i]) // w, int(where[i]) % w) for i in range(maps.shape[0])]
    return sorted(rows, key=lambda r: (-r[0], r[1]))[:k]


@pytest.mark.parametrize("name, layers", [("vit", ["patch_embed.proj", "blocks.0.norm1", "blocks.1"]),
                                          ("swin", ["features.0", "features.2", "features.3"])])
def test_the_patch_index_covers_token_and_channels_last_layers_with_grid_units(name, layers):
    model, data = make(name), image_batch(5, seed=3)
    snapshot = ModelSnapshot.of(model)
    with pytest.warns(UserWarning, match="layout is not known") if name == "swin" else contextlib.nullcontext():
        index = PatchIndex.build(model, data, k=3, batch_size=2, progress=False)
    assert set(layers) <= set(index.layers)
    session = nbs.Session(model, data)
    for layer in layers:
        maps = session.activation_maps(layer)
        assert index.shape(layer) == tuple(maps.shape[1:])
        for channel in (0, 5):
            got = [(t.value, t.image, t.y, t.x) for t in index.top(layer, channel)]
            expected = brute_force_top(maps, channel, 3)
            assert [g[1:] for g in got] == [e[1:] for e in expected]
            assert torch.allclose(torch.tensor([g[0] for g in got]), torch.tensor([e[0] for e in expected]))
    snapshot.assert_unchanged(model)


def test_top_patches_of_a_token_layer_crop_the_tokens_patch_and_project_its_unit():
    model, data = make("vit"), image_batch(4, seed=3)
    index = PatchIndex.build(model, data, k=2, layers=["blocks.0.norm1"], progress=False)
    patches = top_patches(model, data, index, "blocks.0.norm1", 4, method="gradient")
    for patch in patches:
        assert patch.box == nbs.Box(PATCH * patch.y, PATCH * patch.x, PATCH * (patch.y + 1), PATCH * (patch.x + 1))
        expected = nbs.attribute(model, data[patch.image_index:patch.image_index + 1],
                                 nbs.Neuron("blocks.0.norm1", 4, patch.y, patch.x))[0]
        assert torch.allclose(patch.projection, patch.box.crop(expected), atol=1e-6)


# -- optimisation -----------------------------------------------------------------------------------------------
def test_optimisation_objectives_read_layouts_too():
    model, x = make("vit"), image_batch(1)
    snapshot = ModelSnapshot.of(model)
    with torch.no_grad(), LayerCapture(model, ["blocks.1"]) as capture:
        output = model(x)
        view = OptimisationView(output, x, capture.take())
    raw = view.activation("blocks.1")
    assert view.layout("blocks.1").kind == "tokens"
    assert torch.equal(nbs.Channel("blocks.1", 5).values(view), raw[:, 1:, 5].amax(dim=1))
    assert torch.equal(nbs.Neuron("blocks.1", 5, 2, 3).values(view), raw[:, 1 + 2 * GRID + 3, 5])
    snapshot.assert_unchanged(model)


def test_a_saved_index_is_rebuilt_when_the_layout_overrides_change(tmp_path):
    model, data = make("vit"), image_batch(2, seed=3)
    path = tmp_path / "index.npz"
    given = {"blocks.1": nbs.Layout.tokens(grid=(GRID, GRID), prefix=1)}
    first = PatchIndex.load_or_build(path, model, data, k=1, layers=["blocks.1"], progress=False, layouts=given)
    again = PatchIndex.load_or_build(path, model, data, k=1, layers=["blocks.1"], progress=False, layouts=given)
    assert again.fingerprint == first.fingerprint
    with pytest.warns(nbs.patches.IndexRebuildWarning, match="settings"):
        PatchIndex.load_or_build(path, model, data, k=1, layers=["blocks.1"], progress=False)


def test_layers_the_patch_index_leaves_out_are_named_in_a_warning_or_to_notify_and_in_the_explorers_panel():
    model, x = make("swin"), image_batch(2)
    with pytest.warns(UserWarning, match=r"leaves out layers whose layout is not known: features\.1\.0\.attn\.qkv"):
        PatchIndex.build(model, x, k=1, progress=False)
    said: list[str] = []
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # notify= instead of a warning that would surface in a later cell
        PatchIndex.build(model, x, k=1, progress=False, notify=said.append)
    assert len(said) == 1 and "features.1.0.attn.qkv" in said[0] and "layouts=" in said[0]
    explorer = nbs.Explorer(model, x)
    assert explorer._panels["patches"].jobs.wait(60)
    assert explorer.index_status == "ready" and "leaves out layers" in explorer.index_message
    explorer.close()
