/**
 * Pure helpers of the activation-map grid for layers with thousands of channels: the order tiles are shown
 * in (from each channel's maximum, which the kernel sends), the strongest channel, and which tiles a scrolled window needs (only those are built and painted).
 * No DOM.
 */

export type ChannelOrder = "index" | "strongest";

/** Channel indices in display order: by index, or strongest first (largest maximum; ties by index). */
export function channelOrder(maxima: ArrayLike<number>, order: ChannelOrder): number[] {
  const idx = Array.from({ length: maxima.length }, (_, k) => k);
  if (order === "strongest") idx.sort((a, b) => maxima[b] - maxima[a] || a - b);
  return idx;
}

/** The channel with the largest maximum (the lowest index among equals); -1 when there is none. */
export function strongestChannel(maxima: ArrayLike<number>): number {
  let best = -1;
  for (let k = 0; k < maxima.length; k++) if (best < 0 || maxima[k] > maxima[best]) best = k;
  return best;
}

export interface GridGeometry {
  /** Tiles per row. */
  columns: number;
  /** Height of one row of tiles, gap included (CSS px). */
  rowHeight: number;
  /** Number of tiles. */
  count: number;
}

/** Tiles per row that fit `width` CSS px: tiles of `tile` px with `gap` px between them (at least one). */
export function columnsFor(width: number, tile: number, gap: number): number {
  return Math.max(1, Math.floor((width + gap) / (tile + gap)));
}

/**
 * The tile positions [start, end) a scroll box shows at `scrollTop` with `viewHeight` px visible, whole rows
 * plus `overscan` rows either side (so a short scroll shows painted tiles).
 */
export function visibleTiles(g: GridGeometry, scrollTop: number, viewHeight: number, overscan = 2): [number, number] {
  if (g.count === 0 || g.rowHeight <= 0) return [0, 0];
  const first = Math.max(0, Math.floor(scrollTop / g.rowHeight) - overscan);
  const last = Math.ceil((scrollTop + viewHeight) / g.rowHeight) + overscan;
  return [Math.min(g.count, first * g.columns), Math.min(g.count, last * g.columns)];
}

/** The scrollTop that brings tile position `i` into view (unchanged when it is already wholly visible). */
export function scrollToTile(g: GridGeometry, i: number, scrollTop: number, viewHeight: number): number {
  const top = Math.floor(i / g.columns) * g.rowHeight;
  if (top < scrollTop) return top;
  if (top + g.rowHeight > scrollTop + viewHeight) return Math.max(0, top + g.rowHeight - viewHeight);
  return scrollTop;
}
