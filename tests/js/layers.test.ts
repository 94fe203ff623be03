import { describe, expect, it } from "vitest";
import {
  bestIndex,
  groupLayers,
  matchScore,
  matches,
  moveActive,
  labelIn,
  parentPath,
  visibleLayers,
} from "../../js/src/lib/layers";
import type { LayerInfo } from "../../js/src/protocol";

const L = (name: string, type: string, primary: boolean, shape = [8, 4, 4]): LayerInfo => ({ name, type, primary, shape, maps: shape });

// A ResNet-shaped slice of a layer list, in forward order.
const LAYERS: LayerInfo[] = [
  L("conv1", "Conv2d", true),
  L("bn1", "BatchNorm2d", false),
  L("relu", "ReLU", false),
  L("layer1.0.conv1", "Conv2d", true),
  L("layer1.0.relu", "ReLU", false),
  L("layer1.0.conv2", "Conv2d", true),
  L("layer1.0.relu#2", "ReLU", false),
  L("layer1.0", "Bottleneck", true),
  L("layer1", "Sequential", false),
  L("layer4.2.conv3", "Conv2d", true, [2048, 7, 7]),
  L("layer4.2.relu#3", "ReLU", false, [2048, 7, 7]),
  L("layer4.2", "Bottleneck", true, [2048, 7, 7]),
  L("fc", "Linear", true, [1000]),
];
const names = (ls: LayerInfo[]) => ls.map((l) => l.name);

describe("module paths", () => {
  it("puts a repeated call of a module where the module is", () => {
    expect(parentPath("layer4.2.relu#3")).toBe("layer4.2");
    expect(labelIn("layer4.2", "layer4.2.relu#3")).toBe("relu#3");
    expect(labelIn("layer4.2", "layer4.2")).toBe("output");
    expect(labelIn("layer4.2", "layer4.2#2")).toBe("output#2");
    expect(parentPath("relu#2")).toBe("");
    expect(labelIn("", "fc")).toBe("fc");
  });
});

describe("groupLayers", () => {
  it("groups by module in forward order of first appearance, a block heading its own group", () => {
    const groups = groupLayers(LAYERS);
    expect(groups.map((g) => [g.path, g.depth, g.layers.length])).toEqual([
      ["", 0, 4], // conv1 bn1 relu fc
      ["layer1.0", 2, 5], // its conv1 relu conv2 relu#2, then its output
      ["layer1", 1, 1], // the stage, whose child layer1.0 is listed
      ["layer4.2", 2, 3],
    ]);
    expect(names(groups[0].layers)).toEqual(["conv1", "bn1", "relu", "fc"]);
    expect(names(groups[1].layers).at(-1)).toBe("layer1.0");
    // without its children listed, a block sits in its parent's group
    expect(groupLayers([L("layer4.2", "Bottleneck", true)])[0].path).toBe("layer4");
    // every layer lands in exactly one group
    expect(groups.flatMap((g) => names(g.layers)).sort()).toEqual(names(LAYERS).sort());
  });
});

describe("search and listing", () => {
  it("lists the primary layers first-hand and every layer with All layers", () => {
    expect(names(visibleLayers(LAYERS, "", false))).toEqual(names(LAYERS.filter((l) => l.primary)));
    expect(visibleLayers(LAYERS, "  ", true)).toEqual(LAYERS);
  });

  it("keeps the selected layer listed even when it is not primary", () => {
    expect(names(visibleLayers(LAYERS, "", false, "layer4.2.relu#3"))).toContain("layer4.2.relu#3");
  });

  it("searches every layer by all the words typed, in name or module type, ignoring case", () => {
    expect(names(visibleLayers(LAYERS, "RELU", false))).toEqual(["relu", "layer1.0.relu", "layer1.0.relu#2", "layer4.2.relu#3"]);
    expect(names(visibleLayers(LAYERS, "layer4 conv", false))).toEqual(["layer4.2.conv3"]);
    expect(names(visibleLayers(LAYERS, "bottleneck", false))).toEqual(["layer1.0", "layer4.2"]);
    expect(matches(L("x", "Conv2d", true), "nothing")).toBe(false);
    expect(visibleLayers(LAYERS, "zzz", true)).toEqual([]);
  });

  it("ranks the exact name over a name ending in the query over a segment prefix over any match", () => {
    const exact = matchScore(L("layer1.0", "Bottleneck", false), "layer1.0");
    const ending = matchScore(L("layer4.2.conv1", "Conv2d", false), "conv1");
    const prefix = matchScore(L("layer4.2.conv12x", "Conv2d", false), "conv1");
    const inside = matchScore(L("layer4.2.xconv1x", "Conv2d", false), "conv1");
    expect([exact > ending, ending > prefix, prefix > inside, inside >= 0]).toEqual([true, true, true, true]);
    expect(matchScore(L("fc", "Linear", false), "conv")).toBe(-1);
    // a primary layer wins a tie
    expect(matchScore(L("a.conv1", "Conv2d", true), "conv1")).toBeGreaterThan(matchScore(L("b.conv1", "Conv2d", false), "conv1"));
  });

  it("makes the best match active: typing a whole name picks that layer, not an earlier one containing it", () => {
    const listed = visibleLayers(LAYERS, "layer1.0", false);
    expect(names(listed)).toEqual(["layer1.0.conv1", "layer1.0.relu", "layer1.0.conv2", "layer1.0.relu#2", "layer1.0"]);
    expect(listed[bestIndex(listed, "layer1.0", "")].name).toBe("layer1.0");
    const relu = visibleLayers(LAYERS, "relu#3", false);
    expect(relu[bestIndex(relu, "relu#3", "")].name).toBe("layer4.2.relu#3");
    const all = visibleLayers(LAYERS, "", false, "fc");
    expect(all[bestIndex(all, "", "fc")].name).toBe("fc");
    expect(bestIndex([], "x", "")).toBe(-1);
  });
});

describe("moveActive", () => {
  it("moves by one, by a page, to the ends, and stays inside the list", () => {
    expect(moveActive(0, "ArrowDown", 5)).toBe(1);
    expect(moveActive(4, "ArrowDown", 5)).toBe(4);
    expect(moveActive(0, "ArrowUp", 5)).toBe(0);
    expect(moveActive(1, "PageDown", 30)).toBe(11);
    expect(moveActive(3, "PageUp", 30)).toBe(0);
    expect(moveActive(2, "End", 5)).toBe(4);
    expect(moveActive(2, "Home", 5)).toBe(0);
    expect(moveActive(-1, "ArrowDown", 5)).toBe(0);
    expect(moveActive(-1, "ArrowUp", 5)).toBe(4);
    expect(moveActive(0, "ArrowDown", 0)).toBe(-1);
  });
});
