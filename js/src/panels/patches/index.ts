/** The patches panel registered with the view (mirror of nbsaliency/explorer/patches.py's PatchesPanel). */
import { MSG_PATCHES_RESULT } from "../../protocol";
import type { PanelFactory } from "../panel";
import "./patches.css";
import { PatchesPanel } from "./panel";
import { indexStateFrom, keyOf } from "./state";

export const patchesPanel: PanelFactory = ({ model, firstId, methodLabel }) => {
  const panel = new PatchesPanel((msg) => model.send(msg), methodLabel, firstId);
  const onTraits = () => panel.setIndex(indexStateFrom((n) => model.get(n)));
  onTraits();
  return {
    element: panel.element,
    kinds: [MSG_PATCHES_RESULT],
    traits: ["index_status", "index_progress", "index_message"],
    handle: (msg, buffers) => void panel.handle(msg, buffers),
    onTraits,
    follow: (selection) => panel.follow(keyOf(selection)),
    close: () => panel.close(),
  };
};
