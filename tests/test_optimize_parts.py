"""Parameterisations, transforms and Yosinski et al.'s regularisers, each on its own."""

from __future__ import annotations

import pytest
import torch

from nbsaliency.optimize import (
    Blur,
    ClipSmallContribution,
    ClipSmallNorm,
    Decay,
    FourierImage,
    Jitter,
    Pad,
    PixelImage,
    RandomRotate,
    RandomScale,
    Roll,
    colour_decorrelation,
    gaussian_blur,
    standard_transforms,
    yosinski_regularisers,
)


@pytest.mark.parametrize("make", [
    lambda: PixelImage((2, 3, 16, 16), sd=5.0, squash="sigmoid"),
    lambda: PixelImage((2, 3, 16, 16), sd=5.0, squash="clip"),
    lambda: FourierImage((2, 3, 16, 16), sd=5.0),
    lambda: FourierImage((2, 3, 16, 17), sd=5.0, decorrelate=False),
])
def test_parameterisations_map_any_parameters_into_the_value_range(make):
    param = make()
    param.project()
    image = param()
    assert image.shape == param.shape and image.min() >= 0 and image.max() <= 1


def test_per_channel_value_ranges_are_respected():
    param = PixelImage((1, 3, 8, 8), value_range=((-2.0, -1.0, 0.0), (2.0, 1.0, 0.5)), sd=10.0, squash="sigmoid")
    image = param()
    for c, (low, high) in enumerate([(-2, 2), (-1, 1), (0, 0.5)]):
        assert low <= image[:, c].min() and image[:, c].max() <= high


def test_initialisation_is_deterministic_per_seed_and_zero_means_neutral_grey():
    a, b = FourierImage((1, 3, 16, 16), seed=1), FourierImage((1, 3, 16, 16), seed=1)
    assert torch.equal(a(), b()) and not torch.equal(a(), FourierImage((1, 3, 16, 16), seed=2)())
    torch.testing.assert_close(PixelImage((1, 3, 4, 4))(), torch.full((1, 3, 4, 4), 0.5))
    assert (FourierImage((1, 3, 16, 16))() - 0.5).abs().max() < 0.05


@pytest.mark.parametrize("squash", ["clip", "sigmoid"])
@pytest.mark.parametrize("decorrelate", [False, True])
def test_a_pixel_image_started_from_a_photo_gives_back_the_photo(squash, decorrelate):
    photo = torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(0)) * 0.9 + 0.05
    param = PixelImage(photo.shape, init=photo, squash=squash, decorrelate=decorrelate)
    param.project()
    torch.testing.assert_close(param(), photo, atol=1e-4, rtol=0)


def test_colour_decorrelation_from_images_is_a_square_root_of_their_colour_covariance():
    mixing = torch.tensor([[1.0, 0.5, 0.2], [0.3, 1.0, 0.1], [0.0, 0.4, 1.0]])
    noise = torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    images = torch.einsum("ck,nkhw->nchw", mixing, noise)
    matrix = colour_decorrelation(images).double()
    covariance = torch.cov(images.permute(1, 0, 2, 3).reshape(3, -1).double())
    product = matrix @ matrix.T
    torch.testing.assert_close(product / product.norm(), covariance / covariance.norm(), atol=1e-6, rtol=1e-6)
    assert colour_decorrelation().norm(dim=0).max().item() == pytest.approx(1.0)


def test_transforms_are_reproducible_per_generator_and_change_size_as_documented():
    x = torch.rand(1, 3, 32, 32)
    t = standard_transforms(32)
    first, again = t(x, torch.Generator().manual_seed(7)), t(x, torch.Generator().manual_seed(7))
    assert torch.equal(first, again)
    g = torch.Generator().manual_seed(0)
    assert Pad(4)(x, g).shape[-2:] == (40, 40) and Jitter(4)(x, g).shape[-2:] == (28, 28)
    assert Roll(5)(x, g).shape == x.shape and torch.allclose(Roll(5)(x, g).sum(), x.sum())
    assert RandomScale([1.5])(x, g).shape[-2:] == (48, 48)
    assert RandomRotate([0])(x, g) is x and RandomRotate([30])(x, g).shape == x.shape


def test_transforms_are_differentiable():
    x = torch.rand(1, 3, 32, 32, requires_grad=True)
    standard_transforms(32)(x, torch.Generator().manual_seed(1)).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def _param(seed: int = 0) -> PixelImage:
    return PixelImage((2, 3, 16, 16), sd=0.5, seed=seed)


def test_decay_shrinks_towards_grey_and_blur_runs_every_k_steps():
    param = _param()
    before = param.pixels.detach().clone()
    with torch.no_grad():
        Decay(0.1)(param, 0, [])
        torch.testing.assert_close(param.pixels, 0.9 * before)
        blur = Blur(1.0, every=4)
        unchanged = param.pixels.clone()
        blur(param, 0, [])
        assert torch.equal(param.pixels, unchanged)
        blur(param, 3, [])
        assert param.pixels.std() < 0.6 * unchanged.std()


def test_gaussian_blur_keeps_a_constant_image_and_works_on_tiny_images():
    torch.testing.assert_close(gaussian_blur(torch.full((1, 3, 9, 9), 0.3), 1.0), torch.full((1, 3, 9, 9), 0.3))
    assert gaussian_blur(torch.rand(1, 3, 2, 2), 2.0).shape == (1, 3, 2, 2)


def test_clipping_zeros_the_pixels_with_small_norm_or_small_contribution():
    param = _param()
    with torch.no_grad():
        ClipSmallNorm(50)(param, 0, [])
    zeroed = (param.pixels.norm(dim=1) == 0).float().mean()
    assert 0.45 <= zeroed <= 0.55
    param = _param(1)
    grads = [torch.randn(param.shape, generator=torch.Generator().manual_seed(2))]
    with torch.no_grad():
        ClipSmallContribution(90)(param, 0, grads)
    assert 0.85 <= (param.pixels.norm(dim=1) == 0).float().mean() <= 0.95


def test_yosinski_table_rows_become_regulariser_lists():
    assert yosinski_regularisers() == []
    names = [type(r).__name__ for r in yosinski_regularisers(0.01, 1.0, 4, 20, 90)]
    assert names == ["Decay", "Blur", "ClipSmallNorm", "ClipSmallContribution"]
