import { describe, expect, it } from "vitest";
import { decodeFloat32, decodeRGBA } from "../../js/src/lib/decode";

/** The bytes of `values` as float32 little-endian, placed at `offset` inside a larger buffer. */
function floatsAt(values: number[], offset: number, extra = 3): DataView {
  const buf = new ArrayBuffer(offset + values.length * 4 + extra);
  const view = new DataView(buf, offset, values.length * 4);
  values.forEach((v, i) => view.setFloat32(i * 4, v, true));
  return view;
}

describe("decodeFloat32", () => {
  it("reads a DataView at a non-zero, unaligned byteOffset", () => {
    const values = [1.5, -2, 0, 3.25, 1e-3, -7];
    const out = decodeFloat32(floatsAt(values, 5), [1, 2, 3]);
    expect(Array.from(out)).toEqual(Array.from(new Float32Array(values)));
  });

  it("reads an aligned view without touching bytes outside it", () => {
    const view = floatsAt([4, 5], 8);
    new Uint8Array(view.buffer).fill(0xff, 0, 8);
    expect(Array.from(decodeFloat32(view, [2]))).toEqual([4, 5]);
  });

  it("accepts an ArrayBuffer and a typed array", () => {
    const f = new Float32Array([1, 2, 3, 4]);
    expect(Array.from(decodeFloat32(f.buffer, [4]))).toEqual([1, 2, 3, 4]);
    expect(Array.from(decodeFloat32(new Uint8Array(f.buffer, 4, 8), [2]))).toEqual([2, 3]);
  });

  it("refuses a buffer whose length does not match the shape", () => {
    expect(() => decodeFloat32(floatsAt([1, 2, 3], 1), [2, 2])).toThrowError(/shape \[2, 2\] needs 16 bytes, got 12/);
    expect(() => decodeFloat32(new ArrayBuffer(0), [1])).toThrowError(/needs 4 bytes, got 0/);
  });

  it("refuses an invalid shape", () => {
    expect(() => decodeFloat32(new ArrayBuffer(4), [-1])).toThrowError(/invalid shape/);
  });

  it("decodes an empty shape from an empty buffer", () => {
    expect(decodeFloat32(new DataView(new ArrayBuffer(3), 3, 0), [0, 4])).toHaveLength(0);
  });
});

describe("decodeRGBA", () => {
  it("reads H x W x 4 bytes at an odd offset", () => {
    const buf = new Uint8Array(3 + 8);
    buf.set([10, 20, 30, 255, 40, 50, 60, 128], 3);
    const out = decodeRGBA(new DataView(buf.buffer, 3, 8), [1, 2, 4]);
    expect(out).toBeInstanceOf(Uint8ClampedArray);
    expect(Array.from(out)).toEqual([10, 20, 30, 255, 40, 50, 60, 128]);
  });

  it("refuses a wrong length or a shape without 4 channels", () => {
    expect(() => decodeRGBA(new ArrayBuffer(7), [1, 2, 4])).toThrowError(/needs 8 bytes, got 7/);
    expect(() => decodeRGBA(new ArrayBuffer(6), [1, 2, 3])).toThrowError(/\[H, W, 4\]/);
  });
});
