"""Zeiler & Fergus (2014, Fig. 2) as a matplotlib figure: a channel's top patches beside their projections."""

from __future__ import annotations

import math
from collections.abc import Sequence

from ..maps import signed_rgb, to_image
from ..patches import Patch
from .display import NotebookFigure


def top_patches_figure(patches: Sequence[Patch], *, columns: int = 3, title: str | None = None,
                       clip: float = 99.5) -> NotebookFigure:
    """A grid of ``(projection, patch)`` pairs, strongest unit first, each titled with its activation value,
    image index and position. Projections are shown as signed RGB (grey = 0), as in the paper."""
    if not patches:
        raise ValueError("no patches to draw: top_patches returned an empty list")
    rows = math.ceil(len(patches) / columns)
    figure = NotebookFigure(figsize=(2.2 * columns, 1.25 * rows + 0.4), layout="constrained")
    axes = figure.subplots(rows, 2 * columns, squeeze=False)
    for ax in axes.flat:
        ax.set_axis_off()
    for i, patch in enumerate(patches):
        left, right = axes[i // columns, 2 * (i % columns)], axes[i // columns, 2 * (i % columns) + 1]
        left.imshow(signed_rgb(patch.projection.detach().float().cpu(), clip).permute(1, 2, 0).numpy(),
                    interpolation="nearest")
        right.imshow(to_image(patch.image).numpy(), interpolation="nearest", cmap="gray")
        left.set_title(f"{patch.value:.2f}", fontsize=8)
        right.set_title(f"img {patch.image_index} ({patch.y},{patch.x})", fontsize=7)
    first = patches[0]
    figure.suptitle(title or f"{first.layer}, channel {first.channel}", fontsize=10)
    return figure
