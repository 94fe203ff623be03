/**
 * Order statistics in linear time (no DOM). The display's clip value is a high percentile of a map's |values|;
 * sorting a 224 x 224 x 3 attribution for it took ~15 ms in the browser, selection takes well under one.
 */

/**
 * Partially orders `a` in place so that `a[k]` is the k-th smallest value (0-based), every value before it is
 * <= it and every value after it is >= it (Hoare's selection, median-of-three pivots; NaN-free input).
 * Returns `a[k]`. `k` must lie in [0, a.length).
 */
export function selectKth(a: Float32Array, k: number): number {
  if (!(k >= 0 && k < a.length)) throw new RangeError(`selectKth: k = ${k} is outside [0, ${a.length})`);
  let lo = 0;
  let hi = a.length - 1;
  while (hi > lo) {
    const mid = (lo + hi) >>> 1;
    // median of three as the pivot, which also puts sentinels at lo and hi
    if (a[mid] < a[lo]) swap(a, mid, lo);
    if (a[hi] < a[lo]) swap(a, hi, lo);
    if (a[hi] < a[mid]) swap(a, hi, mid);
    const pivot = a[mid];
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (a[i] < pivot) i++;
      while (a[j] > pivot) j--;
      if (i <= j) {
        swap(a, i, j);
        i++;
        j--;
      }
    }
    // now a[lo..j] <= pivot <= a[i..hi], and any values between j and i equal the pivot
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else return a[k];
  }
  return a[k];
}

function swap(a: Float32Array, i: number, j: number): void {
  const t = a[i];
  a[i] = a[j];
  a[j] = t;
}

/**
 * The q-quantile (q in [0, 1]) of `a` with linear interpolation between order statistics, as
 * `numpy.percentile(a, 100 q)` (its default "linear" method). Reorders `a`; NaN-free, non-empty input.
 */
export function quantileInPlace(a: Float32Array, q: number): number {
  const rank = q * (a.length - 1);
  const lo = Math.floor(rank);
  const low = selectKth(a, lo);
  if (rank === lo) return low;
  // after the selection every value above index lo is >= a[lo]: the next order statistic is their minimum
  let high = Infinity;
  for (let i = lo + 1; i < a.length; i++) if (a[i] < high) high = a[i];
  return low + (high - low) * (rank - lo);
}
