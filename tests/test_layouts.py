"""Activation layouts: every consumer reads channels and positions the way the layer lays them out — ViT token
blocks (N, 1 + 14*14, D), Swin channels-last blocks (N, H, W, C), VGG channels-first maps — checked against direct
computations on the raw tensors."""

from __future__ import annotations

import contextlib

import pytest
import torch
from torch import nn

import nbsaliency as nbs
from nbsaliency.layouts import Layout, LayoutError
from tests.architectures import GRID, image_batch, make
from tests.invariance import ModelSnapshot


@pytest.fixture(scope="module")
def vit():
    return make("vit")


@pytest.fixture(scope="module")
def swin():
    return make("swin")


@pytest.fixture(scope="module")
def images():
    return image_batch(2)


@pytest.fixture(scope="module")
def vit_session(vit, images):
    return nbs.Session(vit, images)


@pytest.fixture(scope="module")
def swin_session(swin, images):
    return nbs.Session(swin, images)


def grid_tokens(a: torch.Tensor) -> torch.Tensor:
    """(N, 1 + 14*14, D) -> (N, D, 14, 14), by hand (what pytorch-grad-cam's reshape_transform does)."""
    return a[:, 1:].reshape(a.shape[0], GRID, GRID, a.shape[2]).permute(0, 3, 1, 2)


# -- detection ---------------------------------------------------------------------------------------------------
def test_vit_layers_are_detected_as_tokens_on_the_patch_grid_with_one_class_token(vit_session):
    assert vit_session.layout("patch_embed.proj").kind == "channels_first"
    for layer in ("blocks.0.norm1", "blocks.0.attn.qkv", "blocks.0.mlp.fc1", "blocks.1", "norm"):
        layout = vit_session.layout(layer)
        assert (layout.kind, layout.grid, layout.prefix) == ("tokens", (GRID, GRID), 1), layer
    assert vit_session.layout("head").kind == "flat"


def test_swin_blocks_are_channels_last_and_the_final_permute_is_channels_first(swin_session):
    assert swin_session.layout("features.0.0").kind == "channels_first"  # the patch-embedding conv
    for layer in ("features.0.1", "features.0", "features.1.0.norm1", "features.1", "features.2", "features.3", "norm"):
        assert swin_session.layout(layer).kind == "channels_last", layer
    assert swin_session.layout("permute").kind == "channels_first"
    assert "permuted" in swin_session.layout("permute").source


def test_window_tensors_inside_swin_attention_have_no_layout_and_say_so(swin_session):
    with pytest.raises(LayoutError, match="features on the last axis"):
        swin_session.layout("features.1.0.attn.qkv")


def test_vgg_layers_are_channels_first_by_module_type_and_shape():
    session = nbs.Session(make("vgg"), image_batch(1, size=32))
    assert all(session.layout(name).kind == "channels_first" for name, shape in session.layers if len(shape) == 4)


class UnknownBlocks(nn.Module):
    """A channels-last model with a 4-d block of new shape from a module with no evidence, and a sequence model
    with no patch grid: nothing tells their layouts."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Linear(3, 8)
        self.mystery = nn.Identity()
        self.tokens = nn.Identity()
        self.head = nn.Linear(8, 3)

    def forward(self, x):
        h = self.embed(x.permute(0, 2, 3, 1))  # (N, H, W, 8): channels-last by module type
        m = self.mystery(h[:, :, :4].reshape(x.shape[0], 4, x.shape[2], 8))  # 4-d, a new shape
        seq = self.tokens(torch.cat([h.flatten(1, 2), h.flatten(1, 2)], dim=1))  # (N, 2*H*W, 8): no grid
        return self.head(seq.mean(1) + m.mean((1, 2)))


def test_an_ambiguous_layout_raises_with_the_override_and_the_override_is_used():
    model, x = UnknownBlocks().eval(), torch.randn(2, 3, 6, 6)
    session = nbs.Session(model, x)
    with pytest.raises(LayoutError, match=r'layouts=\{"mystery": "channels_last"\}'):
        session.attribute(nbs.Channel("mystery", 1))
    with pytest.raises(LayoutError, match=r'layouts=\{"tokens": "tokens"\}'):
        session.layout("tokens")
    given = nbs.Session(model, x, layouts={"mystery": "nchw", "tokens": Layout.tokens(grid=(6, 12), prefix=0)})
    assert given.layout("mystery").kind == "channels_first" and given.layout("mystery").source == "given by the user"
    mystery, tokens = given.activations("mystery"), given.activations("tokens")
    values = nbs.Channel("mystery", 1).values(given.recording)
    assert torch.equal(values, mystery[:, 1].flatten(1).amax(1))
    neuron = nbs.Neuron("tokens", 5, 2, 7).values(given.recording)  # token 2 * 12 + 7 of the 6 x 12 grid
    assert torch.equal(neuron, tokens[:, 2 * 12 + 7, 5])


def test_an_override_that_does_not_fit_the_shape_or_names_no_layer_is_refused():
    model, x = UnknownBlocks().eval(), torch.randn(2, 3, 6, 6)
    with pytest.raises(LayoutError, match="72 tokens, which is not prefix 1 \\+ a 5 x 5 grid"):
        nbs.Session(model, x, layouts={"tokens": Layout.tokens(grid=(5, 5), prefix=1)}).layout("tokens")
    with pytest.raises(LayoutError, match="cannot be tokens"):
        nbs.Session(model, x, layouts={"mystery": "tokens"}).layout("mystery")
    with pytest.raises(nbs.UnknownLayerError, match="mystery"):
        nbs.Session(model, x, layouts={"mystry": "tokens"})
    with pytest.raises(LayoutError, match="one of 'channels_first'"):
        nbs.Session(model, x, layouts={"mystery": "rows"})


def test_a_tokens_override_without_a_grid_finds_the_square_after_the_prefix():
    layout = Layout("tokens").fitted("enc", (1, 197, 768))
    assert (layout.grid, layout.prefix) == ((14, 14), 1)
    layout = Layout.tokens(prefix=5).fitted("enc", (1, 201, 768))  # class + 4 register tokens
    assert (layout.grid, layout.prefix) == ((14, 14), 5)


# -- targets -----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("reduce", ["max", "mean"])
def test_channel_of_a_token_block_is_the_feature_over_the_grid_tokens(vit_session, reduce):
    raw = vit_session.activations("blocks.1")
    grid = raw[:, 1:, 5]  # feature 5 of the 196 grid tokens (class token left out)
    expected = grid.amax(dim=1) if reduce == "max" else grid.mean(dim=1)
    assert torch.allclose(nbs.Channel("blocks.1", 5, reduce).values(vit_session.recording), expected)


@pytest.mark.parametrize("reduce", ["max", "mean"])
def test_channel_of_a_channels_last_block_is_the_last_axis_over_all_positions(swin_session, reduce):
    raw = swin_session.activations("features.1")  # (N, 56, 56, 16)
    expected = raw[..., 5].amax(dim=(1, 2)) if reduce == "max" else raw[..., 5].mean(dim=(1, 2))
    values = nbs.Channel("features.1", 5, reduce).values(swin_session.recording)
    assert torch.allclose(values, expected)
    assert not torch.allclose(values, raw[:, 5].flatten(1).amax(1) if reduce == "max" else raw[:, 5].mean((1, 2)))


def test_neuron_is_the_grid_position_in_every_layout(vit_session, swin_session):
    tokens = vit_session.activations("blocks.0")
    assert torch.equal(nbs.Neuron("blocks.0", 7, 3, 11).values(vit_session.recording), tokens[:, 1 + 3 * GRID + 11, 7])
    maps = swin_session.activations("features.2")  # (N, 28, 28, 32)
    assert torch.equal(nbs.Neuron("features.2", 20, 27, 3).values(swin_session.recording), maps[:, 27, 3, 20])


def test_range_errors_speak_of_channels_and_the_grid(vit_session, swin_session):
    with pytest.raises(nbs.TargetIndexError, match=r"channel 32 is out of range .* 32 channels \(valid 0\.\.31\).*"
                                                   r"tokens \(N, 1 \+ 14x14, 32\)"):
        vit_session.attribute(nbs.Channel("blocks.0", 32))
    with pytest.raises(nbs.TargetIndexError, match=r"y index 14 is out of range .* \(32, 14, 14\)"):
        vit_session.attribute(nbs.Neuron("blocks.0", 0, 14, 0))
    with pytest.raises(nbs.TargetIndexError, match="channel 16 is out of range .* 16 channels"):
        swin_session.attribute(nbs.Channel("features.1", 16))


def test_activation_maps_are_channels_first_on_the_grid(vit_session, swin_session):
    assert torch.equal(vit_session.activation_maps("blocks.1"), grid_tokens(vit_session.activations("blocks.1")))
    raw = swin_session.activations("features.3")
    assert torch.equal(swin_session.activation_maps("features.3"), raw.permute(0, 3, 1, 2))
    assert vit_session.activation_maps("head").shape == (2, 10)


def test_gradients_of_token_and_channels_last_targets_equal_plain_autograd(vit, swin, images):
    """The target picks the right unit for the backward pass too, not only for its value."""
    for model, layer, pick in ((vit, "blocks.0.norm2", lambda a: a[:, 1 + 2 * GRID + 9, 4]),
                               (swin, "features.2", lambda a: a[:, 5, 6, 4])):
        x = images[:1].clone().requires_grad_(True)
        captured = {}
        module = dict(model.named_modules())[layer]
        handle = module.register_forward_hook(lambda m, a, o, captured=captured: captured.__setitem__("a", o))
        try:
            model(x)
        finally:
            handle.remove()
        (expected,) = torch.autograd.grad(pick(captured["a"]).sum(), x)
        ys, xs = (2, 9) if model is vit else (5, 6)
        got = nbs.attribute(model, images[:1], nbs.Neuron(layer, 4, ys, xs))
        assert torch.allclose(got, expected, atol=1e-6)


def test_layouts_leave_the_model_unchanged(vit, swin, images):
    for model in (vit, swin):
        snapshot = ModelSnapshot.of(model)
        session = nbs.Session(model, images)
        session.attribute(3, "gradcam")
        for name, _ in session.layers:
            with contextlib.suppress(LayoutError):
                session.layout(name)
        snapshot.assert_unchanged(model)


@pytest.mark.parametrize("method", ["occlusion", "smoothgrad", "integrated_gradients"])
def test_perturbation_methods_read_token_channels_like_the_session(vit, images, method):
    """The extra forward passes of perturbation methods use the session's layouts (also when a pass records only
    the layers a target needs, with no evidence from the layers before them)."""
    x = images[:1]
    session = nbs.Session(vit, x)
    assert session.record(images, rules=False).layouts is session.recording.layouts
    target = nbs.Channel("blocks.1", 5, "mean")
    options = {"window": 56, "stride": 56} if method == "occlusion" else {"n_samples": 2} if method == "smoothgrad" \
        else {"steps": 2}
    result = session.attribute(target, method, **options)[0]
    assert result.shape == x.shape[1:] and torch.isfinite(result).all() and result.abs().max() > 0
    if method == "integrated_gradients":  # 2 steps of the plain gradient along the straight path, by hand
        xx = torch.stack([x[0] * 0.25, x[0] * 0.75]).requires_grad_(True)
        captured = {}
        handle = vit.blocks[1].register_forward_hook(lambda m, a, o: captured.__setitem__("a", o))
        try:
            vit(xx)
        finally:
            handle.remove()
        (grad,) = torch.autograd.grad(captured["a"][:, 1:, 5].mean(dim=1).sum(), xx)
        assert torch.allclose(result, x[0] * grad.mean(dim=0), atol=1e-5)


class Flattening(nn.Module):
    """A CNN that flattens its 4 x 4 map of C channels to (N, C, 16) inside a module."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(3, channels, 3, stride=4, padding=1)
        self.flat = nn.Flatten(2)
        self.norm = nn.LayerNorm(16)

    def forward(self, x):
        return self.norm(self.flat(self.conv(x))).mean(dim=2)


def test_a_flattened_map_is_not_mistaken_for_tokens():
    session = nbs.Session(Flattening(6).eval(), torch.randn(1, 3, 16, 16))  # (N, 6, 16): 6 channels, 16 positions
    assert session.layout("flat").kind == "channels_first" and "flattened" in session.layout("flat").source
    square = nbs.Session(Flattening(16).eval(), torch.randn(1, 3, 16, 16))  # (N, 16, 16): tokens or flattened?
    with pytest.raises(LayoutError, match=r"4x4 tokens of 16 features or 'conv' flattened"):
        square.layout("flat")
    with pytest.raises(LayoutError, match="the shape .* of layer 'flat', whose layout is unknown"):
        square.layout("norm")  # what follows an ambiguous layer with its shape is ambiguous too
    given = nbs.Session(Flattening(16).eval(), torch.randn(1, 3, 16, 16), layouts={"flat": "channels_first"})
    assert given.layout("norm").kind == "channels_first"  # the override carries to the same-shaped layer after it
