/**
 * What a panel of the view is (the mirror of nbsaliency/explorer/panel.py): the message kinds it answers, the
 * traits it follows, and how it is closed. The widget answers a custom message by looking its kind up in the
 * table the panels make (no list of kinds in the widget), so adding a panel is a folder here, its Python module
 * and its protocol section, plus one line in panels/index.ts.
 */
import type { WidgetModel } from "../model";
import type { Selection } from "../protocol";

/** What the widget gives a panel. */
export interface PanelContext {
  model: WidgetModel;
  /** The first request id of this view (views of one model start far apart, so ids never collide). */
  firstId: number;
  /** The selection the user made last (it may not have reached the kernel yet). */
  selection(): Selection;
  /** The label of a method from the `methods` catalogue. */
  methodLabel(name: string): string;
}

export interface ViewPanel {
  readonly element: HTMLElement;
  /** Custom message kinds (Python -> JS) this panel answers. */
  readonly kinds: readonly string[];
  /** Traits whose changes this panel follows (through `onTraits`). */
  readonly traits: readonly string[];
  handle(msg: unknown, buffers: DataView[]): void;
  onTraits?(): void;
  /** The attribution view painted a result for `selection`. */
  follow?(selection: Selection): void;
  close?(): void;
}

export type PanelFactory = (context: PanelContext) => ViewPanel;

/** `kind -> panel`; two panels claiming one kind is a programming error. */
export function messageTable(panels: readonly ViewPanel[]): Map<string, ViewPanel> {
  const table = new Map<string, ViewPanel>();
  for (const panel of panels) {
    for (const kind of panel.kinds) {
      if (table.has(kind)) throw new Error(`message kind ${kind} is claimed by two panels`);
      table.set(kind, panel);
    }
  }
  return table;
}
