/** Pure drawing of the kernels panel: tiles laid out in a grid, with one tile framed. */

export interface TileLayout {
  columns: number;
  rows: number;
  /** Width and height of the composed picture, in pixels (tiles, a one-pixel gap around each). */
  width: number;
  height: number;
}

/** A near-square grid for `n` tiles of `kh` x `kw` pixels with a one-pixel gap (at most `maxColumns` wide). */
export function tileLayout(n: number, kh: number, kw: number, maxColumns = 16): TileLayout {
  if (n <= 0 || kh <= 0 || kw <= 0) return { columns: 0, rows: 0, width: 0, height: 0 };
  const columns = Math.max(1, Math.min(maxColumns, Math.ceil(Math.sqrt(n))));
  const rows = Math.ceil(n / columns);
  return { columns, rows, width: columns * (kw + 1) + 1, height: rows * (kh + 1) + 1 };
}

export const GAP = [40, 40, 40, 255] as const;
export const FRAME = [255, 196, 0, 255] as const;

/**
 * The tiles (`n` RGBA tiles of `kh` x `kw`, in order) composed into one RGBA picture of `layout`: gaps in GAP,
 * and the gap around tile `framed` (-1: none) in FRAME.
 */
export function composeTiles(
  tiles: Uint8Array | Uint8ClampedArray,
  n: number,
  kh: number,
  kw: number,
  layout: TileLayout,
  framed = -1,
): Uint8ClampedArray<ArrayBuffer> {
  if (tiles.length !== n * kh * kw * 4) throw new Error(`expected ${n} tiles of ${kh}x${kw} RGBA, got ${tiles.length} bytes`);
  const { width, height, columns } = layout;
  const out = new Uint8ClampedArray(width * height * 4);
  for (let i = 0; i < width * height; i++) out.set(GAP, 4 * i);
  for (let t = 0; t < n; t++) {
    const top = Math.floor(t / columns) * (kh + 1) + 1;
    const left = (t % columns) * (kw + 1) + 1;
    if (t === framed) {
      for (let y = top - 1; y <= top + kh; y++) {
        for (let x = left - 1; x <= left + kw; x++) out.set(FRAME, 4 * (y * width + x));
      }
    }
    for (let y = 0; y < kh; y++) {
      const from = 4 * (t * kh * kw + y * kw);
      out.set(tiles.subarray(from, from + 4 * kw), 4 * ((top + y) * width + left));
    }
  }
  return out;
}

/** A whole-number magnification that makes a picture `width` pixels wide about `target` pixels wide (1..32). */
export function magnification(width: number, target = 256): number {
  if (width <= 0) return 1;
  return Math.max(1, Math.min(32, Math.floor(target / width)));
}
