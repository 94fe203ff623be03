/**
 * MIRROR OF nbsaliency/protocol.py — the Python <-> JavaScript protocol of the Explorer widget.
 *
 * Every constant here has the same name and value as in protocol.py; change both together
 * (tests/js/protocol.test.ts reads protocol.py and fails when the two drift apart).
 * The types describe the messages and traits documented in protocol.py's docstring.
 */

export const MSG_SELECT = "select";
export const MSG_RESULT = "result";

export const BUFFER_IMAGE = 0;
export const BUFFER_ATTRIBUTION = 1;
export const BUFFER_ACTIVATIONS = 2;

export const TARGET_KINDS = ["logit", "probability", "channel", "neuron", "layer"] as const;
export const COLORMAPS = ["inferno", "viridis", "gray", "coolwarm"] as const;
export const SELECTION_TRAITS = [
  "image_index",
  "layer",
  "channel",
  "position",
  "method",
  "target",
  "target_class",
] as const;
export const DISPLAY_TRAITS = ["colormap", "opacity", "signed", "clip_percentile"] as const;

export type TargetKind = (typeof TARGET_KINDS)[number];
export type ColormapName = (typeof COLORMAPS)[number];

/** The selection traits: what the user chose. */
export interface Selection {
  image_index: number;
  layer: string;
  channel: number;
  /** [y, x] of the selected neuron inside the channel's map; [] for none. */
  position: number[];
  method: string;
  target: TargetKind;
  /** Class for "logit" / "probability"; -1 means the predicted class. */
  target_class: number;
}

/** The display traits: applied in the browser, synced so Python's figure() matches the view. */
export interface DisplaySettings {
  colormap: ColormapName;
  opacity: number;
  signed: boolean;
  clip_percentile: number;
}

/** One entry of the `layers` trait; shape has no batch axis. */
export interface LayerInfo {
  name: string;
  shape: number[];
  type: string;
}

/** One entry of the `methods` trait, from the engine's method registry. */
export interface MethodInfo {
  name: string;
  label: string;
  signed: boolean;
}

export interface Prediction {
  index: number;
  label: string;
  probability: number;
}

/** JS -> Python. */
export interface SelectMessage {
  kind: typeof MSG_SELECT;
  id: number;
  /** Only the fields that changed; the kernel applies them over its current selection. */
  selection: Partial<Selection>;
}

/** Python -> JS, with buffers [BUFFER_IMAGE, BUFFER_ATTRIBUTION, BUFFER_ACTIVATIONS]. */
export interface ResultMessage {
  kind: typeof MSG_RESULT;
  id: number | null;
  seq: number;
  error: string;
  image_index: number;
  image: { shape: number[] };
  attribution: { shape: number[]; signed: boolean } | null;
  activations: { shape: number[]; layer: string } | null;
  predictions: Prediction[];
  selection: Selection;
}

export function isResultMessage(msg: unknown): msg is ResultMessage {
  return typeof msg === "object" && msg !== null && (msg as { kind?: unknown }).kind === MSG_RESULT;
}

export function isTargetKind(value: unknown): value is TargetKind {
  return (TARGET_KINDS as readonly unknown[]).includes(value);
}

export function isColormapName(value: unknown): value is ColormapName {
  return (COLORMAPS as readonly unknown[]).includes(value);
}

// -- optimisation panel (nbsaliency/optimise_jobs.py / optimise_panel.ts) --
export const MSG_OPTIMISE = "optimise";
export const MSG_OPTIMISE_CANCEL = "optimise_cancel";
export const MSG_OPTIMISE_FRAME = "optimise_frame";
export const MSG_OPTIMISE_DONE = "optimise_done";
export const OPTIMISE_VISUALISATIONS = ["class_model", "activation_maximisation", "deepdream", "invert"] as const;
export const OPTIMISE_MAX_STEPS = 2000;

export type Visualisation = (typeof OPTIMISE_VISUALISATIONS)[number];

/** JS -> Python: run `visualisation` for the current selection; `id` becomes the answers' `run`. */
export interface OptimiseMessage {
  kind: typeof MSG_OPTIMISE;
  id: number;
  visualisation: Visualisation;
  steps: number;
  selection: Selection;
}

/** JS -> Python: stop run `run` before its next step. */
export interface OptimiseCancelMessage {
  kind: typeof MSG_OPTIMISE_CANCEL;
  run: number;
}

/** Python -> JS, with one buffer: uint8 RGBA, H*W*4 bytes. */
export interface OptimiseFrameMessage {
  kind: typeof MSG_OPTIMISE_FRAME;
  run: number;
  step: number;
  steps: number;
  /** The objective's value at `step`; null when not finite. */
  value: number | null;
  image: { shape: number[] };
}

/** Python -> JS: exactly one per optimise request. */
export interface OptimiseDoneMessage {
  kind: typeof MSG_OPTIMISE_DONE;
  run: number;
  cancelled: boolean;
  cached: boolean;
  /** "" or what went wrong, in plain words. */
  error: string;
}

export function isOptimiseFrameMessage(msg: unknown): msg is OptimiseFrameMessage {
  return typeof msg === "object" && msg !== null && (msg as { kind?: unknown }).kind === MSG_OPTIMISE_FRAME;
}

export function isOptimiseDoneMessage(msg: unknown): msg is OptimiseDoneMessage {
  return typeof msg === "object" && msg !== null && (msg as { kind?: unknown }).kind === MSG_OPTIMISE_DONE;
}

export function isVisualisation(value: unknown): value is Visualisation {
  return (OPTIMISE_VISUALISATIONS as readonly unknown[]).includes(value);
}
// -- end optimisation panel --

// -- top-activating patches (nbsaliency/patch_jobs.py / patches_panel.ts) --
export const MSG_PATCHES = "patches";
export const MSG_PATCHES_RESULT = "patches_result";
export const MSG_PATCH_OPEN = "patch_open";
export const MSG_INDEX_CANCEL = "index_cancel";
export const MSG_INDEX_BUILD = "index_build";
export const INDEX_STATUSES = ["none", "building", "ready", "cancelled", "error"] as const;
export const PATCH_BUFFERS = 2;

export type IndexStatus = (typeof INDEX_STATUSES)[number];

/** JS -> Python: the grid of (layer, channel), projected by `method` (or DeconvNet when it cannot project). */
export interface PatchesMessage {
  kind: typeof MSG_PATCHES;
  id: number;
  layer: string;
  channel: number;
  method: string;
}

/** One cell of a grid; its two RGBA crops are buffers PATCH_BUFFERS * rank and PATCH_BUFFERS * rank + 1. */
export interface PatchInfo {
  rank: number;
  value: number;
  /** Dataset index of the patch's image. */
  image: number;
  y: number;
  x: number;
  /** Receptive field in the image: [top, left, bottom, right), half-open. */
  box: number[];
  /** [h, w, 4] of both crops. */
  shape: number[];
}

/** Python -> JS: exactly one per MSG_PATCHES request. */
export interface PatchesResultMessage {
  kind: typeof MSG_PATCHES_RESULT;
  id: number | null;
  seq: number;
  layer: string;
  channel: number;
  method: string;
  /** The method that projected ("" when the request was malformed). */
  projection: string;
  note: string;
  /** False while there is no index yet: ask again when index_status becomes "ready". */
  ready: boolean;
  /** A newer request replaced this one before it ran. */
  superseded: boolean;
  error: string;
  patches: PatchInfo[];
}

/** JS -> Python: open patch `rank` of the (layer, channel) grid as the current input, its unit selected. */
export interface PatchOpenMessage {
  kind: typeof MSG_PATCH_OPEN;
  layer: string;
  channel: number;
  rank: number;
}

export interface IndexCommandMessage {
  kind: typeof MSG_INDEX_CANCEL | typeof MSG_INDEX_BUILD;
}

export function isPatchesResultMessage(msg: unknown): msg is PatchesResultMessage {
  return typeof msg === "object" && msg !== null && (msg as { kind?: unknown }).kind === MSG_PATCHES_RESULT;
}

export function isIndexStatus(value: unknown): value is IndexStatus {
  return (INDEX_STATUSES as readonly unknown[]).includes(value);
}
// -- end top-activating patches --
