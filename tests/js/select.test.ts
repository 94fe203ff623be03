import { describe, expect, it } from "vitest";
import { quantileInPlace, selectKth } from "../../js/src/lib/select";

// A small deterministic generator (no Math.random: failures must reproduce).
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function sample(n: number, seed: number, distinct: number): Float32Array {
  const r = lcg(seed);
  // few distinct values -> many ties, the case Hoare partitions get wrong most easily
  return Float32Array.from({ length: n }, () => Math.floor(r() * distinct) / 7);
}

/** numpy.percentile's default ("linear") method, computed by sorting: the reference. */
function sortedQuantile(values: Float32Array, q: number): number {
  const s = Float32Array.from(values).sort();
  const rank = q * (s.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.min(lo + 1, s.length - 1);
  return s[lo] + (s[hi] - s[lo]) * (rank - lo);
}

describe("selectKth", () => {
  it("finds every order statistic of small arrays with ties, and partitions around it", () => {
    for (const n of [1, 2, 3, 5, 8, 13, 64]) {
      for (const distinct of [1, 2, 5, 1000]) {
        const values = sample(n, n * 31 + distinct, distinct);
        const sorted = Float32Array.from(values).sort();
        for (let k = 0; k < n; k++) {
          const a = Float32Array.from(values);
          expect(selectKth(a, k)).toBe(sorted[k]);
          for (let i = 0; i < k; i++) expect(a[i]).toBeLessThanOrEqual(a[k]);
          for (let i = k + 1; i < n; i++) expect(a[i]).toBeGreaterThanOrEqual(a[k]);
          expect(Float32Array.from(a).sort()).toEqual(sorted); // a permutation of the input
        }
      }
    }
  });

  it("handles sorted, reversed and constant input of attribution size", () => {
    const n = 224 * 224;
    const up = Float32Array.from({ length: n }, (_, i) => i);
    expect(selectKth(Float32Array.from(up), 49000)).toBe(49000);
    expect(selectKth(Float32Array.from(up).reverse(), 17)).toBe(17);
    expect(selectKth(new Float32Array(n).fill(2.5), n - 1)).toBe(2.5);
  });

  it("refuses an index outside the array", () => {
    expect(() => selectKth(new Float32Array(3), 3)).toThrow(/outside \[0, 3\)/);
    expect(() => selectKth(new Float32Array(0), 0)).toThrow(RangeError);
  });
});

describe("quantileInPlace", () => {
  it("equals the sorted reference (numpy's linear interpolation) at the display's percentiles", () => {
    for (const [n, distinct] of [[1, 10], [2, 10], [11, 3], [1000, 50], [150528, 100000]]) {
      const values = sample(n, n + distinct, distinct);
      for (const q of [0, 0.5, 0.9, 0.99, 0.995, 0.999, 1]) {
        expect(quantileInPlace(Float32Array.from(values), q)).toBeCloseTo(sortedQuantile(values, q), 10);
      }
    }
  });

  it("interpolates between the two order statistics around the rank", () => {
    // ranks: q = 0.95 of 11 values -> rank 9.5, between 9 and 10
    expect(quantileInPlace(Float32Array.from([10, 0, 9, 1, 8, 2, 7, 3, 6, 4, 5]), 0.95)).toBeCloseTo(9.5, 6);
  });
});
