/**
 * The activation maps of the selected layer ([K, h, w]), each normalised to its own maximum. A click inside a
 * map picks that channel and neuron; a click on its caption picks the channel alone. Non-spatial layers
 * (h = w = 1) get one bar strip instead. Thousands of channels stay cheap: only the tiles in the scrolled
 * window exist (lib/channels.ts), in the order the user chooses (by index, or strongest first for this
 * image); "Find channel" scrolls to a channel and "Strongest" picks the strongest one.
 *
 * All visible maps are drawn on ONE canvas under the tiles (each tile keeps its own labelled, clickable map
 * area, marker and caption): a canvas per tile made every frame of the page composite ~100 canvas layers,
 * which cost ~13 ms a frame in a software-rendered browser and delayed the next answer's paint.
 */
import { type ChannelOrder, type GridGeometry, channelOrder, columnsFor, scrollToTile, strongestChannel, visibleTiles } from "../../lib/channels";
import { colormapLUT } from "../../lib/colormaps";
import { field, h, paintCanvas } from "../../lib/dom";
import type { ColormapName } from "../../protocol";
import { activationAtlas, maxAbs } from "../../lib/render";
import { positionFromClick } from "../../lib/selection";

/** [y, x] of the unit under a mouse event on an element showing an h x w map. */
function clickPosition(e: MouseEvent, area: Element, h: number, w: number): [number, number] {
  const r = area.getBoundingClientRect();
  return positionFromClick(e.clientX - r.left, e.clientY - r.top, r.width, r.height, h, w);
}

export interface ActivationPick {
  channel: number;
  /** [y, x] for a click inside a spatial map; null for a caption click. */
  position: number[] | null;
}

export interface ActivationData {
  /** Colormap indices of the [K, h, w] maps, each map scaled to its own maximum (protocol BUFFER_ACTIVATIONS). */
  codes: Uint8Array;
  /** Each map's largest finite value (BUFFER_ACTIVATION_MAXIMA): the channel order, and the values of 1-unit maps. */
  maxima: Float32Array;
  shape: number[];
  layer: string;
  selectedChannel: number;
  position: number[];
  colormap: ColormapName;
}

const GAP = 4;
const CAPTION = 18; // caption height under each map (CSS px)
const BORDER = 2; // a tile's border (the selected tile's is coloured), around its map (CSS px)
const VIEW = 380; // the scroll box's height when the page gives none (CSS max-height)

interface Tile {
  cell: HTMLElement;
  marker: HTMLElement;
}

export class ActivationGrid {
  readonly element: HTMLElement;
  private readonly heading = h("h3", {});
  private readonly body = h("div", { class: "nbs-act-body" });
  private readonly order = h("select", {}, h("option", { value: "index" }, "channel index"), h("option", { value: "strongest" }, "strongest first"));
  private readonly find = h("input", { type: "number", min: 0, step: 1, placeholder: "#" });
  private readonly strongest = h("button", { type: "button", class: "nbs-button" }, "Strongest");
  private readonly toolbar: HTMLElement;
  private readonly scroller = h("div", { class: "nbs-act-grid" });
  private readonly sizer = h("div", { class: "nbs-act-sizer" });
  /** The maps of the tiles in the window, drawn at their tiles' places (under the tiles). */
  private readonly canvas = h("canvas", { class: "nbs-act-window", "aria-hidden": "true" });
  /** The window's maps side by side at their own size, scaled onto `canvas` tile by tile. */
  private readonly atlas = h("canvas");
  private readonly onPick: (pick: ActivationPick) => void;
  private data: ActivationData | null = null;
  private K = 0;
  private hh = 0;
  private ww = 0;
  private tileW = 44;
  private tileH = 44;
  private maxima: ArrayLike<number> = [];
  private shownOrder: number[] = [];
  private tiles = new Map<number, Tile>();
  private lastSelected = -1;
  private frame = 0;

  constructor(onPick: (pick: ActivationPick) => void) {
    this.onPick = onPick;
    this.sizer.append(this.canvas);
    this.scroller.append(this.sizer);
    this.toolbar = h(
      "div",
      { class: "nbs-act-toolbar" },
      field("Order", this.order),
      field("Find channel", this.find),
      this.strongest,
    );
    this.element = h("section", { class: "nbs-panel nbs-activations" }, this.heading, this.toolbar, this.body);
    this.order.addEventListener("change", () => this.reorder());
    this.find.addEventListener("change", () => this.findChannel());
    this.find.addEventListener("keydown", (e) => {
      if (e.key === "Enter") this.findChannel();
    });
    this.strongest.addEventListener("click", () => {
      const k = strongestChannel(this.maxima);
      if (k >= 0) this.onPick({ channel: k, position: null });
    });
    this.scroller.addEventListener("scroll", () => this.schedule());
    if (typeof ResizeObserver !== "undefined") new ResizeObserver(() => this.schedule()).observe(this.scroller);
  }

  clear(message: string): void {
    this.data = null;
    this.K = 0;
    this.dropTiles();
    this.toolbar.hidden = true;
    this.heading.textContent = "Activation maps";
    this.body.replaceChildren(h("p", { class: "nbs-caption" }, message));
  }

  show(d: ActivationData): void {
    const [K, hh, ww] = d.shape.length >= 3 ? d.shape : [d.shape[0] ?? 0, 1, 1];
    this.heading.textContent = `Activation maps of ${d.layer} (${K} channels${hh * ww > 1 ? `, ${hh}×${ww}` : ""})`;
    this.maxima = d.maxima;
    this.toolbar.hidden = hh * ww <= 1; // a strip shows every unit and names the strongest itself
    this.find.max = String(Math.max(0, K - 1));
    if (hh * ww <= 1) {
      this.data = null;
      this.dropTiles();
      this.showStrip(d, K, d.shape.length >= 3);
      return;
    }
    const layout = K !== this.K || hh !== this.hh || ww !== this.ww || this.body.firstChild !== this.scroller;
    this.data = d;
    if (layout) {
      this.K = K;
      this.hh = hh;
      this.ww = ww;
      this.tileW = K <= 16 ? 88 : K <= 64 ? 64 : 44;
      this.tileH = Math.max(8, Math.round((this.tileW * hh) / ww));
      this.dropTiles();
      this.scroller.scrollTop = 0;
      this.body.replaceChildren(this.scroller);
    }
    this.shownOrder = channelOrder(this.maxima, this.orderKind());
    this.size(this.geometry()); // before reveal reads the scroll box's height
    if (d.selectedChannel !== this.lastSelected) {
      this.lastSelected = d.selectedChannel;
      this.reveal(d.selectedChannel);
    }
    this.paintWindow();
  }

  private orderKind(): ChannelOrder {
    return this.order.value === "strongest" ? "strongest" : "index";
  }

  private geometry() {
    const width = this.scroller.clientWidth || 600;
    return { columns: columnsFor(width, this.tileW, GAP), rowHeight: this.tileH + CAPTION + GAP, count: this.K };
  }

  private reorder(): void {
    this.shownOrder = channelOrder(this.maxima, this.orderKind());
    this.scroller.scrollTop = 0;
    this.paintWindow();
  }

  /** Scrolls the grid (only the grid) so that channel k's tile is in view. */
  private reveal(k: number): void {
    const i = this.shownOrder.indexOf(k);
    if (i < 0) return;
    const g = this.geometry();
    // a box not laid out yet (or hidden) reads 0 or its padding: the height it will have, not a sliver
    const view = this.scroller.clientHeight >= g.rowHeight ? this.scroller.clientHeight : VIEW;
    this.scroller.scrollTop = scrollToTile(g, i, this.scroller.scrollTop, view);
  }

  private findChannel(): void {
    const k = Math.round(Number(this.find.value));
    if (this.find.value.trim() === "" || !(k >= 0 && k < this.K)) {
      this.find.setAttribute("aria-invalid", "true");
      return;
    }
    this.find.removeAttribute("aria-invalid");
    this.reveal(k);
    this.paintWindow();
    this.tiles.get(k)?.cell.querySelector("button")?.focus({ preventScroll: true });
  }

  private schedule(): void {
    if (this.frame !== 0 || this.data === null) return;
    const raf = typeof requestAnimationFrame === "function" ? requestAnimationFrame : (cb: () => void) => setTimeout(cb, 0);
    this.frame = raf(() => {
      this.frame = 0;
      this.paintWindow();
    }) as number;
  }

  private dropTiles(): void {
    for (const t of this.tiles.values()) t.cell.remove();
    this.tiles.clear();
  }

  /** Builds and places the tiles in the scrolled window (removing the others) and draws their maps. */
  private paintWindow(): void {
    const d = this.data;
    if (d === null) return;
    const g = this.geometry();
    const view = this.scroller.clientHeight || VIEW;
    const [start, end] = visibleTiles(g, this.scroller.scrollTop, view);
    this.size(g);
    const keep = new Set<number>();
    const channels: number[] = [];
    for (let i = start; i < end; i++) {
      const k = this.shownOrder[i];
      keep.add(k);
      channels.push(k);
      let tile = this.tiles.get(k);
      if (tile === undefined) {
        tile = this.tile(k);
        this.tiles.set(k, tile);
        this.sizer.append(tile.cell);
      }
      tile.cell.style.transform = `translate(${(i % g.columns) * (this.tileW + GAP)}px, ${Math.floor(i / g.columns) * g.rowHeight}px)`;
      this.mark(tile, k, d);
    }
    for (const [k, t] of this.tiles) {
      if (!keep.has(k)) {
        t.cell.remove();
        this.tiles.delete(k);
      }
    }
    this.drawMaps(d, g.columns, start, channels);
  }

  /** The sizer as tall as all rows, the scroll box as tall as that or VIEW. */
  private size(g: GridGeometry): void {
    const total = Math.ceil(g.count / g.columns) * g.rowHeight;
    this.sizer.style.height = `${total}px`;
    this.scroller.style.height = `${Math.min(VIEW, total + 4)}px`;
  }

  /** Draws the maps of `channels` (window positions start, start + 1, ...) on the one canvas. */
  private drawMaps(d: ActivationData, columns: number, start: number, channels: number[]): void {
    const firstRow = Math.floor(start / columns);
    const rows = Math.ceil(channels.length / columns);
    const cssW = columns * (this.tileW + GAP);
    const cssH = Math.max(1, rows * (this.tileH + CAPTION + GAP));
    const scale = typeof devicePixelRatio === "number" && devicePixelRatio > 0 ? devicePixelRatio : 1;
    const W = Math.round(cssW * scale);
    const H = Math.round(cssH * scale);
    if (this.canvas.width !== W) this.canvas.width = W;
    if (this.canvas.height !== H) this.canvas.height = H;
    this.canvas.style.width = `${cssW}px`;
    this.canvas.style.height = `${cssH}px`;
    this.canvas.style.transform = `translateY(${firstRow * (this.tileH + CAPTION + GAP)}px)`;
    const ctx = this.canvas.getContext("2d");
    if (ctx === null) return;
    ctx.clearRect(0, 0, W, H);
    if (channels.length === 0) return;
    const atlas = activationAtlas(d.codes, channels, this.hh, this.ww, columns, d.colormap);
    paintCanvas(this.atlas, atlas.rgba, atlas.width, atlas.height);
    ctx.imageSmoothingEnabled = false; // each unit a sharp block, as the paper figures show them
    const mapW = (this.tileW - 2 * BORDER) * scale;
    const mapH = this.tileH * scale;
    channels.forEach((_, j) => {
      const c = j % columns;
      const r = Math.floor(j / columns);
      const x = (c * (this.tileW + GAP) + BORDER) * scale;
      const y = (r * (this.tileH + CAPTION + GAP) + BORDER) * scale;
      ctx.drawImage(this.atlas, c * this.ww, r * this.hh, this.ww, this.hh, x, y, mapW, mapH);
    });
  }

  private mark(tile: Tile, k: number, d: ActivationData): void {
    const selected = k === d.selectedChannel;
    tile.cell.classList.toggle("nbs-selected", selected);
    if (selected) tile.cell.setAttribute("aria-current", "true");
    else tile.cell.removeAttribute("aria-current");
    const showMarker = selected && d.position.length === 2;
    tile.marker.hidden = !showMarker;
    if (showMarker) {
      tile.marker.style.top = `${((d.position[0] + 0.5) / this.hh) * 100}%`;
      tile.marker.style.left = `${((d.position[1] + 0.5) / this.ww) * 100}%`;
    }
  }

  private tile(k: number): Tile {
    const { hh, ww } = this;
    // The map itself is drawn on the grid's canvas underneath; this area names it and takes its clicks.
    const area = h("div", {
      class: "nbs-act-map",
      role: "img",
      "aria-label": `Activation map, channel ${k}`,
      title: `Channel ${k}: click a position to select that neuron`,
      style: `height: ${this.tileH}px`,
      "data-map-shape": `${hh}x${ww}`,
    });
    area.addEventListener("click", (e) => this.onPick({ channel: k, position: clickPosition(e, area, hh, ww) }));
    const marker = h("span", { class: "nbs-act-marker", "aria-hidden": "true" });
    marker.hidden = true;
    area.append(marker);
    const caption = h("button", { type: "button", class: "nbs-act-caption" }, String(k));
    caption.addEventListener("click", () => this.onPick({ channel: k, position: null }));
    const cell = h("figure", { class: "nbs-act-cell", style: `width: ${this.tileW}px`, "data-channel": k }, area, caption);
    return { cell, marker };
  }

  /** Non-spatial layers: one bar per unit, scaled by the largest |value|; a click picks that unit. */
  private showStrip(d: ActivationData, K: number, hasPosition: boolean): void {
    const canvas = h("canvas", { class: "nbs-act-strip", role: "img", "aria-label": "Activation values" });
    const lut = colormapLUT(d.colormap);
    const values = d.maxima; // a map of one unit: its maximum is its value
    const scale = maxAbs(values) || 1;
    const barW = Math.max(1, Math.min(8, Math.floor(1024 / Math.max(K, 1))));
    const H = 48;
    canvas.width = Math.max(1, K * barW);
    canvas.height = H;
    const ctx = canvas.getContext("2d");
    let best = 0;
    for (let k = 0; k < K; k++) if (values[k] > values[best]) best = k;
    if (ctx) {
      for (let k = 0; k < K; k++) {
        const t = Math.max(0, values[k]) / scale;
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
    const text = K > 0 ? `Strongest unit: ${best} (${values[best].toPrecision(3)}). Selected: ${d.selectedChannel}.` : "";
    this.body.replaceChildren(canvas, h("p", { class: "nbs-caption" }, text));
  }
}
