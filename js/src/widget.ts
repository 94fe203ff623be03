/**
 * The anywidget entry: glue between the model (traits + custom messages of protocol.ts) and the view's
 * parts; the panels below the attribution view register their message kinds and traits (panels/index.ts). No numerical code here: decoding is in decode.ts, pixels in render.ts, the request policy in queue.ts.
 */
import { ActivationGrid, type ActivationPick } from "./panels/attribution/activations";
import { type Catalogue, Controls } from "./panels/attribution/controls";
import { decodeFloat32, decodeRGBA, decodeUint8, pngDataURL } from "./lib/decode";
import { h } from "./lib/dom";
import { AttributionPanel, type InputImage, InputPanel } from "./panels/attribution/panel";
import type { WidgetModel } from "./model";
import {
  BUFFER_ACTIVATIONS,
  BUFFER_ACTIVATION_MAXIMA,
  BUFFER_ATTRIBUTION,
  BUFFER_IMAGE,
  DISPLAY_TRAITS,
  type DisplaySettings,
  type LayerInfo,
  REQUEST_ID_TRAIT,
  type MethodInfo,
  type ResultMessage,
  SELECTION_TRAITS,
  type SelectionChange,
  type Selection,
  isColormapName,
  isResultMessage,
  MSG_ATTRIBUTION_CANCEL,
  MSG_ATTRIBUTION_REFINE,
  isAttributionProgressMessage,
} from "./protocol";
import { PANELS } from "./panels";
import { type PanelContext, messageTable } from "./panels/panel";
import { LatestWinsQueue } from "./lib/queue";
import { activationColormap } from "./lib/render";
import { TARGET_TEXT, selectionFrom, usesClass } from "./lib/selection";

export type { WidgetModel } from "./model";

/** How long a request may take before the view says "Computing…" (ms). */
export const BUSY_SHOWN_AFTER_MS = 250;

interface Painted {
  result: ResultMessage;
  image: InputImage;
  attr: Float32Array | null;
  acts: { codes: Uint8Array; maxima: Float32Array } | null;
}

function displayFrom(model: WidgetModel): DisplaySettings {
  const num = (v: unknown, d: number) => (typeof v === "number" && Number.isFinite(v) ? v : d);
  const colormap = model.get("colormap");
  return {
    colormap: isColormapName(colormap) ? colormap : "inferno",
    opacity: num(model.get("opacity"), 0.5),
    signed: model.get("signed") === true,
    clip_percentile: num(model.get("clip_percentile"), 99.5),
  };
}

function catalogueFrom(model: WidgetModel): Catalogue {
  const list = <T>(v: unknown): T[] => (Array.isArray(v) ? (v as T[]) : []);
  const n = model.get("n_images");
  return {
    layers: list<LayerInfo>(model.get("layers")),
    methods: list<MethodInfo>(model.get("methods")),
    labels: list<string>(model.get("labels")),
    nImages: typeof n === "number" ? n : 0,
  };
}

/** The words under the attribution map: method, target and layer of the painted result. */
function describe(sel: Selection, cat: Catalogue, methodLayer = ""): string {
  const method = cat.methods.find((m) => m.name === sel.method)?.label ?? sel.method;
  let what: string = TARGET_TEXT[sel.target] ?? sel.target;
  if (usesClass(sel.target)) {
    what += sel.target_class < 0 ? " of the predicted class" : ` of “${cat.labels[sel.target_class] ?? sel.target_class}”`;
  } else if (sel.target === "layer") what += ` of ${sel.layer}`;
  else {
    what += ` ${sel.layer} channel ${sel.channel}`;
    if (sel.position.length === 2) what += ` at (${sel.position[0]}, ${sel.position[1]})`;
  }
  // The layer the method used (Grad-CAM's maps) when it is not the selected one: the notes say why.
  return `${method} · ${what}${methodLayer && methodLayer !== sel.layer ? ` · maps of ${methodLayer}` : ""}`;
}

/**
 * Key events inside the widget stay there (the ipywidgets convention). JupyterLab listens for its command-mode
 * shortcuts ("a" inserts a cell, "r" makes it raw, arrows move between cells) on the document after the event
 * has bubbled out of the widget: stopped at the root. Notebook 7 listens before (capture phase), and its
 * command-mode selectors match the focused control itself; Lumino skips any event whose target (or an
 * element between it and the match) carries `data-lm-suppress-shortcuts`, so every element that takes focus
 * in the widget gets it. The controls still get every key. A click anywhere in the widget leaves the focus in
 * it (the root takes it when the clicked part cannot).
 */
export function keepKeys(root: HTMLElement): void {
  root.setAttribute("data-lm-suppress-shortcuts", "true");
  // A click on a part that takes no focus (a map, a caption) focuses the root, not the notebook's cell, so the
  // keys typed next still start inside the widget (tabindex -1: not a Tab stop of its own).
  root.tabIndex = -1;
  root.addEventListener("focusin", (e) => {
    if (e.target instanceof Element) e.target.setAttribute("data-lm-suppress-shortcuts", "true");
  });
  for (const type of ["keydown", "keyup", "keypress"]) root.addEventListener(type, (e) => e.stopPropagation());
}

export function render({ model, el }: { model: WidgetModel; el: HTMLElement }): () => void {
  const busyText = h("span", { class: "nbs-busy", role: "status" });
  const banner = h("div", { class: "nbs-error", role: "alert" });
  banner.hidden = true;
  const inputPanel = new InputPanel();
  const attribution = new AttributionPanel({
    cancel() {
      if (queue.inFlight !== null) model.send({ kind: MSG_ATTRIBUTION_CANCEL, id: queue.inFlight });
    },
    refine(method) {
      model.send({ kind: MSG_ATTRIBUTION_REFINE, id: 0, method });
    },
  });
  const grid = new ActivationGrid((pick: ActivationPick) => {
    if (pick.position === null) controls.select({ channel: pick.channel, position: [], target: "channel" });
    else controls.select({ channel: pick.channel, position: pick.position, target: "neuron" });
  });
  grid.clear("Waiting for the first result…");

  // Views of one model share the kernel's answers: ids start far apart so one view's answer never
  // resolves another view's request.
  const firstId = 1 + 1_000_000 * Math.floor(Math.random() * 1_000_000);
  // A request is a trait update (the changed selection fields and `request_id`, saved together), so the kernel
  // sees a change made in the browser (marimo re-runs dependent cells, `observe` and `link` react) and answers
  // `request_id` with one result.
  const queue = new LatestWinsQueue<SelectionChange>(
    (id, selection) => {
      for (const [name, value] of Object.entries(selection)) model.set(name, value);
      model.set(REQUEST_ID_TRAIT, id);
      model.save_changes();
    },
    firstId,
    (waiting, newer) => ({ ...waiting, ...newer }),
  );

  let painted: Painted | null = null;

  const controls = new Controls(selectionFrom((n) => model.get(n)), displayFrom(model), {
    onSelect(selection) {
      queue.submit(selection);
      updateBusy();
    },
    onDisplay(display, commit) {
      for (const name of DISPLAY_TRAITS) model.set(name, display[name]);
      if (commit) model.save_changes();
      repaint();
    },
  });
  controls.setCatalogue(catalogueFrom(model));

  // The view as last shown by the kernel (saved with the widget state): drawn until the first live result, so
  // a view without a kernel (nbconvert's HTML export, a reopened notebook) still shows a picture.
  const snapshot = h("img", { class: "nbs-snapshot", alt: "The explorer's last view (saved picture)" });
  const showSnapshot = () => {
    // only decoded while it is shown: after the first live result the saved picture stays hidden
    const url = painted === null ? pngDataURL(model.get("snapshot")) : null;
    snapshot.hidden = url === null;
    if (url !== null) snapshot.setAttribute("src", url);
  };
  const root = h(
    "div",
    { class: "nbs-root" },
    controls.element,
    h("div", { class: "nbs-status" }, busyText),
    banner,
    snapshot,
    h("div", { class: "nbs-panels" }, inputPanel.element, attribution.element),
    grid.element,
  );
  keepKeys(root);
  el.append(root);
  const context: PanelContext = {
    model,
    firstId,
    selection: () => controls.selection,
    methodLabel: (name) => controls.catalogue.methods.find((m) => m.name === name)?.label ?? name,
  };
  const panels = PANELS.map((make) => make(context));
  const handlers = messageTable(panels);
  for (const panel of panels) root.append(panel.element);

  function showError(text: string): void {
    banner.textContent = text;
    banner.hidden = text === "";
  }

  // "Computing…" and its spinner appear only when an answer takes longer than BUSY_SHOWN_AFTER_MS: most
  // answers come sooner, and a spinner flashed for them costs frames while the answer is being painted.
  // aria-busy says it at once.
  let busyTimer: ReturnType<typeof setTimeout> | undefined;
  function updateBusy(): void {
    const busy = queue.busy || model.get("busy") === true;
    root.setAttribute("aria-busy", String(busy));
    if (!busy) {
      clearTimeout(busyTimer);
      busyTimer = undefined;
      busyText.textContent = "";
    } else if (busyTimer === undefined && busyText.textContent === "") {
      busyTimer = setTimeout(() => {
        busyTimer = undefined;
        if (root.getAttribute("aria-busy") === "true") busyText.textContent = "Computing…";
      }, BUSY_SHOWN_AFTER_MS);
    }
  }

  function repaint(): void {
    if (painted === null) return;
    const { result, image, attr, acts } = painted;
    const display = controls.display;
    const cat = controls.catalogue;
    const method = cat.methods.find((m) => m.name === result.selection.method);
    attribution.paint(
      {
        image,
        attr,
        shape: result.attribution?.shape ?? [],
        rgbView: result.attribution?.rgb_view ?? method?.rgb_view ?? false,
        caption: attr === null ? "No attribution for this selection." : describe(result.selection, cat, result.method_layer),
        notes: result.notes ?? [],
        method: result.selection.method,
      },
      display,
    );
    if (acts !== null && result.activations !== null) {
      grid.show({
        ...acts,
        shape: result.activations.shape,
        layer: result.activations.layer,
        selectedChannel: result.selection.channel,
        position: result.selection.position,
        colormap: activationColormap(display.colormap),
      });
    } else grid.clear("No activations for this selection.");
  }

  function paint(result: ResultMessage, buffers: DataView[]): void {
    const shape = result.image?.shape ?? [0, 0, 4];
    const [H, W] = shape;
    // An error result may come without an image: keep showing the last one.
    const image: InputImage =
      H * W > 0 || painted === null
        ? { rgba: decodeRGBA(buffers[BUFFER_IMAGE] ?? new ArrayBuffer(0), shape), height: H, width: W }
        : painted.image;
    const attr = result.attribution ? decodeFloat32(buffers[BUFFER_ATTRIBUTION], result.attribution.shape) : null;
    const acts = result.activations
      ? {
          codes: decodeUint8(buffers[BUFFER_ACTIVATIONS], result.activations.shape),
          maxima: decodeFloat32(buffers[BUFFER_ACTIVATION_MAXIMA], result.activations.shape.slice(0, 1)),
        }
      : null;
    painted = { result, image, attr, acts };
    showSnapshot();
    inputPanel.paint(image, result.predictions ?? []);
    repaint();
  }

  function onMessage(msg: unknown, buffers?: DataView[]): void {
    const kind = typeof msg === "object" && msg !== null ? (msg as { kind?: unknown }).kind : undefined;
    const panel = typeof kind === "string" ? handlers.get(kind) : undefined;
    if (panel !== undefined) {
      panel.handle(msg, buffers ?? []);
      return;
    }
    if (isAttributionProgressMessage(msg)) {
      if (msg.id === queue.inFlight) {
        const label = controls.catalogue.methods.find((m) => m.name === msg.method)?.label ?? msg.method;
        attribution.showProgress({ label, done: msg.done, total: msg.total });
      }
      return;
    }
    if (!isResultMessage(msg)) return;
    if (msg.id === queue.inFlight) attribution.showProgress(null);
    queue.resolve(msg.id);
    if (msg.cancelled) {
      // A cancelled computation: the last painted result stays, the controls go back to what it shows.
      showError(queue.busy ? "" : msg.error ?? "");
      if (!queue.busy && painted !== null) controls.showSelection(painted.result.selection);
      root.dataset.cancelled = String(msg.id);
      updateBusy();
      return;
    }
    if (queue.shouldPaint(msg.seq)) {
      try {
        // An error answer leaves the last result drawn (the kernel set the selection back to it); the banner
        // says what went wrong. Only a first answer that is an error is drawn, empty.
        if (!msg.error || painted === null) paint(msg, buffers ?? []);
        showError(msg.error ?? "");
      } catch (err) {
        showError(`Could not show the result: ${err instanceof Error ? err.message : String(err)}`);
      }
      // Show what was computed, unless the user has already asked for something newer.
      if (!queue.busy && msg.selection) controls.showSelection(msg.selection);
      root.dataset.paintedSeq = String(msg.seq);
      if (msg.selection) for (const panel of panels) panel.follow?.(msg.selection);
    }
    updateBusy();
  }

  // Python changed the selection: show it (the kernel computes by itself; no request is echoed).
  // While our own request is in flight the result's selection is shown when it arrives instead.
  const onSelectionTrait = () => {
    if (!queue.busy) controls.showSelection(selectionFrom((n) => model.get(n)));
  };
  const onDisplayTrait = () => {
    const d = displayFrom(model);
    const cur = controls.display;
    if (DISPLAY_TRAITS.every((n) => d[n] === cur[n])) return;
    controls.showDisplay(d);
    repaint();
  };
  const onCatalogue = () => {
    controls.setCatalogue(catalogueFrom(model));
    repaint();
  };
  const onError = () => {
    const e = model.get("error");
    showError(typeof e === "string" ? e : "");
  };

  const listeners: [string, (...args: any[]) => void][] = [
    ["msg:custom", onMessage],
    ["change:busy", updateBusy],
    ["change:error", onError],
    ["change:snapshot", showSnapshot],
    ...SELECTION_TRAITS.map((n): [string, () => void] => [`change:${n}`, onSelectionTrait]),
    ...DISPLAY_TRAITS.map((n): [string, () => void] => [`change:${n}`, onDisplayTrait]),
    ...["layers", "methods", "labels", "n_images"].map((n): [string, () => void] => [`change:${n}`, onCatalogue]),
    ...panels.flatMap((panel) => panel.traits.map((n): [string, () => void] => [`change:${n}`, () => panel.onTraits?.()])),
  ];
  for (const [event, cb] of listeners) model.on(event, cb);

  onError();
  showSnapshot();
  // The kernel cannot push a first result to a view that does not exist yet: ask for its current one
  // (an empty change, so a selection set from Python before the view rendered is kept).
  queue.submit({});
  updateBusy();

  return () => {
    clearTimeout(busyTimer);
    for (const [event, cb] of listeners) model.off(event, cb);
    for (const panel of panels) panel.close?.();
    root.remove();
  };
}

export default { render };
