/** The optimization panel registered with the view (mirror of nbsaliency/explorer/optimization.py). */
import { MSG_OPTIMIZE_DONE, MSG_OPTIMIZE_FRAME } from "../../protocol";
import type { PanelFactory } from "../panel";
import "./optimization.css";
import { OptimizePanel } from "./panel";

export const optimizationPanel: PanelFactory = ({ model, firstId, selection }) => {
  const panel = new OptimizePanel((msg) => model.send(msg), selection, firstId);
  return {
    element: panel.element,
    kinds: [MSG_OPTIMIZE_FRAME, MSG_OPTIMIZE_DONE],
    traits: [],
    handle: (msg, buffers) => void panel.handle(msg, buffers),
  };
};
