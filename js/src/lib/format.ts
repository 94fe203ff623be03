/** Number formatting shared by the panels. */

/** A number in a few significant digits, without exponent noise for everyday sizes. */
export function formatValue(v: number): string {
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-3 || a >= 1e5)) return v.toExponential(2);
  if (a >= 1000) return v.toFixed(0);
  return v.toPrecision(4).replace(/\.?0+$/, "");
}
