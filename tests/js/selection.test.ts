import { describe, expect, it } from "vitest";
import type { LayerInfo, Selection } from "../../js/src/protocol";
import {
  formatNeuron,
  layerGeometry,
  parseNeuron,
  positionFromClick,
  changedFields,
  withPosition,
  selectionFrom,
  withLayer,
} from "../../js/src/lib/selection";

const conv: LayerInfo = { name: "features.3", shape: [16, 8, 8], type: "Conv2d", primary: true, maps: [16, 8, 8] };
const small: LayerInfo = { name: "features.8", shape: [32, 4, 4], type: "Conv2d", primary: true, maps: [32, 4, 4] };
const fc: LayerInfo = { name: "classifier.1", shape: [10], type: "Linear", primary: true, maps: [10] };

const base: Selection = {
  image_index: 0,
  layer: "features.3",
  channel: 20,
  position: [6, 7],
  method: "gradient",
  target: "neuron",
  target_class: -1,
};

describe("layer geometry", () => {
  it("reads [C, H, W] as spatial and [K] as units", () => {
    expect(layerGeometry(conv)).toEqual({ channels: 16, h: 8, w: 8, spatial: true });
    expect(layerGeometry(fc)).toEqual({ channels: 10, h: 1, w: 1, spatial: false });
    expect(layerGeometry(undefined)).toEqual({ channels: 1, h: 1, w: 1, spatial: false });
    // a ViT block: (1 + 14 * 14) tokens of 32 features, whose maps are 32 channels on the 14 x 14 token grid
    const block: LayerInfo = { name: "blocks.1", shape: [197, 32], type: "Block", primary: true, maps: [32, 14, 14] };
    expect(layerGeometry(block)).toEqual({ channels: 32, h: 14, w: 14, spatial: true });
  });
});

describe("parseNeuron", () => {
  it("accepts 'y, x', 'y x' and '(y, x)' inside the map, and empty for none", () => {
    expect(parseNeuron("3, 4", 8, 8)).toEqual({ ok: true, position: [3, 4] });
    expect(parseNeuron(" 3 4 ", 8, 8)).toEqual({ ok: true, position: [3, 4] });
    expect(parseNeuron("(0,7)", 8, 8)).toEqual({ ok: true, position: [0, 7] });
    expect(parseNeuron("  ", 8, 8)).toEqual({ ok: true, position: [] });
  });

  it("explains what is wrong with invalid text", () => {
    for (const text of ["3", "a, b", "1, 2, 3", "-1, 2", "1.5, 2"]) {
      const r = parseNeuron(text, 8, 8);
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.message).toMatch(/y, x/);
    }
    const out = parseNeuron("8, 0", 8, 4);
    expect(out).toEqual({ ok: false, message: expect.stringMatching(/8×4.*below 8.*below 4/) });
  });

  it("round-trips through formatNeuron", () => {
    expect(formatNeuron([2, 5])).toBe("2, 5");
    expect(formatNeuron([])).toBe("");
  });
});

describe("positionFromClick", () => {
  it("maps a click on a map drawn 64 px wide to an 8 x 8 unit", () => {
    expect(positionFromClick(0, 0, 64, 64, 8, 8)).toEqual([0, 0]);
    expect(positionFromClick(63.9, 8.5, 64, 64, 8, 8)).toEqual([1, 7]);
    expect(positionFromClick(64, 64, 64, 64, 8, 8)).toEqual([7, 7]);
    expect(positionFromClick(-3, 20, 64, 32, 4, 8)).toEqual([2, 0]);
  });
});

describe("withLayer", () => {
  it("changes only the layer: the kernel applies the reset rules and says so", () => {
    expect(withLayer(base, { ...small, shape: [8, 4, 4] })).toEqual({ ...base, layer: "features.8" });
    expect(withLayer({ ...base, target: "logit" }, fc)).toEqual({ ...base, target: "logit", layer: "classifier.1" });
  });

  it("keeps a Single-neuron target whatever the new layer", () => {
    expect(withLayer(base, fc).target).toBe("neuron");
    expect(withLayer(base, small).target).toBe("neuron");
  });
});

describe("selectionFrom", () => {
  it("reads traits and fills defaults for missing or malformed ones", () => {
    const traits: Record<string, unknown> = { layer: "x", channel: 2.5, target: "bogus", position: [1, "a"] };
    expect(selectionFrom((n) => traits[n])).toEqual({
      image_index: 0,
      layer: "x",
      channel: 0,
      position: [],
      method: "",
      target: "logit",
      target_class: -1,
    });
  });

  it("turns a neuron target with a position on, and back to channel when the position is cleared", () => {
    const spatial = layerGeometry({ name: "c", shape: [4, 8, 8], type: "Conv2d", primary: true, maps: [4, 8, 8] });
    expect(withPosition({ ...base, target: "logit" }, [1, 2], spatial)).toMatchObject({ position: [1, 2], target: "neuron" });
    expect(withPosition({ ...base, target: "neuron" }, [], spatial)).toMatchObject({ position: [], target: "channel" });
    expect(withPosition({ ...base, target: "logit" }, [], spatial)).toMatchObject({ position: [], target: "logit" });
  });

  it("compares selections by value", () => {
    expect(changedFields(base, { ...base, position: [...base.position] })).toEqual({});
    expect(changedFields(base, { ...base, position: [6] })).toEqual({ position: [6] });
    expect(changedFields(base, { ...base, target_class: 3 })).toEqual({ target_class: 3 });
  });
});
