/**
 * Decoding of the binary message buffers (layouts in protocol.py).
 *
 * Jupyter hands message buffers to the view as DataViews whose byteOffset may be non-zero and not
 * 4-byte aligned, so the exact byte range of the view is used, and copied when a Float32Array cannot
 * sit on it directly.
 */

export type BufferLike = DataView | ArrayBuffer | ArrayBufferView;

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** The bytes a buffer-like value covers (no copy). */
export function bytesOf(buffer: BufferLike): Uint8Array<ArrayBuffer> {
  if (buffer instanceof ArrayBuffer) return new Uint8Array(buffer);
  if (ArrayBuffer.isView(buffer)) {
    return new Uint8Array(buffer.buffer as ArrayBuffer, buffer.byteOffset, buffer.byteLength);
  }
  throw new Error("expected an ArrayBuffer, a DataView or a typed array");
}

/** Number of elements of a shape; throws on negative or non-integer sizes. */
export function product(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new Error(`invalid shape [${shape.join(", ")}]`);
    n *= d;
  }
  return n;
}

/** float32 little-endian values of the given shape. */
export function decodeFloat32(buffer: BufferLike, shape: readonly number[]): Float32Array<ArrayBuffer> {
  const n = product(shape);
  const bytes = bytesOf(buffer);
  if (bytes.byteLength !== n * 4) {
    throw new Error(
      `float32 buffer of shape [${shape.join(", ")}] needs ${n * 4} bytes, got ${bytes.byteLength}`,
    );
  }
  if (!LITTLE_ENDIAN) {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = view.getFloat32(i * 4, true);
    return out;
  }
  if (bytes.byteOffset % 4 === 0) return new Float32Array(bytes.buffer, bytes.byteOffset, n);
  return new Float32Array(bytes.slice().buffer, 0, n);
}

/** uint8 values of the given shape (no copy). */
export function decodeUint8(buffer: BufferLike, shape: readonly number[]): Uint8Array<ArrayBuffer> {
  const n = product(shape);
  const bytes = bytesOf(buffer);
  if (bytes.byteLength !== n) {
    throw new Error(`uint8 buffer of shape [${shape.join(", ")}] needs ${n} bytes, got ${bytes.byteLength}`);
  }
  return bytes;
}

/** uint8 RGBA pixels of shape [H, W, 4], row-major. */
export function decodeRGBA(buffer: BufferLike, shape: readonly number[]): Uint8ClampedArray<ArrayBuffer> {
  if (shape.length !== 3 || shape[2] !== 4) {
    throw new Error(`an RGBA image has shape [H, W, 4], got [${shape.join(", ")}]`);
  }
  const n = product(shape);
  const bytes = bytesOf(buffer);
  if (bytes.byteLength !== n) {
    throw new Error(`RGBA buffer of shape [${shape.join(", ")}] needs ${n} bytes, got ${bytes.byteLength}`);
  }
  return new Uint8ClampedArray(bytes.buffer, bytes.byteOffset, n);
}

/** A `data:` URL of PNG bytes (a bytes trait arrives as a DataView); null when there are none. */
export function pngDataURL(value: unknown): string | null {
  if (!(value instanceof ArrayBuffer || ArrayBuffer.isView(value))) return null;
  const bytes = bytesOf(value);
  if (bytes.length === 0) return null;
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return `data:image/png;base64,${btoa(binary)}`;
}
