import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { colourPositions, robustClip, saliencyMap, signedRGB } from "../../js/src/lib/render";

/** Written by tests/test_display.py from nbsaliency/explorer/display.py, the definition figure() draws with. */
interface Case {
  name: string;
  signed: boolean;
  clip_percentile: number;
  shape: number[];
  attribution: number[];
  map: number[];
  clip: number;
  positions: number[];
  signed_rgb: number[];
}

const here = dirname(fileURLToPath(import.meta.url));
const cases: Case[] = JSON.parse(readFileSync(resolve(here, "../fixtures/display.json"), "utf8"));

function close(actual: ArrayLike<number>, expected: number[], tolerance: number): void {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) expect(Math.abs(actual[i] - expected[i])).toBeLessThanOrEqual(tolerance);
}

describe("the view shows what Python's figure() draws", () => {
  it("has the fixture's cases", () => {
    expect(cases.length).toBeGreaterThanOrEqual(40);
  });

  for (const c of cases) {
    const label = `${c.name}, signed ${c.signed}, clip percentile ${c.clip_percentile}`;
    it(`maps, clips and positions colours as Python: ${label}`, () => {
      const attr = Float32Array.from(c.attribution);
      const map = saliencyMap(attr, c.shape, c.signed);
      close(map, c.map, 1e-6);
      expect(robustClip(map, c.clip_percentile)).toBeCloseTo(c.clip, 5);
      close(colourPositions(map, c.signed, c.clip_percentile), c.positions, 1e-5);
    });

    it(`shows the signed RGB image as Python: ${label}`, () => {
      const rgba = signedRGB(Float32Array.from(c.attribution), c.shape, c.clip_percentile);
      const rgb = Array.from(rgba).filter((_, i) => i % 4 !== 3);
      close(rgb, c.signed_rgb, 1);
    });
  }
});
