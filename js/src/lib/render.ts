/**
 * Pure display transforms from decoded attributions / activations to RGBA pixels (no DOM).
 * Everything the display controls change (colormap, opacity, signed, clip percentile) happens here,
 * in the browser, without a kernel round trip.
 */
import { DIVERGING, colormapLUT, lutIndex } from "./colormaps";
import type { ColormapName } from "../protocol";
import { quantileInPlace } from "./select";

export type RGBA = Uint8ClampedArray<ArrayBuffer>;

function checkLength(values: ArrayLike<number>, expected: number, what: string): void {
  if (values.length !== expected) throw new Error(`${what}: expected ${expected} values, got ${values.length}`);
}

/**
 * The 2-D map shown for an attribution of shape [C, H, W].
 * Unsigned: max over channels of |a| (Simonyan et al. 2014). Signed: the channel sum.
 */
export function saliencyMap(attr: Float32Array, shape: readonly number[], signed: boolean): Float32Array {
  const [C, H, W] = shape;
  const n = H * W;
  checkLength(attr, C * n, "saliencyMap");
  const out = new Float32Array(n);
  for (let c = 0; c < C; c++) {
    const off = c * n;
    for (let i = 0; i < n; i++) {
      const v = attr[off + i];
      if (signed) out[i] += v;
      else {
        const a = Math.abs(v);
        if (a > out[i]) out[i] = a;
      }
    }
  }
  return out;
}

/** The p-th percentile (0..100, linear interpolation as numpy) of |v| over the finite values; 0 when none. */
export function percentileOfAbs(values: ArrayLike<number>, p: number): number {
  const abs = new Float32Array(values.length);
  let n = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (Number.isFinite(v)) abs[n++] = Math.abs(v);
  }
  if (n === 0) return 0;
  const q = Math.min(100, Math.max(0, Number.isFinite(p) ? p : 100)) / 100;
  return quantileInPlace(abs.subarray(0, n), q);
}

/** Largest finite |v|; 0 when none. */
export function maxAbs(values: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < values.length; i++) {
    const a = Math.abs(values[i]);
    if (a > m && a !== Infinity) m = a;
  }
  return m;
}

/**
 * The value that saturates the display: the percentile of |v|, or the largest |v| when that percentile
 * is 0 (sparse maps such as one neuron's receptive field), or 1 for an all-zero map. Always > 0.
 */
export function robustClip(values: ArrayLike<number>, clipPercentile: number): number {
  const c = percentileOfAbs(values, clipPercentile);
  if (c > 0) return c;
  const m = maxAbs(values);
  return m > 0 ? m : 1;
}

/**
 * Positions along the colormap (nbsaliency/explorer/display.py computes the same for figure()):
 * 0.5 + v / (2 clip) signed, |v| / clip otherwise, clipped to [0, 1] (NaN stays NaN).
 */
export function colourPositions(
  map: ArrayLike<number>,
  signed: boolean,
  clipPercentile: number,
  clip: number = robustClip(map, clipPercentile),
): Float32Array {
  const out = new Float32Array(map.length);
  for (let i = 0; i < map.length; i++) {
    const v = map[i];
    const t = signed ? 0.5 + v / (2 * clip) : Math.abs(v) / clip;
    out[i] = t < 0 ? 0 : t > 1 ? 1 : t;
  }
  return out;
}

export interface HeatmapOptions {
  colormap: ColormapName;
  signed: boolean;
  clipPercentile: number;
  /** `robustClip(map, clipPercentile)` when the caller already has it (it also labels the colour bar). */
  clip?: number;
}

/**
 * Colours a map of H*W values. Unsigned: |v| in [0, clip] -> [0, 1]. Signed: v in [-clip, clip] -> [0, 1],
 * so 0 lands on the middle of a diverging colormap.
 */
export function heatmapRGBA(map: Float32Array, H: number, W: number, opts: HeatmapOptions): RGBA {
  checkLength(map, H * W, "heatmapRGBA");
  const lut = colormapLUT(opts.colormap);
  const positions = colourPositions(map, opts.signed, opts.clipPercentile, opts.clip);
  const out = new Uint8ClampedArray(H * W * 4);
  const nanIndex = opts.signed ? 128 : 0;
  for (let i = 0; i < map.length; i++) {
    const k = lutIndex(positions[i], nanIndex) * 3;
    out[i * 4] = lut[k];
    out[i * 4 + 1] = lut[k + 1];
    out[i * 4 + 2] = lut[k + 2];
    out[i * 4 + 3] = 255;
  }
  return out;
}

/**
 * Signed attribution shown as an image: 0.5 + a / (2 clip) per colour channel, clipped to [0, 1]
 * (the DeconvNet / guided-backprop visualisation of Springenberg et al. 2015). One channel is shown grey;
 * missing colour channels (C = 2) stay neutral.
 */
export function signedRGB(attr: Float32Array, shape: readonly number[], clipPercentile: number): RGBA {
  const [C, H, W] = shape;
  const n = H * W;
  checkLength(attr, C * n, "signedRGB");
  const clip = robustClip(attr, clipPercentile);
  const out = new Uint8ClampedArray(n * 4);
  for (let rgb = 0; rgb < 3; rgb++) {
    const c = C === 1 ? 0 : rgb;
    for (let i = 0; i < n; i++) {
      const v = c < C ? attr[c * n + i] : 0;
      const t = 0.5 + (v === v ? v : 0) / (2 * clip);
      out[i * 4 + rgb] = Math.round(255 * (t < 0 ? 0 : t > 1 ? 1 : t));
    }
  }
  for (let i = 0; i < n; i++) out[i * 4 + 3] = 255;
  return out;
}

/** Alpha blend of `heat` over `base` (same size) with the given opacity in [0, 1]; opaque result. */
export function overlay(base: ArrayLike<number>, heat: ArrayLike<number>, opacity: number): RGBA {
  if (base.length !== heat.length) {
    throw new Error(`overlay: images differ in size (${base.length} vs ${heat.length} bytes)`);
  }
  const o = Number.isFinite(opacity) ? Math.min(1, Math.max(0, opacity)) : 1;
  const out = new Uint8ClampedArray(base.length);
  for (let i = 0; i < base.length; i += 4) {
    out[i] = base[i] * (1 - o) + heat[i] * o;
    out[i + 1] = base[i + 1] * (1 - o) + heat[i + 1] * o;
    out[i + 2] = base[i + 2] * (1 - o) + heat[i + 2] * o;
    out[i + 3] = 255;
  }
  return out;
}

/** Nearest-neighbour resampling of an RGBA image (used when the input image and attribution differ). */
export function resizeNearest(src: ArrayLike<number>, h: number, w: number, H: number, W: number): RGBA {
  checkLength(src, h * w * 4, "resizeNearest");
  const out = new Uint8ClampedArray(H * W * 4);
  for (let y = 0; y < H; y++) {
    const sy = Math.min(h - 1, Math.floor(((y + 0.5) * h) / H));
    for (let x = 0; x < W; x++) {
      const sx = Math.min(w - 1, Math.floor(((x + 0.5) * w) / W));
      const s = (sy * w + sx) * 4;
      const d = (y * W + x) * 4;
      out[d] = src[s];
      out[d + 1] = src[s + 1];
      out[d + 2] = src[s + 2];
      out[d + 3] = src[s + 3];
    }
  }
  return out;
}

/**
 * Activation map k of [K, h, w] from its colormap indices (protocol BUFFER_ACTIVATIONS: each map already
 * scaled to its own maximum by the kernel, nbsaliency/explorer/display.py activation_codes).
 */
export function activationRGBA(codes: Uint8Array, k: number, h: number, w: number, colormap: ColormapName): RGBA {
  const n = h * w;
  const map = codes.subarray(k * n, (k + 1) * n);
  checkLength(map, n, "activationRGBA");
  const lut = colormapLUT(colormap);
  const out = new Uint8ClampedArray(n * 4);
  for (let i = 0; i < n; i++) {
    const j = map[i] * 3;
    out[i * 4] = lut[j];
    out[i * 4 + 1] = lut[j + 1];
    out[i * 4 + 2] = lut[j + 2];
    out[i * 4 + 3] = 255;
  }
  return out;
}

/** RGBA pixels of an atlas of activation maps: map i of `channels` at column i % columns, row i / columns. */
export interface Atlas {
  rgba: RGBA;
  width: number;
  height: number;
}

/**
 * The maps of `channels` (each coloured as activationRGBA does) laid side by side, `columns` per row, in one
 * image of columns*w x rows*h pixels: the view draws every visible tile from it onto one canvas.
 */
export function activationAtlas(
  codes: Uint8Array,
  channels: readonly number[],
  h: number,
  w: number,
  columns: number,
  colormap: ColormapName,
): Atlas {
  const cols = Math.max(1, Math.min(columns, channels.length));
  const width = cols * w;
  const height = Math.ceil(channels.length / cols) * h;
  const rgba = new Uint8ClampedArray(width * height * 4);
  channels.forEach((k, i) => {
    const tile = activationRGBA(codes, k, h, w, colormap);
    const x0 = (i % cols) * w;
    const y0 = Math.floor(i / cols) * h;
    for (let y = 0; y < h; y++) rgba.set(tile.subarray(y * w * 4, (y + 1) * w * 4), ((y0 + y) * width + x0) * 4);
  });
  return { rgba, width, height };
}

/** The colormap used for activation maps: the chosen one when sequential, else inferno. */
export function activationColormap(colormap: ColormapName): ColormapName {
  return DIVERGING.has(colormap) ? "inferno" : colormap;
}
