"""SmoothGrad draws each image's noise from its own generator: an image's map does not depend on its batch."""

from __future__ import annotations

import torch

import nbsaliency as nbs
from tests.models import make_input, make_model

OPTIONS = {"method": "smoothgrad", "n_samples": 3, "seed": 5}


def test_smoothgrad_of_a_batch_equals_each_image_alone():
    model = make_model("vgg")
    x = make_input(2)
    together = nbs.attribute(model, x, nbs.Logit(torch.tensor([1, 3])), **OPTIONS)
    first = nbs.attribute(model, x[:1], nbs.Logit(1), **OPTIONS)
    second = nbs.attribute(model, x[1:], nbs.Logit(3), **OPTIONS)
    torch.testing.assert_close(together, torch.cat([first, second]))


def test_smoothgrad_gives_an_image_the_same_map_at_another_batch_position():
    model = make_model("vgg")
    x = make_input(2)
    forward = nbs.attribute(model, x, nbs.Logit(2), **OPTIONS)
    swapped = nbs.attribute(model, x.flip(0), nbs.Logit(2), **OPTIONS)
    torch.testing.assert_close(forward, swapped.flip(0))
