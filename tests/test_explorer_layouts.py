"""The Explorer's backend reads layer layouts: a ViT's token blocks are maps on the patch grid (default layer,
activation maps, the strongest neuron), checked against a hand reshape of the raw tokens."""

from __future__ import annotations

import torch

from nbsaliency.explorer.backend import ExplorerBackend, Selection
from tests.architectures import image_batch, make


def test_a_vit_token_block_is_the_default_layer_and_its_maps_and_neurons_are_on_the_patch_grid():
    backend = ExplorerBackend(make("vit"), image_batch(2))
    layer = backend.default_selection().layer
    tokens = backend.session(0).activations(layer)[0]  # (1 + 14*14, D): class token first
    assert tokens.dim() == 2 and tokens.shape[0] == 1 + 14 * 14
    grid = tokens[1:].T.reshape(tokens.shape[1], 14, 14)  # by hand: features over the 14 x 14 grid
    result = backend.compute(Selection(layer=layer, target="neuron", channel=3, method="gradient"))
    assert torch.equal(torch.from_numpy(result.activations), grid)
    assert list(result.selection.position) == list(divmod(int(grid[3].argmax()), 14))


def test_gradcam_at_a_vit_layer_whose_grid_the_class_token_never_sees_takes_the_default_layer_and_says_why():
    backend = ExplorerBackend(make("vit"), image_batch(1))
    session = backend.session(0)
    for layer in ("norm", "blocks.1"):  # after the last attention: the head reads the class token alone
        result = backend.compute(Selection(layer=layer, method="gradcam", target="logit", target_class=2))
        assert result.method_layer == "blocks.1.norm1"
        expected = session.attribute(2, "gradcam", layer="blocks.1.norm1")
        torch.testing.assert_close(torch.from_numpy(result.attribution), expected[0])
        assert bool(expected.any())
        assert any(f"not {layer}: the target does not depend on {layer}'s grid positions" in n for n in result.notes)
    kept = backend.compute(Selection(layer="blocks.0", method="gradcam", target="logit", target_class=2))
    assert kept.method_layer == "blocks.0" and not any("used layer" in n for n in kept.notes)
