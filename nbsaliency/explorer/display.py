"""The display definition shared by the widget's view and :meth:`Explorer.figure`: the same map, the same clip
value and the same colour positions in Python as in ``js/src/lib/render.ts`` (checked by a fixture that both
test suites read: ``tests/fixtures/display.json``).

A map of an attribution ``(C, H, W)``: the channel sum when the display is signed, else max over channels of
|value| (Simonyan et al. 2014). Its clip value: the ``clip_percentile``-th percentile of |value| over the finite
values (linear interpolation; a percentile of 0 or less gives the smallest |value|, 100 or more the largest);
when that is 0, the largest |value| (sparse maps, e.g. one neuron's receptive field); 1 for an all-zero map.
Colour positions in [0, 1]: ``0.5 + v / (2 clip)`` signed, ``|v| / clip`` otherwise, clipped; the colormap is
the chosen one either way.

An activation map ``(h, w)`` is coloured after scaling to its own largest finite value ``m``: position
``v / m`` clipped to [0, 1] (0 for NaN, and everywhere when ``m <= 0``), shown on a 256-entry colormap. The
view receives exactly those 256 steps (:func:`activation_codes`), a quarter of the float32 bytes.
"""

from __future__ import annotations

import numpy as np


def display_map(attribution: np.ndarray, signed: bool) -> np.ndarray:
    """``(C, H, W)`` -> ``(H, W)``: the channel sum (signed) or max over channels of |value|."""
    values = attribution.astype(np.float32)
    return values.sum(axis=0, dtype=np.float32) if signed else np.abs(values).max(axis=0)


def robust_clip(values: np.ndarray, clip_percentile: float) -> float:
    """The value that saturates the display (always > 0); see the module docstring."""
    finite = np.abs(values[np.isfinite(values)]).astype(np.float32)
    if finite.size == 0:
        return 1.0
    q = min(100.0, max(0.0, clip_percentile if np.isfinite(clip_percentile) else 100.0)) / 100
    ordered = np.sort(finite)
    rank = q * (finite.size - 1)
    lo = int(np.floor(rank))
    hi = min(lo + 1, finite.size - 1)
    clip = float(ordered[lo]) + (float(ordered[hi]) - float(ordered[lo])) * (rank - lo)
    if clip > 0:
        return clip
    largest = float(ordered[-1])
    return largest if largest > 0 else 1.0


def colour_positions(values: np.ndarray, signed: bool, clip_percentile: float) -> np.ndarray:
    """Positions along the colormap, in [0, 1] (NaN for non-finite values)."""
    clip = robust_clip(values, clip_percentile)
    t = 0.5 + values / (2 * clip) if signed else np.abs(values) / clip
    return np.clip(t, 0, 1)


def signed_rgb_image(attribution: np.ndarray, clip_percentile: float) -> np.ndarray:
    """A signed attribution ``(C, H, W)`` as an RGB image ``(H, W, 3)`` in [0, 1]: ``0.5 + a / (2 clip)`` per
    colour channel, clip over all channels (Springenberg et al. 2015). One channel is grey; a missing colour
    channel (C = 2) stays neutral (0.5); of 4 or more channels the first three are shown."""
    clip = robust_clip(attribution, clip_percentile)
    channels = attribution.shape[0]
    rows = [attribution[0 if channels == 1 else c] if channels == 1 or c < channels else
            np.zeros(attribution.shape[1:], np.float32) for c in range(3)]
    rgb = np.stack([0.5 + np.nan_to_num(r) / (2 * clip) for r in rows], axis=-1)
    return np.clip(rgb, 0, 1)


def activation_codes(maps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Activation maps ``(K, h, w)`` as the view shows them: ``(codes, maxima)``.

    ``maxima`` (float32, ``(K,)``): each map's largest finite value (-inf when it has none); the view orders
    channels by it and shows it for maps of one unit. ``codes`` (uint8, ``(K, h, w)``): the colormap index of each
    unit, ``round(255 * clip(v / max, 0, 1))`` with halves rounded up as JavaScript's ``Math.round``; 0 for NaN
    and for a map whose maximum is <= 0 (+inf saturates to 255). Colouring the codes gives the same pixels as
    colouring the float32 values did.
    """
    values = np.asarray(maps, dtype=np.float64)
    if values.ndim != 3:
        raise ValueError(f"activation maps have shape (K, h, w); got {values.shape}")
    finite = np.where(np.isfinite(values), values, -np.inf)
    maxima = finite.max(axis=(1, 2), initial=-np.inf) if values.size else np.full(values.shape[0], -np.inf)
    scale = np.where(maxima > 0, maxima, np.inf)[:, None, None]  # v / inf = 0: an all-negative map is all 0
    with np.errstate(invalid="ignore"):
        t = np.clip(np.nan_to_num(values / scale, nan=0.0, posinf=1.0, neginf=0.0), 0.0, 1.0)
    codes = np.floor(255 * t + 0.5).astype(np.uint8)
    return codes, maxima.astype(np.float32)
