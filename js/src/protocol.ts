/**
 * GENERATED from nbsaliency/explorer/protocol.py by `python -m nbsaliency.explorer.typescript`; do not edit.
 * The Python <-> JavaScript protocol of the Explorer widget (tests/test_protocol.py checks this file is current).
 */

export type TargetKind = "logit" | "probability" | "channel" | "neuron" | "layer";

export type ColormapName = "inferno" | "viridis" | "gray" | "coolwarm";

export const MSG_SELECT = "select";

export const MSG_RESULT = "result";

export const MSG_ATTRIBUTION_PROGRESS = "attribution_progress";

export const MSG_ATTRIBUTION_CANCEL = "attribution_cancel";

export const MSG_ATTRIBUTION_REFINE = "attribution_refine";

export const REQUEST_ID_TRAIT = "request_id";

export const BUFFER_IMAGE = 0;

export const BUFFER_ATTRIBUTION = 1;

export const BUFFER_ACTIVATIONS = 2;

export const BUFFER_ACTIVATION_MAXIMA = 3;

export const TARGET_KINDS = ["logit", "probability", "channel", "neuron", "layer"] as const;

export const COLORMAPS = ["inferno", "viridis", "gray", "coolwarm"] as const;

/**
 * The selection traits: what the user chose. `position`: [y, x] of the selected neuron inside the
 * channel's map, [] for none. `target_class`: class for "logit" / "probability"; -1 means the predicted
 * class. `layer` is a `named_modules()` name from `layers`, `method` a name from `methods`.
 */
export interface Selection {
  image_index: number;
  layer: string;
  channel: number;
  position: number[];
  method: string;
  target: TargetKind;
  target_class: number;
}

/**
 * Only the selection fields that changed; the kernel applies them over its current selection.
 */
export interface SelectionChange {
  image_index?: number;
  layer?: string;
  channel?: number;
  position?: number[];
  method?: string;
  target?: TargetKind;
  target_class?: number;
}

/**
 * The display traits, applied in the browser. `opacity`: heat-map overlay opacity in [0, 1].
 * `signed`: show the map's signed values (diverging colours) instead of |value| (the display toggle; a
 * method's own signed-RGB view is `MethodInfo.rgb_view`). `clip_percentile`: values above this
 * percentile of |value| saturate; 0 or less means no clipping (scale by the largest |value|).
 */
export interface DisplaySettings {
  colormap: ColormapName;
  opacity: number;
  signed: boolean;
  clip_percentile: number;
}

/**
 * One entry of the `layers` trait; `shape` has no batch axis; `type` is the module's class name;
 * `primary`: a layer a picker offers first (a convolution, a block output, the last layer); `maps`: the
 * shape of its activation maps, `[C, h, w]` in every layout (a ViT block's `[D, 14, 14]` where `shape`
 * is `[197, D]`) or `[D]` for flat layers: what "channel" and "position" mean there (see
 * :mod:`nbsaliency.explorer.layers`).
 */
export interface LayerInfo {
  name: string;
  shape: number[];
  type: string;
  primary: boolean;
  maps: number[];
}

/**
 * One entry of the `methods` trait, from the engine's method registry. `rgb_view`: the method's
 * signed values are worth showing as an RGB image too (DeconvNet, guided backpropagation, ...).
 */
export interface MethodInfo {
  name: string;
  label: string;
  rgb_view: boolean;
}

export interface Prediction {
  index: number;
  label: string;
  probability: number;
}

/**
 * JS -> Python: the same request as a custom message (for clients that cannot set traits).
 */
export interface SelectMessage {
  kind: typeof MSG_SELECT;
  id: number;
  selection: SelectionChange;
}

/**
 * `shape`: [H, W, 4] of an RGBA buffer.
 */
export interface ImageInfo {
  shape: number[];
}

/**
 * `shape`: [C, H, W]; `rgb_view` as in :class:`MethodInfo`.
 */
export interface AttributionInfo {
  shape: number[];
  rgb_view: boolean;
}

/**
 * `shape`: [K, h, w] (a layer without maps is sent as [K, 1, 1]).
 */
export interface ActivationsInfo {
  shape: number[];
  layer: string;
}

/**
 * Python -> JS, with buffers [BUFFER_IMAGE, BUFFER_ATTRIBUTION, BUFFER_ACTIVATIONS,
 * BUFFER_ACTIVATION_MAXIMA]. `id` answers the request with that id (null when the kernel started the
 * computation itself, e.g. after `explorer.layer = ...` in Python); `error`: "" or what went wrong, in
 * plain words (then the arrays are empty); `cancelled`: the request was cancelled (by Cancel or a newer
 * request). `notes`: what the view must say under the map (a layer the method used instead of the selected
 * one and why, a control reset by a layer change, a map that is exactly zero, a preview's reduced settings, a
 * display that had to guess the normalisation). `method_layer`: the layer the method used (Grad-CAM's layer
 * of maps), "" for none.
 */
export interface ResultMessage {
  kind: typeof MSG_RESULT;
  id: number | null;
  seq: number;
  error: string;
  cancelled: boolean;
  notes: string[];
  method_layer: string;
  image_index: number;
  image: ImageInfo;
  attribution: AttributionInfo | null;
  activations: ActivationsInfo | null;
  predictions: Prediction[];
  selection: Selection;
}

/**
 * Python -> JS: a slow method (one that reports progress) running in the background for request `id`:
 * `done` of `total` passes (perturbed copies) so far. Sent after each chunk; the answer is the MSG_RESULT.
 */
export interface AttributionProgressMessage {
  kind: typeof MSG_ATTRIBUTION_PROGRESS;
  id: number | null;
  method: string;
  done: number;
  total: number;
}

/**
 * JS -> Python: stop the background computation answering `id` (answered by its MSG_RESULT with
 * `cancelled` true; the selection goes back to the last shown one).
 */
export interface AttributionCancelMessage {
  kind: typeof MSG_ATTRIBUTION_CANCEL;
  id: number;
}

/**
 * JS -> Python: compute `method` at the engine's full defaults from now on (it was shown as a preview on
 * a large model), answering the current selection again as request `id`.
 */
export interface AttributionRefineMessage {
  kind: typeof MSG_ATTRIBUTION_REFINE;
  id: number;
  method: string;
}

export type Visualisation = "class_model" | "activation_maximisation" | "deepdream" | "invert";

export const MSG_OPTIMIZE = "optimize";

export const MSG_OPTIMIZE_CANCEL = "optimize_cancel";

export const MSG_OPTIMIZE_FRAME = "optimize_frame";

export const MSG_OPTIMIZE_DONE = "optimize_done";

export const OPTIMIZE_VISUALISATIONS = ["class_model", "activation_maximisation", "deepdream", "invert"] as const;

export const OPTIMIZE_MAX_STEPS = 2000;

/**
 * JS -> Python: run `visualisation` for `selection` (the view's latest; it may not have reached the
 * kernel yet) in a kernel thread, streamed. "class_model": the selected class, or the image's predicted class
 * when target_class is -1; "activation_maximisation": the selection's channel / neuron / layer, a class
 * target's logit; "deepdream" and "invert": the current image at the current layer. `steps`:
 * 1..OPTIMIZE_MAX_STEPS. A new request cancels the running one; `id` becomes the `run` of the answers.
 */
export interface OptimizeMessage {
  kind: typeof MSG_OPTIMIZE;
  id: number;
  visualisation: Visualisation;
  steps: number;
  selection: Selection;
}

/**
 * JS -> Python: stop run `run` before its next step (answered by MSG_OPTIMIZE_DONE, cancelled true).
 */
export interface OptimizeCancelMessage {
  kind: typeof MSG_OPTIMIZE_CANCEL;
  run: number;
}

/**
 * Python -> JS, with one buffer (uint8 RGBA). `step` of `steps` done (steps may be fewer than asked:
 * DeepDream rounds to whole octaves); `value`: the objective there (null when not finite). Sent every few
 * steps from the worker thread; a cached answer is one frame with step == steps.
 */
export interface OptimizeFrameMessage {
  kind: typeof MSG_OPTIMIZE_FRAME;
  run: number;
  step: number;
  steps: number;
  value: number | null;
  image: ImageInfo;
}

/**
 * Python -> JS: exactly one per request: finished, cancelled, answered from the cache, or refused / failed
 * (`error` in plain words, "" otherwise; the rest of the widget keeps working).
 */
export interface OptimizeDoneMessage {
  kind: typeof MSG_OPTIMIZE_DONE;
  run: number;
  cancelled: boolean;
  cached: boolean;
  error: string;
}

export type IndexStatus = "none" | "building" | "ready" | "cancelled" | "error";

export const MSG_PATCHES = "patches";

export const MSG_PATCHES_RESULT = "patches_result";

export const MSG_PATCH_OPEN = "patch_open";

export const MSG_INDEX_CANCEL = "index_cancel";

export const MSG_INDEX_BUILD = "index_build";

export const INDEX_STATUSES = ["none", "building", "ready", "cancelled", "error"] as const;

export const PATCH_BUFFERS = 2;

/**
 * JS -> Python: the top-9 grid of (layer, channel) (Zeiler & Fergus 2014, Fig. 2), projected by `method`;
 * methods that cannot project single units project with DeconvNet instead (the answer's `projection` and
 * `note` say so).
 */
export interface PatchesMessage {
  kind: typeof MSG_PATCHES;
  id: number;
  layer: string;
  channel: number;
  method: string;
}

/**
 * One cell of a grid. `image`: dataset index of the patch's image; `box`: its receptive field there,
 * [top, left, bottom, right), half-open; `shape`: [h, w, 4] of both crops.
 */
export interface PatchInfo {
  rank: number;
  value: number;
  image: number;
  y: number;
  x: number;
  box: number[];
  shape: number[];
}

/**
 * Python -> JS: exactly one per MSG_PATCHES request. `projection`: the method that projected ("" when the
 * request was malformed). `ready` false: no index yet (the view asks again when index_status becomes
 * "ready"); `superseded`: a newer request replaced this one before it ran; `error`: plain words.
 */
export interface PatchesResultMessage {
  kind: typeof MSG_PATCHES_RESULT;
  id: number | null;
  seq: number;
  layer: string;
  channel: number;
  method: string;
  projection: string;
  note: string;
  ready: boolean;
  superseded: boolean;
  error: string;
  patches: PatchInfo[];
}

/**
 * JS -> Python: open patch `rank` of the (layer, channel) grid as the current input (a dataset image not
 * among the explorer's images is added once; n_images grows), that unit selected (target "neuron"). Answered
 * by the usual MSG_RESULT (id null), an error result when it cannot.
 */
export interface PatchOpenMessage {
  kind: typeof MSG_PATCH_OPEN;
  layer: string;
  channel: number;
  rank: number;
}

/**
 * JS -> Python: stop building before the next batch (status "cancelled"), or build again.
 */
export interface IndexCommandMessage {
  kind: "index_cancel" | "index_build";
}

export const MSG_LESION = "lesion";

export const MSG_LESION_RESULT = "lesion_result";

/**
 * JS -> Python: input `image_index` with `channel` of `layer` removed (zeroed) during the forward pass
 * (:func:`nbsaliency.lesion`), or only its unit at grid `position` [y, x] (a single neuron; [] for the whole
 * channel); sent for each painted selection while the view's Lesion toggle is on.
 */
export interface LesionMessage {
  kind: typeof MSG_LESION;
  id: number;
  image_index: number;
  layer: string;
  channel: number;
  position: number[];
}

/**
 * One class before and after the lesion: softmax probabilities, and the logit's change (after - before).
 */
export interface LesionPrediction {
  index: number;
  label: string;
  before: number;
  after: number;
  logit_change: number;
}

/**
 * Python -> JS: exactly one per MSG_LESION. `classes`: the top classes before and after, by the clean
 * probability; `prediction_changed`: the top class is another one; `error`: "" or plain words (then
 * `classes` is empty).
 */
export interface LesionResultMessage {
  kind: typeof MSG_LESION_RESULT;
  id: number | null;
  seq: number;
  image_index: number;
  layer: string;
  channel: number;
  position: number[];
  prediction_changed: boolean;
  classes: LesionPrediction[];
  error: string;
}

export const MSG_KERNELS = "kernels";

export const MSG_KERNELS_RESULT = "kernels_result";

/**
 * JS -> Python: the filters of `layer` (a Conv2d; for another layer, the last convolution before it with
 * as many filters as it has channels), around `channel` (:func:`nbsaliency.kernel_grid`).
 */
export interface KernelsMessage {
  kind: typeof MSG_KERNELS;
  id: number;
  layer: string;
  channel: number;
}

/**
 * Python -> JS, one per MSG_KERNELS, with one buffer: `len(filters)` tiles of `shape` [kh, kw, 4], uint8
 * RGBA, in order. `conv`: the convolution drawn ("" when none); `rgb`: colour tiles, one per filter (the first
 * layer); otherwise grey tiles of the filter `channel`, one per input channel (`inputs`; -1 for colour
 * tiles). Signed mapping: mid-grey is a zero weight. `note`: what was left out or chosen, in words.
 */
export interface KernelsResultMessage {
  kind: typeof MSG_KERNELS_RESULT;
  id: number | null;
  seq: number;
  layer: string;
  channel: number;
  conv: string;
  rgb: boolean;
  filters: number[];
  inputs: number[];
  shape: number[];
  note: string;
  error: string;
}

export type TsneStatus = "running" | "done" | "error" | "cancelled";

export const MSG_TSNE = "tsne";

export const MSG_TSNE_RESULT = "tsne_result";

export const MSG_TSNE_OPEN = "tsne_open";

export const MSG_TSNE_CANCEL = "tsne_cancel";

export const TSNE_STATUSES = ["running", "done", "error", "cancelled"] as const;

export const TSNE_BUFFER_POINTS = 0;

export const TSNE_BUFFER_THUMBNAILS = 1;

/**
 * JS -> Python: a t-SNE map of the dataset's codes at `layer` (:func:`nbsaliency.tsne`, pooled
 * activations), computed in a kernel thread; a request while one runs replaces it when it is done.
 */
export interface TsneMessage {
  kind: typeof MSG_TSNE;
  id: number;
  layer: string;
}

/**
 * Python -> JS: "running" when the work starts, then "done" (with buffers TSNE_BUFFER_POINTS: float32 LE
 * `n` x 2 coordinates, and TSNE_BUFFER_THUMBNAILS: `n` uint8 RGBA thumbnails of `thumbnail` [t, t, 4]),
 * "error" (plain words, e.g. scikit-learn missing) or "cancelled" (MSG_TSNE_CANCEL). `note`: the settings
 * and what was left out.
 */
export interface TsneResultMessage {
  kind: typeof MSG_TSNE_RESULT;
  id: number | null;
  seq: number;
  layer: string;
  status: TsneStatus;
  n: number;
  thumbnail: number[];
  note: string;
  error: string;
}

/**
 * JS -> Python: stop the map of request `id` (waiting or running): before its next batch of codes, or when
 * scikit-learn's fit returns; answered "cancelled".
 */
export interface TsneCancelMessage {
  kind: typeof MSG_TSNE_CANCEL;
  id: number;
}

/**
 * JS -> Python: open point `index` of the map (a dataset image) as the current input, like a patch.
 */
export interface TsneOpenMessage {
  kind: typeof MSG_TSNE_OPEN;
  index: number;
}

export const SELECTION_TRAITS = ["image_index", "layer", "channel", "position", "method", "target", "target_class"] as const;

export const DISPLAY_TRAITS = ["colormap", "opacity", "signed", "clip_percentile"] as const;

export function isTargetKind(value: unknown): value is TargetKind {
  return (TARGET_KINDS as readonly unknown[]).includes(value);
}

export function isColormapName(value: unknown): value is ColormapName {
  return (COLORMAPS as readonly unknown[]).includes(value);
}

export function isVisualisation(value: unknown): value is Visualisation {
  return (OPTIMIZE_VISUALISATIONS as readonly unknown[]).includes(value);
}

export function isIndexStatus(value: unknown): value is IndexStatus {
  return (INDEX_STATUSES as readonly unknown[]).includes(value);
}

export function isTsneStatus(value: unknown): value is TsneStatus {
  return (TSNE_STATUSES as readonly unknown[]).includes(value);
}

export function isSelectMessage(msg: unknown): msg is SelectMessage {
  return typeof msg === "object" && msg !== null && (msg as { kind?: unknown }).kind === MSG_SELECT;
}

export function isResultMessage(msg: unknown): msg is ResultMessage {
  return typeof msg === "object" && msg !== null && (msg as { kind?: unknown }).kind === MSG_RESULT;
}

export function isAttributionProgressMessage(msg: unknown): msg is AttributionProgressMessage {
  return typeof msg === "object" && msg !== null && (msg as { kind?: unknown }).kind === MSG_ATTRIBUTION_PROGRESS;
}

export function isAttributionCancelMessage(msg: unknown): msg is AttributionCancelMessage {
  return typeof msg === "object" && msg !== null && (msg as { kind?: unknown }).kind === MSG_ATTRIBUTION_CANCEL;
}

export function isAttributionRefineMessage(msg: unknown): msg is AttributionRefineMessage {
  return typeof msg === "object" && msg !== null && (msg as { kind?: unknown }).kind === MSG_ATTRIBUTION_REFINE;
}

export function isOptimizeMessage(msg: unknown): msg is OptimizeMessage {
  return typeof msg === "object" && msg !== null && (msg as { kind?: unknown }).kind === MSG_OPTIMIZE;
}

export function isOptimizeCancelMessage(msg: unknown): msg is OptimizeCancelMessage {
  return typeof msg === "object" && msg !== null && (msg as { kind?: unknown }).kind === MSG_OPTIMIZE_CANCEL;
}

export function isOptimizeFrameMessage(msg: unknown): msg is OptimizeFrameMessage {
  return typeof msg === "object" && msg !== null && (msg as { kind?: unknown }).kind === MSG_OPTIMIZE_FRAME;
}

export function isOptimizeDoneMessage(msg: unknown): msg is OptimizeDoneMessage {
  return typeof msg === "object" && msg !== null && (msg as { kind?: unknown }).kind === MSG_OPTIMIZE_DONE;
}

export function isPatchesMessage(msg: unknown): msg is PatchesMessage {
  return typeof msg === "object" && msg !== null && (msg as { kind?: unknown }).kind === MSG_PATCHES;
}

export function isPatchesResultMessage(msg: unknown): msg is PatchesResultMessage {
  return typeof msg === "object" && msg !== null && (msg as { kind?: unknown }).kind === MSG_PATCHES_RESULT;
}

export function isPatchOpenMessage(msg: unknown): msg is PatchOpenMessage {
  return typeof msg === "object" && msg !== null && (msg as { kind?: unknown }).kind === MSG_PATCH_OPEN;
}

export function isLesionMessage(msg: unknown): msg is LesionMessage {
  return typeof msg === "object" && msg !== null && (msg as { kind?: unknown }).kind === MSG_LESION;
}

export function isLesionResultMessage(msg: unknown): msg is LesionResultMessage {
  return typeof msg === "object" && msg !== null && (msg as { kind?: unknown }).kind === MSG_LESION_RESULT;
}

export function isKernelsMessage(msg: unknown): msg is KernelsMessage {
  return typeof msg === "object" && msg !== null && (msg as { kind?: unknown }).kind === MSG_KERNELS;
}

export function isKernelsResultMessage(msg: unknown): msg is KernelsResultMessage {
  return typeof msg === "object" && msg !== null && (msg as { kind?: unknown }).kind === MSG_KERNELS_RESULT;
}

export function isTsneMessage(msg: unknown): msg is TsneMessage {
  return typeof msg === "object" && msg !== null && (msg as { kind?: unknown }).kind === MSG_TSNE;
}

export function isTsneResultMessage(msg: unknown): msg is TsneResultMessage {
  return typeof msg === "object" && msg !== null && (msg as { kind?: unknown }).kind === MSG_TSNE_RESULT;
}

export function isTsneCancelMessage(msg: unknown): msg is TsneCancelMessage {
  return typeof msg === "object" && msg !== null && (msg as { kind?: unknown }).kind === MSG_TSNE_CANCEL;
}

export function isTsneOpenMessage(msg: unknown): msg is TsneOpenMessage {
  return typeof msg === "object" && msg !== null && (msg as { kind?: unknown }).kind === MSG_TSNE_OPEN;
}
