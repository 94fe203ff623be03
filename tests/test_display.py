"""One display definition for the view and figure(): Python writes results with their display settings and its
colour positions into tests/fixtures/display.json, and tests/js/display.test.ts checks that the view's
render.ts computes the same from the same numbers. The figure is drawn from these positions."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from nbsaliency.explorer import display
from nbsaliency.explorer.display import colour_positions, display_map, robust_clip, signed_rgb_image

FIXTURE = Path(__file__).parent / "fixtures" / "display.json"


def cases() -> list[dict]:
    rng = np.random.default_rng(7)
    sparse = np.zeros((3, 4, 5), np.float32)
    sparse[1, 2, 3] = -2.5  # one unit's receptive field: the percentile is 0, the clip its largest |value|
    attributions = {
        "dense": rng.normal(size=(3, 4, 5)).astype(np.float32),
        "sparse": sparse,
        "zeros": np.zeros((3, 2, 2), np.float32),
        "one channel": rng.normal(size=(1, 3, 3)).astype(np.float32),
        "two channels": rng.normal(size=(2, 3, 3)).astype(np.float32),
    }
    out = []
    for name, attribution in attributions.items():
        for signed in (False, True):
            for clip in (99.5, 50.0, 0.0, 100.0):
                shown = display_map(attribution, signed)
                out.append({
                    "name": name, "signed": signed, "clip_percentile": clip, "shape": list(attribution.shape),
                    "attribution": attribution.ravel().tolist(), "map": shown.ravel().tolist(),
                    "clip": robust_clip(shown, clip),
                    "positions": colour_positions(shown, signed, clip).ravel().tolist(),
                    "signed_rgb": np.round(signed_rgb_image(attribution, clip) * 255).astype(int).ravel().tolist(),
                })
    return out


def render() -> str:
    return json.dumps(cases(), indent=None, separators=(",", ":")) + "\n"


def test_the_fixture_is_what_python_computes():
    assert FIXTURE.read_text() == render(), "run `python -m tests.test_display` to rewrite tests/fixtures/display.json"


def test_a_clip_percentile_of_zero_falls_back_to_the_largest_value():
    values = np.array([0.0, 1.0, 2.0, 4.0], np.float32)
    assert robust_clip(values, 0.0) == 4.0  # the 0th percentile is 0: fall back to the largest |value|
    assert robust_clip(values, 100.0) == 4.0
    assert robust_clip(values, 50.0) == pytest.approx(1.5)  # numpy's linear interpolation
    assert robust_clip(values, 50.0) == pytest.approx(float(np.percentile(values, 50)))
    assert robust_clip(np.zeros(3, np.float32), 99.5) == 1.0


def test_the_figure_draws_the_views_positions_with_the_chosen_colormap():
    from nbsaliency.explorer.backend import Prediction, Result, Selection
    from nbsaliency.explorer.figure import explorer_figure

    attribution = np.random.default_rng(0).normal(size=(3, 4, 4)).astype(np.float32)
    result = Result(Selection(), np.zeros((4, 4, 4), np.uint8), attribution, np.zeros((1, 1, 1), np.float32),
                    [Prediction(0, "a", 1.0)], rgb_view=True)
    figure = explorer_figure(result, colormap="viridis", signed=True, clip=90.0)
    heat = figure.axes[1].images[1]
    np.testing.assert_allclose(heat.get_array(), colour_positions(attribution.sum(axis=0), True, 90.0))
    assert heat.get_cmap().name == "viridis" and heat.get_clim() == (0.0, 1.0)
    np.testing.assert_allclose(figure.axes[2].images[0].get_array(), signed_rgb_image(attribution, 90.0))
    assert figure._repr_png_()[:4] == b"\x89PNG"


if __name__ == "__main__":
    FIXTURE.write_text(render())


def test_activation_codes_scale_each_map_to_its_own_maximum_by_hand():
    maps = np.array([[[0, 1], [2, 4]], [[-1, -2], [-3, -4]], [[5, 5], [5, 10]]], np.float32)
    codes, maxima = display.activation_codes(maps)
    # 255 * [0, .25, .5, 1] = [0, 63.75, 127.5, 255], halves rounded up as the browser's Math.round
    np.testing.assert_array_equal(codes[0], [[0, 64], [128, 255]])
    np.testing.assert_array_equal(codes[1], 0)  # no positive value: shown all zero
    np.testing.assert_array_equal(codes[2], [[128, 128], [128, 255]])
    np.testing.assert_array_equal(maxima, [4, -1, 10])
    assert codes.dtype == np.uint8 and maxima.dtype == np.float32


def test_activation_codes_skip_non_finite_values_like_the_view_did():
    maps = np.array([[[np.nan, 2], [np.inf, 1]], [[np.nan, np.nan], [np.nan, np.nan]]], np.float32)
    codes, maxima = display.activation_codes(maps)
    np.testing.assert_array_equal(codes[0], [[0, 255], [255, 128]])  # NaN -> 0, +inf saturates, 1/2 -> 128
    np.testing.assert_array_equal(codes[1], 0)
    assert maxima[0] == 2 and maxima[1] == -np.inf


def test_activation_codes_give_the_colormap_index_of_the_float_values():
    rng = np.random.default_rng(0)
    maps = rng.normal(size=(64, 7, 7)).astype(np.float32)
    codes, maxima = display.activation_codes(maps)
    positive = np.maximum(maps.max(axis=(1, 2)), 0)
    t = np.clip(maps / np.where(positive > 0, positive, np.inf)[:, None, None], 0, 1)
    assert np.abs(codes.astype(int) - np.floor(255 * t.astype(np.float64) + 0.5)).max() == 0
    np.testing.assert_array_equal(maxima, maps.max(axis=(1, 2)))


def test_activation_codes_refuse_other_ranks():
    with pytest.raises(ValueError, match=r"\(K, h, w\)"):
        display.activation_codes(np.zeros((3, 4)))
