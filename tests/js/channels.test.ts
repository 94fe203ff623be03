import { describe, expect, it } from "vitest";
import {
  channelOrder,
  columnsFor,
  scrollToTile,
  strongestChannel,
  visibleTiles,
} from "../../js/src/lib/channels";

/** Each channel's largest value of [K, hw] values (the kernel sends these as BUFFER_ACTIVATION_MAXIMA). */
const maximaOf = (a: Float32Array, K: number, hw: number) =>
  Float32Array.from({ length: K }, (_, k) => Math.max(...a.subarray(k * hw, (k + 1) * hw)));

describe("channel order", () => {
  it("orders by index, or strongest first with ties by index", () => {
    const m = new Float32Array([3, 9, -1, 9]);
    expect(channelOrder(m, "index")).toEqual([0, 1, 2, 3]);
    expect(channelOrder(m, "strongest")).toEqual([1, 3, 0, 2]);
    expect(strongestChannel(m)).toBe(1);
    expect(strongestChannel([])).toBe(-1);
  });

  it("agrees with a brute-force sort on 2048 random channels", () => {
    const K = 2048;
    const hw = 49;
    const a = new Float32Array(K * hw).map((_, i) => Math.sin(i * 12.9898) * 43758.5453 % 1);
    const m = maximaOf(a, K, hw);
    const order = channelOrder(m, "strongest");
    const brute = Array.from({ length: K }, (_, k) => [Math.max(...a.slice(k * hw, (k + 1) * hw)), k]);
    brute.sort((x, y) => y[0] - x[0] || x[1] - y[1]);
    expect(order).toEqual(brute.map(([, k]) => k));
    expect(order[0]).toBe(strongestChannel(m));
    expect(new Set(order).size).toBe(K);
  });
});

describe("the scrolled window of tiles", () => {
  const g = { columns: 8, rowHeight: 50, count: 2048 }; // 256 rows

  it("fits whole tiles in the width", () => {
    expect(columnsFor(400, 44, 4)).toBe(8); // 8 * 44 + 7 * 4 = 380 <= 400 < 9 * 44 + 8 * 4
    expect(columnsFor(10, 44, 4)).toBe(1);
  });

  it("builds only the rows in view plus the overscan", () => {
    expect(visibleTiles(g, 0, 380, 2)).toEqual([0, 80]); // rows 0..9 (ceil(380 / 50) = 8, + 2)
    expect(visibleTiles(g, 5000, 380, 2)).toEqual([98 * 8, 110 * 8]);
    expect(visibleTiles(g, 1e9, 380, 2)).toEqual([2048, 2048]);
    expect(visibleTiles({ ...g, count: 0 }, 0, 380)).toEqual([0, 0]);
    const [a, b] = visibleTiles(g, 5000, 380, 0);
    // every tile whose row overlaps [5000, 5380) is in the window
    for (let i = 0; i < g.count; i++) {
      const top = Math.floor(i / g.columns) * g.rowHeight;
      const overlaps = top < 5380 && top + g.rowHeight > 5000;
      if (overlaps) expect(i >= a && i < b).toBe(true);
    }
  });

  it("scrolls just enough to show a tile", () => {
    expect(scrollToTile(g, 0, 500, 380)).toBe(0); // above: its row at the top
    expect(scrollToTile(g, 8 * 20, 0, 380)).toBe(20 * 50 + 50 - 380); // below: its row at the bottom
    expect(scrollToTile(g, 8 * 3, 100, 380)).toBe(100); // already in view
  });
});
