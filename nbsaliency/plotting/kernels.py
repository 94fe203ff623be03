"""The kernel grid as a figure: tiles assembled into one mosaic image (one ``imshow``, fast for thousands of
tiles)."""

from __future__ import annotations

import math

import matplotlib
import numpy as np

from ..kernels import KernelGrid
from .display import NotebookFigure
from .mosaic import mosaic


def kernel_grid_figure(grid: KernelGrid, *, columns: int | None = None, max_filters: int = 64,
                       max_inputs: int = 32, title: str | None = None, tile_inches: float = 0.3) -> NotebookFigure:
    """Draw a :class:`~nbsaliency.KernelGrid` (``nbs.kernel_grid(model, layer)``).

    RGB grids: one colour tile per filter, ``columns`` per row (default: a near-square grid). Per-input grids:
    one row per filter (the first ``max_filters``), one column per input channel (the first ``max_inputs``),
    in a diverging colormap for ``"signed"`` (red positive, blue negative, white zero) or grey for ``"minmax"``.
    """
    tiles = grid.tiles.numpy()
    shown = min(max_filters, tiles.shape[0])
    if grid.rgb:
        columns = columns or math.ceil(math.sqrt(shown))
        rows = math.ceil(shown / columns)
        image = mosaic(tiles[:shown].transpose(0, 2, 3, 1), rows, columns)
        size = (columns, rows)
    else:
        inputs = min(max_inputs, tiles.shape[1])
        rows, columns = shown, inputs
        image = mosaic(tiles[:shown, :inputs].reshape(-1, *tiles.shape[2:]), rows, columns)
        cmap, size = ("RdBu_r" if grid.mapping == "signed" else "gray"), (columns, rows)
    kh = tiles.shape[2]
    figure = NotebookFigure(figsize=(max(2.5, size[0] * tile_inches * kh / 3),
                                     max(2.0, size[1] * tile_inches * kh / 3 + 0.5)), layout="constrained")
    ax = figure.subplots()
    if grid.rgb:  # gaps white
        ax.imshow(np.where(np.isnan(image), 1.0, image), interpolation="nearest")
    else:  # gaps dark grey: white is a zero weight in the diverging map
        colours = matplotlib.colormaps[cmap].with_extremes(bad="0.25")
        ax.imshow(np.ma.masked_invalid(image), cmap=colours, vmin=0, vmax=1, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    if not grid.rgb:
        ax.set_xlabel(f"input channel (first {columns} of {tiles.shape[1]})" if columns < tiles.shape[1]
                      else "input channel")
        ax.set_ylabel(f"filter (first {rows} of {tiles.shape[0]})" if rows < tiles.shape[0] else "filter")
    zero = "grey" if grid.rgb else "white"
    mapping = f"{zero} = 0, per-filter max |w|" if grid.mapping == "signed" else "per-filter min-max"
    default = f"{grid.layer}: {tiles.shape[0]} filters {kh}x{tiles.shape[3]} ({mapping})"
    ax.set_title(title or default, fontsize=9)
    return figure
