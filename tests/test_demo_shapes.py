"""The demo shape generator: deterministic, balanced, and its masks are exactly the drawn objects."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nbsaliency import demo
from nbsaliency.demo import shapes

N = 500


@pytest.fixture(scope="module")
def batch() -> demo.DemoImages:
    return demo.images(N, seed=7)


def test_batch_has_documented_shapes_dtypes_and_range(batch: demo.DemoImages) -> None:
    assert batch.images.shape == (N, 3, 64, 64) and batch.images.dtype == torch.float32
    assert batch.labels.shape == (N,) and batch.labels.dtype == torch.int64
    assert batch.masks.shape == (N, 64, 64) and batch.masks.dtype == torch.bool
    assert batch.images.min() >= 0.0 and batch.images.max() <= 1.0
    assert batch.labels.min() >= 0 and batch.labels.max() < len(demo.CLASS_NAMES)


def test_size_argument_sets_resolution() -> None:
    small = demo.images(10, seed=0, size=32)
    assert small.images.shape == (10, 3, 32, 32) and small.masks.shape == (10, 32, 32)
    assert small.masks.flatten(1).any(1).all()


def test_has_at_least_seven_named_classes() -> None:
    assert len(demo.CLASS_NAMES) >= 7
    for name in ("disc", "square", "triangle", "cross", "ring", "diamond", "star"):
        assert name in demo.CLASS_NAMES


def test_every_class_appears_about_equally_often(batch: demo.DemoImages) -> None:
    counts = torch.bincount(batch.labels, minlength=len(demo.CLASS_NAMES))
    expected = N / len(demo.CLASS_NAMES)
    assert counts.min() >= 0.8 * expected and counts.max() <= 1.2 * expected


def test_same_seed_gives_identical_images() -> None:
    a, b = demo.images(40, seed=3), demo.images(40, seed=3)
    for x, y in zip(a, b, strict=True):
        assert torch.equal(x, y)


def test_different_seeds_give_different_images() -> None:
    a, b = demo.images(40, seed=3), demo.images(40, seed=4)
    assert not torch.equal(a.images, b.images)
    assert not torch.equal(a.masks, b.masks)


def test_shorter_batch_is_prefix_of_longer_one() -> None:
    short, long = demo.images(5, seed=11), demo.images(shapes.CHUNK + 30, seed=11)
    assert torch.equal(short.images, long.images[:5]) and torch.equal(short.labels, long.labels[:5])


def test_every_mask_is_nonempty_and_not_the_whole_image(batch: demo.DemoImages) -> None:
    area = batch.masks.float().mean((1, 2))
    assert area.min() > 0.01 and area.max() < 0.6


def test_pixels_inside_mask_carry_the_object_colour(batch: demo.DemoImages) -> None:
    deviation = (batch.images - batch.colors[:, :, None, None]).abs().amax(1)  # (n, H, W)
    assert deviation[batch.masks].max() <= shapes.NOISE + 1e-6


def test_pixels_outside_mask_do_not_carry_the_object_colour(batch: demo.DemoImages) -> None:
    gap = shapes.luminance(batch.images.numpy(), axis=1) - shapes.luminance(batch.colors.numpy())[:, None, None]
    gap = np.abs(gap)[~batch.masks.numpy()]
    assert gap.min() >= shapes.CONTRAST - shapes.NOISE - 1e-5 > 0.1


def test_object_differs_from_background_so_masks_are_recoverable(batch: demo.DemoImages) -> None:
    """Thresholding luminance halfway between object and background reproduces the mask exactly."""
    lum = shapes.luminance(batch.images.numpy(), axis=1)
    obj = shapes.luminance(batch.colors.numpy())[:, None, None]
    dark_object = obj < 0.5
    recovered = np.where(dark_object, lum < obj + 0.11, lum > obj - 0.11)
    assert np.array_equal(recovered, batch.masks.numpy())


def test_each_mask_is_one_connected_object() -> None:
    """Distractors and texture never enter the mask: it is the one drawn object."""
    batch = demo.images(140, seed=5)
    for mask, label in zip(batch.masks.numpy(), batch.labels.tolist(), strict=True):
        assert _components(mask) == 1, demo.CLASS_NAMES[label]


def _components(mask: np.ndarray) -> int:
    """Number of 8-connected components of True pixels (tiny flood fill; masks are 64 x 64)."""
    seen = np.zeros_like(mask)
    count = 0
    for start in zip(*np.nonzero(mask), strict=True):
        if seen[start]:
            continue
        count += 1
        stack = [start]
        seen[start] = True
        while stack:
            y, x = stack.pop()
            for ny, nx in ((y + dy, x + dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)):
                inside = 0 <= ny < mask.shape[0] and 0 <= nx < mask.shape[1]
                if inside and mask[ny, nx] and not seen[ny, nx]:
                    seen[ny, nx] = True
                    stack.append((ny, nx))
    return count


def test_rejects_negative_count() -> None:
    with pytest.raises(ValueError):
        demo.images(-1, seed=0)


def test_zero_images_is_an_empty_batch() -> None:
    empty = demo.images(0, seed=0)
    assert empty.images.shape == (0, 3, 64, 64) and empty.labels.shape == (0,)
