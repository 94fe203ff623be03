"""Lesions and t-SNE codes read the layer's layout: channels are the last axis of a Swin block's (N, H, W, C)
output and of a ViT block's tokens, checked against lesions and pooling done by hand with a forward hook."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import Tensor, nn

import nbsaliency as nbs
from tests.architectures import image_batch, make
from tests.invariance import ModelSnapshot


@pytest.fixture(scope="module")
def swin():
    return make("swin")


@pytest.fixture(scope="module")
def vit():
    return make("vit")


@pytest.fixture(scope="module")
def x():
    return image_batch(2)


def by_hand(model: nn.Module, x: Tensor, layer: str, edit: Callable[[Tensor], Tensor]) -> Tensor:
    """``model(x)`` with ``layer``'s output replaced by ``edit(output)`` (a plain forward hook)."""
    handle = dict(model.named_modules())[layer].register_forward_hook(lambda m, a, out: edit(out))
    try:
        with torch.no_grad():
            return model(x)
    finally:
        handle.remove()


def zero_last(channels: list[int]) -> Callable[[Tensor], Tensor]:
    def edit(output: Tensor) -> Tensor:
        output = output.clone()
        output[..., channels] = 0
        return output

    return edit


def captured(model: nn.Module, x: Tensor, layer: str) -> Tensor:
    seen = []
    by_hand(model, x, layer, lambda out: seen.append(out))
    return seen[0]


def test_lesion_of_a_swin_block_zeroes_its_last_axis_channels(swin, x):
    snapshot = ModelSnapshot.of(swin)
    effect = nbs.lesion(swin, "features.1", [3, 7]).effect(x)
    torch.testing.assert_close(effect.lesioned, by_hand(swin, x, "features.1", zero_last([3, 7])))
    torch.testing.assert_close(effect.clean, by_hand(swin, x, "features.1", lambda out: out))
    snapshot.assert_unchanged(swin)


def test_lesion_as_a_context_manager_reads_the_swin_layout_on_the_first_pass(swin, x):
    lesion = nbs.lesion(swin, "features.1", 5)
    with torch.no_grad(), lesion:
        lesioned = swin(x)
    assert lesion.channel_axis == -1
    torch.testing.assert_close(lesioned, by_hand(swin, x, "features.1", zero_last([5])))


def test_lesion_with_an_explicit_channel_axis_is_honoured(swin, x):
    def zero_row(output: Tensor) -> Tensor:
        output = output.clone()
        output[:, 2] = 0
        return output

    effect = nbs.lesion(swin, "features.1", 2, channel_axis=1).effect(x)
    torch.testing.assert_close(effect.lesioned, by_hand(swin, x, "features.1", zero_row))


def test_lesion_sweep_of_a_vit_block_removes_each_feature_from_every_token(vit, x):
    sweep = nbs.lesion_sweep(vit, x, "blocks.0", target=2, channels=[0, 5, 31], replicate="input")
    clean = by_hand(vit, x, "blocks.0", lambda out: out)[:, 2]
    torch.testing.assert_close(sweep.clean, clean)
    for row, channel in enumerate([0, 5, 31]):
        torch.testing.assert_close(sweep.lesioned[row], by_hand(vit, x, "blocks.0", zero_last([channel]))[:, 2])
    with pytest.raises(nbs.TargetIndexError, match="32 channels"):
        nbs.lesion_sweep(vit, x, "blocks.0", target=2, channels=[32])


def test_lesion_sweep_of_a_swin_block_counts_the_last_axis_channels(swin, x):
    sweep = nbs.lesion_sweep(swin, x, "features.3", target=1)
    assert sweep.channels.tolist() == list(range(32))  # 2 * dim; the rows would be 28
    torch.testing.assert_close(sweep.lesioned[4], by_hand(swin, x, "features.3", zero_last([4]))[:, 1])


def test_lesion_curve_of_a_swin_block_removes_last_axis_channels_together(swin, x):
    curve = nbs.lesion_curve(swin, x, "features.1", [6, 1, 9], target=0, ks=[0, 2, 3])
    for row, k in enumerate([0, 2, 3]):
        expected = by_hand(swin, x, "features.1", zero_last([6, 1, 9][:k]))[:, 0]
        torch.testing.assert_close(curve.values[row], expected)


def test_layer_codes_of_a_swin_block_pool_over_its_grid(swin, x):
    activation = captured(swin, x, "features.1")  # (N, 56, 56, C)
    torch.testing.assert_close(nbs.layer_codes(swin, x, "features.1"), activation.mean(dim=(1, 2)))
    torch.testing.assert_close(nbs.layer_codes(swin, x, "features.1", pool="max"), activation.amax(dim=(1, 2)))


def test_layer_codes_of_a_vit_block_pool_over_the_patch_tokens_only(vit, x):
    activation = captured(vit, x, "blocks.1")  # (N, 1 + 196, D)
    codes = nbs.layer_codes(vit, x, "blocks.1", batch_size=1)
    torch.testing.assert_close(codes, activation[:, 1:].mean(dim=1))
    explicit = nbs.layer_codes(vit, x, "blocks.1", channel_axis=-1)
    torch.testing.assert_close(explicit, activation.mean(dim=1))


def test_layer_codes_of_a_convolution_and_a_flat_layer_are_unchanged(vit, x):
    conv = captured(vit, x, "patch_embed.proj")
    torch.testing.assert_close(nbs.layer_codes(vit, x, "patch_embed.proj"), conv.mean(dim=(2, 3)))
    torch.testing.assert_close(nbs.layer_codes(vit, x, "head"), captured(vit, x, "head"))


def test_tsne_codes_read_the_swin_layout(swin):
    pytest.importorskip("sklearn")
    images = image_batch(4, seed=3)
    embedding = nbs.tsne(swin, images, "features.1", perplexity=2.0, max_iter=250)
    torch.testing.assert_close(embedding.codes, captured(swin, images, "features.1").mean(dim=(1, 2)))
