import { describe, expect, it } from "vitest";
import { canvasPoint, fitPoints, nearestPoint } from "../../js/src/panels/embedding/scatter";
import { FRAME, GAP, composeTiles, magnification, tileLayout } from "../../js/src/panels/kernels/tiles";
import type { Selection } from "../../js/src/protocol";
import { barWidth, lesionCaption, lesionKey, percent, rowText, sameKey } from "../../js/src/panels/lesion/state";
import type { LesionResultMessage } from "../../js/src/protocol";

describe("kernel tiles", () => {
  it("lays n tiles out in a near-square grid with one-pixel gaps", () => {
    expect(tileLayout(64, 3, 3)).toEqual({ columns: 8, rows: 8, width: 33, height: 33 });
    expect(tileLayout(5, 3, 2)).toEqual({ columns: 3, rows: 2, width: 10, height: 9 });
    expect(tileLayout(200, 1, 1, 16)).toEqual({ columns: 15, rows: 14, width: 31, height: 29 });
    expect(tileLayout(0, 3, 3).width).toBe(0);
  });

  it("puts each tile's pixels at its cell, gaps grey and the framed tile's border in the frame colour", () => {
    const kh = 2;
    const kw = 2;
    const n = 3;
    const tiles = new Uint8Array(n * kh * kw * 4).map((_, i) => i % 256);
    const layout = tileLayout(n, kh, kw); // 2 columns: width 7, height 7
    const out = composeTiles(tiles, n, kh, kw, layout, 1);
    const pixel = (x: number, y: number) => Array.from(out.slice(4 * (y * layout.width + x), 4 * (y * layout.width + x) + 4));
    // tile t, row y, column x lives at (1 + (t % 2) * 3 + x, 1 + floor(t / 2) * 3 + y)
    for (let t = 0; t < n; t++) {
      for (let y = 0; y < kh; y++) {
        for (let x = 0; x < kw; x++) {
          const from = 4 * (t * kh * kw + y * kw + x);
          expect(pixel(1 + (t % 2) * 3 + x, 1 + Math.floor(t / 2) * 3 + y)).toEqual(Array.from(tiles.slice(from, from + 4)));
        }
      }
    }
    expect(pixel(0, 0)).toEqual([...GAP]);
    expect(pixel(3, 0)).toEqual([...FRAME]); // the gap left of tile 1 (column 1) is its frame
    expect(pixel(6, 3)).toEqual([...FRAME]);
    expect(pixel(6, 4)).toEqual([...GAP]); // beside tile 3's empty cell, below the frame
    expect(() => composeTiles(tiles.subarray(1), n, kh, kw, layout)).toThrow(/expected 3 tiles of 2x2/);
  });

  it("magnifies small pictures by a whole number", () => {
    expect(magnification(33)).toBe(7);
    expect(magnification(1000)).toBe(1);
    expect(magnification(2)).toBe(32);
  });
});

describe("t-SNE scatter", () => {
  it("fits points into the canvas with one scale, centred, y up", () => {
    const positions = fitPoints([0, 0, 10, 0, 0, 5], 3, 120, 120, 10);
    // span 10 x 5 into 100 x 100: scale 10; centre (5, 2.5) -> (60, 60)
    expect(Array.from(positions)).toEqual([10, 85, 110, 85, 10, 35]);
  });

  it("puts points that coincide in the middle", () => {
    expect(Array.from(fitPoints([3, 3, 3, 3], 2, 50, 40))).toEqual([25, 20, 25, 20]);
  });

  it("finds the nearest point within the radius, -1 elsewhere", () => {
    const positions = [10, 10, 14, 10, 100, 100];
    expect(nearestPoint(positions, 11, 10)).toBe(0);
    expect(nearestPoint(positions, 13, 11)).toBe(1);
    expect(nearestPoint(positions, 12, 10)).toBe(0); // a tie: the lower index
    expect(nearestPoint(positions, 50, 50)).toBe(-1);
    expect(nearestPoint(positions, 106, 100, 6)).toBe(2);
    expect(nearestPoint(positions, 107, 100, 6)).toBe(-1);
  });

  it("turns client coordinates into canvas pixels of a scaled canvas", () => {
    expect(canvasPoint(150, 60, { left: 100, top: 50, width: 160, height: 160 }, 320, 320)).toEqual([100, 20]);
  });
});

describe("lesion rows", () => {
  const msg: LesionResultMessage = {
    kind: "lesion_result", id: 1, seq: 1, image_index: 2, layer: "block3.conv2", channel: 5, position: [],
    prediction_changed: true, classes: [], error: "",
  };

  it("says what was removed and whether the top class changed", () => {
    expect(lesionCaption(msg)).toBe("Without block3.conv2 channel 5 (zeroed), image 2 — the top class changed");
    expect(lesionCaption({ ...msg, prediction_changed: false })).toBe("Without block3.conv2 channel 5 (zeroed), image 2");
    expect(lesionCaption({ ...msg, error: "bad" })).toBe("");
    expect(lesionCaption({ ...msg, position: [3, 4], prediction_changed: false })).toBe(
      "Without the neuron at (3, 4) of block3.conv2 channel 5 (zeroed), image 2",
    );
  });

  it("formats probabilities and bar widths", () => {
    expect(percent(0.7123)).toBe("71.2%");
    expect(rowText({ index: 0, label: "disc", before: 0.5, after: 0.25, logit_change: -1 })).toBe("disc 50.0% → 25.0%");
    expect(barWidth(0.3)).toBeCloseTo(30);
    expect(barWidth(1.5)).toBe(100);
    expect(barWidth(Number.NaN)).toBe(0);
  });

  it("compares request keys field by field, the neuron's position included", () => {
    const key = { image_index: 0, layer: "a", channel: 1, position: [] as number[] };
    expect(sameKey(key, { ...key })).toBe(true);
    expect(sameKey(key, { ...key, channel: 2 })).toBe(false);
    expect(sameKey(key, { ...key, position: [0, 1] })).toBe(false);
    expect(sameKey({ ...key, position: [0, 1] }, { ...key, position: [0, 2] })).toBe(false);
    expect(sameKey({ ...key, position: [0, 1] }, { ...key, position: [0, 1] })).toBe(true);
    expect(sameKey(key, null)).toBe(false);
  });

  it("lesions the selected neuron for a single-neuron target, else the whole channel", () => {
    const sel: Selection = { image_index: 1, layer: "a", channel: 2, position: [3, 4], method: "gradient", target: "neuron", target_class: -1 };
    expect(lesionKey(sel)).toEqual({ image_index: 1, layer: "a", channel: 2, position: [3, 4] });
    expect(lesionKey({ ...sel, target: "channel" }).position).toEqual([]);
    expect(lesionKey({ ...sel, position: [] }).position).toEqual([]);
  });
});
