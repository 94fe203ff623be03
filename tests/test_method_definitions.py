"""Each method's defining numbers, computed independently (plain autograd, analytic models, hand-written loops),
through the public API only (``nbs.attribute`` / ``Session.attribute``). These pin what an audit's deliberate breaks
(mutants) left unnoticed: Probability as softmax, SmoothGrad's per-image noise scale, occlusion's ``fill=`` and its
border windows, integrated gradients' ``baseline=``, Grad-CAM's bilinear upsampling with ``align_corners=False``."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import nbsaliency as nbs


def rand(*shape: int, seed: int = 0, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


class Linear(nn.Module):
    """logits = W · flatten(x): every gradient and occlusion drop is analytic."""

    def __init__(self, weights: torch.Tensor):  # (classes, C, H, W)
        super().__init__()
        self.weights = nn.Parameter(weights)

    def forward(self, x):
        return torch.einsum("nchw,kchw->nk", x, self.weights)


class PixelPolynomial(nn.Module):
    """One logit: sum over pixels of ``coefficient * x ** power`` (its gradient is known in closed form)."""

    def __init__(self, power: int, coefficient: torch.Tensor | float = 1.0):
        super().__init__()
        self.power = power
        self.register_buffer("coefficient", torch.as_tensor(coefficient, dtype=torch.float64))

    def forward(self, x):
        return (self.coefficient * x ** self.power).sum(dim=(1, 2, 3))[:, None]


# --- Probability is the softmax probability (not log-softmax, not the logit) -------------------------------------

def test_probability_gradient_is_the_softmax_derivative():
    """For logits z = W x, d softmax(z)_c / dx = p_c (W_c - sum_j p_j W_j)."""
    weights = rand(4, 3, 5, 5, seed=1) - 0.5
    x = rand(2, 3, 5, 5, seed=2)
    model = Linear(weights)
    with torch.no_grad():
        p = torch.softmax(model(x), dim=1)  # (2, 4)
    for c in range(4):
        expected = p[:, c, None, None, None] * (weights[c] - torch.einsum("nk,kchw->nchw", p, weights))
        torch.testing.assert_close(nbs.attribute(model, x, nbs.Probability(c)), expected)


def test_probability_gradient_equals_plain_autograd_of_softmax_on_a_cnn():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.Tanh(), nn.AdaptiveAvgPool2d(2), nn.Flatten(),
                          nn.Linear(16, 5)).double().eval()
    x = rand(2, 3, 8, 8, seed=3).requires_grad_(True)
    classes = torch.tensor([1, 4])
    (expected,) = torch.autograd.grad(torch.softmax(model(x), 1).gather(1, classes[:, None]).sum(), x)
    torch.testing.assert_close(nbs.attribute(model, x.detach(), nbs.Probability(classes)), expected)


# --- SmoothGrad: noise of standard deviation noise_level * (max - min) of EACH image ------------------------------

def test_smoothgrad_noise_scale_is_per_image():
    """With f = sum x^3 / 6 the gradient is x^2 / 2, so on a zero pixel SmoothGrad averages (sigma e)^2 / 2:
    its mean over pixels and samples estimates sigma^2 / 2, with sigma = noise_level * (max - min) of that image.
    Two images whose ranges differ 100-fold must get noise 100-fold apart (a shared scale gives equal values)."""
    x = torch.zeros(2, 3, 8, 8, dtype=torch.float64)
    x[0, 0, 0, 0], x[1, 0, 0, 0] = 1.0, 100.0  # ranges 1 and 100; every other pixel is 0
    noise_level, n_samples = 0.1, 64
    smooth = nbs.attribute(PixelPolynomial(3, 1 / 6), x, 0, method="smoothgrad", n_samples=n_samples,
                           noise_level=noise_level, seed=5)
    zero_pixels = torch.ones(3, 8, 8, dtype=torch.bool)
    zero_pixels[0, 0, 0] = False
    for i, spread in enumerate((1.0, 100.0)):
        estimate = float(smooth[i][zero_pixels].mean())
        expected = (noise_level * spread) ** 2 / 2
        # 191 pixels x 64 samples of a chi-square(1) / 2: relative standard error sqrt(2 / 12224) ~ 1.3 %
        assert estimate == pytest.approx(expected, rel=0.08), f"image {i}: noise scale is not per image"


def test_smoothgrad_is_the_mean_gradient_over_noisy_copies_for_a_quadratic():
    """f = sum x^2 / 2 has gradient x: SmoothGrad's mean gradient is x plus the mean noise, whose size
    shrinks as 1 / sqrt(n_samples) and whose spread is per image (checked through its standard deviation)."""
    x = torch.stack([rand(3, 6, 6, seed=7), 50 * rand(3, 6, 6, seed=8)])
    spreads = x.flatten(1).amax(1) - x.flatten(1).amin(1)
    n_samples, noise_level = 400, 0.2
    smooth = nbs.attribute(PixelPolynomial(2, 0.5), x, 0, method="smoothgrad", n_samples=n_samples,
                           noise_level=noise_level, seed=11)
    for i in range(2):
        residual_std = float((smooth[i] - x[i]).std())
        expected_std = float(noise_level * spreads[i] / math.sqrt(n_samples))
        assert residual_std == pytest.approx(expected_std, rel=0.15)


# --- occlusion: the drop when a window is set to `fill`, over windows that also cover the border ------------------

def test_occlusion_replaces_the_window_with_fill():
    """Hiding pixel (y, x) of a linear score behind `fill` lowers it by sum_c w[c, y, x] (x[c, y, x] - fill)."""
    weights = rand(1, 3, 5, 5, seed=4) - 0.5
    x = rand(1, 3, 5, 5, seed=5)
    for fill in (0.0, 0.5, -2.0):
        attribution = nbs.attribute(Linear(weights), x, 0, method="occlusion", window=1, stride=1, fill=fill)
        expected = (weights[0] * (x[0] - fill)).sum(dim=0)
        for c in range(3):
            torch.testing.assert_close(attribution[0, c], expected)


def test_occlusion_covers_the_border_windows():
    """A 5 x 5 image, window 2, stride 2: along each axis the windows start at 0 and 2 and, to reach the last row
    and column, at 3 (written out by hand here). Each pixel gets the mean drop of the windows that cover it."""
    weights = rand(1, 1, 5, 5, seed=6) + 0.5
    x = rand(1, 1, 5, 5, seed=7) + 0.5
    spans = [(0, 2), (2, 4), (3, 5)]  # hand-written: the last one is the border window
    contribution = weights[0, 0] * x[0, 0]  # what hiding each pixel removes from the linear score
    expected = torch.zeros(5, 5, dtype=torch.float64)
    for y in range(5):
        for x_ in range(5):
            drops = [contribution[y0:y1, x0:x1].sum() for (y0, y1) in spans for (x0, x1) in spans
                     if y0 <= y < y1 and x0 <= x_ < x1]
            expected[y, x_] = sum(drops) / len(drops)
    attribution = nbs.attribute(Linear(weights), x, 0, method="occlusion", window=2, stride=2)
    torch.testing.assert_close(attribution[0, 0], expected)


# --- integrated gradients from the given baseline ------------------------------------------------------------------

@pytest.mark.parametrize("baseline", [0.3, "tensor"])
def test_integrated_gradients_of_a_quadratic_from_a_baseline_is_exact(baseline):
    """f = sum a x^2: the gradient is linear along the straight path, so the midpoint rule is exact and
    IG = (x - b) * a (x + b) = a (x^2 - b^2) for any number of steps."""
    a = rand(1, 3, 4, 4, seed=8) + 0.5
    x = rand(2, 3, 4, 4, seed=9)
    b = rand(2, 3, 4, 4, seed=10) if baseline == "tensor" else torch.full_like(x, baseline)
    given = b if baseline == "tensor" else baseline
    attribution = nbs.attribute(PixelPolynomial(2, a), x, 0, method="integrated_gradients", steps=3, baseline=given)
    torch.testing.assert_close(attribution, a * (x ** 2 - b ** 2))


def test_integrated_gradients_is_complete_with_respect_to_its_baseline():
    """Sundararajan et al.'s completeness: the map sums to f(x) - f(baseline), for a non-zero baseline."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.Softplus(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                          nn.Linear(4, 3)).double().eval()
    x = rand(1, 3, 8, 8, seed=11)
    baseline = rand(1, 3, 8, 8, seed=12)
    attribution = nbs.attribute(model, x, 2, method="integrated_gradients", steps=128, baseline=baseline)
    with torch.no_grad():
        expected = model(x)[0, 2] - model(baseline)[0, 2]
        from_zero = model(x)[0, 2] - model(torch.zeros_like(x))[0, 2]
    assert abs(expected - from_zero) > 1e-3  # the baseline matters for this model
    torch.testing.assert_close(attribution.sum(), expected, rtol=1e-4, atol=1e-6)


# --- Grad-CAM: bilinear upsampling with align_corners=False ---------------------------------------------------------

def bilinear_half_pixel(image: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Bilinear resampling with pixel centres aligned (align_corners=False), written out with loops:
    output pixel i samples the input at (i + 0.5) * in / out - 0.5, clamped at the border."""

    def taps(i: int, size_in: int, size_out: int) -> tuple[int, int, float]:
        source = max((i + 0.5) * size_in / size_out - 0.5, 0.0)
        low = min(int(math.floor(source)), size_in - 1)
        return low, min(low + 1, size_in - 1), source - low

    h, w = image.shape
    out = torch.zeros(height, width, dtype=image.dtype)
    for i in range(height):
        y0, y1, fy = taps(i, h, height)
        for j in range(width):
            x0, x1, fx = taps(j, w, width)
            top = (1 - fx) * image[y0, x0] + fx * image[y0, x1]
            bottom = (1 - fx) * image[y1, x0] + fx * image[y1, x1]
            out[i, j] = (1 - fy) * top + fy * bottom
    return out


def test_gradcam_upsamples_bilinearly_with_pixel_centres_aligned():
    """A 4 x 4 layer under a global-average-pooling linear head: Grad-CAM = ReLU(sum_k w_ck A_k) / 16 (CAM),
    then resampled to 16 x 16 with align_corners=False (align_corners=True would differ everywhere inside)."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 6, 4, stride=4), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                          nn.Linear(6, 3)).double().eval()
    x = rand(1, 3, 16, 16, seed=13)
    cam = nbs.attribute(model, x, 1, method="gradcam", layer="1")
    with torch.no_grad():
        maps = model[1](model[0](x))[0]  # (6, 4, 4)
        coarse = (model[4].weight[1].view(6, 1, 1) * maps).sum(0).clamp(min=0) / 16
    assert coarse.max() > 0
    expected = bilinear_half_pixel(coarse, 16, 16)
    for c in range(3):
        torch.testing.assert_close(cam[0, c], expected)
