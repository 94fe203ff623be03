// @vitest-environment jsdom
import { beforeEach, describe, expect, it } from "vitest";
import { type ActivationPick, ActivationGrid } from "../../js/src/panels/attribution/activations";
import { installFakeCanvas, painted } from "./fake_canvas";

const K = 2048;
const HW = 49;
// channel k's maximum is (k * 7919) % 2048: a permutation, so the strongest-first order is known exactly
const acts = new Float32Array(K * HW);
for (let k = 0; k < K; k++) for (let i = 0; i < HW; i++) acts[k * HW + i] = i === 3 ? (k * 7919) % K : -1;
const byStrength = Array.from({ length: K }, (_, k) => k).sort((a, b) => (b * 7919) % K - (a * 7919) % K);

let grid: ActivationGrid;
let picks: ActivationPick[];
const tiles = () => [...grid.element.querySelectorAll<HTMLElement>(".nbs-act-cell")];
const show = (selectedChannel = 0) =>
  grid.show({ acts, shape: [K, 7, 7], layer: "layer4.2", selectedChannel, position: [], colormap: "viridis" });
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
    for (const t of tiles()) expect(painted.has(t.querySelector("canvas")!)).toBe(true);
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
    find.value = "5000";
    find.dispatchEvent(new Event("change"));
    expect(find.getAttribute("aria-invalid")).toBe("true");
  });

  it("brings the selected channel into view when it changes", () => {
    show(0);
    show(2000);
    const tile = tiles().find((t) => t.dataset.channel === "2000");
    expect(tile?.classList.contains("nbs-selected")).toBe(true);
  });
});
