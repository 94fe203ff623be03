"""Engine-level matplotlib figures (no widget code here): every helper returns a :class:`NotebookFigure`,
which a notebook shows as a PNG image, also without pyplot's inline backend."""

from .display import NotebookFigure

__all__ = ["NotebookFigure"]
