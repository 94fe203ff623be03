"""Kernel grids: the tiles are the weights under the documented per-filter mapping, wrong layers get clear
errors, the model is only read."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import nbsaliency as nbs
from nbsaliency.errors import UnknownLayerError
from nbsaliency.plotting import NotebookFigure
from tests.invariance import ModelSnapshot


def test_first_layer_tiles_are_the_signed_weights_per_filter(demo_model):
    snapshot = ModelSnapshot.of(demo_model)
    grid = nbs.kernel_grid(demo_model)
    weight = demo_model.block1.conv1.weight.detach()
    assert grid.layer == "block1.conv1" and grid.rgb and grid.shape == (16, 3, 3, 3)
    for f in range(16):
        largest = weight[f].abs().max()
        torch.testing.assert_close(grid.tiles[f], 0.5 + weight[f] / (2 * largest))
        assert grid.scale[f] == largest
    snapshot.assert_unchanged(demo_model)


def test_minmax_stretches_each_filter_to_the_full_range(demo_model):
    grid = nbs.kernel_grid(demo_model, "block1.conv1", mapping="minmax")
    weight = demo_model.block1.conv1.weight.detach()
    for f in range(16):
        low, high = weight[f].min(), weight[f].max()
        torch.testing.assert_close(grid.tiles[f], (weight[f] - low) / (high - low))


def test_deeper_layers_give_one_tile_per_input_channel_normalised_per_filter(demo_model):
    grid = nbs.kernel_grid(demo_model, "block2.conv1")
    assert not grid.rgb and grid.shape == (32, 16, 3, 3)
    weight = demo_model.block2.conv1.weight.detach()
    torch.testing.assert_close(grid.tiles, 0.5 + weight / (2 * weight.abs().amax(dim=(1, 2, 3), keepdim=True)))
    assert torch.allclose((2 * grid.tiles - 1).abs().amax(dim=(1, 2, 3)), torch.ones(32))


def test_a_zero_filter_is_grey_not_nan():
    conv = nn.Conv2d(3, 2, 3)
    with torch.no_grad():
        conv.weight[0] = 0
    grid = nbs.kernel_grid(nn.Sequential(conv))
    assert torch.equal(grid.tiles[0], torch.full((3, 3, 3), 0.5))
    assert not torch.isnan(grid.tiles).any()


def test_wrong_layers_get_clear_errors(demo_model):
    snapshot = ModelSnapshot.of(demo_model)
    with pytest.raises(UnknownLayerError, match="close matches: .*'block2.conv1'"):
        nbs.kernel_grid(demo_model, "block2.conv")
    with pytest.raises(nbs.LayerTypeError, match="BatchNorm2d, not a Conv2d; the convolutions are: 'block1.conv1'"):
        nbs.kernel_grid(demo_model, "block1.bn1")
    with pytest.raises(nbs.LayerTypeError, match="16 input channels"):
        nbs.kernel_grid(demo_model, "block2.conv1", rgb=True)
    with pytest.raises(nbs.LayerTypeError, match="no Conv2d"):
        nbs.kernel_grid(nn.Sequential(nn.Flatten(), nn.Linear(3, 2)))
    with pytest.raises(ValueError, match="mapping must be"):
        nbs.kernel_grid(demo_model, mapping="abs")
    snapshot.assert_unchanged(demo_model)


@pytest.mark.parametrize("layer", [None, "block3.conv1"])
def test_the_figure_is_a_png_in_notebooks(demo_model, layer):
    figure = nbs.kernel_grid_figure(nbs.kernel_grid(demo_model, layer), max_filters=8, max_inputs=4)
    assert isinstance(figure, NotebookFigure)
    assert figure._repr_png_()[:8] == b"\x89PNG\r\n\x1a\n"
