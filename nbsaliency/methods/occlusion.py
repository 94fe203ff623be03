"""Occlusion sensitivity: the "lesion" view."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from ..targets import Target
from .perturbed import perturbed_values
from .registry import register

if TYPE_CHECKING:  # methods receive a Session; only session.py builds one (no import cycle)
    from ..session import Session


def _starts(size: int, window: int, stride: int) -> list[int]:
    starts = list(range(0, max(size - window, 0) + 1, stride))
    if starts[-1] + window < size:  # cover the border
        starts.append(size - window)
    return starts


class _OccludedCopies:
    """The K occluded copies ``(K, N, C, H, W)`` of ``x``, one per box, made only when a chunk is asked for
    (all at once they take K times the input's memory: 225 copies at 224 px with the default window)."""

    def __init__(self, x: Tensor, boxes: list[tuple[int, int]], window: int, fill: float):
        self.x, self.boxes, self.window, self.fill = x, boxes, window, fill
        self.shape = (len(boxes), *x.shape)

    def __getitem__(self, chunk: slice) -> Tensor:
        boxes = self.boxes[chunk]
        copies = self.x.repeat(len(boxes), 1, 1, 1, 1)
        for k, (y, x0) in enumerate(boxes):
            copies[k, :, :, y:y + self.window, x0:x0 + self.window] = self.fill
        return copies


@register("occlusion", label="Occlusion", reuses_forward=False,
          citation="Zeiler & Fergus 2014, Visualizing and Understanding Convolutional Networks, Sec. 4.2")
def occlusion(session: Session, targets: Sequence[Target], window: int | None = None, stride: int | None = None,
              fill: float = 0.0, batch_size: int = 64) -> Tensor:
    """Slide a ``window``-pixel square of value ``fill`` over the image; each pixel gets the mean drop of
    the target over the windows that cover it (positive: hiding it lowers the target).

    Defaults: window = an eighth of the longer image side (at least 3 px), stride = half the window.
    Works for any target, including intermediate channels and neurons.
    """
    x = session.x.detach()
    n, c, height, width = x.shape
    window = window or max(3, max(height, width) // 8)
    stride = stride or max(1, window // 2)
    if not 1 <= window <= min(height, width):
        raise ValueError(f"window must be between 1 and {min(height, width)} pixels; got {window}")
    if stride < 1:
        raise ValueError(f"stride must be at least 1; got {stride}")
    boxes = [(y, x0) for y in _starts(height, window, stride) for x0 in _starts(width, window, stride)]
    copies = _OccludedCopies(x, boxes, window, fill)  # made chunk by chunk, not all K at once
    with torch.no_grad():
        clean = torch.stack([t.values(session.recording) for t in targets]).detach()  # (T, N)
    occluded = perturbed_values(session, targets, copies, batch_size)  # (T, K, N)
    drops = clean[:, None] - occluded
    total = x.new_zeros(len(targets), n, height, width)
    covered = x.new_zeros(height, width)
    for k, (y, x0) in enumerate(boxes):
        total[:, :, y:y + window, x0:x0 + window] += drops[:, k, :, None, None]
        covered[y:y + window, x0:x0 + window] += 1
    return (total / covered)[:, :, None].expand(-1, -1, c, -1, -1).contiguous()
