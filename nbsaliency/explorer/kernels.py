"""The kernels panel: the selected convolution's filters beside its activation maps (Krizhevsky et al. 2012,
Fig. 3; :func:`nbsaliency.kernel_grid`).

The view's counterpart is ``js/src/panels/kernels/``. A layer that is no convolution (a ReLU, a pooling) shows
the filters of the last ``Conv2d`` before it (in ``named_modules()`` order) that has as many filters as the
layer has channels, and the answer names that convolution. A first layer (3 inputs) is drawn as colour tiles,
one per filter (up to MAX_FILTERS); a deeper one as grey tiles of the selected channel's filter, one per input
channel (up to MAX_INPUTS). What is left out is said in ``note``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from torch import Tensor, nn

from ..errors import NbsaliencyError, plain_words, report_unexpected
from ..kernels import kernel_grid
from . import protocol
from .answers import Counter, request_id
from .channels import channel_count
from .panel import Panel

MAX_FILTERS = 96
MAX_INPUTS = 64


class KernelsRequestError(NbsaliencyError, ValueError):
    """A kernels request with malformed fields, or for a layer no convolution feeds."""


def convolution_for(model: nn.Module, layer: str, channels: int | None) -> str:
    """``layer`` itself when it is a ``Conv2d``; else the last ``Conv2d`` with ``channels`` filters before it in
    ``named_modules()`` order, or inside it (a block's own convolutions)."""
    modules = dict(model.named_modules())
    name = layer.split("#")[0]
    if name not in modules:
        raise KernelsRequestError(f"unknown layer {layer!r}")
    if isinstance(modules[name], nn.Conv2d):
        return name
    before: list[str] = []  # the convolutions that run before the layer's output: earlier ones and its own parts
    reached = False
    for other, module in modules.items():
        reached = reached or other == name
        if reached and not other.startswith(name + "."):
            if other != name:
                break
            continue
        if isinstance(module, nn.Conv2d) and (channels is None or module.out_channels == channels):
            before.append(other)
    if not before:
        raise KernelsRequestError(f"layer {layer!r} is no convolution and no convolution with {channels} filters "
                                  "comes before it; select a Conv2d layer to see its kernels")
    return before[-1]


def rgba_tiles(tiles: Tensor) -> np.ndarray:
    """[0, 1] tiles ``(n, 3, kh, kw)`` (colour) or ``(n, kh, kw)`` (grey) as uint8 RGBA ``(n, kh, kw, 4)``."""
    values = tiles.detach().float().cpu()
    rgb = values.permute(0, 2, 3, 1) if values.dim() == 4 else values[..., None].expand(*values.shape, 3)
    pixels = (rgb.numpy() * 255).round().astype(np.uint8)
    alpha = np.full((*pixels.shape[:3], 1), 255, dtype=np.uint8)
    return np.ascontiguousarray(np.concatenate([pixels, alpha], axis=3))


def kernel_tiles(model: nn.Module, layer: str, channel: int, channels: int | None) -> dict[str, Any]:
    """What the panel draws for ``(layer, channel)``: the convolution, tiles (uint8 RGBA), tile indices, a note."""
    conv = convolution_for(model, layer, channels)
    grid = kernel_grid(model, conv)
    filters, inputs, kh, kw = grid.shape if not grid.rgb else (grid.shape[0], 3, *grid.shape[2:])
    notes = [] if conv == layer.split("#")[0] else [f"{layer} is no convolution: the kernels of {conv}"]
    if grid.rgb:
        shown = list(range(min(filters, MAX_FILTERS)))
        if len(shown) < filters:
            notes.append(f"the first {len(shown)} of {filters} filters")
        tiles, tile_inputs = rgba_tiles(grid.tiles[: len(shown)]), [-1] * len(shown)
    else:
        if not 0 <= channel < filters:
            raise KernelsRequestError(f"channel {channel} is out of range: {conv!r} has {filters} filters "
                                      f"(valid 0..{filters - 1})")
        tile_inputs = list(range(min(inputs, MAX_INPUTS)))
        if len(tile_inputs) < inputs:
            notes.append(f"the first {len(tile_inputs)} of {inputs} input channels")
        tiles, shown = rgba_tiles(grid.tiles[channel, : len(tile_inputs)]), [channel] * len(tile_inputs)
    return {"conv": conv, "rgb": grid.rgb, "tiles": tiles, "filters": shown, "inputs": tile_inputs,
            "shape": [kh, kw, 4], "note": "; ".join(notes)}


class KernelsPanel(Panel):
    """Answers MSG_KERNELS with MSG_KERNELS_RESULT (weights only: no forward pass; the model is only read)."""

    name = "kernels"
    kinds = (protocol.MSG_KERNELS,)

    def __init__(self, host: Any, **options: Any):
        super().__init__(host)
        self._seq = Counter()

    def handle(self, content: dict[str, Any]) -> None:
        layer, channel = content.get("layer"), content.get("channel")
        drawn: dict[str, Any] = {"conv": "", "rgb": False, "tiles": np.zeros(0, np.uint8), "filters": [],
                                 "inputs": [], "shape": [0, 0, 4], "note": ""}
        error = ""
        try:
            if not isinstance(layer, str):
                raise KernelsRequestError(f"layer must be a string; got {layer!r}")
            if isinstance(channel, bool) or not isinstance(channel, int) or channel < 0:
                raise KernelsRequestError(f"channel must be a whole number >= 0; got {channel!r}")
            drawn = kernel_tiles(self.host.backend.model, layer, channel, channel_count(self.host.backend, layer))
        except Exception as failure:
            report_unexpected(failure)
            error = plain_words(failure)
        self.host.send(protocol.KernelsResultMessage(
            kind="kernels_result", id=request_id(content), seq=self._seq.next(),
            layer=layer if isinstance(layer, str) else "", channel=channel if isinstance(channel, int) else -1,
            conv=drawn["conv"], rgb=drawn["rgb"], filters=drawn["filters"], inputs=drawn["inputs"],
            shape=drawn["shape"], note=drawn["note"], error=error), [drawn["tiles"].tobytes()])
