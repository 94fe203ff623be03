"""Running top-k of every channel of every layer with a deterministic order, so that an index built batch by
batch, or on shards that are merged, equals the brute-force answer exactly.

Order: activation value descending, then *unit id* ascending, where a unit's id is
``image * h * w + y * w + x`` (so: image index, then y, then x ascending).

All channels of all layers are rows of one accumulator, so a batch costs one reduction pass per layer plus a
fixed number of small operations, not a sort per channel:

1. each ``(image, channel)`` map is cut into blocks of ``S`` units whose maxima are reduced with ``amax``;
2. only blocks whose maximum is above the row's *floor* (its k-th best value so far: units not above it can
   never enter) survive; per row the k+1 best of them are kept, plus every block tied with the (k+1)-th
   (any unit that can still enter lies in a kept block);
3. the kept blocks' units above the floor become candidates; candidates are merged into the running top
   every few batches with one exact sort by (row, value descending, id ascending).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

EMPTY = torch.iinfo(torch.int64).max  # id of an empty slot: sorts after every real unit
BLOCK = 64  # most units per block


def _layout(hw: int) -> tuple[int, bool]:
    """Units per block ``S`` (a divisor of ``hw``, at most :data:`BLOCK`) and whether blocks are strided (unit
    ``s * n + j`` of a map belongs to block ``j``), chosen so that the block-maxima reduction streams through
    memory (measured: strided with >= 32 contiguous blocks, else contiguous blocks of 64 or 32 units)."""
    for size in (64, 32):
        if hw % size == 0 and hw // size >= 32:
            return size, True
    for size in (64, 32):
        if hw % size == 0:
            return size, False
    size = max(d for d in range(1, min(hw, BLOCK) + 1) if hw % d == 0)
    return size, hw // size >= 32


def rank_in_rows(rows: Tensor, values: Tensor, ids: Tensor | None, n_rows: int) -> tuple[Tensor, Tensor]:
    """Order entries by (row ascending, value descending, id ascending); returns the permutation and each
    sorted entry's rank within its row."""
    order = torch.arange(len(rows), device=rows.device) if ids is None else ids.argsort(stable=True)
    order = order[values[order].argsort(descending=True, stable=True)]
    order = order[rows[order].argsort(stable=True)]
    counts = torch.bincount(rows, minlength=n_rows)
    starts = counts.cumsum(0) - counts
    return order, torch.arange(len(rows), device=rows.device) - starts[rows[order]]


def top_per_row(values: Tensor, ids: Tensor, rows: Tensor, n_rows: int, k: int) -> tuple[Tensor, Tensor]:
    """The k best entries of every row as ``(n_rows, k)`` arrays (value -inf / id :data:`EMPTY` where a row
    has fewer)."""
    real = ids != EMPTY
    values, ids, rows = values[real], ids[real], rows[real]
    order, rank = rank_in_rows(rows, values, ids, n_rows)
    keep = rank < k
    top_values = torch.full((n_rows, k), float("-inf"), dtype=values.dtype, device=values.device)
    top_ids = torch.full((n_rows, k), EMPTY, dtype=torch.int64, device=values.device)
    at = (rows[order][keep], rank[keep])
    top_values[at] = values[order][keep]
    top_ids[at] = ids[order][keep]
    return top_values, top_ids


class _ChannelRows:
    """The running top-k table shared by the accumulators: one row per channel of every layer (layer ``l``'s
    channels are rows ``first_row[l]:first_row[l + 1]``), values and unit ids ``(rows, k)``, best first."""

    def __init__(self, k: int, shapes: Sequence[tuple[int, int, int]]):
        self.k = k
        self.shapes = [tuple(s) for s in shapes]
        self.first_row = [0]
        for c, _, _ in self.shapes:
            self.first_row.append(self.first_row[-1] + c)
        self.n_rows = self.first_row[-1]
        self.values: Tensor | None = None  # (rows, k), best first
        self.ids: Tensor | None = None

    def add(self, activations: Sequence[Tensor], first_image: int) -> None:
        """Take one batch (one activation per layer); its images are ``first_image, first_image + 1, ...``."""
        for layer, activation in enumerate(activations):
            self.add_layer(layer, activation)
        self.end_batch(first_image)

    def add_layer(self, layer: int, activation: Tensor, rectifies: int | None = None) -> None:
        raise NotImplementedError

    def end_batch(self, first_image: int) -> None:
        raise NotImplementedError

    def result(self, layer: int) -> tuple[Tensor, Tensor]:
        """Values and unit ids ``(C, k')`` of the ``layer``-th layer, best first; ``k' < k`` only when fewer
        than k candidates exist."""
        assert self.values is not None and self.ids is not None
        values = self.values[self.first_row[layer]:self.first_row[layer + 1]]
        ids = self.ids[self.first_row[layer]:self.first_row[layer + 1]]
        real = int((ids != EMPTY).sum(dim=1).min()) if ids.numel() else 0
        return values[:, :real], ids[:, :real]


class TopAccumulator(_ChannelRows):
    """Exact running top-k of every channel of several layers, fed one batch at a time.

    ``shapes`` lists each layer's ``(C, h, w)``. Per batch, :meth:`add_layer` takes each layer's ``(B, C, h, w)``
    activation (best called right after the layer produced it, while it is still in cache; it keeps only the
    blocks above the floor) and :meth:`end_batch` merges them; :meth:`add` does both for a list of
    activations. :meth:`result` gives a layer's values and unit ids, each ``(C, <=k)``.
    """

    merge_every = 8  # batches between exact merges (the floors used in between are a little stale)
    merge_above = 1.0  # ... or when more candidates than ``merge_above * rows * k`` are pending

    def __init__(self, k: int, shapes: Sequence[tuple[int, int, int]]):
        super().__init__(k, shapes)
        self.layouts = [_layout(h * w) for _, h, w in self.shapes]
        self._batch: list[tuple[int, Tensor, Tensor, Tensor]] = []  # (layer, blocks, maxima, units) above floor
        self._batch_size: int | None = None
        self._pending: list[tuple[Tensor, Tensor, Tensor]] = []
        self._pending_batches = 0
        self._pending_size = 0
        self._param_cache: dict[torch.device, Tensor] = {}
        self._floors: list[tuple[Tensor, bool]] = []  # per layer: (C, 1) floor, and whether every row has one

    # -- per batch ---------------------------------------------------------------------------------------
    def add_layer(self, layer: int, activation: Tensor, rectifies: int | None = None) -> None:
        """Reduce one layer's activation of the current batch to its blocks above the floor (and their units).
        (``rectifies`` is accepted for the interface of :class:`PerImageTop` and not used.)"""
        b = activation.shape[0]
        if self.values is None:
            self.values = torch.full((self.n_rows, self.k), float("-inf"), dtype=activation.dtype,
                                     device=activation.device)
            self.ids = torch.full((self.n_rows, self.k), EMPTY, dtype=torch.int64, device=activation.device)
            self._update_floors()
        if self._batch_size not in (None, b):
            raise ValueError(f"layer {layer} has a batch of {b}, other layers of {self._batch_size}")
        self._batch_size = b
        c, h, w = self.shapes[layer]
        size, strided = self.layouts[layer]
        n_blocks = h * w // size
        if activation.dtype != self.values.dtype:
            activation = activation.to(self.values.dtype)
        activation = activation.contiguous()
        if strided:
            view = activation.view(b * c, size, n_blocks)
            maxima = view.amax(dim=1).view(-1)
        else:
            view = activation.view(b * c * n_blocks, size)
            maxima = view.amax(dim=1)
        floor, has_floor = self._floors[layer]
        above = maxima.view(b, c, n_blocks) > floor
        if not has_floor and b * n_blocks > self.k + 1:
            # no floor yet (first batches): blocks below this batch's (k+1)-th best block cannot hold a top unit
            per_channel = maxima.view(b, c, n_blocks).transpose(0, 1).reshape(c, b * n_blocks)
            above &= maxima.view(b, c, n_blocks) >= per_channel.topk(self.k + 1, dim=1).values[:, -1:]
        blocks = above.view(-1).nonzero()[:, 0]
        if len(blocks):
            units = view[blocks // n_blocks, :, blocks % n_blocks] if strided else view.index_select(0, blocks)
            if size < BLOCK:
                units = F.pad(units, (0, BLOCK - size), value=float("-inf"))
            self._batch.append((layer, blocks, maxima[blocks], units))

    def end_batch(self, first_image: int) -> None:
        """Turn the current batch's surviving blocks into candidates and merge when due."""
        if self.values is None:
            return
        floor = self.values[:, self.k - 1]
        if self._batch:
            layers = torch.cat([torch.full_like(blocks, layer) for layer, blocks, _, _ in self._batch])
            blocks = torch.cat([blocks for _, blocks, _, _ in self._batch])
            maxima = torch.cat([maxima for _, _, maxima, _ in self._batch])
            units = torch.cat([units for _, _, _, units in self._batch])
            n_blocks, size, channels, hw, strided, first_row = self._params(blocks.device)[:, layers]
            rows = first_row + (blocks // n_blocks) % channels
            kept, least = self._kept_blocks(maxima, rows)
            blocks, rows, units = blocks[kept], rows[kept], units[kept]
            n_blocks, size, channels, hw, strided = (p[kept] for p in (n_blocks, size, channels, hw, strided))
            image, block = blocks // (channels * n_blocks), blocks % n_blocks
            inside = torch.arange(BLOCK, device=blocks.device)
            positions = torch.where(strided[:, None].bool(), block[:, None] + n_blocks[:, None] * inside,
                                    block[:, None] * size[:, None] + inside)
            ids = (image[:, None] + first_image) * hw[:, None] + positions
            useful = ((units > floor[rows][:, None]) & (units >= least[rows][:, None])).view(-1).nonzero()[:, 0]
            self._pending.append((units.view(-1)[useful], ids.view(-1)[useful], rows.repeat_interleave(BLOCK)[useful]))
            self._pending_size += len(useful)
        self._batch, self._batch_size = [], None
        self._pending_batches += 1
        if self._pending_batches >= self.merge_every or self._pending_size > self.merge_above * self.values.numel() \
                or bool(torch.isinf(floor).any()):
            self.flush()

    def _params(self, device: torch.device) -> Tensor:
        """Per layer (columns): blocks per map, units per block, channels, h * w, strided, first row."""
        if device not in self._param_cache:
            columns = [(h * w // size, size, c, h * w, int(strided), first)
                       for (c, h, w), (size, strided), first in zip(self.shapes, self.layouts, self.first_row,
                                                                     strict=False)]
            self._param_cache[device] = torch.tensor(columns, device=device).T.contiguous()
        return self._param_cache[device]

    def _kept_blocks(self, maxima: Tensor, rows: Tensor) -> tuple[Tensor, Tensor]:
        """Per row the k+1 blocks with the largest maxima, plus blocks tied with the (k+1)-th: every unit
        left out is then below k+1 kept units, so it cannot be among the k best. Also per row the k-th largest
        block maximum (-inf if fewer): a unit below it has k better units, so it cannot enter either."""
        order, rank = rank_in_rows(rows, maxima, None, self.n_rows)
        rows, maxima = rows[order], maxima[order]
        edge = torch.full((self.n_rows,), float("-inf"), dtype=maxima.dtype, device=maxima.device)
        least = edge.clone()
        at_edge, at_least = rank == self.k, rank == self.k - 1
        edge[rows[at_edge]] = maxima[at_edge]
        least[rows[at_least]] = maxima[at_least]
        return order[(rank <= self.k) | (maxima == edge[rows])], least

    def flush(self) -> None:
        """Merge the pending candidates into the running top (exact)."""
        if self._pending and self.values is not None:
            values = torch.cat([self.values.reshape(-1)] + [v for v, _, _ in self._pending])
            ids = torch.cat([self.ids.reshape(-1)] + [i for _, i, _ in self._pending])
            rows = torch.arange(self.n_rows, device=values.device).repeat_interleave(self.k)
            rows = torch.cat([rows] + [r for _, _, r in self._pending])
            self.values, self.ids = top_per_row(values, ids, rows, self.n_rows, self.k)
            self._update_floors()
        self._pending, self._pending_batches, self._pending_size = [], 0, 0

    def _update_floors(self) -> None:
        assert self.values is not None
        floor = self.values[:, self.k - 1]
        full = (~torch.isinf(floor)).tolist()
        bounds = zip(self.first_row, self.first_row[1:], strict=False)
        self._floors = [(floor[start:stop, None], all(full[start:stop])) for start, stop in bounds]

    # -- results -----------------------------------------------------------------------------------------
    def result(self, layer: int) -> tuple[Tensor, Tensor]:
        self.flush()
        return super().result(layer)


class PerImageTop(_ChannelRows):
    """Exact running top-k of every channel where each image counts once, with its strongest unit (the first
    in row-major order among equal maxima): the "dataset examples" view, nine different images per channel.

    Same interface and order as :class:`TopAccumulator` (value descending, then unit id, so image index), and
    like it one accumulator for the channels of all layers. A layer costs one ``amax`` over its maps; only maps
    whose maximum beats the channel's current k-th value (its *floor*) are located (``argmax``); a batch ends
    with one merge for all layers. Images arrive in increasing order, so a later image tied with the floor
    cannot enter: comparing with ``>`` is exact.
    """

    def __init__(self, k: int, shapes: Sequence[tuple[int, int, int]]):
        super().__init__(k, shapes)
        self._floors: list[Tensor] = []
        self._floorless: list[bool] = []  # per layer: some channel has fewer than k entries yet
        self._maxima: dict[int, Tensor] = {}  # this batch's per-map maxima, by layer
        self._batch: list[tuple[int, Tensor, Tensor, Tensor]] = []  # (layer, entering maps, maxima, positions)

    def add_layer(self, layer: int, activation: Tensor, rectifies: int | None = None) -> None:
        """Reduce one layer's ``(B, C, h, w)`` activation now (a later in-place op may change it) to the maps
        that beat their channel's floor: their index ``image * C + channel``, maximum and first position.

        ``rectifies``: the layer (of this batch) whose output this one is the ReLU of; its maxima give this
        layer's without reading the activation (``max relu(a) = relu(max a)``; the first maximum of an
        all-zero map is its first unit, which ``argmax`` finds as well)."""
        b, c = activation.shape[:2]
        _, h, w = self.shapes[layer]
        maps = activation.reshape(b * c, h * w)
        source = self._maxima.get(rectifies) if rectifies is not None else None
        best = source.clamp(min=0) if source is not None and source.shape == (b * c,) else maps.amax(dim=1)
        self._maxima[layer] = best
        if self.values is None:
            self.values = torch.full((self.n_rows, self.k), float("-inf"), dtype=best.dtype, device=best.device)
            self.ids = torch.full((self.n_rows, self.k), EMPTY, dtype=torch.int64, device=best.device)
            self._update_floors()
        if best.dtype != self.values.dtype:
            best = best.to(self.values.dtype)
        above = best.view(b, c) > self._floors[layer]
        if b > self.k and self._floorless[layer]:  # first batches: below this batch's k-th best cannot enter
            above &= best.view(b, c) >= best.view(b, c).topk(self.k, dim=0).values[-1]
        entering = above.view(-1).nonzero()[:, 0]
        if len(entering):
            positions = maps.index_select(0, entering).argmax(dim=1)  # the first maximum of each map
            self._batch.append((layer, entering, best[entering], positions))

    def end_batch(self, first_image: int) -> None:
        """Merge the current batch's entering maps (its images are ``first_image, first_image + 1, ...``)."""
        self._maxima = {}
        if not self._batch or self.values is None or self.ids is None:
            self._batch = []
            return
        values, ids, rows = [self.values.view(-1)], [self.ids.view(-1)], [
            torch.arange(self.n_rows, device=self.values.device).repeat_interleave(self.k)]
        for layer, entering, best, positions in self._batch:
            c, h, w = self.shapes[layer]
            values.append(best)
            ids.append((entering // c + first_image) * (h * w) + positions)
            rows.append(entering % c + self.first_row[layer])
        self.values, self.ids = top_per_row(torch.cat(values), torch.cat(ids), torch.cat(rows), self.n_rows, self.k)
        self._update_floors()
        self._batch = []

    def _update_floors(self) -> None:
        assert self.values is not None
        floor = self.values[:, self.k - 1]
        self._floors = [floor[start:stop] for start, stop in zip(self.first_row, self.first_row[1:], strict=False)]
        self._floorless = [bool(torch.isinf(f).any()) for f in self._floors]

def split_ids(ids: Tensor, shape: tuple[int, int, int]) -> tuple[Tensor, Tensor, Tensor]:
    """Unit ids -> (image, y, x)."""
    _, h, w = shape
    images, position = ids.div(h * w, rounding_mode="floor"), ids.remainder(h * w)
    return images, position.div(w, rounding_mode="floor"), position.remainder(w)
