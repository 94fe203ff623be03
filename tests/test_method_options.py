"""Every method option is checked where it enters: wrong type, zero, negative or out of range -> an error that
names the option and the valid range; defaults and per-axis tuples are accepted; no option yields NaN."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import nbsaliency as nbs
from nbsaliency.errors import OptionError
from tests.invariance import ModelSnapshot
from tests.models import make_input, make_model

BAD = [
    ("smoothgrad", "n_samples", 0, "an integer from 1"),
    ("smoothgrad", "n_samples", -3, "an integer from 1"),
    ("smoothgrad", "n_samples", 2.5, "an integer from 1"),
    ("smoothgrad", "n_samples", True, "an integer from 1"),
    ("smoothgrad", "noise_level", -0.1, "at least 0"),
    ("smoothgrad", "noise_level", math.nan, "finite"),
    ("smoothgrad", "noise_level", math.inf, "finite"),
    ("smoothgrad", "noise_level", "0.1", "finite number"),
    ("smoothgrad", "base", "smoothgrad", "'gradient'"),
    ("smoothgrad", "base", None, "'gradient'"),
    ("smoothgrad", "seed", -1, "from 0 to"),
    ("smoothgrad", "seed", 1.0, "from 0 to"),
    ("smoothgrad", "batch_size", 0, "batch_size must be an integer from 1"),
    ("integrated_gradients", "steps", 0, "an integer from 1"),
    ("integrated_gradients", "steps", "8", "an integer from 1"),
    ("integrated_gradients", "baseline", torch.zeros(2, 16, 16), "baseline"),
    ("integrated_gradients", "baseline", torch.zeros(5, 3, 16, 16), "baseline"),
    ("integrated_gradients", "baseline", "black", "baseline"),
    ("integrated_gradients", "baseline", math.nan, "baseline must be finite"),
    ("integrated_gradients", "batch_size", -2, "batch_size"),
    ("occlusion", "window", 0, "window must be"),
    ("occlusion", "window", 17, "window must be"),
    ("occlusion", "window", (3, 0), "window must be"),
    ("occlusion", "window", (3, 3, 3), "window must be"),
    ("occlusion", "window", 2.0, "window must be"),
    ("occlusion", "stride", 0, "stride must be"),
    ("occlusion", "stride", -1, "stride must be"),
    ("occlusion", "stride", 6, "from 1 to the window"),  # default window 3: pixels between windows uncovered
    ("occlusion", "fill", math.nan, "fill must be a finite number"),
    ("occlusion", "fill", None, "fill must be a finite number"),
    ("occlusion", "progress", 3, "progress must be a callable"),
    ("occlusion", "cancel", True, "cancel must be a threading.Event"),
    ("gradcam", "layer", 3, "layer must be a layer name"),
]


@pytest.mark.parametrize("method, option, value, message", BAD, ids=[f"{m}-{o}-{v!r}"[:60] for m, o, v, _ in BAD])
def test_a_bad_option_is_refused_naming_the_option_and_the_valid_range(method, option, value, message):
    model = make_model("vgg")
    snapshot = ModelSnapshot.of(model)
    with pytest.raises(OptionError, match=rf"{option}.*" if option != "layer" else "layer") as raised:
        nbs.attribute(model, make_input(2), 1, method, **{option: value})
    assert message in str(raised.value)
    snapshot.assert_unchanged(model)


def test_option_errors_are_value_and_type_errors():
    assert issubclass(OptionError, ValueError) and issubclass(OptionError, TypeError)


def test_baseline_none_is_the_default_zero_baseline():
    session = nbs.Session(make_model("vgg"), make_input(2))
    torch.testing.assert_close(session.attribute(1, "integrated_gradients", steps=4, baseline=None),
                               session.attribute(1, "integrated_gradients", steps=4))
    torch.testing.assert_close(session.attribute(1, "integrated_gradients", steps=4, baseline=None),
                               session.attribute(1, "integrated_gradients", steps=4, baseline=0.0))


def _integrated_gradients_by_hand(model, x, cls, base, steps):
    total = torch.zeros_like(x)
    for k in range(steps):
        point = (base + (k + 0.5) / steps * (x - base)).requires_grad_(True)
        (g,) = torch.autograd.grad(model(point)[:, cls].sum(), point)
        total += g
    return (x - base) * total / steps


@pytest.mark.parametrize("shape", [(), (3, 1, 1), (3, 16, 16), (2, 3, 16, 16), (1, 3, 16, 16)])
def test_integrated_gradients_accepts_every_broadcastable_baseline_shape(shape):
    model, x = make_model("vgg"), make_input(2)
    baseline = torch.linspace(-0.5, 0.5, math.prod(shape) or 1).reshape(shape)
    got = nbs.attribute(model, x, 2, "integrated_gradients", steps=3, baseline=baseline)
    expected = _integrated_gradients_by_hand(model, x, 2, baseline.expand_as(x), 3)
    torch.testing.assert_close(got, expected, atol=1e-6, rtol=1e-4)


def test_integer_options_accept_numpy_integers():
    session = nbs.Session(make_model("vgg"), make_input(1))
    torch.testing.assert_close(session.attribute(1, "occlusion", window=np.int64(4), stride=(np.int32(2), 3)),
                               session.attribute(1, "occlusion", window=4, stride=(2, 3)))
    torch.testing.assert_close(session.attribute(1, "smoothgrad", n_samples=np.int64(2), seed=np.uint8(1)),
                               session.attribute(1, "smoothgrad", n_samples=2, seed=1))


@pytest.mark.parametrize("method, options", [
    ("smoothgrad", {"n_samples": 1, "noise_level": 0.0}), ("smoothgrad", {"noise_level": 5.0, "n_samples": 2}),
    ("integrated_gradients", {"steps": 1}), ("occlusion", {"window": 16, "stride": 16}),
    ("occlusion", {"window": (16, 1), "stride": (16, 1)}),
])
def test_extreme_but_valid_options_give_finite_maps(method, options):
    got = nbs.attribute(make_model("vgg"), make_input(2), 1, method, **options)
    assert torch.isfinite(got).all()


def test_smoothgrad_on_a_constant_image_is_finite():
    got = nbs.attribute(make_model("vgg"), torch.full((1, 3, 16, 16), 0.3), 1, "smoothgrad", n_samples=2)
    assert torch.isfinite(got).all()


def test_method_must_be_a_name():
    with pytest.raises(OptionError, match="method must be a method name"):
        nbs.attribute(make_model("vgg"), make_input(1), 1, method=None)
