// @vitest-environment jsdom
import { beforeEach, describe, expect, it } from "vitest";
import { type ActivationPick, ActivationGrid } from "../../js/src/panels/attribution/activations";
import { drawn, installFakeCanvas, painted } from "./fake_canvas";
import { activationRGBA } from "../../js/src/lib/render";

const K = 2048;
const HW = 49;
// channel k's maximum is (k * 7919) % 2048: a permutation, so the strongest-first order is known exactly
const maxima = Float32Array.from({ length: K }, (_, k) => (k * 7919) % K);
// codes as the kernel sends them: unit 3 at the map's maximum (255), unit 5 at a third of it, the rest 0
const codes = new Uint8Array(K * HW);
for (let k = 0; k < K; k++) {
  codes[k * HW + 3] = maxima[k] > 0 ? 255 : 0;
  codes[k * HW + 5] = (k * 13) % 256;
}
const byStrength = Array.from({ length: K }, (_, k) => k).sort((a, b) => (b * 7919) % K - (a * 7919) % K);

let grid: ActivationGrid;
let picks: ActivationPick[];
const tiles = () => [...grid.element.querySelectorAll<HTMLElement>(".nbs-act-cell")];
const show = (selectedChannel = 0) =>
  grid.show({ codes, maxima, shape: [K, 7, 7], layer: "layer4.2", selectedChannel, position: [], colormap: "viridis" });
const control = (label: string) => {
  const l = [...grid.element.querySelectorAll("label")].find((x) => x.textContent === label);
  return l!.control as HTMLInputElement & HTMLSelectElement;
};

beforeEach(() => {
  installFakeCanvas();
  document.body.replaceChildren();
  picks = [];
  grid = new ActivationGrid((p) => picks.push(p));
  document.body.append(grid.element);
});

describe("the activation grid with 2048 channels", () => {
  it("builds and paints only the tiles of the scrolled window", () => {
    show();
    const n = tiles().length;
    expect(n).toBeGreaterThan(0);
    expect(n).toBeLessThan(200);
    expect(tiles().map((t) => Number(t.dataset.channel))).toEqual(Array.from({ length: n }, (_, k) => k));
    for (const t of tiles()) expect(t.querySelector("canvas")).toBeNull(); // no canvas per tile
  });

  it("draws each tile's map on one canvas under the tiles, from its own channel's pixels", () => {
    show();
    const canvas = grid.element.querySelector<HTMLCanvasElement>("canvas.nbs-act-window")!;
    const calls = drawn.get(canvas)!;
    const cells = tiles();
    expect(calls).toHaveLength(cells.length);
    const atlas = calls[0].source as HTMLCanvasElement;
    const pixels = painted.get(atlas)!;
    const atlasWidth = atlas.width;
    cells.forEach((cell, j) => {
      const k = Number(cell.dataset.channel);
      const call = calls[j];
      // the atlas region drawn is channel k's 7 x 7 map, coloured as one tile of its own
      const own = activationRGBA(codes, k, 7, 7, "viridis");
      for (let y = 0; y < 7; y++) {
        const row = pixels.subarray(((call.sy + y) * atlasWidth + call.sx) * 4, ((call.sy + y) * atlasWidth + call.sx + 7) * 4);
        expect(Array.from(row)).toEqual(Array.from(own.subarray(y * 28, (y + 1) * 28)));
      }
      // ... drawn inside the tile's border, at the tile's place (a transform within the same sizer)
      const [, tx, ty] = /translate\((\d+)px, (\d+)px\)/.exec(cell.style.transform)!.map(Number);
      expect([call.dx, call.dy - 0]).toEqual([tx + 2, ty + 2]); // window starts at row 0 here
      expect([call.sw, call.sh]).toEqual([7, 7]);
      expect(call.dw).toBe(44 - 4);
    });
  });

  it("orders strongest first for this image", () => {
    show();
    const order = control("Order");
    order.value = "strongest";
    order.dispatchEvent(new Event("change"));
    const shown = tiles().map((t) => Number(t.dataset.channel));
    expect(shown).toEqual(byStrength.slice(0, shown.length));
  });

  it("picks the strongest channel from its button", () => {
    show();
    const button = [...grid.element.querySelectorAll("button")].find((b) => b.textContent === "Strongest")!;
    button.click();
    expect(picks).toEqual([{ channel: byStrength[0], position: null }]);
  });

  it("finds a channel by number: its tile is built and its caption focused", () => {
    show();
    expect(tiles().some((t) => t.dataset.channel === "1500")).toBe(false);
    const find = control("Find channel");
    find.value = "1500";
    find.dispatchEvent(new KeyboardEvent("keydown", { key: "Enter" }));
    const tile = tiles().find((t) => t.dataset.channel === "1500");
    expect(tile).toBeDefined();
    expect(document.activeElement).toBe(tile!.querySelector("button"));
    // the canvas moved with the window: one map per tile, the window's first row at the canvas's top
    const canvas = grid.element.querySelector<HTMLCanvasElement>("canvas.nbs-act-window")!;
    expect(drawn.get(canvas)).toHaveLength(tiles().length);
    const top = Math.min(...tiles().map((t) => Number(/translate\(\d+px, (\d+)px\)/.exec(t.style.transform)![1])));
    expect(canvas.style.transform).toBe(`translateY(${top}px)`);
    expect(top).toBeGreaterThan(0);
    find.value = "5000";
    find.dispatchEvent(new Event("change"));
    expect(find.getAttribute("aria-invalid")).toBe("true");
  });

  it("opens at the top when channel 0 is selected, even before the scroll box is laid out", () => {
    let height = 4; // a scroll box not laid out yet reads only its padding
    Object.defineProperty(HTMLElement.prototype, "clientHeight", {
      configurable: true,
      get(this: HTMLElement) {
        return this.classList.contains("nbs-act-grid") ? height : 0;
      },
    });
    try {
      show(0);
      const scroller = grid.element.querySelector<HTMLElement>(".nbs-act-grid")!;
      expect(scroller.scrollTop).toBe(0);
      height = 380;
      show(2000);
      expect(scroller.scrollTop).toBeGreaterThan(0);
    } finally {
      delete (HTMLElement.prototype as { clientHeight?: number }).clientHeight; // Element's own again
    }
  });

  it("brings the selected channel into view when it changes", () => {
    show(0);
    show(2000);
    const tile = tiles().find((t) => t.dataset.channel === "2000");
    expect(tile?.classList.contains("nbs-selected")).toBe(true);
  });
});
