/**
 * The activation maps of the selected layer ([K, h, w]): one small canvas per channel, each normalised to
 * its own maximum. A click inside a map picks that channel and neuron; a click on its caption picks the
 * channel alone. Non-spatial layers (h = w = 1) get one bar strip instead.
 */
import { colormapLUT } from "../../lib/colormaps";
import { h, paintCanvas } from "../../lib/dom";
import type { ColormapName } from "../../protocol";
import { activationRGBA, maxAbs } from "../../lib/render";
import { positionFromClick } from "../../lib/selection";

/** [y, x] of the unit under a mouse event on a canvas showing an h x w map. */
function clickPosition(e: MouseEvent, canvas: HTMLCanvasElement, h: number, w: number): [number, number] {
  const r = canvas.getBoundingClientRect();
  return positionFromClick(e.clientX - r.left, e.clientY - r.top, r.width, r.height, h, w);
}

export interface ActivationPick {
  channel: number;
  /** [y, x] for a click inside a spatial map; null for a caption click. */
  position: number[] | null;
}

export interface ActivationData {
  acts: Float32Array;
  shape: number[];
  layer: string;
  selectedChannel: number;
  position: number[];
  colormap: ColormapName;
}

export class ActivationGrid {
  readonly element: HTMLElement;
  private readonly heading = h("h3", {});
  private readonly body = h("div", { class: "nbs-act-body" });
  private readonly onPick: (pick: ActivationPick) => void;
  private layoutKey = "";
  private cells: { cell: HTMLElement; canvas: HTMLCanvasElement; marker: HTMLElement }[] = [];

  constructor(onPick: (pick: ActivationPick) => void) {
    this.onPick = onPick;
    this.element = h("section", { class: "nbs-panel nbs-activations" }, this.heading, this.body);
  }

  clear(message: string): void {
    this.layoutKey = "";
    this.cells = [];
    this.heading.textContent = "Activation maps";
    this.body.replaceChildren(h("p", { class: "nbs-caption" }, message));
  }

  show(d: ActivationData): void {
    const [K, hh, ww] = d.shape.length >= 3 ? d.shape : [d.shape[0] ?? 0, 1, 1];
    this.heading.textContent = `Activation maps of ${d.layer} (${K} channels${hh * ww > 1 ? `, ${hh}×${ww}` : ""})`;
    if (hh * ww <= 1) {
      this.showStrip(d, K, d.shape.length >= 3);
      return;
    }
    const key = `${d.layer}|${K}|${hh}|${ww}`;
    if (key !== this.layoutKey) this.build(key, K, hh, ww);
    for (let k = 0; k < K; k++) {
      const { cell, canvas, marker } = this.cells[k];
      paintCanvas(canvas, activationRGBA(d.acts, k, hh, ww, d.colormap), ww, hh);
      const selected = k === d.selectedChannel;
      cell.classList.toggle("nbs-selected", selected);
      if (selected) cell.setAttribute("aria-current", "true");
      else cell.removeAttribute("aria-current");
      const showMarker = selected && d.position.length === 2;
      marker.hidden = !showMarker;
      if (showMarker) {
        marker.style.top = `${((d.position[0] + 0.5) / hh) * 100}%`;
        marker.style.left = `${((d.position[1] + 0.5) / ww) * 100}%`;
      }
    }
  }

  private build(key: string, K: number, hh: number, ww: number): void {
    this.layoutKey = key;
    const size = K <= 16 ? 88 : K <= 64 ? 64 : 44;
    const grid = h("div", { class: "nbs-act-grid", style: `--nbs-cell: ${size}px` });
    this.cells = Array.from({ length: K }, (_, k) => {
      const canvas = h("canvas", {
        class: "nbs-pixelated",
        role: "img",
        "aria-label": `Activation map, channel ${k}`,
        title: `Channel ${k}: click a position to select that neuron`,
      });
      canvas.addEventListener("click", (e) => this.onPick({ channel: k, position: clickPosition(e, canvas, hh, ww) }));
      const marker = h("span", { class: "nbs-act-marker", "aria-hidden": "true" });
      marker.hidden = true;
      const caption = h("button", { type: "button", class: "nbs-act-caption" }, String(k));
      caption.addEventListener("click", () => this.onPick({ channel: k, position: null }));
      const cell = h("figure", { class: "nbs-act-cell" }, h("div", { class: "nbs-act-map" }, canvas, marker), caption);
      return { cell, canvas, marker };
    });
    grid.append(...this.cells.map((c) => c.cell));
    this.body.replaceChildren(grid);
  }

  /** Non-spatial layers: one bar per unit, scaled by the largest |value|; a click picks that unit. */
  private showStrip(d: ActivationData, K: number, hasPosition: boolean): void {
    this.layoutKey = "";
    this.cells = [];
    const canvas = h("canvas", { class: "nbs-act-strip", role: "img", "aria-label": "Activation values" });
    const lut = colormapLUT(d.colormap);
    const scale = maxAbs(d.acts) || 1;
    const barW = Math.max(1, Math.min(8, Math.floor(1024 / Math.max(K, 1))));
    const H = 48;
    canvas.width = Math.max(1, K * barW);
    canvas.height = H;
    const ctx = canvas.getContext("2d");
    let best = 0;
    for (let k = 0; k < K; k++) if (d.acts[k] > d.acts[best]) best = k;
    if (ctx) {
      for (let k = 0; k < K; k++) {
        const t = Math.max(0, d.acts[k]) / scale;
        const j = Math.round(t * 255) * 3;
        ctx.fillStyle = k === d.selectedChannel ? "#e53935" : `rgb(${lut[j]}, ${lut[j + 1]}, ${lut[j + 2]})`;
        const bh = k === d.selectedChannel ? H : Math.max(1, Math.round(t * H));
        ctx.fillRect(k * barW, H - bh, barW, bh);
      }
    }
    canvas.addEventListener("click", (e) => {
      const [, k] = clickPosition(e, canvas, 1, K);
      this.onPick({ channel: k, position: hasPosition ? [0, 0] : [] });
    });
    const text = K > 0 ? `Strongest unit: ${best} (${d.acts[best].toPrecision(3)}). Selected: ${d.selectedChannel}.` : "";
    this.body.replaceChildren(canvas, h("p", { class: "nbs-caption" }, text));
  }
}
