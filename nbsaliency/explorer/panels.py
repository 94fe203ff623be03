"""The Explorer's panels, in the order the view shows them; each registers its own message kinds and traits."""

from __future__ import annotations

from .attribution import AttributionPanel
from .embedding import EmbeddingPanel
from .kernels import KernelsPanel
from .lesion import LesionPanel
from .optimization import OptimizationPanel
from .panel import Panel
from .patches import PatchesPanel

PANELS: tuple[type[Panel], ...] = (AttributionPanel, KernelsPanel, LesionPanel, PatchesPanel, EmbeddingPanel,
                                   OptimizationPanel)
