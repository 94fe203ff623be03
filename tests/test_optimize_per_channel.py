"""A normalised model's neutral grey is one value per channel: class models are pulled toward it, Lucid's pad
fills with it and inversion's alpha-norm is centred on it (one averaged number tinted the images before)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from nbsaliency import InputError
from nbsaliency.normalization import IMAGENET_MEAN, IMAGENET_STD, Normalization
from nbsaliency.optimize import L1, L2, AlphaNorm, Pad, class_model
from nbsaliency.optimize.runner import midpoint

IMAGENET = Normalization(IMAGENET_MEAN, IMAGENET_STD)


class Blind(nn.Module):
    """Scores that do not depend on the image (all gradients come from the image terms)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 2, 3)
        nn.init.zeros_(self.conv.weight)
        nn.init.zeros_(self.conv.bias)

    def forward(self, x):
        return self.conv(x).mean(dim=(2, 3))


def test_the_midpoint_of_a_normalised_range_is_pixel_grey_in_each_channel():
    grey = torch.tensor(midpoint(IMAGENET.value_range), dtype=torch.float64)
    mean, std = (torch.tensor(v, dtype=torch.float64) for v in (IMAGENET_MEAN, IMAGENET_STD))
    expected = (0.5 - mean) / std
    torch.testing.assert_close(grey, expected)  # 0.066, 0.196, 0.418
    assert midpoint((0.0, 1.0)) == 0.5 and midpoint(((-1.0,), (1.0,))) == 0.0


def test_a_class_model_of_a_normalised_model_is_pulled_to_grey_not_a_tinted_average():
    result = class_model(Blind().eval(), 0, size=16, steps=60, l2=1.0, normalization=IMAGENET, seed=0)
    pixels = IMAGENET.to_pixels(result.image)
    # the averaged centre (0.227 in model units) would show as (0.537, 0.507, 0.457) in pixels
    torch.testing.assert_close(pixels.mean(dim=(0, 2, 3)), torch.full((3,), 0.5), atol=0.01, rtol=0)


def test_image_terms_take_one_centre_per_channel():
    image = torch.arange(2 * 3 * 2 * 2, dtype=torch.float32).reshape(2, 3, 2, 2)
    centre = (1.0, 5.0, 9.0)
    shifted = image - torch.tensor(centre).reshape(1, 3, 1, 1)
    torch.testing.assert_close(L2(center=centre).of_image(image), shifted.pow(2).flatten(1).mean(dim=1))
    torch.testing.assert_close(L1(center=centre).of_image(image), shifted.abs().flatten(1).mean(dim=1))
    scale = (1.0, 2.0, 4.0)
    alpha = AlphaNorm(2.0, center=centre, scale=scale).of_image(image)
    torch.testing.assert_close(alpha, (shifted / torch.tensor(scale).reshape(1, 3, 1, 1)).pow(2).flatten(1).mean(dim=1))
    assert L2(center=[0.5]).center == 0.5 and L2(center=0.25).of_image(torch.full((1, 3, 2, 2), 0.25)).item() == 0
    with pytest.raises(InputError, match="L2's center has 3 per-channel values but the image has 1 channels"):
        L2(center=centre).of_image(torch.zeros(1, 1, 2, 2))


def test_lucids_pad_fills_each_channel_with_its_own_grey():
    image = torch.zeros(1, 3, 2, 2)
    padded = Pad(1, value=(0.1, 0.2, 0.3))(image, torch.Generator())
    assert padded.shape == (1, 3, 4, 4)
    for c, v in enumerate((0.1, 0.2, 0.3)):
        border = torch.cat([padded[0, c, 0], padded[0, c, -1], padded[0, c, 1:-1, 0], padded[0, c, 1:-1, -1]])
        torch.testing.assert_close(border, torch.full_like(border, v))
        torch.testing.assert_close(padded[0, c, 1:3, 1:3], torch.zeros(2, 2))
    assert Pad(2, value=0.5)(image, torch.Generator())[0, 0, 0, 0].item() == 0.5
