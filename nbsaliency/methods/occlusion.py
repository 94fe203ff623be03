"""Occlusion sensitivity: the "lesion" view."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from torch import Tensor

from ..targets import Target
from . import options
from .perturbed import Run, clean_values, perturbed_values
from .registry import register

_NAME = "occlusion"

if TYPE_CHECKING:  # methods receive a Session; only session.py builds one (no import cycle)
    from ..session import Session


def _starts(size: int, window: int, stride: int) -> list[int]:
    starts = list(range(0, size - window + 1, stride))
    if starts[-1] + window < size:  # cover the border
        starts.append(size - window)
    return starts


def default_window(height: int, width: int) -> tuple[int, int]:
    """An eighth of the longer image side (at least 3 px), cut to each axis: fits any input, e.g. (7, 1) for a
    60 x 1 image."""
    side = max(3, max(height, width) // 8)
    return min(side, height), min(side, width)


class _OccludedCopies:
    """The K occluded copies ``(K, N, C, H, W)`` of ``x``, one per box, made only when a chunk is asked for
    (all at once they take K times the input's memory: 225 copies at 224 px with the default window)."""

    def __init__(self, x: Tensor, boxes: list[tuple[int, int]], window: tuple[int, int], fill: float):
        self.x, self.boxes, self.window, self.fill = x, boxes, window, fill
        self.shape = (len(boxes), *x.shape)

    def __getitem__(self, chunk: slice) -> Tensor:
        boxes = self.boxes[chunk]
        copies = self.x.repeat(len(boxes), 1, 1, 1, 1)
        wy, wx = self.window
        for k, (y, x0) in enumerate(boxes):
            copies[k, :, :, y:y + wy, x0:x0 + wx] = self.fill
        return copies


@register(_NAME, label="Occlusion", reuses_forward=False,
          citation="Zeiler & Fergus 2014, Visualizing and Understanding Convolutional Networks, Sec. 4.2")
def occlusion(session: Session, targets: Sequence[Target], window: int | tuple[int, int] | None = None,
              stride: int | tuple[int, int] | None = None, fill: float = 0.0, batch_size: int | None = None,
              progress: Callable[[int, int], Any] | None = None, cancel: Any = None) -> Tensor:
    """Slide a ``window`` (pixels: an int, or a ``(height, width)`` pair) of value ``fill`` over the image; each
    pixel gets the mean drop of the target over the windows that cover it (positive: hiding it lowers the target).

    Defaults fit any input: window = an eighth of the longer image side (at least 3 px) cut to each axis
    (:func:`default_window`), stride = half the window per axis (at least 1). A window you choose must lie
    between 1 and the image's size on each axis, a stride between 1 and the window (every pixel is covered).
    Works for any target, including intermediate channels and neurons; a class target records nothing but the
    model's output. ``batch_size``, ``progress(done, total)`` (occluded copies done) and ``cancel`` as in
    :mod:`nbsaliency.methods.perturbed`.
    """
    x = session.x.detach()
    n, c, height, width = x.shape
    sizes = (height, width)
    window = default_window(*sizes) if window is None else options.per_axis(_NAME, "window", window, sizes)
    if stride is None:
        stride = tuple(max(1, w // 2) for w in window)
    else:  # a stride longer than the window would leave pixels that no window covers (0 / 0)
        stride = options.per_axis(_NAME, "stride", stride, window, bound="the window")
    fill = options.number(_NAME, "fill", fill)
    run = Run(_NAME, batch_size, progress, cancel)
    (wy, wx), (sy, sx) = window, stride
    boxes = [(y, x0) for y in _starts(height, wy, sy) for x0 in _starts(width, wx, sx)]
    copies = _OccludedCopies(x, boxes, window, fill)  # made chunk by chunk, not all K at once
    clean = clean_values(session, targets)  # (T, N)
    occluded = perturbed_values(session, targets, copies, run)  # (T, K, N)
    drops = clean[:, None] - occluded
    total = x.new_zeros(len(targets), n, height, width)
    covered = x.new_zeros(height, width)
    for k, (y, x0) in enumerate(boxes):
        total[:, :, y:y + wy, x0:x0 + wx] += drops[:, k, :, None, None]
        covered[y:y + wy, x0:x0 + wx] += 1
    return (total / covered)[:, :, None].expand(-1, -1, c, -1, -1).contiguous()
