"""Running top-k of every channel with a deterministic order, so that an index built batch by batch, or on
shards that are merged, equals the brute-force answer exactly.

Order: activation value descending, then *unit id* ascending, where a unit's id is
``image * h * w + y * w + x`` (so: image index, then y, then x ascending).

Finding a batch's candidates costs about one reduction pass over the activation, not a sort: each
``(image, channel)`` map is cut into blocks of ``S`` consecutive units, the block maxima are reduced with
``amax``, the k+1 best blocks of each channel (over the whole batch) are picked with a small ``topk`` and only
their units are ranked. Layers of the same shape are ranked together, so the number of small operations per
batch grows with the number of distinct shapes, not of layers. The k best units always lie in those blocks
unless the k-th value is tied with the (k+1)-th; such channels (dead ReLU maps, overlapping max-pools) are
resolved exactly by :func:`_first_tied`, which also only reads block summaries and a few blocks.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

EMPTY = torch.iinfo(torch.int64).max  # id of an empty candidate slot: sorts after every real unit


def block_size(hw: int, n_maps: int, k: int) -> int:
    """Units per block: a divisor of ``hw`` near ``sqrt(n_maps * hw / (k + 1))``, which balances ranking the
    ``n_maps * hw / S`` block maxima against ranking the ``(k + 1) * S`` units of the picked blocks."""
    best = max(1.0, (n_maps * hw / (k + 1)) ** 0.5)
    return max(d for d in range(1, min(hw, int(best)) + 1) if hw % d == 0)


def batch_candidates(activations: Sequence[Tensor], k: int) -> list[tuple[Tensor, Tensor]]:
    """For each channel of each activation, candidates that contain its k best units of this batch.

    ``activations`` all have the same shape ``(B, C, h, w)`` (they are processed together: two reductions per
    layer, the rest once per group). Returns per activation values and batch-local unit ids
    ``b * h * w + y * w + x``, each ``(C, m)``; empty slots have id :data:`EMPTY` and value -inf.
    """
    b, c, h, w = activations[0].shape
    g, hw = len(activations), h * w
    size = block_size(hw, b, k)
    n_blocks = hw // size
    blocks = [a.contiguous().view(b * c * n_blocks, size) for a in activations]
    maxima = torch.stack([x.amax(dim=1) if size > 1 else x[:, 0] for x in blocks])  # (G, B * C * n_blocks)
    maxima = maxima.view(g, b, c, n_blocks).transpose(1, 2).reshape(g * c, b * n_blocks)
    n_picked = min(k + 1, b * n_blocks)
    picked = maxima.topk(n_picked, dim=1).indices.view(g, c, n_picked)  # block ids b * n_blocks + block
    channel_rows = torch.arange(c, device=picked.device)[None, :, None] * n_blocks
    rows = (picked // n_blocks) * (c * n_blocks) + channel_rows + picked % n_blocks  # rows of ``blocks``
    units = torch.stack([x.index_select(0, r.reshape(-1)) for x, r in zip(blocks, rows, strict=True)])
    n_best = min(k + 1, n_picked * size)
    values, j = units.view(g * c, n_picked * size).topk(n_best, dim=1)  # sorted descending
    ids = picked.view(g * c, n_picked).gather(1, j // size) * size + j % size
    if n_best > k:
        ambiguous = values[:, k] == values[:, k - 1]
        if bool(ambiguous.any()):
            values, ids = values.clone(), ids.clone()
            for layer in ambiguous.view(g, c).any(dim=1).nonzero()[:, 0].tolist():
                channels = ambiguous.view(g, c)[layer].nonzero()[:, 0]
                at = layer * c + channels
                blocks_4d = activations[layer].contiguous().view(b, c, n_blocks, size)
                tied = _first_tied(blocks_4d, channels, values[at, k - 1], k)
                values[at], ids[at] = _exact_rows(values[at], ids[at], tied, k)
    return list(zip(values.view(g, c, n_best).unbind(0), ids.view(g, c, n_best).unbind(0), strict=True))


def _first_tied(blocks: Tensor, rows: Tensor, threshold: Tensor, k: int) -> Tensor:
    """For channels ``rows``, the ids of the first k units (in id order) equal to ``threshold``; (R, k)."""
    b, _, n_blocks, size = blocks.shape
    equal = blocks[:, rows] == threshold[None, :, None, None]  # (B, R, n_blocks, size)
    equal = equal.permute(1, 0, 2, 3).reshape(len(rows), b * n_blocks, size)
    block_ids = torch.arange(b * n_blocks, device=blocks.device)
    with_tie = torch.where(equal.any(dim=2), block_ids, EMPTY)
    first_blocks = with_tie.topk(min(k, b * n_blocks), dim=1, largest=False).values  # ascending
    used = first_blocks != EMPTY
    first_blocks = torch.where(used, first_blocks, 0)
    hits = equal.gather(1, first_blocks[:, :, None].expand(-1, -1, size)) & used[:, :, None]
    ids = first_blocks[:, :, None] * size + torch.arange(size, device=blocks.device)
    candidates = torch.where(hits, ids, EMPTY).reshape(len(rows), -1)
    return candidates.topk(min(k, candidates.shape[1]), dim=1, largest=False).values


def _exact_rows(values: Tensor, ids: Tensor, tied: Tensor, k: int) -> tuple[Tensor, Tensor]:
    """Exact top-k of tied channels: the units above the tie (sorted already), then the first tied ones;
    the (k+1)-th slot is left empty."""
    threshold = values[:, k - 1:k]
    above = (values[:, :k] > threshold).sum(dim=1, keepdim=True)
    slot = torch.arange(k + 1, device=values.device)[None]
    from_above = slot < above
    fill = tied.gather(1, (slot - above).clamp(0, tied.shape[1] - 1))
    new_ids = torch.where(from_above, ids, fill)
    new_values = torch.where(from_above, values, threshold.expand_as(values))
    new_ids[:, k] = EMPTY
    new_values[:, k] = float("-inf")
    return new_values, new_ids


def select_top(values: Tensor, ids: Tensor, k: int) -> tuple[Tensor, Tensor]:
    """Per row, the k best candidates (value descending, then id ascending): ``(C, M) -> (C, min(k, M))``.

    Columns that would hold only empty slots (fewer than k real units seen) are dropped."""
    order = ids.argsort(dim=1)
    values, ids = values.gather(1, order), ids.gather(1, order)
    order = values.argsort(dim=1, descending=True, stable=True)[:, :k]
    values, ids = values.gather(1, order), ids.gather(1, order)
    real = int((ids != EMPTY).sum(dim=1).min()) if ids.numel() else 0
    return values[:, :real], ids[:, :real]


class RunningTop:
    """The k best units of every channel of one layer seen so far, as values and unit ids ``(C, <=k)``.

    Immutable: :meth:`added` returns a new one. Batches' candidates are merged ``merge_every`` at a time, so
    the per-batch cost is only :func:`batch_candidates`; read :attr:`values` / :attr:`ids` after
    :meth:`flushed`."""

    merge_every = 8

    def __init__(self, k: int, shape: tuple[int, int, int], values: Tensor | None = None, ids: Tensor | None = None,
                 pending: tuple[tuple[Tensor, Tensor], ...] = ()):
        self.k, self.shape = k, shape
        self.values, self.ids = values, ids
        self.pending = pending

    def added(self, candidates: tuple[Tensor, Tensor], first_image: int) -> RunningTop:
        """This running top with one batch's :func:`batch_candidates` added; the batch's images are
        ``first_image, first_image + 1, ...``."""
        values, ids = candidates
        ids = torch.where(ids == EMPTY, EMPTY, ids + first_image * (self.shape[1] * self.shape[2]))
        result = RunningTop(self.k, self.shape, self.values, self.ids, (*self.pending, (values, ids)))
        return result.flushed() if len(result.pending) >= self.merge_every else result

    def flushed(self) -> RunningTop:
        """All pending candidates merged into the top k."""
        if not self.pending:
            return self
        parts = ([(self.values, self.ids)] if self.values is not None else []) + list(self.pending)
        dtype = parts[0][0].dtype
        values = torch.cat([v.to(dtype) for v, _ in parts], dim=1)
        ids = torch.cat([i for _, i in parts], dim=1)
        return RunningTop(self.k, self.shape, *select_top(values, ids, self.k))


def split_ids(ids: Tensor, shape: tuple[int, int, int]) -> tuple[Tensor, Tensor, Tensor]:
    """Unit ids -> (image, y, x)."""
    _, h, w = shape
    images, position = ids.div(h * w, rounding_mode="floor"), ids.remainder(h * w)
    return images, position.div(w, rounding_mode="floor"), position.remainder(w)
