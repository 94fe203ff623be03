/** The t-SNE panel registered with the view (mirror of nbsaliency/explorer/embedding.py's EmbeddingPanel). */
import { MSG_TSNE_RESULT } from "../../protocol";
import type { PanelFactory } from "../panel";
import "./embedding.css";
import { EmbeddingPanel } from "./panel";

export const embeddingPanel: PanelFactory = ({ model, firstId, selection }) => {
  const panel = new EmbeddingPanel((msg) => model.send(msg), () => selection().layer, firstId);
  return {
    element: panel.element,
    kinds: [MSG_TSNE_RESULT],
    traits: [],
    handle: (msg, buffers) => void panel.handle(msg, buffers),
  };
};
