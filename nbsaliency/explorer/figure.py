"""A matplotlib figure of what the explorer shows, for papers, slides and static notebook viewers."""

from __future__ import annotations

import io

import numpy as np
import torch
from matplotlib.figure import Figure

from ..maps import clip_percentile, saliency_map, signed_rgb
from .backend import Result
from .protocol import COLORMAPS


def explorer_figure(result: Result, *, colormap: str = "inferno", opacity: float = 0.5, signed: bool = False,
                    clip: float = 99.5) -> Figure:
    """Input with predictions, the attribution heat map over it, and (for DeconvNet / guided-style methods)
    the signed RGB reconstruction, with the same display settings as the widget."""
    attribution = torch.from_numpy(result.attribution)
    image = result.image_rgba[..., :3]
    if signed:
        heat = clip_percentile(attribution.sum(dim=0), clip).numpy()
        cmap, vmin = "coolwarm", -1.0
    else:
        heat = clip_percentile(saliency_map(attribution), clip).numpy()
        cmap, vmin = (colormap if colormap in COLORMAPS else "inferno"), 0.0
    panels = 3 if result.rgb_view else 2
    figure = Figure(figsize=(3.2 * panels, 3.4), layout="constrained")
    axes = figure.subplots(1, panels)
    top = result.predictions[0] if result.predictions else None
    axes[0].imshow(image, interpolation="nearest")
    axes[0].set_title(f"{top.label} ({top.probability:.0%})" if top else "input", fontsize=10)
    axes[1].imshow(image, interpolation="nearest")
    axes[1].imshow(heat, cmap=cmap, vmin=vmin, vmax=1.0, alpha=float(np.clip(opacity, 0, 1)), interpolation="nearest")
    selection = result.selection
    axes[1].set_title(f"{selection.method}: {selection.target} ({selection.layer})", fontsize=10)
    if result.rgb_view:
        axes[2].imshow(signed_rgb(attribution, clip).permute(1, 2, 0).numpy(), interpolation="nearest")
        axes[2].set_title("signed RGB", fontsize=10)
    for ax in axes:
        ax.set_axis_off()
    return figure


def figure_png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=80)
    return buffer.getvalue()
