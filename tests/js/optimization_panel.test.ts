// @vitest-environment jsdom
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  MSG_OPTIMIZE,
  MSG_OPTIMIZE_CANCEL,
  MSG_OPTIMIZE_DONE,
  MSG_OPTIMIZE_FRAME,
  MSG_SELECT,
} from "../../js/src/protocol";
import { mountWidget, painted } from "./fake_canvas";
import { FakeModel } from "./fake_model";

const TRAITS = {
  image_index: 0,
  layer: "features.0",
  channel: 1,
  position: [],
  method: "gradient",
  target: "channel",
  target_class: -1,
  colormap: "inferno",
  opacity: 0.5,
  signed: false,
  clip_percentile: 99.5,
  layers: [{ name: "features.0", shape: [4, 2, 2], type: "Conv2d" }],
  methods: [{ name: "gradient", label: "Gradient", rgb_view: false }],
  labels: ["disc", "square"],
  n_images: 1,
  busy: false,
  error: "",
};

/** A frame of a 2 x 3 image whose RGBA bytes sit at an odd offset, as Jupyter may hand them over. */
function frame(run: number, step: number, value: number | null = 1.25) {
  const bytes = new Uint8Array(1 + 2 * 3 * 4).fill(step);
  const msg = { kind: MSG_OPTIMIZE_FRAME, run, step, steps: 10, value, image: { shape: [2, 3, 4] } };
  return [msg, [new DataView(bytes.buffer, 1, 2 * 3 * 4)]] as const;
}
const done = (run: number, extra = {}) => ({ kind: MSG_OPTIMIZE_DONE, run, cancelled: false, cached: false, error: "", ...extra });

let model: FakeModel;
let el: HTMLElement;
let cleanup: () => void;
const panel = () => el.querySelector(".nbs-optimize") as HTMLElement;
const status = () => panel().querySelector('[role="status"]')!.textContent;
const canvas = () => el.querySelector('canvas[aria-label="Optimized image"]') as HTMLCanvasElement;
function control(text: string): HTMLInputElement & HTMLSelectElement {
  const label = [...el.querySelectorAll("label")].find((l) => l.textContent === text);
  expect(label, text).toBeDefined();
  return label!.control as HTMLInputElement & HTMLSelectElement;
}
function button(text: string): HTMLButtonElement {
  const found = [...el.querySelectorAll("button")].filter((b) => b.textContent === text);
  expect(found, text).toHaveLength(1);
  return found[0];
}

beforeEach(() => {
  model = new FakeModel({ ...TRAITS });
  ({ el, unmount: cleanup } = mountWidget(model));
});

afterEach(() => cleanup());

describe("the optimization panel", () => {
  it("has its controls under their exact accessible names", () => {
    expect([...control("Visualisation").options].map((o) => o.value)).toEqual([
      "class_model",
      "activation_maximisation",
      "deepdream",
      "invert",
    ]);
    expect(control("Steps").value).toBe("100");
    expect(button("Cancel").disabled).toBe(true);
    expect(canvas()).not.toBeNull();
    expect(panel().dataset.frames).toBe("0");
    expect(status()).toMatch(/press Run/);
  });

  it("asks the kernel for a run, paints its frames and counts them", () => {
    control("Visualisation").value = "deepdream";
    control("Steps").value = "10";
    button("Run").click();
    const [req] = model.ofKind(MSG_OPTIMIZE);
    expect(req).toMatchObject({ kind: MSG_OPTIMIZE, visualisation: "deepdream", steps: 10 });
    expect(model.ofKind(MSG_SELECT)).toHaveLength(1); // only the first-result request of the view
    expect(button("Cancel").disabled).toBe(false);

    model.emit("msg:custom", ...frame(req.id, 4));
    model.emit("msg:custom", ...frame(req.id, 8, 2.5));
    expect(panel().dataset.frames).toBe("2");
    expect([canvas().width, canvas().height]).toEqual([3, 2]);
    expect(painted.get(canvas())![0]).toBe(8);
    expect(status()).toBe("Running: step 8 / 10 · objective 2.5");

    model.emit("msg:custom", done(req.id));
    expect(status()).toMatch(/^Done: step 8 \/ 10/);
    expect(button("Cancel").disabled).toBe(true);
    expect(el.querySelector(".nbs-root")!.getAttribute("data-painted-seq")).toBeNull(); // not a result
  });

  it("cancels the current run and ignores frames of an older run", () => {
    button("Run").click();
    const first = model.ofKind(MSG_OPTIMIZE)[0].id;
    button("Run").click(); // replaces the first run
    const second = model.ofKind(MSG_OPTIMIZE)[1].id;
    expect(second).toBeGreaterThan(first);
    model.emit("msg:custom", ...frame(first, 3));
    model.emit("msg:custom", done(first, { cancelled: true }));
    expect(panel().dataset.frames).toBe("0");
    model.emit("msg:custom", ...frame(second, 2));
    button("Cancel").click();
    expect(model.ofKind(MSG_OPTIMIZE_CANCEL)).toEqual([{ kind: MSG_OPTIMIZE_CANCEL, run: second }]);
    model.emit("msg:custom", done(second, { cancelled: true }));
    expect(status()).toBe("Cancelled at step 2 / 10 · objective 1.25");
    expect(panel().dataset.phase).toBe("cancelled");
  });

  it("shows the kernel's error in plain words and refuses steps out of range", () => {
    button("Run").click();
    const run = model.ofKind(MSG_OPTIMIZE)[0].id;
    model.emit("msg:custom", done(run, { error: "channel 9 is out of range" }));
    expect(status()).toBe("Error: channel 9 is out of range");
    control("Steps").value = "0";
    control("Steps").dispatchEvent(new Event("input"));
    expect(button("Run").disabled).toBe(true);
    expect(control("Steps").getAttribute("aria-invalid")).toBe("true");
    expect(status()).toMatch(/Steps must be a whole number from 1 to 2000/);
    button("Run").click();
    expect(model.ofKind(MSG_OPTIMIZE)).toHaveLength(1);
  });

  it("sends the latest selection with a run, also one still waiting in the request queue", () => {
    const channel = control("Channel");
    channel.value = "2"; // the first request is still in flight: this change waits in the queue
    channel.dispatchEvent(new Event("change"));
    expect(model.ofKind(MSG_SELECT)).toHaveLength(1);
    button("Run").click();
    expect(model.ofKind(MSG_OPTIMIZE)[0].selection).toMatchObject({ channel: 2 });
  });

  it("shows a frame it cannot decode as an error instead of failing", () => {
    button("Run").click();
    const run = model.ofKind(MSG_OPTIMIZE)[0].id;
    const [msg] = frame(run, 1);
    expect(() => model.emit("msg:custom", msg, [new DataView(new ArrayBuffer(5))])).not.toThrow();
    expect(panel().dataset.phase).toBe("error");
    expect(status()).toMatch(/^Error: Could not show the optimized image/);
  });
});
