/** The panels below the attribution view, in the order shown (the same order as nbsaliency/explorer/panels.py). */
import { optimizationPanel } from "./optimization";
import type { PanelFactory } from "./panel";
import { patchesPanel } from "./patches";

export const PANELS: readonly PanelFactory[] = [patchesPanel, optimizationPanel];
