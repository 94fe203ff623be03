"""Which axis of a captured layer's output holds its channels, read from the layer's layout (channels-first maps
and flat features: axis 1; channels-last maps and token sequences: the last axis)."""

from __future__ import annotations

from .backend import ExplorerBackend


def channel_axis(backend: ExplorerBackend, layer: str, image_index: int = 0) -> int:
    """The channel axis of ``layer``'s output (with the batch axis): 1 or -1. Errors name a wrong image / layer."""
    kind = backend.session(image_index).layout(layer).kind
    return 1 if kind in ("channels_first", "flat") else -1


def channel_count(backend: ExplorerBackend, layer: str) -> int | None:
    """How many channels ``layer`` has (None for a name the explorer did not capture)."""
    shapes = {name: shape for name, shape, _ in backend.layers}
    if layer not in shapes:
        return None
    shape = shapes[layer]
    return shape[0] if channel_axis(backend, layer) == 1 else shape[-1]
