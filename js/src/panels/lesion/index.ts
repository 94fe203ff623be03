/** The lesion panel registered with the view (mirror of nbsaliency/explorer/lesion.py's LesionPanel). */
import { MSG_LESION_RESULT } from "../../protocol";
import type { PanelFactory } from "../panel";
import "./lesion.css";
import { LesionPanel } from "./panel";

export const lesionPanel: PanelFactory = ({ model, firstId }) => {
  const panel = new LesionPanel((msg) => model.send(msg), null, firstId);
  return {
    element: panel.element,
    kinds: [MSG_LESION_RESULT],
    traits: [],
    handle: (msg) => void panel.handle(msg),
    follow: (selection) => panel.follow(selection),
  };
};
