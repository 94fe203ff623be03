"""The layer catalogue the Explorer's picker shows: which layers are primary (offered first), and activation
maps of token blocks on their token grid."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nbsaliency.explorer.backend import ExplorerBackend, Selection
from nbsaliency.explorer.layers import layer_infos, map_shape
from nbsaliency.layouts import LayoutError
from tests.architectures import GRID, image_batch, make


@pytest.fixture(scope="module")
def resnet_backend() -> ExplorerBackend:
    return ExplorerBackend(make("resnet"), image_batch(1))


def test_resnet_sized_model_has_resnet50s_layer_count_and_channels(resnet_backend):
    shapes = {name: shape for name, shape, _ in resnet_backend.layers}
    assert 170 <= len(shapes) <= 230
    assert list(shapes["layer4.2"]) == [2048, 7, 7] and list(shapes["layer4.2.relu#3"]) == [2048, 7, 7]


def test_primary_layers_are_convolutions_blocks_and_the_last_layer(resnet_backend):
    model = resnet_backend.model
    maps = resnet_backend.session(0).activation_maps
    infos = layer_infos(model, resnet_backend.layers, lambda name: maps(name).shape)
    assert [i["name"] for i in infos] == [name for name, _, _ in resnet_backend.layers]
    modules = dict(model.named_modules())
    for info in infos:
        module = modules[info["name"].split("#")[0]]
        expected = (isinstance(module, torch.nn.Conv2d) or type(module).__name__ == "Bottleneck"
                    or info["name"] == "fc")
        assert info["primary"] == expected, info
    primary = [i["name"] for i in infos if i["primary"]]
    assert "layer4.2" in primary and "layer1.0.downsample.0" in primary
    assert not {"layer4", "layer4.2.bn3", "layer4.2.relu#3", "maxpool"} & set(primary)
    assert len(primary) < len(infos) / 2  # the picker's first view is short


def test_a_layer_whose_layout_cannot_be_detected_keeps_its_output_shape_as_maps():
    def undetectable(name):
        raise LayoutError(f"cannot tell {name}'s layout; pass layouts={{...}}")

    assert map_shape(undetectable, "x", (5, 7)) == [5, 7]
    assert map_shape(lambda name: (1, 7, 2, 3), "x", (2, 3, 7)) == [7, 2, 3]


def test_token_blocks_are_primary_and_their_activation_maps_are_on_the_token_grid():
    model = make("vit")
    backend = ExplorerBackend(model, image_batch(1))
    maps = backend.session(0).activation_maps
    infos = {i["name"]: i for i in layer_infos(model, backend.layers, lambda name: maps(name).shape)}
    assert infos["blocks.1"]["primary"] and infos["patch_embed.proj"]["primary"] and infos["head"]["primary"]
    assert not infos["blocks.1.norm1"]["primary"] and not infos["blocks"]["primary"]
    # what "channel" and "position" mean there: features on the token grid, beside the output's own shape
    assert infos["blocks.1"]["shape"] == [1 + GRID * GRID, 32] and infos["blocks.1"]["maps"] == [32, GRID, GRID]
    assert infos["head"]["maps"] == [10] and infos["patch_embed.proj"]["maps"] == [32, GRID, GRID]

    result = backend.compute(Selection(layer="blocks.1", target="channel", channel=3))
    assert result.activations.shape == (32, GRID, GRID)
    tokens = backend.session(0).activations("blocks.1")[0]  # (1 + 196, 32): class token first, row-major grid
    expected = tokens[1:].T.reshape(32, GRID, GRID).detach().numpy()
    np.testing.assert_array_equal(result.activations, expected)
