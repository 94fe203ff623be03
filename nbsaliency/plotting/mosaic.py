"""Tiles laid out in one image, so a grid of thousands of small pictures is one ``imshow``."""

from __future__ import annotations

import numpy as np


def mosaic(tiles: np.ndarray, rows: int, columns: int, pad: int = 1) -> np.ndarray:
    """``tiles`` ``(n, h, w[, 3])`` laid out row by row in a ``rows x columns`` grid with ``pad`` pixels of NaN
    between them: ``(rows (h + pad) - pad, columns (w + pad) - pad[, 3])``."""
    n, h, w = tiles.shape[:3]
    if n > rows * columns:
        raise ValueError(f"{n} tiles do not fit a {rows} x {columns} grid")
    out = np.full((rows * (h + pad) - pad, columns * (w + pad) - pad, *tiles.shape[3:]), np.nan)
    for i in range(n):
        r, c = divmod(i, columns)
        out[r * (h + pad):r * (h + pad) + h, c * (w + pad):c * (w + pad) + w] = tiles[i]
    return out
