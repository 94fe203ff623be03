"""The Explorer shows the user's photo: the displayed input equals the un-normalised image (max error 1/255)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage import data
from torch import nn

import nbsaliency as nbs
from nbsaliency.explorer.backend import UNKNOWN_NORMALISATION_NOTE
from nbsaliency.explorer.widget import Explorer

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
CATEGORIES = ["tabby", "tiger cat", "lynx"]


def photo() -> np.ndarray:
    """A 48 x 64 crop of skimage's chelsea (uint8, H x W x 3): the user's photo."""
    return np.ascontiguousarray(data.chelsea()[80:128, 150:214])


class FakeNormalize:
    """Duck-types torchvision's Normalize: mean / std attributes, applied to a (C, H, W) tensor."""

    def __init__(self, mean, std):
        self.mean, self.std = mean, std

    def __call__(self, x):
        return (x - torch.tensor(self.mean)[:, None, None]) / torch.tensor(self.std)[:, None, None]


class FakeToTensor:
    def __call__(self, image):
        return torch.from_numpy(np.asarray(image)).permute(2, 0, 1).float() / 255


class FakeCompose:
    """Duck-types torchvision's Compose: a ``transforms`` list applied in order."""

    def __init__(self, transforms):
        self.transforms = transforms

    def __call__(self, image):
        for transform in self.transforms:
            image = transform(image)
        return image


class FakeWeights:
    """Duck-types a torchvision weights enum member: ``transforms()`` and ``meta["categories"]`` (no download)."""

    meta = {"categories": CATEGORIES}

    def transforms(self):
        return FakeCompose([FakeToTensor(), FakeNormalize(MEAN, STD)])


def model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(4, len(CATEGORIES)))


def normalised(image: np.ndarray) -> torch.Tensor:
    """The ImageNet way, written out: pixels / 255, minus mean, over std; (1, 3, H, W)."""
    pixels = torch.from_numpy(image).permute(2, 0, 1).float() / 255
    return ((pixels - torch.tensor(MEAN)[:, None, None]) / torch.tensor(STD)[:, None, None])[None]


def shown(explorer: Explorer) -> np.ndarray:
    return explorer._result.image_rgba[..., :3].astype(np.int16)


def assert_faithful(explorer: Explorer, image: np.ndarray) -> None:
    error = np.abs(shown(explorer) - image.astype(np.int16)).max()
    assert error <= 1, f"displayed input differs from the photo by {error}/255"
    assert UNKNOWN_NORMALISATION_NOTE not in explorer._result.notes


def test_weights_give_preprocessing_labels_and_a_faithful_display():
    image = photo()
    explorer = Explorer(model(), [image], weights=FakeWeights())
    assert_faithful(explorer, image)
    assert explorer.labels == CATEGORIES
    expected = normalised(image)[0]
    assert torch.allclose(explorer.backend.inputs[0], expected, atol=1e-6)  # the weights' own preprocessing ran


@pytest.mark.parametrize("how", ["normalization", "pair", "data_config", "preprocess", "weights_with_tensors"])
def test_every_way_of_stating_the_normalisation_undoes_it(how):
    image = photo()
    x = normalised(image)
    keyword = {
        "normalization": {"normalization": nbs.Normalization(MEAN, STD)},
        "pair": {"normalization": (MEAN, STD)},
        "data_config": {"data_config": {"mean": MEAN, "std": STD, "input_size": (3, 48, 64)}},
        "preprocess": {"preprocess": FakeCompose([FakeNormalize(MEAN, STD)])},
        "weights_with_tensors": {"weights": FakeWeights()},
    }[how]
    pixels = torch.from_numpy(image).permute(2, 0, 1).float() / 255
    images = [pixels] if how == "preprocess" else x  # preprocess normalises the pixels itself
    explorer = Explorer(model(), images, **keyword)
    assert_faithful(explorer, image)


def test_display_images_beside_model_inputs_are_shown_as_given():
    image = photo()
    explorer = Explorer(model(), normalised(image), display_images=[image])
    assert_faithful(explorer, image)


def test_unknown_normalisation_rescales_and_says_so_on_the_map():
    explorer = Explorer(model(), normalised(photo()))
    assert UNKNOWN_NORMALISATION_NOTE in explorer._result.notes
    values = shown(explorer)
    assert values.min() == 0 and values.max() == 255  # min-max rescaled


def test_the_patch_grid_and_frames_use_the_same_faithful_display():
    image = photo()
    explorer = Explorer(model(), normalised(image), weights=FakeWeights())
    rgba = explorer.backend.display_image(normalised(image)[0])  # the helper patches / optimization frames use
    assert np.abs(rgba[..., :3].astype(np.int16) - image).max() <= 1


def test_bad_display_inputs_are_refused_with_what_would_be_right():
    x = normalised(photo())
    with pytest.raises(nbs.InputError, match="one display image per input"):
        Explorer(model(), x, display_images=[photo(), photo()])
    with pytest.raises(nbs.InputError, match="model's input size"):
        Explorer(model(), x, display_images=[photo()[:10]])
    with pytest.raises(nbs.InputError, match="data_config=: no normalisation found"):
        Explorer(model(), x, data_config={"input_size": (3, 48, 64)})


def test_a_normalisation_of_one_value_applies_to_every_channel_and_another_count_is_refused():
    image = photo()
    x = torch.from_numpy(image).permute(2, 0, 1).float()[None] / 255
    explorer = Explorer(model(), (x - 0.5) / 0.25, normalization=nbs.Normalization(0.5, 0.25))
    assert UNKNOWN_NORMALISATION_NOTE not in explorer._result.notes
    assert_faithful(explorer, image)
    wording = (r"the normalisation has 2 channels \(mean \[0\.5\], std \[0\.5, 0\.5\]\) but the images have 3; "
               r"give one mean and std per channel, or one for all")
    with pytest.raises(nbs.InputError, match=wording):
        Explorer(model(), normalised(image), normalization=nbs.Normalization(mean=(0.5,), std=(0.5, 0.5)))
