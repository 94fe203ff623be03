/**
 * The patch grid's logic, without the DOM: which grid to ask the kernel for (following the painted selection,
 * at most one request in flight and one waiting, never the same grid twice in a row), which answers to paint
 * (newest seq only), and the words of the index status line and of each cell.
 */
import { formatValue } from "../../lib/format";
import { type IndexStatus, type PatchInfo, type PatchesResultMessage, isIndexStatus } from "../../protocol";
import { LatestWinsQueue } from "../../lib/queue";

/** What a grid depends on. */
export interface GridKey {
  layer: string;
  channel: number;
  method: string;
}

export function keyOf(sel: GridKey): GridKey {
  return { layer: sel.layer, channel: sel.channel, method: sel.method };
}

export function sameKey(a: GridKey | null, b: GridKey | null): boolean {
  return a !== null && b !== null && a.layer === b.layer && a.channel === b.channel && a.method === b.method;
}

/** The index traits: index_status, index_progress, index_message. */
export interface IndexState {
  status: IndexStatus;
  done: number;
  /** -1 while unknown. */
  total: number;
  message: string;
}

export function indexStateFrom(get: (name: string) => unknown): IndexState {
  const status = get("index_status");
  const progress = get("index_progress");
  const message = get("index_message");
  const [done, total] = Array.isArray(progress) ? progress : [0, -1];
  return {
    status: isIndexStatus(status) ? status : "none",
    done: typeof done === "number" ? done : 0,
    total: typeof total === "number" ? total : -1,
    message: typeof message === "string" ? message : "",
  };
}

/** The status line above the grid. */
export function indexText(s: IndexState): string {
  switch (s.status) {
    case "none":
      return "No patch index yet.";
    case "building":
      return s.total > 0 ? `Indexing the dataset: ${s.done} / ${s.total} images…` : `Indexing the dataset: ${s.done} images…`;
    case "ready":
      return `Strongest units over ${s.total} dataset images; click a patch to open its image.${s.message ? ` (${s.message})` : ""}`;
    case "cancelled":
      return `Indexing cancelled${s.done > 0 ? ` after ${s.done} images` : ""}. Press Build index to see the top patches.`;
    case "error":
      return `Could not build the patch index: ${s.message}`;
  }
}

/** The accessible name of a cell, e.g. "Patch 1: image 17, value 3.21, open". */
export function patchLabel(p: PatchInfo): string {
  return `Patch ${p.rank + 1}: image ${p.image}, value ${formatValue(p.value)}, open`;
}

/** The caption of a painted grid. */
export function gridCaption(msg: PatchesResultMessage, label: (method: string) => string): string {
  const what = `${msg.layer} · channel ${msg.channel} · top ${msg.patches.length} patches`;
  const projection = msg.projection ? ` · projections: ${label(msg.projection)}` : "";
  return `${what}${projection}${msg.note ? ` (${msg.note})` : ""}`;
}

/** Whole-number upscale so that the larger side of an h x w crop is about `target` CSS pixels. */
export function upscale(h: number, w: number, target = 72): number {
  return Math.max(1, Math.floor(target / Math.max(h, w, 1)));
}

/** Fixed CSS px around the crops of a grid row (patches.css): per tile the gap between its two crops (3),
 * padding (2 x 3), border (2 x 2) and the crops' own 1-px borders (2 x 2); between tiles the grid gap (6). */
export const TILE_CHROME = { pair: 3 + 2 * 3 + 2 * 2 + 2 * 2, gap: 6 };

/**
 * CSS px per crop pixel so that `columns` tiles, each an h x w patch beside its projection, fit `width` CSS
 * px: the whole-number `upscale` for small crops, shrunk (also below 1) when the row would overflow, as a
 * late layer's 224-px receptive field does. A width of 0 (not laid out yet) gives `upscale` alone.
 */
export function patchScale(width: number, h: number, w: number, columns = 3): number {
  const scale = upscale(h, w);
  if (width <= 0 || w <= 0) return scale;
  const room = (width - (columns - 1) * TILE_CHROME.gap) / columns - TILE_CHROME.pair;
  return Math.max(0.05, Math.min(scale, room / (2 * w)));
}

/** What to do with an answer. */
export type Verdict = "paint" | "wait" | "ignore";

/**
 * Grid requests of one view. `follow` is called with every painted selection; it asks only when the grid
 * key changed (or the index became ready since), through a latest-wins queue.
 */
export class GridRequests {
  private readonly queue: LatestWinsQueue<GridKey>;
  private wanted: GridKey | null = null;
  private asked: GridKey | null = null;

  constructor(send: (id: number, key: GridKey) => void, firstId = 1) {
    this.queue = new LatestWinsQueue<GridKey>(send, firstId);
  }

  /** The selection shows `key`: ask for its grid unless it was the last one asked for. */
  follow(key: GridKey): boolean {
    this.wanted = keyOf(key);
    if (sameKey(this.asked, this.wanted)) return false;
    this.asked = this.wanted;
    this.queue.submit(this.wanted);
    return true;
  }

  /** Whether `follow(key)` would ask for a grid (it is not the one last asked for). */
  wouldAsk(key: GridKey): boolean {
    return !sameKey(this.asked, keyOf(key));
  }

  /** Ask again for the wanted grid (the index became ready). */
  refresh(): void {
    this.asked = null;
    if (this.wanted !== null) this.follow(this.wanted);
  }

  /** An answer arrived: let the waiting request go, and say whether to paint it. */
  resolve(msg: PatchesResultMessage): Verdict {
    this.queue.resolve(msg.id);
    if (msg.superseded || msg.ready === false) {
      // Not answered with a grid: ask again when it can be (now for superseded, on "ready" otherwise).
      if (sameKey(this.asked, msg)) this.asked = null;
      if (msg.superseded && this.wanted !== null && !this.queue.busy) this.follow(this.wanted);
      return msg.superseded ? "ignore" : "wait";
    }
    return this.queue.shouldPaint(msg.seq) ? "paint" : "ignore";
  }

  get busy(): boolean {
    return this.queue.busy;
  }
}
