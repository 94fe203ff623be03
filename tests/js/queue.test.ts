import { describe, expect, it } from "vitest";
import { LatestWinsQueue } from "../../js/src/lib/queue";

function recorder(firstId?: number) {
  const sent: [number, string][] = [];
  const queue = new LatestWinsQueue<string>((id, sel) => sent.push([id, sel]), firstId);
  return { sent, queue };
}

describe("LatestWinsQueue", () => {
  it("sends at once when idle", () => {
    const { sent, queue } = recorder();
    expect(queue.busy).toBe(false);
    queue.submit("a");
    expect(sent).toEqual([[1, "a"]]);
    expect(queue.busy).toBe(true);
    expect(queue.inFlight).toBe(1);
  });

  it("keeps at most one in flight and one pending; rapid submits send only the latest", () => {
    const { sent, queue } = recorder();
    queue.submit("a");
    queue.submit("b");
    queue.submit("c");
    queue.submit("d");
    expect(sent).toEqual([[1, "a"]]);
    expect(queue.hasPending).toBe(true);
    expect(queue.resolve(1)).toBe(true);
    expect(sent).toEqual([[1, "a"], [2, "d"]]);
    expect(queue.hasPending).toBe(false);
    expect(queue.resolve(2)).toBe(true);
    expect(queue.busy).toBe(false);
    expect(sent).toHaveLength(2);
  });

  it("uses increasing ids from the first id given", () => {
    const { sent, queue } = recorder(5000);
    for (const s of ["a", "b", "c"]) {
      queue.submit(s);
      queue.resolve(queue.inFlight);
    }
    expect(sent.map(([id]) => id)).toEqual([5000, 5001, 5002]);
  });

  it("is not resolved by a kernel-initiated result (id null) or another id", () => {
    const { sent, queue } = recorder();
    queue.submit("a");
    queue.submit("b");
    expect(queue.resolve(null)).toBe(false);
    expect(queue.resolve(99)).toBe(false);
    expect(queue.busy).toBe(true);
    expect(sent).toHaveLength(1);
    expect(queue.resolve(1)).toBe(true);
    expect(sent.at(-1)).toEqual([2, "b"]);
  });

  it("ignores a repeated answer to a request already resolved", () => {
    const { sent, queue } = recorder();
    queue.submit("a");
    queue.resolve(1);
    expect(queue.resolve(1)).toBe(false);
    expect(queue.busy).toBe(false);
    expect(sent).toHaveLength(1);
  });

  it("refuses results whose seq is not newer than the last painted", () => {
    const { queue } = recorder();
    expect(queue.lastPaintedSeq).toBeNull();
    expect(queue.shouldPaint(3)).toBe(true);
    expect(queue.shouldPaint(3)).toBe(false);
    expect(queue.shouldPaint(2)).toBe(false);
    expect(queue.shouldPaint(4)).toBe(true);
    expect(queue.shouldPaint(0)).toBe(false);
    expect(queue.shouldPaint(Number.NaN)).toBe(false);
    expect(queue.lastPaintedSeq).toBe(4);
  });

  it("goes idle again when sending throws, so the next submit can retry", () => {
    let fail = true;
    const sent: number[] = [];
    const queue = new LatestWinsQueue<string>((id) => {
      if (fail) throw new Error("comm closed");
      sent.push(id);
    });
    expect(() => queue.submit("a")).toThrowError("comm closed");
    expect(queue.busy).toBe(false);
    fail = false;
    queue.submit("b");
    expect(sent).toEqual([2]);
  });
});

describe("LatestWinsQueue with a merge function", () => {
  it("merges rapid partial changes into the single waiting request", () => {
    const sent: [number, Record<string, unknown>][] = [];
    const queue = new LatestWinsQueue<Record<string, unknown>>(
      (id, s) => sent.push([id, s]),
      1,
      (waiting, newer) => ({ ...waiting, ...newer }),
    );
    queue.submit({ layer: "a" });
    queue.submit({ method: "guided" });
    queue.submit({ channel: 2 });
    queue.submit({ method: "deconvnet" });
    expect(sent).toEqual([[1, { layer: "a" }]]);
    queue.resolve(1);
    expect(sent[1]).toEqual([2, { method: "deconvnet", channel: 2 }]);
  });
});
