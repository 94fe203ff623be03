import { describe, expect, it } from "vitest";
import {
  IDLE,
  VISUALISATION_HINT,
  VISUALISATION_TEXT,
  acceptsFrame,
  parseSteps,
  started,
  statusText,
  withDone,
  withFrame,
} from "../../js/src/panels/optimization/state";
import { formatValue } from "../../js/src/lib/format";
import {
  MSG_OPTIMIZE_DONE,
  MSG_OPTIMIZE_FRAME,
  OPTIMIZE_VISUALISATIONS,
  type OptimizeDoneMessage,
  type OptimizeFrameMessage,
} from "../../js/src/protocol";

const frame = (run: number, step: number, value: number | null = 1.5, steps = 10): OptimizeFrameMessage => ({
  kind: MSG_OPTIMIZE_FRAME,
  run,
  step,
  steps,
  value,
  image: { shape: [2, 2, 4] },
});
const done = (run: number, extra: Partial<OptimizeDoneMessage> = {}): OptimizeDoneMessage => ({
  kind: MSG_OPTIMIZE_DONE,
  run,
  cancelled: false,
  cached: false,
  error: "",
  ...extra,
});

describe("optimization run state", () => {
  it("counts the frames of the current run and keeps the last step and value", () => {
    let s = started(7, 10);
    expect(s).toMatchObject({ run: 7, phase: "running", frames: 0, steps: 10 });
    for (const step of [2, 4]) {
      expect(acceptsFrame(s, frame(7, step))).toBe(true);
      s = withFrame(s, frame(7, step, step * 0.5));
    }
    expect(s).toMatchObject({ frames: 2, step: 4, steps: 10, value: 2 });
    expect(statusText(s)).toBe("Running: step 4 / 10 · objective 2");
  });

  it("ignores frames and done messages of other runs", () => {
    const s = started(7, 10);
    expect(acceptsFrame(s, frame(6, 2))).toBe(false);
    expect(acceptsFrame(IDLE, frame(7, 2))).toBe(false);
    expect(withDone(s, done(6, { cancelled: true }))).toBe(s);
    expect(withDone(IDLE, done(7))).toBe(IDLE);
  });

  it("paints no frame after the run ended", () => {
    const s = withDone(started(7, 10), done(7, { cancelled: true }));
    expect(acceptsFrame(s, frame(7, 3))).toBe(false);
  });

  it("says how a run ended", () => {
    let s = withFrame(started(3, 10), frame(3, 4, -0.25));
    expect(statusText(withDone(s, done(3, { cancelled: true })))).toBe("Cancelled at step 4 / 10 · objective -0.25");
    s = withFrame(s, frame(3, 10, 12345.678));
    expect(statusText(withDone(s, done(3)))).toBe("Done: step 10 / 10 · objective 12346");
    expect(statusText(withDone(s, done(3, { cached: true })))).toMatch(/^Done \(from the cache\): step 10 \/ 10/);
    const failed = withDone(started(3, 10), done(3, { error: "unknown layer 'x'" }));
    expect(failed.phase).toBe("error");
    expect(statusText(failed)).toBe("Error: unknown layer 'x'");
    expect(statusText(started(4, 50))).toBe("Starting… (50 steps)");
    expect(statusText(IDLE)).toMatch(/press Run/);
  });

  it("keeps a value that is not a finite number out of the status", () => {
    const s = withFrame(started(1, 5), frame(1, 1, null));
    expect(s.value).toBeNull();
    expect(statusText(s)).toBe("Running: step 1 / 10");
  });
});

describe("helpers", () => {
  it("parses the Steps field", () => {
    expect(parseSteps("100")).toBe(100);
    expect(parseSteps(" 1 ")).toBe(1);
    expect(parseSteps("2000")).toBe(2000);
    for (const bad of ["", "0", "2001", "1.5", "-3", "ten", "1e2"]) expect(parseSteps(bad), bad).toBeNull();
  });

  it("formats objective values", () => {
    expect(formatValue(0)).toBe("0");
    expect(formatValue(3.14159)).toBe("3.142");
    expect(formatValue(-0.5)).toBe("-0.5");
    expect(formatValue(100)).toBe("100");
    expect(formatValue(26.56143)).toBe("26.56");
    expect(formatValue(1e-5)).toBe("1.00e-5");
    expect(formatValue(764763.7)).toBe("7.65e+5");
  });

  it("names and explains every visualisation of the protocol", () => {
    for (const v of OPTIMIZE_VISUALISATIONS) {
      expect(VISUALISATION_TEXT[v]).toBeTruthy();
      expect(VISUALISATION_HINT[v]).toBeTruthy();
    }
  });
});
