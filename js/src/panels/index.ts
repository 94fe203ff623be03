/** The panels below the attribution view, in the order shown (the same order as nbsaliency/explorer/panels.py). */
import { embeddingPanel } from "./embedding";
import { kernelsPanel } from "./kernels";
import { lesionPanel } from "./lesion";
import { optimizationPanel } from "./optimization";
import type { PanelFactory } from "./panel";
import { patchesPanel } from "./patches";

export const PANELS: readonly PanelFactory[] = [kernelsPanel, lesionPanel, patchesPanel, embeddingPanel, optimizationPanel];
