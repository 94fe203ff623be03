import { describe, expect, it } from "vitest";
import { colormapLUT, lutIndex } from "../../js/src/lib/colormaps";
import { COLORMAPS } from "../../js/src/protocol";

const rgb = (lut: Uint8Array, i: number) => [lut[i * 3], lut[i * 3 + 1], lut[i * 3 + 2]];
const luminance = (c: number[]) => 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];

describe("colormapLUT", () => {
  it("gives 256 RGB entries for every protocol colormap", () => {
    for (const name of COLORMAPS) expect(colormapLUT(name)).toHaveLength(256 * 3);
  });

  it("hits the matplotlib endpoints", () => {
    expect(rgb(colormapLUT("gray"), 0)).toEqual([0, 0, 0]);
    expect(rgb(colormapLUT("gray"), 255)).toEqual([255, 255, 255]);
    expect(rgb(colormapLUT("inferno"), 0)).toEqual([0, 0, 4]);
    expect(rgb(colormapLUT("inferno"), 255)).toEqual([252, 255, 164]);
    expect(rgb(colormapLUT("viridis"), 0)).toEqual([68, 1, 84]);
    expect(rgb(colormapLUT("viridis"), 255)).toEqual([253, 231, 37]);
    expect(rgb(colormapLUT("coolwarm"), 0)).toEqual([59, 76, 192]);
    expect(rgb(colormapLUT("coolwarm"), 255)).toEqual([180, 4, 38]);
  });

  it.each(["inferno", "viridis", "gray"])("%s has monotone luminance (never falls, rises every 8 entries)", (name) => {
    const lut = colormapLUT(name);
    for (let i = 1; i < 256; i++) {
      expect(luminance(rgb(lut, i))).toBeGreaterThanOrEqual(luminance(rgb(lut, i - 1)));
      if (i >= 8) expect(luminance(rgb(lut, i))).toBeGreaterThan(luminance(rgb(lut, i - 8)));
    }
  });

  it("maps 0 of a signed value to the neutral middle of coolwarm", () => {
    const mid = rgb(colormapLUT("coolwarm"), lutIndex(0.5));
    expect(Math.max(...mid) - Math.min(...mid)).toBeLessThanOrEqual(3);
    expect(mid[0]).toBeGreaterThan(215);
    // blue below the middle, red above
    const lo = rgb(colormapLUT("coolwarm"), 64);
    const hi = rgb(colormapLUT("coolwarm"), 192);
    expect(lo[2]).toBeGreaterThan(lo[0]);
    expect(hi[0]).toBeGreaterThan(hi[2]);
  });

  it("refuses an unknown name and lists the valid ones", () => {
    expect(() => colormapLUT("jet")).toThrowError(/unknown colormap "jet".*inferno, viridis, gray, coolwarm/);
  });
});

describe("lutIndex", () => {
  it("clamps to the table and sends NaN to the given index", () => {
    expect(lutIndex(-1)).toBe(0);
    expect(lutIndex(2)).toBe(255);
    expect(lutIndex(1)).toBe(255);
    expect(lutIndex(Number.NaN, 128)).toBe(128);
  });
});
