/**
 * Colormap lookup tables, built from a few control points by linear interpolation in sRGB.
 *
 * Sequential maps ("inferno", "viridis", "gray") show |attribution|; their luminance rises monotonically.
 * "coolwarm" (Moreland 2009) is diverging: the middle entry is a neutral grey, so 0 of a signed value
 * mapped to [0, 1] as 0.5 + v / (2 clip) lands on it.
 */
import { COLORMAPS, type ColormapName } from "../protocol";

type RGB = readonly [number, number, number];

/** Control points sampled from matplotlib at t = 0, 1/8, ..., 1 (evenly spaced). */
const CONTROL_POINTS: Record<ColormapName, readonly RGB[]> = {
  inferno: [
    [0, 0, 4], [33, 12, 74], [87, 16, 110], [138, 34, 106], [188, 55, 84],
    [228, 90, 49], [249, 142, 9], [249, 203, 53], [252, 255, 164],
  ],
  viridis: [
    [68, 1, 84], [71, 45, 123], [59, 82, 139], [44, 114, 142], [33, 145, 140],
    [40, 174, 128], [94, 201, 98], [173, 220, 48], [253, 231, 37],
  ],
  gray: [[0, 0, 0], [255, 255, 255]],
  coolwarm: [
    [59, 76, 192], [98, 130, 234], [141, 176, 254], [185, 208, 249], [221, 221, 221],
    [245, 196, 172], [244, 152, 122], [221, 95, 75], [180, 4, 38],
  ],
};

export const LUT_SIZE = 256;

/** Colormaps meant for signed values (0 in the middle). */
export const DIVERGING: ReadonlySet<ColormapName> = new Set<ColormapName>(["coolwarm"]);

const cache = new Map<ColormapName, Uint8Array>();

function buildLUT(points: readonly RGB[]): Uint8Array {
  const lut = new Uint8Array(LUT_SIZE * 3);
  const segments = points.length - 1;
  for (let i = 0; i < LUT_SIZE; i++) {
    const t = (i / (LUT_SIZE - 1)) * segments;
    const k = Math.min(Math.floor(t), segments - 1);
    const f = t - k;
    const a = points[k];
    const b = points[k + 1];
    for (let c = 0; c < 3; c++) lut[i * 3 + c] = Math.round(a[c] + (b[c] - a[c]) * f);
  }
  return lut;
}

/**
 * The 256-entry RGB table of a colormap (Uint8Array of 256*3, r g b per entry).
 * The table is shared between callers: read it, do not write to it.
 */
export function colormapLUT(name: string): Uint8Array {
  if (!(COLORMAPS as readonly string[]).includes(name)) {
    throw new Error(`unknown colormap "${name}"; valid colormaps are: ${COLORMAPS.join(", ")}`);
  }
  const key = name as ColormapName;
  let lut = cache.get(key);
  if (lut === undefined) {
    lut = buildLUT(CONTROL_POINTS[key]);
    cache.set(key, lut);
  }
  return lut;
}

/** Index of t in [0, 1] into a LUT; NaN goes to `nanIndex`. */
export function lutIndex(t: number, nanIndex = 0): number {
  if (!(t === t)) return nanIndex;
  const i = Math.round(t * (LUT_SIZE - 1));
  return i < 0 ? 0 : i > LUT_SIZE - 1 ? LUT_SIZE - 1 : i;
}
