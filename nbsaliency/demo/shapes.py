"""Procedural shape images with ground-truth object masks, for checking what a saliency map points at.

Each image holds one flat-coloured object (the class) on a textured background: a random colour gradient,
soft low-frequency blobs, sometimes stripes, a few small soft "distractor" blobs (background, never in the
mask) and grey per-pixel grain. Masks are exact: the object is drawn without anti-aliasing,
so ``mask`` is precisely the set of pixels that got the object's colour. Evaluating saliency against known
object masks follows the "pointing game" of Zhang et al., "Top-down Neural Attention by Excitation
Backprop" (ECCV 2016).

Why the mask is checkable: object and background live in disjoint luminance bands (one dark, one light,
chosen at random per image). Every background pixel is a convex mix of colours from its band plus at most
``TEXTURE`` of grain, so its luminance stays at least ``CONTRAST`` away from the object's.
After compositing, every pixel gets at most ``NOISE`` of uniform noise per channel. Hence, before clipping
to [0, 1] (which only moves pixels closer to their clean value):

* inside the mask, ``|image - colour| <= NOISE`` in every channel;
* outside the mask, ``|luminance(image) - luminance(colour)| >= CONTRAST - NOISE``.

Generation is vectorised with numpy per chunk of ``CHUNK`` images; chunk ``c`` draws from
``numpy.random.default_rng([seed, c])``, so ``generate(n, seed)`` is a prefix of ``generate(m, seed)`` for
``n <= m`` and every chunk holds each class equally often.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

CLASS_NAMES: tuple[str, ...] = ("disc", "square", "triangle", "cross", "ring", "diamond", "star")
CHUNK = 32 * len(CLASS_NAMES)  # images generated per random stream; a multiple of the class count
LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)  # Rec. 601 luminance weights
DARK = (0.05, 0.35)  # luminance band of the dark side
LIGHT = (0.65, 0.95)  # luminance band of the light side
TEXTURE = 0.05  # max grey grain on the background, added before the object is drawn
NOISE = 0.03  # max per-channel noise, added to the whole image after compositing
CONTRAST = LIGHT[0] - DARK[1] - TEXTURE  # min luminance gap between object colour and clean background


def luminance(rgb: np.ndarray, axis: int = -1) -> np.ndarray:
    """Rec. 601 luminance along ``axis`` (the channel axis)."""
    return np.tensordot(np.moveaxis(rgb, axis, -1), LUMA, axes=1)


class Shapes(NamedTuple):
    """A batch of generated images as numpy arrays (channels first, like torch)."""

    images: np.ndarray  # (n, 3, size, size) float32 in [0, 1]
    labels: np.ndarray  # (n,) int64 index into CLASS_NAMES
    masks: np.ndarray  # (n, size, size) bool, exactly the object's pixels
    colors: np.ndarray  # (n, 3) float32, the object's clean colour


def _uniform(rng: np.random.Generator, lo: float, hi: float, shape: tuple[int, ...]) -> np.ndarray:
    return (lo + (hi - lo) * rng.random(shape, dtype=np.float32)).astype(np.float32)


def _colors_with_luminance(rng: np.random.Generator, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Random colours (n, 3) whose luminance is uniform in [lo, hi] (per row).

    A uniform RGB colour is scaled towards black or white until it has the target luminance; both moves
    keep it inside the unit cube.
    """
    rgb = rng.random((len(lo), 3), dtype=np.float32)
    target = (lo + (hi - lo) * rng.random(len(lo), dtype=np.float32))[:, None]
    lum = luminance(rgb)[:, None].clip(1e-3, 1 - 1e-3)
    darker = rgb * target / lum
    lighter = 1.0 - (1.0 - rgb) * (1.0 - target) / (1.0 - lum)
    return np.where(target < lum, darker, lighter).astype(np.float32)


def _composite(alphas: list[np.ndarray], colors: list[np.ndarray]) -> np.ndarray:
    """Paint flat colours (n, 3) one over the other with opacities (n, H, W); the first must be opaque.

    Painting "over" makes each pixel a convex mix of the colours, with weight
    ``alpha_k * prod_{j > k} (1 - alpha_j)`` for layer k; one batched matmul then mixes all channels.
    """
    n, h, w = alphas[0].shape
    mix = np.empty((n, len(alphas), h, w), np.float32)
    remain = np.ones((n, h, w), np.float32)
    for k in reversed(range(len(alphas))):
        np.multiply(alphas[k], remain, out=mix[:, k])
        remain -= mix[:, k]
    return (np.stack(colors, axis=2) @ mix.reshape(n, len(alphas), h * w)).reshape(n, 3, h, w)


def _background(rng: np.random.Generator, size: int, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Clean backgrounds (n, 3, size, size), every pixel a mix of colours from the luminance band [lo, hi].

    A linear colour gradient, three soft low-frequency blobs, stripes on about a third of the images and
    up to three distractors: small soft round blobs, which no class resembles.
    """
    n = len(lo)
    coords = (np.arange(size, dtype=np.float32) + 0.5) / size  # pixel centres in [0, 1]
    x, y = coords[None, None, :], coords[None, :, None]  # separable: (1, 1, W) and (1, H, 1)

    def column(lo_: float, hi_: float) -> np.ndarray:
        return _uniform(rng, lo_, hi_, (n, 1, 1))

    def blob(sigma_lo: float, sigma_hi: float, amp: np.ndarray) -> np.ndarray:
        cy, cx, sigma = column(0, 1), column(0, 1), column(sigma_lo, sigma_hi)
        gx, gy = np.exp(-((x - cx) ** 2) / (2 * sigma**2)), np.exp(-((y - cy) ** 2) / (2 * sigma**2))
        gx[gx < 1e-4], gy[gy < 1e-4] = 0, 0  # cut the tails: denormal floats are very slow arithmetic
        return amp * gy * gx

    angle = column(0, 2 * np.pi)
    gradient = (np.cos(angle) * (x - 0.5) + np.sin(angle) * (y - 0.5)) * np.float32(0.5**0.5) + 0.5
    alphas = [np.ones((n, size, size), np.float32), gradient]
    alphas += [blob(0.12, 0.3, column(0, 0.8)) for _ in range(3)]
    # Stripes: 0.5 + 0.5 * sin(a + b) with a along x and b along y, expanded to stay separable.
    angle, freq, phase = column(0, np.pi), column(4, 10), column(0, 2 * np.pi)  # freq: periods per width
    a, b = 2 * np.pi * freq * np.cos(angle) * x + phase, 2 * np.pi * freq * np.sin(angle) * y
    wave = 0.5 + 0.5 * (np.sin(a) * np.cos(b) + np.cos(a) * np.sin(b))
    alphas.append((rng.random((n, 1, 1)) < 0.35) * column(0.3, 0.7) * wave)
    alphas += [blob(0.02, 0.05, (rng.random((n, 1, 1)) < 0.5).astype(np.float32)) for _ in range(3)]
    return _composite(alphas, [_colors_with_luminance(rng, lo, hi) for _ in alphas])


# Inside tests in the object's frame: (u, v) are pixel offsets from the centre, rotated and divided by the
# object's radius, so every shape fits in the disc u**2 + v**2 <= EXTENT**2.
EXTENT = 1.0


def _disc(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    return u**2 + v**2 <= 1.0


def _ring(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    r2 = u**2 + v**2
    return (r2 <= 1.0) & (r2 >= 0.55**2)


def _square(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    return np.maximum(np.abs(u), np.abs(v)) <= 0.7


def _diamond(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    return np.abs(u) / 0.6 + np.abs(v) <= 1.0  # a rhombus standing on its tip, narrower than tall


def _cross(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    au, av = np.abs(u), np.abs(v)
    return ((au <= 0.3) & (av <= 0.95)) | ((av <= 0.3) & (au <= 0.95))


def _triangle(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Equilateral triangle with circumradius 1: inside its three edges at distance 1/2 from the centre."""
    inside = np.ones(u.shape, dtype=bool)
    for k in range(3):
        a = np.pi / 2 + np.pi / 3 + 2 * np.pi * k / 3  # outward normal of edge k
        inside &= u * np.cos(a) + v * np.sin(a) <= 0.5
    return inside


def _star(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Five-pointed star, outer radius 1, inner radius 0.42, straight edges.

    The angle is folded into the wedge between a tip (angle 0) and the next inner corner (angle pi/5);
    there the star is the part of the wedge on the centre's side of the tip-to-corner edge.
    """
    inner, wedge = 0.42, np.pi / 5
    rho = np.sqrt(u**2 + v**2)
    phi = np.mod(np.arctan2(v, u), 2 * wedge)
    phi = np.minimum(phi, 2 * wedge - phi)
    qx, qy = rho * np.cos(phi), rho * np.sin(phi)
    ex, ey = inner * np.cos(wedge) - 1.0, inner * np.sin(wedge)  # edge from tip (1, 0) to inner corner
    return ex * qy - ey * (qx - 1.0) >= 0.0  # same side as the centre, where the cross product is ey > 0


# Per class: inside test and the range of rotations that keeps the name honest (squares and diamonds
# stay near upright so that one is never the other turned by 45 degrees).
_SHAPES: dict[str, tuple[Callable[[np.ndarray, np.ndarray], np.ndarray], float]] = {
    "disc": (_disc, 0.0),
    "square": (_square, np.pi / 9),
    "triangle": (_triangle, np.pi),
    "cross": (_cross, np.pi / 4),
    "ring": (_ring, 0.0),
    "diamond": (_diamond, np.pi / 9),
    "star": (_star, np.pi),
}
assert tuple(_SHAPES) == CLASS_NAMES


def _objects(rng: np.random.Generator, labels: np.ndarray, size: int) -> np.ndarray:
    """Masks (n, size, size) of one randomly placed, scaled and rotated object per image."""
    n = len(labels)
    radius = rng.uniform(0.18, 0.36, n).astype(np.float32) * size
    margin = radius * EXTENT + 1.0
    cy = margin + rng.random(n, dtype=np.float32) * (size - 2 * margin)
    cx = margin + rng.random(n, dtype=np.float32) * (size - 2 * margin)
    turn = rng.uniform(-1.0, 1.0, n).astype(np.float32)  # scaled by each class's rotation range below
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5
    masks = np.zeros((n, size, size), dtype=bool)
    for label, (inside, max_turn) in enumerate(_SHAPES.values()):
        idx = np.flatnonzero(labels == label)
        if len(idx) == 0:
            continue
        theta = (turn[idx] * max_turn)[:, None, None]
        dy, dx = ys - cy[idx, None, None], xs - cx[idx, None, None]
        r = radius[idx, None, None]
        u = (np.cos(theta) * dx + np.sin(theta) * dy) / r
        v = (-np.sin(theta) * dx + np.cos(theta) * dy) / r
        masks[idx] = inside(u, v)
    return masks


def _chunk(rng: np.random.Generator, size: int) -> Shapes:
    """CHUNK images, each class equally often, in random order."""
    n = CHUNK
    labels = rng.permutation(np.arange(n) % len(CLASS_NAMES)).astype(np.int64)
    dark_object = rng.random(n) < 0.5
    dark_lo, dark_hi, light_lo, light_hi = (np.full(n, v, np.float32) for v in (*DARK, *LIGHT))
    colors = _colors_with_luminance(
        rng, np.where(dark_object, dark_lo, light_lo), np.where(dark_object, dark_hi, light_hi)
    )
    img = _background(rng, size, np.where(dark_object, light_lo, dark_lo), np.where(dark_object, light_hi, dark_hi))
    img += _uniform(rng, -TEXTURE, TEXTURE, (n, 1, size, size))  # grey grain, before the object
    masks = _objects(rng, labels, size)
    np.copyto(img, colors[:, :, None, None], where=masks[:, None])
    img += _uniform(rng, -NOISE, NOISE, img.shape)
    return Shapes(np.clip(img, 0.0, 1.0, out=img), labels, masks, colors)


def generate(n: int, seed: int, size: int = 64) -> Shapes:
    """``n`` shape images of ``size`` x ``size`` pixels, deterministic in ``seed`` (an int >= 0)."""
    if n < 0 or size < 8:
        raise ValueError(f"need n >= 0 and size >= 8, got n={n}, size={size}")
    out = Shapes(
        np.empty((n, 3, size, size), np.float32),
        np.empty(n, np.int64),
        np.empty((n, size, size), bool),
        np.empty((n, 3), np.float32),
    )
    for start in range(0, n, CHUNK):
        part = _chunk(np.random.default_rng([seed, start // CHUNK]), size)
        for dst, src in zip(out, part, strict=True):
            dst[start : start + CHUNK] = src[: n - start]
    return out
