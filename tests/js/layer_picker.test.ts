// @vitest-environment jsdom
import { beforeEach, describe, expect, it } from "vitest";
import { LayerPicker } from "../../js/src/panels/attribution/layerpicker";
import type { LayerInfo } from "../../js/src/protocol";

const L = (name: string, type: string, primary: boolean): LayerInfo => ({ name, type, primary, shape: [4, 2, 2], maps: [4, 2, 2] });
const LAYERS = [
  L("conv1", "Conv2d", true),
  L("relu", "ReLU", false),
  L("layer1.0.conv1", "Conv2d", true),
  L("layer1.0.relu", "ReLU", false),
  L("layer1.0", "Bottleneck", true),
  L("fc", "Linear", true),
];

let picker: LayerPicker;
let picked: string[];
const key = (k: string) => picker.input.dispatchEvent(new KeyboardEvent("keydown", { key: k, bubbles: true }));
const type = (text: string) => {
  picker.input.value = text;
  picker.input.dispatchEvent(new Event("input", { bubbles: true }));
};
const options = () => [...picker.element.querySelectorAll<HTMLElement>('[role="option"]')];
const active = () => document.getElementById(picker.input.getAttribute("aria-activedescendant") ?? "")?.getAttribute("aria-label");

beforeEach(() => {
  document.body.replaceChildren();
  picked = [];
  picker = new LayerPicker((l) => picked.push(l.name));
  document.body.append(picker.element, picker.showAll);
  picker.show(LAYERS, "conv1");
});

describe("the layer picker", () => {
  it("is a combobox that shows the selected layer's name while closed", () => {
    expect(picker.input.getAttribute("role")).toBe("combobox");
    expect(picker.input.value).toBe("conv1");
    expect(picker.input.getAttribute("aria-expanded")).toBe("false");
    const listbox = document.getElementById(picker.input.getAttribute("aria-controls") ?? "");
    expect(listbox?.getAttribute("role")).toBe("listbox");
  });

  it("opens on ArrowDown with the primary layers in groups, each with its type and shape", () => {
    key("ArrowDown");
    expect(picker.input.getAttribute("aria-expanded")).toBe("true");
    expect(options().map((o) => o.title)).toEqual(["conv1", "fc", "layer1.0.conv1", "layer1.0"]);
    expect(options()[0].getAttribute("aria-label")).toBe("conv1, Conv2d, 4×2×2");
    expect(options()[0].getAttribute("aria-selected")).toBe("true");
    const groups = [...picker.element.querySelectorAll('[role="group"]')].map((g) => g.getAttribute("aria-label"));
    expect(groups).toEqual(["model", "layer1.0"]);
    expect(active()).toBe("conv1, Conv2d, 4×2×2");
    // the arrows move in the order shown
    const shown = options().map((o) => o.getAttribute("aria-label"));
    for (const label of shown.slice(1)) {
      key("ArrowDown");
      expect(active()).toBe(label);
    }
    key("ArrowUp");
    expect(active()).toBe(shown.at(-2));
  });

  it("lists every layer with All layers", () => {
    picker.showAll.checked = true;
    picker.showAll.dispatchEvent(new Event("change"));
    key("ArrowDown");
    expect(options()).toHaveLength(LAYERS.length);
  });

  it("filters as the user types, reaching non-primary layers, and Enter picks the best match", () => {
    type("relu");
    expect(options().map((o) => o.title)).toEqual(["relu", "layer1.0.relu"]);
    key("ArrowDown");
    expect(active()).toBe("layer1.0.relu, ReLU, 4×2×2");
    key("Enter");
    expect(picked).toEqual(["layer1.0.relu"]);
    expect(picker.input.value).toBe("layer1.0.relu");
    expect(picker.isOpen).toBe(false);
  });

  it("says when nothing matches, and Escape closes and restores the selected name without picking", () => {
    type("nothing here");
    expect(options()).toHaveLength(0);
    expect(picker.element.textContent).toContain("No layer matches");
    key("Escape");
    expect(picker.isOpen).toBe(false);
    expect(picker.input.value).toBe("conv1");
    expect(picked).toEqual([]);
  });

  it("picks an option on click", () => {
    key("ArrowDown");
    options()[1].dispatchEvent(new MouseEvent("click", { bubbles: true }));
    expect(picked).toEqual(["fc"]);
  });
});
