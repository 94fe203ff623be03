import { describe, expect, it } from "vitest";
import { colormapLUT } from "../../js/src/lib/colormaps";
import {
  activationAtlas,
  activationRGBA,
  heatmapRGBA,
  overlay,
  percentileOfAbs,
  resizeNearest,
  robustClip,
  saliencyMap,
  signedRGB,
} from "../../js/src/lib/render";

const f32 = (v: number[]) => new Float32Array(v);

describe("saliencyMap", () => {
  // C = 3 channels of a 2 x 2 image, channel-major
  const attr = f32([
    1, -5, 0, 2, // c0
    -3, 4, 0.5, -1, // c1
    2, 1, -0.25, 0, // c2
  ]);

  it("is the max over channels of |a| (Simonyan et al. 2014)", () => {
    expect(Array.from(saliencyMap(attr, [3, 2, 2], false))).toEqual([3, 5, 0.5, 2]);
  });

  it("is the channel sum when signed", () => {
    expect(Array.from(saliencyMap(attr, [3, 2, 2], true))).toEqual([0, 0, 0.25, 1]);
  });

  it("refuses a shape that does not match", () => {
    expect(() => saliencyMap(attr, [3, 2, 3], false)).toThrowError(/expected 18 values, got 12/);
  });
});

describe("percentileOfAbs", () => {
  const values = f32([-10, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0]); // |v| = 0..10

  it("interpolates linearly like numpy", () => {
    expect(percentileOfAbs(values, 100)).toBe(10);
    expect(percentileOfAbs(values, 0)).toBe(0);
    expect(percentileOfAbs(values, 50)).toBe(5);
    expect(percentileOfAbs(values, 95)).toBeCloseTo(9.5, 6);
  });

  it("ignores NaN and infinities and is 0 for all-zero or empty input", () => {
    expect(percentileOfAbs(f32([Number.NaN, 2, Number.POSITIVE_INFINITY, -4]), 100)).toBe(4);
    expect(percentileOfAbs(new Float32Array(10), 99.5)).toBe(0);
    expect(percentileOfAbs(f32([Number.NaN]), 99.5)).toBe(0);
    expect(percentileOfAbs([], 50)).toBe(0);
  });
});

describe("robustClip", () => {
  it("is the percentile, the max |v| for sparse maps, and 1 for all zeros", () => {
    expect(robustClip(f32([1, 2, 3, 100]), 50)).toBe(2.5);
    const sparse = new Float32Array(1000);
    sparse[7] = -0.3;
    expect(robustClip(sparse, 99.5)).toBeCloseTo(0.3, 6);
    expect(robustClip(new Float32Array(4), 99.5)).toBe(1);
  });
});

describe("heatmapRGBA", () => {
  const inferno = colormapLUT("inferno");
  const coolwarm = colormapLUT("coolwarm");
  const px = (img: Uint8ClampedArray, i: number) => Array.from(img.slice(i * 4, i * 4 + 4));
  const lut = (l: Uint8Array, i: number) => [l[i * 3], l[i * 3 + 1], l[i * 3 + 2], 255];

  it("maps [0, clip] onto the sequential colormap and saturates above the percentile", () => {
    const map = f32([0, 1, 2, 100]);
    const img = heatmapRGBA(map, 2, 2, { colormap: "inferno", signed: false, clipPercentile: 50 }); // clip = 1.5
    expect(px(img, 0)).toEqual(lut(inferno, 0));
    expect(px(img, 1)).toEqual(lut(inferno, 170));
    expect(px(img, 2)).toEqual(lut(inferno, 255));
    expect(px(img, 3)).toEqual(lut(inferno, 255));
  });

  it("maps [-clip, clip] onto a diverging colormap with 0 in the middle", () => {
    const img = heatmapRGBA(f32([-2, 0, 2, 1]), 2, 2, { colormap: "coolwarm", signed: true, clipPercentile: 100 });
    expect(px(img, 0)).toEqual(lut(coolwarm, 0));
    expect(px(img, 1)).toEqual(lut(coolwarm, 128));
    expect(px(img, 2)).toEqual(lut(coolwarm, 255));
  });

  it("is NaN-free and paints an all-zero map in the lowest colour", () => {
    const img = heatmapRGBA(new Float32Array(4), 2, 2, { colormap: "gray", signed: false, clipPercentile: 99.5 });
    expect(Array.from(img)).toEqual([0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255]);
  });
});

describe("signedRGB", () => {
  it("maps 0 to 0.5 grey and ±clip to the channel extremes (Springenberg et al. 2015)", () => {
    // C = 3, H = 1, W = 2: pixel 0 all zero, pixel 1 = (+4, -4, +2); clip = 4 at the 100th percentile
    const img = signedRGB(f32([0, 4, 0, -4, 0, 2]), [3, 1, 2], 100);
    expect(Array.from(img.slice(0, 4))).toEqual([128, 128, 128, 255]);
    expect(Array.from(img.slice(4, 8))).toEqual([255, 0, 191, 255]);
  });

  it("clips beyond the percentile and shows one channel as grey", () => {
    const img = signedRGB(f32([-100, 1, 0, -1]), [1, 2, 2], 75); // |v| = 0, 1, 1, 100 -> clip = 25.75
    expect(Array.from(img.slice(0, 4))).toEqual([0, 0, 0, 255]);
    expect(Array.from(img.slice(8, 12))).toEqual([128, 128, 128, 255]);
  });

  it("maps an all-zero attribution to grey", () => {
    expect(Array.from(signedRGB(new Float32Array(3), [3, 1, 1], 99.5))).toEqual([128, 128, 128, 255]);
  });
});

describe("overlay", () => {
  const base = new Uint8ClampedArray([10, 20, 30, 255, 200, 100, 0, 255]);
  const heat = new Uint8ClampedArray([250, 0, 100, 255, 0, 0, 0, 255]);

  it("shows the base at opacity 0 and the heat map at opacity 1", () => {
    expect(Array.from(overlay(base, heat, 0))).toEqual(Array.from(base));
    expect(Array.from(overlay(base, heat, 1))).toEqual(Array.from(heat));
  });

  it("blends linearly in between and clamps the opacity", () => {
    expect(Array.from(overlay(base, heat, 0.5).slice(0, 4))).toEqual([130, 10, 65, 255]);
    expect(Array.from(overlay(base, heat, 7))).toEqual(Array.from(heat));
  });

  it("refuses images of different sizes", () => {
    expect(() => overlay(base, heat.slice(0, 4), 0.5)).toThrowError(/differ in size/);
  });
});

describe("resizeNearest", () => {
  it("upsamples 1 x 2 to 2 x 4 by repeating pixels", () => {
    const src = new Uint8ClampedArray([1, 2, 3, 4, 5, 6, 7, 8]);
    const out = resizeNearest(src, 1, 2, 2, 4);
    const row = [1, 2, 3, 4, 1, 2, 3, 4, 5, 6, 7, 8, 5, 6, 7, 8];
    expect(Array.from(out)).toEqual([...row, ...row]);
  });
});

describe("activation maps", () => {
  // colormap indices as the kernel sends them (display.py activation_codes scales each map to its maximum)
  const codes = new Uint8Array([0, 64, 128, 255, /* */ 0, 0, 0, 0, /* */ 128, 128, 128, 255]);

  it("colours each unit with the colormap entry of its code", () => {
    const gray = activationRGBA(codes, 0, 2, 2, "gray");
    expect([gray[0], gray[4], gray[8], gray[12]]).toEqual([0, 64, 128, 255]);
    const inferno = colormapLUT("inferno");
    const third = activationRGBA(codes, 2, 2, 2, "inferno");
    expect(Array.from(third.slice(0, 4))).toEqual([inferno[128 * 3], inferno[128 * 3 + 1], inferno[128 * 3 + 2], 255]);
    expect(Array.from(activationRGBA(codes, 1, 2, 2, "gray").filter((_, i) => i % 4 !== 3))).toEqual(new Array(12).fill(0));
  });

  it("lays maps out in an atlas, columns per row, each where activationRGBA puts its pixels", () => {
    const atlas = activationAtlas(codes, [2, 0, 1], 2, 2, 2, "gray");
    expect([atlas.width, atlas.height]).toEqual([4, 4]);
    const px = (x: number, y: number) => atlas.rgba[(y * 4 + x) * 4];
    expect([px(0, 0), px(1, 0), px(0, 1), px(1, 1)]).toEqual([128, 128, 128, 255]); // channel 2 first
    expect([px(2, 0), px(3, 0), px(2, 1), px(3, 1)]).toEqual([0, 64, 128, 255]); // then channel 0
    expect([px(0, 2), px(1, 3)]).toEqual([0, 0]); // channel 1 on the second row
    expect(atlas.rgba[((3 * 4 + 3) * 4) + 3]).toBe(0); // the unused cell stays transparent
  });
});
