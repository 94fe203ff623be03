/**
 * The optimization panel's state, without the DOM: which run is current, which frames and done messages
 * belong to it, and the words of its status line. Messages of other runs (an earlier run that was replaced, a
 * run another view of the same model started) change nothing.
 */
import {
  OPTIMIZE_MAX_STEPS,
  type OptimizeDoneMessage,
  type OptimizeFrameMessage,
  type Visualisation,
} from "../../protocol";
import { formatValue } from "../../lib/format";

export const VISUALISATION_TEXT: Record<Visualisation, string> = {
  class_model: "Class model",
  activation_maximisation: "Activation maximisation",
  deepdream: "DeepDream",
  invert: "Inversion",
};

/** What each visualisation does, for the panel's hint. */
export const VISUALISATION_HINT: Record<Visualisation, string> = {
  class_model:
    "Climbs the selected class's score (the predicted class when none is selected) from a grey image (Simonyan et al. 2014).",
  activation_maximisation:
    "Climbs the selected channel, neuron or layer (for a class target: its score) from noise (Olah et al. 2017).",
  deepdream: "Amplifies what the current layer sees in the current image (Mordvintsev et al. 2015).",
  invert: "Rebuilds the current image from the current layer's activation alone (Mahendran & Vedaldi 2015).",
};

export type Phase = "idle" | "running" | "done" | "cancelled" | "error";

export interface RunState {
  /** The run this view asked for last; null before the first. */
  run: number | null;
  phase: Phase;
  /** Frames painted for `run`. */
  frames: number;
  step: number;
  steps: number;
  value: number | null;
  cached: boolean;
  error: string;
}

export const IDLE: RunState = {
  run: null,
  phase: "idle",
  frames: 0,
  step: 0,
  steps: 0,
  value: null,
  cached: false,
  error: "",
};

/** A run of `steps` steps was asked for. */
export function started(run: number, steps: number): RunState {
  return { ...IDLE, run, phase: "running", steps };
}

/** Whether a frame belongs to the current run and should be painted. */
export function acceptsFrame(state: RunState, msg: OptimizeFrameMessage): boolean {
  return state.run !== null && msg.run === state.run && state.phase === "running";
}

/** The state after painting `msg` (call only when `acceptsFrame`). */
export function withFrame(state: RunState, msg: OptimizeFrameMessage): RunState {
  return {
    ...state,
    frames: state.frames + 1,
    step: msg.step,
    steps: msg.steps,
    value: typeof msg.value === "number" && Number.isFinite(msg.value) ? msg.value : null,
  };
}

/** The state after the kernel ended a run; unchanged when `msg` is about another run. */
export function withDone(state: RunState, msg: OptimizeDoneMessage): RunState {
  if (state.run === null || msg.run !== state.run) return state;
  const phase: Phase = msg.error ? "error" : msg.cancelled ? "cancelled" : "done";
  return { ...state, phase, cached: msg.cached === true, error: msg.error ?? "" };
}

/** The status line of the panel. */
export function statusText(state: RunState): string {
  const value = state.value === null ? "" : ` · objective ${formatValue(state.value)}`;
  const progress = `step ${state.step} / ${state.steps}`;
  switch (state.phase) {
    case "idle":
      return "Choose a visualisation and press Run.";
    case "running":
      return state.frames === 0 ? `Starting… (${state.steps} steps)` : `Running: ${progress}${value}`;
    case "done":
      return state.cached ? `Done (from the cache): ${progress}${value}` : `Done: ${progress}${value}`;
    case "cancelled":
      return `Cancelled at ${progress}${value}`;
    case "error":
      return `Error: ${state.error}`;
  }
}

/** The Steps field as a whole number of steps in 1..OPTIMIZE_MAX_STEPS, or null. */
export function parseSteps(text: string): number | null {
  const t = text.trim();
  if (!/^\d+$/.test(t)) return null;
  const n = Number(t);
  return n >= 1 && n <= OPTIMIZE_MAX_STEPS ? n : null;
}
