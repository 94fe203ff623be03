"""A matplotlib figure of what the explorer shows, for papers, slides and static notebook viewers.

It draws with the view's own display definition (:mod:`nbsaliency.explorer.display`): the same map, clip value
and colormap positions as the widget shows for the same display settings."""

from __future__ import annotations

import numpy as np

from ..plotting import NotebookFigure
from .backend import Result
from .display import colour_positions, display_map, signed_rgb_image
from .protocol import COLORMAPS


def explorer_figure(result: Result, *, colormap: str = "inferno", opacity: float = 0.5, signed: bool = False,
                    clip: float = 99.5) -> NotebookFigure:
    """Input with predictions, the attribution heat map over it, and (for DeconvNet / guided-style methods)
    the signed RGB reconstruction, with the same display settings as the widget."""
    image = result.image_rgba[..., :3]
    heat = colour_positions(display_map(result.attribution, signed), signed, clip)
    cmap = colormap if colormap in COLORMAPS else "inferno"
    panels = 3 if result.rgb_view else 2
    figure = NotebookFigure(figsize=(3.2 * panels, 3.4), layout="constrained")
    axes = figure.subplots(1, panels)
    top = result.predictions[0] if result.predictions else None
    axes[0].imshow(image, interpolation="nearest")
    axes[0].set_title(f"{top.label} ({top.probability:.0%})" if top else "input", fontsize=10)
    axes[1].imshow(image, interpolation="nearest")
    axes[1].imshow(heat, cmap=cmap, vmin=0.0, vmax=1.0, alpha=float(np.clip(opacity, 0, 1)), interpolation="nearest")
    selection = result.selection
    layer = result.method_layer or selection.layer  # the layer the method used (Grad-CAM's may differ: noted)
    axes[1].set_title(f"{selection.method}: {selection.target} ({layer})", fontsize=10)
    if result.notes:
        figure.supxlabel("\n".join(result.notes), fontsize=7, wrap=True)
    if result.rgb_view:
        axes[2].imshow(signed_rgb_image(result.attribution, clip), interpolation="nearest")
        axes[2].set_title("signed RGB", fontsize=10)
    for ax in axes:
        ax.set_axis_off()
    return figure


def figure_png(figure: NotebookFigure) -> bytes:
    return figure.to_png(dpi=80)
