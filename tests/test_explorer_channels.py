"""Inputs with 1, 2, 3, 4 and more channels all display in the Explorer, by one rule (three_channels): grey,
false colour (red, green, blue = their mean), RGB, the first three. The same helper feeds the input image, the
patch grid and the optimization frames."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from nbsaliency.explorer import protocol
from nbsaliency.explorer.backend import display_image, three_channels
from nbsaliency.explorer.widget import Explorer
from tests.test_explorer_optimization import Inbox


def model_for(channels: int) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(channels, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 4, 3, padding=1), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3)).eval()


@pytest.mark.parametrize("channels", [1, 2, 3, 4, 5])
def test_the_display_rule_for_any_number_of_channels(channels):
    x = torch.rand(channels, 6, 7)
    rgba = display_image(x)
    assert rgba.shape == (6, 7, 4) and rgba.dtype == np.uint8 and (rgba[..., 3] == 255).all()
    if channels == 1:
        expected = [x[0], x[0], x[0]]
    elif channels == 2:
        expected = [x[0], x[1], (x[0] + x[1]) / 2]
    else:
        expected = [x[0], x[1], x[2]]
    for c in range(3):
        np.testing.assert_array_equal(rgba[..., c], (expected[c] * 255).round().numpy().astype(np.uint8))


def test_three_channels_refuses_what_is_not_an_image():
    with pytest.raises(ValueError, match=r"\(C, H, W\) with C >= 1; got shape \(0, 4, 4\)"):
        three_channels(torch.zeros(0, 4, 4))


@pytest.mark.parametrize("channels", [1, 2, 4, 5])
def test_the_explorer_shows_inputs_grids_and_frames_for_non_rgb_models(channels):
    images = torch.rand(3, channels, 12, 12)
    explorer = Explorer(model_for(channels), images)
    inbox = Inbox()
    explorer.send = inbox
    explorer._on_message(explorer, {"kind": protocol.MSG_SELECT, "id": 1, "selection": {"method": "guided"}}, [])
    (result,) = inbox.of(protocol.MSG_RESULT)
    assert result["error"] == "" and result["image"]["shape"] == [12, 12, 4]
    _, buffers, _ = inbox.messages[-1]
    np.testing.assert_array_equal(np.frombuffer(buffers[protocol.BUFFER_IMAGE], np.uint8).reshape(12, 12, 4),
                                  display_image(images[0]))
    patches = explorer._panels["patches"].jobs
    assert patches.wait(60) and explorer.index_status == "ready", explorer.index_message
    explorer._on_message(explorer, {"kind": protocol.MSG_PATCHES, "id": 2, "layer": "2", "channel": 0,
                                    "method": "gradient"}, [])
    assert patches.wait(60)
    (grid,) = inbox.of(protocol.MSG_PATCHES_RESULT)
    assert grid["error"] == "" and len(grid["patches"]) > 0
    assert all(p["shape"][2] == 4 for p in grid["patches"])
    explorer._on_message(explorer, {"kind": protocol.MSG_OPTIMIZE, "id": 3, "visualisation": "invert", "steps": 2,
                                    "selection": {"layer": "2"}}, [])
    assert explorer._panels["optimization"].jobs.wait(60)
    assert inbox.done(3)[0]["error"] == ""
    assert all(f["image"]["shape"] == [12, 12, 4] for f in inbox.frames(3))
    explorer.close()
