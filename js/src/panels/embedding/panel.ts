/**
 * The t-SNE panel (Karpathy's CNN-codes figure; van der Maaten & Hinton 2008): a button maps the dataset's codes
 * at the selected layer in 2-D (computed in a kernel thread by nbsaliency/explorer/embedding.py with nbs.tsne);
 * hovering a point shows its image, clicking opens it as the current input (like a patch).
 *
 * While a map is computed, "Cancel map" stops it (the kernel stops before its next batch of codes, or when
 * scikit-learn's fit returns).
 *
 * Data attributes for tests: `data-status` ("none", "running", "done", "error", "cancelled"), `data-points`,
 * `data-layer`, `data-hover` (the point under the pointer, -1 for none).
 */
import { decodeFloat32, decodeRGBA } from "../../lib/decode";
import { h, paintCanvas } from "../../lib/dom";
import {
  MSG_TSNE,
  MSG_TSNE_CANCEL,
  MSG_TSNE_OPEN,
  TSNE_BUFFER_POINTS,
  TSNE_BUFFER_THUMBNAILS,
  type TsneCancelMessage,
  type TsneMessage,
  type TsneOpenMessage,
  type TsneResultMessage,
  isTsneResultMessage,
} from "../../protocol";
import { canvasPoint, fitPoints, nearestPoint } from "./scatter";

const SIZE = 320;

interface Shown {
  layer: string;
  n: number;
  positions: Float32Array;
  thumbnails: Uint8ClampedArray<ArrayBuffer>;
  thumb: number;
}

type Outgoing = TsneMessage | TsneCancelMessage | TsneOpenMessage;

export function tsneStatusText(msg: TsneResultMessage): string {
  if (msg.status === "running") return `Computing the t-SNE map of ${msg.layer}…`;
  if (msg.status === "cancelled") return `The map of ${msg.layer} was cancelled.`;
  if (msg.status === "error") return "";
  return `${msg.n} images · ${msg.note}`;
}

export class EmbeddingPanel {
  readonly element: HTMLElement;
  private readonly send: (msg: Outgoing) => void;
  private readonly layer: () => string;
  private readonly button = h("button", { type: "button", class: "nbs-button" }, "Map the dataset (t-SNE)");
  private readonly cancelButton = h("button", { type: "button", class: "nbs-button" }, "Cancel map");
  private readonly status = h("p", { class: "nbs-caption", role: "status" });
  private readonly problem = h("p", { class: "nbs-inline-error" });
  private readonly canvas = h("canvas", {
    class: "nbs-tsne-map",
    width: SIZE,
    height: SIZE,
    role: "img",
    "aria-label": "t-SNE map of the dataset",
  });
  private readonly preview = h("canvas", { class: "nbs-pixelated nbs-tsne-preview", "aria-hidden": "true" });
  private readonly previewText = h("span", { class: "nbs-caption" });
  private shown: Shown | null = null;
  private hover = -1;
  private nextId: number;
  private latest = -1;

  /** @param layer the selected layer (the map is of its codes) */
  constructor(send: (msg: Outgoing) => void, layer: () => string, firstId = 1) {
    this.send = send;
    this.layer = layer;
    this.nextId = firstId;
    this.canvas.hidden = true;
    this.preview.hidden = true;
    this.element = h(
      "section",
      { class: "nbs-panel nbs-tsne", "aria-label": "t-SNE of codes" },
      h("h3", {}, "t-SNE of codes"),
      h("div", { class: "nbs-index-row" }, this.button, this.cancelButton, this.status),
      this.problem,
      h("div", { class: "nbs-tsne-row" }, this.canvas, h("div", { class: "nbs-tsne-side" }, this.preview, this.previewText)),
    );
    this.element.dataset.status = "none";
    this.element.dataset.hover = "-1";
    this.cancelButton.hidden = true;
    this.button.addEventListener("click", () => this.ask());
    this.cancelButton.addEventListener("click", () => {
      this.cancelButton.disabled = true; // until the kernel answers "cancelled"
      this.send({ kind: MSG_TSNE_CANCEL, id: this.latest });
    });
    this.canvas.addEventListener("mousemove", (event) => this.setHover(this.pointAt(event)));
    this.canvas.addEventListener("mouseleave", () => this.setHover(-1));
    this.canvas.addEventListener("click", (event) => {
      const i = this.pointAt(event);
      if (i >= 0) this.send({ kind: MSG_TSNE_OPEN, index: i });
    });
  }

  /** Ask for the map of the selected layer. */
  ask(): void {
    this.latest = this.nextId++;
    this.button.disabled = true;
    this.cancelButton.hidden = false;
    this.cancelButton.disabled = false;
    this.send({ kind: MSG_TSNE, id: this.latest, layer: this.layer() });
  }

  handle(msg: unknown, buffers: DataView[] = []): boolean {
    if (!isTsneResultMessage(msg)) return false;
    if (msg.id !== this.latest) return true;
    this.element.dataset.status = msg.status;
    this.status.textContent = tsneStatusText(msg);
    this.problem.textContent = msg.error;
    if (msg.status === "running") return true;
    this.button.disabled = false;
    this.cancelButton.hidden = true;
    if (msg.status === "done") {
      try {
        this.show(msg, buffers);
      } catch (err) {
        this.problem.textContent = `Could not show the map: ${err instanceof Error ? err.message : String(err)}`;
      }
    }
    return true;
  }

  private show(msg: TsneResultMessage, buffers: DataView[]): void {
    const coordinates = decodeFloat32(buffers[TSNE_BUFFER_POINTS] ?? new ArrayBuffer(0), [msg.n, 2]);
    const thumb = msg.thumbnail[0];
    const thumbnails = decodeRGBA(buffers[TSNE_BUFFER_THUMBNAILS] ?? new ArrayBuffer(0), [msg.n * thumb, thumb, 4]);
    this.shown = { layer: msg.layer, n: msg.n, positions: fitPoints(coordinates, msg.n, SIZE, SIZE), thumbnails, thumb };
    this.canvas.hidden = false;
    this.element.dataset.points = String(msg.n);
    this.element.dataset.layer = msg.layer;
    this.setHover(-1);
  }

  /** The point under a pointer event, -1 for none. */
  private pointAt(event: MouseEvent): number {
    if (this.shown === null) return -1;
    const rect = this.canvas.getBoundingClientRect();
    const c = this.canvas;
    // the content box (inside the border); jsdom has no layout, so its client sizes are 0: the rect then
    const box = {
      left: rect.left + c.clientLeft,
      top: rect.top + c.clientTop,
      width: c.clientWidth || rect.width,
      height: c.clientHeight || rect.height,
    };
    const [x, y] = canvasPoint(event.clientX, event.clientY, box, SIZE, SIZE);
    return nearestPoint(this.shown.positions, x, y);
  }

  private setHover(i: number): void {
    this.hover = i;
    this.element.dataset.hover = String(i);
    this.draw();
    const shown = this.shown;
    this.preview.hidden = shown === null || i < 0;
    if (shown === null || i < 0) {
      this.previewText.textContent = shown === null ? "" : "Hover a point to see its image; click to open it.";
      return;
    }
    const t = shown.thumb;
    paintCanvas(this.preview, shown.thumbnails.slice(i * t * t * 4, (i + 1) * t * t * 4), t, t);
    this.preview.style.width = `${2 * t}px`;
    this.preview.style.height = `${2 * t}px`;
    this.previewText.textContent = `image ${i} — click to open`;
  }

  private draw(): void {
    const ctx = this.canvas.getContext("2d");
    const shown = this.shown;
    if (ctx === null || shown === null) return;
    ctx.fillStyle = "#f4f4f4";
    ctx.fillRect(0, 0, SIZE, SIZE);
    const { positions, n } = shown;
    for (let i = 0; i < n; i++) {
      ctx.fillStyle = i === this.hover ? "#d32f2f" : "#1976d2";
      const r = i === this.hover ? 4 : 2;
      ctx.fillRect(positions[2 * i] - r, positions[2 * i + 1] - r, 2 * r, 2 * r);
    }
  }
}
