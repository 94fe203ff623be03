"""Gradients for the engine's own work, whatever the caller's grad mode.

Users often call explanation code inside ``torch.no_grad()`` (an evaluation loop, a notebook cell copied
from inference code). The engine then enables gradients for its own forward and backward passes only and
restores the caller's mode on the way out. Inside ``torch.inference_mode()`` nothing can be differentiated
(tensors made there never record a graph), so that is refused with an error that says how to fix it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

from .errors import InferenceModeError


def check_not_inference_mode(what: str = "attributions", reason: str | None = None) -> None:
    """Raise :class:`~nbsaliency.errors.InferenceModeError` inside ``torch.inference_mode()``; ``reason`` says
    why ``what`` cannot run there (default: it needs gradients)."""
    if torch.is_inference_mode_enabled():
        why = reason or "they need gradients, and nothing can be differentiated in inference mode"
        raise InferenceModeError(
            f"nbsaliency cannot compute {what} inside torch.inference_mode(): {why}. Call nbsaliency outside that "
            "block (torch.no_grad() is fine: nbsaliency sets the grad mode its own passes need and restores yours "
            "afterwards)"
        )


@contextmanager
def differentiable(what: str = "attributions") -> Iterator[None]:
    """Run the block with gradients enabled (the caller's grad mode restored afterwards, also on error);
    refuse inference mode. Also a decorator: ``@differentiable("receptive fields")``."""
    check_not_inference_mode(what)
    with torch.enable_grad():
        yield
