import { describe, expect, it } from "vitest";
import { MSG_PATCHES_RESULT, type PatchesResultMessage } from "../../js/src/protocol";
import {
  type GridKey,
  GridRequests,
  gridCaption,
  indexStateFrom,
  indexText,
  patchLabel,
  upscale,
  patchScale,
} from "../../js/src/panels/patches/state";

const KEY: GridKey = { layer: "block2.conv2", channel: 3, method: "guided" };

function answer(id: number | null, seq: number, key: GridKey, extra: Partial<PatchesResultMessage> = {}) {
  const msg: PatchesResultMessage = {
    kind: MSG_PATCHES_RESULT,
    id,
    seq,
    ...key,
    projection: key.method,
    note: "",
    ready: true,
    superseded: false,
    error: "",
    patches: [],
    ...extra,
  };
  return msg;
}

function requester() {
  const sent: [number, GridKey][] = [];
  const requests = new GridRequests((id, key) => sent.push([id, key]), 10);
  return { sent, requests };
}

describe("grid requests", () => {
  it("ask once per grid key, not again for the same layer, channel and method", () => {
    const { sent, requests } = requester();
    expect(requests.follow(KEY)).toBe(true);
    expect(requests.follow({ ...KEY })).toBe(false); // e.g. only the target or the image changed
    expect(sent).toEqual([[10, KEY]]);
    expect(requests.resolve(answer(10, 1, KEY))).toBe("paint");
    expect(requests.follow(KEY)).toBe(false);
    expect(requests.follow({ ...KEY, method: "gradient" })).toBe(true);
    expect(sent.map(([id]) => id)).toEqual([10, 11]);
  });

  it("keep one request in flight and only the latest waiting", () => {
    const { sent, requests } = requester();
    requests.follow(KEY);
    requests.follow({ ...KEY, channel: 4 });
    requests.follow({ ...KEY, channel: 5 });
    expect(sent).toHaveLength(1);
    expect(requests.busy).toBe(true);
    requests.resolve(answer(10, 1, KEY));
    expect(sent).toEqual([
      [10, KEY],
      [11, { ...KEY, channel: 5 }],
    ]);
  });

  it("never paint an answer older than one painted", () => {
    const { requests } = requester();
    requests.follow(KEY);
    expect(requests.resolve(answer(10, 5, KEY))).toBe("paint");
    expect(requests.resolve(answer(null, 4, KEY))).toBe("ignore");
    expect(requests.resolve(answer(null, 5, KEY))).toBe("ignore");
  });

  it("wait while the index is not ready and ask again when it is", () => {
    const { sent, requests } = requester();
    requests.follow(KEY);
    expect(requests.resolve(answer(10, 1, KEY, { ready: false }))).toBe("wait");
    expect(requests.busy).toBe(false);
    requests.refresh();
    expect(sent).toEqual([
      [10, KEY],
      [11, KEY],
    ]);
  });

  it("ask again for a superseded request", () => {
    const { sent, requests } = requester();
    requests.follow(KEY);
    expect(requests.resolve(answer(10, 1, KEY, { superseded: true }))).toBe("ignore");
    expect(sent.map(([id, key]) => [id, key.channel])).toEqual([
      [10, 3],
      [11, 3],
    ]);
  });

  it("refresh before any selection sends nothing", () => {
    const { sent, requests } = requester();
    requests.refresh();
    expect(sent).toEqual([]);
  });
});

describe("words", () => {
  it("reads the index traits, tolerating missing ones", () => {
    const traits: Record<string, unknown> = { index_status: "building", index_progress: [32, 500], index_message: "" };
    expect(indexStateFrom((n) => traits[n])).toEqual({ status: "building", done: 32, total: 500, message: "" });
    expect(indexStateFrom(() => undefined)).toEqual({ status: "none", done: 0, total: -1, message: "" });
  });

  it("describe the index", () => {
    const s = { status: "building" as const, done: 32, total: 500, message: "" };
    expect(indexText(s)).toBe("Indexing the dataset: 32 / 500 images…");
    expect(indexText({ ...s, total: -1 })).toBe("Indexing the dataset: 32 images…");
    expect(indexText({ ...s, status: "ready", done: 500 })).toMatch(/over 500 dataset images/);
    expect(indexText({ ...s, status: "ready", message: "index.npz is stale" })).toMatch(/open its image\. \(index\.npz is stale\)$/);
    expect(indexText({ ...s, status: "cancelled" })).toMatch(/^Indexing cancelled after 32 images\. Press Build index/);
    expect(indexText({ ...s, status: "error", message: "dataset item 3: expected a (C, H, W) image" })).toBe(
      "Could not build the patch index: dataset item 3: expected a (C, H, W) image",
    );
  });

  it("name a cell by rank, image and value", () => {
    const p = { rank: 0, value: 3.2104, image: 17, y: 1, x: 2, box: [0, 0, 5, 5], shape: [5, 5, 4] };
    expect(patchLabel(p)).toBe("Patch 1: image 17, value 3.21, open");
  });

  it("caption a grid with its projection and the fallback note", () => {
    const msg = answer(1, 1, { ...KEY, method: "gradcam" }, { projection: "deconvnet", note: "Grad-CAM cannot project single units" });
    msg.patches = [{ rank: 0, value: 1, image: 0, y: 0, x: 0, box: [0, 0, 1, 1], shape: [1, 1, 4] }];
    expect(gridCaption(msg, (m) => m.toUpperCase())).toBe(
      "block2.conv2 · channel 3 · top 1 patches · projections: DECONVNET (Grad-CAM cannot project single units)",
    );
  });

  it("fits three tiles in the panel at every receptive-field size, never cut at the right edge", () => {
    // a row as patches.css lays it out: per tile padding 3 + border 2 each side, 3 px between the two crops,
    // each crop a 1-px border each side;
    // 6 px between tiles
    const rowWidth = (scale: number, w: number) => 3 * (2 * w * scale + 3 + 2 * 3 + 2 * 2 + 2 * 2) + 2 * 6;
    for (const panel of [320, 480, 700, 1000]) {
      for (const size of [3, 11, 35, 99, 195, 224, 427]) {
        const scale = patchScale(panel, size, size);
        expect(rowWidth(scale, size), `${size}-px crops in ${panel} px`).toBeLessThanOrEqual(panel + 1e-9);
        expect(scale).toBeLessThanOrEqual(upscale(size, size));
      }
    }
    // small crops keep their whole-number upscale when there is room; a late layer's crop shrinks to fit
    expect(patchScale(1000, 11, 11)).toBe(upscale(11, 11));
    expect(patchScale(700, 224, 224)).toBeCloseTo((700 - 12 - 3 * 17) / 6 / 224, 10);
    // not laid out yet: the upscale alone
    expect(patchScale(0, 14, 14)).toBe(upscale(14, 14));
  });

  it("upscale small crops by whole factors", () => {
    expect(upscale(14, 14)).toBe(5);
    expect(upscale(64, 64)).toBe(1);
    expect(upscale(200, 100)).toBe(1);
    expect(upscale(0, 0)).toBe(72);
  });
});
