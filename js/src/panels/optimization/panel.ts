/**
 * The optimization panel: runs a class model, activation maximisation, DeepDream or an inversion for the
 * current selection in the kernel (nbsaliency/optimize_jobs.py) and paints the image it streams, with the step
 * and the objective's value. DOM glue around the pure state of optimize_state.ts.
 *
 * `data-frames` on the panel counts the frames painted for the current run (end-to-end tests wait on it).
 */
import { decodeRGBA } from "../../lib/decode";
import { field, h, paintCanvas, setOptions } from "../../lib/dom";
import {
  MSG_OPTIMIZE,
  MSG_OPTIMIZE_CANCEL,
  MSG_OPTIMIZE_DONE,
  OPTIMIZE_MAX_STEPS,
  OPTIMIZE_VISUALISATIONS,
  type OptimizeCancelMessage,
  type OptimizeMessage,
  type Selection,
  isOptimizeDoneMessage,
  isOptimizeFrameMessage,
  isVisualisation,
} from "../../protocol";
import {
  IDLE,
  type RunState,
  VISUALISATION_HINT,
  VISUALISATION_TEXT,
  acceptsFrame,
  parseSteps,
  started,
  statusText,
  withDone,
  withFrame,
} from "./state";

const DEFAULT_STEPS = 100;

export class OptimizePanel {
  readonly element: HTMLElement;
  private readonly send: (msg: OptimizeMessage | OptimizeCancelMessage) => void;
  private readonly selection: () => Selection;
  private nextRun: number;
  private state: RunState = IDLE;

  private readonly visualisation = h("select");
  private readonly steps = h("input", { type: "number", min: 1, max: OPTIMIZE_MAX_STEPS, step: 1 });
  private readonly runButton = h("button", { type: "button", class: "nbs-button" }, "Run");
  private readonly cancelButton = h("button", { type: "button", class: "nbs-button" }, "Cancel");
  private readonly canvas = h("canvas", {
    class: "nbs-pixelated",
    "aria-label": "Optimized image",
    role: "img",
    width: 64, // a square placeholder until the first frame sets the image's size
    height: 64,
  });
  private readonly hint = h("p", { class: "nbs-caption" });
  private readonly status = h("p", { class: "nbs-optimize-status", role: "status" });

  /**
   * @param send sends a message to the kernel
   * @param selection the selection the user made last (sent with a run, so that a change still waiting in the
   *   request queue is not overtaken by the run)
   * @param firstRun the first run id (views of one model start far apart, so runs never collide)
   */
  constructor(
    send: (msg: OptimizeMessage | OptimizeCancelMessage) => void,
    selection: () => Selection,
    firstRun = 1,
  ) {
    this.send = send;
    this.selection = selection;
    this.nextRun = firstRun;
    setOptions(
      this.visualisation,
      OPTIMIZE_VISUALISATIONS.map((v) => ({ value: v, text: VISUALISATION_TEXT[v] })),
      "activation_maximisation",
    );
    this.steps.value = String(DEFAULT_STEPS);
    this.element = h(
      "section",
      { class: "nbs-panel nbs-optimize", "aria-label": "Optimization" },
      h("h3", {}, "Optimization"),
      h(
        "div",
        { class: "nbs-control-group", role: "group", "aria-label": "Optimization settings" },
        field("Visualisation", this.visualisation),
        field("Steps", this.steps),
        this.runButton,
        this.cancelButton,
      ),
      this.hint,
      h("figure", { class: "nbs-figure" }, this.canvas),
      this.status,
    );
    this.runButton.addEventListener("click", () => this.run());
    this.cancelButton.addEventListener("click", () => this.cancel());
    this.steps.addEventListener("keydown", (e: KeyboardEvent) => {
      if (e.key === "Enter") this.run();
    });
    this.steps.addEventListener("input", () => this.update());
    this.visualisation.addEventListener("change", () => this.update());
    this.update();
  }

  /** Ask the kernel for a new run (it replaces the running one). */
  run(): void {
    const steps = parseSteps(this.steps.value);
    const visualisation = this.visualisation.value;
    if (steps === null || !isVisualisation(visualisation)) {
      this.update();
      return;
    }
    const run = this.nextRun++;
    this.state = started(run, steps);
    const msg: OptimizeMessage = { kind: MSG_OPTIMIZE, id: run, visualisation, steps, selection: this.selection() };
    this.send(msg);
    this.update();
  }

  /** Ask the kernel to stop the current run before its next step. */
  cancel(): void {
    if (this.state.phase !== "running" || this.state.run === null) return;
    const msg: OptimizeCancelMessage = { kind: MSG_OPTIMIZE_CANCEL, run: this.state.run };
    this.send(msg);
    this.cancelButton.disabled = true; // the kernel's done message re-enables Run's partner
  }

  /** Handle a custom message; false when it is not one of the panel's. */
  handle(msg: unknown, buffers: DataView[] = []): boolean {
    if (isOptimizeFrameMessage(msg)) {
      if (acceptsFrame(this.state, msg)) {
        const [H, W] = msg.image.shape;
        try {
          paintCanvas(this.canvas, decodeRGBA(buffers[0] ?? new ArrayBuffer(0), msg.image.shape), W, H);
          this.state = withFrame(this.state, msg);
        } catch (err) {
          const error = `Could not show the optimized image: ${err instanceof Error ? err.message : String(err)}`;
          this.state = withDone(this.state, { kind: MSG_OPTIMIZE_DONE, run: msg.run, cancelled: false, cached: false, error });
        }
        this.update();
      }
      return true;
    }
    if (isOptimizeDoneMessage(msg)) {
      this.state = withDone(this.state, msg);
      this.update();
      return true;
    }
    return false;
  }

  private update(): void {
    const steps = parseSteps(this.steps.value);
    const running = this.state.phase === "running";
    this.steps.setAttribute("aria-invalid", String(steps === null));
    this.runButton.disabled = steps === null;
    this.cancelButton.disabled = !running;
    this.element.dataset.frames = String(this.state.frames);
    this.element.dataset.phase = this.state.phase;
    this.element.setAttribute("aria-busy", String(running));
    const v = this.visualisation.value;
    this.hint.textContent = isVisualisation(v) ? VISUALISATION_HINT[v] : "";
    this.status.textContent =
      steps === null && !running
        ? `Steps must be a whole number from 1 to ${OPTIMIZE_MAX_STEPS}.`
        : statusText(this.state);
  }
}
