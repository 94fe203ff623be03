/**
 * The top-activating patches panel (Zeiler & Fergus 2014, Fig. 2): the nine strongest units of the selected
 * channel over the dataset, each as its image patch and its projection, from the kernel's patch index
 * (nbsaliency/patch_jobs.py). Follows the painted selection's layer, channel and method; a click opens the
 * patch's image with that unit selected. While the index is built: a progress bar and Cancel.
 * DOM glue around the pure logic of patches_state.ts.
 *
 * Data attributes for tests: `data-index-status`, `data-patches` (cells painted), `data-layer`, `data-channel`
 * and `data-painted-seq` of the painted grid.
 */
import { decodeRGBA } from "../../lib/decode";
import { h, paintCanvas } from "../../lib/dom";
import { formatValue } from "../../lib/format";
import {
  type IndexCommandMessage,
  MSG_INDEX_BUILD,
  MSG_INDEX_CANCEL,
  MSG_PATCHES,
  MSG_PATCH_OPEN,
  PATCH_BUFFERS,
  type PatchInfo,
  type PatchOpenMessage,
  type PatchesMessage,
  type PatchesResultMessage,
  isPatchesResultMessage,
} from "../../protocol";
import {
  type GridKey,
  GridRequests,
  type IndexState,
  gridCaption,
  patchScale,
  indexText,
  patchLabel,
} from "./state";

type Outgoing = PatchesMessage | PatchOpenMessage | IndexCommandMessage;

/**
 * How long the selection must rest on a new (layer, channel, method) before its grid is asked for (ms). A
 * grid's projections are a batched backward pass over nine dataset images: stepping through channels, they
 * would compete with the attributions the user is waiting for, and all but the last would be thrown away.
 * Meanwhile the drawn grid stays, marked "updating…". The first grid is asked for at once.
 */
export const GRID_SETTLE_MS = 300;

export class PatchesPanel {
  readonly element: HTMLElement;
  private readonly send: (msg: Outgoing) => void;
  private readonly methodLabel: (name: string) => string;
  private readonly requests: GridRequests;
  private index: IndexState = { status: "none", done: 0, total: -1, message: "" };
  private settle: ReturnType<typeof setTimeout> | undefined;
  private asked = false;

  private readonly progress = h("progress", { "aria-label": "Index progress", max: 1 });
  private readonly cancelButton = h("button", { type: "button", class: "nbs-button" }, "Cancel indexing");
  private readonly buildButton = h("button", { type: "button", class: "nbs-button" }, "Build index");
  private readonly status = h("p", { class: "nbs-patches-status", role: "status" });
  private readonly caption = h("p", { class: "nbs-caption" });
  private readonly problem = h("p", { class: "nbs-inline-error" });
  // While a new grid is coming the old one stays, marked: its caption names what is drawn, this says it is stale.
  private readonly updating = h("span", { class: "nbs-updating", role: "status" }, "updating…");
  private readonly grid = h("div", { class: "nbs-patch-grid" });

  /**
   * @param send sends a message to the kernel
   * @param methodLabel a method's label from the catalogue
   * @param firstId the first request id (views of one model start far apart)
   */
  constructor(send: (msg: Outgoing) => void, methodLabel: (name: string) => string, firstId = 1) {
    this.send = send;
    this.methodLabel = methodLabel;
    this.requests = new GridRequests((id, key) => {
      const msg: PatchesMessage = { kind: MSG_PATCHES, id, ...key };
      this.send(msg);
    }, firstId);
    this.element = h(
      "section",
      { class: "nbs-panel nbs-patches", "aria-label": "Top-activating patches" },
      h("h3", {}, "Top-activating patches"),
      h("div", { class: "nbs-index-row" }, this.progress, this.cancelButton, this.buildButton, this.status),
      this.caption,
      this.updating,
      this.problem,
      this.grid,
    );
    if (typeof ResizeObserver !== "undefined") new ResizeObserver(() => this.refit()).observe(this.element);
    this.cancelButton.addEventListener("click", () => {
      this.send({ kind: MSG_INDEX_CANCEL });
      this.cancelButton.disabled = true; // until the kernel reports the new status
    });
    this.buildButton.addEventListener("click", () => {
      this.send({ kind: MSG_INDEX_BUILD });
      this.buildButton.disabled = true;
    });
    this.element.dataset.patches = "0";
    this.setIndex(this.index);
  }

  /** Sizes a crop's canvas so that a row of three tiles fits the panel (patchScale). */
  private fit(canvas: HTMLCanvasElement): void {
    const scale = patchScale(this.element.clientWidth, canvas.height, canvas.width);
    canvas.style.width = `${canvas.width * scale}px`;
    canvas.style.height = `${canvas.height * scale}px`;
  }

  /** The panel changed width (a narrower notebook, a side panel opened): refit the painted crops. */
  private refit(): void {
    for (const canvas of this.grid.querySelectorAll("canvas")) this.fit(canvas);
  }

  /** The painted selection: ask for its grid when layer, channel or method changed (after GRID_SETTLE_MS). */
  follow(key: GridKey): void {
    clearTimeout(this.settle);
    this.settle = undefined;
    if (!this.asked || !this.requests.wouldAsk(key)) {
      this.asked = true;
      this.requests.follow(key); // the first grid at once; the grid already asked for: nothing to ask
    } else {
      this.settle = setTimeout(() => {
        this.settle = undefined;
        this.requests.follow(key);
        this.updateBusy();
      }, GRID_SETTLE_MS);
    }
    this.updateBusy();
  }

  close(): void {
    clearTimeout(this.settle);
    this.settle = undefined;
  }

  /** The index traits changed. */
  setIndex(state: IndexState): void {
    const becameReady = state.status === "ready" && this.index.status !== "ready";
    if (state.status !== this.index.status) {
      // a click disables its button until the kernel reports the status it asked for (progress ticks do not)
      this.cancelButton.disabled = false;
      this.buildButton.disabled = false;
    }
    this.index = state;
    const building = state.status === "building";
    this.progress.hidden = !building;
    this.cancelButton.hidden = !building;
    this.buildButton.hidden = state.status !== "cancelled" && state.status !== "error";
    if (building && state.total > 0) {
      this.progress.max = state.total;
      this.progress.value = state.done;
    } else if (building) this.progress.removeAttribute("value"); // indeterminate
    this.status.textContent = indexText(state);
    this.element.dataset.indexStatus = state.status;
    if (becameReady) this.requests.refresh();
    this.updateBusy();
  }

  /** Handle a custom message; false when it is not the panel's. */
  handle(msg: unknown, buffers: DataView[] = []): boolean {
    if (!isPatchesResultMessage(msg)) return false;
    const verdict = this.requests.resolve(msg);
    if (verdict === "paint") {
      try {
        this.paint(msg, buffers);
      } catch (err) {
        this.problem.textContent = `Could not show the patches: ${err instanceof Error ? err.message : String(err)}`;
      }
    }
    this.updateBusy();
    return true;
  }

  private paint(msg: PatchesResultMessage, buffers: DataView[]): void {
    this.element.dataset.paintedSeq = String(msg.seq);
    this.problem.textContent = msg.error;
    if (msg.error) {
      this.grid.replaceChildren();
      this.caption.textContent = "";
      this.element.dataset.patches = "0";
      return;
    }
    const cells = msg.patches.map((p) => this.cell(msg, p, buffers));
    this.grid.replaceChildren(...cells);
    this.caption.textContent = gridCaption(msg, this.methodLabel);
    this.element.dataset.patches = String(cells.length);
    this.element.dataset.layer = msg.layer;
    this.element.dataset.channel = String(msg.channel);
  }

  private cell(msg: PatchesResultMessage, p: PatchInfo, buffers: DataView[]): HTMLButtonElement {
    const [H, W] = p.shape;
    const crop = (offset: number, what: string) => {
      const canvas = h("canvas", { class: "nbs-pixelated", "data-part": what, "aria-hidden": "true" });
      const buffer = buffers[PATCH_BUFFERS * p.rank + offset] ?? new ArrayBuffer(0);
      paintCanvas(canvas, decodeRGBA(buffer, p.shape), W, H);
      this.fit(canvas);
      return canvas;
    };
    const button = h(
      "button",
      { type: "button", class: "nbs-patch", "aria-label": patchLabel(p), title: `image ${p.image} at (${p.y}, ${p.x})` },
      h("span", { class: "nbs-patch-pair" }, crop(0, "patch"), crop(1, "projection")),
      h("span", { class: "nbs-patch-value" }, formatValue(p.value)),
    );
    button.addEventListener("click", () => {
      const open: PatchOpenMessage = { kind: MSG_PATCH_OPEN, layer: msg.layer, channel: msg.channel, rank: p.rank };
      this.send(open);
    });
    return button;
  }

  private updateBusy(): void {
    const coming = this.requests.busy || this.settle !== undefined;
    this.element.setAttribute("aria-busy", String(coming || this.index.status === "building"));
    this.updating.hidden = !coming;
    this.grid.classList.toggle("nbs-stale", coming);
  }
}
