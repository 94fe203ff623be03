"""top_patches_figure draws NumPy arrays (no tensor-to-array conversion warnings, also under -W error)."""

from __future__ import annotations

import warnings

import numpy as np

import nbsaliency as nbs
from nbsaliency.maps import to_image
from tests.models import make_input, make_model


def test_top_patches_figure_passes_numpy_arrays_to_imshow_without_warnings():
    model = make_model("vgg")
    images = make_input(4, seed=2)
    index = nbs.PatchIndex.build(model, images, k=2, progress=False)
    patches = nbs.top_patches(model, images, index, "features.3", 1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        figure = nbs.top_patches_figure(patches, columns=2)
    shown = [ax.get_images()[0].get_array() for ax in figure.axes if ax.get_images()]
    assert len(shown) == 2 * len(patches)
    np.testing.assert_allclose(np.asarray(shown[1]), to_image(patches[0].image).numpy())
