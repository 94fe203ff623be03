/** Pure parts of the t-SNE scatter: points fitted into a canvas, and the point under the pointer. */

/**
 * Canvas positions (x0, y0, x1, y1, ...) of `n` points given as (x, y) pairs in `coordinates`, fitted into a
 * `width` x `height` canvas with `margin` pixels free on every side; one scale for both axes (t-SNE distances
 * keep their meaning), centred, y pointing up as in a plot. All points at one place sit in the middle.
 */
export function fitPoints(
  coordinates: ArrayLike<number>,
  n: number,
  width: number,
  height: number,
  margin = 8,
): Float32Array {
  const out = new Float32Array(2 * n);
  if (n === 0) return out;
  let minX = Infinity;
  let maxX = -Infinity;
  let minY = Infinity;
  let maxY = -Infinity;
  for (let i = 0; i < n; i++) {
    const x = coordinates[2 * i];
    const y = coordinates[2 * i + 1];
    minX = Math.min(minX, x);
    maxX = Math.max(maxX, x);
    minY = Math.min(minY, y);
    maxY = Math.max(maxY, y);
  }
  const spanX = maxX - minX;
  const spanY = maxY - minY;
  const room = [Math.max(0, width - 2 * margin), Math.max(0, height - 2 * margin)];
  const candidates = [spanX > 0 ? room[0] / spanX : Infinity, spanY > 0 ? room[1] / spanY : Infinity];
  const scale = Math.min(...candidates);
  const s = Number.isFinite(scale) ? scale : 0;
  const cx = (minX + maxX) / 2;
  const cy = (minY + maxY) / 2;
  for (let i = 0; i < n; i++) {
    out[2 * i] = width / 2 + (coordinates[2 * i] - cx) * s;
    out[2 * i + 1] = height / 2 - (coordinates[2 * i + 1] - cy) * s;
  }
  return out;
}

/** The index of the point nearest to (x, y) within `radius` pixels (ties: the lower index); -1 when none. */
export function nearestPoint(positions: ArrayLike<number>, x: number, y: number, radius = 6): number {
  let best = -1;
  let bestDistance = radius * radius;
  for (let i = 0; 2 * i + 1 < positions.length; i++) {
    const dx = positions[2 * i] - x;
    const dy = positions[2 * i + 1] - y;
    const d = dx * dx + dy * dy;
    if (d <= bestDistance && (best === -1 || d < bestDistance)) {
      best = i;
      bestDistance = d;
    }
  }
  return best;
}

/** A pointer position in canvas pixels, from client coordinates and the canvas's on-screen box. */
export function canvasPoint(
  clientX: number,
  clientY: number,
  box: { left: number; top: number; width: number; height: number },
  width: number,
  height: number,
): [number, number] {
  const sx = box.width > 0 ? width / box.width : 1;
  const sy = box.height > 0 ? height / box.height : 1;
  return [(clientX - box.left) * sx, (clientY - box.top) * sy];
}
