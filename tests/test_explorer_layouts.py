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
