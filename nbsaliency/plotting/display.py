"""A matplotlib ``Figure`` that shows as an image in a notebook.

A bare ``matplotlib.figure.Figure`` (made without pyplot, so that drawing is thread-safe and leaves no global
figure behind) has no rich representation: ``display(figure)`` prints ``<Figure size ... with N Axes>``.
:class:`NotebookFigure` adds ``_repr_png_``, so IPython, nbconvert and nbclient store an ``image/png`` output.
"""

from __future__ import annotations

import io

from matplotlib.figure import Figure


class NotebookFigure(Figure):
    """``matplotlib.figure.Figure`` with a PNG representation for notebooks (``dpi`` 100 by default)."""

    png_dpi: float = 100

    def to_png(self, dpi: float | None = None) -> bytes:
        """The figure rendered as PNG bytes (tight bounding box)."""
        buffer = io.BytesIO()
        self.savefig(buffer, format="png", dpi=dpi or self.png_dpi, bbox_inches="tight")
        return buffer.getvalue()

    def _repr_png_(self) -> bytes:
        return self.to_png()
