// @vitest-environment jsdom
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  type KernelsResultMessage,
  type LesionResultMessage,
  MSG_KERNELS,
  MSG_KERNELS_RESULT,
  MSG_LESION,
  MSG_LESION_RESULT,
  MSG_RESULT,
  MSG_SELECT,
  MSG_TSNE,
  MSG_TSNE_CANCEL,
  MSG_TSNE_OPEN,
  MSG_TSNE_RESULT,
  type ResultMessage,
  type TsneResultMessage,
} from "../../js/src/protocol";
import { mountWidget, painted } from "./fake_canvas";
import { FakeModel } from "./fake_model";

const SELECTION = {
  image_index: 0, layer: "features.0", channel: 1, position: [], method: "gradient", target: "logit", target_class: -1,
};
const TRAITS = {
  ...SELECTION, colormap: "inferno", opacity: 0.5, signed: false, clip_percentile: 99.5,
  layers: [{ name: "features.0", shape: [4, 2, 2], type: "Conv2d" }],
  methods: [{ name: "gradient", label: "Gradient", rgb_view: false }],
  labels: ["disc", "square"], n_images: 1, busy: false, error: "",
  index_status: "none", index_progress: [0, -1], index_message: "",
};
const EMPTY = () => [new DataView(new Uint8Array(4).buffer), new DataView(new ArrayBuffer(0)), new DataView(new ArrayBuffer(0))];

let model: FakeModel;
let el: HTMLElement;
let cleanup: () => void;
const section = (name: string) => el.querySelector(`section[aria-label="${name}"]`) as HTMLElement;

function paintSelection(seq: number, changed = {}) {
  const selects = model.ofKind(MSG_SELECT);
  const msg = {
    kind: MSG_RESULT, id: selects.length ? selects[selects.length - 1].id : null, seq, error: "", image_index: 0,
    image: { shape: [1, 1, 4] }, attribution: null, activations: null, predictions: [], selection: { ...SELECTION, ...changed },
  } as unknown as ResultMessage;
  model.emit("msg:custom", msg, EMPTY());
}

function lesionAnswer(id: number, seq: number, channel: number, after: number, position: number[] = []): LesionResultMessage {
  return {
    kind: MSG_LESION_RESULT, id, seq, image_index: 0, layer: "features.0", channel, position, prediction_changed: after < 0.5,
    classes: [{ index: 0, label: "disc", before: 0.9, after, logit_change: -2 }], error: "",
  };
}

beforeEach(() => {
  model = new FakeModel({ ...TRAITS });
  ({ el, unmount: cleanup } = mountWidget(model));
});

afterEach(() => cleanup());

describe("the lesion panel", () => {
  it("asks for the painted channel when toggled on, follows the channel, and paints only the latest answer", () => {
    paintSelection(1);
    const toggle = section("Lesion").querySelector("button") as HTMLButtonElement;
    expect(model.ofKind(MSG_LESION)).toEqual([]); // off: no lesion work
    toggle.click();
    expect(toggle.getAttribute("aria-pressed")).toBe("true");
    const [first] = model.ofKind(MSG_LESION);
    expect(first).toMatchObject({ image_index: 0, layer: "features.0", channel: 1 });

    paintSelection(2, { channel: 3 });
    const second = model.ofKind(MSG_LESION)[1];
    expect(second).toMatchObject({ channel: 3 });
    model.emit("msg:custom", lesionAnswer(first.id, 1, 1, 0.8), []); // the older request: not painted
    expect(section("Lesion").querySelectorAll('[role="listitem"]')).toHaveLength(0);
    model.emit("msg:custom", lesionAnswer(second.id, 2, 3, 0.2), []);
    const rows = section("Lesion").querySelectorAll('[role="listitem"]');
    expect([...rows].map((r) => r.getAttribute("aria-label"))).toEqual(["disc 90.0% → 20.0%"]);
    expect(section("Lesion").dataset.channel).toBe("3");
    expect(section("Lesion").textContent).toContain("the top class changed");

    paintSelection(3, { channel: 3, method: "guided" }); // same channel: no new lesion
    expect(model.ofKind(MSG_LESION)).toHaveLength(2);
    paintSelection(4, { channel: 3, target: "neuron", position: [1, 0] }); // a single neuron: that unit alone
    const third = model.ofKind(MSG_LESION)[2];
    expect(third).toMatchObject({ channel: 3, position: [1, 0] });
    expect(model.ofKind(MSG_LESION)[1]).toMatchObject({ position: [] });
    model.emit("msg:custom", lesionAnswer(third.id, 3, 3, 0.7, [1, 0]), []);
    expect(section("Lesion").textContent).toContain("Without the neuron at (1, 0) of features.0 channel 3");
    toggle.click();
    expect(section("Lesion").dataset.lesion).toBe("off");
    expect(section("Lesion").querySelectorAll('[role="listitem"]')).toHaveLength(0);
  });
});

describe("the kernels panel", () => {
  it("asks for the painted layer's kernels and paints the tiles with the selected filter framed", () => {
    paintSelection(1);
    const [ask] = model.ofKind(MSG_KERNELS);
    expect(ask).toMatchObject({ layer: "features.0", channel: 1 });
    const msg: KernelsResultMessage = {
      kind: MSG_KERNELS_RESULT, id: ask.id, seq: 1, layer: "features.0", channel: 1, conv: "features.0", rgb: true,
      filters: [0, 1, 2, 3], inputs: [-1, -1, -1, -1], shape: [1, 1, 4], note: "", error: "",
    };
    const tiles = new Uint8Array(1 + 16).fill(7);
    model.emit("msg:custom", msg, [new DataView(tiles.buffer, 1, 16)]);
    const panel = section("Kernels");
    expect(panel.dataset.tiles).toBe("4");
    expect(panel.textContent).toContain("features.0: 4 filters as colour (filter 1 framed)");
    const pixels = painted.get(panel.querySelector("canvas") as HTMLCanvasElement)!;
    expect(pixels.length).toBe(5 * 5 * 4); // 2 x 2 tiles of 1 pixel with gaps
    expect(Array.from(pixels.slice(4 * (1 * 5 + 1), 4 * (1 * 5 + 1) + 4))).toEqual([7, 7, 7, 7]);
    paintSelection(2, { method: "guided" }); // same layer and channel: no new request
    expect(model.ofKind(MSG_KERNELS)).toHaveLength(1);
  });
});

describe("the t-SNE panel", () => {
  it("maps on a click, shows a point's image on hover and opens it on click", () => {
    paintSelection(1);
    const panel = section("t-SNE of codes");
    (panel.querySelector("button") as HTMLButtonElement).click();
    const [ask] = model.ofKind(MSG_TSNE);
    expect(ask).toMatchObject({ layer: "features.0" });
    const base = { kind: MSG_TSNE_RESULT, id: ask.id, layer: "features.0", n: 0, thumbnail: [0, 0, 4], note: "", error: "" };
    model.emit("msg:custom", { ...base, seq: 1, status: "running" } as TsneResultMessage, []);
    expect(panel.dataset.status).toBe("running");
    const done = { ...base, seq: 2, status: "done", n: 2, thumbnail: [1, 1, 4], note: "features.0, perplexity 1" };
    const points = new Float32Array([0, 0, 1, 1]);
    const thumbs = new Uint8Array([1, 2, 3, 255, 9, 9, 9, 255]);
    model.emit("msg:custom", done as TsneResultMessage, [new DataView(points.buffer), new DataView(thumbs.buffer)]);
    expect(panel.dataset.points).toBe("2");
    const map = panel.querySelector('canvas[role="img"]') as HTMLCanvasElement;
    map.getBoundingClientRect = () => ({ left: 0, top: 0, width: 320, height: 320 }) as DOMRect;
    // fitted with an 8-pixel margin: point 0 at (8, 312), point 1 at (312, 8)
    map.dispatchEvent(new MouseEvent("mousemove", { clientX: 310, clientY: 10 }));
    expect(panel.dataset.hover).toBe("1");
    expect(Array.from(painted.get(panel.querySelector(".nbs-tsne-preview") as HTMLCanvasElement)!)).toEqual([9, 9, 9, 255]);
    map.dispatchEvent(new MouseEvent("click", { clientX: 9, clientY: 311 }));
    expect(model.ofKind(MSG_TSNE_OPEN)).toEqual([{ kind: MSG_TSNE_OPEN, index: 0 }]);
    map.dispatchEvent(new MouseEvent("click", { clientX: 160, clientY: 160 })); // no point there
    expect(model.ofKind(MSG_TSNE_OPEN)).toHaveLength(1);
  });

  it("cancels a running map from its Cancel button and can map again", () => {
    const panel = section("t-SNE of codes");
    const button = (text: string) => [...panel.querySelectorAll("button")].find((b) => b.textContent === text)!;
    expect(button("Cancel map").hidden).toBe(true);
    button("Map the dataset (t-SNE)").click();
    const [ask] = model.ofKind(MSG_TSNE);
    const base = { kind: MSG_TSNE_RESULT, id: ask.id, layer: "features.0", n: 0, thumbnail: [0, 0, 4], note: "", error: "" };
    model.emit("msg:custom", { ...base, seq: 1, status: "running" } as TsneResultMessage, []);
    expect(button("Cancel map").hidden).toBe(false);
    button("Cancel map").click();
    expect(model.ofKind(MSG_TSNE_CANCEL)).toEqual([{ kind: MSG_TSNE_CANCEL, id: ask.id }]);
    expect(button("Cancel map").disabled).toBe(true);
    model.emit("msg:custom", { ...base, seq: 2, status: "cancelled" } as TsneResultMessage, []);
    expect(panel.dataset.status).toBe("cancelled");
    expect(panel.textContent).toContain("The map of features.0 was cancelled.");
    expect(button("Cancel map").hidden).toBe(true);
    expect(button("Map the dataset (t-SNE)").disabled).toBe(false);
    button("Map the dataset (t-SNE)").click();
    expect(model.ofKind(MSG_TSNE)).toHaveLength(2);
    expect(button("Cancel map").disabled).toBe(false);
  });

  it("shows the kernel's error in words", () => {
    const panel = section("t-SNE of codes");
    (panel.querySelector("button") as HTMLButtonElement).click();
    const [ask] = model.ofKind(MSG_TSNE);
    const msg = {
      kind: MSG_TSNE_RESULT, id: ask.id, seq: 1, layer: "features.0", status: "error", n: 0, thumbnail: [0, 0, 4],
      note: "", error: "t-SNE embeddings need scikit-learn, which is not installed",
    } as TsneResultMessage;
    model.emit("msg:custom", msg, []);
    expect(panel.dataset.status).toBe("error");
    expect(panel.textContent).toContain("need scikit-learn");
    expect((panel.querySelector("button") as HTMLButtonElement).disabled).toBe(false);
  });
});
