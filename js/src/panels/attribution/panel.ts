/**
 * The input panel (image + top predictions) and the attribution panel (heat map over the image, plus the
 * signed-RGB image for signed methods). DOM glue around the pure transforms of render.ts.
 */
import { colormapLUT } from "../../lib/colormaps";
import { h, paintCanvas } from "../../lib/dom";
import type { DisplaySettings, Prediction } from "../../protocol";
import { type RGBA, heatmapRGBA, overlay, resizeNearest, robustClip, saliencyMap, signedRGB } from "../../lib/render";

export interface InputImage {
  rgba: RGBA;
  height: number;
  width: number;
}

export class InputPanel {
  readonly element: HTMLElement;
  private readonly canvas = h("canvas", { class: "nbs-pixelated", "aria-label": "Model input", role: "img" });
  private readonly predictions = h("ol", { class: "nbs-predictions" });

  constructor() {
    this.element = h(
      "section",
      { class: "nbs-panel nbs-input" },
      h("h3", {}, "Input"),
      this.canvas,
      h("h3", {}, "Top predictions"),
      this.predictions,
    );
  }

  paint(image: InputImage, predictions: Prediction[]): void {
    paintCanvas(this.canvas, image.rgba, image.width, image.height);
    this.predictions.replaceChildren(
      ...predictions.map((p) => {
        const pct = Math.max(0, Math.min(100, p.probability * 100));
        return h(
          "li",
          {},
          h("span", { class: "nbs-pred-label" }, p.label || String(p.index)),
          h("span", { class: "nbs-pred-bar", "aria-hidden": "true" }, h("span", { style: `width: ${pct}%` })),
          h("span", { class: "nbs-pred-value" }, `${pct.toFixed(1)}%`),
        );
      }),
    );
  }
}

export interface AttributionData {
  image: InputImage;
  /** [C, H, W] values, or null when the result has no attribution. */
  attr: Float32Array | null;
  shape: number[];
  /** The method gives signed values worth showing as an RGB image (deconvnet, guided, ...). */
  rgbView: boolean;
  caption: string;
  /** What the kernel says under the map (ResultMessage.notes): a layer used instead, a reset, a blank map... */
  notes?: string[];
  /** The painted result's method (the Refine action recomputes it at full settings). */
  method?: string;
}

/** What the attribution panel asks of the kernel for a slow method running in the background. */
export interface SlowMethodActions {
  cancel(): void;
  refine(method: string): void;
}

function fmt(v: number): string {
  return Math.abs(v) >= 1e-2 && Math.abs(v) < 1e3 ? v.toPrecision(2) : v.toExponential(1);
}

export class AttributionPanel {
  readonly element: HTMLElement;
  private readonly map = h("canvas", { class: "nbs-pixelated", "aria-label": "Attribution map", role: "img" });
  private readonly rgb = h("canvas", { class: "nbs-pixelated", "aria-label": "Attribution RGB", role: "img" });
  private readonly rgbFigure: HTMLElement;
  private readonly bar = h("div", { class: "nbs-colorbar-gradient", "aria-hidden": "true" });
  private readonly barLabels = h("div", { class: "nbs-colorbar-labels" });
  private readonly caption = h("p", { class: "nbs-caption" });
  private readonly notes = h("ul", { class: "nbs-notes", "aria-live": "polite" });
  private readonly progressBar = h("progress", { class: "nbs-attr-progress", max: 1, value: 0 });
  private readonly progressText = h("span", { class: "nbs-attr-progress-text" });
  private readonly cancelButton = h("button", { type: "button", class: "nbs-attr-cancel" }, "Cancel computation");
  private readonly refineButton = h("button", { type: "button", class: "nbs-attr-refine" }, "Refine");
  private readonly progress: HTMLElement;
  private previewMethod = "";

  constructor(actions?: SlowMethodActions) {
    this.progress = h("div", { class: "nbs-attr-progress-row", role: "status" }, this.progressBar, this.progressText,
      this.cancelButton);
    this.progress.hidden = true;
    this.refineButton.hidden = true;
    this.cancelButton.addEventListener("click", () => actions?.cancel());
    this.refineButton.addEventListener("click", () => {
      if (this.previewMethod) actions?.refine(this.previewMethod);
    });
    this.rgbFigure = h("figure", { class: "nbs-figure" }, this.rgb, h("figcaption", {}, "Signed attribution as RGB"));
    this.rgbFigure.hidden = true;
    this.element = h(
      "section",
      { class: "nbs-panel nbs-attribution" },
      h("h3", {}, "Attribution"),
      h(
        "div",
        { class: "nbs-figures" },
        h("figure", { class: "nbs-figure" }, this.map, h("div", { class: "nbs-colorbar" }, this.bar, this.barLabels)),
        this.rgbFigure,
      ),
      this.caption,
      this.notes,
      this.refineButton,
      this.progress,
    );
  }

  /** A slow method's progress (``done`` of ``total`` passes) with its Cancel button; null hides it. */
  showProgress(progress: { label: string; done: number; total: number } | null): void {
    this.progress.hidden = progress === null;
    if (progress === null) return;
    this.progressBar.max = Math.max(1, progress.total);
    this.progressBar.value = progress.done;
    this.progressText.textContent = `${progress.label}: ${progress.done} of ${progress.total} passes`;
  }

  paint(data: AttributionData, display: DisplaySettings): void {
    const { image, attr, shape } = data;
    this.caption.textContent = data.caption;
    const notes = data.notes ?? [];
    this.notes.replaceChildren(...notes.map((n) => h("li", {}, n)));
    this.previewMethod = notes.some((n) => n.startsWith("preview")) ? data.method ?? "" : "";
    this.refineButton.hidden = this.previewMethod === "";
    if (attr === null || shape.length !== 3) {
      paintCanvas(this.map, image.rgba, image.width, image.height);
      this.rgbFigure.hidden = true;
      this.barLabels.replaceChildren();
      this.bar.style.background = "none";
      return;
    }
    const [, H, W] = shape;
    const sal = saliencyMap(attr, shape, display.signed);
    const clip = robustClip(sal, display.clip_percentile);
    const heat = heatmapRGBA(sal, H, W, {
      colormap: display.colormap,
      signed: display.signed,
      clipPercentile: display.clip_percentile,
      clip,
    });
    const base =
      image.height === H && image.width === W ? image.rgba : resizeNearest(image.rgba, image.height, image.width, H, W);
    paintCanvas(this.map, overlay(base, heat, display.opacity), W, H);
    this.showColorbar(display, clip);
    this.rgbFigure.hidden = !data.rgbView;
    if (data.rgbView) paintCanvas(this.rgb, signedRGB(attr, shape, display.clip_percentile), W, H);
  }

  private showColorbar(display: DisplaySettings, clip: number): void {
    const lut = colormapLUT(display.colormap);
    const stops: string[] = [];
    for (let i = 0; i <= 8; i++) {
      const k = Math.round((i / 8) * 255) * 3;
      stops.push(`rgb(${lut[k]}, ${lut[k + 1]}, ${lut[k + 2]}) ${(i / 8) * 100}%`);
    }
    this.bar.style.background = `linear-gradient(to right, ${stops.join(", ")})`;
    const labels = display.signed ? [`−${fmt(clip)}`, "0", `+${fmt(clip)}`] : ["0", `${fmt(clip)}`];
    this.barLabels.replaceChildren(...labels.map((t) => h("span", {}, t)));
  }
}
