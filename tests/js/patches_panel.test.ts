// @vitest-environment jsdom
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { GRID_SETTLE_MS } from "../../js/src/panels/patches/panel";
import {
  MSG_INDEX_BUILD,
  MSG_INDEX_CANCEL,
  MSG_PATCHES,
  MSG_PATCHES_RESULT,
  MSG_PATCH_OPEN,
  MSG_RESULT,
  MSG_SELECT,
  type PatchesResultMessage,
  type ResultMessage,
} from "../../js/src/protocol";
import { mountWidget, painted } from "./fake_canvas";
import { FakeModel } from "./fake_model";

const SELECTION = {
  image_index: 0,
  layer: "features.0",
  channel: 1,
  position: [],
  method: "gradcam",
  target: "channel",
  target_class: -1,
};
const TRAITS = {
  ...SELECTION,
  colormap: "inferno",
  opacity: 0.5,
  signed: false,
  clip_percentile: 99.5,
  layers: [{ name: "features.0", shape: [4, 2, 2], type: "Conv2d" }],
  methods: [
    { name: "gradcam", label: "Grad-CAM", rgb_view: false },
    { name: "deconvnet", label: "DeconvNet", rgb_view: true },
  ],
  labels: ["disc", "square"],
  n_images: 1,
  busy: false,
  error: "",
  index_status: "building",
  index_progress: [16, 500],
  index_message: "",
};


/** A kernel result of the current selection, so that the view paints it and follows it. */
function selectResult(id: number | null, seq: number, changed = {}) {
  const selection = { ...SELECTION, ...changed };
  const msg = {
    kind: MSG_RESULT, id, seq, error: "", image_index: 0, image: { shape: [1, 1, 4] }, attribution: null,
    activations: null, predictions: [], selection,
  } as unknown as ResultMessage;
  return [msg, [new DataView(new Uint8Array(4).buffer), new DataView(new ArrayBuffer(0)), new DataView(new ArrayBuffer(0))]] as const;
}

/** A grid of `n` 2 x 3 patches; patch i's crop bytes are i, its projection's 100 + i, at odd offsets. */
function grid(id: number, seq: number, n = 9, extra: Partial<PatchesResultMessage> = {}) {
  const msg: PatchesResultMessage = {
    kind: MSG_PATCHES_RESULT, id, seq, layer: "features.0", channel: 1, method: "gradcam", projection: "deconvnet",
    note: "Grad-CAM cannot project single units", ready: true, superseded: false, error: "",
    patches: Array.from({ length: n }, (_, i) => ({
      rank: i, value: 10 - i / 3, image: 40 + i, y: 0, x: 1, box: [0, 2, 2, 5], shape: [2, 3, 4],
    })),
    ...extra,
  };
  const buffers = msg.patches.flatMap((p) =>
    [p.rank, 100 + p.rank].map((v) => new DataView(new Uint8Array(1 + 24).fill(v).buffer, 1, 24)),
  );
  return [msg, buffers] as const;
}

let model: FakeModel;
let el: HTMLElement;
let cleanup: () => void;
const panel = () => el.querySelector('section[aria-label="Top-activating patches"]') as HTMLElement;
const cells = () => [...panel().querySelectorAll("button.nbs-patch")] as HTMLButtonElement[];
const progress = () => panel().querySelector('progress[aria-label="Index progress"]') as HTMLProgressElement;
function button(text: string): HTMLButtonElement {
  const found = [...panel().querySelectorAll("button")].filter((b) => b.textContent === text);
  expect(found, text).toHaveLength(1);
  return found[0];
}
function firstPaint() {
  const [select] = model.ofKind(MSG_SELECT);
  model.emit("msg:custom", ...selectResult(select.id, 1));
}

/** A later selection is painted: its grid is asked for once the selection has rested GRID_SETTLE_MS. */
function paintAndRest(seq: number, changed = {}) {
  model.emit("msg:custom", ...selectResult(null, seq, changed));
  vi.advanceTimersByTime(GRID_SETTLE_MS);
}

beforeEach(() => {
  vi.useFakeTimers();
  model = new FakeModel({ ...TRAITS });
  ({ el, unmount: cleanup } = mountWidget(model));
});

afterEach(() => {
  cleanup();
  vi.useRealTimers();
});

describe("the patches panel", () => {
  it("shows the index build's progress with a Cancel button", () => {
    expect(panel().dataset.indexStatus).toBe("building");
    expect(progress().hidden).toBe(false);
    expect([progress().value, progress().max]).toEqual([16, 500]);
    expect(panel().querySelector('[role="status"]')!.textContent).toBe("Indexing the dataset: 16 / 500 images…");
    button("Cancel indexing").click();
    expect(model.ofKind(MSG_INDEX_CANCEL)).toEqual([{ kind: MSG_INDEX_CANCEL }]);
    model.pythonSets("index_progress", [32, 500]); // a progress tick before the kernel sees the cancel
    expect(button("Cancel indexing").disabled).toBe(true);
    model.pythonSets("index_status", "cancelled");
    expect(progress().hidden).toBe(true);
    button("Build index").click();
    expect(model.ofKind(MSG_INDEX_BUILD)).toEqual([{ kind: MSG_INDEX_BUILD }]);
  });

  it("asks for the painted selection's grid, and again when the index becomes ready", () => {
    expect(model.ofKind(MSG_PATCHES)).toEqual([]); // nothing painted yet
    firstPaint();
    const [first] = model.ofKind(MSG_PATCHES);
    expect(first).toMatchObject({ kind: MSG_PATCHES, layer: "features.0", channel: 1, method: "gradcam" });
    model.emit("msg:custom", ...grid(first.id, 1, 0, { ready: false }));
    expect(cells()).toHaveLength(0);
    model.pythonSets("index_progress", [500, 500]);
    model.pythonSets("index_status", "ready");
    const again = model.ofKind(MSG_PATCHES);
    expect(again).toHaveLength(2);
    expect(again[1].id).toBeGreaterThan(first.id);
    expect(progress().hidden).toBe(true);
  });

  it("paints nine cells, each a button naming its image and value, and opens a patch on click", () => {
    model.pythonSets("index_status", "ready");
    firstPaint();
    const [req] = model.ofKind(MSG_PATCHES);
    model.emit("msg:custom", ...grid(req.id, 2));
    expect(panel().dataset.patches).toBe("9");
    expect(cells().map((c) => c.getAttribute("aria-label")).slice(0, 2)).toEqual([
      "Patch 1: image 40, value 10, open",
      "Patch 2: image 41, value 9.667, open",
    ]);
    const [patch, projection] = [...cells()[4].querySelectorAll("canvas")];
    expect([patch.width, patch.height, projection.width]).toEqual([3, 2, 3]);
    expect(patch.style.width).toBe("72px"); // 3 px wide, upscaled x24
    expect(painted.get(patch)![0]).toBe(4);
    expect(painted.get(projection)![0]).toBe(104);
    expect(panel().textContent).toContain("projections: DeconvNet (Grad-CAM cannot project single units)");

    cells()[4].click();
    expect(model.ofKind(MSG_PATCH_OPEN)).toEqual([{ kind: MSG_PATCH_OPEN, layer: "features.0", channel: 1, rank: 4 }]);
  });

  it("follows layer, channel and method changes, not other fields, and never paints an older grid", () => {
    model.pythonSets("index_status", "ready");
    firstPaint();
    const [a] = model.ofKind(MSG_PATCHES);
    model.emit("msg:custom", ...grid(a.id, 5));
    paintAndRest(2, { image_index: 3, target: "neuron" });
    expect(model.ofKind(MSG_PATCHES)).toHaveLength(1);
    paintAndRest(3, { channel: 2 });
    const [, b] = model.ofKind(MSG_PATCHES);
    expect(b).toMatchObject({ channel: 2 });
    model.emit("msg:custom", ...grid(b.id, 4, 3)); // older than the painted grid
    expect(panel().dataset.patches).toBe("9");
  });

  it("says it is updating while a new grid is coming, and the caption names the grid drawn", () => {
    model.pythonSets("index_status", "ready");
    firstPaint();
    const updating = panel().querySelector(".nbs-updating") as HTMLElement;
    const caption = () => panel().querySelector(".nbs-caption")!.textContent;
    const [a] = model.ofKind(MSG_PATCHES);
    expect(updating.hidden).toBe(false);
    model.emit("msg:custom", ...grid(a.id, 5));
    expect(updating.hidden).toBe(true);
    expect(caption()).toContain("features.0 · channel 1");
    model.emit("msg:custom", ...selectResult(null, 2, { channel: 6, method: "guided" }));
    expect(updating.hidden).toBe(false); // the channel 1 grid is still drawn, and said to be stale
    expect(caption()).toContain("channel 1");
    vi.advanceTimersByTime(GRID_SETTLE_MS);
    expect(updating.hidden).toBe(false);
    const [, b] = model.ofKind(MSG_PATCHES);
    model.emit("msg:custom", ...grid(b.id, 6, 9, { channel: 6, method: "guided", projection: "guided", note: "" }));
    expect(updating.hidden).toBe(true);
    expect(caption()).toContain("channel 6");
  });

  it("asks for a new grid only when the selection has rested, and only for the last of quick changes", () => {
    model.pythonSets("index_status", "ready");
    firstPaint();
    const [a] = model.ofKind(MSG_PATCHES); // the first grid: at once
    model.emit("msg:custom", ...grid(a.id, 5));
    const updating = panel().querySelector(".nbs-updating") as HTMLElement;
    for (const [seq, channel] of [[2, 2], [3, 3], [4, 4]]) {
      model.emit("msg:custom", ...selectResult(null, seq, { channel }));
      vi.advanceTimersByTime(GRID_SETTLE_MS - 1);
      expect(model.ofKind(MSG_PATCHES)).toHaveLength(1); // stepping through channels: no projections yet
      expect(updating.hidden).toBe(false);
    }
    vi.advanceTimersByTime(1);
    expect(model.ofKind(MSG_PATCHES).slice(1)).toEqual([expect.objectContaining({ channel: 4 })]);
    // back to the grid asked for and drawn before the rest is over: nothing to ask, nothing stale
    model.emit("msg:custom", ...grid(model.ofKind(MSG_PATCHES)[1].id, 6, 9, { channel: 4 }));
    model.emit("msg:custom", ...selectResult(null, 5, { channel: 5 }));
    model.emit("msg:custom", ...selectResult(null, 6, { channel: 4 }));
    expect(updating.hidden).toBe(true);
    vi.advanceTimersByTime(GRID_SETTLE_MS);
    expect(model.ofKind(MSG_PATCHES)).toHaveLength(2);
  });

  it("shows the kernel's error in plain words and keeps working", () => {
    model.pythonSets("index_status", "ready");
    firstPaint();
    const [a] = model.ofKind(MSG_PATCHES);
    model.emit("msg:custom", ...grid(a.id, 1, 0, { error: "layer 'fc' has output shape (5,)" }));
    expect(panel().querySelector(".nbs-inline-error")!.textContent).toBe("layer 'fc' has output shape (5,)");
    expect(panel().dataset.patches).toBe("0");
    paintAndRest(2, { channel: 2 });
    const [, b] = model.ofKind(MSG_PATCHES);
    model.emit("msg:custom", ...grid(b.id, 2));
    expect(panel().querySelector(".nbs-inline-error")!.textContent).toBe("");
    expect(panel().dataset.patches).toBe("9");
  });

  it("removes its listeners with the view", () => {
    cleanup();
    expect(model.listenerCount()).toBe(0);
    cleanup = () => {};
  });
});
