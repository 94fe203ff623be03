/** The kernels panel registered with the view (mirror of nbsaliency/explorer/kernels.py's KernelsPanel). */
import { MSG_KERNELS_RESULT } from "../../protocol";
import type { PanelFactory } from "../panel";
import { KernelsPanel } from "./panel";

export const kernelsPanel: PanelFactory = ({ model, firstId }) => {
  const panel = new KernelsPanel((msg) => model.send(msg), firstId);
  return {
    element: panel.element,
    kinds: [MSG_KERNELS_RESULT],
    traits: [],
    handle: (msg, buffers) => void panel.handle(msg, buffers),
    follow: (selection) => panel.follow(selection),
  };
};
