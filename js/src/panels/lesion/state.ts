/** Pure parts of the lesion panel: which answer to paint, and the words and widths of its rows. */
import type { LesionPrediction, LesionResultMessage, Selection } from "../../protocol";

/**
 * What a lesion request asks for: the painted selection's image, layer and channel, and its neuron's grid
 * position ([y, x]: that unit alone; []: the whole channel).
 */
export interface LesionKey {
  image_index: number;
  layer: string;
  channel: number;
  position: number[];
}

/** The lesion key of a selection: its neuron when the target is a single neuron, else the whole channel. */
export function lesionKey(sel: Selection): LesionKey {
  const position = sel.target === "neuron" && sel.position.length === 2 ? [...sel.position] : [];
  return { image_index: sel.image_index, layer: sel.layer, channel: sel.channel, position };
}

export function sameKey(a: LesionKey | null, b: LesionKey | null): boolean {
  return (
    a !== null &&
    b !== null &&
    a.image_index === b.image_index &&
    a.layer === b.layer &&
    a.channel === b.channel &&
    a.position.length === b.position.length &&
    a.position.every((v, i) => v === b.position[i])
  );
}

/** A probability as a percentage with one decimal. */
export function percent(p: number): string {
  return `${(100 * p).toFixed(1)}%`;
}

/** One row's words: "cat 71.2% → 12.0%", for screen readers and the tooltip. */
export function rowText(row: LesionPrediction): string {
  return `${row.label} ${percent(row.before)} → ${percent(row.after)}`;
}

/** The caption above the rows. */
export function lesionCaption(msg: LesionResultMessage): string {
  if (msg.error) return "";
  const verdict = msg.prediction_changed ? " — the top class changed" : "";
  const what =
    msg.position.length === 2
      ? `the neuron at (${msg.position[0]}, ${msg.position[1]}) of ${msg.layer} channel ${msg.channel}`
      : `${msg.layer} channel ${msg.channel}`;
  return `Without ${what} (zeroed), image ${msg.image_index}${verdict}`;
}

/** A bar's width in percent of its track, clamped to [0, 100]. */
export function barWidth(p: number): number {
  return Number.isFinite(p) ? Math.min(100, Math.max(0, 100 * p)) : 0;
}
