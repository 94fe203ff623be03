/**
 * Pure helpers around the selection: layer geometry, neuron text, clicks on activation maps, and how a
 * selection follows a change of layer. No DOM.
 */
import { type LayerInfo, type Selection, type TargetKind, isTargetKind } from "../protocol";

export interface LayerGeometry {
  /** Number of channels (units for a non-spatial layer). */
  channels: number;
  /** Height and width of each channel's map (1 x 1 for non-spatial layers). */
  h: number;
  w: number;
  /** True for [C, H, W] layers, whose neurons have a position [y, x]. */
  spatial: boolean;
}

/** Geometry of a layer from its activation maps' shape (no batch axis): [C, H, W] is spatial (also a token
 * block on its token grid); [K] is not. */
export function layerGeometry(layer: LayerInfo | undefined): LayerGeometry {
  const shape = layer?.maps ?? layer?.shape ?? [];
  if (shape.length >= 3) return { channels: shape[0], h: shape[1], w: shape[2], spatial: true };
  return { channels: shape.length > 0 ? shape[0] : 1, h: 1, w: 1, spatial: false };
}

export const TARGET_TEXT: Record<TargetKind, string> = {
  logit: "Class score (logit)",
  probability: "Class probability (softmax)",
  channel: "Channel activation",
  neuron: "Single neuron",
  layer: "Whole layer (squared L2 norm)",
};

/** Targets that need a class. */
export function usesClass(target: TargetKind): boolean {
  return target === "logit" || target === "probability";
}

export type NeuronParse = { ok: true; position: number[] } | { ok: false; message: string };

/**
 * Parses the Neuron field: "y, x" (also "y x" or "(y, x)") inside an h x w map; empty text means none.
 */
export function parseNeuron(text: string, h: number, w: number): NeuronParse {
  const trimmed = text.trim().replace(/^\(|\)$/g, "").trim();
  if (trimmed === "") return { ok: true, position: [] };
  const parts = trimmed.split(/\s*,\s*|\s+/);
  if (parts.length !== 2 || !parts.every((p) => /^\d+$/.test(p))) {
    return { ok: false, message: `Type the neuron as "y, x" (two whole numbers), or leave it empty.` };
  }
  const [y, x] = parts.map(Number);
  if (y >= h || x >= w) {
    return { ok: false, message: `This layer's maps are ${h}×${w}: y must be below ${h} and x below ${w}.` };
  }
  return { ok: true, position: [y, x] };
}

export function formatNeuron(position: readonly number[]): string {
  return position.length === 2 ? `${position[0]}, ${position[1]}` : "";
}

/** [y, x] of the unit under a click at (offsetX, offsetY) on a map drawn width x height pixels. */
export function positionFromClick(
  offsetX: number,
  offsetY: number,
  width: number,
  height: number,
  h: number,
  w: number,
): [number, number] {
  const clamp = (v: number, n: number) => Math.min(n - 1, Math.max(0, v));
  const y = clamp(Math.floor((offsetY / Math.max(height, 1)) * h), h);
  const x = clamp(Math.floor((offsetX / Math.max(width, 1)) * w), w);
  return [y, x];
}

/** True when `position` is a valid [y, x] inside the geometry's maps. */
export function positionFits(position: readonly number[], g: LayerGeometry): boolean {
  return (
    position.length === 2 &&
    g.spatial &&
    position[0] >= 0 &&
    position[0] < g.h &&
    position[1] >= 0 &&
    position[1] < g.w
  );
}

/**
 * The selection after the user picks another layer: only the layer changes here; the kernel resets a channel
 * the layer lacks (to 0) or a neuron position outside its map (to the strongest unit) and says so; the target
 * kind never changes with the layer.
 */
export function withLayer(sel: Selection, layer: LayerInfo): Selection {
  // The kernel applies the rules (ExplorerBackend.reconcile), the same as for a change from Python: a channel
  // or neuron position the new layer lacks is reset there and said under the map; the target kind stays.
  return { ...sel, layer: layer.name };
}

/**
 * The selection after the user types a neuron position: a position makes the target "neuron"; clearing it on
 * a spatial layer turns a "neuron" target back into "channel".
 */
export function withPosition(sel: Selection, position: number[], g: LayerGeometry): Selection {
  const target: TargetKind =
    position.length > 0 ? "neuron" : sel.target === "neuron" && g.spatial ? "channel" : sel.target;
  return { ...sel, position: [...position], target };
}

/** A selection built from raw trait values (missing or malformed ones get defaults). */
export function selectionFrom(get: (name: string) => unknown): Selection {
  const int = (v: unknown, d: number) => (typeof v === "number" && Number.isInteger(v) ? v : d);
  const position = get("position");
  const target = get("target");
  return {
    image_index: int(get("image_index"), 0),
    layer: typeof get("layer") === "string" ? (get("layer") as string) : "",
    channel: int(get("channel"), 0),
    position:
      Array.isArray(position) && position.every((v) => Number.isInteger(v)) ? (position as number[]).slice() : [],
    method: typeof get("method") === "string" ? (get("method") as string) : "",
    target: isTargetKind(target) ? target : "logit",
    target_class: int(get("target_class"), -1),
  };
}

/** The fields of `next` that differ from `prev`. */
export function changedFields(prev: Selection, next: Selection): Partial<Selection> {
  const changed: Record<string, unknown> = {};
  for (const key of Object.keys(next) as (keyof Selection)[]) {
    const a = prev[key];
    const b = next[key];
    const same = Array.isArray(a) && Array.isArray(b) ? a.length === b.length && a.every((v, i) => v === b[i]) : a === b;
    if (!same) changed[key] = Array.isArray(b) ? [...b] : b;
  }
  return changed as Partial<Selection>;
}
