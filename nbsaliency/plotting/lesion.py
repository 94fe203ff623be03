"""Lesion studies as a figure: what removing each channel alone costs (sorted), and the target as the most
important channels are removed together, beside baselines such as a random removal order."""

from __future__ import annotations

from collections.abc import Mapping

from ..lesion import LesionCurve, LesionSweep
from .display import NotebookFigure


def lesion_figure(sweep: LesionSweep, curves: Mapping[str, LesionCurve] | None = None, *,
                  top: int = 64, title: str | None = None) -> NotebookFigure:
    """Left: the mean drop of the target when each channel of ``sweep`` is removed alone, largest first (the
    first ``top`` channels, labelled). Right (with ``curves``, e.g. ``{"most important first": ranked,
    "random order": random}``): each curve's mean target against the number of channels removed, the clean
    value dashed."""
    figure = NotebookFigure(figsize=(11 if curves else 6, 3.2), layout="constrained")
    axes = figure.subplots(1, 2 if curves else 1, squeeze=False)[0]
    drops = sweep.mean_drop
    order = drops.argsort(descending=True, stable=True)[:top]
    ax = axes[0]
    ax.bar(range(len(order)), drops[order].numpy(), color="tab:red")
    ax.axhline(0, color="black", lw=0.6)
    ax.set_xticks(range(len(order)), [str(int(sweep.channels[i])) for i in order], fontsize=6, rotation=90)
    ax.set_xlabel(f"channel of {sweep.layer} (removed alone), largest cost first")
    ax.set_ylabel(f"mean drop of {sweep.target}")
    if curves:
        ax = axes[1]
        for name, curve in curves.items():
            ax.plot(curve.k.numpy(), curve.mean.numpy(), marker="o", ms=3, label=name)
        ax.axhline(float(sweep.clean.mean()), color="gray", ls="--", lw=0.8, label="no lesion")
        ax.set_xlabel(f"channels of {sweep.layer} removed together")
        ax.set_ylabel(f"mean {sweep.target}")
        ax.legend(fontsize=8)
    figure.suptitle(title or f"Lesions in {sweep.layer}", fontsize=10)
    return figure
