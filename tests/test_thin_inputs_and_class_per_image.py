"""Occlusion's defaults fit any input shape; one class per image works for every perturbation method."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import nbsaliency as nbs
from nbsaliency.errors import OptionError, TargetError
from tests.invariance import ModelSnapshot
from tests.models import make_input, make_model


def thin_model() -> nn.Module:
    """A model for (N, 11, 60, 1) inputs: eleven channels, a tall one-pixel-wide image (a spectrogram column)."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(11, 6, (5, 1), padding=(2, 0)), nn.ReLU(), nn.MaxPool2d((2, 1)),
                         nn.Conv2d(6, 6, (3, 1), padding=(1, 0)), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(6, 4)).eval()


def brute_force_occlusion(model, x, cls, window, stride, fill=0.0):
    """Occlusion by hand: one forward pass per window position, mean drop per covered pixel."""
    _, _, h, w = x.shape
    (wy, wx), (sy, sx) = window, stride

    def starts(size, win, step):
        s = list(range(0, size - win + 1, step))
        return s + [size - win] if s[-1] + win < size else s

    with torch.no_grad():
        clean = model(x)[:, cls]
        total, covered = torch.zeros(x.shape[0], h, w), torch.zeros(h, w)
        for y in starts(h, wy, sy):
            for x0 in starts(w, wx, sx):
                occluded = x.clone()
                occluded[:, :, y:y + wy, x0:x0 + wx] = fill
                total[:, y:y + wy, x0:x0 + wx] += (clean - model(occluded)[:, cls])[:, None, None]
                covered[y:y + wy, x0:x0 + wx] += 1
    return (total / covered)[:, None].expand(-1, x.shape[1], -1, -1)


def test_occlusion_defaults_fit_a_thin_input_window_and_stride_per_axis():
    model, x = thin_model(), torch.randn(1, 11, 60, 1, generator=torch.Generator().manual_seed(2))
    got = nbs.attribute(model, x, 2, "occlusion")
    # default: an eighth of the longer side (60 // 8 = 7) cut to each axis -> (7, 1); stride half of it -> (3, 1)
    torch.testing.assert_close(got, brute_force_occlusion(model, x, 2, (7, 1), (3, 1)))


def test_occlusion_per_axis_window_and_stride_equal_brute_force_with_fill():
    model, x = make_model("vgg"), make_input(2)
    got = nbs.attribute(model, x, 1, "occlusion", window=(5, 3), stride=(4, 2), fill=0.5)
    torch.testing.assert_close(got, brute_force_occlusion(model, x, 1, (5, 3), (4, 2), fill=0.5))


def test_a_chosen_window_too_wide_for_a_thin_input_is_refused_with_a_pair_that_fits():
    model, x = thin_model(), torch.randn(1, 11, 60, 1)
    with pytest.raises(OptionError, match=r"occlusion's window .* 60 x 1.*got 7.*\(7, 1\)"):
        nbs.attribute(model, x, 2, "occlusion", window=7)


def _alone(model, x, classes, method, options):
    return torch.cat([nbs.attribute(model, x[i:i + 1], int(c), method, **options) for i, c in enumerate(classes)])


@pytest.mark.parametrize("method, options", [
    ("smoothgrad", {"n_samples": 3, "noise_level": 0.0}),  # no noise: the per-image seeds cannot differ
    ("integrated_gradients", {"steps": 4}),
    ("occlusion", {"window": 5, "stride": 3}),
    ("gradient", {}),
])
@pytest.mark.parametrize("batch_size", [None, 4, 1])  # 4 images: two copies of the batch of two per chunk
def test_one_class_per_image_equals_each_image_alone(method, options, batch_size):
    model, x = make_model("resnet"), make_input(2)
    classes = torch.tensor([1, 3])
    extra = {"batch_size": batch_size} if method != "gradient" else {}
    got = nbs.attribute(model, x, nbs.Logit(classes), method, **options, **extra)
    torch.testing.assert_close(got, _alone(model, x, classes.tolist(), method, options), atol=1e-5, rtol=1e-4)


def test_one_probability_per_image_with_smoothgrad_noise_equals_the_pinned_logit_per_copy():
    """With noise, image i's copies must be explained for class i: compare with Probability(c) per image on
    the same noisy copies (same seed: each image draws its noise from its own generator seeded with it)."""
    model, x = make_model("vgg"), make_input(2)
    got = nbs.attribute(model, x, nbs.Probability(np.array([0, 4])), "smoothgrad", n_samples=4, batch_size=2)
    for i, c in enumerate((0, 4)):
        noise = torch.randn((4, *x.shape[1:]), generator=torch.Generator().manual_seed(0))
        spread = x[i].max() - x[i].min()
        grads = []
        for k in range(4):
            leaf = (x[i:i + 1] + noise[k:k + 1] * 0.15 * spread).requires_grad_(True)
            (g,) = torch.autograd.grad(model(leaf).softmax(1)[0, c], leaf)
            grads.append(g[0])
        torch.testing.assert_close(got[i], torch.stack(grads).mean(0), atol=1e-6, rtol=1e-4)


@pytest.mark.parametrize("classes", [3, np.int64(3), torch.tensor(3), torch.tensor([3, 3]), np.array([3, 3]),
                                     [3, 3], (3, 3)])
def test_class_targets_accept_ints_numpy_integers_and_integer_tensors(classes):
    model, x = make_model("vgg"), make_input(2)
    expected = nbs.attribute(model, x, 3)
    torch.testing.assert_close(nbs.attribute(model, x, classes if not isinstance(classes, list | tuple) else
                                             nbs.Logit(classes)), expected)
    torch.testing.assert_close(nbs.attribute(model, x, nbs.Logit(classes)), expected)
    session = nbs.Session(model, x)
    torch.testing.assert_close(session.attribute(nbs.Probability(classes)),
                               session.attribute(nbs.Probability(3)))


@pytest.mark.parametrize("classes", [1.0, True, torch.tensor(1.0), torch.tensor([True, False]), np.float32(2),
                                     torch.tensor([[1, 2]]), [1, 2.5], "3"])
def test_float_bool_and_badly_shaped_class_targets_are_refused_clearly(classes):
    model, x = make_model("vgg"), make_input(2)
    snapshot = ModelSnapshot.of(model)
    with pytest.raises(TargetError, match="class|target"):
        nbs.attribute(model, x, nbs.Logit(classes) if not isinstance(classes, str | float) else classes)
    snapshot.assert_unchanged(model)


def test_wrong_number_of_classes_names_the_batch():
    with pytest.raises(TargetError, match="3 classes for a batch of 2"):
        nbs.attribute(make_model("vgg"), make_input(2), nbs.Logit(torch.tensor([0, 1, 2])), "occlusion")
