/**
 * The kernels panel (Krizhevsky et al. 2012, Fig. 3): the selected convolution's filters beside its activation
 * maps. The first layer as colour tiles, one per filter (the selected one framed); a deeper layer as grey
 * tiles of the selected channel's filter, one per input channel. Mid-grey is a zero weight (signed mapping).
 * Follows the painted selection's layer and channel (nbsaliency/explorer/kernels.py answers).
 *
 * Data attributes for tests: `data-conv`, `data-tiles` (tiles painted), `data-channel`.
 */
import { decodeRGBA } from "../../lib/decode";
import { h, paintCanvas } from "../../lib/dom";
import {
  type KernelsMessage,
  type KernelsResultMessage,
  MSG_KERNELS,
  type Selection,
  isKernelsResultMessage,
} from "../../protocol";
import { composeTiles, magnification, tileLayout } from "./tiles";

export function kernelsCaption(msg: KernelsResultMessage): string {
  if (msg.error) return "";
  const what = msg.rgb
    ? `${msg.conv}: ${msg.filters.length} filters as colour (filter ${msg.channel} framed)`
    : `${msg.conv}: filter ${msg.channel}, one grey tile per input channel`;
  return `${what} · mid-grey = 0${msg.note ? ` · ${msg.note}` : ""}`;
}

export class KernelsPanel {
  readonly element: HTMLElement;
  private readonly send: (msg: KernelsMessage) => void;
  private readonly canvas = h("canvas", { class: "nbs-pixelated", role: "img", "aria-label": "Kernels" });
  private readonly caption = h("p", { class: "nbs-caption" });
  private readonly problem = h("p", { class: "nbs-inline-error" });
  private nextId: number;
  private latest = -1;
  private asked = "";

  constructor(send: (msg: KernelsMessage) => void, firstId = 1) {
    this.send = send;
    this.nextId = firstId;
    this.element = h(
      "section",
      { class: "nbs-panel nbs-kernels", "aria-label": "Kernels" },
      h("h3", {}, "Kernels"),
      this.caption,
      this.problem,
      this.canvas,
    );
    this.element.dataset.tiles = "0";
  }

  /** The painted selection: ask for its kernels when layer or channel changed. */
  follow(selection: Selection): void {
    const key = `${selection.layer}\u0000${selection.channel}`;
    if (key === this.asked) return;
    this.asked = key;
    this.latest = this.nextId++;
    this.send({ kind: MSG_KERNELS, id: this.latest, layer: selection.layer, channel: selection.channel });
  }

  handle(msg: unknown, buffers: DataView[] = []): boolean {
    if (!isKernelsResultMessage(msg)) return false;
    if (msg.id !== this.latest) return true; // an older answer: a newer one is coming
    try {
      this.paint(msg, buffers);
    } catch (err) {
      this.problem.textContent = `Could not show the kernels: ${err instanceof Error ? err.message : String(err)}`;
    }
    return true;
  }

  private paint(msg: KernelsResultMessage, buffers: DataView[]): void {
    this.problem.textContent = msg.error;
    this.caption.textContent = kernelsCaption(msg);
    const n = msg.filters.length;
    const [kh, kw] = msg.shape;
    const layout = tileLayout(n, kh, kw);
    const tiles = decodeRGBA(buffers[0] ?? new ArrayBuffer(0), [n * kh, kw, 4]);
    const framed = msg.rgb ? msg.filters.indexOf(msg.channel) : -1;
    const picture = composeTiles(tiles, n, kh, kw, layout, framed);
    paintCanvas(this.canvas, picture, layout.width, layout.height);
    const scale = magnification(layout.width);
    this.canvas.style.width = `${layout.width * scale}px`;
    this.canvas.style.height = `${layout.height * scale}px`;
    this.canvas.hidden = n === 0;
    Object.assign(this.element.dataset, { conv: msg.conv, tiles: String(n), channel: String(msg.channel) });
  }
}
