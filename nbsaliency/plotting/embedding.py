"""Karpathy's CNN-codes figure: the dataset's images drawn as thumbnails at their t-SNE positions, and the same
layout snapped to a full grid (every image in its own cell, neighbours kept as near as possible)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from matplotlib.patches import Rectangle

from ..embedding import Embedding, grid_cells
from .display import NotebookFigure
from .mosaic import mosaic

_COLOURS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown", "tab:pink", "tab:gray",
            "tab:olive", "tab:cyan")


def _thumbnails(images: torch.Tensor | Sequence[torch.Tensor]) -> np.ndarray:
    stacked = torch.stack(list(images)) if not isinstance(images, torch.Tensor) else images
    if stacked.dim() != 4 or stacked.shape[1] not in (1, 3):
        raise ValueError(f"images must be (N, 3, H, W) or (N, 1, H, W) in [0, 1]; got {tuple(stacked.shape)}")
    pictures = stacked.detach().float().cpu().clamp(0, 1).permute(0, 2, 3, 1).numpy()
    return np.repeat(pictures, 3, axis=3) if pictures.shape[3] == 1 else pictures


def embedding_figure(embedding: Embedding, images: torch.Tensor | Sequence[torch.Tensor], *,
                     labels: torch.Tensor | Sequence[int] | None = None, class_names: Sequence[str] | None = None,
                     layout: str = "both", thumbnail: float = 0.06, size: float = 6.0,
                     title: str | None = None) -> NotebookFigure:
    """Draw ``embedding`` (``nbs.tsne(...)``) with ``images`` (the same N images, as displayed: ``(N, 3, H, W)``
    in [0, 1], normalisation undone) as thumbnails.

    ``layout``: ``"scatter"`` (each image at its t-SNE position, ``thumbnail`` wide as a share of the map),
    ``"grid"`` (snapped to distinct cells of a near-square grid, :func:`nbsaliency.embedding.grid_cells`) or
    ``"both"`` side by side. With ``labels`` each scatter thumbnail gets a frame in its class's colour.
    """
    pictures = _thumbnails(images)
    n = embedding.coordinates.shape[0]
    if pictures.shape[0] != n:
        raise ValueError(f"the embedding has {n} points but {pictures.shape[0]} images were given")
    if layout not in ("scatter", "grid", "both"):
        raise ValueError(f'layout must be "scatter", "grid" or "both"; got {layout!r}')
    panels = ["scatter", "grid"] if layout == "both" else [layout]
    figure = NotebookFigure(figsize=(size * len(panels), size + 0.4), layout="constrained")
    axes = figure.subplots(1, len(panels), squeeze=False)[0]
    for ax, panel in zip(axes, panels, strict=True):
        if panel == "scatter":
            _scatter(ax, embedding.coordinates.numpy(), pictures, labels, class_names, thumbnail)
        else:
            _grid(ax, embedding.coordinates, pictures)
        ax.set_axis_off()
    figure.suptitle(title or f"t-SNE of {embedding.layer!r} codes ({n} images)", fontsize=10)
    return figure


def _scatter(ax, points: np.ndarray, pictures: np.ndarray, labels, class_names, thumbnail: float) -> None:
    low, span = points.min(axis=0), np.ptp(points, axis=0)
    unit = (points - low) / np.where(span > 0, span, 1.0)
    half = thumbnail / 2
    label_list = [int(v) for v in labels] if labels is not None else None
    for i, (x, y) in enumerate(unit):
        ax.imshow(pictures[i], extent=(x - half, x + half, y - half, y + half), interpolation="bilinear")
        if label_list is not None:
            colour = _COLOURS[label_list[i] % len(_COLOURS)]
            ax.add_patch(Rectangle((x - half, y - half), thumbnail, thumbnail, fill=False, lw=1.2,
                                   edgecolor=colour))
    ax.set_xlim(-half, 1 + half)
    ax.set_ylim(-half, 1 + half)
    if label_list is not None and class_names is not None:
        for k in sorted(set(label_list)):
            ax.plot([], [], "s", color=_COLOURS[k % len(_COLOURS)], label=class_names[k])
        ax.legend(fontsize=7, loc="upper right", framealpha=0.8)
    ax.set_title("positions", fontsize=9)


def _grid(ax, coordinates: torch.Tensor, pictures: np.ndarray) -> None:
    cells = grid_cells(coordinates).numpy()
    rows, columns = int(cells[:, 0].max()) + 1, int(cells[:, 1].max()) + 1
    tiles = np.full((rows * columns, *pictures.shape[1:]), np.nan)
    tiles[cells[:, 0] * columns + cells[:, 1]] = pictures
    image = mosaic(tiles, rows, columns, pad=0)
    ax.imshow(np.where(np.isnan(image), 1.0, image), interpolation="bilinear")
    ax.set_title("snapped to a grid", fontsize=9)
