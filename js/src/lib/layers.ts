/**
 * Pure helpers of the layer picker: the module tree's groups, search by typing, and which entry a query
 * makes active. No DOM. A layer's group is its parent module ("layer4.2" for "layer4.2.conv3", "" at the
 * top); a repeated call of one module ("layer4.2.relu#3") belongs where the module does.
 */
import type { LayerInfo } from "../protocol";

export interface LayerGroup {
  /** Parent module path ("" for top-level layers). */
  path: string;
  /** Depth of the group in the module tree (0 at the top): how far a view indents it. */
  depth: number;
  layers: LayerInfo[];
}

/** The module path of a layer's name without a repeated call's "#n". */
export function modulePath(name: string): string {
  const hash = name.indexOf("#");
  return hash < 0 ? name : name.slice(0, hash);
}

/** The parent module of a layer: "layer4.2" for "layer4.2.relu#3", "" for "fc". */
export function parentPath(name: string): string {
  const path = modulePath(name);
  const dot = path.lastIndexOf(".");
  return dot < 0 ? "" : path.slice(0, dot);
}

/** "2048×7×7" (or "—" for a layer without a shape). */
export function shapeText(layer: LayerInfo): string {
  return layer.shape.length > 0 ? layer.shape.join("×") : "—";
}

/**
 * The layers in groups by module: a layer goes to its parent module's group, except a module whose own
 * children are listed (a block and its convolutions), which heads its own group as that group's output.
 * Groups come in the order their first layer comes in the forward pass, layers in forward order inside.
 */
export function groupLayers(layers: readonly LayerInfo[]): LayerGroup[] {
  const parents = new Set(layers.map((l) => parentPath(l.name)));
  const groups = new Map<string, LayerGroup>();
  for (const layer of layers) {
    const own = modulePath(layer.name);
    const path = parents.has(own) ? own : parentPath(layer.name);
    let group = groups.get(path);
    if (group === undefined) {
      group = { path, depth: path === "" ? 0 : path.split(".").length, layers: [] };
      groups.set(path, group);
    }
    group.layers.push(layer);
  }
  return [...groups.values()];
}

/** A layer's label inside its group: "relu#3" in "layer4.2", "output" for the group's own module. */
export function labelIn(group: string, name: string): string {
  if (group !== "" && modulePath(name) === group) return name === group ? "output" : `output${name.slice(group.length)}`;
  return group === "" ? name : name.slice(group.length + 1);
}

/** The words of a query, lower case ("layer4 conv" -> ["layer4", "conv"]). */
function words(query: string): string[] {
  return query.toLowerCase().split(/\s+/).filter((w) => w !== "");
}

/** True when every word of `query` is in the layer's name or its module type (case-insensitive). */
export function matches(layer: LayerInfo, query: string): boolean {
  const text = `${layer.name} ${layer.type}`.toLowerCase();
  return words(query).every((w) => text.includes(w));
}

/**
 * The layers a picker lists: with an empty query the primary ones (all with `showAll`), else every layer
 * that matches, primary or not (search reaches the whole model). Forward order is kept. The selected layer
 * is always listed when the query is empty, so the picker can show it as chosen.
 */
export function visibleLayers(
  layers: readonly LayerInfo[],
  query: string,
  showAll: boolean,
  selected = "",
): LayerInfo[] {
  if (words(query).length > 0) return layers.filter((l) => matches(l, query));
  return layers.filter((l) => showAll || l.primary || l.name === selected);
}

/**
 * How well a layer answers a query (higher is better; -1 when it does not match): the exact name, then a
 * name ending in the query (the module's own name), then a module path segment starting with it, then any
 * match; a primary layer wins a tie.
 */
export function matchScore(layer: LayerInfo, query: string): number {
  const q = query.trim().toLowerCase();
  if (!matches(layer, q)) return -1;
  const name = layer.name.toLowerCase();
  let score = 1;
  if (name === q) score = 8;
  else if (modulePath(name).endsWith(q) && (name.length === q.length || ".#".includes(name[name.length - q.length - 1] ?? "")))
    score = 6;
  else if (name.split(/[.#]/).some((part) => part.startsWith(q)) || name.startsWith(q)) score = 4;
  return score + (layer.primary ? 1 : 0);
}

/**
 * The entry a query makes active among `listed` (an index into it, -1 when empty): the best match, the
 * earliest of equals; with an empty query the selected layer (else the first).
 */
export function bestIndex(listed: readonly LayerInfo[], query: string, selected: string): number {
  if (listed.length === 0) return -1;
  if (words(query).length === 0) return Math.max(0, listed.findIndex((l) => l.name === selected));
  let best = 0;
  let bestScore = -Infinity;
  listed.forEach((layer, i) => {
    const s = matchScore(layer, query);
    if (s > bestScore) {
      best = i;
      bestScore = s;
    }
  });
  return best;
}

/** The index after a key press that moves the active entry among `n` (clamped; Home / End jump). */
export function moveActive(active: number, key: string, n: number, page = 10): number {
  if (n === 0) return -1;
  const step: Record<string, number> = { ArrowDown: 1, ArrowUp: -1, PageDown: page, PageUp: -page };
  if (key === "Home") return 0;
  if (key === "End") return n - 1;
  const next = (active < 0 ? (step[key] ?? 0) > 0 ? -1 : n : active) + (step[key] ?? 0);
  return Math.min(n - 1, Math.max(0, next));
}
