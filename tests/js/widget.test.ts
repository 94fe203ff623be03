// @vitest-environment jsdom
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { MSG_RESULT, MSG_SELECT, type ResultMessage, SELECTION_TRAITS, type Selection } from "../../js/src/protocol";
import { mountWidget, painted } from "./fake_canvas";
import { BUSY_SHOWN_AFTER_MS } from "../../js/src/widget";
import { FakeModel } from "./fake_model";

const TRAITS = {
  image_index: 0,
  layer: "features.0",
  channel: 1,
  position: [],
  method: "gradient",
  target: "logit",
  target_class: -1,
  colormap: "inferno",
  opacity: 0.5,
  signed: false,
  clip_percentile: 99.5,
  layers: [
    { name: "features.0", shape: [4, 2, 2], type: "Conv2d", primary: true, maps: [4, 2, 2] },
    { name: "features.3", shape: [8, 1, 1], type: "Conv2d", primary: true, maps: [8, 1, 1] },
    { name: "fc", shape: [3], type: "Linear", primary: true, maps: [3] },
  ],
  methods: [
    { name: "gradient", label: "Gradient", rgb_view: false },
    { name: "guided", label: "Guided backprop", rgb_view: true },
  ],
  labels: ["disc", "square", "ring"],
  n_images: 2,
  busy: false,
  error: "",
};

/** A result for a 2 x 2 image, C = 3 attribution, [4, 2, 2] activation codes and maxima, buffers at odd offsets. */
function result(id: number | null, seq: number, changed: Partial<Selection>, extra: Partial<ResultMessage> = {}) {
  const base = Object.fromEntries(SELECTION_TRAITS.map((n) => [n, (TRAITS as Record<string, unknown>)[n]]));
  const selection = { ...base, ...changed } as Selection;
  const msg: ResultMessage = {
    kind: MSG_RESULT,
    id,
    seq,
    error: "",
    cancelled: false,
    notes: [],
    method_layer: "",
    image_index: selection.image_index,
    image: { shape: [2, 2, 4] },
    attribution: { shape: [3, 2, 2], rgb_view: false },
    activations: { shape: [4, 2, 2], layer: selection.layer },
    predictions: [{ index: 1, label: "square", probability: 0.75 }],
    selection,
    ...extra,
  };
  const at = (bytes: Uint8Array, offset: number) => {
    const buf = new Uint8Array(offset + bytes.length);
    buf.set(bytes, offset);
    return new DataView(buf.buffer, offset, bytes.length);
  };
  const floats = (n: number) => new Uint8Array(new Float32Array(Array.from({ length: n }, (_, i) => i - 3)).buffer);
  const K = msg.activations?.shape[0] ?? 0;
  const buffers = [
    at(new Uint8Array(16).fill(200), 1),
    msg.attribution ? at(floats(12), 3) : new DataView(new ArrayBuffer(0)),
    // colormap codes of [4, 2, 2] maps and each map's maximum (channel 2 the strongest)
    msg.activations ? at(Uint8Array.from({ length: 16 }, (_, i) => (i * 17) % 256), 5) : new DataView(new ArrayBuffer(0)),
    msg.activations ? at(new Uint8Array(Float32Array.from({ length: K }, (_, k) => (k === 2 ? 9 : k)).buffer), 7) : new DataView(new ArrayBuffer(0)),
  ];
  return [msg, buffers] as const;
}

function byLabel(root: HTMLElement, text: string): HTMLInputElement & HTMLSelectElement {
  const labels = [...root.querySelectorAll("label")].filter((l) => l.textContent === text);
  expect(labels, `one label "${text}"`).toHaveLength(1);
  const control = labels[0].control;
  expect(control, `control of "${text}"`).not.toBeNull();
  return control as HTMLInputElement & HTMLSelectElement;
}

function change(el: HTMLElement, value?: string, type = "change") {
  if (value !== undefined) (el as HTMLInputElement).value = value;
  el.dispatchEvent(new Event(type, { bubbles: true }));
}


let model: FakeModel;
let el: HTMLElement;
let cleanup: () => void;
const root = () => el.querySelector(".nbs-root") as HTMLElement;

beforeEach(() => {
  model = new FakeModel(TRAITS);
  ({ el, unmount: cleanup } = mountWidget(model));
});

afterEach(() => cleanup());

describe("the view", () => {
  it("labels every control with its exact accessible name", () => {
    for (const name of ["Image", "Layer", "Channel", "Neuron", "Method", "Target", "Class", "Colormap", "Opacity", "Signed", "Clip percentile"]) {
      byLabel(el, name);
    }
    expect(byLabel(el, "Layer").getAttribute("role")).toBe("combobox");
    expect(byLabel(el, "Layer").value).toBe("features.0");
    byLabel(el, "All layers");
    expect(byLabel(el, "Method").options[1].text).toBe("Guided backprop");
    expect(byLabel(el, "Channel").max).toBe("3");
    expect(byLabel(el, "Target").options[0].text).toBe("Class score (logit)");
  });

  it("asks for a first result on render and shows it is busy", () => {
    expect(model.selects).toHaveLength(1);
    // an empty change: the kernel answers with its current selection, so nothing set from Python is undone
    expect(model.selects[0]).toMatchObject({ kind: MSG_SELECT, selection: {} });
    expect(root().getAttribute("aria-busy")).toBe("true");
  });

  it("says Computing… only when an answer takes longer than BUSY_SHOWN_AFTER_MS; aria-busy at once", () => {
    vi.useFakeTimers();
    try {
      cleanup();
      model = new FakeModel(TRAITS);
      ({ el, unmount: cleanup } = mountWidget(model));
      const status = () => el.querySelector(".nbs-busy")!.textContent;
      const first = model.selects[0];
      expect(root().getAttribute("aria-busy")).toBe("true");
      expect(status()).toBe("");
      vi.advanceTimersByTime(BUSY_SHOWN_AFTER_MS - 1);
      model.emit("msg:custom", ...result(first.id, 1, first.selection)); // a quick answer: no word, no spinner
      vi.advanceTimersByTime(BUSY_SHOWN_AFTER_MS);
      expect(status()).toBe("");
      change(byLabel(el, "Method"), "guided");
      expect(root().getAttribute("aria-busy")).toBe("true");
      vi.advanceTimersByTime(BUSY_SHOWN_AFTER_MS);
      expect(status()).toBe("Computing…"); // a slow one is said
      model.emit("msg:custom", ...result(model.selects[1].id, 2, { method: "guided" }));
      expect(status()).toBe("");
      expect(root().getAttribute("aria-busy")).toBe("false");
    } finally {
      vi.useRealTimers();
    }
  });

  it("paints a result, records its seq and goes idle", () => {
    const { id, selection } = model.selects[0];
    model.emit("msg:custom", ...result(id, 7, selection));
    expect(root().dataset.paintedSeq).toBe("7");
    expect(root().getAttribute("aria-busy")).toBe("false");
    const map = el.querySelector('[aria-label="Attribution map"]') as HTMLCanvasElement;
    expect([map.width, map.height]).toEqual([2, 2]);
    expect(painted.get(map)).toHaveLength(16);
    const maps = el.querySelectorAll('[aria-label^="Activation map, channel "]');
    expect(maps).toHaveLength(4);
    expect(maps[1].closest(".nbs-act-cell")!.classList.contains("nbs-selected")).toBe(true);
    expect((el.querySelector('[aria-label="Attribution RGB"]')!.closest("figure") as HTMLElement).hidden).toBe(true);
    expect(el.querySelector(".nbs-predictions")!.textContent).toContain("square");
  });

  it("shows the signed RGB canvas for a signed method", () => {
    const { id, selection } = model.selects[0];
    model.emit("msg:custom", ...result(id, 1, { ...selection, method: "guided" }, { attribution: { shape: [3, 2, 2], rgb_view: true } }));
    expect((el.querySelector('[aria-label="Attribution RGB"]')!.closest("figure") as HTMLElement).hidden).toBe(false);
  });

  it("sends only the latest of rapid changes once the request in flight is answered", () => {
    const first = model.selects[0];
    change(byLabel(el, "Layer"), "features.3");
    change(byLabel(el, "Method"), "guided");
    change(byLabel(el, "Channel"), "2");
    expect(model.selects).toHaveLength(1);
    model.emit("msg:custom", ...result(first.id, 1, first.selection));
    expect(model.selects).toHaveLength(2);
    expect(model.selects[1].id).toBeGreaterThan(first.id);
    expect(model.selects[1].selection).toMatchObject({ layer: "features.3", method: "guided", channel: 2 });
    // the controls keep the user's newest choice, not the answered one
    expect(byLabel(el, "Layer").value).toBe("features.3");
  });

  it("never paints a result older than the last painted", () => {
    const { id, selection } = model.selects[0];
    model.emit("msg:custom", ...result(null, 5, selection));
    model.emit("msg:custom", ...result(id, 4, selection));
    expect(root().dataset.paintedSeq).toBe("5");
    expect(root().getAttribute("aria-busy")).toBe("false"); // the old answer still resolves its request
  });

  it("applies display controls locally and syncs their traits without a request", () => {
    const { id, selection } = model.selects[0];
    model.emit("msg:custom", ...result(id, 1, selection));
    const map = el.querySelector('[aria-label="Attribution map"]') as HTMLCanvasElement;
    change(byLabel(el, "Opacity"), "0", "input");
    expect(Array.from(painted.get(map)!)).toEqual(new Array(16).fill(200).map((v, i) => (i % 4 === 3 ? 255 : v)));
    change(byLabel(el, "Opacity"), "0.8", "input");
    expect(model.traits.opacity).toBe(0.8);
    expect(model.saved).toBe(0);
    change(byLabel(el, "Opacity"), "0.8");
    change(byLabel(el, "Colormap"), "coolwarm");
    byLabel(el, "Signed").checked = true;
    change(byLabel(el, "Signed"));
    expect(model.traits).toMatchObject({ opacity: 0.8, colormap: "coolwarm", signed: true });
    expect(model.saved).toBe(3);
    expect(model.selects).toHaveLength(1);
  });

  it("follows selection traits set from Python without echoing a request", () => {
    const { id, selection } = model.selects[0];
    model.emit("msg:custom", ...result(id, 1, selection));
    model.pythonSets("layer", "fc");
    model.pythonSets("channel", 2);
    expect(byLabel(el, "Layer").value).toBe("fc");
    expect(byLabel(el, "Channel").value).toBe("2");
    expect(byLabel(el, "Neuron").disabled).toBe(true);
    expect(model.selects).toHaveLength(1);
  });

  it("shows errors in plain words and keeps working", () => {
    const { id, selection } = model.selects[0];
    const alert = el.querySelector('[role="alert"]') as HTMLElement;
    expect(alert.hidden).toBe(true);
    model.emit("msg:custom", ...result(id, 1, selection, { error: "Layer fc has no channels.", attribution: null }));
    expect(alert.hidden).toBe(false);
    expect(alert.textContent).toBe("Layer fc has no channels.");
    change(byLabel(el, "Image"), "1");
    expect(model.selects).toHaveLength(2);
    model.emit("msg:custom", ...result(model.selects[1].id, 2, model.selects[1].selection));
    expect(alert.hidden).toBe(true);
  });

  it("keeps the last image when an error result comes without one", () => {
    const { id, selection } = model.selects[0];
    model.emit("msg:custom", ...result(id, 1, selection));
    change(byLabel(el, "Image"), "1");
    const [msg] = result(model.selects[1].id, 2, selection, {
      error: "Out of memory.",
      image: { shape: [0, 0, 4] },
      attribution: null,
      activations: null,
    });
    model.emit("msg:custom", msg, []);
    expect(el.querySelector('[role="alert"]')!.textContent).toBe("Out of memory.");
    const input = el.querySelector('[aria-label="Model input"]') as HTMLCanvasElement;
    expect([input.width, input.height]).toEqual([2, 2]);
    expect(root().dataset.paintedSeq).toBe("2");
  });

  it("keeps the last result drawn when an answer is an error (the kernel set the selection back)", () => {
    const { id, selection } = model.selects[0];
    model.emit("msg:custom", ...result(id, 1, selection));
    const map = el.querySelector('[aria-label="Attribution map"]') as HTMLCanvasElement;
    const drawn = painted.get(map);
    const caption = el.querySelector(".nbs-attribution .nbs-caption")!.textContent;
    const tiles = el.querySelectorAll(".nbs-act-cell").length;
    expect(tiles).toBe(4);
    change(byLabel(el, "Channel"), "3");
    model.emit("msg:custom", ...result(model.selects[1].id, 2, selection, {
      error: "channel 5000 is out of range", image: { shape: [0, 0, 4] }, attribution: null, activations: null,
    }));
    expect(el.querySelector('[role="alert"]')!.textContent).toBe("channel 5000 is out of range");
    expect(painted.get(map)).toBe(drawn);
    expect(el.querySelector(".nbs-attribution .nbs-caption")!.textContent).toBe(caption);
    expect(el.querySelectorAll(".nbs-act-cell")).toHaveLength(tiles);
    expect(byLabel(el, "Channel").value).toBe(String(TRAITS.channel)); // the controls show what is drawn
    expect(root().dataset.paintedSeq).toBe("2"); // answered
  });

  it("reports a malformed buffer instead of failing", () => {
    const { id, selection } = model.selects[0];
    const [msg, buffers] = result(id, 1, selection);
    model.emit("msg:custom", msg, [buffers[0], new DataView(new ArrayBuffer(5))]);
    expect(el.querySelector('[role="alert"]')!.textContent).toMatch(/Could not show the result: .*needs 48 bytes, got 5/);
    expect(root().getAttribute("aria-busy")).toBe("false");
  });

  it("validates the Neuron field inline and sends valid positions as a neuron target", () => {
    const { id, selection } = model.selects[0];
    model.emit("msg:custom", ...result(id, 1, selection));
    const neuron = byLabel(el, "Neuron");
    change(neuron, "5, 0");
    expect(neuron.getAttribute("aria-invalid")).toBe("true");
    expect(el.querySelector(".nbs-inline-error")!.textContent).toMatch(/2×2/);
    expect(model.selects).toHaveLength(1);
    change(neuron, "1, 0");
    expect(neuron.hasAttribute("aria-invalid")).toBe(false);
    expect(model.selects[1].selection).toMatchObject({ position: [1, 0], target: "neuron" });
  });

  it("keeps a channel being typed when a result arrives before Enter, then sends it", () => {
    const { id, selection } = model.selects[0];
    const channel = byLabel(el, "Channel");
    change(channel, "3", "input"); // typed, not yet committed
    model.emit("msg:custom", ...result(id, 1, selection)); // the answer to the first request arrives
    expect(channel.value).toBe("3");
    channel.dispatchEvent(new KeyboardEvent("keydown", { key: "Enter" }));
    expect(model.selects[1].selection).toMatchObject({ channel: 3 });
    model.emit("msg:custom", ...result(model.selects[1].id, 2, { ...selection, channel: 2 }));
    expect(channel.value).toBe("2"); // committed: results show again
  });

  it("selects channel and neuron from a click in an activation map, the channel alone from its caption", () => {
    const { id, selection } = model.selects[0];
    model.emit("msg:custom", ...result(id, 1, selection));
    const map = el.querySelector('[aria-label="Activation map, channel 3"]') as HTMLCanvasElement;
    map.getBoundingClientRect = () => ({ left: 10, top: 20, width: 64, height: 64, right: 74, bottom: 84, x: 10, y: 20, toJSON() {} });
    map.dispatchEvent(new MouseEvent("click", { clientX: 10 + 40, clientY: 20 + 10, bubbles: true }));
    expect(model.selects[1].selection).toMatchObject({ channel: 3, position: [0, 1], target: "neuron" });
    model.emit("msg:custom", ...result(model.selects[1].id, 2, model.selects[1].selection));
    const caption = map.closest("figure")!.querySelector("button") as HTMLButtonElement;
    caption.click();
    expect(model.selects[2].selection).toEqual({ position: [], target: "channel" }); // channel 3 was already selected
  });

  it("shows the Class control only for class targets", () => {
    const classField = byLabel(el, "Class").closest(".nbs-field") as HTMLElement;
    expect(classField.hidden).toBe(false);
    change(byLabel(el, "Target"), "layer");
    expect(classField.hidden).toBe(true);
  });

  it("shows a slow method's progress with Cancel, sends the cancel for the request in flight, hides it on the answer", () => {
    const { id, selection } = model.selects[0];
    const bar = el.querySelector(".nbs-attr-progress-row") as HTMLElement;
    expect(bar.hidden).toBe(true);
    model.emit("msg:custom", { kind: "attribution_progress", id: id + 99, method: "guided", done: 1, total: 4 });
    expect(bar.hidden).toBe(true); // another request's progress is not ours
    model.emit("msg:custom", { kind: "attribution_progress", id, method: "guided", done: 2, total: 8 });
    expect(bar.hidden).toBe(false);
    expect(bar.textContent).toContain("Guided backprop: 2 of 8 passes");
    const cancel = [...el.querySelectorAll("button")].find((b) => b.textContent === "Cancel computation")!;
    cancel.click();
    expect(model.sent.at(-1)).toEqual({ kind: "attribution_cancel", id });
    model.emit("msg:custom", ...result(id, 3, selection, { attribution: null, error: "cancelled", cancelled: true }));
    expect(bar.hidden).toBe(true);
    expect(root().dataset.paintedSeq).toBeUndefined(); // nothing painted over the last result
    expect(el.querySelector('[role="alert"]')!.textContent).toBe("cancelled");
    expect(root().getAttribute("aria-busy")).toBe("false");
  });

  it("says the kernel's notes under the map and offers Refine for a preview", () => {
    const { id, selection } = model.selects[0];
    const notes = ["Grad-CAM used layer features.3, not classifier.1: ...", "preview (8 noisy samples instead of 25)"];
    model.emit("msg:custom", ...result(id, 2, selection, { notes, method_layer: "features.3" }));
    const items = [...el.querySelectorAll(".nbs-notes li")].map((li) => li.textContent);
    expect(items).toEqual(notes);
    expect(el.querySelector(".nbs-attribution .nbs-caption")!.textContent).toContain("maps of features.3");
    const refine = el.querySelector(".nbs-attr-refine") as HTMLButtonElement;
    expect(refine.hidden).toBe(false);
    refine.click();
    expect(model.sent.at(-1)).toEqual({ kind: "attribution_refine", id: 0, method: "gradient" });
  });

  it("keeps key events inside the widget, while its controls still act on them", () => {
    const reached: string[] = [];
    const onDocument = (e: Event) => reached.push((e as KeyboardEvent).key);
    document.addEventListener("keydown", onDocument);
    document.addEventListener("keyup", onDocument);
    try {
      const first = model.selects[0];
      model.emit("msg:custom", ...result(first.id, 1, first.selection));
      const layer = byLabel(el, "Layer");
      layer.focus();
      for (const key of ["a", "ArrowDown", "Escape", "r", "Enter"]) {
        layer.dispatchEvent(new KeyboardEvent("keydown", { key, bubbles: true }));
        layer.dispatchEvent(new KeyboardEvent("keyup", { key, bubbles: true }));
      }
      layer.value = "features.3";
      change(layer, undefined, "input");
      layer.dispatchEvent(new KeyboardEvent("keydown", { key: "Enter", bubbles: true }));
      expect(reached).toEqual([]);
      expect(model.selects.at(-1)?.selection).toMatchObject({ layer: "features.3" });
      expect(root().getAttribute("data-lm-suppress-shortcuts")).toBe("true");
      expect(root().tabIndex).toBe(-1); // a click on a part that takes no focus leaves it on the root, in the widget
      // a control that took focus is marked itself (Notebook 7 matches shortcuts on the focused element)
      const method = byLabel(el, "Method");
      method.focus();
      expect(method.getAttribute("data-lm-suppress-shortcuts")).toBe("true");
    } finally {
      document.removeEventListener("keydown", onDocument);
      document.removeEventListener("keyup", onDocument);
    }
  });

  it("removes its listeners and DOM on cleanup", () => {
    expect(model.listenerCount()).toBeGreaterThan(0);
    cleanup();
    expect(model.listenerCount()).toBe(0);
    expect(el.querySelector(".nbs-root")).toBeNull();
    cleanup = () => {};
  });
});

describe("a view without a kernel (a saved notebook, nbconvert's HTML)", () => {
  const PNG = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 1, 2, 3]);

  it("draws the saved snapshot until the first live result, then hides it", () => {
    cleanup();
    model = new FakeModel({ ...TRAITS, snapshot: new DataView(PNG.buffer) });
    ({ el, unmount: cleanup } = mountWidget(model));
    const img = el.querySelector("img.nbs-snapshot") as HTMLImageElement;
    expect(img.hidden).toBe(false);
    expect(img.getAttribute("src")).toBe(`data:image/png;base64,${Buffer.from(PNG).toString("base64")}`);
    const { id, selection } = model.selects[0];
    model.emit("msg:custom", ...result(id, 1, selection));
    expect(img.hidden).toBe(true);
  });

  it("shows no picture when there is no snapshot", () => {
    expect((el.querySelector("img.nbs-snapshot") as HTMLImageElement).hidden).toBe(true);
  });
});
